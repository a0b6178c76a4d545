r"""The numba-compiled time loops of :mod:`brain_ai.core.compiled_recurrent` and of the membrane
readout's scan (:func:`leaky_scan`, for :mod:`brain_ai.core.fused_integrator`); imports numba: load it lazily.

Two ``@njit(cache=True)`` functions run the whole recurrent adaptive LIF sequence of
:mod:`brain_ai.core.fused_recurrent` without returning to Python per step: :func:`forward_loop`
(all T steps) and :func:`backward_chunk` (the reverse steps of one chunk). They take C-contiguous
float32 or float64 numpy arrays (one compiled specialisation per dtype, cached on disk next to
this file or in ``NUMBA_CACHE_DIR``), all in the state dtype; the per-neuron parameters ``beta``,
``rho`` and ``thr`` are ``(N,)`` arrays (a scalar parameter expanded by the caller).

The recurrent matmuls are plain loops: forward ``s_{t-1} @ W^T`` skips the zero spikes (a 10 %
firing rate does a tenth of the work of a GEMM), vectorised over the output neurons; backward
``Dh_{t+1} @ W`` is dense, written as dot products over ``W^T``'s rows (:func:`_rows_dot`: 4 batch
rows x 2 columns per pass, 8 sums in registers). Reset modes are the integers :data:`SUBTRACT`,
:data:`ZERO`, :data:`NONE`.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

#: reset codes (``ResetMode`` subtract | zero | none)
SUBTRACT, ZERO, NONE = 0, 1, 2


@njit(cache=True, inline="always")
def _post_reset(h, s, th, reset):  # noqa: ANN001
    """Post-reset membrane from pre-reset ``h``, spike ``s`` (0 or 1) and threshold ``th`` (the PyTorch loop's ops)."""
    if reset == SUBTRACT:
        return h - s * th
    if reset == ZERO:
        return h - h * s
    return h


#: batch blocks the loops split a batch into (one per thread at most; a fixed count, so the summation
#: order of the weight and parameter gradients, and the results, do not depend on the thread count)
BLOCKS = 4


@njit(cache=True, inline="always")
def _block_rows(block, blocks, batch):  # noqa: ANN001
    return block * batch // blocks, (block + 1) * batch // blocks


@njit(cache=True, parallel=True)
def forward_loop(x, v0, a0, s0, wt, beta, rho, thr, alpha, reset, h, adapt, spikes, membrane, v_out, a_out, s_out):  # noqa: ANN001
    """All T steps: fills ``h``, ``adapt`` (``a_{t-1}``), ``spikes`` ``(T, B, N)``, ``membrane`` when it
    has T rows (else it is ``(0, B, N)``), and the final ``v_out``, ``a_out``, ``s_out`` ``(B, N)``.

    ``x`` ``(T, B, N)``; ``wt`` = ``W^T`` ``(N_in, N_out)``. Per step, in the PyTorch loop's op order:
    ``h = v * beta + (s_{t-1} W^T + x_t)``; ``th = a * alpha + thr``; ``s = h - th > 0``;
    ``v = h - s * th`` | ``h - h * s`` | ``h``; ``a' = a * rho + s``. The rows of the batch are
    independent: :data:`BLOCKS` blocks of rows run in parallel, each through all T steps.
    """
    steps, batch, n = x.shape
    record = membrane.shape[0] == steps
    blocks = min(BLOCKS, batch)
    one = np.ones(1, dtype=x.dtype)[0]  # typed constants: float32 arithmetic stays float32
    zero = one - one
    for block in prange(blocks):
        lo, hi = _block_rows(block, blocks, batch)
        v = v0[lo:hi].copy()
        s_prev = s0[lo:hi].copy()
        rec = np.empty((hi - lo, n), dtype=x.dtype)
        adapt[0, lo:hi] = a0[lo:hi]
        for t in range(steps):
            rec[:] = 0.0
            for r in range(hi - lo):
                for j in range(n):
                    sv = s_prev[r, j]
                    if sv != 0.0:
                        for k in range(n):
                            rec[r, k] += sv * wt[j, k]
            for r in range(hi - lo):
                b = lo + r
                for k in range(n):
                    hh = v[r, k] * beta[k] + (rec[r, k] + x[t, b, k])
                    a = adapt[t, b, k]
                    th = a * alpha + thr[k]
                    s = one if hh - th > zero else zero
                    h[t, b, k] = hh
                    spikes[t, b, k] = s
                    vn = _post_reset(hh, s, th, reset)
                    v[r, k] = vn
                    if record:
                        membrane[t, b, k] = vn
                    a_next = a * rho[k] + s
                    if t + 1 < steps:
                        adapt[t + 1, b, k] = a_next
                    else:
                        a_out[b, k] = a_next
                    s_prev[r, k] = s
        v_out[lo:hi] = v
        s_out[lo:hi] = s_prev


@njit(cache=True, fastmath={"reassoc", "contract", "nsz"}, inline="always")
def _dot(rows, r, wt, k):  # noqa: ANN001
    """``sum_j rows[r, j] wt[k, j]``."""
    acc = np.zeros(1, dtype=rows.dtype)[0]
    for j in range(rows.shape[1]):
        acc += rows[r, j] * wt[k, j]
    return acc


@njit(cache=True, fastmath={"reassoc", "contract", "nsz"}, inline="never")
def _rows_dot(rows, wt, out):  # noqa: ANN001
    """``out[r, k] = sum_j rows[r, j] wt[k, j]`` (``rows @ wt^T``), ``rows`` ``(M, J)``, ``wt`` ``(K, J)``.

    Four rows and two columns per pass over ``j``: each value loaded feeds two or four multiply-adds
    into eight running sums, which the compiler keeps in vector registers; ``reassoc`` lets it split
    each sum into lanes (the summation order differs from a plain loop's, within float rounding).
    """
    m, n = rows.shape
    cols = wt.shape[0]
    zero = np.zeros(1, dtype=rows.dtype)[0]  # typed: float32 sums stay float32
    r = 0
    while r + 4 <= m:
        k = 0
        while k + 2 <= cols:
            a00, a01, a10, a11, a20, a21, a30, a31 = zero, zero, zero, zero, zero, zero, zero, zero
            for j in range(n):
                w0, w1 = wt[k, j], wt[k + 1, j]
                x0, x1, x2, x3 = rows[r, j], rows[r + 1, j], rows[r + 2, j], rows[r + 3, j]
                a00 += x0 * w0
                a01 += x0 * w1
                a10 += x1 * w0
                a11 += x1 * w1
                a20 += x2 * w0
                a21 += x2 * w1
                a30 += x3 * w0
                a31 += x3 * w1
            out[r, k], out[r, k + 1], out[r + 1, k], out[r + 1, k + 1] = a00, a01, a10, a11
            out[r + 2, k], out[r + 2, k + 1], out[r + 3, k], out[r + 3, k + 1] = a20, a21, a30, a31
            k += 2
        for kk in range(k, cols):
            for rr in range(r, r + 4):
                out[rr, kk] = _dot(rows, rr, wt, kk)
        r += 4
    for rr in range(r, m):
        for kk in range(cols):
            out[rr, kk] = _dot(rows, rr, wt, kk)


@njit(cache=True, inline="never")
def _reverse_step_row(
    h, adapt, dh_next, gm, b_seq, sg, rec, beta, rho, thr, alpha, reset, has_next, dh, da, spiked, part
):  # noqa: ANN001
    """One reverse step of one batch row, over its ``N`` neurons (all arguments ``(N,)`` rows; ``part``
    ``(3, N)``: the block's ``dbeta``, ``drho``, ``dthr`` sums). Writes ``dh``, ``spiked``, updates ``da``
    in place. A function of its own over 1-D rows, which the compiler vectorises (the same loop
    indexing the ``(T, B, N)`` arrays inline was not: half the speed)."""
    one = np.ones(1, dtype=h.dtype)[0]
    zero = one - one
    for k in range(h.shape[0]):
        hh = h[k]
        a = adapt[k]
        th = a * alpha + thr[k]
        s = one if hh - th > zero else zero
        spiked[k] = s != zero
        dv = beta[k] * dh_next[k] + gm[k]
        da_t = da[k]
        ds = b_seq[k] + da_t + rec[k]
        if reset == SUBTRACT:
            ds -= th * dv
        elif reset == ZERO:
            ds -= hh * dv
        dz = ds * sg[k]
        dh[k] = dz + (one - s) * dv if reset == ZERO else dz + dv
        dth = -dz - s * dv if reset == SUBTRACT else -dz
        part[2, k] += dth
        part[1, k] += da_t * a
        if has_next:
            part[0, k] += dh_next[k] * _post_reset(hh, s, th, reset)
        da[k] = rho[k] * da_t + alpha * dth


@njit(cache=True, parallel=True)
def backward_chunk(t0, h, adapt, wt, beta, rho, thr, alpha, reset, sg, b_seq, gm, dh, da, dbeta, drho, dthr, dwt):  # noqa: ANN001
    r"""Reverse steps ``t0 + K - 1 .. t0`` of the sequence (K = ``sg.shape[0]``); see
    :func:`brain_ai.core.fused_recurrent._backward` for the equations.

    ``wt`` is ``W^T`` (C-contiguous). ``h``, ``adapt``, ``dh`` are the whole ``(T, B, N)`` sequences (``dh[t0 + K]`` is read when it
    exists, ``dh[t0 : t0 + K]`` written); ``sg`` the surrogate of ``h - th``, ``b_seq`` the
    gradient reaching the spikes from outside (outputs and final ``prev_spk``) and ``gm`` the one
    reaching the post-reset membrane (``(0, B, N)`` when there is none), all ``(K, B, N)`` for the
    chunk. ``da`` ``(B, N)``: ``D a`` of the step after the chunk, updated in place to that of the
    step before it. Adds to ``dbeta`` (``Dh_{t+1} v_t``), ``drho`` (``Da_t a_{t-1}``) and ``dthr``
    (``Dth_t``), all ``(N,)``, and, unless it is ``(0, 0)``, to ``dwt`` ``(N, N)`` the transposed
    recurrent weight gradient ``s_t^T Dh_{t+1}`` for the steps that have a successor (the term of
    ``s_{-1}``, the initial spikes, is the caller's), skipping the zero spikes. :data:`BLOCKS`
    blocks of batch rows run in parallel; each adds its own partial sums, added up in block order.
    """
    steps, batch, n = h.shape
    chunk = sg.shape[0]
    has_gm = gm.shape[0] == chunk
    need_w = dwt.shape[0] == n
    blocks = min(BLOCKS, batch)
    part = np.zeros((blocks, 3, n), dtype=h.dtype)  # per block: dbeta, drho, dthr
    part_w = np.zeros((blocks, n, n) if need_w else (blocks, 0, 0), dtype=h.dtype)
    for block in prange(blocks):
        lo, hi = _block_rows(block, blocks, batch)
        rec = np.zeros((hi - lo, n), dtype=h.dtype)  # Dh_{t+1} @ W
        spiked = np.zeros((hi - lo, n), dtype=np.bool_)
        no_row = np.zeros(n, dtype=h.dtype)  # Dh_{t+1} after the last step, the membrane gradient when there is none
        for i in range(chunk - 1, -1, -1):
            t = t0 + i
            has_next = t + 1 < steps
            if has_next:
                _rows_dot(dh[t + 1, lo:hi], wt, rec)
            for r in range(hi - lo):
                b = lo + r
                _reverse_step_row(
                    h[t, b],
                    adapt[t, b],
                    dh[t + 1, b] if has_next else no_row,
                    gm[i, b] if has_gm else no_row,
                    b_seq[i, b],
                    sg[i, b],
                    rec[r],
                    beta,
                    rho,
                    thr,
                    alpha,
                    reset,
                    has_next,
                    dh[t, b],
                    da[b],
                    spiked[r],
                    part[block],
                )
            if need_w and has_next:
                for r in range(hi - lo):
                    for j in range(n):
                        if spiked[r, j]:
                            for k in range(n):
                                part_w[block, j, k] += dh[t + 1, lo + r, k]
    for block in range(blocks):
        for k in range(n):
            dbeta[k] += part[block, 0, k]
            drho[k] += part[block, 1, k]
            dthr[k] += part[block, 2, k]
        if need_w:
            dwt += part_w[block]


@njit(cache=True)
def leaky_scan(x, start, beta, out, reverse):  # noqa: ANN001
    """``out[:, t] = beta * out[:, t - 1] + x[:, t]`` for every step, ``start`` before the first (``reverse``:
    from the last step back, ``out[:, t + 1]``). ``x``, ``out`` ``(B, T, N)``, ``start`` ``(B, N)``,
    ``beta`` ``(N,)``, one dtype; a product and a sum per step, the PyTorch loop's two roundings."""
    batch, steps, n = x.shape
    for b in range(batch):
        for k in range(n):
            prev = start[b, k]
            for i in range(steps):
                t = steps - 1 - i if reverse else i
                prev = beta[k] * prev + x[b, t, k]
                out[b, t, k] = prev
