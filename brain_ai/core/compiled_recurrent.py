r"""``backend=compiled``: the recurrent adaptive LIF's time loops compiled once by numba (CPU).

:mod:`brain_ai.core.fused_recurrent` runs its sequence as a PyTorch loop: per step an ``addmm``
and about seven elementwise ops, forward and backward, each a dispatcher call. At the batch sizes
of sequential MNIST (B = 16, N = 256) that per-op overhead, not the arithmetic, sets the time.
This module supplies the same two loops, :func:`forward_loop` and :func:`backward_loop` (drop-in
for ``fused_recurrent._forward_loop`` / ``_backward_loop``, same arguments and buffers), as calls
into the ``@njit(cache=True)`` functions of :mod:`brain_ai.core.compiled_recurrent_loops`: the
autograd Function, what it saves and every reduction around the loops stay those of
``fused_recurrent``, so the gradients are the fused Function's (tested: float64 within 1e-10).

* Surrogates: the backward evaluates ``surrogate.grad`` in PyTorch over cache-sized chunks of steps
  (the saved ``h`` and ``a`` give every ``h_t - th_t`` before the reverse loop starts), then the
  compiled loop reads the values: every surrogate, built-in or user-defined, runs unchanged.
* dtypes: float32 and float64 state (:data:`COMPILED_DTYPES`); fp16/bf16 inputs under autocast
  are integrated in fp32 like the fused loop's. Tensors on CPU only.
* First call: numba compiles both loops for the dtype (about 10 s on the 2-core development VM,
  logged once per process with the time it took) and writes them to its disk cache (next to the
  module, or ``NUMBA_CACHE_DIR``); a later process loads them in well under a second.

Which layers run it and when: :func:`brain_ai.core.backend.compiled_unsupported`.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import time
from types import SimpleNamespace
from typing import Iterator

import numpy as np
import torch
from torch import Tensor

from brain_ai.config import ResetMode
from brain_ai.core.backend import compiled_loops
from brain_ai.core.fused import time_chunks
from brain_ai.core.fused_recurrent import to_time_major

__all__ = ["backward_loop", "forward_loop"]

log = logging.getLogger(__name__)

#: Elements (steps x B x N) per backward chunk: the surrogate and the output gradients of a chunk
#: are prepared in PyTorch, then the compiled loop runs its steps.
_CHUNK_ELEMENTS = 1 << 18


def _reset_code(reset: ResetMode) -> int:
    loops = compiled_loops()
    return {ResetMode.subtract: loops.SUBTRACT, ResetMode.zero: loops.ZERO, ResetMode.none: loops.NONE}[reset]


@contextlib.contextmanager
def _torch_thread_count() -> Iterator[None]:
    """Run numba's parallel loops on at most torch's intra-op thread count (``OMP_NUM_THREADS``,
    ``torch.set_num_threads``; and at most ``NUMBA_NUM_THREADS``), and keep torch's count as it was.

    numba's OpenMP threading layer starts its pool with ``NUMBA_NUM_THREADS`` threads (default: every
    core) through the OpenMP runtime torch shares, which raised torch's own thread count with it: a
    run told to use one thread (``OMP_NUM_THREADS=1``) ran its matrix products on every core after
    the first compiled call, two such runs side by side oversubscribed the cores, and the results
    changed with ``NUMBA_NUM_THREADS`` (a GEMM split differently)."""
    import numba

    threads = torch.get_num_threads()
    previous = numba.get_num_threads()
    numba.set_num_threads(max(1, min(threads, numba.config.NUMBA_NUM_THREADS)))
    try:
        yield
    finally:
        numba.set_num_threads(previous)
        if torch.get_num_threads() != threads:
            torch.set_num_threads(threads)


@functools.lru_cache(maxsize=None)
def _ready(dtype: torch.dtype) -> float:
    """Compile (or load from numba's disk cache) both loops for ``dtype`` on a tiny problem, once per
    process; logs and returns the seconds it took."""
    loops = compiled_loops()
    start = time.perf_counter()
    n, steps = 2, 2
    z = lambda *shape: torch.zeros(shape, dtype=dtype)  # noqa: E731
    h, adapt, spikes = z(steps, 1, n), z(steps, 1, n), z(steps, 1, n)  # time-major, B = 1
    args = z(n, n), z(), z(), z(), 0.5, ResetMode.subtract
    _forward(z(steps, 1, n), z(1, n), z(1, n), *args, h, adapt, spikes, None, z(1, n))
    unit = SimpleNamespace(grad=torch.ones_like)  # any surrogate: it is evaluated outside the loop
    g_s = torch.ones(1, steps, n, dtype=dtype)
    _backward(h, adapt, *args, unit, g_s, None, None, None, z(steps, 1, n), z(1, n), z(n), z(n), z(n), z(1, n))
    seconds = time.perf_counter() - start
    hits = sum(len(d.stats.cache_hits) for d in (loops.forward_loop, loops.backward_chunk))
    source = "loaded from numba's disk cache" if hits else "compiled by numba and cached on disk"
    name = str(dtype).replace("torch.", "")
    log.info("backend=compiled: the recurrent LIF loops for %s were %s in %.2f s", name, source, seconds)
    return seconds


def numpy_view(t: Tensor, dtype: torch.dtype) -> np.ndarray:
    """A C-contiguous numpy view (or copy, when the dtype or layout differs) of ``t``."""
    return t.detach().to(dtype).contiguous().numpy()


def _per_neuron(p: Tensor, n: int) -> np.ndarray:
    """A ``()`` or ``(N,)`` parameter as an ``(N,)`` array."""
    return numpy_view(p.detach().expand(n), p.dtype)


def _scalar(value: float, dtype: torch.dtype) -> np.generic:
    """``value`` as a numpy scalar of ``dtype`` (float32 arithmetic stays float32 in the loops)."""
    return torch.empty((), dtype=dtype).numpy().dtype.type(value)


def forward_loop(x_tm, v0, s0, wt, beta, rho, thr, alpha, reset, h, adapt, spikes, membrane, s_buf, a_final):  # noqa: ANN001
    """``fused_recurrent._forward_loop`` as one compiled call: fills ``h``, ``adapt`` (``adapt[0]`` holds
    ``a0``), ``spikes``, ``membrane`` (if not None) and ``a_final``; returns ``(v_T, s_T)`` in the state
    dtype. ``x_tm`` ``(T, B, N)``; ``wt`` = ``W^T``; ``s_buf`` is unused (the loop keeps its own spikes).
    """
    _ready(h.dtype)
    return _forward(x_tm, v0, s0, wt, beta, rho, thr, alpha, reset, h, adapt, spikes, membrane, a_final)


def _forward(x_tm, v0, s0, wt, beta, rho, thr, alpha, reset, h, adapt, spikes, membrane, a_final):  # noqa: ANN001
    sd = h.dtype
    steps, batch, n = h.shape
    spikes_sd = spikes if spikes.dtype == sd else torch.empty_like(h)
    mem = membrane if membrane is not None else h.new_empty((0, batch, n))
    v_out, s_out = torch.empty((batch, n), dtype=sd), torch.empty((batch, n), dtype=sd)
    with _torch_thread_count():
        compiled_loops().forward_loop(
            numpy_view(x_tm, sd),
            numpy_view(v0, sd),
            adapt[0].numpy().copy(),
            numpy_view(s0, sd),
            numpy_view(wt, sd),
            _per_neuron(beta, n),
            _per_neuron(rho, n),
            _per_neuron(thr, n),
            _scalar(alpha, sd),
            _reset_code(reset),
            h.numpy(),
            adapt.numpy(),
            spikes_sd.numpy(),
            mem.numpy(),
            v_out.numpy(),
            a_final.numpy(),
            s_out.numpy(),
        )
    if spikes_sd is not spikes:
        spikes.copy_(spikes_sd)
    return v_out, s_out


def backward_loop(
    h, adapt, w, beta, rho, thr, alpha, reset, surrogate, g_s, g_v, g_p, g_m, dh, carry, dbeta, drho, dthr, s0_w
):  # noqa: ANN001
    """``fused_recurrent._backward_loop`` with compiled reverse steps: fills ``dh``, adds to ``dbeta`` /
    ``drho`` / ``dthr`` (those that are not None) and returns ``(Da_{-1}, dW)``: ``dW`` ``(N, N)`` when
    ``s0_w`` (the initial spikes) is given, else None. The loop adds the spiking rows of ``Dh_{t+1}``
    into ``dW^T`` (a tenth of a GEMM's work at a 10 % firing rate).

    Per chunk of steps the surrogate ``sg(h_t - th_t)`` and the output gradients (``g_s`` plus the
    final ``g_p`` for the spikes, ``g_m`` plus the final ``g_v`` for the membrane) are prepared in
    PyTorch, time-major; :func:`~brain_ai.core.compiled_recurrent_loops.backward_chunk` runs the steps.
    """
    _ready(h.dtype)
    return _backward(
        h, adapt, w, beta, rho, thr, alpha, reset, surrogate, g_s, g_v, g_p, g_m, dh, carry, dbeta, drho, dthr, s0_w
    )


def _backward(
    h, adapt, w, beta, rho, thr, alpha, reset, surrogate, g_s, g_v, g_p, g_m, dh, carry, dbeta, drho, dthr, s0_w
):  # noqa: ANN001
    sd = h.dtype
    loops = compiled_loops()
    steps, batch, n = h.shape
    h_np, adapt_np, dh_np, wt_np = h.numpy(), adapt.numpy(), dh.numpy(), numpy_view(w.t(), sd)
    params = _per_neuron(beta, n), _per_neuron(rho, n), _per_neuron(thr, n)
    sums = np.zeros((3, n), dtype=h_np.dtype)  # dbeta, drho, dthr
    dwt = torch.zeros((n, n) if s0_w is not None else (0, 0), dtype=sd)
    da = numpy_view(carry, sd).copy()
    code, alpha_sd, no_gm = _reset_code(reset), _scalar(alpha, sd), np.empty((0, batch, n), dtype=h_np.dtype)
    for t0, t1 in time_chunks(steps, batch * n, _CHUNK_ELEMENTS):
        th = torch.mul(adapt[t0:t1], alpha).add_(thr)  # the forward's op order: same bits
        sg = numpy_view(surrogate.grad(h[t0:t1] - th), sd)
        b = to_time_major(g_s, t0, t1, sd)
        b = b if b is not None else torch.zeros_like(h[t0:t1])
        gm = to_time_major(g_m, t0, t1, sd)
        if t1 == steps and g_p is not None:  # the final prev_spk is s_{T-1}
            b[-1] += g_p
        if t1 == steps and g_v is not None:  # the final membrane's gradient reaches v_{T-1}
            gm = gm if gm is not None else torch.zeros_like(h[t0:t1])
            gm[-1] += g_v
        with _torch_thread_count():
            loops.backward_chunk(
                t0,
                h_np,
                adapt_np,
                wt_np,
                *params,
                alpha_sd,
                code,
                sg,
                b.numpy(),
                no_gm if gm is None else gm.numpy(),
                dh_np,
                da,
                *sums,
                dwt.numpy(),
            )
    for acc, total in zip((dbeta, drho, dthr), sums):
        if acc is not None:
            acc.add_(torch.from_numpy(total))
    dw = None if s0_w is None else dwt.t().addmm_(dh[0].t(), s0_w.to(sd))  # + Dh_0^T s_{-1}
    return torch.from_numpy(da), dw
