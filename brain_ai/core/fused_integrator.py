r"""Fused leaky integrator, the membrane readout ``v_t = beta * v_{t-1} + x_t``: one autograd Function per sequence.

The per-step unroll records three autograd nodes per step, plus the learnable decay's sigmoid
evaluated again at every step; over the 784 steps of pixel-wise S-MNIST that graph cost about as
much as the recurrent spiking layer it reads. :func:`leaky_integrate` computes the decay once and
runs the sequence as one scan without recording it (:func:`_scan`: a numba-compiled loop for CPU
float32 / float64 tensors, else a PyTorch loop of two ops per step), the same product and sum per
step as :func:`~brain_ai.core.neurons.functional.leaky_integrator_step`, so the forward values are
the unroll's bit for bit. The backward runs the same scan backwards in time,
``Dv_t = beta * Dv_{t+1} + g_t``; the decay's gradient is one reduction, ``sum_t Dv_t * v_{t-1}``
(equal to the unroll's up to the order of the summation).
"""

from __future__ import annotations

import torch
from torch import Tensor

from brain_ai.core.backend import COMPILED_DTYPES, compiled_loops
from brain_ai.core.compiled_recurrent import numpy_view
from brain_ai.core.fused import sum_to_shape

__all__ = ["leaky_integrate"]


def leaky_integrate(x: Tensor, v0: Tensor, beta: Tensor, spatial: bool = False) -> Tensor:
    """The membranes ``v (B, T, *F)`` (``v_t`` after step ``t``) of ``x (B, T, *F)`` from ``v0 (B, *F)``.

    ``beta``: the decay, ``()`` or broadcastable to ``F`` (may require grad). Computed in the dtype
    the unroll's first step gives (``beta * v0 + x_t`` under PyTorch's promotion: the state dtype
    for fp16 / bf16 inputs); gradients reach ``x`` (in its own dtype), ``v0`` and ``beta``.
    ``spatial``: each step's own gradient only, ``v_{t-1}`` a constant (the online rules:
    ``Dx_t = g_t``, ``dbeta = sum_t g_t v_{t-1}``, none for ``v0``).
    """
    dtype = torch.promote_types(torch.result_type(beta, v0), x.dtype)
    return _LeakyIntegrate.apply(x.to(dtype), v0.to(dtype), beta.to(dtype), bool(spatial))


class _LeakyIntegrate(torch.autograd.Function):
    """``v_t = beta * v_{t-1} + x_t`` over dim 1; saves the output and ``v0``."""

    @staticmethod
    def forward(ctx, x: Tensor, v0: Tensor, beta: Tensor, spatial: bool) -> Tensor:  # noqa: ANN001
        v = torch.empty(x.shape, dtype=x.dtype, device=x.device)
        _scan(x, v0, beta, v, reverse=False)
        ctx.save_for_backward(v, v0, beta)
        ctx.spatial = spatial
        return v

    @staticmethod
    def backward(ctx, g: Tensor):  # noqa: ANN001, ANN205
        v, v0, beta = ctx.saved_tensors
        need_x, need_v0, need_beta = ctx.needs_input_grad[:3]
        if ctx.spatial:  # no gradient from a step to the next
            dv = g
        else:
            dv = torch.empty_like(v)  # Dv_t = beta * Dv_{t+1} + g_t: the same scan, backwards in time from 0
            _scan(g, torch.zeros_like(v0), beta, dv, reverse=True)
        dbeta = None
        if need_beta:  # v_{t-1}: v0 for the first step
            per_sample = (dv[:, 1:] * v[:, :-1]).sum(1) + dv[:, 0] * v0  # (B, *F)
            dbeta = sum_to_shape(per_sample, beta)
        dv0 = beta * dv[:, 0] if need_v0 and not ctx.spatial else None
        return dv if need_x else None, dv0, dbeta, None


def _scan(x: Tensor, start: Tensor, beta: Tensor, out: Tensor, reverse: bool) -> None:
    """``out[:, t] = beta * out[:, t - 1] + x[:, t]`` into ``out (B, T, *F)`` (contiguous), ``start (B, *F)``
    before the first step (``reverse``: from the last step back). CPU float32 / float64 tensors run
    :func:`~brain_ai.core.compiled_recurrent_loops.leaky_scan` when numba is importable, anything
    else a PyTorch loop of two ops per step; both round as the unroll does (the same values)."""
    loops = compiled_loops() if x.device.type == "cpu" and x.dtype in COMPILED_DTYPES else None
    if loops is not None:
        batch, steps = x.shape[:2]
        flat = (batch, steps, -1)
        beta_n = beta.detach().expand(x.shape[2:]).reshape(-1)
        loops.leaky_scan(
            numpy_view(x.reshape(flat), x.dtype),
            numpy_view(start.reshape(batch, -1), x.dtype),
            numpy_view(beta_n, x.dtype),
            out.view(flat).numpy(),
            reverse,
        )
        return
    steps_in, steps_out = x.unbind(1), out.unbind(1)
    prev = start
    for x_t, v_t in zip(*((steps_in[::-1], steps_out[::-1]) if reverse else (steps_in, steps_out))):
        torch.mul(beta, prev, out=v_t)
        v_t.add_(x_t)
        prev = v_t
