"""A condition watched on the device step after step and read on the host only when asked.

A training step that tests ``if not torch.isfinite(loss)`` waits for the GPU at every step (a host
sync). :class:`DeferredCheck` instead keeps, on the tensors' device, whether the condition held at
some step since the last read, and the values of the first step where it did; :meth:`read` costs
one host sync, so a caller reads every N steps (and before anything is saved) and still names the
first bad step.
"""

from __future__ import annotations

from typing import Any, List, Optional, Tuple

import torch
from torch import Tensor


class DeferredCheck:
    """Record ``bad`` (a 0-d bool tensor) per step without a host sync; :meth:`read` reports the first hit.

    Each :meth:`update` gets a host-side ``label`` (e.g. ``(epoch, step)``) and ``values``, a 1-d
    float tensor of a fixed length (what a message should show); only the values of the first step
    where ``bad`` held are kept. Every tensor stays on the device of the first update.
    """

    def __init__(self) -> None:
        self._hit: Optional[Tensor] = None  # () bool: bad at some step since the last read
        self._first: Optional[Tensor] = None  # () int64: index into _labels of the first bad step
        self._values: Optional[Tensor] = None  # (K,) the values of that step
        self._labels: List[Any] = []

    def update(self, bad: Tensor, values: Tensor, label: Any) -> None:
        """Note one step: ``bad`` () bool, ``values`` (K,) float, ``label`` any host object. No host sync."""
        bad = bad.detach().reshape(())
        values = values.detach().reshape(-1)
        if self._values is not None and self._values.shape != values.shape:
            raise ValueError(
                f"DeferredCheck: values.shape={tuple(values.shape)} changed; allowed: {tuple(self._values.shape)}"
            )
        if self._hit is None:
            self._hit = torch.zeros((), dtype=torch.bool, device=bad.device)
            self._first = torch.zeros((), dtype=torch.int64, device=bad.device)
            self._values = torch.zeros_like(values)
            self._labels = []
        newly = bad & ~self._hit
        self._first = torch.where(newly, len(self._labels), self._first)
        self._values = torch.where(newly, values, self._values)
        self._hit = self._hit | bad
        self._labels.append(label)

    def read(self) -> Optional[Tuple[Any, List[float]]]:
        """``None`` if ``bad`` never held since the last read, else ``(label, values)`` of the first
        step where it did. One host sync; the record starts afresh after a read without a hit."""
        if self._hit is None or self._first is None or self._values is None:
            return None
        head = torch.stack([self._hit.to(self._values.dtype), self._first.to(self._values.dtype)])
        hit, first, *values = torch.cat([head, self._values]).tolist()
        if not hit:
            self._labels = []
            return None
        return self._labels[int(first)], values
