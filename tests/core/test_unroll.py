"""snn_unroll: truncated BPTT, checkpointing, recording, argument validation."""

import pytest
import torch
from torch import nn
from torch.overrides import TorchFunctionMode

from brain_ai.config import NeuronConfig, NeuronType
from brain_ai.core.memory import saved_tensor_bytes
from brain_ai.core.neurons import LIFNeuron, SpikingState, build_neuron
from brain_ai.core.unroll import snn_unroll


def _net(seed=0):
    torch.manual_seed(seed)
    fc = nn.Linear(10, 16)
    lif = LIFNeuron(16, beta=0.9, threshold=0.5, learnable_beta=True, learnable_threshold=True)
    return fc, lif


def _grads(fc, lif, x, **kw):
    x = x.clone().requires_grad_()
    for p in [*fc.parameters(), *lif.parameters()]:
        p.grad = None
    out, final, tr = lif.forward_sequence(fc(x), record="membrane", **kw)
    (out.sum() + tr["membrane"].pow(2).sum()).backward()
    return out.detach(), final, [x.grad, *(p.grad for p in [*fc.parameters(), *lif.parameters()])]


@pytest.mark.parametrize("chunk", [1, 3, 7, 20])
@pytest.mark.parametrize("ckpt", [False, True])
def test_forward_bit_identical_for_any_chunking(chunk, ckpt):
    fc, lif = _net()
    x = torch.rand(4, 20, 10)
    full, st_full, tr_full = lif.forward_sequence(fc(x), record="membrane")
    out, st, tr = lif.forward_sequence(fc(x), chunk_size=chunk, checkpoint=ckpt, record="membrane")
    assert torch.equal(out, full) and torch.equal(st.v, st_full.v) and torch.equal(tr["membrane"], tr_full["membrane"])


@pytest.mark.parametrize("chunk", [20, 50])
def test_chunk_at_least_T_gives_full_bptt_gradients(chunk):
    fc, lif = _net()
    x = torch.rand(3, 20, 10)
    _, _, g_full = _grads(fc, lif, x)
    _, _, g = _grads(fc, lif, x, chunk_size=chunk)
    for a, b in zip(g_full, g):
        assert torch.equal(a, b)


def test_truncation_cuts_gradient_to_early_inputs():
    fc, lif = _net()
    x = torch.rand(3, 20, 10, requires_grad=True)
    out, _, tr = lif.forward_sequence(fc(x), chunk_size=5, record="membrane")
    tr["membrane"][:, -1].sum().backward()  # loss on the last step only (chunk 15..19)
    assert (x.grad[:, :15] == 0).all()
    assert x.grad[:, 15:].abs().sum() > 0
    # full BPTT does reach the early inputs
    x.grad = None
    out, _, tr = lif.forward_sequence(fc(x), record="membrane")
    tr["membrane"][:, -1].sum().backward()
    assert x.grad[:, :15].abs().sum() > 0


@pytest.mark.parametrize("chunk", [None, 4])
@pytest.mark.parametrize("ntype", list(NeuronType))
def test_checkpoint_same_outputs_and_gradients(ntype, chunk):
    torch.manual_seed(0)
    # backend=eager: compare checkpointing with the same (generic) unroll it replaces
    neuron = build_neuron(NeuronConfig(type=ntype, learnable_beta=True, learnable_threshold=True, max_delay=2), 12)
    fc = nn.Linear(10, 12)
    x = torch.rand(3, 16, 10)
    out_a, _, g_a = _grads(fc, neuron, x, chunk_size=chunk, backend="eager")
    out_b, _, g_b = _grads(fc, neuron, x, chunk_size=chunk, checkpoint=True)
    assert torch.equal(out_a, out_b)
    for a, b in zip(g_a, g_b):
        torch.testing.assert_close(a, b, rtol=1e-6, atol=1e-6)


def test_checkpoint_saves_fewer_bytes():
    fc, lif = _net()
    x = torch.rand(8, 40, 10, requires_grad=True)
    full = saved_tensor_bytes(lambda: lif.forward_sequence(fc(x))[0])
    ckpt = saved_tensor_bytes(lambda: lif.forward_sequence(fc(x), chunk_size=10, checkpoint=True)[0])
    assert ckpt < 0.5 * full


def test_record_modes():
    lif = LIFNeuron(5)
    x = torch.rand(2, 6, 5) * 2
    out, final, tr = lif.forward_sequence(x)
    assert tr == {}
    _, _, tr = lif.forward_sequence(x, record="spikes")
    assert set(tr) == {"spikes"} and torch.equal(tr["spikes"], out)
    _, _, tr = lif.forward_sequence(x, record="membrane")
    assert set(tr) == {"spikes", "membrane"}
    st = lif.reset_state(2)
    for t in range(6):  # membrane trace = post-step state.v
        _, st = lif(x[:, t], st)
        assert torch.equal(tr["membrane"][:, t], st.v)
    assert torch.equal(final.v, st.v)


def test_pytree_outputs_and_nested_states():
    a, b = LIFNeuron(3), LIFNeuron(3, beta=0.5)

    def cell(x_t, state):
        s1, st1 = a(x_t, state["a"])
        s2, st2 = b(s1, state["b"])
        return (s1, {"out": s2}), {"a": st1, "b": st2}

    x = torch.rand(2, 7, 3) * 2
    init = {"a": a.reset_state(2), "b": b.reset_state(2)}
    (s1, d), final, tr = snn_unroll(cell, x, init, chunk_size=3, record="membrane")
    assert s1.shape == (2, 7, 3) and d["out"].shape == (2, 7, 3)
    assert set(tr["membrane"]) == {"a", "b"} and tr["membrane"]["b"].shape == (2, 7, 3)
    assert torch.equal(tr["membrane"]["a"][:, -1], final["a"].v)


def test_iterates_with_unbind_not_indexing():
    calls = []

    class Spy(TorchFunctionMode):
        def __torch_function__(self, func, types, args=(), kwargs=None):
            calls.append(getattr(func, "__name__", str(func)))
            return func(*args, **(kwargs or {}))

    x = torch.rand(2, 5, 3)
    with Spy():
        out, _, _ = snn_unroll(lambda x_t, s: (x_t * 2, s), x, SpikingState(v=torch.zeros(2, 3)))
    assert "unbind" in calls and "__getitem__" not in calls
    assert torch.equal(out, 2 * x)


@pytest.mark.parametrize(
    "kwargs, exc, match",
    [
        (dict(record="all"), ValueError, r"record='all'.*allowed: none, spikes, membrane"),
        (dict(chunk_size=0), ValueError, r"chunk_size=0"),
        (dict(chunk_size=-2), ValueError, r"chunk_size=-2"),
        (dict(chunk_size=2.5), ValueError, r"chunk_size=2.5"),
        (dict(checkpoint="yes"), TypeError, r"checkpoint='yes'"),
    ],
)
def test_bad_arguments_raise(kwargs, exc, match):
    with pytest.raises(exc, match=match):
        snn_unroll(lambda x, s: (x, s), torch.rand(2, 3, 4), None, **kwargs)


def test_bad_input_rank_raises():
    with pytest.raises(ValueError, match=r"\(B, T, \.\.\.\)"):
        snn_unroll(lambda x, s: (x, s), torch.rand(4), None)
    with pytest.raises(ValueError, match="T >= 1"):
        snn_unroll(lambda x, s: (x, s), torch.rand(2, 0, 3), None)
