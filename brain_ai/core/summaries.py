"""Per-layer summaries accumulated segment by segment: what a loss term or a probe needs of a
layer's spikes / membranes, without keeping the whole ``(B, T, N)`` sequence.

A :class:`LayerSummary` turns one time segment of a layer, ``spikes (B, t, *N)`` (and
``membrane (B, t, *N)`` when it needs it), into a dict of small tensors: running sums, with a
segment axis at dim 1 (``(B or 1, 1, ...)`` per segment, summed over that axis by the consumer),
or per-step series without the neuron axis (``(B, t)``). The network computes them inside each
(recomputed) segment of :func:`~brain_ai.core.unroll.run_segments`, so with
``snn.checkpoint_every = k`` only one segment's layer tensors exist at a time, in forward and in
backward; values and gradients are those of the whole sequence. A summary that looks back across
a segment boundary (the ISI term's windows) carries what it needs (the last steps) from segment
to segment in ``carry``.

:func:`summarize` applies a summary to a whole sequence as one segment: the same code path
serves the network's segments and callers that hold the full tensors.
"""

from __future__ import annotations

import abc
from typing import Any, ClassVar, Dict, Optional, Tuple

from torch import Tensor

#: stat name -> tensor; see the module docstring for the shapes
Summary = Dict[str, Tensor]


class LayerSummary(metaclass=abc.ABCMeta):
    """A statistic of one layer that can be accumulated over time segments.

    ``key`` names it in :attr:`~brain_ai.core.snn.SNNOutput.summaries`; ``needs_spikes``: it reads
    spikes (spiking layers only); otherwise it reads membranes only (every neuron layer, the
    membrane readout included); ``needs_membrane``: it reads the post-step membrane.
    """

    key: ClassVar[str] = ""
    needs_spikes: ClassVar[bool] = True
    needs_membrane: ClassVar[bool] = False

    @abc.abstractmethod
    def segment(
        self, spikes: Optional[Tensor], membrane: Optional[Tensor], mask: Optional[Tensor], carry: Any
    ) -> Tuple[Summary, Any]:
        """Summarise one segment: ``spikes`` / ``membrane`` ``(B, t, *N)`` (None when not needed),
        ``mask (B, t)`` bool (None: every step valid), ``carry`` what the previous segment passed
        on (None at the first). Returns ``(summary, carry for the next segment)``."""


def summarize(
    summary: LayerSummary, spikes: Optional[Tensor], membrane: Optional[Tensor], mask: Optional[Tensor]
) -> Summary:
    """``summary`` of a whole sequence (one segment, nothing carried in)."""
    return summary.segment(spikes, membrane, mask, None)[0]


class Undetached:
    """A state part that truncated BPTT does not cut (:func:`~brain_ai.core.unroll.detach_tree`
    returns it as is): a summary's carry, so that its gradient crosses truncation boundaries as
    it would on the whole sequence."""

    def __init__(self, value: Any) -> None:
        self.value = value

    def detach(self) -> "Undetached":
        return self


__all__ = ["LayerSummary", "Summary", "summarize", "Undetached"]
