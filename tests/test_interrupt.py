"""Ctrl-C (SIGINT) stops a run with exit status 130 and says where its last checkpoint is."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from types import SimpleNamespace

import pytest
from framework_helpers import REPO

from brain_ai.app.cli import INTERRUPTED_STATUS, report_errors
from brain_ai.app.pipeline import run_stage
from brain_ai.errors import TrainingInterrupted

SMALL = [
    "data=digits",
    "data.limit_train=64",
    "data.batch_size=32",
    "snn.hidden_sizes=[16]",
    "encoding.num_steps=4",
    "trainer.enable_progress_bar=false",
    "+trainer.enable_model_summary=false",
    "logger=csv",
]


def fake_trainer(tmp_path, interrupted: bool, last: str = "last.ckpt"):
    (tmp_path / last).write_bytes(b"x")
    callback = SimpleNamespace(last_model_path=str(tmp_path / last), best_model_path="")
    return SimpleNamespace(interrupted=interrupted, checkpoint_callback=callback, current_epoch=3, global_step=12)


def lightning_exit(*args, **kwargs):
    raise SystemExit(1)  # what Lightning 2.x does after catching a KeyboardInterrupt


@pytest.mark.parametrize("stage", [lightning_exit, lambda *a, **k: None], ids=["lightning_exits", "lightning_returns"])
def test_an_interrupted_stage_names_the_last_checkpoint(tmp_path, stage):
    with pytest.raises(
        TrainingInterrupted,
        match=rf"at epoch 3, step 12; its last checkpoint is {tmp_path}/last.ckpt \(resume with ckpt_path=",
    ):
        run_stage(fake_trainer(tmp_path, interrupted=True), stage)


def test_an_exit_that_is_no_interrupt_passes_through(tmp_path):
    with pytest.raises(SystemExit):
        run_stage(fake_trainer(tmp_path, interrupted=False), lightning_exit)


def test_an_interrupt_outside_training_exits_130_without_traceback(capsys):
    def task():
        raise KeyboardInterrupt

    with pytest.raises(SystemExit) as exit_:
        report_errors(task)
    assert exit_.value.code == INTERRUPTED_STATUS == 130
    assert capsys.readouterr().err == "interrupted: Ctrl-C (SIGINT)\n"


@pytest.mark.slow
def test_sigint_during_training_exits_130_naming_the_checkpoint(tmp_path):
    run = tmp_path / "run"
    command = [sys.executable, "train.py", *SMALL, "trainer.max_epochs=1000", f"hydra.run.dir={run}"]
    # a terminal delivers Ctrl-C to a process whose SIGINT is at its default; a test runner may leave it
    # ignored, and an ignored SIGINT is inherited (the run would then train all 1000 epochs)
    proc = subprocess.Popen(
        command,
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    try:
        deadline = time.monotonic() + 120
        while not (run / "checkpoints" / "last.ckpt").is_file() and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.2)
        assert proc.poll() is None, "the run ended before it was interrupted"
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
    assert proc.returncode == 130, err[-3000:]
    assert "Traceback" not in err, err[-3000:]
    assert "interrupted: training interrupted (Ctrl-C) at epoch" in err
    assert (
        f"its last checkpoint is {run}/checkpoints/last.ckpt (resume with ckpt_path={run}/checkpoints/last.ckpt)" in err
    )
    assert "test/acc" not in err  # no test phase after the interrupt


def test_ctrl_c_while_a_checkpoint_is_written_arrives_after_the_write():
    """SIGINT inside sigint_deferred() is held back and delivered (KeyboardInterrupt) when the block
    ends, so torch.save is never cut mid-file (it then fails with a zip-writer error, not the interrupt)."""
    from brain_ai.app.run_guard import sigint_deferred

    done = []
    with pytest.raises(KeyboardInterrupt):
        with sigint_deferred():
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(0.05)
            done.append(True)
    assert done == [True]
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
