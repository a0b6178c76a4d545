"""Batch augmentations applied on the device inside the training step (drawing from the
per-batch generator of :class:`brain_ai.training.module.SNNLitModule`, so they are reproducible after a
resume). A data set hands its own to the module as a *batch transform*
(:meth:`brain_ai.data.base.DataSource.batch_transform`): an ``nn.Module`` called as
``transform(x, generator)`` on every training batch."""

from __future__ import annotations

from typing import Optional

import torch
import torch.nn.functional as F
from torch import Tensor, nn


def random_shift(x: Tensor, max_shift: int, generator: Optional[torch.Generator] = None) -> Tensor:
    """Translate every image of ``x (B, C, H, W)`` by its own random offset in
    ``[-max_shift, max_shift]`` pixels along each axis, filling with zeros. ``max_shift=0`` is a no-op.
    Offsets are drawn from ``generator`` (on ``x``'s device; None = the global RNG).
    """
    if max_shift == 0:
        return x
    if x.dim() != 4:
        raise ValueError(f"random_shift expects images (B, C, H, W), got shape {tuple(x.shape)}")
    b, _, h, w = x.shape
    padded = F.pad(x, (max_shift, max_shift, max_shift, max_shift))  # (B, C, H+2s, W+2s)
    dy = torch.randint(0, 2 * max_shift + 1, (b,), generator=generator, device=x.device)
    dx = torch.randint(0, 2 * max_shift + 1, (b,), generator=generator, device=x.device)
    rows = dy[:, None] + torch.arange(h, device=x.device)[None, :]  # (B, H)
    cols = dx[:, None] + torch.arange(w, device=x.device)[None, :]  # (B, W)
    batch = torch.arange(b, device=x.device)[:, None, None]
    # (B, H, W, C) gathered from the padded images, back to (B, C, H, W)
    return padded.permute(0, 2, 3, 1)[batch, rows[:, :, None], cols[:, None, :]].permute(0, 3, 1, 2)


class RandomShift(nn.Module):
    """Batch transform of static images: :func:`random_shift` of ``x (B, C, H, W)`` by up to ``max_shift`` pixels."""

    def __init__(self, max_shift: int) -> None:
        super().__init__()
        self.max_shift = max_shift

    def forward(self, x: Tensor, generator: Optional[torch.Generator] = None) -> Tensor:
        return random_shift(x, self.max_shift, generator)
