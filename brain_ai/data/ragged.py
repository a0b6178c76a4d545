"""Variable-length samples: pad a batch of sequences at the end and carry the mask.

A ragged data set yields ``(x (T_i, *F), y)`` with a different ``T_i`` per sample. Its loader
collates with :func:`pad_collate` into ``(x (B, T_max, *F), y (B,), mask (B, T_max) bool)``:
the padding is silent (zeros) and ``mask`` is True at each sample's real steps. Every batch
consumer unpacks with :func:`split_batch`, which also accepts the plain ``(x, y)`` batches of
fixed-length data (``mask`` None).
"""

from __future__ import annotations

from typing import Any, Optional, Sequence, Tuple

import torch
from torch import Tensor
from torch.utils.data import default_collate


def pad_collate(samples: Sequence[Tuple[Tensor, Any]]) -> Tuple[Tensor, Tensor, Tensor]:
    """``[(x_i (T_i, *F), y_i), ...]`` -> ``(x (B, T_max, *F), y, mask (B, T_max))``, zeros after ``T_i``."""
    xs = [x for x, _ in samples]
    if not xs or any(x.dim() < 1 or x.shape[1:] != xs[0].shape[1:] for x in xs):
        raise ValueError(
            f"pad_collate: samples must be (T_i, *F) with one F, got shapes {[tuple(x.shape) for x in xs]}"
        )
    steps = max(x.shape[0] for x in xs)
    x = xs[0].new_zeros((len(xs), steps, *xs[0].shape[1:]))  # (B, T_max, *F)
    mask = torch.zeros((len(xs), steps), dtype=torch.bool)
    for i, xi in enumerate(xs):
        x[i, : xi.shape[0]] = xi
        mask[i, : xi.shape[0]] = True
    return x, default_collate([y for _, y in samples]), mask


def split_batch(batch: Sequence[Any]) -> Tuple[Tensor, Tensor, Optional[Tensor]]:
    """``(x, y)`` or ``(x, y, mask)`` -> ``(x, y, mask or None)``."""
    if not isinstance(batch, (tuple, list)) or len(batch) not in (2, 3):
        raise ValueError(
            f"a batch must be (x, y) or (x, y, mask), got {type(batch).__name__} of length {len(batch) if isinstance(batch, (tuple, list)) else '?'}"
        )
    return batch[0], batch[1], batch[2] if len(batch) == 3 else None
