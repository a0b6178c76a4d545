"""Lightning callbacks that make spiking activity visible: probes, rasters, health warnings.

TensorBoard tags (fixed; see DESIGN.md section 5):

* ``probes/<layer>/firing_rate``, ``spike_sparsity``, ``dead_frac``, ``saturated_frac``,
  ``membrane_mean``, ``membrane_var`` -- scalars every ``every_n_steps`` training steps;
* ``probes/<layer>/firing_rate_hist`` -- histogram of per-neuron firing rates, same cadence;
* ``raster/input`` and ``raster/<layer>`` -- spike raster image (neurons x time) of one fixed
  validation sample, once per validation epoch.

Probes are measured in eval mode, without gradients, on the current training batch
(:meth:`brain_ai.module.SNNLitModule.probe`), so they cost one extra forward every N steps.
"""

from __future__ import annotations

import logging
from typing import Any, Dict, Optional, Set

import lightning as L
import torch
from lightning.pytorch.utilities import rank_zero_only
from torch import Tensor

from brain_ai.core.probes import HEALTHY_RANGES, check_health
from brain_ai.data.ragged import split_batch

log = logging.getLogger(__name__)

#: probe key (brain_ai.core.probes) -> TensorBoard tag suffix
PROBE_TAGS = {
    "firing_rate": "firing_rate",
    "spike_sparsity": "spike_sparsity",
    "dead_neuron_frac": "dead_frac",
    "saturated_neuron_frac": "saturated_frac",
    "membrane_mean": "membrane_mean",
    "membrane_var": "membrane_var",
}


def _tensorboard(trainer: L.Trainer) -> Optional[Any]:
    """The TensorBoard SummaryWriter among the trainer's loggers, if any."""
    for logger in trainer.loggers:
        writer = getattr(logger, "experiment", None)
        if writer is not None and hasattr(writer, "add_histogram") and hasattr(writer, "add_image"):
            return writer
    return None


def _first_input(batch: Any) -> Tensor:
    return batch[0] if isinstance(batch, (tuple, list)) else batch


def _is_due(step: int, every_n_steps: int) -> bool:
    return step == 1 or (step > 0 and step % every_n_steps == 0)


class ProbeLogger(L.Callback):
    """Log per-layer probe scalars and a firing-rate histogram every ``every_n_steps`` steps."""

    def __init__(self, every_n_steps: int = 50, histogram: bool = True) -> None:
        if every_n_steps < 1:
            raise ValueError(f"ProbeLogger.every_n_steps={every_n_steps} must be >= 1")
        self.every_n_steps = every_n_steps
        self.histogram = histogram

    def on_train_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule, outputs: Any, batch: Any, batch_idx: int) -> None:
        step = trainer.global_step
        if not trainer.loggers or not _is_due(step, self.every_n_steps):
            return
        x, _, mask = split_batch(batch)
        out = pl_module.probe(x, mask)
        metrics = {
            f"probes/{layer}/{PROBE_TAGS[key]}": float(value)
            for layer, probes in out.probes.items()
            for key, value in probes.items()
            if key in PROBE_TAGS
        }
        for logger in trainer.loggers:
            logger.log_metrics(metrics, step=step)
        writer = _tensorboard(trainer)
        if self.histogram and writer is not None:
            for layer, spikes in out.layer_spikes.items():
                rates = spikes.float().mean(dim=(0, 1)).flatten()  # (N,) per-neuron firing rate
                writer.add_histogram(f"probes/{layer}/firing_rate_hist", rates, step)


def raster_image(spikes: Tensor) -> Tensor:
    """``(T, *F)`` spikes of one sample -> ``(N, T)`` uint8 image (white = spike)."""
    flat = spikes.detach().float().reshape(spikes.shape[0], -1).t()  # (N, T)
    return (flat.clamp(0, 1) * 255).to(torch.uint8)


class SpikeRasterLogger(L.Callback):
    """Once per validation epoch, log spike rasters of one fixed validation sample per layer."""

    def __init__(self, sample_index: int = 0) -> None:
        self.sample_index = sample_index
        self._sample: Optional[Tensor] = None

    def on_validation_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule, outputs: Any, batch: Any, batch_idx: int, dataloader_idx: int = 0) -> None:
        if self._sample is None and batch_idx == 0:
            x = _first_input(batch)
            self._sample = x[self.sample_index : self.sample_index + 1].detach().clone()

    def on_validation_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        writer = _tensorboard(trainer)
        if writer is None or self._sample is None or trainer.sanity_checking:
            return
        sample = self._sample.to(pl_module.device)
        out = pl_module.probe(sample)
        encoded = pl_module.encoder(sample).spikes if hasattr(pl_module, "encoder") else sample
        step = trainer.global_step
        writer.add_image("raster/input", raster_image(encoded[0]), step, dataformats="HW")
        for layer, spikes in out.layer_spikes.items():
            writer.add_image(f"raster/{layer}", raster_image(spikes[0]), step, dataformats="HW")


class HealthMonitor(L.Callback):
    """Warn once per layer when its probes leave the healthy ranges of ``brain_ai.core.probes``.

    Checked every ``every_n_steps`` training steps after ``warmup_steps``; the warning names the
    layer, the probe values and what to try (on rank 0 only).
    """

    def __init__(self, every_n_steps: int = 50, warmup_steps: int = 0) -> None:
        if every_n_steps < 1:
            raise ValueError(f"HealthMonitor.every_n_steps={every_n_steps} must be >= 1")
        self.every_n_steps = every_n_steps
        self.warmup_steps = warmup_steps
        self.warned: Set[str] = set()
        self.ranges = HEALTHY_RANGES

    def on_train_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule, outputs: Any, batch: Any, batch_idx: int) -> None:
        step = trainer.global_step
        if step < self.warmup_steps or not _is_due(step, self.every_n_steps):
            return
        x, _, mask = split_batch(batch)
        out = pl_module.probe(x, mask)
        self._check(out.probes)

    @rank_zero_only
    def _check(self, probes: Dict[str, Dict[str, Tensor]]) -> None:
        for layer, values in probes.items():
            if layer in self.warned:
                continue
            problems = check_health(values)
            if problems:
                self.warned.add(layer)
                summary = ", ".join(f"{k}={float(v):.3f}" for k, v in values.items())
                log.warning("SNN health: %s is unhealthy (%s): %s", layer, summary, "; ".join(problems))
