"""Time masks of ragged sequences: ``mask (B, T)`` bool, True where a step is real data.

Variable-length samples are padded at the end to the batch's longest ``T``; every reduction over
time (decoders, loss terms, probes) then counts only the valid steps, so padding a sample with
extra masked steps changes nothing it reports. ``mask=None`` means every step is valid.
"""

from __future__ import annotations

from typing import Optional

import torch
from torch import Tensor


def check_mask(mask: Optional[Tensor], batch: int, steps: int, owner: str) -> Optional[Tensor]:
    """``mask`` if it is a bool ``(B, T) = (batch, steps)`` tensor (or None); ValueError naming ``owner.mask`` if not."""
    if mask is None:
        return None
    if not isinstance(mask, Tensor) or mask.dtype != torch.bool or tuple(mask.shape) != (batch, steps):
        got = f"{mask.dtype} {tuple(mask.shape)}" if isinstance(mask, Tensor) else type(mask).__name__
        raise ValueError(f"{owner}.mask must be a bool tensor of shape (B, T)={(batch, steps)}, got {got}")
    return mask


def step_weights(mask: Optional[Tensor], like: Tensor) -> Optional[Tensor]:
    """Float32 ``(B, T, 1, ...)`` 1/0 weights broadcastable to ``like (B, T, ...)`` (None for no mask)."""
    if mask is None:
        return None
    return mask.to(torch.float32).view(*mask.shape, *(1,) * (like.dim() - 2))


def valid_steps(mask: Optional[Tensor], like: Tensor) -> Tensor:
    """Valid steps per sample, float32 ``(B, 1, ...)`` broadcastable to ``like`` reduced over time."""
    if mask is None:
        return torch.full((like.shape[0],) + (1,) * (like.dim() - 2), float(like.shape[1]), device=like.device)
    return mask.sum(1).to(torch.float32).view(mask.shape[0], *(1,) * (like.dim() - 2))


def time_sum(x: Tensor, mask: Optional[Tensor]) -> Tensor:
    """``sum_t x[:, t]`` over valid steps, in fp32: ``(B, T, ...) -> (B, ...)``."""
    x = x.float()
    w = step_weights(mask, x)
    return (x if w is None else x * w).sum(dim=1)


def time_mean(x: Tensor, mask: Optional[Tensor]) -> Tensor:
    """Mean over each sample's valid steps, fp32 ``(B, T, ...) -> (B, ...)`` (0 for a sample with none)."""
    return time_sum(x, mask) / valid_steps(mask, x).clamp_min(1.0)


def masked_mean(x: Tensor, mask: Optional[Tensor]) -> Tensor:
    """Mean of ``x (B, T, ...)`` over every entry at a valid step (0-d fp32)."""
    x = x.float()
    w = step_weights(mask, x)
    if w is None:
        return x.mean()
    count = w.sum() * (x[0, 0].numel())
    return (x * w).sum() / count.clamp_min(1.0)


def zero_invalid(x: Tensor, mask: Optional[Tensor]) -> Tensor:
    """``x`` with the entries of invalid steps set to 0 (same dtype, differentiable)."""
    w = step_weights(mask, x)
    return x if w is None else x * w.to(x.dtype)
