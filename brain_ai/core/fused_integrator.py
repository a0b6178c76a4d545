r"""Fused leaky integrator, the membrane readout ``v_t = beta * v_{t-1} + x_t``: one autograd Function per sequence.

The per-step unroll records three autograd nodes per step, plus the learnable decay's sigmoid
evaluated again at every step; over the 784 steps of pixel-wise S-MNIST that graph cost about as
much as the recurrent spiking layer it reads. :func:`leaky_integrate` computes the decay once,
runs the same two ops per step (``beta * v``, then ``+ x_t``: the forward values are those of
:func:`~brain_ai.core.neurons.functional.leaky_integrator_step` bit for bit) into one
preallocated output without recording them, and runs the reverse recurrence
``Dv_t = g_t + beta * Dv_{t+1}`` the same way in backward; the decay's gradient is one reduction,
``sum_t Dv_t * v_{t-1}`` (equal to the unroll's up to the order of the summation).
"""

from __future__ import annotations

from typing import Sequence

import torch
from torch import Tensor

from brain_ai.core.fused import _sum_to

__all__ = ["leaky_integrate"]


def leaky_integrate(x: Tensor, v0: Tensor, beta: Tensor) -> Tensor:
    """The membranes ``v (B, T, *F)`` (``v_t`` after step ``t``) of ``x (B, T, *F)`` from ``v0 (B, *F)``.

    ``beta``: the decay, ``()`` or broadcastable to ``F`` (may require grad). Computed in the dtype
    the unroll's first step gives (``beta * v0 + x_t`` under PyTorch's promotion: the state dtype
    for fp16 / bf16 inputs); gradients reach ``x`` (in its own dtype), ``v0`` and ``beta``.
    """
    dtype = torch.promote_types(torch.result_type(beta, v0), x.dtype)
    return _LeakyIntegrate.apply(x.to(dtype), v0.to(dtype), beta.to(dtype))


class _LeakyIntegrate(torch.autograd.Function):
    """``v_t = beta * v_{t-1} + x_t`` over dim 1; saves the output and ``v0``."""

    @staticmethod
    def forward(ctx, x: Tensor, v0: Tensor, beta: Tensor) -> Tensor:  # noqa: ANN001
        v = torch.empty(x.shape, dtype=x.dtype, device=x.device)
        _scan(x.unbind(1), v0, beta, v.unbind(1))
        ctx.save_for_backward(v, v0, beta)
        return v

    @staticmethod
    def backward(ctx, g: Tensor):  # noqa: ANN001, ANN205
        v, v0, beta = ctx.saved_tensors
        need_x, need_v0, need_beta = ctx.needs_input_grad
        dv = torch.empty_like(v)  # Dv_t = beta * Dv_{t+1} + g_t: the same scan, backwards in time from 0
        _scan(g.unbind(1)[::-1], torch.zeros_like(v0), beta, dv.unbind(1)[::-1])
        dbeta = None
        if need_beta:  # v_{t-1}: v0 for the first step
            per_sample = (dv[:, 1:] * v[:, :-1]).sum(1) + dv[:, 0] * v0  # (B, *F)
            dbeta = _sum_to(per_sample, beta)
        return dv if need_x else None, beta * dv[:, 0] if need_v0 else None, dbeta


def _scan(inputs: Sequence[Tensor], start: Tensor, beta: Tensor, outputs: Sequence[Tensor]) -> None:
    """``outputs[i] = beta * outputs[i - 1] + inputs[i]`` (``outputs[-1]`` before the first: ``start``),
    in place, two ops per step in the unroll's order (the same roundings)."""
    prev = start
    for x_t, v_t in zip(inputs, outputs):
        torch.mul(beta, prev, out=v_t)
        v_t.add_(x_t)
        prev = v_t
