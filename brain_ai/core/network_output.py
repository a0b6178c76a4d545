"""What every network of :mod:`brain_ai.core` returns, and the helpers they share.

:class:`SNNOutput` is the result of a forward of an SNN (:mod:`brain_ai.core.snn`) or of a
non-spiking baseline (:mod:`brain_ai.core.ann`); both modules import it from here, so neither
imports the other's module for it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional

import torch
from torch import Tensor

from brain_ai.core.neurons import SpikingState


@dataclass
class SNNOutput:
    """What an SNN forward returns (the same type whatever is asked for).

    Attributes:
        output: ``(B, T, C)`` readout spikes (spiking readout) or membrane (membrane readout).
        layer_spikes: name -> ``(B, T, ...)`` spikes of every spiking layer (kept anyway for
            backward without checkpointing, so free to return); used by activity regularisers.
            Empty with ``keep_spikes=False``.
        layer_membranes: name -> ``(B, T, ...)`` post-step membrane, only when recorded.
        probes: name -> probe dict (``brain_ai.core.probes``), only with ``return_details=True``
            or ``probes=True``.
        neuron_rates: name -> ``(N,)`` firing rate of each neuron over batch and valid time, with
            the probes.
        summaries: summary key -> layer name -> the :class:`~brain_ai.core.summaries.LayerSummary`
            asked for (``summaries=``), accumulated segment by segment.
        final_states: name -> final :class:`SpikingState` of every neuron layer; pass it as
            ``state=`` of the next call to continue the sequence (streaming).
        inputs: the input the network read, ``(B, T, F)`` (MLP, flattened) or ``(B, T, C, H, W)``
            (conv), only with ``return_details=True`` (``brain_ai.metrics.efficiency`` counts it).
    """

    output: Tensor
    layer_spikes: Dict[str, Tensor] = field(default_factory=dict)
    layer_membranes: Dict[str, Tensor] = field(default_factory=dict)
    probes: Dict[str, Dict[str, Tensor]] = field(default_factory=dict)
    neuron_rates: Dict[str, Tensor] = field(default_factory=dict)
    summaries: Dict[str, Dict[str, Any]] = field(default_factory=dict)
    final_states: Dict[str, SpikingState] = field(default_factory=dict)
    inputs: Optional[Tensor] = None


#: Network state: layer name -> that layer's state (``None`` = zeros).
NetState = Dict[str, Optional[SpikingState]]


def over_time(layer: Callable[[Tensor], Tensor], x: Tensor, time_major: bool = False) -> Tensor:
    """Apply a stateless ``layer`` (a module or function) to every time step at once: ``(B, T, ...) -> (B, T, ...)``.

    A time-major ``x`` (the ``(B, T, ...)`` view of a contiguous ``(T, B, ...)`` tensor, as the
    recurrent LIF Functions return their spikes) runs as ``T*B`` rows and comes back as the same
    kind of view, so that neither the input nor the gradient reaching it is copied into batch-major
    order; ``time_major=True`` does so for any ``x`` (a batch-major one is copied: the caller's
    choice when the output is wider than the input and its consumer works time-major).
    """
    b, t = x.shape[:2]
    stored_time_major = not x.is_contiguous() and x.transpose(0, 1).is_contiguous()
    if b > 1 and t > 1 and (time_major or stored_time_major):
        y = layer(x.transpose(0, 1).flatten(0, 1))  # (T*B, ...)
        return y.reshape(t, b, *y.shape[1:]).transpose(0, 1)
    y = layer(x.flatten(0, 1))  # (B*T, ...)
    return y.reshape(b, t, *y.shape[1:])  # (B, T, ...)


def dropout_seeds(x: Tensor, p: float, generator: Optional[torch.Generator]) -> Optional[Tensor]:
    """One seed per step of ``x (B, T, ...)``: ``(1, T)`` int64 on the CPU, drawn from ``generator``
    (None = the global RNG of ``x``'s device); None when ``p = 0`` (no dropout)."""
    if p == 0:
        return None
    device = generator.device if generator is not None else x.device
    return torch.randint(0, 2**63 - 1, (1, x.shape[1]), generator=generator, device=device).cpu()


def dropout_masks(
    seeds: Tensor, batch: int, sizes: List[int], p: float, device: torch.device, dtype: torch.dtype
) -> List[Tensor]:
    """Dropout masks ``(B, t, N_j)`` in ``dtype`` for layers of ``sizes`` N_j over the steps of ``seeds (1, t)``
    (:func:`dropout_seeds`): ``keep / (1 - p)`` with ``keep ~ Bernoulli(1 - p)``, as ``nn.Dropout``.
    Step k's masks come from a generator seeded with ``seeds[0, k]`` (on ``device``), so a step's
    mask does not depend on how time is cut into segments, a recomputed segment draws the same
    ones, and no mask of the whole sequence is ever held."""
    keep = 1.0 - p
    draws: List[List[Tensor]] = [[] for _ in sizes]
    for seed in seeds[0].tolist():
        step = torch.Generator(device=device).manual_seed(seed)
        for j, n in enumerate(sizes):
            draws[j].append(torch.rand((batch, n), generator=step, device=device, dtype=dtype))
    return [(torch.stack(u, dim=1) < keep).to(dtype) / keep for u in draws]
