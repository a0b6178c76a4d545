"""Fused whole-sequence LIF Function vs a step-by-step autograd reference (the contract's dynamics)."""

from __future__ import annotations

import pytest
import torch
from framework_helpers import saved_bytes

from brain_ai.config import ConfigError, ResetMode
from brain_ai.core.fused import fused_lif_sequence
from brain_ai.core.surrogates import SURROGATES, get_surrogate
from brain_ai.tools.kernel_cases import ADAPT, assert_close_grads, assert_same_forward, make_inputs


def reference_lif(x, v0, beta, thr, reset, surrogate, adaptation_alpha=None, adaptation_decay=None, a0=None):
    """Plain autograd loop with the contract's op order (the generic path, written out)."""
    sd = torch.float32 if x.dtype in (torch.float16, torch.bfloat16) else x.dtype
    feat = (x.shape[0], *x.shape[2:])
    v = torch.zeros(feat, dtype=sd) if v0 is None else v0.to(sd)
    beta, thr = torch.as_tensor(beta).to(sd), torch.as_tensor(thr).to(sd)
    adaptive = adaptation_alpha is not None
    a = (torch.zeros(feat, dtype=sd) if a0 is None else a0.to(sd)) if adaptive else None
    spikes, mem = [], []
    for x_t in x.unbind(1):
        v = beta * v + x_t
        th = thr + adaptation_alpha * a if adaptive else thr
        s = surrogate(v - th)
        if reset is ResetMode.subtract:
            v = v - s * th
        elif reset is ResetMode.zero:
            v = v * (1 - s)
        if adaptive:
            a = adaptation_decay * a + s
        spikes.append(s)
        mem.append(v)
    return torch.stack(spikes, 1).to(x.dtype), v, a, torch.stack(mem, 1)


def run_both(shape, dtype, reset, surrogate, *, per_neuron=True, v0_given=True, adaptive=False, membrane=True, seed=0):
    """Forward both paths on identical leaves; return outputs and gradients of a mixed loss
    (spikes, final state and, with ``membrane``, the recorded membrane)."""
    results = []
    for fn in ("fused", "reference"):
        x, v0, beta, thr, a0 = make_inputs(
            shape, dtype, per_neuron=per_neuron, v0_given=v0_given, adaptive=adaptive, seed=seed
        )
        kw = dict(ADAPT, a0=a0) if adaptive else {}
        if fn == "fused":
            s, v, a, m = fused_lif_sequence(x, v0, beta, thr, reset, surrogate, record_membrane=membrane, **kw)
        else:
            s, v, a, m = reference_lif(x, v0, beta, thr, reset, surrogate, **kw)
            m = m if membrane else None
        g = torch.Generator().manual_seed(seed + 1)
        w = lambda t: torch.randn(t.shape, generator=g, dtype=torch.float64).to(t.dtype)  # noqa: E731
        loss = (s * w(s)).sum() + (v * w(v)).sum() + ((m * w(m)).sum() if membrane else 0)
        if adaptive:
            loss = loss + (a * w(a)).sum()
        leaves = [t for t in (x, v0, beta, thr, a0) if t is not None]
        grads = torch.autograd.grad(loss, leaves)
        results.append(((s, v, a, m), grads))
    return results


@pytest.mark.parametrize("adaptive", [False, True], ids=["lif", "adaptive"])
@pytest.mark.parametrize("reset", list(ResetMode), ids=lambda r: r.value)
@pytest.mark.parametrize("name", sorted(SURROGATES))
def test_every_surrogate_and_reset_float64(name, reset, adaptive):
    (fwd, grads), (ref_fwd, ref_grads) = run_both(
        (3, 13, 6), torch.float64, reset, get_surrogate(name), adaptive=adaptive
    )
    assert fwd[0].sum() > 0 and (fwd[0] == 0).any()  # the test exercises spikes and resets
    assert_same_forward(fwd, ref_fwd)
    assert_close_grads(grads, ref_grads, rtol=1e-10)


@pytest.mark.parametrize("name", sorted(SURROGATES))
def test_every_surrogate_at_its_published_scale(name):
    """``normalize=False`` runs through the fused loop too (the raw, un-normalised gradient)."""
    sg = get_surrogate(name, normalize=False)
    (fwd, grads), (ref_fwd, ref_grads) = run_both((3, 13, 6), torch.float64, ResetMode.subtract, sg, adaptive=True)
    assert_same_forward(fwd, ref_fwd)
    assert_close_grads(grads, ref_grads, rtol=1e-10)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.bfloat16, torch.float16], ids=str)
@pytest.mark.parametrize("adaptive", [False, True], ids=["lif", "adaptive"])
@pytest.mark.parametrize("reset", list(ResetMode), ids=lambda r: r.value)
@pytest.mark.parametrize(
    "per_neuron,v0_given",
    [(False, False), (True, True), (False, True)],
    ids=["scalar-v0none", "perneuron-v0", "scalar-v0"],
)
def test_dtypes_params_and_initial_state(dtype, adaptive, reset, per_neuron, v0_given):
    (fwd, grads), (ref_fwd, ref_grads) = run_both(
        (4, 17, 9),
        dtype,
        reset,
        get_surrogate("fast_sigmoid"),
        per_neuron=per_neuron,
        v0_given=v0_given,
        adaptive=adaptive,
        membrane=per_neuron,
    )
    assert_same_forward(fwd, ref_fwd)
    state_dtype = torch.float32 if dtype in (torch.bfloat16, torch.float16) else dtype
    assert fwd[0].dtype == dtype and fwd[1].dtype == state_dtype
    assert_close_grads(grads, ref_grads, rtol=1e-5 if dtype is not torch.float64 else 1e-10)


@pytest.mark.parametrize("adaptive", [False, True], ids=["lif", "adaptive"])
@pytest.mark.parametrize("reset", list(ResetMode), ids=lambda r: r.value)
def test_conv_features_per_channel_params(reset, adaptive):
    (fwd, grads), (ref_fwd, ref_grads) = run_both(
        (2, 7, 3, 4, 5), torch.float64, reset, get_surrogate("atan"), adaptive=adaptive
    )
    assert fwd[0].shape == (2, 7, 3, 4, 5) and grads[2].shape == (3, 1, 1)
    assert_same_forward(fwd, ref_fwd)
    assert_close_grads(grads, ref_grads, rtol=1e-10)


def test_long_sequence_spans_several_backward_chunks(monkeypatch):
    import brain_ai.core.fused as fused

    monkeypatch.setattr(fused, "_CHUNK_ELEMENTS", 40)  # 8 neurons per step -> chunks of 5 steps
    for reset in ResetMode:
        for adaptive, membrane in ((False, False), (False, True), (True, False), (True, True)):
            (fwd, grads), (ref_fwd, ref_grads) = run_both(
                (2, 23, 4), torch.float64, reset, get_surrogate("sigmoid"), adaptive=adaptive, membrane=membrane
            )
            assert_same_forward(fwd, ref_fwd)
            assert_close_grads(grads, ref_grads, rtol=1e-10)


def test_hand_computed_two_steps():
    # beta 0.5, thr 1, subtract: v = 0.5*0 + 1.5 = 1.5 -> spike, v = 0.5; v = 0.25 + 0.2 = 0.45 -> none
    x = torch.tensor([[[1.5], [0.2]]], dtype=torch.float64)
    s, v, a, m = fused_lif_sequence(x, None, 0.5, 1.0, "subtract", get_surrogate("ste"), record_membrane=True)
    assert s.flatten().tolist() == [1.0, 0.0] and m.flatten().tolist() == [0.5, 0.45] and a is None
    assert v.flatten().tolist() == [0.45]


def test_only_outputs_that_get_gradients_matter():
    x = (0.3 + 0.6 * torch.randn(2, 9, 5, dtype=torch.float64)).requires_grad_()
    s, v, _, m = fused_lif_sequence(x, None, 0.9, 1.0, "zero", get_surrogate("atan"))
    assert m is None
    (gx,) = torch.autograd.grad(v.sum(), x)
    s_ref, v_ref, _, _ = reference_lif(x, None, 0.9, 1.0, ResetMode.zero, get_surrogate("atan"))
    (gx_ref,) = torch.autograd.grad(v_ref.sum(), x)
    assert torch.allclose(gx, gx_ref, rtol=0, atol=1e-12)


def test_autocast_bf16_linear_and_time_major_view():
    torch.manual_seed(0)
    lin = torch.nn.Linear(6, 5)
    x_tm = torch.rand(11, 3, 6)  # time-major data, passed as a non-contiguous (B, T, F) view
    outs = []
    for fn in ("fused", "reference"):
        lin.zero_grad()
        with torch.autocast("cpu", dtype=torch.bfloat16):
            cur = lin(x_tm).transpose(0, 1)
            assert cur.dtype == torch.bfloat16 and not cur.is_contiguous()
            if fn == "fused":
                s, v, _, _ = fused_lif_sequence(cur, None, 0.8, 0.5, "subtract", get_surrogate("atan"))
            else:
                s, v, _, _ = reference_lif(cur, None, 0.8, 0.5, ResetMode.subtract, get_surrogate("atan"))
        (s.float().sum() + v.sum()).backward()
        outs.append((s, v, lin.weight.grad.clone()))
    (s, v, gw), (s_ref, v_ref, gw_ref) = outs
    assert s.dtype == torch.bfloat16 and v.dtype == torch.float32 and s.sum() > 0
    assert torch.equal(s, s_ref) and torch.equal(v, v_ref)
    assert torch.allclose(gw, gw_ref, rtol=1e-2, atol=1e-2)  # bf16 matmul backward


@pytest.mark.parametrize("adaptive", [False, True], ids=["lif", "adaptive"])
def test_saves_only_the_membrane_trajectory(adaptive):
    B, T, N = 4, 50, 64
    x = torch.randn(B, T, N, requires_grad=True)
    beta = torch.tensor(0.9, requires_grad=True)
    kw = ADAPT if adaptive else {}
    seq = B * T * N * 4
    fused = saved_bytes(lambda: fused_lif_sequence(x, None, beta, 1.0, "subtract", get_surrogate("atan"), **kw))
    generic = saved_bytes(
        lambda: reference_lif(x, None, beta, torch.tensor(1.0), ResetMode.subtract, get_surrogate("atan"), **kw)
    )
    n_seq = 2 if adaptive else 1  # h (and the effective threshold for AdaptiveLIF)
    assert n_seq * seq <= fused <= n_seq * seq + 4 * B * N * 4
    assert generic >= 2 * seq  # per step: v (for d beta) and v - thr (for the surrogate), at least


def test_argument_errors_name_the_argument():
    x = torch.randn(2, 3, 4)
    sg = get_surrogate("atan")
    with pytest.raises(ValueError, match="v0 has shape"):
        fused_lif_sequence(x, torch.zeros(2, 5), 0.9, 1.0, "subtract", sg)
    with pytest.raises(ValueError, match="beta has shape"):
        fused_lif_sequence(x, None, torch.full((3,), 0.9), 1.0, "subtract", sg)
    with pytest.raises(ValueError, match="adaptation_alpha and adaptation_decay"):
        fused_lif_sequence(x, None, 0.9, 1.0, "subtract", sg, adaptation_alpha=0.5)
    with pytest.raises(ValueError, match="a0 given"):
        fused_lif_sequence(x, None, 0.9, 1.0, "subtract", sg, a0=torch.zeros(2, 4))
    with pytest.raises(ValueError, match="'sideways' is not a valid ResetMode"):
        fused_lif_sequence(x, None, 0.9, 1.0, "sideways", sg)
    with pytest.raises(ConfigError, match="backend='eager' is not a fused path; allowed: auto, fused, triton"):
        fused_lif_sequence(x, None, 0.9, 1.0, "subtract", sg, backend="eager")
