"""``train(cfg)`` and ``evaluate(cfg)``: the importable, testable bodies of train.py / evaluate.py.

Both take a composed Hydra config (see ``configs/``), validate everything *before* any training
(bad values raise :class:`brain_ai.config.ConfigError` naming the field; :func:`brain_ai.app.run_spec.run_spec`
reads the config once into typed values), and return plain-float metrics (``train``: a
:class:`TrainResult`, which also holds what it built).
"""

from __future__ import annotations

import contextlib
import logging
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

import lightning as L
import torch
from hydra.utils import instantiate
from lightning.pytorch.callbacks import ModelSummary, ProgressBar
from omegaconf import DictConfig

from brain_ai.app.run_guard import AtomicCheckpointIO, RunLock
from brain_ai.app.run_spec import RunSpec, run_spec
from brain_ai.app.safe_files import check_writable, refuse_overwriting_input, write_json_atomic
from brain_ai.config import ConfigError, DataConfig, from_dict
from brain_ai.config.keys import check_target_keys
from brain_ai.config.run_config import RunSettings
from brain_ai.config.validate import (  # noqa: F401 (resolve_configs: public here too)
    SchemaGroups,
    efficiency_config,
    resolve_configs,
    run_settings,
    seed_of,
    validate_config,
)
from brain_ai.core.neurons.psn import check_stream_window
from brain_ai.data import BrainDataModule, build_datamodule
from brain_ai.data.ragged import split_batch
from brain_ai.errors import InputFileError, TrainingInterrupted
from brain_ai.interop.nir import lit_module_from_nir
from brain_ai.metrics.efficiency import EfficiencyMeter
from brain_ai.training.checkpoints import (
    RESUME_KEYS,
    RemoteCheckpoints,
    check_resume_compatible,
    load_checkpoint,
    local_checkpoint,
)
from brain_ai.training.module import FIT_STAGES, SNNLitModule
from brain_ai.training.plots import save_activity_pngs
from brain_ai.training.run_history import HistoryCSVLogger, save_run_config

log = logging.getLogger(__name__)

#: the final metrics of a training run, as JSON, in its run folder (what train() returns)
METRICS_FILE = "metrics.json"


def build_model(
    cfg: DictConfig, datamodule: Optional[BrainDataModule] = None, groups: Optional[SchemaGroups] = None
) -> Tuple[SNNLitModule, BrainDataModule]:
    """The LightningModule and DataModule of a composed config, all checks done first (:func:`run_spec`:
    fields, their fit with each other and the data, the network's sizes; ``snn.memory_budget_mb``
    becomes ``snn.checkpoint_every``, logged). ``datamodule``: one already built from ``cfg.data``;
    ``groups``: ``validate_config(cfg)``'s result, where the caller has it (:func:`run_spec`)."""
    spec = run_spec(cfg, groups)
    dm = datamodule if datamodule is not None else build_datamodule(spec.data)
    return build_module(spec, dm.train_batch_transform()), dm


def build_module(spec: RunSpec, batch_transform: Optional[torch.nn.Module] = None) -> SNNLitModule:
    """The :class:`SNNLitModule` of ``spec``; ``batch_transform``: the data's training transform
    (``BrainDataModule.train_batch_transform()``)."""
    return SNNLitModule(
        snn=spec.snn,
        encoding=spec.encoding,
        decoding=spec.decoding,
        loss=spec.loss,
        optim=spec.optim,
        num_outputs=spec.info.num_outputs,
        task=spec.info.task,
        seed=spec.seed,
        data=spec.data,
        value_sequence=spec.info.is_value_sequence,
        batch_transform=batch_transform,
    )


def _instantiate_list(node: Optional[DictConfig]) -> List[Any]:
    if not node:
        return []
    return [instantiate(v) for v in node.values() if v is not None and "_target_" in v]


#: trainer flags that switch a kind of callback off: Lightning rejects a progress bar callback under
#: enable_progress_bar=false, and would still run a model summary callback under enable_model_summary=false
_CALLBACK_SWITCHES = {"enable_progress_bar": ProgressBar, "enable_model_summary": ModelSummary}


def _enabled_callbacks(callbacks: List[Any], trainer_cfg: DictConfig) -> List[Any]:
    """``callbacks`` less those of a kind that the trainer config switches off (:data:`_CALLBACK_SWITCHES`)."""
    off = tuple(kind for flag, kind in _CALLBACK_SWITCHES.items() if not trainer_cfg.get(flag, True))
    return [c for c in callbacks if not (off and isinstance(c, off))]


def metrics_table(metrics: Dict[str, float], title: str = "metrics") -> str:
    """A fixed-width two-column table of metrics (also printed by train.py / evaluate.py)."""
    if not metrics:
        return f"{title}: (none)"
    width = max(len(k) for k in metrics)
    lines = [title, "-" * (width + 14)]
    lines += [f"{k:<{width}}  {v:>12.6g}" for k, v in sorted(metrics.items())]
    return "\n".join(lines)


def _as_floats(metrics: Dict[str, Any]) -> Dict[str, float]:
    return {k: float(v) for k, v in metrics.items()}


def _checkpoint_file(settings: RunSettings) -> contextlib.AbstractContextManager:
    """``settings.ckpt_path`` as a local file (:func:`local_checkpoint`): a URL is downloaded only with
    ``allow_remote_ckpt=true``, within ``remote_ckpt_timeout_s`` and ``remote_ckpt_max_mb``."""
    remote = RemoteCheckpoints(settings.allow_remote_ckpt, settings.remote_ckpt_timeout_s, settings.remote_ckpt_max_mb)
    return local_checkpoint(settings.ckpt_path, remote)


def interrupted_message(trainer: L.Trainer) -> str:
    """When training was interrupted and where its last checkpoint is (the file to resume from)."""
    ckpt = trainer.checkpoint_callback
    last = (ckpt.last_model_path or ckpt.best_model_path) if ckpt else ""
    where = (
        f"its last checkpoint is {last} (resume with ckpt_path={last})"
        if last and Path(last).is_file()
        else "no checkpoint was written yet"
    )
    return f"training interrupted (Ctrl-C) at epoch {trainer.current_epoch}, step {trainer.global_step}; {where}"


def run_stage(trainer: L.Trainer, stage: Any, *args: Any, **kwargs: Any) -> None:
    """``stage(*args, **kwargs)`` (``trainer.fit`` / ``trainer.test``); a Ctrl-C, which Lightning
    catches (then exits, or returns), raises :class:`~brain_ai.errors.TrainingInterrupted`."""
    try:
        stage(*args, **kwargs)
    except SystemExit:
        if not trainer.interrupted:
            raise
        raise TrainingInterrupted(interrupted_message(trainer)) from None
    if trainer.interrupted:
        raise TrainingInterrupted(interrupted_message(trainer))


class TrainResult(Dict[str, float]):
    """What :func:`train` built and measured, as lightning-hydra-template's ``train()`` returns
    its metric and object dicts: it reads as the metrics (every logged metric as a float:
    ``result["val/acc"]``) and holds the ``module``, ``datamodule`` and ``trainer`` of the run."""

    def __init__(
        self, metrics: Dict[str, float], module: SNNLitModule, datamodule: BrainDataModule, trainer: L.Trainer
    ) -> None:
        super().__init__(metrics)
        self.module = module
        self.datamodule = datamodule
        self.trainer = trainer

    @property
    def metrics(self) -> Dict[str, float]:
        """The metrics as a plain dict."""
        return dict(self)


def train(
    cfg: DictConfig, extra_callbacks: Sequence[L.Callback] = (), groups: Optional[SchemaGroups] = None
) -> TrainResult:
    """Fit, then test with the best checkpoint. Returns a :class:`TrainResult`: all logged metrics as
    floats (also written to ``<run dir>/metrics.json``, :data:`METRICS_FILE`), and the module, data
    module and trainer it built.

    ``extra_callbacks`` are added to the config's (``sweep.py`` adds its trial's pruning callback).
    ``groups``: ``validate_config(cfg)``'s result where the caller ran it already (``train.py`` does,
    before importing Lightning), so that the config becomes dataclasses once; None validates here.

    ``cfg.ckpt_path`` resumes an interrupted run (a local file; a URL only with
    ``cfg.allow_remote_ckpt``); every checkpoint is loaded with ``weights_only=True``.
    ``cfg.optimized_metric`` names the value that ``train.py`` returns to sweepers.
    """
    settings = run_settings(cfg)
    L.seed_everything(settings.seed, workers=True)
    model, dm = build_model(cfg, groups=groups)
    check_optimized_metric(settings.optimized_metric, model)
    with contextlib.ExitStack() as stack:
        ckpt_file = resumed = None
        if settings.ckpt_path:
            ckpt_file = stack.enter_context(_checkpoint_file(settings))
            resumed = load_checkpoint(ckpt_file, need=RESUME_KEYS)
            check_resume_compatible(
                resumed,
                ckpt_file,
                model,
                model.hparams,
                settings.resume_allow_changes,
                max_epochs=cfg.trainer.get("max_epochs"),
            )
        callbacks = _enabled_callbacks(_instantiate_list(cfg.callbacks), cfg.trainer) + list(extra_callbacks)
        loggers = _instantiate_list(cfg.logger)
        trainer: L.Trainer = instantiate(
            cfg.trainer, callbacks=callbacks, logger=loggers or False, plugins=[AtomicCheckpointIO()]
        )
        run_dir = check_writable(trainer.default_root_dir, "paths.output_dir")
        ckpt_dir = _checkpoint_dir(trainer, run_dir)
        if ckpt_dir:
            check_writable(ckpt_dir, "callbacks.model_checkpoint.dirpath")
        log_dirs = [logger.log_dir for logger in trainer.loggers if getattr(logger, "log_dir", None)]
        stack.enter_context(RunLock(run_dir, ckpt_dir, resume_from=ckpt_file, also=log_dirs))
        if resumed is not None:
            for logger in trainer.loggers:
                if isinstance(logger, HistoryCSVLogger):
                    logger.resume_from_step(resumed["global_step"])
        if trainer.is_global_zero:
            save_run_config(cfg, run_dir)
        run_stage(
            trainer,
            trainer.fit,
            model,
            datamodule=dm,
            ckpt_path=str(ckpt_file) if ckpt_file else None,
            weights_only=True,
        )
        metrics = _as_floats(trainer.callback_metrics)
        if settings.test:
            best = trainer.checkpoint_callback.best_model_path if trainer.checkpoint_callback else ""
            run_stage(trainer, trainer.test, model, datamodule=dm, ckpt_path=best or None, weights_only=True)
            metrics.update(_as_floats(trainer.callback_metrics))
            log.info("tested %s", best or "the final weights (no checkpoint callback)")
        if trainer.is_global_zero:
            write_json_atomic(run_dir / METRICS_FILE, metrics, field=METRICS_FILE)
    if trainer.is_global_zero:
        print(metrics_table(metrics, title=f"final metrics ({settings.task_name})"))
    return TrainResult(metrics, model, dm, trainer)


def _checkpoint_dir(trainer: L.Trainer, run_dir: Path) -> Optional[Path]:
    """The trainer's checkpoint folder; Lightning's default callback (``callbacks=none``) is pinned
    to ``<run dir>/checkpoints``, as configured ones are, instead of a folder under the first logger's."""
    callback = trainer.checkpoint_callback
    if callback is None:
        return None
    if callback.dirpath is None:
        callback.dirpath = str(run_dir / "checkpoints")
    return Path(callback.dirpath)


def check_optimized_metric(name: Optional[str], model: SNNLitModule) -> None:
    """``optimized_metric`` must be a metric the run logs while fitting (the checkpoint callback
    monitors it; :meth:`SNNLitModule.logged_metrics` of the fit stages), checked before training."""
    logged = model.logged_metrics(FIT_STAGES)
    if name is not None and name not in logged:
        raise ConfigError(
            f"optimized_metric={name!r} is never logged while fitting this run; allowed: {', '.join(logged)} (or null)"
        )


def optimized_value(cfg: DictConfig, metrics: Mapping[str, float]) -> Optional[float]:
    """The metric named by ``cfg.optimized_metric`` (error listing available names if missing)."""
    name = run_settings(cfg).optimized_metric
    if not name:
        return None
    if name not in metrics:
        raise KeyError(f"optimized_metric={name!r} was not logged; available: {sorted(metrics)}")
    return metrics[name]


def probe_report(
    model: SNNLitModule, dm: L.LightningDataModule, max_batches: int = 4, meter: Optional[EfficiencyMeter] = None
) -> Dict[str, Dict[str, float]]:
    """Average per-layer probes of the model over up to ``max_batches`` test batches; ``meter``
    (if given) counts the operations of the same forwards."""
    sums: Dict[str, Dict[str, float]] = {}
    n = 0
    for i, batch in enumerate(dm.test_dataloader()):
        if i >= max_batches:
            break
        x, _, mask = split_batch(batch)
        mask = None if mask is None else mask.to(model.device)
        out = model.probe(x.to(model.device), mask)
        if meter is not None:
            meter.update(out, mask)
        for layer, probes in out.probes.items():
            acc = sums.setdefault(layer, {})
            for key, value in probes.items():
                acc[key] = acc.get(key, 0.0) + float(value)
        n += 1
    return {layer: {k: v / max(n, 1) for k, v in probes.items()} for layer, probes in sums.items()}


def probe_table(report: Dict[str, Dict[str, float]]) -> str:
    """Per-layer probe report as a text table (layers as rows)."""
    if not report:
        return "probe report: (no spiking layers)"
    keys = list(next(iter(report.values())).keys())
    header = f"{'layer':<8}" + "".join(f"{k:>22}" for k in keys)
    rows = [f"{layer:<8}" + "".join(f"{values[k]:>22.4g}" for k in keys) for layer, values in report.items()]
    return "\n".join(["probe report", header, *rows])


def evaluate(cfg: DictConfig) -> Dict[str, Any]:
    """Test a saved checkpoint (or a ``.nir`` file exported from one) and report per-layer probes and
    the efficiency estimate (:mod:`brain_ai.metrics.efficiency`, over the probes' forwards of the
    first test batches; energy constants ``cfg.efficiency``); optionally write them to JSON, with raster and firing-rate histogram PNGs of the first test batch
    next to it (``payload["figures"]``). ``cfg.stream_window = W`` streams every test input through
    the network in windows of W steps.

    The checkpoint is a local file (a URL only with ``cfg.allow_remote_ckpt``), loaded with
    ``weights_only=True``.
    """
    validate_config(cfg)
    check_target_keys(cfg)
    settings = run_settings(cfg)
    L.seed_everything(settings.seed, workers=True)
    if settings.output_json:  # fail before the evaluation, not after it
        refuse_overwriting_input(settings.output_json, "output_json", {"ckpt_path": settings.ckpt_path})
        check_writable(Path(settings.output_json).expanduser().parent, "output_json folder")
    with _checkpoint_file(settings) as ckpt:
        if Path(settings.ckpt_path).suffix == ".nir":  # a network exported with brain_ai.interop.nir (docs/nir.md)
            try:
                model = lit_module_from_nir(ckpt)
            except ConfigError:  # names the file already
                raise
            except ValueError as err:  # NIRImportError, a graph without brain_ai's training metadata
                raise InputFileError(
                    str(err) if str(ckpt) in str(err) else f"ckpt_path={settings.ckpt_path!r}: {err}"
                ) from None
        else:
            load_checkpoint(ckpt)
            model = SNNLitModule.load_from_checkpoint(str(ckpt), map_location="cpu", weights_only=True)
    check_stream_window(model.snn_cfg, settings.stream_window)
    model.stream_window = settings.stream_window
    data_dict = dict(model.hparams.data or {})
    if settings.data_root:
        data_dict["root"] = settings.data_root
    data_dict["download"] = False  # a file's hparams never make evaluate.py fetch data
    dm = build_datamodule(from_dict(DataConfig, data_dict))
    try:
        dm.setup("test")
    except FileNotFoundError as err:
        raise FileNotFoundError(
            f"evaluate.py never downloads data (the checkpoint's data.download setting is ignored): pass "
            f"data_root=<the folder that holds the files>, or fetch them first with train.py. {err}"
        ) from None
    loggers = _instantiate_list(cfg.logger)
    trainer: L.Trainer = instantiate(cfg.trainer, logger=loggers or False, callbacks=[])
    results = trainer.test(model, datamodule=dm)
    metrics = _as_floats(results[0] if results else {})
    meter = EfficiencyMeter(model.net)
    report = probe_report(model, dm, meter=meter)
    efficiency = meter.compute(efficiency_config(cfg))
    name = Path(settings.ckpt_path).name
    print(metrics_table(metrics, title=f"test metrics ({name})"))
    print(probe_table(report))
    print(efficiency.table())
    payload = {
        "checkpoint": settings.ckpt_path,
        "metrics": metrics,
        "probes": report,
        "efficiency": efficiency.to_dict(),
    }
    if settings.output_json:
        out = Path(settings.output_json).expanduser()
        payload["figures"] = save_activity_pngs(model, next(iter(dm.test_dataloader())), out.parent, prefix=out.stem)
        write_json_atomic(out, payload)
    return payload
