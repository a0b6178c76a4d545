"""What a run folder keeps when a run is resumed in it: its configs and its CSV metrics.

* :func:`save_run_config` -- the first start writes ``.hydra/config.yaml``; every resume writes
  its own resolved config beside it (``.hydra/config.resume<N>.yaml``, same for ``overrides`` and
  ``hydra``), so the settings the earlier epochs were trained with stay readable;
* :func:`latest_run_config` -- the newest of those files, the settings a checkpoint of the run
  was last trained with (named by the "changed settings" refusal on resume);
* :class:`HistoryCSVLogger` -- Lightning's ``CSVLogger``, except that a resumed run keeps the
  earlier epochs' rows of ``metrics.csv`` (Lightning deletes the file) and appends its own.
"""

from __future__ import annotations

import csv
import io
import logging
from pathlib import Path
from typing import Any, Dict, List, Optional

from lightning.fabric.loggers.logger import rank_zero_experiment
from lightning.pytorch.loggers import CSVLogger
from lightning.pytorch.loggers.csv_logs import ExperimentWriter

from brain_ai.app.run_guard import RUN_CONFIG
from brain_ai.app.safe_files import write_atomic

log = logging.getLogger(__name__)

#: the files of ``<run dir>/.hydra`` written per start: ``<stem>.yaml`` first, ``<stem>.resume<N>.yaml`` after
CONFIG_STEMS = ("config", "overrides", "hydra")


def _resume_number(path: Path) -> int:
    """0 for ``config.yaml``, N for ``config.resume<N>.yaml``."""
    suffix = path.stem.partition(".resume")[2]
    return int(suffix) if suffix.isdigit() else 0


def run_configs(run_dir: Path | str) -> List[Path]:
    """``.hydra/config.yaml`` and its ``config.resume<N>.yaml`` of ``run_dir``, oldest first."""
    folder = Path(run_dir) / RUN_CONFIG.parent
    found = [p for p in folder.glob("config*.yaml") if p.name == "config.yaml" or _resume_number(p) > 0]
    return sorted(found, key=_resume_number)


def latest_run_config(ckpt_path: Path | str) -> Optional[Path]:
    """The newest resolved config of the run that wrote ``<run dir>/checkpoints/<file>.ckpt``, if any."""
    configs = run_configs(Path(ckpt_path).expanduser().resolve().parent.parent)
    return configs[-1] if configs else None


def save_run_config(cfg: Any, run_dir: Path) -> Path:
    """Write the run's resolved config to ``<run dir>/.hydra/`` -- after :class:`~brain_ai.app.run_guard.RunLock`
    is taken -- and return the ``config`` file written.

    ``configs/hydra/default.yaml`` sets ``hydra.output_subdir: null`` so that Hydra does not write
    these files itself before the lock is checked (a refused second run would overwrite them):
    ``config.yaml`` always, and ``overrides.yaml`` + ``hydra.yaml`` when running under Hydra. A
    resume in the same folder writes ``*.resume<N>.yaml`` instead, keeping the earlier ones.
    """
    from hydra.core.hydra_config import HydraConfig
    from omegaconf import OmegaConf, open_dict

    earlier = run_configs(run_dir)
    tag = f".resume{_resume_number(earlier[-1]) + 1}" if earlier else ""
    folder = Path(run_dir) / RUN_CONFIG.parent
    folder.mkdir(parents=True, exist_ok=True)
    task_cfg = cfg.copy()
    with open_dict(task_cfg):
        task_cfg.pop("hydra", None)
    files: Dict[str, Any] = {"config": task_cfg}
    if HydraConfig.initialized():
        hydra_cfg = HydraConfig.get()
        files.update(overrides=hydra_cfg.overrides.task, hydra=OmegaConf.create({"hydra": hydra_cfg}))
    for stem in CONFIG_STEMS:
        if stem in files:
            text = OmegaConf.to_yaml(files[stem])
            write_atomic(folder / f"{stem}{tag}.yaml", lambda f, text=text: f.write(text.encode()))
    written = folder / f"config{tag}.yaml"
    if tag:
        log.info("resumed run: its config is %s (the earlier starts' configs are kept beside it)", written)
    return written


class _HistoryWriter(ExperimentWriter):
    """Lightning's CSV writer that, resuming, keeps the rows logged before ``resume_step``.

    Lightning's own rows (``self.log``) carry an ``epoch`` and are logged at ``global_step - 1``;
    rows that callbacks log directly (probes) carry none and are logged at ``global_step``. A row
    is history when it was logged before the checkpoint was saved: ``step < resume_step``, or
    ``step == resume_step`` without an ``epoch``. Later rows (of epochs the resumed run trains
    again, or the first run's test) are dropped: the resumed run logs them anew.
    """

    def __init__(self, log_dir: str, resume_step: Optional[int]) -> None:
        self.resume_step = resume_step
        super().__init__(log_dir)

    def _check_log_dir_exists(self) -> None:
        if self.resume_step is None or not self._fs.isfile(self.metrics_file_path):
            return super()._check_log_dir_exists()
        with self._fs.open(self.metrics_file_path, "r", newline="") as f:
            reader = csv.DictReader(f)
            header = list(reader.fieldnames or [])
            rows = [row for row in reader if self._is_history(row)]
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=header)
        writer.writeheader()
        writer.writerows(rows)
        write_atomic(self.metrics_file_path, lambda f: f.write(buffer.getvalue().encode()))
        self.metrics_keys = sorted(header)  # later saves append, or rewrite with the union of the headers
        log.info(
            "resumed run: %s keeps its %d rows logged before step %d",
            self.metrics_file_path,
            len(rows),
            self.resume_step,
        )

    def _is_history(self, row: Dict[str, str]) -> bool:
        try:
            step = int(float(row.get("step") or "nan"))
        except ValueError:
            return False
        return step < self.resume_step or (step == self.resume_step and not row.get("epoch"))


class HistoryCSVLogger(CSVLogger):
    """``CSVLogger`` whose ``metrics.csv`` survives a resume in the same folder (see :class:`_HistoryWriter`).

    ``resume_from_step(global_step)`` (called by :func:`brain_ai.app.pipeline.train` with the
    checkpoint's ``global_step``, before the first row is logged) switches it to keeping history.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._resume_step: Optional[int] = None

    def resume_from_step(self, global_step: int) -> None:
        if self._experiment is not None:
            raise RuntimeError("HistoryCSVLogger.resume_from_step must be called before anything is logged")
        self._resume_step = int(global_step)

    @property
    @rank_zero_experiment
    def experiment(self) -> _HistoryWriter:
        if self._experiment is None:
            self._fs.makedirs(self.root_dir, exist_ok=True)
            self._experiment = _HistoryWriter(log_dir=self.log_dir, resume_step=self._resume_step)
        return self._experiment
