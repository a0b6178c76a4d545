"""Nothing lost, nothing mixed: writable folders, failed checkpoint saves, the run-folder lock,
atomic JSON reports."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import fsspec.implementations.local
import pytest

from brain_ai import pipeline
from brain_ai.errors import InputFileError
from brain_ai.run_guard import LOCK_NAME, RunLock, write_json_atomic
from framework_helpers import TINY, compose_config


@pytest.fixture()
def ckpt_saves_fail(monkeypatch):
    """Every .ckpt write raises PermissionError inside Lightning's save (which swallows it)."""
    original = fsspec.implementations.local.LocalFileSystem._open

    def refuse(self, path, mode="rb", *args, **kwargs):
        if str(path).endswith(".ckpt") and "w" in mode:
            raise PermissionError(13, "Permission denied", str(path))
        return original(self, path, mode, *args, **kwargs)

    monkeypatch.setattr(fsspec.implementations.local.LocalFileSystem, "_open", refuse)


def test_lightning_alone_loses_failed_saves_silently(tmp_path, ckpt_saves_fail):
    """Control: with Lightning's own ModelCheckpoint the run 'succeeds' and nothing is saved."""
    cfg = compose_config([*TINY, "trainer.max_epochs=2", "test=false",
                          "callbacks.model_checkpoint._target_=lightning.pytorch.callbacks.ModelCheckpoint"], output_dir=tmp_path)
    pipeline.train(cfg)
    assert not list((tmp_path / "checkpoints").glob("*.ckpt"))


def test_failed_checkpoint_save_stops_the_run_naming_the_file(tmp_path, ckpt_saves_fail):
    cfg = compose_config([*TINY, "trainer.max_epochs=3"], output_dir=tmp_path)
    with pytest.raises(InputFileError, match=r"checkpoint save failed: .*checkpoints/epoch_000\.ckpt was not written"):
        pipeline.train(cfg)
    assert not (tmp_path / LOCK_NAME).exists()  # released on the way out


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

    def broken_dump(obj, f, **kwargs):
        f.write('{"half": ')
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(json, "dump", broken_dump)
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
