r"""Fused multi-step LIF / adaptive LIF: one autograd Function over the whole sequence.

The generic path steps a neuron through time with ordinary autograd ops, so autograd keeps
~4-8 tensors per step and replays T x (~10 ops) in backward. This module runs the reference
dynamics (docs/neurons.md and docs/performance.md) for all T steps
inside a single :class:`torch.autograd.Function` that

* saves only the pre-reset membrane ``h`` of every step, ``(B, T, *F)`` in the state dtype
  (AdaptiveLIF also saves the effective threshold ``thr + adaptation_alpha * a``), plus the
  initial state -- spikes, surrogate values and post-reset membranes are recomputed;
* runs a hand-written reverse-time loop with exact gradients (through the reset, to the input,
  the initial state, ``beta``, ``threshold`` and ``a0``);
* evaluates the surrogate on cache-sized chunks of time steps and, for LIFNeuron, turns the
  backward recurrence into one ``addcmul`` per step (see :func:`_lif_backward`).

Forward values are bit-identical to the step-by-step reference written with the same op order
(``v = beta * v + x``; ``s = (v - thr > 0)``; ``v = v - s * thr`` / ``v * (1 - s)``;
``a = decay * a + s``). A hard reset writes ``+0.0`` where the reference may produce ``-0.0``
(only when a negative membrane is above a negative threshold); the two compare equal.

A resting potential ``v_rest`` and a reset value ``v_reset`` (reset=zero) reach the kernels as
the plain LIF in the shifted membrane ``u = v - v_reset`` (:func:`rest_frame`), so every kernel
carries them unchanged; with both 0 (the default) nothing is shifted and the results are those
of the plain kernels bit for bit, otherwise they equal the step-by-step reference up to rounding.

The same Function runs the Triton kernels of :mod:`brain_ai.core.fused_triton` instead of the
PyTorch time loop (one thread per neuron loops over T) when ``backend`` resolves to ``triton``
(:func:`brain_ai.core.backend.resolve_backend`: ``auto`` picks it for CUDA tensors).

Entry point: :func:`fused_lif_sequence`; whether a layer can use it: its ``backends`` and
``backend_unsupported`` (:mod:`brain_ai.core.neurons.base`).
"""

from __future__ import annotations

from typing import Iterator, Optional, Tuple, Union

import torch
from torch import Tensor

from brain_ai.config import Backend, ConfigError, ResetMode
from brain_ai.core.backend import resolve_backend, triton_kernels
from brain_ai.core.surrogates import Surrogate

__all__ = ["fused_lif_sequence", "from_rest_frame", "rest_frame"]

#: Elements per backward time chunk (K steps x B*prod(F) neurons): the surrogate is evaluated
#: vectorised over a chunk, which then stays in cache for the sequential pass. Equal to ATen's
#: parallel grain size, so chunk ops run serially like the per-step ops: on 2 busy cores,
#: alternating OpenMP-parallel chunk ops with serial steps made timings erratic, while chunk
#: sizes of 1-8 steps of 32k neurons measured within noise of each other single-threaded.
_CHUNK_ELEMENTS = 1 << 15


def fused_lif_sequence(
    x: Tensor,
    v0: Optional[Tensor],
    beta: Union[Tensor, float],
    threshold: Union[Tensor, float],
    reset: Union[ResetMode, str],
    surrogate: Surrogate,
    *,
    adaptation_alpha: Optional[float] = None,
    adaptation_decay: Optional[float] = None,
    a0: Optional[Tensor] = None,
    record_membrane: bool = False,
    backend: Union[Backend, str] = Backend.auto,
    v_rest: float = 0.0,
    v_reset: float = 0.0,
    state_dtype: Optional[torch.dtype] = None,
) -> Tuple[Tensor, Tensor, Optional[Tensor], Optional[Tensor]]:
    """Run a LIF (or adaptive LIF) population over a whole input sequence.

    Args:
        x: input current ``(B, T, *F)``; fp16/bf16 inputs are integrated in fp32.
        v0: initial membrane ``(B, *F)`` or None (zeros).
        beta: membrane decay, a number or a tensor broadcastable to ``F`` (may require grad).
        threshold: firing threshold, same kinds as ``beta``.
        reset: ``subtract`` | ``zero`` | ``none``.
        surrogate: spike pseudo-derivative (``surrogate.grad(v - thr)``).
        adaptation_alpha, adaptation_decay: both set -> AdaptiveLIF with effective threshold
            ``threshold + adaptation_alpha * a`` and ``a <- adaptation_decay * a + s``. Plain
            numbers (not learnable here).
        a0: initial adaptation ``(B, *F)`` or None (zeros); AdaptiveLIF only.
        record_membrane: also return the post-reset membrane of every step.
        backend: ``auto`` | ``fused`` (the PyTorch time loop) | ``triton`` (the kernels; CUDA
            tensors, or CPU tensors under the Triton interpreter); see
            :func:`brain_ai.core.backend.resolve_backend`. ``eager`` is an error here (the
            generic unroll is ``forward_sequence``'s).
        v_rest: resting potential the membrane leaks toward (``+ (1 - beta) * v_rest`` per step).
        v_reset: membrane after a spike; reset=zero only (0 otherwise).
        state_dtype: dtype of the state; None: float32 for fp16/bf16 ``x``, else ``x.dtype``.

    Returns:
        ``(spikes (B, T, *F) in x.dtype, v_final (B, *F), a_final (B, *F) or None,
        membrane (B, T, *F) or None)``; states in the state dtype (fp32 for fp16/bf16 input).
    """
    if x.dim() < 3:
        raise ValueError(
            f"fused_lif_sequence: x must be (B, T, *F) with at least one feature dim, got shape {tuple(x.shape)}"
        )
    if not x.is_floating_point():
        raise TypeError(f"fused_lif_sequence: x must be a floating tensor, got dtype {x.dtype}")
    reset = ResetMode(getattr(reset, "value", reset))
    backend = resolve_backend(backend, x.device, surrogate, None, owner="fused_lif_sequence")
    if backend is Backend.eager:
        raise ConfigError("fused_lif_sequence: backend='eager' is not a fused path; allowed: auto, fused, triton")
    adaptive = adaptation_alpha is not None or adaptation_decay is not None
    if adaptive and (adaptation_alpha is None or adaptation_decay is None):
        raise ValueError(
            "fused_lif_sequence: adaptation_alpha and adaptation_decay must both be given (AdaptiveLIF) or both None"
        )
    if not adaptive and a0 is not None:
        raise ValueError(
            "fused_lif_sequence: a0 given but adaptation_alpha/adaptation_decay are None (not AdaptiveLIF)"
        )
    for name, value in (("adaptation_alpha", adaptation_alpha), ("adaptation_decay", adaptation_decay)):
        if isinstance(value, Tensor):
            if value.requires_grad:
                raise ValueError(
                    f"fused_lif_sequence: {name} requires grad; the fused path treats it as a constant (use the generic path)"
                )
            raise TypeError(
                f"fused_lif_sequence: {name} must be a Python number, got a tensor of shape {tuple(value.shape)}"
            )
    if state_dtype is None:
        state_dtype = torch.float32 if x.dtype in (torch.float16, torch.bfloat16) else x.dtype
    batch, feat = x.shape[0], tuple(x.shape[2:])
    v0 = _initial_state("v0", v0, batch, feat, x.device, state_dtype)
    a0 = _initial_state("a0", a0, batch, feat, x.device, state_dtype) if adaptive else None
    beta = _parameter("beta", beta, feat, x.device, state_dtype)
    threshold = _parameter("threshold", threshold, feat, x.device, state_dtype)
    x_shifted, v0, threshold = rest_frame("fused_lif_sequence", x, v0, beta, threshold, reset, v_rest, v_reset)
    spikes, v_final, a_final, membrane = _FusedLIF.apply(
        x_shifted,
        v0,
        beta,
        threshold,
        a0,
        reset,
        surrogate,
        None if not adaptive else float(adaptation_alpha),
        None if not adaptive else float(adaptation_decay),
        bool(record_membrane),
        backend is Backend.triton and x.numel() > 0,
    )
    v_final, membrane = from_rest_frame(v_reset, v_final, membrane)
    return spikes.to(x.dtype), v_final, a_final, membrane


def rest_frame(
    owner: str, x: Tensor, v0: Tensor, beta: Tensor, threshold: Tensor, reset: ResetMode, v_rest: float, v_reset: float
) -> Tuple[Tensor, Tensor, Tensor]:
    """The plain LIF (rest 0, reset to 0) that a LIF with ``v_rest`` / ``v_reset`` is, in ``u = v - v_reset``.

    ``v' = beta v + x + (1 - beta) v_rest`` becomes ``u' = beta u + x + (1 - beta) (v_rest - v_reset)``,
    the threshold ``thr - v_reset`` and the zero reset ``u -> 0``. Returns ``(x', u0, thr')``;
    :func:`from_rest_frame` maps the membranes back. Nothing is computed for the defaults (0, 0).
    ``v_reset != 0`` needs ``reset=zero`` (``ValueError`` naming ``owner``).
    """
    if v_reset and reset is not ResetMode.zero:
        raise ValueError(f"{owner}: v_reset={v_reset!r} needs reset=zero, got reset={reset.value}; allowed: v_reset=0")
    drive = v_rest - v_reset
    if drive:
        x = x + (1.0 - beta) * drive  # (B, T, *F) in the state dtype
    if v_reset:
        v0, threshold = v0 - v_reset, threshold - v_reset
    return x, v0, threshold


def from_rest_frame(v_reset: float, *membranes: Optional[Tensor]) -> Tuple[Optional[Tensor], ...]:
    """Membranes ``u`` of :func:`rest_frame` back to ``v = u + v_reset`` (None stays None)."""
    if not v_reset:
        return membranes
    return tuple(None if u is None else u + v_reset for u in membranes)


def _initial_state(name: str, value: Optional[Tensor], batch: int, feat: tuple, device, dtype) -> Tensor:
    if value is None:
        return torch.zeros((batch, *feat), device=device, dtype=dtype)
    if tuple(value.shape) != (batch, *feat):
        raise ValueError(
            f"fused_lif_sequence: {name} has shape {tuple(value.shape)}, expected (B, *F) = {(batch, *feat)}"
        )
    return value.to(dtype)


def _parameter(name: str, value: Union[Tensor, float], feat: tuple, device, dtype) -> Tensor:
    value = torch.as_tensor(value, device=device) if not isinstance(value, Tensor) else value
    try:
        torch.broadcast_shapes(tuple(value.shape), feat)
        ok = value.dim() <= len(feat)
    except RuntimeError:
        ok = False
    if not ok:
        raise ValueError(
            f"fused_lif_sequence: {name} has shape {tuple(value.shape)}, must be 0-d or broadcastable to F = {feat}"
        )
    return value.to(dtype)


class _FusedLIF(torch.autograd.Function):
    """Whole-sequence LIF / adaptive LIF (see module docstring). Saves h (and thr_eff if adaptive).

    ``triton``: run the Triton kernels (:mod:`brain_ai.core.fused_triton`) instead of the
    PyTorch loops, forward and backward.
    """

    @staticmethod
    def forward(ctx, x, v0, beta, thr, a0, reset, surrogate, adapt_alpha, adapt_decay, record_membrane, triton):  # noqa: ANN001
        run = triton_kernels().lif_forward if triton else _forward
        with torch.autocast(x.device.type, enabled=False):  # state stays in the state dtype
            spikes, v_final, a_final, membrane, h, thr_eff = run(
                x, v0, beta, thr, a0, reset, adapt_alpha, adapt_decay, record_membrane
            )
        ctx.save_for_backward(h, thr_eff, v0, beta, thr)
        ctx.reset, ctx.surrogate = reset, surrogate
        ctx.adapt_alpha, ctx.adapt_decay = adapt_alpha, adapt_decay
        ctx.x_dtype, ctx.triton = x.dtype, triton
        ctx.set_materialize_grads(False)
        return spikes, v_final, a_final, membrane

    @staticmethod
    def backward(ctx, g_spikes, g_v, g_a, g_mem):  # noqa: ANN001
        h, thr_eff, v0, beta, thr = ctx.saved_tensors
        need_x, need_v0, need_beta, need_thr, need_a0 = ctx.needs_input_grad[:5]
        if g_spikes is None and g_v is None and g_a is None and g_mem is None:
            return (None,) * 11
        with torch.autocast(h.device.type, enabled=False):
            if ctx.triton:
                dx, dv0, dbeta, dthr, da0 = triton_kernels().lif_backward(
                    h,
                    thr_eff,
                    v0,
                    beta,
                    thr,
                    ctx.reset,
                    ctx.surrogate,
                    ctx.adapt_alpha,
                    ctx.adapt_decay,
                    g_spikes,
                    g_v,
                    g_a,
                    g_mem,
                    ctx.x_dtype,
                    need_x,
                    need_beta,
                    need_thr,
                )
            elif thr_eff is None:
                dx, dv0, dbeta, dthr = _lif_backward(
                    h, v0, beta, thr, ctx.reset, ctx.surrogate, g_spikes, g_v, g_mem, need_beta, need_thr
                )
                da0 = None
            else:
                dx, dv0, dbeta, dthr, da0 = _adaptive_backward(
                    h,
                    thr_eff,
                    v0,
                    beta,
                    ctx.reset,
                    ctx.surrogate,
                    ctx.adapt_alpha,
                    ctx.adapt_decay,
                    g_spikes,
                    g_v,
                    g_a,
                    g_mem,
                    need_beta,
                    need_thr,
                )
        dx = dx.to(ctx.x_dtype) if need_x else None
        return (
            dx,
            dv0 if need_v0 else None,
            sum_to_shape(dbeta, beta) if need_beta else None,
            sum_to_shape(dthr, thr) if need_thr else None,
            da0 if need_a0 else None,
            None,
            None,
            None,
            None,
            None,
            None,
        )


def sum_to_shape(grad: Tensor, like: Tensor) -> Tensor:
    """Reduce a ``(B, *F)`` gradient to the shape of a broadcast parameter."""
    lead = grad.dim() - like.dim()
    grad = grad.sum(dim=tuple(range(lead))) if lead > 0 else grad
    return grad.sum_to_size(like.shape) if like.dim() > 0 else grad


def _reset(h: Tensor, z: Tensor, spiked: Tensor, reset: ResetMode) -> Tensor:
    """Post-reset membrane from pre-reset ``h``, ``z = h - thr`` and the boolean spikes."""
    if reset is ResetMode.subtract:
        return torch.where(spiked, z, h)  # == h - s * thr bit for bit (s in {0, 1})
    if reset is ResetMode.zero:
        return h * ~spiked  # == h * (1 - s)
    return h


def _forward(x, v0, beta, thr, a0, reset, adapt_alpha, adapt_decay, record_membrane):  # noqa: ANN001
    """The forward time loop (no autograd). Returns spikes, v_T, a_T, membrane, h, thr_eff.

    Per step: ``h = v * beta; h += x_t; s = (h - thr).gt_(0)`` (computed in the spike output
    when it has the state dtype) and the reset as ``addcmul(h, s, thr, value=-1)`` (subtract) or
    ``addcmul(h, h, s, value=-1)`` (zero). Because ``s`` is exactly 0 or 1 the product is exact,
    so even a fused multiply-add rounds like the reference ``h - s * thr`` / ``h * (1 - s)``.
    """
    steps = x.shape[1]
    h = torch.empty(x.shape, dtype=v0.dtype, device=x.device)
    spikes = torch.empty(x.shape, dtype=x.dtype, device=x.device)
    membrane = torch.empty_like(h) if record_membrane else None
    thr_eff = torch.empty_like(h) if a0 is not None else None
    h_s, x_s, s_s = h.unbind(1), x.unbind(1), spikes.unbind(1)
    m_s = membrane.unbind(1) if membrane is not None else None
    th_s = thr_eff.unbind(1) if thr_eff is not None else None
    v, a = v0, a0
    fused_spike = x.dtype == h.dtype  # the spike slot can hold z = h - thr exactly
    for t in range(steps):
        h_t = torch.mul(v, beta, out=h_s[t])
        h_t.add_(x_s[t])
        if a0 is None:
            thr_t = thr
        else:
            thr_t = torch.add(thr, a * adapt_alpha, out=th_s[t])
        if fused_spike:
            s_t = torch.sub(h_t, thr_t, out=s_s[t]).gt_(0)
        else:
            s_t = s_s[t].copy_((h_t - thr_t).gt_(0))
        if reset is ResetMode.subtract:
            v = torch.addcmul(h_t, s_t, thr_t, value=-1, **({"out": m_s[t]} if m_s else {}))
        elif reset is ResetMode.zero:
            v = torch.addcmul(h_t, h_t, s_t, value=-1, **({"out": m_s[t]} if m_s else {}))
        else:
            v = m_s[t].copy_(h_t) if m_s else h_t
        if a0 is not None:
            a = a * adapt_decay + s_t
    if reset is ResetMode.none or m_s is not None or steps == 0:
        v = v.clone()  # hand out no view of h / the membrane output / v0
    return spikes, v, a, membrane, h, thr_eff


def time_chunks(steps: int, per_step: int, elements: int = _CHUNK_ELEMENTS) -> Iterator[Tuple[int, int]]:
    """Reverse-time chunks ``[t0, t1)`` of about ``elements`` elements (``per_step`` per step) each."""
    size = max(1, min(steps, elements // max(1, per_step)))
    t1 = steps
    while t1 > 0:
        t0 = max(0, t1 - size)
        yield t0, t1
        t1 = t0


def _prev_membrane(
    h: Tensor, v0: Tensor, thr: Tensor, thr_seq: Optional[Tensor], reset: ResetMode, t0: int, t1: int
) -> Tensor:
    """Post-reset membranes ``v_{t-1}`` for t in [t0, t1) (``v_{-1} = v0``), recomputed from h."""
    lo = max(t0 - 1, 0)
    hc = h[:, lo : t1 - 1]
    z = hc - (thr if thr_seq is None else thr_seq[:, lo : t1 - 1])
    prev = _reset(hc, z, z > 0, reset)
    return torch.cat([v0.unsqueeze(1), prev], dim=1) if t0 == 0 else prev


def _post_reset_grad(
    dh: Tensor, beta: Tensor, g_v: Optional[Tensor], g_m: Optional[Tensor], t0: int, t1: int
) -> Tensor:
    """``dv_t = beta * dh_{t+1} + g_m[t]`` for t in [t0, t1); the step after the last gets ``g_v``."""
    steps = dh.shape[1]
    nxt = dh[:, t0 + 1 : min(t1 + 1, steps)] * beta
    if t1 == steps:
        last = g_v if g_v is not None else torch.zeros_like(dh[:, 0])
        nxt = torch.cat([nxt, last.unsqueeze(1)], dim=1)
    return nxt + g_m[:, t0:t1] if g_m is not None else nxt


def _reset_coef(reset: ResetMode, hc: Tensor, z: Tensor, sg: Tensor, thr: Tensor) -> Optional[Tensor]:
    """``d h_t / d v_t`` through reset and spike with unit spike gradient: ``c`` (None means 1)."""
    if reset is ResetMode.subtract:
        return torch.addcmul(torch.ones_like(sg), sg, thr, value=-1)  # 1 - thr * sg
    if reset is ResetMode.zero:
        return (z <= 0).to(sg.dtype).sub_(hc * sg)  # 1 - s - h * sg
    return None


def _lif_backward(h, v0, beta, thr, reset, surrogate, g_s, g_v, g_m, need_beta, need_thr):  # noqa: ANN001
    r"""Reverse loop for LIFNeuron; returns ``(dx, dv0, dbeta, dthr)`` (the last two ``(B, *F)``).

    With ``dv_t = beta * dh_{t+1} + g_m[t]`` (gradient reaching the post-reset membrane) the
    gradient of the pre-reset membrane is linear in it: ``dh_t = c_t * dv_t + g_s[t] * sg_t`` with
    ``c = 1 - thr * sg`` (subtract), ``1 - s - h * sg`` (zero), ``1`` (none). So each step is one
    ``dh_t = (beta * c_t) * dh_{t+1} + b_t`` (an addcmul); ``c``, ``b`` and the surrogate ``sg``
    are computed vectorised over a cache-sized chunk of steps. ``dx_t = dh_t``.
    """
    dh = torch.empty_like(h)
    dbeta = torch.zeros_like(v0) if need_beta else None
    dthr = torch.zeros_like(v0) if need_thr else None
    dh_next: Optional[Tensor] = None
    steps = h.shape[1]
    for t0, t1 in time_chunks(steps, h[:, 0].numel()):
        hc = h[:, t0:t1]
        z = hc - thr
        sg = surrogate.grad(z).to(h.dtype)
        if reset is ResetMode.subtract and g_m is None:  # c only needed for the last step
            coef = torch.addcmul(beta, sg, beta * thr, value=-1)  # beta * (1 - thr * sg)
            c = _reset_coef(reset, hc[:, -1:], z[:, -1:], sg[:, -1:], thr) if t1 == steps else None
            c_last = -1
        else:
            c = _reset_coef(reset, hc, z, sg, thr)
            coef = c * beta if c is not None else None
            c_last = t1 - t0 - 1
        b = g_s[:, t0:t1] * sg if g_s is not None else torch.zeros_like(hc)
        if g_m is not None:
            b = b + (g_m[:, t0:t1] * c if c is not None else g_m[:, t0:t1])
        for i in range(t1 - t0 - 1, -1, -1):
            out = dh[:, t0 + i]
            if dh_next is not None:
                torch.addcmul(b[:, i], coef[:, i] if coef is not None else beta, dh_next, out=out)
            elif g_v is None:
                out.copy_(b[:, i])
            elif c is None:
                torch.add(b[:, i], g_v, out=out)
            else:
                torch.addcmul(b[:, i], c[:, c_last], g_v, out=out)
            dh_next = out
        if need_beta:
            dbeta.add_((dh[:, t0:t1] * _prev_membrane(h, v0, thr, None, reset, t0, t1)).sum(1))
        if need_thr:
            # thr enters through z = h - thr (-dz) and, for subtract, through v = h - s * thr
            dv = _post_reset_grad(dh, beta, g_v, g_m, t0, t1)
            ds = g_s[:, t0:t1].to(h.dtype) if g_s is not None else torch.zeros_like(hc)
            if reset is ResetMode.subtract:
                ds = ds - dv * thr
            elif reset is ResetMode.zero:
                ds = ds - dv * hc
            contrib = ds * sg
            if reset is ResetMode.subtract:
                contrib = contrib + dv * (z > 0)
            dthr.sub_(contrib.sum(1))
    dv0 = dh[:, 0] * beta if h.shape[1] else (g_v if g_v is not None else torch.zeros_like(v0))
    return dh, dv0, dbeta, dthr


def _adaptive_backward(h, thr_eff, v0, beta, reset, surrogate, alpha, decay, g_s, g_v, g_a, g_m, need_beta, need_thr):  # noqa: ANN001
    """Reverse loop for AdaptiveLIF; returns ``(dx, dv0, dbeta, dthr, da0)``.

    Per step (``dv`` / ``da``: gradients reaching ``v_t`` / ``a_t``): ``ds = g_s + da - thr_t dv``
    (subtract) / ``- h dv`` (zero); ``dz = ds * sg``; ``dh = dz + dv`` (``dv (1 - s)`` for zero);
    ``dthr_t = -dz`` (``- s dv`` more for subtract); ``da <- decay da + alpha dthr_t``;
    ``dv <- beta dh``. The surrogate is evaluated per cache-sized chunk of steps.
    """
    dh = torch.empty_like(h)
    dv = g_v if g_v is not None else torch.zeros_like(v0)
    da = g_a if g_a is not None else torch.zeros_like(v0)
    dbeta = torch.zeros_like(v0) if need_beta else None
    dthr = torch.zeros_like(v0) if need_thr else None
    for t0, t1 in time_chunks(h.shape[1], h[:, 0].numel()):
        hc, thc = h[:, t0:t1], thr_eff[:, t0:t1]
        z = hc - thc
        sg = surrogate.grad(z).to(h.dtype)
        spiked = (z > 0).to(h.dtype)
        for i in range(t1 - t0 - 1, -1, -1):
            t = t0 + i
            dv_t = dv + g_m[:, t] if g_m is not None else dv
            ds = da + g_s[:, t] if g_s is not None else da
            if reset is ResetMode.subtract:
                ds = ds - thc[:, i] * dv_t
            elif reset is ResetMode.zero:
                ds = ds - hc[:, i] * dv_t
            dz = ds * sg[:, i]
            if reset is ResetMode.zero:
                torch.addcmul(dz, dv_t, 1.0 - spiked[:, i], out=dh[:, t])
            else:
                torch.add(dz, dv_t, out=dh[:, t])
            neg_dthr = dz + spiked[:, i] * dv_t if reset is ResetMode.subtract else dz
            if need_thr:
                dthr.sub_(neg_dthr)
            da = da * decay - neg_dthr * alpha
            dv = dh[:, t] * beta
        if need_beta:
            dbeta.add_((dh[:, t0:t1] * _prev_membrane(h, v0, None, thr_eff, reset, t0, t1)).sum(1))
    return dh, dv, dbeta, dthr, da
