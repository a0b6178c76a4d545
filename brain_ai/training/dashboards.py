"""TensorBoard dashboards beyond plain scalars: the HParams row of a run and grouped probe charts.

* :class:`HParamsLogger` makes every run one row of TensorBoard's HParams tab: a short list of
  its settings (``data.name``, ``encoding.type``, ``optim.lr``, ...) plus the keys its command line
  sets (the keys a sweep varies), and its last ``val/*`` and ``test/*`` metrics and efficiency
  totals (``efficiency/total/synops``, ``efficiency/total/energy_ratio``). Open a multirun or
  Optuna sweep directory in TensorBoard and the HParams tab lists one row per job.
* :class:`ScalarsLayoutLogger` writes a Custom Scalars layout at the start of the run: per spiking
  layer one chart with the dead and saturated fractions and one with the firing rate, each titled
  with the healthy range that :class:`brain_ai.training.callbacks.HealthMonitor` checks; and charts of the
  total loss, the loss terms and the accuracy-type metrics.

Both write only on rank 0 and only where a TensorBoard logger is configured.
"""

from __future__ import annotations

from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple, Union

import lightning as L
from lightning.pytorch.utilities import rank_zero_only

from brain_ai.config import execution_only_settings
from brain_ai.core.probes import HEALTHY_RANGES, HealthyRange
from brain_ai.training.callbacks import HealthMonitor, tensorboard_writer

HParamValue = Union[int, float, str]

#: the HParams columns of every run (those its config sets): what a run is, in a few settings; the
#: keys that a run's command line sets (a sweep's varied ones) are added to them
HPARAM_COLUMNS = (
    "data.name",
    "data.batch_size",
    "snn.architecture",
    "snn.hidden_sizes",
    "snn.neuron.type",
    "snn.neuron.beta",
    "snn.neuron.threshold",
    "encoding.type",
    "encoding.num_steps",
    "decoding.type",
    "loss.task_loss",
    "optim.optimizer",
    "optim.lr",
    "trainer.max_epochs",
    "seed",
)
#: config groups of the module's hyper-parameters that hold HParams columns
HPARAM_GROUPS = ("snn", "encoding", "decoding", "loss", "optim", "data")
#: efficiency totals of the last validation (brain_ai.training.efficiency_logger) that are HParams metrics
#: beside the val metrics: a sweep's accuracy / cost trade-off in one table
HPARAM_EFFICIENCY = ("efficiency/total/synops", "efficiency/total/energy_ratio")
#: evaluation stages whose metrics are the HParams metric columns (their last logged values)
METRIC_STAGES = ("val", "test")


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


def run_hparams(
    pl_module: L.LightningModule, trainer: Optional[L.Trainer] = None, columns: Sequence[str] = HPARAM_COLUMNS
) -> Dict[str, HParamValue]:
    """The run's HParams row: the values of ``columns`` (dotted CLI keys) among the module's config
    groups, seed and epoch budget; columns the run leaves unset (``None``) are left out."""
    hp = pl_module.hparams
    params: Dict[str, Any] = {group: hp[group] for group in HPARAM_GROUPS if hp.get(group) is not None}
    params.update({key: hp[key] for key in ("seed", "task") if key in hp})
    if trainer is not None and trainer.max_epochs is not None:
        params["trainer"] = {"max_epochs": trainer.max_epochs}
    flat = flatten_hparams(params)
    return {key: flat[key] for key in columns if key in flat}


def command_line_keys() -> Tuple[str, ...]:
    """The keys that the Hydra job's command line sets (``optim.lr`` of ``optim.lr=1e-3`` or
    ``+optim.lr=...``; a group choice such as ``snn=recurrent`` is its key, ``snn``); ``()`` outside Hydra."""
    from hydra.core.hydra_config import HydraConfig

    if not HydraConfig.initialized():
        return ()
    return tuple(override.split("=", 1)[0].lstrip("+~") for override in HydraConfig.get().overrides.task)


def hparam_columns(columns: Sequence[str], cli_keys: Sequence[str]) -> Tuple[str, ...]:
    """``columns`` plus the command line's keys, less the execution-only settings
    (:func:`~brain_ai.config.execution_only_settings`: how a run is computed, not what it is)."""
    execution_only = execution_only_settings()
    return tuple(columns) + tuple(key for key in cli_keys if key not in columns and key not in execution_only)


def metric_names(pl_module: L.LightningModule) -> List[str]:
    """The HParams metric columns: ``<stage>/loss`` and ``<stage>/<metric>`` of :data:`METRIC_STAGES`
    (``val/acc``, ``test/mse``, ...; the module's ``metrics`` collections name them), then
    :data:`HPARAM_EFFICIENCY` (empty cells without the efficiency callback)."""
    collections = getattr(pl_module, "metrics", {})
    names = ["loss", *(collections["val_metrics"].keys() if "val_metrics" in collections else ())]
    return [f"{stage}/{name}" for stage in METRIC_STAGES for name in names] + list(HPARAM_EFFICIENCY)


class HParamsLogger(L.Callback):
    """Make the run one row of TensorBoard's HParams tab, in the run's own TensorBoard folder.

    When fitting starts, the run's :func:`run_hparams` (:func:`hparam_columns`: :data:`HPARAM_COLUMNS`
    plus the keys its command line sets but its execution-only ones) and the metric columns (:func:`metric_names`)
    are written to the TensorBoard logger's event file; the metric values are the last ``val/*``
    and ``test/*`` scalars the run logs there. No second folder, so every run is listed once and
    its curves are not doubled. TensorBoard takes the columns of a folder of runs from the first
    run it reads: the jobs of a sweep share them.

    Args:
        columns: the HParams columns besides the command line's keys.
    """

    def __init__(self, columns: Sequence[str] = HPARAM_COLUMNS) -> None:
        self.columns = tuple(columns)

    @rank_zero_only
    def on_fit_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        from torch.utils.tensorboard.summary import hparams

        writer = tensorboard_writer(trainer)
        if writer is None:
            return
        columns = hparam_columns(self.columns, command_line_keys())
        experiment, session_start, _ = hparams(
            run_hparams(pl_module, trainer, columns), dict.fromkeys(metric_names(pl_module), 0.0)
        )
        writer.file_writer.add_summary(experiment)
        writer.file_writer.add_summary(session_start)


def spiking_layers(net: Any) -> List[str]:
    """Names of the layers of an SNN (``SNNCore`` / ``ConvSNN``) that spike (and so have probes);
    a membrane readout does not."""
    neurons = getattr(net, "neurons", ())  # a non-spiking baseline (brain_ai.core.ann) has none
    return [name for name, neuron in zip(net.layer_names, neurons) if neuron.spiking]


def _range_text(rng: HealthyRange) -> str:
    return f"healthy below {rng.high:g}" if rng.low <= 0 else f"healthy {rng.low:g} to {rng.high:g}"


def scalars_layout(
    layers: List[str], ranges: Mapping[str, HealthyRange] = HEALTHY_RANGES
) -> Dict[str, Dict[str, list]]:
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
                "Multiline",
                [f"^{tags}dead_frac$", f"^{tags}saturated_frac$"],
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

    The healthy ranges come from the trainer's :class:`~brain_ai.training.callbacks.HealthMonitor` (its
    ``ranges``) if there is one, else from :data:`brain_ai.core.probes.HEALTHY_RANGES`.
    """

    @rank_zero_only
    def on_fit_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        writer = tensorboard_writer(trainer)
        if writer is None:
            return
        monitors = [c for c in trainer.callbacks if isinstance(c, HealthMonitor)]
        ranges = getattr(monitors[0], "ranges", HEALTHY_RANGES) if monitors else HEALTHY_RANGES
        writer.add_custom_scalars(scalars_layout(spiking_layers(pl_module.net), ranges))
