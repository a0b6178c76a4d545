"""Lightning callbacks that make spiking activity visible: probes, rasters, health warnings, the
layer summary.

TensorBoard tags (fixed; docs/probes-tensorboard.md shows them):

* ``probes/<layer>/<probe>`` -- every probe of :func:`brain_ai.core.probes.compute_probes`,
  under its own name, as scalars every ``every_n_steps`` training steps;
* ``probes/<layer>/firing_rate_hist`` -- histogram of per-neuron firing rates, same cadence;
* ``raster/input`` and ``raster/<layer>`` -- spike raster figure (time on x, neuron index on y,
  label and prediction in the title; drawn by :mod:`brain_ai.training.plots`) of one fixed validation
  sample, once per validation epoch.

Probes are measured in eval mode, without gradients, on the current training batch
(:meth:`brain_ai.training.module.SNNLitModule.probe` with ``details=False``), so they cost one extra
forward every N steps; the :class:`ProbeLogger` and the :class:`HealthMonitor` share it
(:func:`probe_training_batch`). The probes come from running sums accumulated segment by segment
(:class:`brain_ai.core.probes.ProbeSummary`, ``snn.checkpoint_every`` steps at a time), so no
layer's whole spike train is kept.
"""

from __future__ import annotations

import logging
from typing import Any, Dict, Optional, Set

import lightning as L
import torch
from lightning.pytorch.callbacks import ModelSummary
from lightning.pytorch.loggers import TensorBoardLogger
from lightning.pytorch.utilities import rank_zero_only
from lightning.pytorch.utilities.model_summary.model_summary import _format_summary_table
from torch import Tensor

from brain_ai.config import ConfigError, LossConfig, check_range
from brain_ai.core.decoding import ClassificationOutput
from brain_ai.core.deferred_check import DeferredCheck
from brain_ai.core.probes import HEALTHY_RANGES, check_health
from brain_ai.data.ragged import split_batch
from brain_ai.errors import TrainingStopped
from brain_ai.training.plots import DEFAULT_MAX_NEURONS, activity_figures, batch_activity, first_sample

log = logging.getLogger(__name__)


def tensorboard_writer(trainer: L.Trainer) -> Optional[Any]:
    """The TensorBoard SummaryWriter among the trainer's loggers, if any (``fast_dev_run``'s
    stand-in logger, which writes nothing, is not one)."""
    for logger in trainer.loggers:
        if isinstance(logger, TensorBoardLogger):
            return logger.experiment
    return None


def _first_input(batch: Any) -> Tensor:
    return batch[0] if isinstance(batch, (tuple, list)) else batch


def _is_due(step: int, every_n_steps: int) -> bool:
    return step == 1 or (step > 0 and step % every_n_steps == 0)


#: attribute of the LightningModule that holds the last probed training batch: ``((step, batch_idx), SNNOutput)``
_PROBED = "probed_training_batch"


def probe_training_batch(trainer: L.Trainer, pl_module: L.LightningModule, batch: Any, batch_idx: int) -> Any:
    """The probes of the current training batch (``pl_module.probe``: eval mode, no gradients),
    measured once per step however many callbacks ask for them: one extra forward per probe step.
    The output is kept on the module until the next probed batch replaces it."""
    key = (trainer.global_step, batch_idx)
    probed = getattr(pl_module, _PROBED, None)
    if probed is None or probed[0] != key:
        x, _, mask = split_batch(batch)
        probed = (key, pl_module.probe(x, mask, details=False))
        setattr(pl_module, _PROBED, probed)
    return probed[1]


class ProbeLogger(L.Callback):
    """Log per-layer probe scalars and a firing-rate histogram every ``every_n_steps`` steps."""

    def __init__(self, every_n_steps: int = 50, histogram: bool = True) -> None:
        if every_n_steps < 1:
            raise ValueError(f"ProbeLogger.every_n_steps={every_n_steps} must be >= 1")
        self.every_n_steps = every_n_steps
        self.histogram = histogram

    def on_train_batch_end(
        self, trainer: L.Trainer, pl_module: L.LightningModule, outputs: Any, batch: Any, batch_idx: int
    ) -> None:
        step = trainer.global_step
        if not trainer.loggers or not _is_due(step, self.every_n_steps):
            return
        out = probe_training_batch(trainer, pl_module, batch, batch_idx)
        metrics = {
            f"probes/{layer}/{key}": float(value)
            for layer, probes in out.probes.items()
            for key, value in probes.items()
        }
        for logger in trainer.loggers:
            logger.log_metrics(metrics, step=step)
        writer = tensorboard_writer(trainer)
        if self.histogram and writer is not None:
            for layer, rates in out.neuron_rates.items():
                writer.add_histogram(f"probes/{layer}/firing_rate_hist", rates, step)


class SpikeRasterLogger(L.Callback):
    """Once per validation epoch, log raster figures (input encoding and every layer) of one fixed
    validation sample: ``sample_index`` of the first validation batch.

    Args:
        sample_index: which sample of the first validation batch is drawn (the same every epoch,
            with the same encoder draws).
        max_neurons: layers wider than this are subsampled to this many evenly spaced neurons.
        sort_by_rate: order each raster's neurons by firing rate instead of by index.
    """

    def __init__(
        self, sample_index: int = 0, max_neurons: int = DEFAULT_MAX_NEURONS, sort_by_rate: bool = False
    ) -> None:
        check_range("SpikeRasterLogger", "sample_index", sample_index, low=0, integer=True)
        check_range("SpikeRasterLogger", "max_neurons", max_neurons, low=1, integer=True)
        self.sample_index = sample_index
        self.max_neurons = max_neurons
        self.sort_by_rate = sort_by_rate
        self._sample: Optional[Tensor] = None
        self._label: Optional[Tensor] = None

    def on_validation_batch_end(
        self,
        trainer: L.Trainer,
        pl_module: L.LightningModule,
        outputs: Any,
        batch: Any,
        batch_idx: int,
        dataloader_idx: int = 0,
    ) -> None:
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
        writer = tensorboard_writer(trainer)
        if writer is None or self._sample is None or trainer.sanity_checking:
            return
        activity = first_sample(*batch_activity(pl_module, self._sample.to(pl_module.device)), self._label)
        for name, fig in activity_figures(activity, self.max_neurons, self.sort_by_rate).items():
            writer.add_figure(f"raster/{name}", fig, trainer.global_step, close=True)


class HealthMonitor(L.Callback):
    """Stop runs that cannot learn; warn once per layer when its probes leave the healthy ranges.

    Stops training (:class:`brain_ai.errors.TrainingStopped`, naming the cause and what to try)
    at the step where it sees, before a checkpoint of the broken model can be saved:

    * non-finite weights;
    * divergence: a training loss above ``divergence_factor`` times the first step's loss
      (``None`` disables);

    These two are recorded at every step on the device, without a host sync, and read (one sync)
    on the steps the warnings are due (``every_n_steps``, and step 1) and on the last batch of every
    epoch, before its validation and checkpoints; the message names the first bad step.
    * a dead network: every neuron of every spiking layer silent -- or every one firing at every
      step -- on all of the first ``dead_steps`` training steps (or the whole first epoch, if
      shorter); ``0`` disables.
    * a stuck output layer: on the last training batch of ``stuck_epochs`` epochs in a row -- or
      of the run's last epoch, so short runs are checked at their end -- every sample gets the
      same prediction and the output layer is silent, or some output neurons fire at (almost)
      every step and the others never (``optim.lr`` far too high), or a membrane readout gives
      the same values for every sample. A silent output is stopped only after ``stuck_epochs``
      epochs in a row, not at the end of a shorter run (first-spike codes start silent). Checked before the epoch's validation, so no
      checkpoint of that epoch is written; ``0`` disables.

    Warnings: every ``every_n_steps`` training steps after ``warmup_steps``; the warning names the
    layer, the probe values and what to try (on rank 0 only).
    """

    def __init__(
        self,
        every_n_steps: int = 50,
        warmup_steps: int = 0,
        divergence_factor: Optional[float] = 100.0,
        dead_steps: int = 20,
        stuck_epochs: int = 2,
    ) -> None:
        if every_n_steps < 1:
            raise ValueError(f"HealthMonitor.every_n_steps={every_n_steps} must be >= 1")
        if divergence_factor is not None and not divergence_factor > 1:
            raise ValueError(f"HealthMonitor.divergence_factor={divergence_factor} must be > 1 (or null to disable)")
        if dead_steps < 0:
            raise ValueError(f"HealthMonitor.dead_steps={dead_steps} must be >= 0 (0 disables the check)")
        if stuck_epochs < 0:
            raise ValueError(f"HealthMonitor.stuck_epochs={stuck_epochs} must be >= 0 (0 disables the check)")
        self.every_n_steps = every_n_steps
        self.warmup_steps = warmup_steps
        self.divergence_factor = divergence_factor
        self.dead_steps = dead_steps
        self.stuck_epochs = stuck_epochs
        self._stuck_in_a_row = 0  # epochs in a row whose last training batch got one output for every sample
        self.warned: Set[str] = set()
        self.ranges = HEALTHY_RANGES
        self.first_loss: Optional[Tensor] = None  # () the first training loss, on its device
        self._bad_weights = DeferredCheck()
        self._diverged = DeferredCheck()
        self._fired: Dict[str, Tensor] = {}  # layer -> () bool: some neuron spiked on some probed step
        self._rested: Dict[str, Tensor] = {}  # layer -> () bool: some neuron was silent on some step
        self._dead_checked = False

    def on_train_batch_end(
        self, trainer: L.Trainer, pl_module: L.LightningModule, outputs: Any, batch: Any, batch_idx: int
    ) -> None:
        step = trainer.global_step
        last_of_epoch = batch_idx + 1 >= getattr(trainer, "num_training_batches", float("inf"))
        self._record_weights(step, pl_module)
        self._record_divergence(step, outputs)
        if _is_due(step, self.every_n_steps) or last_of_epoch:
            self._stop_on_bad_weights(pl_module)
            self._stop_on_divergence(pl_module)
        warn_due = step >= self.warmup_steps and _is_due(step, self.every_n_steps)
        dead_due = self.dead_steps > 0 and not self._dead_checked
        stuck_due = self.stuck_epochs > 0 and last_of_epoch
        if not (warn_due or dead_due or stuck_due):
            return
        out = probe_training_batch(trainer, pl_module, batch, batch_idx)
        if dead_due:
            self._stop_on_dead_network(step, pl_module, out.probes, final=step >= self.dead_steps or last_of_epoch)
        if stuck_due:
            mask = split_batch(batch)[2]
            self._stop_on_stuck_output(trainer, pl_module, out.output, _same_prediction(pl_module, out.output, mask))
        if warn_due:
            self._check(out.probes)

    def _record_weights(self, step: int, pl_module: L.LightningModule) -> None:
        sums = [p.detach().float().sum() for p in pl_module.parameters()]  # NaN / Inf anywhere reaches the sum
        if sums:
            stacked = torch.stack(sums)
            self._bad_weights.update(~torch.isfinite(stacked).all(), stacked, step)

    def _stop_on_bad_weights(self, pl_module: L.LightningModule) -> None:
        found = self._bad_weights.read()
        if found is None:
            return
        bad = [name for name, p in pl_module.named_parameters() if not bool(torch.isfinite(p).all())]
        raise TrainingStopped(
            f"training stopped at step {found[0]}: non-finite weights in {', '.join(bad[:3])}{' ...' if len(bad) > 3 else ''} "
            f"(the model diverged). Try a lower optim.lr{_now(pl_module, 'optim_cfg', 'lr')}, gradient clipping "
            f"(trainer.gradient_clip_val=1.0), or debug=default to find the first NaN"
        )

    def _record_divergence(self, step: int, outputs: Any) -> None:
        loss = outputs.get("loss") if isinstance(outputs, dict) else outputs
        if self.divergence_factor is None or not isinstance(loss, Tensor):
            return
        loss = loss.detach().float().reshape(())
        if self.first_loss is None:
            self.first_loss = loss
            return
        bad = loss.abs() > self.divergence_factor * self.first_loss.abs().clamp_min(1e-12)
        self._diverged.update(bad, torch.stack([loss, self.first_loss]), step)

    def _stop_on_divergence(self, pl_module: L.LightningModule) -> None:
        found = self._diverged.read()
        if found is None:
            return
        step, (value, first) = found
        raise TrainingStopped(
            f"training stopped at step {step}: the training loss {value:.4g} is more than "
            f"callbacks.health.divergence_factor={self.divergence_factor:g} times its first value {first:.4g} "
            f"(divergence). Try a lower optim.lr{_now(pl_module, 'optim_cfg', 'lr')}, gradient clipping "
            f"(trainer.gradient_clip_val=1.0), or a larger callbacks.health.divergence_factor"
        )

    def _stop_on_dead_network(
        self, step: int, pl_module: L.LightningModule, probes: Dict[str, Dict[str, Tensor]], final: bool
    ) -> None:
        for layer, values in probes.items():
            rate = torch.as_tensor(values["firing_rate"])
            self._fired[layer] = self._fired.get(layer, torch.zeros((), dtype=torch.bool, device=rate.device)) | (
                rate > 0.0
            )
            self._rested[layer] = self._rested.get(layer, torch.zeros((), dtype=torch.bool, device=rate.device)) | (
                rate < 1.0
            )
        if not final:
            return
        self._dead_checked = True
        layers = ", ".join(self._fired)
        flags = torch.stack([*self._fired.values(), *self._rested.values()]).tolist() if self._fired else []
        fired, rested = flags[: len(self._fired)], flags[len(self._fired) :]
        if fired and not any(fired):
            raise TrainingStopped(
                f"training stopped at step {step}: every neuron ({layers}) stayed silent for the first {step} training steps, "
                f"so no spike and almost no gradient reaches the output (a dead network). Try a lower "
                f"snn.neuron.threshold{_now(pl_module, 'snn_cfg', 'neuron', 'threshold')}, a larger input gain "
                f"(encoding.rate_gain), or a wider surrogate (snn.neuron.surrogate_alpha); callbacks.health.dead_steps=0 "
                f"disables this check"
            )
        if rested and not any(rested):
            raise TrainingStopped(
                f"training stopped at step {step}: every neuron ({layers}) fired at every time step for the first {step} "
                f"training steps (a saturated network carries no information). Try a higher "
                f"snn.neuron.threshold{_now(pl_module, 'snn_cfg', 'neuron', 'threshold')}, snn.neuron.reset=subtract, or a "
                f"lower input gain (encoding.rate_gain); callbacks.health.dead_steps=0 disables this check"
            )

    def _stop_on_stuck_output(
        self, trainer: L.Trainer, pl_module: L.LightningModule, output: Tensor, same_prediction: bool
    ) -> None:
        """``output (B, T, C)``: the output layer's sequence on an epoch's last training batch, decoded to
        one prediction for every sample (``same_prediction``) or not."""
        stuck = _stuck_output(output) if same_prediction else ""
        self._stuck_in_a_row = self._stuck_in_a_row + 1 if stuck else 0
        epoch = trainer.current_epoch
        max_epochs = getattr(trainer, "max_epochs", None)
        # a silent output at the end of a short run is no verdict: first-spike codes start silent
        last_epoch = (
            max_epochs is not None and max_epochs > 0 and epoch + 1 >= max_epochs and not stuck.startswith(_SILENT)
        )
        if not stuck or (self._stuck_in_a_row < self.stuck_epochs and not last_epoch):
            return
        when = (
            f"the last training batch of {self._stuck_in_a_row} epochs in a row"
            if self._stuck_in_a_row > 1
            else "the last training batch of the run"
        )
        raise TrainingStopped(
            f"training stopped at epoch {epoch} (step {trainer.global_step}): {stuck} on {when}, so every input gets "
            f"the same prediction (chance level). Try a lower optim.lr{_now(pl_module, 'optim_cfg', 'lr')}, gradient clipping "
            f"(trainer.gradient_clip_val=1.0) or a lower snn.neuron.threshold{_now(pl_module, 'snn_cfg', 'neuron', 'threshold')}; "
            f"callbacks.health.stuck_epochs=0 disables this check"
        )

    @rank_zero_only
    def _check(self, probes: Dict[str, Dict[str, Tensor]]) -> None:
        for layer, values in probes.items():
            if layer in self.warned:
                continue
            problems = check_health(values, layer=layer)
            if problems:
                self.warned.add(layer)
                for problem in problems:
                    log.warning("SNN health: %s", problem)


_SILENT = "every output neuron"


def _same_prediction(pl_module: L.LightningModule, output: Tensor, mask: Optional[Tensor]) -> bool:
    """True iff the module's decoder makes one prediction (class or estimate) of every sample of ``output``."""
    decoded = pl_module.decoder(output, mask)
    value = decoded.prediction if isinstance(decoded, ClassificationOutput) else decoded.estimate
    return bool((value == value[:1]).all())


def _stuck_output(output: Tensor, saturated: float = LossConfig.saturation_threshold) -> str:
    """How an output ``(B, T, *C)`` of a batch carries no information about its input, or ``""``.

    Spiking output: every neuron silent on the whole batch, or firing on at least ``saturated``
    of its ``B * T`` steps (the rest silent). Any other output (membrane readout): the same
    values for every sample. One sample (B = 1) tells nothing.
    """
    if output.shape[0] < 2:
        return ""
    if not bool(((output == 0) | (output == 1)).all()):
        return "the output layer gave the same values for every sample" if bool((output == output[:1]).all()) else ""
    rates = output.float().mean((0, 1)).flatten()  # (C,) per output neuron
    fired = int((rates >= saturated).sum())
    if int((rates == 0).sum()) + fired < rates.numel():
        return ""
    if not fired:
        return f"{_SILENT} ({rates.numel()}) stayed silent"
    return f"{fired} of {rates.numel()} output neurons fired at (almost) every step and the others stayed silent"


def _now(module: Any, *path: str) -> str:
    """`` (now <value>)`` of a config attribute of the module, or ``""`` when it has none."""
    value: Any = module
    for name in path:
        value = getattr(value, name, None)
    return "" if value is None else f" (now {value:g})" if isinstance(value, (int, float)) else f" (now {value})"


class LayerSummary(ModelSummary):
    """Lightning's table of layers and parameter counts, logged once at the start of fitting,
    without its FLOPs column and ``Total FLOPs`` line: Lightning counts FLOPs only for a module
    with an ``example_input_array``, which brain_ai's have not, so they always read 0."""

    @staticmethod
    def summarize(
        summary_data: list,
        total_parameters: int,
        trainable_parameters: int,
        model_size: float,
        total_training_modes: Dict[str, int],
        total_flops: int,
        **summarize_kwargs: Any,
    ) -> None:
        columns = [column for column in summary_data if column[0] != "FLOPs"]
        table = _format_summary_table(
            total_parameters, trainable_parameters, model_size, total_training_modes, total_flops, *columns
        )
        log.info("\n%s", table.rsplit("\n", 1)[0])  # the last line is the FLOPs total
