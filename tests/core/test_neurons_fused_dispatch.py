"""forward_sequence uses the fused kernel when it applies, and it matches the generic unroll."""

import pytest
import torch

from brain_ai.config import ConfigError, NeuronConfig, NeuronType, ResetMode
from brain_ai.core import fused
from brain_ai.core.neurons import LeakyIntegrator, build_neuron


def _run(neuron, x, **kw):
    x = x.clone().requires_grad_(True)
    out, state, traces = neuron.forward_sequence(x, **kw)
    weight = torch.linspace(0.5, 1.5, out.shape[1]).view(1, -1, *(1,) * (out.dim() - 2))  # (1, T, 1..)
    loss = (out * weight).sum() + state.v.sum()
    params = [p for p in neuron.parameters() if p.requires_grad]
    grads = torch.autograd.grad(loss, [x, *params])
    return out, state, traces, grads


@pytest.mark.parametrize("ntype", [NeuronType.lif, NeuronType.adaptive_lif])
@pytest.mark.parametrize("reset", list(ResetMode))
@pytest.mark.parametrize("chunk", [None, 4])
@pytest.mark.parametrize("record", ["none", "spikes", "membrane"])
@pytest.mark.parametrize("threshold_shape", ["layer", "per_neuron"])
def test_fused_dispatch_matches_generic(ntype, reset, chunk, record, threshold_shape):
    torch.manual_seed(0)
    cfg = NeuronConfig(
        type=ntype, reset=reset, learnable_beta=True, learnable_threshold=True, threshold_shape=threshold_shape
    )
    neuron = build_neuron(cfg, 6)
    if threshold_shape == "per_neuron":
        assert neuron.threshold.shape == (6,)
        with torch.no_grad():
            neuron.threshold.copy_(torch.linspace(0.6, 1.4, 6))  # distinct per neuron
    x = torch.rand(3, 10, 6) * 1.5
    out_f, st_f, tr_f, g_f = _run(neuron, x, chunk_size=chunk, record=record, backend="fused")
    out_s, st_s, tr_s, g_s = _run(neuron, x, chunk_size=chunk, record=record, backend="eager")
    assert torch.equal(out_f, out_s)
    assert set(tr_f) == set(tr_s)
    for key in tr_f:
        torch.testing.assert_close(tr_f[key], tr_s[key], rtol=0, atol=1e-6)
    torch.testing.assert_close(st_f.v, st_s.v, rtol=0, atol=1e-6)
    for a, b in zip(g_f, g_s):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)


def test_dispatch_uses_the_kernel_only_when_it_applies(monkeypatch):
    calls = []
    real = fused.fused_lif_sequence

    def spy(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr("brain_ai.core.neurons.base.fused_lif_sequence", spy)
    x = torch.rand(2, 5, 4)
    build_neuron(NeuronConfig(), 4).forward_sequence(x)  # auto on CPU: the fused loop
    build_neuron(NeuronConfig(), 4).forward_sequence(x, backend="fused")
    assert len(calls) == 2
    for cfg in (
        NeuronConfig(synaptic=True),
        NeuronConfig(refractory_steps=2),
        NeuronConfig(type=NeuronType.recurrent_lif),
        NeuronConfig(type=NeuronType.advanced_lif),
    ):
        build_neuron(cfg, 4).forward_sequence(x)  # auto: the generic unroll
    build_neuron(NeuronConfig(), 4).forward_sequence(x, backend="eager")
    LeakyIntegrator(4).forward_sequence(x)
    assert len(calls) == 2
    build_neuron(NeuronConfig(), 4).forward_sequence(
        x, chunk_size=2, checkpoint_every=3
    )  # segments [0,2) [2,3) [3,4) [4,5)
    assert len(calls) == 6


@pytest.mark.parametrize(
    "cfg,reason",
    [
        (NeuronConfig(type=NeuronType.recurrent_lif), "RecurrentLIFNeuron has no fused kernel"),
        (NeuronConfig(type=NeuronType.advanced_lif), "AdvancedLIFNeuron has no fused kernel"),
        (NeuronConfig(synaptic=True), "synaptic current"),
        (NeuronConfig(refractory_steps=2), "refractory_steps=2"),
    ],
)
@pytest.mark.parametrize("backend", ["fused", "triton"])
def test_asking_for_a_kernel_that_cannot_run_is_an_error(cfg, reason, backend):
    with pytest.raises(
        ConfigError, match=rf"forward_sequence: backend='{backend}' cannot run: .*{reason}.*auto or eager"
    ):
        build_neuron(cfg, 4).forward_sequence(torch.rand(2, 5, 4), backend=backend)


def test_the_readout_refuses_a_triton_backend():
    x = torch.rand(2, 5, 4)
    with pytest.raises(ConfigError, match=r"LeakyIntegrator has no triton kernel \(its backends: eager, fused\)"):
        LeakyIntegrator(4).forward_sequence(x, backend="triton")
    with pytest.raises(ConfigError, match=r"backend='gpu' is not a valid choice; allowed: auto, eager, fused, triton"):
        build_neuron(NeuronConfig(), 4).forward_sequence(x, backend="gpu")


@pytest.mark.parametrize("learnable", [False, True])
def test_per_neuron_threshold_conv_shape_fused_matches_generic(learnable):
    torch.manual_seed(1)
    cfg = NeuronConfig(threshold_shape="per_neuron", learnable_threshold=learnable, learnable_beta=True)
    neuron = build_neuron(cfg, (2, 3, 3))
    with torch.no_grad():
        neuron.threshold.copy_(0.5 + torch.rand(2, 3, 3))
    assert neuron.threshold.shape == (2, 3, 3) and isinstance(neuron.threshold, torch.nn.Parameter) is learnable
    x = torch.rand(2, 7, 2, 3, 3) * 1.5
    out_f, st_f, _, g_f = _run(neuron, x, backend="fused")
    out_s, st_s, _, g_s = _run(neuron, x, backend="eager")
    assert torch.equal(out_f, out_s) and len(g_f) == (3 if learnable else 2)
    for a, b in zip(g_f, g_s):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)
