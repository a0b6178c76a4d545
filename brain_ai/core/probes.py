"""Cheap per-layer health probes from what the unroll already returns (spikes, membrane).

``compute_probes`` returns 0-d tensors (no ``.item()``, no device sync), so it can run every
step; ``check_health`` (which does sync) turns them into short advice, one line per symptom.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Dict, List, Mapping, Optional, Tuple, Union

import torch
from torch import Tensor

from brain_ai.config import LossConfig
from brain_ai.core.masking import check_mask, step_weights, time_sum, valid_steps
from brain_ai.core.summaries import LayerSummary, Summary, summarize


@dataclass(frozen=True)
class HealthyRange:
    """Healthy interval ``[low, high]`` of one probe and the symptom (a key of :data:`SYMPTOMS`)
    that a value below or above it shows (``""``: none)."""

    low: float
    high: float
    too_low: str
    too_high: str


#: symptom -> (what is wrong, the config keys to try): :func:`check_health` reports each symptom
#: of a layer once, with the probe values that show it
SYMPTOMS: Dict[str, Tuple[str, str]] = {
    "silent": (
        "too few spikes",
        "try a lower snn.neuron.threshold, a larger encoding.rate_gain or a wider surrogate (snn.neuron.surrogate_alpha)",
    ),
    "saturated": (
        "too many spikes",
        "try a higher snn.neuron.threshold, loss.w_rate_reg > 0 or snn.neuron.type=adaptive_lif",
    ),
    "membrane_low": (
        "membrane far below threshold",
        "check the input scale (encoding.normalization, encoding.rate_gain)",
    ),
    "membrane_high": ("membrane far above threshold", "try a lower snn.neuron.beta or encoding.normalization=minmax"),
    "flat": ("membrane does not vary", "the input may be constant or the weights zero: check data and encoding"),
    "non_finite": ("non-finite values", "try a lower optim.lr or trainer.gradient_clip_val=1.0"),
}

#: Healthy ranges per probe (the spiking-core seed table). Membrane mean is in threshold units.
HEALTHY_RANGES: Dict[str, HealthyRange] = {
    "firing_rate": HealthyRange(0.01, 0.50, "silent", "saturated"),
    "spike_sparsity": HealthyRange(0.50, 0.99, "saturated", "silent"),
    "dead_frac": HealthyRange(0.0, 0.05, "", "silent"),
    "saturated_frac": HealthyRange(0.0, 0.05, "", "saturated"),
    "membrane_mean": HealthyRange(-10.0, 10.0, "membrane_low", "membrane_high"),
    "membrane_var": HealthyRange(0.0, math.inf, "flat", ""),
}


class ProbeSummary(LayerSummary):
    """The running sums the probes are computed from (:func:`probes_from_summary`), per segment:
    ``count (1, 1, N)`` spikes of each neuron, ``zeros (1, 1)`` spike-free entries and, with a
    membrane, ``membrane_sum`` / ``membrane_sq (1, 1)`` (float64), all over the valid steps."""

    key = "probes"
    needs_membrane = True

    def segment(
        self, spikes: Tensor, membrane: Optional[Tensor], mask: Optional[Tensor], carry: None
    ) -> Tuple[Summary, None]:
        with torch.no_grad():
            s = spikes.detach().float()
            w = step_weights(mask, s)
            valid = torch.ones_like(s) if w is None else w.expand_as(s)
            sums = {"count": time_sum(s, mask).sum(0).flatten(), "zeros": ((s == 0).float() * valid).sum()}
            if membrane is not None:
                m = membrane.detach().double() * valid
                sums.update({"membrane_sum": m.sum(), "membrane_sq": (m * m).sum()})
        return {k: v.reshape(1, 1, -1) if k == "count" else v.reshape(1, 1) for k, v in sums.items()}, None


def neuron_rates(summary: Summary, entries: Tensor) -> Tensor:
    """Firing rate ``(N,)`` of each neuron over batch and valid time from a :class:`ProbeSummary`;
    ``entries``: the number of valid ``(b, t)`` pairs (0-d)."""
    return summary["count"].sum(dim=(0, 1)) / entries.clamp_min(1.0)


def probes_from_summary(
    summary: Summary, entries: Tensor, saturation_threshold: float = LossConfig.saturation_threshold
) -> Dict[str, Tensor]:
    """The probes of :func:`compute_probes` from a :class:`ProbeSummary` (summed over its segments)
    and ``entries``, the number of valid ``(b, t)`` pairs (0-d)."""
    with torch.no_grad():
        per_neuron = neuron_rates(summary, entries)  # (N,)
        values = per_neuron.numel() * entries.clamp_min(1.0)  # valid (b, t, n) entries
        probes = {
            "firing_rate": summary["count"].sum() / values,
            "spike_sparsity": summary["zeros"].sum() / values,
            "dead_frac": (per_neuron == 0).float().mean(),
            "saturated_frac": (per_neuron >= saturation_threshold).float().mean(),
        }
        if "membrane_sum" in summary:
            mean = summary["membrane_sum"].sum() / values
            probes["membrane_mean"] = mean.float()
            probes["membrane_var"] = (summary["membrane_sq"].sum() / values - mean**2).clamp_min(0.0).float()
    return probes


def compute_probes(
    spikes: Tensor,
    membrane: Optional[Tensor] = None,
    saturation_threshold: float = LossConfig.saturation_threshold,
    mask: Optional[Tensor] = None,
) -> Dict[str, Tensor]:
    """Probe one layer's activity over a window (:class:`ProbeSummary` over one segment).

    Args:
        spikes: ``(B, T, *N)`` 0/1 spikes.
        membrane: optional ``(B, T, *N)`` post-step membrane (threshold units).
        saturation_threshold: a neuron is saturated if it fired on at least this fraction of
            its ``B * T`` steps.
        mask: optional ``(B, T)`` bool, True at valid steps (ragged batches); every probe then
            counts only valid steps.
    Returns:
        0-d float32 tensors (no grad) ``firing_rate`` (mean spikes per neuron-step),
        ``spike_sparsity`` (fraction of neuron-steps without a spike), ``dead_frac``
        (neurons that never fired over batch and time), ``saturated_frac``; with
        ``membrane`` also ``membrane_mean`` and ``membrane_var`` (over all entries).
    """
    if spikes.dim() < 3:
        raise ValueError(f"compute_probes: spikes must be (B, T, *N), got shape {tuple(spikes.shape)}")
    if not 0.0 < saturation_threshold <= 1.0:
        raise ValueError(f"compute_probes: saturation_threshold={saturation_threshold!r} must be in (0, 1]")
    mask = check_mask(mask, spikes.shape[0], spikes.shape[1], "compute_probes")
    if membrane is not None and membrane.shape != spikes.shape:
        raise ValueError(
            f"compute_probes: membrane shape {tuple(membrane.shape)} != spikes shape {tuple(spikes.shape)}"
        )
    summary = summarize(ProbeSummary(), spikes, membrane, mask)
    return probes_from_summary(summary, valid_steps(mask, spikes).sum(), saturation_threshold)


Probes = Mapping[str, Union[Tensor, float]]


def check_health(probes: Union[Probes, Mapping[str, Probes]], layer: str = "") -> List[str]:
    """One line per symptom (:data:`SYMPTOMS`) of a layer that left :data:`HEALTHY_RANGES`: what is
    wrong, the probe values that show it and the config keys to try.

    ``probes`` is one layer's dict from :func:`compute_probes` or ``{layer_name: dict}``.
    Non-finite values are always a symptom. Returns ``[]`` when everything is healthy.
    This reads the values (``float()``), so call it outside hot loops.
    """
    if probes and all(isinstance(v, Mapping) for v in probes.values()):
        return [msg for name, p in probes.items() for msg in check_health(p, layer=name)]
    evidence: Dict[str, List[str]] = {}
    for key, value in probes.items():
        value = float(value)
        rng = HEALTHY_RANGES.get(key)
        if not math.isfinite(value):
            symptom = "non_finite"
        elif rng is None:
            continue
        elif key == "membrane_var":
            symptom = rng.too_low if value <= rng.low else ""
        elif value < rng.low:
            symptom = rng.too_low
        elif value > rng.high or (key in ("dead_frac", "saturated_frac") and value >= rng.high):
            symptom = rng.too_high
        else:
            continue
        if symptom:
            evidence.setdefault(symptom, []).append(f"{key}={value:.3g}")
    where = f"{layer}: " if layer else ""
    return [f"{where}{SYMPTOMS[s][0]} ({', '.join(values)}); {SYMPTOMS[s][1]}" for s, values in evidence.items()]
