"""Nothing lost, nothing mixed: guards around a run's output folder.

* :func:`check_writable` -- the run and checkpoint folders are writable, checked before training;
* :class:`CheckedModelCheckpoint` -- a failed checkpoint save stops the run at once, naming the
  file (Lightning's own ``ModelCheckpoint`` lets a ``PermissionError`` pass silently);
* :class:`RunLock` -- one live run per run folder (``<run dir>/.brain_ai.lock``), released on
  exit; a lock left by a dead process is taken over; a folder that holds another run's
  checkpoints is only reused to resume one of them;
* :func:`write_json_atomic` -- reports are written to a temporary file and renamed.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import tempfile
from pathlib import Path
from typing import Any, Optional

import lightning as L
from lightning.pytorch.callbacks import ModelCheckpoint

from brain_ai.errors import InputFileError

log = logging.getLogger(__name__)

LOCK_NAME = ".brain_ai.lock"
#: environment variables that mark a process launched as a non-zero rank (DDP, SLURM)
_RANK_VARS = ("RANK", "LOCAL_RANK", "NODE_RANK", "SLURM_PROCID")


def check_writable(folder: Path | str, field: str) -> Path:
    """Create ``folder`` if needed and prove a file can be written in it; else :class:`InputFileError`."""
    path = Path(folder).expanduser()
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path, prefix=".write_test_"):
            pass
    except OSError as err:
        raise InputFileError(
            f"{field}={str(path)!r} is not a writable folder ({err.strerror or err}); choose another one "
            f"(e.g. hydra.run.dir=<folder> on the command line)"
        ) from None
    return path


def write_json_atomic(path: Path | str, payload: Any, field: str = "output_json") -> None:
    """Write ``payload`` as JSON to ``path`` via a temporary file in the same folder + rename."""
    target = Path(path).expanduser()
    folder = check_writable(target.parent, f"{field} folder")
    if target.is_dir():
        raise InputFileError(f"{field}={str(target)!r} is a folder; expected a file name such as report.json")
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(payload, f, indent=2)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


class CheckedModelCheckpoint(ModelCheckpoint):
    """``ModelCheckpoint`` that verifies every save: a file not (re)written raises at once, naming it."""

    def _save_checkpoint(self, trainer: L.Trainer, filepath: str) -> None:
        before = _stamp(filepath)
        super()._save_checkpoint(trainer, filepath)
        after = _stamp(filepath)
        if trainer.is_global_zero and (after is None or after == before):
            raise InputFileError(
                f"checkpoint save failed: {filepath} was not written (a permission or disk problem; Lightning "
                f"reported nothing). The run was stopped so no epoch goes unsaved: free space or fix the folder's "
                f"permissions, then resume from the last checkpoint that exists"
            )


def _stamp(path: str) -> Optional[tuple]:
    """``(inode, mtime_ns, size)`` of ``path`` (a new save writes a new file), ``None`` if absent."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_ino, st.st_mtime_ns, st.st_size)


def is_launched_rank() -> bool:
    """``True`` in a process that a launcher started as a non-zero rank (it must not take the lock)."""
    return any(os.environ.get(var, "0") not in ("", "0") for var in _RANK_VARS)


class RunLock:
    """``<run dir>/.brain_ai.lock`` held by this process while a run trains (a context manager).

    Refuses when another live process holds it (or one on another host), and when the folder
    already holds checkpoints of an earlier run and ``resume_from`` is not one of them.
    """

    def __init__(self, run_dir: Path | str, ckpt_dir: Optional[Path | str], resume_from: Optional[Path] = None) -> None:
        self.run_dir = Path(run_dir).expanduser()
        self.path = self.run_dir / LOCK_NAME
        self.ckpt_dir = Path(ckpt_dir).expanduser() if ckpt_dir is not None else None
        self.resume_from = resume_from
        self.held = False

    def __enter__(self) -> "RunLock":
        if is_launched_rank():
            return self
        self._check_no_foreign_checkpoints()
        for _ in range(2):
            try:
                fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                self._take_over_if_stale()
                continue
            with os.fdopen(fd, "w") as f:
                json.dump({"pid": os.getpid(), "host": socket.gethostname()}, f)
            self.held = True
            return self
        raise InputFileError(f"run folder {self.run_dir}: could not take the lock {self.path}")

    def __exit__(self, *exc: Any) -> None:
        if self.held:
            self.path.unlink(missing_ok=True)
            self.held = False

    def _take_over_if_stale(self) -> None:
        try:
            owner = json.loads(self.path.read_text())
            pid, host = int(owner["pid"]), str(owner["host"])
        except (OSError, ValueError, KeyError, TypeError):
            pid, host = -1, socket.gethostname()  # unreadable: a crash while writing it
        if host == socket.gethostname() and not _alive(pid):
            log.warning("run folder %s: removing a stale lock of process %s, which no longer runs", self.run_dir, pid)
            self.path.unlink(missing_ok=True)
            return
        raise InputFileError(
            f"run folder {self.run_dir} is in use by another run (process {pid} on {host}, lock file {self.path}); "
            f"two runs in one folder would mix their checkpoints and configs. Choose another folder "
            f"(hydra.run.dir=<folder>), or delete the lock file if no run is active there"
        )

    def _check_no_foreign_checkpoints(self) -> None:
        if self.ckpt_dir is None or not self.ckpt_dir.is_dir():
            return
        existing = sorted(p.name for p in self.ckpt_dir.glob("*.ckpt"))
        if not existing:
            return
        if self.resume_from is not None and self.resume_from.resolve().parent == self.ckpt_dir.resolve():
            return
        raise InputFileError(
            f"run folder {self.run_dir} already holds checkpoints of another run ({', '.join(existing[:3])}"
            f"{', ...' if len(existing) > 3 else ''} in {self.ckpt_dir}); a new run there would mix with them. "
            f"Resume that run with ckpt_path={self.ckpt_dir / 'last.ckpt'}, or choose another folder (hydra.run.dir=<folder>)"
        )


def _alive(pid: int) -> bool:
    if pid <= 0:
        return False
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def save_run_config(cfg: Any, run_dir: Path) -> None:
    """Write the run's resolved config to ``<run dir>/.hydra/`` -- after :class:`RunLock` is taken.

    ``configs/hydra/default.yaml`` sets ``hydra.output_subdir: null`` so that Hydra does not write
    these files itself before the lock is checked (a refused second run would overwrite them):
    ``config.yaml`` always, and ``overrides.yaml`` + ``hydra.yaml`` when running under Hydra.
    """
    from hydra.core.hydra_config import HydraConfig
    from omegaconf import OmegaConf, open_dict

    folder = Path(run_dir) / ".hydra"
    folder.mkdir(parents=True, exist_ok=True)
    task_cfg = cfg.copy()
    with open_dict(task_cfg):
        task_cfg.pop("hydra", None)
    OmegaConf.save(task_cfg, folder / "config.yaml")
    if HydraConfig.initialized():
        hydra_cfg = HydraConfig.get()
        OmegaConf.save(hydra_cfg.overrides.task, folder / "overrides.yaml")
        OmegaConf.save(OmegaConf.create({"hydra": hydra_cfg}), folder / "hydra.yaml")
