"""Cheap per-layer health probes from what the unroll already returns (spikes, membrane).

``compute_probes`` returns 0-d tensors (no ``.item()``, no device sync), so it can run every
step; ``check_health`` (which does sync) turns them into human-readable advice.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Dict, List, Mapping, Optional, Union

import torch
from torch import Tensor

from brain_ai.config import LossConfig
from brain_ai.core.masking import check_mask, masked_mean, time_sum, valid_steps


@dataclass(frozen=True)
class HealthyRange:
    """Healthy interval ``[low, high]`` of one probe and what to try when it is left."""

    low: float
    high: float
    too_low: str
    too_high: str


#: Healthy ranges per probe (the spiking-core seed table). Membrane mean is in threshold units.
HEALTHY_RANGES: Dict[str, HealthyRange] = {
    "firing_rate": HealthyRange(
        0.01, 0.50,
        "too few spikes: lower the threshold, raise input gain/weight init, or use a wider surrogate",
        "too many spikes: raise the threshold, add a firing-rate regulariser, or lower the input gain",
    ),
    "spike_sparsity": HealthyRange(
        0.50, 0.99,
        "activity is dense: raise the threshold or add a firing-rate regulariser",
        "activity is almost silent: lower the threshold or raise the input gain",
    ),
    "dead_frac": HealthyRange(
        0.0, 0.05,
        "",
        "many neurons never fire: lower the threshold, check weight init and input scaling, "
        "or use a wider surrogate (larger support) so silent neurons still get gradient",
    ),
    "saturated_frac": HealthyRange(
        0.0, 0.05,
        "",
        "many neurons fire almost every step: raise the threshold, use reset=subtract, add "
        "adaptation (adaptive_lif) or a firing-rate regulariser",
    ),
    "membrane_mean": HealthyRange(
        -10.0, 10.0,
        "membrane far below threshold: check for negative input bias or too-strong inhibition",
        "membrane far above threshold (> 10 thr): lower beta, use a reset, or normalise the input",
    ),
    "membrane_var": HealthyRange(
        0.0, math.inf,
        "membrane does not vary: inputs may be constant or all weights zero",
        "",
    ),
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
    """Human-readable violations of :data:`HEALTHY_RANGES`, each with what to try.

    ``probes`` is one layer's dict from :func:`compute_probes` or ``{layer_name: dict}``.
    Non-finite values are always violations. Returns ``[]`` when everything is healthy.
    This reads the values (``float()``), so call it outside hot loops.
    """
    if probes and all(isinstance(v, Mapping) for v in probes.values()):
        return [msg for name, p in probes.items() for msg in check_health(p, layer=name)]
    where = f"{layer}: " if layer else ""
    problems = []
    for key, value in probes.items():
        value = float(value)
        rng = HEALTHY_RANGES.get(key)
        if not math.isfinite(value):
            problems.append(f"{where}{key}={value} is not finite: lower the learning rate, check beta < 1 and the input scale")
        elif rng is None:
            continue
        elif key == "membrane_var" and value <= rng.low:
            problems.append(f"{where}{key}={value:.4g} should be > 0; {rng.too_low}")
        elif value < rng.low:
            problems.append(f"{where}{key}={value:.4g} is below the healthy range [{rng.low}, {rng.high}]; {rng.too_low}")
        elif value > rng.high or (key in ("dead_frac", "saturated_frac") and value >= rng.high):
            problems.append(f"{where}{key}={value:.4g} is above the healthy range [{rng.low}, {rng.high}]; {rng.too_high}")
    return problems
