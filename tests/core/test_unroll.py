"""run_segments / snn_unroll: truncated BPTT, exact checkpointed BPTT, recording, argument validation."""

import pytest
import torch
from torch import nn
from torch.overrides import TorchFunctionMode

from brain_ai.config import PSN_TYPES, NeuronConfig, NeuronType
from brain_ai.core.memory import saved_tensor_bytes
from brain_ai.core.neurons import LIFNeuron, SpikingState, build_neuron
from brain_ai.core.unroll import run_segments, segment_bounds, snn_unroll


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


@pytest.mark.parametrize("chunk", [None, 1, 3, 7, 20])
@pytest.mark.parametrize("ckpt", [None, 1, 6, 20])
def test_forward_bit_identical_for_any_chunking(chunk, ckpt):
    fc, lif = _net()
    x = torch.rand(4, 20, 10)
    full, st_full, tr_full = lif.forward_sequence(fc(x), record="membrane")
    out, st, tr = lif.forward_sequence(fc(x), chunk_size=chunk, checkpoint_every=ckpt, record="membrane")
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


def test_segment_bounds_cut_at_both_multiples():
    assert segment_bounds(10) == [(0, 10)]
    assert segment_bounds(10, chunk_size=4) == [(0, 4), (4, 8), (8, 10)]
    assert segment_bounds(10, chunk_size=4, checkpoint_every=3) == [(0, 3), (3, 4), (4, 6), (6, 8), (8, 9), (9, 10)]


@pytest.mark.parametrize("ntype", sorted(set(NeuronType) - PSN_TYPES))  # PSN family: tests/core/test_psn.py
@pytest.mark.parametrize("backend", ["auto", "eager"])
def test_checkpoint_every_gives_full_bptt_gradients(ntype, backend):
    torch.manual_seed(0)
    neuron = build_neuron(NeuronConfig(type=ntype, learnable_beta=True, learnable_threshold=True, max_delay=2), 12)
    fc = nn.Linear(10, 12)
    x = torch.rand(3, 16, 10)
    out_a, st_a, g_a = _grads(fc, neuron, x, backend=backend)
    out_b, st_b, g_b = _grads(fc, neuron, x, checkpoint_every=5, backend=backend)
    assert torch.equal(out_a, out_b) and torch.equal(st_a.v, st_b.v)
    assert g_a[0][:, :5].abs().sum() > 0  # the gradient reaches the first segment
    # AdEx's exponential term (slope up to e^20) amplifies float32 differences in summation order
    tol = dict(rtol=1e-4, atol=1e-6) if ntype is NeuronType.adex else dict(rtol=1e-5, atol=1e-7)
    for a, b in zip(g_a, g_b):
        torch.testing.assert_close(a, b, **tol)


def test_checkpointing_keeps_the_gradient_that_truncation_cuts():
    """The old ``checkpoint=True`` recomputed *truncated* chunks: the early steps got 0 gradient."""
    fc, lif = _net()
    x = torch.rand(3, 20, 10, requires_grad=True)
    grads = {}
    for name, kw in {"full": {}, "ckpt": dict(checkpoint_every=5), "tbptt": dict(chunk_size=5)}.items():
        x.grad = None
        _, _, tr = lif.forward_sequence(fc(x), record="membrane", **kw)
        tr["membrane"][:, -1].sum().backward()
        grads[name] = x.grad.clone()
    assert (grads["tbptt"][:, :15] == 0).all()
    assert grads["full"][:, :15].abs().sum() > 0
    torch.testing.assert_close(grads["ckpt"], grads["full"], rtol=1e-5, atol=1e-7)


def test_checkpoint_composes_with_truncation():
    torch.manual_seed(0)
    neuron = build_neuron(NeuronConfig(type=NeuronType.adaptive_lif, learnable_beta=True), 12)
    fc = nn.Linear(10, 12)
    x = torch.rand(3, 16, 10)
    out_a, _, g_a = _grads(fc, neuron, x, chunk_size=4, backend="eager")
    out_b, _, g_b = _grads(fc, neuron, x, chunk_size=4, checkpoint_every=3, backend="eager")
    assert torch.equal(out_a, out_b)
    for a, b in zip(g_a, g_b):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-7)


def test_checkpoint_keeps_only_segment_inputs_and_boundary_states():
    torch.manual_seed(0)
    fc1, lif1, fc2, lif2 = nn.Linear(10, 32), LIFNeuron(32), nn.Linear(32, 32), LIFNeuron(32)

    def two_layers(x, state):  # x (B, t, 10); state (SpikingState, SpikingState)
        s1, st1, _ = lif1.forward_sequence(fc1(x), state[0])
        s2, st2, _ = lif2.forward_sequence(fc2(s1), state[1])
        return s2.sum(dim=-1, keepdim=True), (st1, st2)  # (B, t, 1)

    x = torch.rand(8, 40, 10)
    init = (lif1.reset_state(8), lif2.reset_state(8))
    full = saved_tensor_bytes(lambda: run_segments(two_layers, x, init)[0])
    ckpt = saved_tensor_bytes(lambda: run_segments(two_layers, x, init, checkpoint_every=10)[0])
    assert full >= 3 * 8 * 40 * 32 * 4  # h1, s1, h2 of every step (x is not counted twice)
    assert ckpt < 0.3 * full


def test_run_segments_carries_state_and_joins_pytrees():
    def running_sum(inputs, total):  # inputs {"a": (B, t), "b": (B, t, 2)}
        csum = inputs["a"].cumsum(1) + total[:, None]  # (B, t)
        return {"sum": csum, "b": inputs["b"] * 2}, csum[:, -1]

    a, b = torch.rand(2, 9), torch.rand(2, 9, 2)
    for kw in ({}, dict(chunk_size=2), dict(checkpoint_every=4), dict(chunk_size=3, checkpoint_every=2)):
        out, final = run_segments(running_sum, {"a": a, "b": b}, torch.zeros(2), **kw)
        torch.testing.assert_close(out["sum"], a.cumsum(1))
        assert torch.equal(out["b"], b * 2) and torch.equal(final, out["sum"][:, -1])


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
        (dict(checkpoint_every=0), ValueError, r"checkpoint_every=0 is out of range; allowed: \[1, inf"),
        (dict(checkpoint_every=1.5), ValueError, r"checkpoint_every=1.5 must be an integer"),
        (
            dict(checkpoint_every=4),
            ValueError,
            r"checkpoint_every=4 is larger than the sequence \(T=3 steps\); allowed: 1 <= checkpoint_every <= 3",
        ),
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
