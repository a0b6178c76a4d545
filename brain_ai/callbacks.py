"""Lightning callbacks that make spiking activity visible: probes, rasters, health warnings.

TensorBoard tags (fixed; see DESIGN.md section 5):

* ``probes/<layer>/firing_rate``, ``spike_sparsity``, ``dead_frac``, ``saturated_frac``,
  ``membrane_mean``, ``membrane_var`` -- scalars every ``every_n_steps`` training steps;
* ``probes/<layer>/firing_rate_hist`` -- histogram of per-neuron firing rates, same cadence;
* ``raster/input`` and ``raster/<layer>`` -- spike raster figure (time on x, neuron index on y,
  label and prediction in the title; drawn by :mod:`brain_ai.plots`) of one fixed validation
  sample, once per validation epoch.

Probes are measured in eval mode, without gradients, on the current training batch
(:meth:`brain_ai.module.SNNLitModule.probe`), so they cost one extra forward every N steps.
"""

from __future__ import annotations

import logging
from typing import Any, Dict, Optional, Set

import lightning as L
from lightning.pytorch.utilities import rank_zero_only
from torch import Tensor

from brain_ai.config import ConfigError, check_range
from brain_ai.core.probes import HEALTHY_RANGES, check_health
from brain_ai.plots import DEFAULT_MAX_NEURONS, activity_figures, batch_activity, first_sample, per_neuron_rates
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
                writer.add_histogram(f"probes/{layer}/firing_rate_hist", per_neuron_rates(spikes), step)


class SpikeRasterLogger(L.Callback):
    """Once per validation epoch, log raster figures (input encoding and every layer) of one fixed
    validation sample: ``sample_index`` of the first validation batch.

    Args:
        sample_index: which sample of the first validation batch is drawn (the same every epoch,
            with the same encoder draws).
        max_neurons: layers wider than this are subsampled to this many evenly spaced neurons.
        sort_by_rate: order each raster's neurons by firing rate instead of by index.
    """

    def __init__(self, sample_index: int = 0, max_neurons: int = DEFAULT_MAX_NEURONS, sort_by_rate: bool = False) -> None:
        check_range("SpikeRasterLogger", "sample_index", sample_index, low=0, integer=True)
        check_range("SpikeRasterLogger", "max_neurons", max_neurons, low=1, integer=True)
        self.sample_index = sample_index
        self.max_neurons = max_neurons
        self.sort_by_rate = sort_by_rate
        self._sample: Optional[Tensor] = None
        self._label: Optional[Tensor] = None

    def on_validation_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule, outputs: Any, batch: Any, batch_idx: int, dataloader_idx: int = 0) -> None:
        if self._sample is not None or batch_idx != 0:
            return
        x = _first_input(batch)
        if self.sample_index >= x.shape[0]:
            raise ConfigError(
                f"SpikeRasterLogger.sample_index={self.sample_index} is out of range for a validation batch of "
                f"{x.shape[0]} samples; allowed: 0 to {x.shape[0] - 1}"
            )
        pick = slice(self.sample_index, self.sample_index + 1)
        self._sample = x[pick].detach().clone()  # (1, ...)
        if isinstance(batch, (tuple, list)) and len(batch) > 1:
            self._label = batch[1][pick].detach().clone()

    def on_validation_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        writer = _tensorboard(trainer)
        if writer is None or self._sample is None or trainer.sanity_checking:
            return
        activity = first_sample(*batch_activity(pl_module, self._sample.to(pl_module.device)), self._label)
        for name, fig in activity_figures(activity, self.max_neurons, self.sort_by_rate).items():
            writer.add_figure(f"raster/{name}", fig, trainer.global_step, close=True)


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
