"""Nothing lost, nothing mixed: writable folders, failed checkpoint saves (atomic: a full or read-only
disk never leaves a truncated checkpoint), the lock of every folder a run writes, malformed lock
files, atomic JSON reports, outputs that would overwrite an input."""

from __future__ import annotations

import errno
import json
import os
import subprocess
import sys
import threading

import fsspec.implementations.local
import pytest
import torch
from lightning.fabric.plugins import TorchCheckpointIO

from brain_ai import pipeline, safe_files
from brain_ai.errors import InputFileError
from brain_ai.run_guard import LOCK_NAME, AtomicCheckpointIO, RunLock
from brain_ai.safe_files import refuse_overwriting_input, write_json_atomic
from framework_helpers import TINY, compose_config


def disk_full_after(monkeypatch, saves_ok: int) -> None:
    """``torch.save`` into a checkpoint file succeeds ``saves_ok`` times, then writes half a zip and
    raises ``OSError(ENOSPC)`` -- a disk that fills up in the middle of a save."""
    original, calls = torch.save, []

    def save(obj, f, *args, **kwargs):
        if ".ckpt" in str(getattr(f, "name", f)):
            calls.append(f)
            if len(calls) > saves_ok:
                f.write(b"PK\x03\x04" + bytes(100))
                raise OSError(errno.ENOSPC, "No space left on device")
        return original(obj, f, *args, **kwargs)

    monkeypatch.setattr(torch, "save", save)


@pytest.fixture()
def lightning_saves_fail(monkeypatch):
    """Every .ckpt write through fsspec (Lightning's own checkpoint writer) raises PermissionError."""
    original = fsspec.implementations.local.LocalFileSystem._open

    def refuse(self, path, mode="rb", *args, **kwargs):
        if str(path).endswith(".ckpt") and "w" in mode:
            raise PermissionError(13, "Permission denied", str(path))
        return original(self, path, mode, *args, **kwargs)

    monkeypatch.setattr(fsspec.implementations.local.LocalFileSystem, "_open", refuse)


def test_a_checkpoint_writer_that_swallows_errors_still_stops_the_run(tmp_path, lightning_saves_fail, monkeypatch):
    """Lightning's own writer lets a PermissionError pass silently: CheckedModelCheckpoint notices
    the file was not written (the backstop behind brain_ai's atomic writer)."""
    monkeypatch.setattr(pipeline, "AtomicCheckpointIO", TorchCheckpointIO)
    cfg = compose_config([*TINY, "trainer.max_epochs=3"], output_dir=tmp_path)
    with pytest.raises(InputFileError, match=r"checkpoint save failed: .*checkpoints/epoch_000\.ckpt was not written"):
        pipeline.train(cfg)
    assert not (tmp_path / LOCK_NAME).exists()  # released on the way out


def test_disk_full_during_a_save_stops_the_run_and_keeps_the_earlier_checkpoints_whole(tmp_path, monkeypatch):
    disk_full_after(monkeypatch, saves_ok=2)  # epoch 0: epoch_000.ckpt + last.ckpt; epoch 1 fails
    cfg = compose_config([*TINY, "trainer.max_epochs=3", "test=false", "+callbacks.model_checkpoint.save_top_k=-1"], output_dir=tmp_path)
    with pytest.raises(InputFileError, match=r"checkpoint save failed: .*epoch_001\.ckpt could not be written \(No space left"):
        pipeline.train(cfg)
    monkeypatch.undo()
    folder = tmp_path / "checkpoints"
    assert sorted(p.name for p in folder.iterdir()) == ["epoch_000.ckpt", "last.ckpt"]  # no half file, no temporary
    assert torch.load(folder / "last.ckpt", weights_only=True)["epoch"] == 0
    assert not (tmp_path / LOCK_NAME).exists()


@pytest.mark.parametrize("error", [errno.ENOSPC, errno.EROFS, errno.EACCES], ids=["disk_full", "read_only", "permission"])
def test_atomic_checkpoint_writer_leaves_the_previous_file_whole(tmp_path, monkeypatch, error):
    target = tmp_path / "last.ckpt"
    AtomicCheckpointIO().save_checkpoint({"epoch": 1}, target)
    if error == errno.ENOSPC:
        disk_full_after(monkeypatch, saves_ok=0)
    else:  # a folder that became read-only / unwritable: no temporary file can be created there
        def refuse(path, mode="r", *args, **kwargs):
            if "x" in mode:
                raise OSError(error, os.strerror(error), str(path))
            return open(path, mode, *args, **kwargs)
        monkeypatch.setattr(safe_files, "open", refuse, raising=False)
    with pytest.raises(InputFileError, match=rf"{target}.*{os.strerror(error)}"):
        AtomicCheckpointIO().save_checkpoint({"epoch": 2}, target)
    monkeypatch.undo()
    assert torch.load(target, weights_only=True) == {"epoch": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["last.ckpt"]


def test_unwritable_run_folder_fails_before_training(tmp_path):
    blocker = tmp_path / "a_file"
    blocker.write_text("")
    cfg = compose_config(TINY, output_dir=blocker / "run")
    with pytest.raises(InputFileError, match=r"paths.output_dir=.*a_file/run.*not a writable folder"):
        pipeline.train(cfg)


def test_unwritable_checkpoint_folder_fails_before_training(tmp_path):
    blocker = tmp_path / "a_file"
    blocker.write_text("")
    cfg = compose_config([*TINY, f"callbacks.model_checkpoint.dirpath={blocker}/ckpts"], output_dir=tmp_path / "run")
    with pytest.raises(InputFileError, match=r"callbacks.model_checkpoint.dirpath=.*a_file/ckpts"):
        pipeline.train(cfg)
    assert not (tmp_path / "run" / ".hydra").exists()


def finished_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def write_lock(folder, pid: int) -> None:
    import socket

    folder.mkdir(parents=True, exist_ok=True)
    (folder / LOCK_NAME).write_text(json.dumps({"pid": pid, "host": socket.gethostname()}))


def test_second_live_run_in_the_same_folder_is_refused(tmp_path):
    live = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        write_lock(tmp_path, live.pid)
        with pytest.raises(InputFileError, match=rf"in use by another run \(process {live.pid}"):
            pipeline.train(compose_config(TINY, output_dir=tmp_path))
        assert not (tmp_path / ".hydra").exists()  # the live run's config is untouched
        assert not (tmp_path / "checkpoints").exists() or not list((tmp_path / "checkpoints").iterdir())
    finally:
        live.kill()
        live.wait()


def test_stale_lock_of_a_dead_process_is_taken_over_and_released(tmp_path):
    write_lock(tmp_path, finished_pid())
    pipeline.train(compose_config([*TINY, "test=false"], output_dir=tmp_path))
    assert (tmp_path / "checkpoints" / "last.ckpt").is_file()
    assert (tmp_path / ".hydra" / "config.yaml").is_file()
    assert not (tmp_path / LOCK_NAME).exists()


def test_new_run_in_a_folder_with_another_runs_checkpoints_is_refused_but_resume_is_allowed(tmp_path):
    ckpts = tmp_path / "checkpoints"
    ckpts.mkdir()
    (ckpts / "last.ckpt").write_bytes(b"")
    lock = RunLock(tmp_path, ckpts)
    with pytest.raises(InputFileError, match=r"already holds checkpoints of another run \(last.ckpt.*ckpt_path=.*last.ckpt"):
        lock.__enter__()
    with RunLock(tmp_path, ckpts, resume_from=ckpts / "last.ckpt") as held:
        assert held.held and (tmp_path / LOCK_NAME).is_file()
    assert not (tmp_path / LOCK_NAME).exists()


def test_launched_ranks_do_not_take_the_lock(tmp_path, monkeypatch):
    monkeypatch.setenv("LOCAL_RANK", "1")
    write_lock(tmp_path, os.getpid())
    with RunLock(tmp_path, None) as lock:
        assert not lock.held


def test_json_report_is_written_atomically(tmp_path, monkeypatch):
    target = tmp_path / "report.json"
    write_json_atomic(target, {"a": 1})
    assert json.loads(target.read_text()) == {"a": 1}

    def disk_full(fd):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", disk_full)
    with pytest.raises(OSError, match="No space"):
        write_json_atomic(target, {"a": 2})
    assert json.loads(target.read_text()) == {"a": 1}  # the old report survives whole
    assert [p.name for p in tmp_path.iterdir()] == ["report.json"]  # no temporary left behind


def test_unwritable_output_json_fails_before_evaluating(tmp_path):
    blocker = tmp_path / "a_file"
    blocker.write_text("")
    cfg = compose_config([f"ckpt_path={tmp_path / 'missing.ckpt'}", f"output_json={blocker}/r.json"], output_dir=tmp_path, config_name="evaluate")
    with pytest.raises(InputFileError, match=r"output_json folder=.*a_file"):
        pipeline.evaluate(cfg)
