"""forward_sequence uses the fused kernel when it applies, and it matches the generic unroll."""

import pytest
import torch

from brain_ai.config import NeuronConfig, NeuronType, ResetMode
from brain_ai.core import fused
from brain_ai.core.neurons import build_neuron


def _run(neuron, x, **kw):
    x = x.clone().requires_grad_(True)
    out, state, traces = neuron.forward_sequence(x, **kw)
    loss = (out * torch.linspace(0.5, 1.5, out.shape[1])[None, :, None]).sum() + state.v.sum()
    params = [p for p in neuron.parameters() if p.requires_grad]
    grads = torch.autograd.grad(loss, [x, *params])
    return out, state, traces, grads


@pytest.mark.parametrize("ntype", [NeuronType.lif, NeuronType.adaptive_lif])
@pytest.mark.parametrize("reset", list(ResetMode))
@pytest.mark.parametrize("chunk", [None, 4])
@pytest.mark.parametrize("record", ["none", "spikes", "membrane"])
def test_fused_dispatch_matches_generic(ntype, reset, chunk, record):
    torch.manual_seed(0)
    cfg = NeuronConfig(type=ntype, reset=reset, learnable_beta=True, learnable_threshold=True)
    fast = build_neuron(cfg, 6)
    slow = build_neuron(NeuronConfig(**{**cfg.__dict__, "fused": False}), 6)
    slow.load_state_dict(fast.state_dict())
    x = torch.rand(3, 10, 6) * 1.5
    out_f, st_f, tr_f, g_f = _run(fast, x, chunk_size=chunk, record=record)
    out_s, st_s, tr_s, g_s = _run(slow, x, chunk_size=chunk, record=record)
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
    build_neuron(NeuronConfig(), 4).forward_sequence(x)
    assert len(calls) == 1
    for cfg in (NeuronConfig(fused=False), NeuronConfig(synaptic=True), NeuronConfig(refractory_steps=2),
                NeuronConfig(type=NeuronType.recurrent_lif)):
        build_neuron(cfg, 4).forward_sequence(x)
    with fused.fused_disabled():
        build_neuron(NeuronConfig(), 4).forward_sequence(x)
    assert len(calls) == 1
    build_neuron(NeuronConfig(), 4).forward_sequence(x, chunk_size=2, checkpoint_every=3)  # segments [0,2) [2,3) [3,4) [4,5)
    assert len(calls) == 5
