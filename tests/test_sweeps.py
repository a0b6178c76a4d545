"""Hydra multirun through train.py: a grid over encoders, and grid sweeps whose failing jobs are
recorded while the other jobs run (brain_ai.app.sweeps). Optuna searches: tests/test_sweep_study.py."""

from __future__ import annotations

import subprocess
import sys

import pytest
import yaml
from framework_helpers import REPO, TINY_CLI, run_train


@pytest.mark.slow
def test_multirun_over_encoders(tmp_path):
    run_train("encoding=rate_bernoulli,ttfs,population", *TINY_CLI, f"hydra.sweep.dir={tmp_path}")
    jobs = sorted(p for p in tmp_path.iterdir() if p.is_dir())
    assert [p.name for p in jobs] == ["0", "1", "2"]
    encoders = []
    for job in jobs:
        config = yaml.safe_load((job / ".hydra" / "config.yaml").read_text())
        encoders.append(config["encoding"]["type"])
        assert (job / "checkpoints" / "last.ckpt").is_file()
    assert encoders == ["rate_bernoulli", "ttfs", "population"]


def run_failing_sweep(*args: str) -> subprocess.CompletedProcess:
    """``python train.py -m <args>`` that must end with exit status 1 (some job failed), no traceback."""
    proc = subprocess.run(
        [sys.executable, "train.py", "-m", *args], cwd=REPO, capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 1, proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr, proc.stderr[-3000:]
    return proc


@pytest.mark.slow
def test_a_failing_job_does_not_stop_the_grid(tmp_path):
    """beta=1.5 is refused; the jobs before and after it still train, and the summary names each."""
    proc = run_failing_sweep("snn.neuron.beta=0.9,1.5,0.8", *TINY_CLI, f"hydra.sweep.dir={tmp_path}")
    assert (tmp_path / "0" / "checkpoints" / "last.ckpt").is_file()
    assert (tmp_path / "2" / "checkpoints" / "last.ckpt").is_file()
    assert sum(line.startswith("error: snn.neuron.beta=1.5") for line in proc.stderr.splitlines()) == 1
    summary = proc.stderr[proc.stderr.index("sweep: 1 of 3 jobs failed") :].splitlines()
    assert summary[1:4] == [
        "  #0 snn.neuron.beta=0.9: succeeded",
        "  #1 snn.neuron.beta=1.5: FAILED: error: snn.neuron.beta=1.5 is out of range; allowed: [0.0, 0.999]",
        "  #2 snn.neuron.beta=0.8: succeeded",
    ]


def test_ledger_marks_failed_jobs_done_and_keeps_a_bugs_traceback(capsys):
    from hydra.core.utils import JobReturn, JobStatus
    from omegaconf import OmegaConf

    from brain_ai.app.sweeps import SweepReport
    from brain_ai.errors import JobFailed

    def job(num, overrides, status, value):
        config = OmegaConf.create({"hydra": {"job": {"num": num}, "sweeper": {}}})
        ret = JobReturn(overrides=overrides, status=status, _return_value=value)
        return config, ret

    report = SweepReport(mark_failed_done=True)
    report.on_multirun_start(OmegaConf.create({}))
    try:
        raise RuntimeError("boom")
    except RuntimeError as err:
        bug = err
    jobs = [
        job(0, ["a=1"], JobStatus.COMPLETED, 0.5),
        job(1, ["a=2"], JobStatus.FAILED, JobFailed("error: a=2 is bad", 2)),
        job(2, ["a=3"], JobStatus.FAILED, bug),
    ]
    for config, ret in jobs:
        report.on_job_end(config, ret)
    assert [ret.status for _, ret in jobs] == [JobStatus.COMPLETED] * 3  # the basic sweeper re-raises no failure
    with pytest.raises(SystemExit) as exit_:
        report.on_multirun_end(OmegaConf.create({}))
    assert exit_.value.code == 1
    err = capsys.readouterr().err
    assert 'raise RuntimeError("boom")' in err  # a bug keeps its traceback
    assert err[err.index("sweep: ") :].splitlines() == [
        "sweep: 2 of 3 jobs failed",
        "  #0 a=1: succeeded",
        "  #1 a=2: FAILED: error: a=2 is bad",
        "  #2 a=3: FAILED: RuntimeError: boom",
    ]
