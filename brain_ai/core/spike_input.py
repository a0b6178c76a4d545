"""Compact spike input: uint8 / bool spikes ``(B, T, ...)`` (``encoding.spike_dtype``) entering a network.

Encoders may store their 0/1 spikes in 1 byte per element instead of 4. The networks take them as
they are and convert them to their compute dtype at the first layer, so every result is the
same as with float spikes (0 and 1 are exact in every float dtype):

* :func:`as_compute` converts (layers that keep a float copy for backward: Conv2d, LSTM / GRU);
* :func:`spike_linear` runs the MLP's first Linear on all steps at once and keeps the compact
  spikes, not a float copy, for its weight gradient: in training the input costs 1 byte per
  element instead of 4 (``benchmarks/spike_dtype_memory.py`` measures it).
"""

from __future__ import annotations

from typing import Optional, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn


def as_compute(x: Tensor, dtype: torch.dtype) -> Tensor:
    """``x`` unchanged if it already is a float tensor, else converted to ``dtype`` (compact spikes)."""
    return x if x.is_floating_point() else x.to(dtype)


class _CompactLinear(torch.autograd.Function):
    """``F.linear(s.to(w.dtype), w, b)`` for compact spikes ``s (M, F)``, saving ``s`` itself
    (1 byte per element) for ``grad_w = grad^T s``; ``s`` is integer, so it gets no gradient.
    Under autocast the matmul runs in the autocast dtype, as a plain Linear would."""

    @staticmethod
    def forward(ctx, spikes: Tensor, weight: Tensor, bias: Optional[Tensor]) -> Tensor:  # type: ignore[override]  # noqa: ANN001
        ctx.save_for_backward(spikes)
        ctx.has_bias = bias is not None
        return F.linear(spikes.to(weight.dtype), weight, bias)

    @staticmethod
    def backward(ctx, grad: Tensor) -> Tuple[None, Optional[Tensor], Optional[Tensor]]:  # noqa: ANN001
        (spikes,) = ctx.saved_tensors
        grad_weight = grad.t().mm(spikes.to(grad.dtype)) if ctx.needs_input_grad[1] else None  # (N, F)
        grad_bias = grad.sum(0) if ctx.has_bias and ctx.needs_input_grad[2] else None  # (N,)
        return None, grad_weight, grad_bias


def spike_linear(linear: nn.Linear, spikes: Tensor) -> Tensor:
    """``linear`` over every step of compact spikes ``(B, T, F)`` -> float ``(B, T, N)``; the same
    values as ``linear(spikes.float())`` (one ``(B*T, F)`` matmul, as :func:`~brain_ai.core.snn.over_time`)."""
    b, t = spikes.shape[:2]
    y = _CompactLinear.apply(spikes.flatten(0, 1), linear.weight, linear.bias)  # (B*T, N)
    return y.reshape(b, t, *y.shape[1:])
