"""Nothing lost, nothing mixed: guards around a run's output folder.

* :class:`AtomicCheckpointIO` -- checkpoints are written with :func:`brain_ai.app.safe_files.write_atomic`
  (a full or read-only disk leaves the previous file, never a truncated one that looks valid);
* :class:`CheckedModelCheckpoint` -- a failed checkpoint save stops the run at once, naming the
  file (Lightning's own ``ModelCheckpoint`` lets a ``PermissionError`` pass silently); a run
  folder that was copied or moved resumes its checkpoints' bookkeeping under the new path;
* :class:`RunLock` -- one live run per folder it writes (``<folder>/.brain_ai.lock`` in the run,
  checkpoint and logger folders), released on exit; a lock left by a dead process is taken over;
  a folder that holds another run (its checkpoints or ``.hydra/config.yaml``) is only reused to
  resume one of its checkpoints;

Output files in general (writable folders, atomic writes, outputs that would overwrite an input)
are :mod:`brain_ai.app.safe_files`.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import socket
import tempfile
import threading
from pathlib import Path
from typing import Any, Dict, Iterable, Iterator, List, Optional

import lightning as L
import torch
from lightning.fabric.plugins.io.torch_io import TorchCheckpointIO
from lightning.pytorch.callbacks import ModelCheckpoint

from brain_ai.app.safe_files import write_atomic
from brain_ai.errors import InputFileError

log = logging.getLogger(__name__)

LOCK_NAME = ".brain_ai.lock"
#: environment variables that mark a process launched as a non-zero rank (DDP, SLURM)
_RANK_VARS = ("RANK", "LOCAL_RANK", "NODE_RANK", "SLURM_PROCID")
#: the resolved config of a run's first start, relative to its run folder (resumes write beside it)
RUN_CONFIG = Path(".hydra") / "config.yaml"


@contextlib.contextmanager
def sigint_deferred() -> Iterator[None]:
    """Run the block with Ctrl-C (SIGINT) held back, then deliver it to the handler that was in place
    (Python's default raises ``KeyboardInterrupt``): a checkpoint is written whole or not at all,
    never cut mid-file by the interrupt. Outside the main thread (no signal handlers) nothing changes."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    received: List[int] = []
    previous = signal.signal(signal.SIGINT, lambda signum, frame: received.append(signum))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
        if received and callable(previous):
            previous(signal.SIGINT, None)
        elif received and previous == signal.SIG_DFL:
            os.kill(os.getpid(), signal.SIGINT)


class AtomicCheckpointIO(TorchCheckpointIO):
    """Lightning's checkpoint writer, made atomic with :func:`write_atomic`.

    (Lightning's own writes to the system temporary folder and *moves* the file, which is a copy
    across file systems: a full disk leaves a truncated checkpoint under the final name, and a
    ``PermissionError`` is swallowed.) A failed write raises :class:`InputFileError` naming the file.
    """

    def save_checkpoint(self, checkpoint: Dict[str, Any], path: Any, storage_options: Optional[Any] = None) -> None:
        if storage_options is not None:
            raise TypeError(f"{type(self).__name__} takes no storage_options")
        target = Path(path)
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            with sigint_deferred():  # Ctrl-C mid-write would leave torch's zip writer half done
                write_atomic(target, lambda f: torch.save(checkpoint, f))
        except OSError as err:
            raise InputFileError(
                f"checkpoint save failed: {target} could not be written ({err.strerror or err}); the run was stopped so "
                f"no epoch goes unsaved and the checkpoints already there are left whole. Free space or fix the folder's "
                f"permissions, then resume from the last checkpoint that exists"
            ) from None


class CheckedModelCheckpoint(ModelCheckpoint):
    """``ModelCheckpoint`` that verifies every save (a file not (re)written raises at once, naming it)
    and follows a run folder that was copied or moved (its state's paths are re-rooted)."""

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

    def load_state_dict(self, state_dict: Dict[str, Any]) -> None:
        """Re-root the stored paths when the checkpoints now live in another folder (``cp -r run1 run2``);
        a resume into a new folder keeps pointing at the files where they are (never deleted there).

        Lightning would otherwise forget ``last_model_path`` (writing ``last-v1.ckpt`` beside the
        copied ``last.ckpt``, which stays at the old epoch), the best scores (saving every epoch as
        a new best) -- and keep ``best_model_path`` in the *old* folder, testing another run's file.
        """
        old = state_dict.get("dirpath")
        if old is None or self.dirpath is None or Path(old) == Path(self.dirpath):
            return super().load_state_dict(state_dict)

        def moved(path: Any) -> Any:
            """The file's copy in the new folder, where there is one (else the file where it is)."""
            if not path:
                return path
            try:
                copy = Path(self.dirpath) / Path(path).relative_to(old)
            except ValueError:  # a path outside the old folder
                return path
            return str(copy) if copy.is_file() else path

        state = dict(state_dict, dirpath=self.dirpath)
        for key in ("best_model_path", "kth_best_model_path", "last_model_path"):
            state[key] = moved(state.get(key))
        state["best_k_models"] = {moved(k): v for k, v in (state.get("best_k_models") or {}).items()}
        log.info("checkpoint folder moved from %s to %s: its checkpoint bookkeeping follows it", old, self.dirpath)
        super().load_state_dict(state)


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


def outermost(folders: Iterable[Path | str]) -> List[Path]:
    """The distinct folders of ``folders`` that are not inside another one of them (resolved paths)."""
    paths = sorted({Path(f).expanduser().resolve() for f in folders}, key=lambda p: len(p.parts))
    kept: List[Path] = []
    for path in paths:
        if not any(path == k or k in path.parents for k in kept):
            kept.append(path)
    return kept


class RunLock:
    """A ``.brain_ai.lock`` file in each folder a run writes, held while it trains (a context manager).

    ``run_dir``, ``ckpt_dir`` and ``also`` (logger folders) are locked -- only the outermost
    ones, a folder inside another is covered by it. Refuses when another live process holds a
    lock (or one on another host), when a lock file is not one brain_ai wrote, and when the run
    folder already holds an earlier run (its checkpoints in ``ckpt_dir``, or
    ``.hydra/config.yaml``) and ``resume_from`` is not one of its checkpoints.
    """

    def __init__(
        self,
        run_dir: Path | str,
        ckpt_dir: Optional[Path | str],
        resume_from: Optional[Path] = None,
        also: Iterable[Path | str] = (),
    ) -> None:
        self.run_dir = Path(run_dir).expanduser()
        self.ckpt_dir = Path(ckpt_dir).expanduser() if ckpt_dir is not None else None
        self.resume_from = resume_from
        self.paths = [
            folder / LOCK_NAME
            for folder in outermost([self.run_dir, *([self.ckpt_dir] if self.ckpt_dir else []), *also])
        ]
        self.taken: List[Path] = []

    @property
    def path(self) -> Path:
        """The run folder's lock file."""
        return self.run_dir / LOCK_NAME

    @property
    def held(self) -> bool:
        return bool(self.taken)

    def __enter__(self) -> "RunLock":
        if is_launched_rank():
            return self
        self._check_no_earlier_run()
        try:
            for path in self.paths:
                self._take(path)
        except BaseException:
            self.__exit__()
            raise
        return self

    def __exit__(self, *exc: Any) -> None:
        for path in self.taken:
            path.unlink(missing_ok=True)
        self.taken = []

    def _take(self, path: Path) -> None:
        """Create ``path`` whole (written beside it, then hard-linked: never seen empty) or raise."""
        path.parent.mkdir(parents=True, exist_ok=True)
        owner = json.dumps({"pid": os.getpid(), "host": socket.gethostname()}).encode()
        for _ in range(2):
            try:
                _create_whole(path, owner)
            except FileExistsError:
                self._take_over_if_stale(path)
                continue
            self.taken.append(path)
            return
        raise InputFileError(f"run folder {path.parent}: could not take the lock {path}")

    def _take_over_if_stale(self, path: Path) -> None:
        folder = path.parent
        try:
            text = path.read_text()
        except FileNotFoundError:  # released meanwhile
            return
        except OSError as err:
            raise InputFileError(
                f"run folder {folder}: its lock file {path} cannot be read ({err.strerror or err})"
            ) from None
        try:
            owner = json.loads(text)
            pid, host = owner["pid"], owner["host"]
            if not isinstance(pid, int) or isinstance(pid, bool) or not isinstance(host, str):
                raise TypeError
        except (ValueError, KeyError, TypeError):
            shown = repr(text[:60]) + ("..." if len(text) > 60 else "") if text.strip() else "an empty file"
            raise InputFileError(
                f"run folder {folder} has a lock file {path} that brain_ai did not write (it holds {shown}; brain_ai writes "
                f'{{"pid": <int>, "host": <name>}} whole), so whether a run is active there is unknown. Delete the lock file '
                f"if no run is active in {folder}, or choose another folder (hydra.run.dir=<folder>)"
            ) from None
        if host == socket.gethostname() and not _alive(pid):
            log.warning("run folder %s: removing a stale lock of process %s, which no longer runs", folder, pid)
            path.unlink(missing_ok=True)
            return
        raise InputFileError(
            f"run folder {folder} is in use by another run (process {pid} on {host}, lock file {path}); "
            f"two runs in one folder would mix their checkpoints, logs and configs. Choose another folder "
            f"(hydra.run.dir=<folder>), or delete the lock file if no run is active there"
        )

    def _resumes_here(self) -> bool:
        return (
            self.resume_from is not None
            and self.ckpt_dir is not None
            and self.resume_from.resolve().parent == self.ckpt_dir.resolve()
        )

    def _check_no_earlier_run(self) -> None:
        if self._resumes_here():
            return
        existing = (
            sorted(p.name for p in self.ckpt_dir.glob("*.ckpt"))
            if self.ckpt_dir is not None and self.ckpt_dir.is_dir()
            else []
        )
        if existing:
            raise InputFileError(
                f"run folder {self.run_dir} already holds checkpoints of another run ({', '.join(existing[:3])}"
                f"{', ...' if len(existing) > 3 else ''} in {self.ckpt_dir}); a new run there would mix with them. "
                f"Resume that run with ckpt_path={self.ckpt_dir / 'last.ckpt'}, or choose another folder (hydra.run.dir=<folder>)"
            )
        if (self.run_dir / RUN_CONFIG).is_file():
            raise InputFileError(
                f"run folder {self.run_dir} already holds another run (its config {self.run_dir / RUN_CONFIG}, logs, ...); "
                f"a new run there would overwrite them. Choose another folder (hydra.run.dir=<folder>), or resume that run "
                f"from one of its checkpoints"
            )


def _create_whole(path: Path, content: bytes) -> None:
    """Create ``path`` holding ``content``; ``FileExistsError`` if it exists.

    A complete temporary file is hard-linked to ``path``, so another process never reads it
    empty; on a file system without hard links, ``O_EXCL`` create + write instead.
    """
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f"{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(content)
        try:
            os.link(tmp, path)
            return
        except FileExistsError:
            raise
        except OSError:  # no hard links here (EPERM, ENOTSUP, ...)
            pass
    finally:
        Path(tmp).unlink(missing_ok=True)
    fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
    with os.fdopen(fd, "wb") as f:
        f.write(content)


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
    except OverflowError:  # not a possible process id
        return False
    return True
