r"""Fused recurrent adaptive LIF: one autograd Function over the whole sequence.

The dynamics are those of :class:`~brain_ai.core.neurons.lif.RecurrentAdaptiveLIFNeuron`
(per step ``t``, tensors ``(B, N)``; ``W`` is ``(N, N)``; ``beta``, ``rho``, ``thr`` are scalars
or ``(N,)``)::

    h_t  = beta * v_{t-1} + (x_t + s_{t-1} @ W^T)      (pre-reset membrane)
    th_t = thr + alpha * a_{t-1}                        (effective threshold)
    s_t  = H(h_t - th_t)                                (surrogate gradient in backward)
    v_t  = h_t - s_t * th_t | h_t * (1 - s_t) | h_t     (reset subtract | zero | none)
    a_t  = rho * a_{t-1} + s_t

The generic per-step path keeps ~10 autograd nodes and their saved tensors per step (T = 784
for pixel-wise sequential MNIST). :class:`_FusedRecurrent` instead runs the loop without autograd,
into preallocated time-major ``(T, B, N)`` buffers, and saves only the pre-reset membrane ``h``, the
adaptation ``a_{t-1}`` of every step and the spikes (its output); effective thresholds,
surrogate values and post-reset membranes are recomputed in backward, vectorised over
cache-sized chunks of steps. The reverse-time loop is one ``addmm`` (the recurrence) and a few
fused elementwise ops per step; the gradients of ``W``, ``beta``, ``rho`` and ``thr`` are
reductions after (or per chunk of) the loop. Gradients are exact: tested against the generic
path in float64.

The time loops run with one intra-op thread (:func:`_one_thread`): a step is a ``(B, N) x (N, N)``
matmul and a few ``(B, N)`` ops, too small to split, and a multi-threaded BLAS call per step
waits on every thread it wakes: on the 2-core development VM under load a 128 x 128 x 128
``mm`` took 7.4 ms wall with 2 threads against 0.3 ms with one. The vectorised per-chunk work
and the final weight-gradient GEMM keep the caller's thread count.

Forward values equal the generic path's: the same ops in the same order per step (a product
with ``s`` in {0, 1} is exact, so ``addcmul`` resets round like ``h - s * th``). Under autocast
the recurrent matmul runs in the state dtype (fp32), where the generic path's ``linear`` would
run in bf16/fp16.

With ``backend="triton"`` the same Function runs the persistent kernels of
:mod:`brain_ai.core.fused_recurrent_triton` (the whole time loop in one launch forward and one
backward; CUDA tensors, or CPU tensors under the Triton interpreter) instead of these loops.

``backend=compiled`` runs the same Function with the two loops compiled by numba
(:mod:`brain_ai.core.compiled_recurrent`: one call for the T forward steps, one per chunk of reverse steps).

Entry point: :func:`fused_recurrent_sequence`.
"""

from __future__ import annotations

import contextlib
import functools
from types import ModuleType
from typing import Iterator, Optional, Tuple, Union

import torch
from torch import Tensor

from brain_ai.config import Backend, ConfigError, NeuronType, ResetMode
from brain_ai.core.backend import compiled_unsupported, recurrent_triton_kernels, resolve_backend
from brain_ai.core.fused import from_rest_frame, rest_frame, sum_to_shape, time_chunks
from brain_ai.core.surrogates import Surrogate

__all__ = ["fused_recurrent_sequence"]

#: Elements (steps x B x N) per backward chunk: the surrogate and the per-step coefficients are
#: computed vectorised over a chunk, which then stays in cache for the sequential pass.
_CHUNK_ELEMENTS = 1 << 18


@contextlib.contextmanager
def _one_thread(device: torch.device) -> Iterator[None]:
    """Run the block with one intra-op thread for CPU tensors (restores the caller's count)."""
    threads = torch.get_num_threads()
    if threads == 1 or device.type != "cpu":
        yield
        return
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def fused_recurrent_sequence(
    x: Tensor,
    v0: Optional[Tensor],
    a0: Optional[Tensor],
    s0: Optional[Tensor],
    w_rec: Tensor,
    beta: Union[Tensor, float],
    adaptation_decay: Union[Tensor, float],
    threshold: Union[Tensor, float],
    adaptation_alpha: float,
    reset: Union[ResetMode, str],
    surrogate: Surrogate,
    *,
    record_membrane: bool = False,
    v_rest: float = 0.0,
    v_reset: float = 0.0,
    state_dtype: Optional[torch.dtype] = None,
    backend: Union[Backend, str] = Backend.fused,
    spatial: bool = False,
) -> Tuple[Tensor, Tensor, Tensor, Tensor, Optional[Tensor]]:
    """Run a recurrent adaptive LIF population over a whole input sequence (module docstring).

    Args:
        x: input current ``(B, T, N)``, T >= 1 (already ``W_in x``); fp16/bf16 is integrated in fp32.
        v0, a0, s0: initial membrane, adaptation and previous spikes ``(B, N)``, or None (zeros).
        w_rec: recurrent weight ``(N, N)`` (``s_{t-1} @ w_rec^T`` enters step t).
        beta, adaptation_decay: membrane / adaptation decay, a number or a ``()`` / ``(N,)`` tensor.
        threshold: base threshold, same kinds.
        adaptation_alpha: threshold increase per unit of ``a`` (a plain number, not learnable).
        reset: ``subtract`` | ``zero`` | ``none``.
        surrogate: spike pseudo-derivative (``surrogate.grad(h - th)``).
        record_membrane: also return the post-reset membrane of every step.
        v_rest, v_reset, state_dtype: as in :func:`~brain_ai.core.fused.fused_lif_sequence`
            (:func:`~brain_ai.core.fused.rest_frame`).
        backend: ``fused`` (the PyTorch time loops) | ``triton`` (the persistent kernels: CUDA
            tensors or the Triton interpreter, N <= 512, fp32 / fp64 state) | ``auto`` (``fused``:
            the kernel is verified only under the interpreter so far) | ``compiled`` (numba-compiled loops:
            CPU tensors, fp32 / fp64 state; ``auto`` picks it where it can run); ``eager`` is an error here.
        spatial: the gradient of each step's spatial path only (the online rules,
            :mod:`brain_ai.core.learning_rules`): every step starts from a constant state
            (``v_{t-1}``, ``a_{t-1}``, ``s_{t-1}``), as the step-by-step run with the state detached
            at every step; the initial state gets no gradient (:func:`_spatial_backward`).

    Returns:
        ``(spikes (B, T, N) in x.dtype, v_T, a_T, s_T (B, N), membrane (B, T, N) or None)``;
        states in the state dtype (fp32 for fp16/bf16 input). Every tensor argument may require
        grad; the gradients are exact.
    """
    owner = "fused_recurrent_sequence"
    if x.dim() != 3 or x.shape[1] < 1:
        raise ValueError(f"{owner}: x must be (B, T>=1, N), got shape {tuple(x.shape)}")
    if not x.is_floating_point():
        raise TypeError(f"{owner}: x must be a floating tensor, got dtype {x.dtype}")
    if isinstance(adaptation_alpha, Tensor):
        raise TypeError(
            f"{owner}: adaptation_alpha must be a Python number, got a tensor of shape {tuple(adaptation_alpha.shape)}"
        )
    reset = ResetMode(getattr(reset, "value", reset))
    sd = state_dtype or (torch.float32 if x.dtype in (torch.float16, torch.bfloat16) else x.dtype)
    batch, n = x.shape[0], x.shape[2]
    if tuple(w_rec.shape) != (n, n):
        raise ValueError(f"{owner}: w_rec has shape {tuple(w_rec.shape)}, expected (N, N) = {(n, n)}")
    states = [_state(owner, name, t, batch, n, x.device, sd) for name, t in (("v0", v0), ("a0", a0), ("s0", s0))]
    params = [
        _param(owner, name, t, n, x.device, sd)
        for name, t in (("beta", beta), ("adaptation_decay", adaptation_decay), ("threshold", threshold))
    ]
    (v0, a0, s0), (beta, decay, threshold) = states, params
    resolved = _resolve(owner, backend, x.device, surrogate, n, sd)
    x_shifted, v0, threshold = rest_frame(owner, x, v0, beta, threshold, reset, v_rest, v_reset)
    s, v, a, prev, mem = _FusedRecurrent.apply(
        x_shifted,
        v0,
        a0,
        s0,
        w_rec.to(sd),
        beta,
        decay,
        threshold,
        float(adaptation_alpha),
        reset,
        surrogate,
        bool(record_membrane),
        resolved is Backend.triton,
        _compiled_module() if resolved is Backend.compiled else None,
        bool(spatial),
    )
    v, mem = from_rest_frame(v_reset, v, mem)
    return s.to(x.dtype), v, a, prev, mem


def _resolve(
    owner: str, backend: Union[Backend, str], device: torch.device, surrogate: Surrogate, n: int, sd: torch.dtype
) -> Backend:
    """The loops that run: ``fused``, ``triton`` or ``compiled`` (errors name what cannot run)."""
    compiled_reason = compiled_unsupported(owner, NeuronType.recurrent_adaptive_lif, device, sd)
    backend = resolve_backend(
        backend, device, surrogate, None, owner=owner, auto_triton=False, compiled_reason=compiled_reason
    )
    if backend is Backend.eager:
        raise ConfigError(f"{owner}: backend='eager' is not a fused path; allowed: auto, fused, triton, compiled")
    if backend is Backend.triton:
        reason = recurrent_triton_kernels().recurrent_unsupported(n, sd)
        if reason is not None:
            raise ConfigError(f"{owner}: backend='triton' cannot run: {reason}; use backend=auto, fused or eager")
    return backend


def _compiled_module() -> ModuleType:
    """:mod:`brain_ai.core.compiled_recurrent` (imported here: it builds on this module's helpers)."""
    from brain_ai.core import compiled_recurrent

    return compiled_recurrent


def _state(owner: str, name: str, value: Optional[Tensor], batch: int, n: int, device, dtype) -> Tensor:  # noqa: ANN001
    if value is None:
        return torch.zeros((batch, n), device=device, dtype=dtype)
    if tuple(value.shape) != (batch, n):
        raise ValueError(f"{owner}: {name} has shape {tuple(value.shape)}, expected (B, N) = {(batch, n)}")
    return value.to(dtype)


def _param(owner: str, name: str, value: Union[Tensor, float], n: int, device, dtype) -> Tensor:  # noqa: ANN001
    value = value if isinstance(value, Tensor) else torch.as_tensor(float(value), device=device)
    if tuple(value.shape) not in {(), (n,)}:
        raise ValueError(f"{owner}: {name} has shape {tuple(value.shape)}, allowed: () or (N,) = {(n,)}")
    return value.to(dtype)


class _FusedRecurrent(torch.autograd.Function):
    """Whole-sequence recurrent adaptive LIF (module docstring). Saves h, a_{t-1} and the spikes.

    ``triton``: run the kernels of :mod:`brain_ai.core.fused_recurrent_triton` instead of the loops.
    """

    @staticmethod
    def forward(
        ctx, x, v0, a0, s0, w, beta, rho, thr, alpha, reset, surrogate, record_membrane, triton, loops, spatial
    ):  # noqa: ANN001
        if triton:
            run = recurrent_triton_kernels().recurrent_forward
        else:
            run = functools.partial(_forward, forward_loop=_forward_loop if loops is None else loops.forward_loop)
        with torch.autocast(x.device.type, enabled=False):  # state stays in the state dtype
            spikes, v_t, a_t, s_t, membrane, h, adapt = run(
                x, v0, a0, s0, w, beta, rho, thr, alpha, reset, record_membrane
            )
        ctx.save_for_backward(h, adapt, spikes, v0, s0, w, beta, rho, thr)  # time-major (T, B, N)
        ctx.alpha, ctx.reset, ctx.surrogate, ctx.x_dtype, ctx.triton = alpha, reset, surrogate, x.dtype, triton
        ctx.backward_loop = _backward_loop if loops is None else loops.backward_loop
        ctx.spatial = spatial
        ctx.set_materialize_grads(False)
        return spikes.transpose(0, 1), v_t, a_t, s_t, None if membrane is None else membrane.transpose(0, 1)

    @staticmethod
    def backward(ctx, g_s, g_v, g_a, g_p, g_m):  # noqa: ANN001
        if g_s is None and g_v is None and g_a is None and g_p is None and g_m is None:
            return (None,) * 15
        h, adapt, spikes, v0, s0, w, beta, rho, thr = ctx.saved_tensors
        if ctx.spatial:
            run = _spatial_backward
        elif ctx.triton:
            run = _triton_backward
        else:
            run = functools.partial(_backward, backward_loop=ctx.backward_loop)
        with torch.autocast(h.device.type, enabled=False):
            grads = run(
                h,
                adapt,
                spikes,
                v0,
                s0,
                w,
                beta,
                rho,
                thr,
                ctx.alpha,
                ctx.reset,
                ctx.surrogate,
                g_s,
                g_v,
                g_a,
                g_p,
                g_m,
                ctx.needs_input_grad,
            )
        dx, dv0, da0, ds0, dw, dbeta, drho, dthr = grads
        dx = dx.transpose(0, 1).to(ctx.x_dtype) if ctx.needs_input_grad[0] else None  # (B, T, N)
        return dx, dv0, da0, ds0, dw, dbeta, drho, dthr, None, None, None, None, None, None, None


def _forward(x, v0, a0, s0, w, beta, rho, thr, alpha, reset, record_membrane, forward_loop):  # noqa: ANN001
    """The forward time loop ``forward_loop`` (no autograd). Returns spikes, v_T, a_T, s_T, membrane, h, adapt.

    The buffers are time-major ``(T, B, N)`` (one step is one contiguous block; batch-major step
    slices cost a TLB miss per row); spikes and membrane are handed out as ``(B, T, N)`` views.
    ``adapt[t]`` is ``a_{t-1}``, the adaptation step t starts from. Per step: ``rec = mm(s, W^T)``;
    ``rec += x_t``; ``h = v * beta; h += rec``; ``th = a * alpha; th += thr``; ``s = (h - th).gt_(0)``;
    the reset as an ``addcmul``; ``a' = a * rho; a' += s`` -- all into preallocated buffers.
    """
    batch, steps, n = x.shape
    sd, dev = v0.dtype, x.device
    x_tm = x.transpose(0, 1).contiguous()  # (T, B, N)
    h = torch.empty((steps, batch, n), dtype=sd, device=dev)
    adapt = torch.empty_like(h)
    spikes = torch.empty((steps, batch, n), dtype=x.dtype, device=dev)
    membrane = torch.empty_like(h) if record_membrane else None
    # the spike output feeds the next step's matmul directly unless it is in another dtype
    s_buf = None if x.dtype == sd else torch.empty((batch, n), dtype=sd, device=dev)
    a_final = torch.empty((batch, n), dtype=sd, device=dev)
    wt = w.t()  # (N_in, N_out): rec = s @ W^T
    adapt[0].copy_(a0)
    with _one_thread(dev):
        v, s_final = forward_loop(
            x_tm, v0, s0, wt, beta, rho, thr, alpha, reset, h, adapt, spikes, membrane, s_buf, a_final
        )
    v_final = v.clone() if record_membrane or reset is ResetMode.none else v  # no view of h / membrane
    return spikes, v_final, a_final, s_final, membrane, h, adapt


def _forward_loop(x_tm, v0, s0, wt, beta, rho, thr, alpha, reset, h, adapt, spikes, membrane, s_buf, a_final):  # noqa: ANN001
    """The steps of :func:`_forward` into its buffers; returns ``(v_T, s_T)`` (v_T may be a buffer view)."""
    steps = x_tm.shape[0]
    sd = h.dtype
    own_spikes = s_buf is None
    rec = torch.empty_like(h[0])
    th = torch.empty_like(rec)
    v_buf = torch.empty_like(rec)
    record_membrane = membrane is not None
    v, s_prev = v0, s0
    for t in range(steps):
        torch.mm(s_prev, wt, out=rec)
        rec.add_(x_tm[t])  # x_t + s_{t-1} W^T
        h_t = torch.mul(v, beta, out=h[t])
        h_t.add_(rec)
        a = adapt[t]
        torch.mul(a, alpha, out=th).add_(thr)  # thr + alpha * a
        s_t = torch.sub(h_t, th, out=spikes[t] if own_spikes else s_buf).gt_(0)
        if not own_spikes:
            spikes[t].copy_(s_t)
        v_out = membrane[t] if record_membrane else v_buf
        if reset is ResetMode.subtract:
            v = torch.addcmul(h_t, s_t, th, value=-1, out=v_out)
        elif reset is ResetMode.zero:
            v = torch.addcmul(h_t, h_t, s_t, value=-1, out=v_out)
        else:
            v = v_out.copy_(h_t) if record_membrane else h_t
        torch.mul(a, rho, out=adapt[t + 1] if t + 1 < steps else a_final).add_(s_t)
        s_prev = s_t
    return v, spikes[-1].to(sd, copy=True)


def _backward(
    h, adapt, spikes, v0, s0, w, beta, rho, thr, alpha, reset, surrogate, g_s, g_v, g_a, g_p, g_m, needs, backward_loop
):  # noqa: ANN001
    r"""Reverse-time loop ``backward_loop``; returns ``(dx (T, B, N), dv0, da0, ds0, dW, dbeta, drho, dthr)`` (None where not needed).

    With ``D`` the total gradient of a quantity, per step t (``dh'`` = ``D h_{t+1}``, 0 after the
    last step; ``g`` the gradients arriving from the outputs; the final-state gradients enter as
    those of the last step)::

        Dv_t  = beta dh' + g_m[t]
        Ds_t  = g_s[t] + Da_t + dh' @ W - th_t Dv_t (subtract) | - h_t Dv_t (zero)
        Dz_t  = Ds_t * sg(h_t - th_t)
        Dh_t  = Dz_t + Dv_t (subtract, none) | Dz_t + (1 - s_t) Dv_t (zero)       (= D x_t)
        Dth_t = -Dz_t - s_t Dv_t (subtract) | -Dz_t
        Da_{t-1} = rho Da_t + alpha Dth_t

    ``dW = sum_t Dh_t^T s_{t-1}``, ``dbeta = sum Dh_t v_{t-1}``, ``drho = sum Da_t a_{t-1}``,
    ``dthr = sum Dth_t``. The terms in ``dh'`` are folded into per-chunk coefficients, so a step
    is ``ds = b + Da; ds += dh' @ W; ds += c_s dh'; ds *= sg; Dh = ds + c_h dh'; -Dth = ds + c_t dh'``
    and the ``Da`` update.
    """
    steps, batch, n = h.shape  # time-major, like every saved sequence
    sd = h.dtype
    need_beta, need_rho, need_thr = needs[5], needs[6], needs[7]
    dh = torch.empty_like(h)
    carry = g_a.clone() if g_a is not None else torch.zeros_like(h[0])  # Da of the step after the chunk
    dbeta = torch.zeros(n, dtype=sd, device=h.device) if need_beta else None
    drho = torch.zeros(n, dtype=sd, device=h.device) if need_rho else None
    dthr = torch.zeros(n, dtype=sd, device=h.device) if need_thr else None
    with _one_thread(h.device):
        carry, dw = backward_loop(
            h,
            adapt,
            w,
            beta,
            rho,
            thr,
            alpha,
            reset,
            surrogate,
            g_s,
            g_v,
            g_p,
            g_m,
            dh,
            carry,
            dbeta,
            drho,
            dthr,
            s0 if needs[4] else None,
        )
    dh0 = dh[0]
    dv0 = dh0 * beta if needs[1] else None
    ds0 = dh0 @ w if needs[3] else None
    if need_beta:
        dbeta.add_((dh0 * v0).sum(0))
    return (
        dh,
        dv0,
        carry if needs[2] else None,
        ds0,
        _weight_grad(dh, spikes, s0) if needs[4] and dw is None else dw,
        sum_to_shape(dbeta, beta) if need_beta else None,
        sum_to_shape(drho, rho) if need_rho else None,
        sum_to_shape(dthr, thr) if need_thr else None,
    )


def _spatial_backward(
    h, adapt, spikes, v0, s0, w, beta, rho, thr, alpha, reset, surrogate, g_s, g_v, g_a, g_p, g_m, needs
):  # noqa: ANN001
    r""":func:`_backward`'s contract through each step's spatial path only: the state step t starts
    from (``v_{t-1}``, ``a_{t-1}``, ``s_{t-1}``) is a constant, so no gradient flows from a step to
    the next and every step is computed at once, over the whole ``(T, B, N)`` sequence::

        Dv_t  = g_m[t]                    (the post-reset membrane's own gradient; g_v joins the last step)
        Ds_t  = g_s[t] - th_t Dv_t (subtract) | - h_t Dv_t (zero)   (g_p, g_a join the last step)
        Dz_t  = Ds_t * sg(h_t - th_t);  Dh_t = Dz_t + Dv_t (subtract, none) | Dz_t + (1 - s_t) Dv_t (zero)
        Dth_t = -Dz_t - s_t Dv_t (subtract) | -Dz_t

    ``dW = sum_t Dh_t^T s_{t-1}``, ``dbeta = sum Dh_t v_{t-1}``, ``dthr = sum Dth_t``, and ``drho`` only
    from ``g_a`` (``a_T = rho a_{T-1} + s_{T-1}``); the initial state gets none."""
    sd = h.dtype
    th = torch.mul(adapt, alpha).add_(thr)  # the forward's op order: same bits
    sg = surrogate.grad(h - th)
    s = spikes.to(sd)
    ds = g_s.transpose(0, 1).to(sd) if g_s is not None else torch.zeros_like(h)  # (T, B, N)
    if g_p is not None or g_a is not None:  # the final prev_spk is s_{T-1}; a_T adds it
        ds = ds.clone()
        ds[-1] += (g_p if g_p is not None else 0) + (g_a if g_a is not None else 0)
    dv = g_m.transpose(0, 1).to(sd) if g_m is not None else None
    if g_v is not None:  # the final membrane is v_{T-1}
        dv = dv.clone() if dv is not None else torch.zeros_like(h)
        dv[-1] += g_v
    if dv is not None and reset is not ResetMode.none:
        ds = ds - (th if reset is ResetMode.subtract else h) * dv
    dz = ds * sg
    if dv is None:
        dh, dth = dz, -dz
    elif reset is ResetMode.zero:
        dh, dth = dz + (1 - s) * dv, -dz
    else:
        dh, dth = dz + dv, (-dz - s * dv if reset is ResetMode.subtract else -dz)
    dbeta = drho = None
    if needs[5]:
        v_prev = torch.cat([v0.unsqueeze(0), _reset(h[:-1], s[:-1], th[:-1], reset)])  # (T, B, N): v_{t-1}
        dbeta = sum_to_shape((dh * v_prev).sum(0), beta)
    if needs[6]:
        drho = sum_to_shape(g_a * adapt[-1], rho) if g_a is not None else torch.zeros_like(rho)
    dthr = sum_to_shape(dth.sum(0), thr) if needs[7] else None
    dw = _weight_grad(dh, spikes, s0) if needs[4] else None
    return dh, None, None, None, dw, dbeta, drho, dthr


def _triton_backward(
    h, adapt, spikes, v0, s0, w, beta, rho, thr, alpha, reset, surrogate, g_s, g_v, g_a, g_p, g_m, needs
):  # noqa: ANN001
    """:func:`_backward`'s contract through the reverse-time kernel (the weight gradient stays one GEMM here)."""
    dh, dv0, da0, ds0, dbeta, drho, dthr = recurrent_triton_kernels().recurrent_backward(
        h, adapt, v0, w, beta, rho, thr, alpha, reset, surrogate, g_s, g_v, g_a, g_p, g_m
    )
    grads = (dv0, da0, ds0, _weight_grad(dh, spikes, s0) if needs[4] else None)
    params = (sum_to_shape(g, like) for g, like in ((dbeta, beta), (drho, rho), (dthr, thr)))
    return dh, *(g if need else None for g, need in zip((*grads, *params), needs[1:8]))


def _weight_grad(dh: Tensor, spikes: Tensor, s0: Tensor) -> Tensor:
    """``dW = sum_t Dh_t^T s_{t-1}`` ``(N, N)`` from time-major ``dh`` / ``spikes`` ``(T, B, N)`` and ``s0``, one GEMM."""
    n = dh.shape[-1]
    s_prev = torch.cat([s0.unsqueeze(0), spikes[:-1].to(dh.dtype)], dim=0)  # (T, B, N): s_{t-1}
    return dh.reshape(-1, n).t() @ s_prev.reshape(-1, n)


def _backward_loop(
    h, adapt, w, beta, rho, thr, alpha, reset, surrogate, g_s, g_v, g_p, g_m, dh, carry, dbeta, drho, dthr, s0_w
):  # noqa: ANN001
    """The reverse-time chunks of :func:`_backward`: fills ``dh``, adds to ``dbeta`` / ``drho`` / ``dthr``
    (those that are not None) and returns ``(Da_{-1}, None)``: the gradient of the initial adaptation,
    and no weight gradient (``s0_w``, the initial spikes when ``W`` needs one, is unused here:
    :func:`_backward` computes it as one GEMM; a compiled loop may return it instead)."""
    steps, batch, n = h.shape
    sd = h.dtype
    ds = torch.empty((batch, n), dtype=sd, device=h.device)
    dh_next: Optional[Tensor] = None
    for t0, t1 in time_chunks(steps, batch * n, _CHUNK_ELEMENTS):
        hc, ac = h[t0:t1], adapt[t0:t1]  # (K, B, N)
        thc = torch.mul(ac, alpha).add_(thr)  # the forward's op order: same bits
        z = hc - thc
        sg = surrogate.grad(z).to(sd)
        spk = (z > 0).to(sd)
        gm = to_time_major(g_m, t0, t1, sd)
        if t1 == steps and g_v is not None:  # the final membrane's gradient reaches v_{T-1}
            gm = gm if gm is not None else torch.zeros_like(hc)
            gm[-1] += g_v
        b = to_time_major(g_s, t0, t1, sd)
        b = b if b is not None else torch.zeros_like(hc)
        if t1 == steps and g_p is not None:  # the final prev_spk is s_{T-1}
            b[-1] += g_p
        if reset is ResetMode.subtract:
            c_s, c_h, c_t = -(thc * beta), beta, spk * beta
            if gm is not None:
                b.addcmul_(thc, gm, value=-1)
        elif reset is ResetMode.zero:
            c_s, c_h, c_t = -(hc * beta), (1 - spk) * beta, None
            if gm is not None:
                b.addcmul_(hc, gm, value=-1)
                gm = gm * (1 - spk)  # the gradient reaching h through v = h (1 - s)
        else:
            c_s, c_h, c_t = None, beta, None
        g_t = spk * gm if gm is not None and reset is ResetMode.subtract else None
        da_seq = torch.empty_like(hc)  # Da_t for t in the chunk
        nth = torch.empty_like(hc)  # -Dth_t
        da_seq[-1].copy_(carry)
        for i in range(t1 - t0 - 1, -1, -1):
            torch.add(b[i], da_seq[i], out=ds)
            if dh_next is not None:
                ds.addmm_(dh_next, w)  # through s_t @ W^T into h_{t+1}
                if c_s is not None:
                    ds.addcmul_(c_s[i], dh_next)
            ds.mul_(sg[i])  # Dz_t
            out = dh[t0 + i]
            if dh_next is not None:
                torch.addcmul(ds, c_h if c_h.dim() < 3 else c_h[i], dh_next, out=out)
            else:
                out.copy_(ds)
            if gm is not None:
                out.add_(gm[i])
            neg_dth = nth[i]
            if c_t is not None and dh_next is not None:
                torch.addcmul(ds, c_t[i], dh_next, out=neg_dth)
            else:
                neg_dth.copy_(ds)
            if g_t is not None:
                neg_dth.add_(g_t[i])
            torch.mul(da_seq[i], rho, out=da_seq[i - 1] if i > 0 else carry).add_(neg_dth, alpha=-alpha)
            dh_next = out
        if drho is not None:
            drho.add_((da_seq * ac).sum((0, 1)))
        if dthr is not None:
            dthr.sub_(nth.sum((0, 1)))
        k = min(t1 + 1, steps) - (t0 + 1)  # steps t in [t0, t1) that have a successor
        if dbeta is not None and k > 0:  # Dh_{t+1} v_t, v_t the post-reset membrane (recomputed)
            v_post = _reset(hc[:k], spk[:k], thc[:k], reset)
            dbeta.add_((dh[t0 + 1 : t0 + 1 + k] * v_post).sum((0, 1)))
    return carry, None


def to_time_major(g: Optional[Tensor], t0: int, t1: int, dtype: torch.dtype) -> Optional[Tensor]:
    """A fresh time-major ``(K, B, N)`` copy of steps [t0, t1) of a ``(B, T, N)`` gradient, or None."""
    if g is None:
        return None
    seg = g[:, t0:t1].transpose(0, 1)
    return torch.empty(seg.shape, dtype=dtype, device=g.device).copy_(seg)


def _reset(h: Tensor, s: Tensor, th: Tensor, reset: ResetMode) -> Tensor:
    """Post-reset membrane from pre-reset ``h``, spikes ``s`` (0/1) and thresholds ``th`` (the forward's ops)."""
    if reset is ResetMode.subtract:
        return torch.addcmul(h, s, th, value=-1)
    if reset is ResetMode.zero:
        return torch.addcmul(h, h, s, value=-1)
    return h
