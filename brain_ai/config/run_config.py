"""The top-level settings of ``train.py``, ``evaluate.py`` and ``export.py`` (stdlib only).

Each primary config (``configs/train.yaml``, ``evaluate.yaml``, ``export.yaml``) is read through
one of these dataclasses: :func:`brain_ai.config.hydra_store.register_configs` stores it as the
config's Hydra schema (so ``allow_remote_ckpt=maybe`` or ``seed=abc`` fails when Hydra
composes, and a YAML value of the wrong type too), the defaults below are the only ones, and
:func:`brain_ai.config.validate.run_settings` turns a composed config into the validated instance the
code reads. ``__post_init__`` checks types strictly (a bool is ``true`` / ``false``, never a
string) and ranges, raising :class:`~brain_ai.config.ConfigError` naming the key, the value and
what is allowed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from brain_ai.config import ConfigError, check_field_types, check_range

#: the value of a setting that must be given (OmegaConf's ``MISSING``: composing leaves it unset
#: and :func:`brain_ai.config.validate.validate_config` names it)
REQUIRED = "???"
#: ``optimized_mode`` values: the checkpoint callback / sweepers maximise or minimise the metric
OPTIMIZED_MODES = ("max", "min")


@dataclass
class RunSettings:
    """Settings that ``train.py`` and ``evaluate.py`` share."""

    #: names the output folder (``outputs/<task_name>/...``); experiments set their own
    task_name: str = "run"
    #: global seed (torch, numpy, python, data-loader workers), >= 0
    seed: int = 42
    #: keep large freed blocks for reuse (glibc on Linux; see brain_ai/app/allocator.py): CPU steps stop
    #: re-faulting their activations page by page; false leaves the C allocator as it is
    allocator_reuse: bool = True
    #: train: resume an interrupted run from this checkpoint (e.g. ``<run dir>/checkpoints/last.ckpt``);
    #: evaluate: the checkpoint to evaluate, or a ``.nir`` file exported from one
    ckpt_path: Optional[str] = None
    #: a ckpt_path that is a URL is refused unless this is true (it is then downloaded and still
    #: loaded as data only, ``torch.load(weights_only=True)``)
    allow_remote_ckpt: bool = False
    #: limits of that download: seconds it may take in all (connecting included), and the largest
    #: file accepted, in MiB; the URL is refused past either (> 0: :class:`brain_ai.training.checkpoints.RemoteCheckpoints`)
    remote_ckpt_timeout_s: float = 300.0
    remote_ckpt_max_mb: float = 2048.0

    def __post_init__(self) -> None:
        check_field_types("", self)
        check_range("", "seed", self.seed, low=0, integer=True)


@dataclass
class TrainSettings(RunSettings):
    """Top-level settings of ``python train.py`` (``configs/train.yaml``)."""

    task_name: str = "train"
    #: resuming a checkpoint whose network / codec / loss settings differ from this run's is refused
    #: (listing the differences) unless this is true; a learning-rate schedule re-plans itself over a
    #: longer trainer.max_epochs either way
    resume_allow_changes: bool = False
    #: test with the best checkpoint after fitting
    test: bool = True
    #: metric returned to sweepers (Optuna, ...) and monitored by the checkpoint callback, which
    #: tests the best checkpoint by it: one the run logs while fitting (``train/...`` or ``val/...``);
    #: null returns nothing to sweepers
    optimized_metric: Optional[str] = "val/acc"
    #: max (accuracy) or min (errors, e.g. val/mse)
    optimized_mode: str = "max"

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.optimized_mode not in OPTIMIZED_MODES:
            raise ConfigError(
                f"optimized_mode={self.optimized_mode!r} is not a valid choice; allowed: {', '.join(OPTIMIZED_MODES)}"
            )


@dataclass
class EvaluateSettings(RunSettings):
    """Top-level settings of ``python evaluate.py ckpt_path=...`` (``configs/evaluate.yaml``). The
    network, codec and data settings come from the checkpoint."""

    task_name: str = "evaluate"
    ckpt_path: str = REQUIRED
    #: where data sets live on this machine (overrides the checkpoint's data.root)
    data_root: Optional[str] = "${paths.data_dir}"
    #: write the test metrics and the probe report to this JSON file (null = don't)
    output_json: Optional[str] = None
    #: stream every test input through the network in windows of this many steps with carried state
    #: (the same predictions as one pass; bounded memory for long inputs); null = one pass
    stream_window: Optional[int] = None

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.stream_window is not None:
            check_range("", "stream_window", self.stream_window, low=1, integer=True)


@dataclass
class ExportSettings:
    """Top-level settings of ``python export.py ckpt_path=... output=model.nir``
    (``configs/export.yaml``; :func:`brain_ai.interop.nir.export_file`)."""

    task_name: str = "export"
    #: training checkpoint to export
    ckpt_path: str = REQUIRED
    #: .nir file to write (written to a temporary file, then renamed)
    output: str = REQUIRED
    #: seconds per brain_ai time step (null = brain_ai.interop.nir.DEFAULT_DT); sets NIR's time constants
    dt: Optional[float] = None
    #: export features NIR cannot express as the nearest graph (with a warning listing them) instead of refusing
    approximate: bool = False

    def __post_init__(self) -> None:
        check_field_types("", self)
        if self.dt is not None:
            check_range("", "dt", self.dt, low=0.0, low_inclusive=False)
