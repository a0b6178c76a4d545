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
from framework_helpers import TINY, compose_config
from lightning.fabric.plugins import TorchCheckpointIO

from brain_ai.app import pipeline, safe_files
from brain_ai.app.run_guard import LOCK_NAME, AtomicCheckpointIO, RunLock
from brain_ai.app.safe_files import refuse_overwriting_input, write_json_atomic
from brain_ai.errors import InputFileError


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
    cfg = compose_config(
        [*TINY, "trainer.max_epochs=3", "test=false", "+callbacks.model_checkpoint.save_top_k=-1"], output_dir=tmp_path
    )
    with pytest.raises(
        InputFileError, match=r"checkpoint save failed: .*epoch_001\.ckpt could not be written \(No space left"
    ):
        pipeline.train(cfg)
    monkeypatch.undo()
    folder = tmp_path / "checkpoints"
    assert sorted(p.name for p in folder.iterdir()) == ["epoch_000.ckpt", "last.ckpt"]  # no half file, no temporary
    assert torch.load(folder / "last.ckpt", weights_only=True)["epoch"] == 0
    assert not (tmp_path / LOCK_NAME).exists()


@pytest.mark.parametrize(
    "error", [errno.ENOSPC, errno.EROFS, errno.EACCES], ids=["disk_full", "read_only", "permission"]
)
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
    with pytest.raises(
        InputFileError, match=r"already holds checkpoints of another run \(last.ckpt.*ckpt_path=.*last.ckpt"
    ):
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
    cfg = compose_config(
        [f"ckpt_path={tmp_path / 'missing.ckpt'}", f"output_json={blocker}/r.json"],
        output_dir=tmp_path,
        config_name="evaluate",
    )
    with pytest.raises(InputFileError, match=r"output_json folder=.*a_file"):
        pipeline.evaluate(cfg)


# --- issue 23, resume / run folders: lock files, every written folder locked, outputs vs inputs ---


@pytest.mark.parametrize(
    "content",
    ["", "garbage{", '{"pid": "abc", "host": "h"}', '{"pid": 1.5, "host": "h"}', '{"host": "h"}', "[1, 2]"],
    ids=["empty", "garbage", "pid_not_int", "pid_float", "no_pid", "json_list"],
)
def test_malformed_lock_file_is_refused_naming_it(tmp_path, content):
    (tmp_path / LOCK_NAME).write_text(content)
    with pytest.raises(
        InputFileError, match=rf"lock file {tmp_path / LOCK_NAME} that brain_ai did not write.*Delete the lock file"
    ):
        RunLock(tmp_path, None).__enter__()
    assert (tmp_path / LOCK_NAME).read_text() == content  # left for the user to judge


def test_the_lock_covers_a_checkpoint_folder_outside_the_run_folder(tmp_path):
    shared = tmp_path / "shared_ckpts"
    with RunLock(tmp_path / "run_a", shared) as first:
        assert {p.parent.name for p in first.taken} == {"run_a", "shared_ckpts"}
        with pytest.raises(
            InputFileError, match=rf"run folder {shared} is in use by another run \(process {os.getpid()}"
        ):
            RunLock(tmp_path / "run_b", shared).__enter__()
        assert not (tmp_path / "run_b" / LOCK_NAME).exists()  # a refused run releases what it had taken
    assert not (shared / LOCK_NAME).exists() and not (tmp_path / "run_a" / LOCK_NAME).exists()


def test_the_lock_covers_logger_folders_and_skips_folders_inside_another(tmp_path):
    logs = tmp_path / "tb_logs"
    with RunLock(
        tmp_path / "run_a", tmp_path / "run_a" / "checkpoints", also=[logs, tmp_path / "run_a" / "csv"]
    ) as lock:
        assert sorted(p.parent.name for p in lock.taken) == ["run_a", "tb_logs"]
        with pytest.raises(InputFileError, match=rf"run folder {logs} is in use"):
            RunLock(tmp_path / "run_b", None, also=[logs]).__enter__()


def test_two_runs_racing_for_one_folder_one_wins(tmp_path):
    """Eight threads take the lock at once: exactly one holds it, the others are refused, the file is whole."""
    barrier = threading.Barrier(8)
    outcomes = []

    def race():
        lock = RunLock(tmp_path, None)
        barrier.wait()
        try:
            lock.__enter__()
            outcomes.append(lock)
        except InputFileError as err:
            outcomes.append(str(err))

    threads = [threading.Thread(target=race) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    winners = [o for o in outcomes if isinstance(o, RunLock)]
    assert len(winners) == 1 and all("is in use by another run" in o for o in outcomes if isinstance(o, str))
    assert json.loads((tmp_path / LOCK_NAME).read_text())["pid"] == os.getpid()
    winners[0].__exit__()
    assert sorted(p.name for p in tmp_path.iterdir()) == []  # no temporary lock files left


def test_callbacks_none_checkpoints_under_the_run_folder_and_a_second_run_there_is_refused(tmp_path):
    """Lightning's default checkpoint callback is pinned to <run>/checkpoints, so the lock and the
    earlier-run check see it; a second new run (even without checkpoints) would overwrite configs and logs."""
    pipeline.train(compose_config([*TINY, "callbacks=none", "logger=csv", "test=false"], output_dir=tmp_path / "run"))
    assert [p.name for p in (tmp_path / "run" / "checkpoints").glob("*.ckpt")] == ["epoch=0-step=3.ckpt"]
    with pytest.raises(InputFileError, match=r"already holds checkpoints of another run \(epoch=0-step=3.ckpt"):
        pipeline.train(compose_config([*TINY, "callbacks=none", "logger=csv"], output_dir=tmp_path / "run"))
    pipeline.train(
        compose_config(
            [*TINY, "callbacks=none", "logger=csv", "test=false", "+trainer.enable_checkpointing=false"],
            output_dir=tmp_path / "plain",
        )
    )
    first = (tmp_path / "plain" / "csv" / "metrics.csv").read_text()
    with pytest.raises(InputFileError, match=r"already holds another run \(its config .*\.hydra/config\.yaml"):
        pipeline.train(
            compose_config(
                [*TINY, "callbacks=none", "logger=csv", "+trainer.enable_checkpointing=false"],
                output_dir=tmp_path / "plain",
            )
        )
    assert (tmp_path / "plain" / "csv" / "metrics.csv").read_text() == first


def test_an_output_that_names_an_input_is_refused_in_every_spelling(tmp_path):
    ckpt = tmp_path / "run" / "last.ckpt"
    ckpt.parent.mkdir()
    ckpt.write_bytes(b"weights")
    (tmp_path / "link.ckpt").symlink_to(ckpt)
    os.link(ckpt, tmp_path / "hard.ckpt")
    for spelling in (ckpt, f"{tmp_path}/run/../run/last.ckpt", tmp_path / "link.ckpt", tmp_path / "hard.ckpt"):
        with pytest.raises(InputFileError, match=r"output_json=.* is the input file ckpt_path=.*last.ckpt"):
            refuse_overwriting_input(spelling, "output_json", {"ckpt_path": str(ckpt)})
    refuse_overwriting_input(tmp_path / "report.json", "output_json", {"ckpt_path": str(ckpt), "data_root": None})
    assert ckpt.read_bytes() == b"weights"
