"""The membrane readout's fused backend (brain_ai.core.fused_integrator) equals its per-step unroll."""

import pytest
import torch

from brain_ai.config import Backend, NeuronConfig, SNNConfig
from brain_ai.core.neurons import LeakyIntegrator
from brain_ai.core.snn import build_snn


def _run(neuron, x, v0, **kw):
    """Output, final membrane, traces and the gradients (x, v0, parameters) of a weighted loss."""
    x = x.clone().requires_grad_(True)
    v0 = v0.clone().requires_grad_(True)
    state = neuron.reset_state(x.shape[0], dtype=v0.dtype).replace(v=v0)
    out, final, traces = neuron.forward_sequence(x, state, **kw)
    weight = torch.linspace(0.5, 1.5, out.shape[1], dtype=out.dtype).view(1, -1, 1)  # (1, T, 1)
    loss = (out * weight).sum() + (final.v * 2).sum()
    params = [p for p in neuron.parameters() if p.requires_grad]
    return out, final.v, traces, torch.autograd.grad(loss, [x, v0, *params])


@pytest.mark.parametrize("learnable,per_neuron", [(False, False), (True, False), (True, True)])
@pytest.mark.parametrize("segments", [{}, {"chunk_size": 3}, {"checkpoint_every": 4}])
@pytest.mark.parametrize("record", ["none", "membrane"])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_fused_readout_matches_the_unroll(learnable, per_neuron, segments, record, dtype):
    torch.manual_seed(0)
    neuron = LeakyIntegrator(5, tau=4.0, learnable_beta=learnable, per_neuron_beta=per_neuron).to(dtype)
    if per_neuron:
        with torch.no_grad():
            neuron.beta_raw.add_(torch.linspace(-0.5, 0.5, 5, dtype=dtype))  # a different decay per neuron
    x, v0 = torch.randn(3, 11, 5, dtype=dtype), torch.randn(3, 5, dtype=dtype)
    out_f, v_f, tr_f, g_f = _run(neuron, x, v0, backend="fused", record=record, **segments)
    out_e, v_e, tr_e, g_e = _run(neuron, x, v0, backend="eager", record=record, **segments)
    assert torch.equal(out_f, out_e) and torch.equal(v_f, v_e)  # the same ops per step: the same bits
    assert tr_f.keys() == tr_e.keys() and all(torch.equal(tr_f[k], tr_e[k]) for k in tr_f)
    tol = 1e-12 if dtype is torch.float64 else 1e-5  # the decay's gradient sums in another order
    assert len(g_f) == len(g_e) == 2 + learnable
    for a, b in zip(g_f, g_e):
        torch.testing.assert_close(a, b, rtol=tol, atol=tol)


def test_fused_readout_under_low_precision_inputs_keeps_the_state_dtype():
    """bf16 currents are integrated in the fp32 state (as the unroll does); the input gradient is bf16."""
    neuron = LeakyIntegrator(4, learnable_beta=True)
    x = torch.randn(2, 6, 4).to(torch.bfloat16)
    out_f, v_f, _, g_f = _run(neuron, x, torch.zeros(2, 4), backend="fused")
    out_e, v_e, _, g_e = _run(neuron, x, torch.zeros(2, 4), backend="eager")
    assert out_f.dtype == out_e.dtype == torch.float32 and torch.equal(out_f, out_e)
    assert g_f[0].dtype == torch.bfloat16
    for a, b in zip(g_f, g_e):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)


def test_the_membrane_readout_runs_fused_whatever_the_hidden_backend():
    """``auto`` picks the fused readout; the hidden layers' backend setting does not reach it."""
    assert LeakyIntegrator(3).backend is Backend.fused
    assert LeakyIntegrator(3, backend="eager").backend is Backend.eager
    cfg = SNNConfig(
        input_size=3, hidden_sizes=[4], output_size=2, readout="membrane", neuron=NeuronConfig(backend="eager")
    )
    net = build_snn(cfg)
    assert net.backend_summary() == "layer0=eager, layer1=fused"


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_the_compiled_and_the_pytorch_scan_give_the_same_bits(monkeypatch, dtype):
    """CPU tensors run the numba scan; without numba (and on CUDA) the PyTorch loop runs: the same values."""
    from brain_ai.core import fused_integrator

    pytest.importorskip("numba")
    torch.manual_seed(1)
    x = torch.randn(3, 9, 2, 4, dtype=dtype, requires_grad=True)  # (B, T, *F), two feature dims
    beta = torch.rand(2, 4, dtype=dtype).mul(0.9).requires_grad_(True)
    v0 = torch.randn(3, 2, 4, dtype=dtype)

    def run():
        v = fused_integrator.leaky_integrate(x, v0, beta)
        return (v, *torch.autograd.grad((v * torch.arange(9.0, dtype=dtype).view(1, -1, 1, 1)).sum(), [x, beta]))

    loops, calls = fused_integrator.compiled_loops(), []
    scan = loops.leaky_scan
    monkeypatch.setattr(loops, "leaky_scan", lambda *args: calls.append(args[-1]) or scan(*args))
    compiled = run()
    assert calls == [False, True]  # the forward scan, then the backward one
    monkeypatch.setattr(fused_integrator, "compiled_loops", lambda: None)
    for a, b in zip(compiled, run()):
        assert torch.equal(a, b)
