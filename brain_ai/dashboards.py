"""TensorBoard dashboards beyond plain scalars: the HParams row of a run and grouped probe charts.

* :class:`HParamsLogger` makes every run one row of TensorBoard's HParams tab: its flattened
  config (``snn.neuron.beta``, ``encoding.type``, ``optim.lr``, ...; the keys a sweep overrides)
  when fitting starts, and its final metrics (``val/acc``, ``val/loss``, ``test/acc``, ..., and the
  efficiency totals ``efficiency/total/synops`` and ``efficiency/total/energy_ratio``) when
  fitting and testing end. Open a multirun or Optuna sweep directory in TensorBoard and the HParams
  tab lists one row per job, the hyper-parameters that differ between jobs first.
* :class:`ScalarsLayoutLogger` writes a Custom Scalars layout at the start of the run: per spiking
  layer one chart with the dead and saturated fractions and one with the firing rate, each titled
  with the healthy range that :class:`brain_ai.callbacks.HealthMonitor` checks; and charts of the
  total loss, the loss terms and the accuracy-type metrics.

Both write only on rank 0 and only where a TensorBoard logger is configured.
"""

from __future__ import annotations

import os
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Union

import lightning as L
from lightning.pytorch.utilities import rank_zero_only

from brain_ai.callbacks import HealthMonitor, _tensorboard
from brain_ai.core.neurons import LeakyIntegrator
from brain_ai.core.probes import HEALTHY_RANGES, HealthyRange

HParamValue = Union[int, float, str]

#: the run directory (under the logger's) that holds the HParams session and its final metrics
HPARAMS_SUBDIR = "hparams"
#: config groups of the module's hyper-parameters that become HParams columns
HPARAM_GROUPS = ("snn", "encoding", "decoding", "loss", "optim", "data")
#: efficiency totals of the last validation (brain_ai.efficiency_logger) that are HParams metrics
#: beside the val metrics: a sweep's accuracy / cost trade-off in one table
HPARAM_EFFICIENCY = ("efficiency/total/synops", "efficiency/total/energy_ratio")
#: settings that say where and how data are read, not what is learned: no HParams column
HPARAM_EXCLUDED = ("data.root", "data.num_workers", "data.download", "data.cache")


def flatten_hparams(params: Mapping[str, Any], prefix: str = "") -> Dict[str, HParamValue]:
    """Nested config dict -> ``{"snn.neuron.beta": 0.9, ...}`` with the CLI's dotted keys.

    Numbers and strings stay as they are (numbers make sortable, range-filtered columns);
    booleans become ``"true"`` / ``"false"`` (TensorBoard would otherwise show them as 0 / 1),
    lists and tuples their string (``"[256, 128]"``); ``None`` values are left out (an empty cell).
    """
    flat: Dict[str, HParamValue] = {}
    for key, value in params.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(flatten_hparams(value, prefix=f"{name}."))
        elif isinstance(value, bool):
            flat[name] = "true" if value else "false"
        elif isinstance(value, (int, float, str)):
            flat[name] = value
        elif value is not None:
            flat[name] = str(list(value) if isinstance(value, tuple) else value)
    return flat


def run_hparams(pl_module: L.LightningModule, trainer: Optional[L.Trainer] = None) -> Dict[str, HParamValue]:
    """The run's HParams columns: the module's config groups (less :data:`HPARAM_EXCLUDED`), seed
    and task, and the epoch budget."""
    hp = pl_module.hparams
    params: Dict[str, Any] = {group: hp[group] for group in HPARAM_GROUPS if hp.get(group) is not None}
    params.update({key: hp[key] for key in ("seed", "task") if key in hp})
    if trainer is not None and trainer.max_epochs is not None:
        params["trainer"] = {"max_epochs": trainer.max_epochs}
    return {k: v for k, v in flatten_hparams(params).items() if k not in HPARAM_EXCLUDED}


def final_metrics(callback_metrics: Mapping[str, Any], stages: Sequence[str] = ("val", "test")) -> Dict[str, float]:
    """The stage-level metrics of ``stages`` (``val/acc``, ``val/loss``, ``test/mse``, ...; not the
    per-term ``val/loss/<term>``) from a trainer's ``callback_metrics``; with ``val`` also the
    :data:`HPARAM_EFFICIENCY` totals."""
    stage_level = lambda k: k.count("/") == 1 and k.split("/")[0] in stages  # noqa: E731
    return {k: float(v) for k, v in callback_metrics.items() if stage_level(k) or ("val" in stages and k in HPARAM_EFFICIENCY)}


def _write_events(log_dir: str, write: Callable[[Any], None]) -> None:
    """Open a SummaryWriter on ``log_dir``, call ``write(writer)``, close it (a new event file each time)."""
    from torch.utils.tensorboard import SummaryWriter

    writer = SummaryWriter(log_dir=log_dir)
    try:
        write(writer)
    finally:
        writer.close()


class HParamsLogger(L.Callback):
    """Write the run's flattened config and final metrics to TensorBoard's HParams plugin.

    The session (config) goes to ``<logger dir>/hparams`` when fitting starts, the final ``val/*``
    metrics when fitting ends, the ``test/*`` metrics when testing ends (same directory, step =
    the global step), so the HParams columns hold exactly the values the run ended with. Only
    these stage-level metrics are in that directory, so they are the HParams tab's metric columns.
    """

    def __init__(self) -> None:
        self.log_dir: Optional[str] = None

    @rank_zero_only
    def on_fit_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        from torch.utils.tensorboard.summary import hparams

        main = _tensorboard(trainer)
        if main is None:
            return
        self.log_dir = os.path.join(main.get_logdir(), HPARAMS_SUBDIR)
        _, session_start, _ = hparams(run_hparams(pl_module, trainer), {})
        _write_events(self.log_dir, lambda w: w.file_writer.add_summary(session_start))

    def _write_metrics(self, trainer: L.Trainer, stage: str) -> None:
        metrics = final_metrics(trainer.callback_metrics, (stage,))
        if self.log_dir is None or not metrics:
            return

        def write(writer: Any) -> None:
            for name, value in metrics.items():
                writer.add_scalar(name, value, trainer.global_step)

        _write_events(self.log_dir, write)

    @rank_zero_only
    def on_fit_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._write_metrics(trainer, "val")

    @rank_zero_only
    def on_test_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._write_metrics(trainer, "test")


def spiking_layers(net: Any) -> List[str]:
    """Names of the layers of an SNN (``SNNCore`` / ``ConvSNN``) that spike (and so have probes);
    a membrane readout does not."""
    neurons = getattr(net, "neurons", ())  # a non-spiking baseline (brain_ai.core.ann) has none
    return [name for name, neuron in zip(net.layer_names, neurons) if not isinstance(neuron, LeakyIntegrator)]


def _range_text(rng: HealthyRange) -> str:
    return f"healthy below {rng.high:g}" if rng.low <= 0 else f"healthy {rng.low:g} to {rng.high:g}"


def scalars_layout(layers: List[str], ranges: Mapping[str, HealthyRange] = HEALTHY_RANGES) -> Dict[str, Dict[str, list]]:
    """Custom Scalars layout: ``{category: {chart title: ["Multiline", [tag regexes]]}}``.

    One category per layer (dead + saturated fractions, firing rate; titles state the healthy
    ranges of ``ranges``), one for the losses (total train/val, train terms, val terms) and one for
    the stage metrics (accuracy or mse/mae).
    """
    dead, saturated, rate = ranges["dead_frac"], ranges["saturated_frac"], ranges["firing_rate"]
    layout: Dict[str, Dict[str, list]] = {}
    for layer in layers:
        tags = f"probes/{layer}/"
        layout[f"{layer} health"] = {
            f"{layer} dead and saturated fraction (dead: {_range_text(dead)}; saturated: {_range_text(saturated)})": [
                "Multiline", [f"^{tags}dead_frac$", f"^{tags}saturated_frac$"]
            ],
            f"{layer} firing rate ({_range_text(rate)} spikes per step)": ["Multiline", [f"^{tags}firing_rate$"]],
        }
    layout["losses"] = {
        "loss (train, val)": ["Multiline", ["^(train|val)/loss$"]],
        "train loss terms": ["Multiline", ["^train/loss/"]],
        "val loss terms": ["Multiline", ["^val/loss/"]],
    }
    layout["metrics"] = {"accuracy / errors (train, val, test)": ["Multiline", ["^(train|val|test)/(acc|mse|mae)$"]]}
    return layout


class ScalarsLayoutLogger(L.Callback):
    """Write :func:`scalars_layout` for the model's spiking layers when fitting starts.

    The healthy ranges come from the trainer's :class:`~brain_ai.callbacks.HealthMonitor` (its
    ``ranges``) if there is one, else from :data:`brain_ai.core.probes.HEALTHY_RANGES`.
    """

    @rank_zero_only
    def on_fit_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        writer = _tensorboard(trainer)
        if writer is None:
            return
        monitors = [c for c in trainer.callbacks if isinstance(c, HealthMonitor)]
        ranges = getattr(monitors[0], "ranges", HEALTHY_RANGES) if monitors else HEALTHY_RANGES
        writer.add_custom_scalars(scalars_layout(spiking_layers(pl_module.net), ranges))
