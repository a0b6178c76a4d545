r"""Persistent Triton kernels for the recurrent adaptive LIF (the CUDA path of :mod:`brain_ai.core.fused_recurrent`).

The dynamics, saved tensors and gradients are those of :mod:`brain_ai.core.fused_recurrent`; here
the whole time loop runs inside one kernel launch (forward) and one more (backward) instead of
~8 launches per step. Each program owns a tile of ``BLOCK_B`` batch rows and all ``N`` neurons
(padded to ``BLOCK_N``, a power of two) and keeps its state -- membrane ``v``, adaptation ``a``
and, in backward, ``D h_{t+1}`` and ``D a_t`` -- in registers across the steps. Per step the
recurrent input is ``tl.dot`` over ``BLOCK_K``-wide column blocks of the previous step's spikes
(backward: of ``D h_{t+1}``) against the matching blocks of ``W_rec``, read from L2 each step.
The previous step's values come from the program's own rows of the sequence it writes anyway
(spikes, ``D h``), behind a block barrier.

* forward, per step: ``rec = s_{t-1} @ W^T`` (IEEE fp32, no TF32); ``rec = rec + x_t``;
  ``h = v * beta``; ``h = h + rec``; ``th = a * alpha``; ``th = th + thr``; ``s = h - th > 0``;
  the reset; ``a = a * rho``; ``a = a + s`` -- the eager ops in the eager order, launched with
  ``enable_fp_fusion=False``. Only the matmul's summation order differs from the CPU path's BLAS,
  so membranes agree within rounding, not bit for bit (a spike flips only where ``h - th`` is
  within that rounding of 0).
* backward, t = T-1 .. 0 (``dv`` / ``da`` the gradients reaching ``v_t`` / ``a_t``, ``dh'`` = ``D h_{t+1}``):
  ``ds = g_s + da + dh' @ W - th dv`` (subtract) / ``- h dv`` (zero); ``dz = ds * sg(h - th)``;
  ``dh = dz + dv`` (``dz + (1 - s) dv`` for zero), written as ``D x_t``; ``-Dth = dz`` (``+ s dv``
  for subtract); ``da <- rho da - alpha (-Dth)``; ``dv <- beta dh``. The per-neuron sums for
  ``beta``, ``rho`` and ``thr`` are kept per program and added up after the launch (no atomics:
  deterministic); ``dW = sum_t Dh_t^T s_{t-1}`` is one GEMM over all steps after the kernel.

Limits: ``N <= MAX_NEURONS`` (a program holds a ``(BLOCK_B, BLOCK_N)`` tile of each state in
registers), fp32 / fp64 state, built-in surrogates
(:func:`brain_ai.core.fused_triton.surrogate_supported`). Verified against the CPU path under
the Triton interpreter only (``tests/core/test_fused_recurrent_triton.py``, the ``recurrent-``
cases of :mod:`brain_ai.tools.kernel_cases`); ``scripts/gpu_check.py`` runs them on a GPU.
"""

from __future__ import annotations

from typing import Optional

import torch
import triton
import triton.language as tl
from torch import Tensor

from brain_ai.core.fused_triton import (
    N_CONSTANTS,
    RESET_ID,
    SURROGATE_KIND,
    expect_shape,
    kernel_constants,
    on_device,
    per_neuron_values,
    post_reset,
    surrogate_grad,
)

__all__ = ["MAX_NEURONS", "STATE_DTYPES", "recurrent_unsupported", "recurrent_forward", "recurrent_backward"]

#: Largest layer a program holds in registers (a (BLOCK_B, N) tile per state).
MAX_NEURONS = 512
#: State dtypes the kernels run (tl.dot in IEEE fp32 / fp64).
STATE_DTYPES = (torch.float32, torch.float64)
#: Batch rows per program (tl.dot needs at least 16) and columns per matmul block; not tuned on a GPU.
_BLOCK_B = 16
_BLOCK_K = 32
_NUM_WARPS = 8


def recurrent_unsupported(n: int, state_dtype: torch.dtype) -> Optional[str]:
    """None when the kernels run a layer of ``n`` neurons with this state dtype, else why not."""
    if n > MAX_NEURONS:
        return f"the layer has N={n} neurons; the recurrent kernel holds at most {MAX_NEURONS} per program"
    if state_dtype not in STATE_DTYPES:
        allowed = ", ".join(str(d).replace("torch.", "") for d in STATE_DTYPES)
        return f"the state dtype is {str(state_dtype).replace('torch.', '')}; the recurrent kernel runs {allowed}"
    return None


@triton.jit
def _rec_input(
    src_ptr,
    w_ptr,
    rows,
    row_mask,
    cols,
    N,
    W_T: tl.constexpr,
    BLOCK_B: tl.constexpr,
    BLOCK_K: tl.constexpr,
    BLOCK_N: tl.constexpr,
):
    """``src[rows] @ W^T`` (``W_T``) or ``src[rows] @ W`` as a ``(BLOCK_B, BLOCK_N)`` tile; ``src``: one
    contiguous ``(B, N)`` step."""
    acc = tl.zeros((BLOCK_B, BLOCK_N), dtype=src_ptr.dtype.element_ty)
    ks = tl.arange(0, BLOCK_K)
    for k0 in range(0, N, BLOCK_K):
        k = k0 + ks
        src = tl.load(src_ptr + rows * N + k[None, :], mask=row_mask & (k[None, :] < N), other=0.0)
        w_mask = (k[:, None] < N) & (cols < N)
        if W_T:  # block [k, n] = W[n, k]
            w = tl.load(w_ptr + cols * N + k[:, None], mask=w_mask, other=0.0)
        else:  # block [k, n] = W[k, n]
            w = tl.load(w_ptr + k[:, None] * N + cols, mask=w_mask, other=0.0)
        acc += tl.dot(src, w, input_precision="ieee")
    return acc


@triton.jit(do_not_specialize=["B", "T", "N"])  # no constexpr 1 where the offsets need an int64
def _rec_fwd_kernel(
    x_ptr,
    v0_ptr,
    a0_ptr,
    s0_ptr,
    w_ptr,
    beta_ptr,
    rho_ptr,
    thr_ptr,
    const_ptr,
    s_ptr,
    h_ptr,
    adapt_ptr,
    m_ptr,
    v_out_ptr,
    a_out_ptr,
    B,
    T,
    N,
    sx_b,
    sx_t,
    sx_n,
    RESET: tl.constexpr,
    RECORD: tl.constexpr,
    BLOCK_B: tl.constexpr,
    BLOCK_N: tl.constexpr,
    BLOCK_K: tl.constexpr,
):
    rows = (tl.program_id(0) * BLOCK_B + tl.arange(0, BLOCK_B))[:, None].to(tl.int64)
    cols = tl.arange(0, BLOCK_N)[None, :].to(tl.int64)
    row_mask = rows < B
    mask = row_mask & (cols < N)
    state = rows * N + cols  # (B, N) contiguous; time-major sequences add t * B * N
    step = B.to(tl.int64) * N
    x_off = rows * sx_b + cols * sx_n
    v = tl.load(v0_ptr + state, mask=mask, other=0.0)
    a = tl.load(a0_ptr + state, mask=mask, other=0.0)
    beta = tl.load(beta_ptr + cols, mask=cols < N, other=0.0)
    rho = tl.load(rho_ptr + cols, mask=cols < N, other=0.0)
    thr = tl.load(thr_ptr + cols, mask=cols < N, other=0.0)
    alpha = tl.load(const_ptr + 1)
    prev_ptr = s0_ptr  # s_{t-1}: s0, then the spikes this program wrote at the step before
    base = step * 0  # t * B * N
    for _ in range(T):
        rec = _rec_input(prev_ptr, w_ptr, rows, row_mask, cols, N, True, BLOCK_B, BLOCK_K, BLOCK_N)
        off = base + state
        rec = rec + tl.load(x_ptr + x_off, mask=mask, other=0.0).to(v.dtype)
        h = v * beta
        h = h + rec
        tl.store(adapt_ptr + off, a, mask=mask)  # a_{t-1}, the adaptation step t starts from
        th = a * alpha
        th = th + thr
        z = h - th
        spk = z > 0
        tl.store(h_ptr + off, h, mask=mask)
        tl.store(s_ptr + off, spk.to(v.dtype), mask=mask)
        v = post_reset(h, z, spk, RESET)
        if RECORD:
            tl.store(m_ptr + off, v, mask=mask)
        a = a * rho
        a = a + spk.to(v.dtype)
        prev_ptr = s_ptr + base  # this step's spikes
        tl.debug_barrier()  # the spikes just stored are read by other threads at the next step
        base += step
        x_off += sx_t
    tl.store(v_out_ptr + state, v, mask=mask)
    tl.store(a_out_ptr + state, a, mask=mask)


@triton.jit(do_not_specialize=["B", "T", "N"])
def _rec_bwd_kernel(
    h_ptr,
    adapt_ptr,
    v0_ptr,
    w_ptr,
    beta_ptr,
    rho_ptr,
    thr_ptr,
    const_ptr,
    gs_ptr,
    gv_ptr,
    ga_ptr,
    gp_ptr,
    gm_ptr,
    dx_ptr,
    dv0_ptr,
    da0_ptr,
    ds0_ptr,
    dbeta_ptr,
    drho_ptr,
    dthr_ptr,
    B,
    T,
    N,
    sgs_b,
    sgs_t,
    sgs_n,
    sgm_b,
    sgm_t,
    sgm_n,
    RESET: tl.constexpr,
    SURROGATE: tl.constexpr,
    HAS_GS: tl.constexpr,
    HAS_GV: tl.constexpr,
    HAS_GA: tl.constexpr,
    HAS_GP: tl.constexpr,
    HAS_GM: tl.constexpr,
    BLOCK_B: tl.constexpr,
    BLOCK_N: tl.constexpr,
    BLOCK_K: tl.constexpr,
):
    pid = tl.program_id(0)
    rows = (pid * BLOCK_B + tl.arange(0, BLOCK_B))[:, None].to(tl.int64)
    cols = tl.arange(0, BLOCK_N)[None, :].to(tl.int64)
    row_mask = rows < B
    mask = row_mask & (cols < N)
    state = rows * N + cols
    step = B.to(tl.int64) * N
    last = (T - 1).to(tl.int64)
    base = last * step  # h, adapt, dx: contiguous (T, B, N); start at t = T-1
    gs_off = rows * sgs_b + cols * sgs_n + last * sgs_t
    gm_off = rows * sgm_b + cols * sgm_n + last * sgm_t
    beta = tl.load(beta_ptr + cols, mask=cols < N, other=0.0)
    rho = tl.load(rho_ptr + cols, mask=cols < N, other=0.0)
    thr = tl.load(thr_ptr + cols, mask=cols < N, other=0.0)
    k0 = tl.load(const_ptr)  # surrogate constants: k0 at 0, alpha at 1, k1..k3 and the normaliser at 3..6
    alpha = tl.load(const_ptr + 1)
    k1 = tl.load(const_ptr + 3)
    k2 = tl.load(const_ptr + 4)
    k3 = tl.load(const_ptr + 5)
    k_norm = tl.load(const_ptr + 6)
    zero = tl.zeros((BLOCK_B, BLOCK_N), dtype=beta.dtype)
    dv = tl.load(gv_ptr + state, mask=mask, other=0.0).to(beta.dtype) if HAS_GV else zero
    da = tl.load(ga_ptr + state, mask=mask, other=0.0).to(beta.dtype) if HAS_GA else zero
    g_prev = tl.load(gp_ptr + state, mask=mask, other=0.0).to(beta.dtype) if HAS_GP else zero  # s_{T-1} is s_T
    dbeta = zero
    drho = zero
    dthr = zero
    dh_next = zero  # D h_{t+1}
    for i in range(T):
        off = base + state
        h = tl.load(h_ptr + off, mask=mask, other=0.0)
        a_prev = tl.load(adapt_ptr + off, mask=mask, other=0.0)
        th = a_prev * alpha
        th = th + thr
        z = h - th
        spk = z > 0
        sg = surrogate_grad(z, k0, k1, k2, k3, SURROGATE) / k_norm
        dbeta += dh_next * post_reset(h, z, spk, RESET)  # D h_{t+1} v_t
        if HAS_GM:
            dv = dv + tl.load(gm_ptr + gm_off, mask=mask, other=0.0).to(beta.dtype)
        ds = g_prev + da
        if HAS_GS:
            ds = ds + tl.load(gs_ptr + gs_off, mask=mask, other=0.0).to(beta.dtype)
        if i > 0:  # through s_t @ W^T into h_{t+1}
            ds = ds + _rec_input(dx_ptr + base + step, w_ptr, rows, row_mask, cols, N, False, BLOCK_B, BLOCK_K, BLOCK_N)
        if RESET == 0:
            ds = ds - th * dv
        elif RESET == 1:
            ds = ds - h * dv
        dz = ds * sg
        if RESET == 1:
            dh = tl.where(spk, dz, dz + dv)  # dz + (1 - s) dv
        else:
            dh = dz + dv
        tl.store(dx_ptr + off, dh, mask=mask)
        if RESET == 0:
            neg_dth = tl.where(spk, dz + dv, dz)  # dz + s dv
        else:
            neg_dth = dz
        dthr -= neg_dth
        drho += da * a_prev  # D a_t a_{t-1}
        da = da * rho - neg_dth * alpha
        dv = dh * beta
        dh_next = dh
        g_prev = zero
        tl.debug_barrier()  # D h_t, just stored, is read by other threads at the next step
        base -= step
        gs_off -= sgs_t
        gm_off -= sgm_t
    v0 = tl.load(v0_ptr + state, mask=mask, other=0.0)
    dbeta += dh_next * v0
    tl.store(dv0_ptr + state, dv, mask=mask)
    tl.store(da0_ptr + state, da, mask=mask)
    ds0 = _rec_input(dx_ptr, w_ptr, rows, row_mask, cols, N, False, BLOCK_B, BLOCK_K, BLOCK_N)  # D h_0 @ W
    tl.store(ds0_ptr + state, ds0, mask=mask)
    part = pid * N + cols  # per-program partial sums (P, N)
    tl.store(dbeta_ptr + part, tl.sum(tl.where(mask, dbeta, 0.0), axis=0)[None, :], mask=cols < N)
    tl.store(drho_ptr + part, tl.sum(tl.where(mask, drho, 0.0), axis=0)[None, :], mask=cols < N)
    tl.store(dthr_ptr + part, tl.sum(tl.where(mask, dthr, 0.0), axis=0)[None, :], mask=cols < N)


def _dense(name: str, t: Tensor, shape: tuple) -> Tensor:
    """A contiguous ``t`` of the ``shape`` the kernel indexes densely (checked)."""
    return expect_shape(name, t.contiguous(), shape, contiguous=True)


def _block_n(n: int) -> int:
    return max(16, triton.next_power_of_2(n))


def _grid(batch: int):  # noqa: ANN202
    return (triton.cdiv(batch, _BLOCK_B),)


def recurrent_forward(x, v0, a0, s0, w, beta, rho, thr, alpha, reset, record_membrane):  # noqa: ANN001
    """Same contract as :func:`brain_ai.core.fused_recurrent._forward` (x ``(B, T, N)``, states ``(B, N)``).

    Returns ``spikes, v_T, a_T, s_T, membrane, h, adapt``: time-major ``(T, B, N)`` sequences
    (spikes in the state dtype), ``adapt[t] = a_{t-1}``, membrane None unless ``record_membrane``.
    Every kernel argument is passed by name and every tensor's shape is checked.
    """
    batch, steps, n = x.shape
    sd, dev = v0.dtype, x.device
    tbn, bn, vec = (steps, batch, n), (batch, n), (n,)
    spikes = torch.empty(tbn, dtype=sd, device=dev)
    h = torch.empty_like(spikes)
    adapt = torch.empty_like(spikes)
    membrane = torch.empty_like(spikes) if record_membrane else None
    v_out = torch.empty(bn, dtype=sd, device=dev)
    a_out = torch.empty_like(v_out)
    with on_device(dev):
        _rec_fwd_kernel[_grid(batch)](
            x_ptr=expect_shape("x", x, (batch, steps, n)),
            v0_ptr=_dense("v0", v0, bn),
            a0_ptr=_dense("a0", a0, bn),
            s0_ptr=_dense("s0", s0, bn),
            w_ptr=_dense("w_rec", w, (n, n)),
            beta_ptr=_dense("beta", per_neuron_values(beta, vec), vec),
            rho_ptr=_dense("adaptation_decay", per_neuron_values(rho, vec), vec),
            thr_ptr=_dense("threshold", per_neuron_values(thr, vec), vec),
            const_ptr=expect_shape("constants", kernel_constants(None, alpha, None, sd, dev), (N_CONSTANTS,)),
            s_ptr=spikes,
            h_ptr=h,
            adapt_ptr=adapt,
            m_ptr=membrane if record_membrane else h,
            v_out_ptr=v_out,
            a_out_ptr=a_out,
            B=batch,
            T=steps,
            N=n,
            sx_b=x.stride(0),
            sx_t=x.stride(1),
            sx_n=x.stride(2),
            RESET=RESET_ID[reset],
            RECORD=bool(record_membrane),
            BLOCK_B=_BLOCK_B,
            BLOCK_N=_block_n(n),
            BLOCK_K=_BLOCK_K,
            num_warps=_NUM_WARPS,
            enable_fp_fusion=False,
        )
    return spikes, v_out, a_out, spikes[-1].clone(), membrane, h, adapt


def recurrent_backward(  # noqa: ANN201
    h,
    adapt,
    v0,
    w,
    beta,
    rho,
    thr,
    alpha,
    reset,
    surrogate,
    g_s,
    g_v,
    g_a,
    g_p,
    g_m,  # noqa: ANN001
):
    """Reverse-time kernel; returns ``(dx (T, B, N), dv0, da0, ds0, dbeta, drho, dthr)`` in the state dtype.

    ``h`` / ``adapt`` are the forward's time-major records, ``g_s`` / ``g_m`` the gradients of the
    spikes / membrane ``(B, T, N)`` (any strides), ``g_v`` / ``g_a`` / ``g_p`` of the final
    state ``(B, N)``; each may be None. ``dbeta`` / ``drho`` / ``dthr`` are per neuron ``(N,)``,
    to be summed to the parameter's shape; the weight gradient is the caller's one GEMM.
    """
    steps, batch, n = h.shape
    sd, dev = h.dtype, h.device
    tbn, bn, vec = (steps, batch, n), (batch, n), (n,)
    grid = _grid(batch)
    dx = torch.empty(tbn, dtype=sd, device=dev)
    dv0, da0, ds0 = (torch.empty(bn, dtype=sd, device=dev) for _ in range(3))
    dbeta, drho, dthr = (torch.empty((grid[0], n), dtype=sd, device=dev) for _ in range(3))
    state = lambda name, t: _dense(name, t.to(sd), bn) if t is not None else dv0  # noqa: E731  (unread if None)
    seq = lambda name, t: expect_shape(name, t, (batch, steps, n)) if t is not None else h  # noqa: E731  (unread if None)
    gs, gm = seq("g_s", g_s), seq("g_m", g_m)
    with on_device(dev):
        _rec_bwd_kernel[grid](
            h_ptr=_dense("h", h, tbn),
            adapt_ptr=_dense("adapt", adapt, tbn),
            v0_ptr=_dense("v0", v0, bn),
            w_ptr=_dense("w_rec", w, (n, n)),
            beta_ptr=_dense("beta", per_neuron_values(beta, vec), vec),
            rho_ptr=_dense("adaptation_decay", per_neuron_values(rho, vec), vec),
            thr_ptr=_dense("threshold", per_neuron_values(thr, vec), vec),
            const_ptr=expect_shape("constants", kernel_constants(surrogate, alpha, None, sd, dev), (N_CONSTANTS,)),
            gs_ptr=gs,
            gv_ptr=state("g_v", g_v),
            ga_ptr=state("g_a", g_a),
            gp_ptr=state("g_p", g_p),
            gm_ptr=gm,
            dx_ptr=dx,
            dv0_ptr=dv0,
            da0_ptr=da0,
            ds0_ptr=ds0,
            dbeta_ptr=dbeta,
            drho_ptr=drho,
            dthr_ptr=dthr,
            B=batch,
            T=steps,
            N=n,
            sgs_b=gs.stride(0),
            sgs_t=gs.stride(1),
            sgs_n=gs.stride(2),
            sgm_b=gm.stride(0),
            sgm_t=gm.stride(1),
            sgm_n=gm.stride(2),
            RESET=RESET_ID[reset],
            SURROGATE=SURROGATE_KIND[type(surrogate)],
            HAS_GS=g_s is not None,
            HAS_GV=g_v is not None,
            HAS_GA=g_a is not None,
            HAS_GP=g_p is not None,
            HAS_GM=g_m is not None,
            BLOCK_B=_BLOCK_B,
            BLOCK_N=_block_n(n),
            BLOCK_K=_BLOCK_K,
            num_warps=_NUM_WARPS,
        )
    return dx, dv0, da0, ds0, dbeta.sum(0), drho.sum(0), dthr.sum(0)
