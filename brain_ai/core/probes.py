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
from brain_ai.core.masking import check_mask, masked_mean, time_sum, valid_steps


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
    "silent": ("too few spikes", "try a lower snn.neuron.threshold, a larger encoding.rate_gain or a wider surrogate (snn.neuron.surrogate_alpha)"),
    "saturated": ("too many spikes", "try a higher snn.neuron.threshold, loss.w_rate_reg > 0 or snn.neuron.type=adaptive_lif"),
    "membrane_low": ("membrane far below threshold", "check the input scale (encoding.normalization, encoding.rate_gain)"),
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


def compute_probes(
    spikes: Tensor, membrane: Optional[Tensor] = None, saturation_threshold: float = LossConfig.saturation_threshold,
    mask: Optional[Tensor] = None,
) -> Dict[str, Tensor]:
    """Probe one layer's activity over a window.

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
    with torch.no_grad():
        s = spikes.detach().float()
        per_neuron = time_sum(s, mask).sum(0) / valid_steps(mask, s).sum()  # (*N) rate over batch and valid time
        probes = {
            "firing_rate": masked_mean(s, mask),
            "spike_sparsity": masked_mean((s == 0).float(), mask),
            "dead_frac": (per_neuron == 0).float().mean(),
            "saturated_frac": (per_neuron >= saturation_threshold).float().mean(),
        }
        if membrane is not None:
            if membrane.shape != spikes.shape:
                raise ValueError(
                    f"compute_probes: membrane shape {tuple(membrane.shape)} != spikes shape {tuple(spikes.shape)}"
                )
            m = membrane.detach().float()
            mean = masked_mean(m, mask)
            probes["membrane_mean"] = mean
            probes["membrane_var"] = masked_mean((m - mean) ** 2, mask)
    return probes


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
