"""sweep.py on Optuna >= 4 (issue 28): a study that survives kill -9, two workers on one study, pruning,
and search-space files checked before any trial (the bad-input cases are in tests/test_bad_inputs.py)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import optuna
import pytest
import torch
from framework_helpers import REPO

from brain_ai.app.search_space import load_search_space
from brain_ai.app.sweep_study import STUDY_FILE, counts_toward_budget
from brain_ai.config import ConfigError
from brain_ai.training.trial_pruning import PruneTrial

#: the smallest trial: digits, one training and one validation batch, no test, no callbacks
TRIAL = [
    "data=digits",
    "data.limit_train=32",
    "data.batch_size=32",
    "snn.hidden_sizes=[8]",
    "encoding.num_steps=2",
    "trainer.max_epochs=1",
    "+trainer.limit_train_batches=1",
    "+trainer.limit_val_batches=1",
    "test=false",
    "trainer.enable_progress_bar=false",
    "+trainer.enable_model_summary=false",
]
SPACE = """n_trials: {n}
sampler: {{type: random, seed: 3}}
pruner: {{type: none}}
params:
  optim.lr: {{type: float, low: 0.001, high: 0.01, log: true}}
  snn.neuron.beta: {{type: categorical, choices: [0.8, 0.9]}}
"""


def sweep_command(tmp_path: Path, n: int, *args: str) -> list:
    space = tmp_path / "space.yaml"
    space.write_text(SPACE.format(n=n))
    return [sys.executable, "sweep.py", "--search", str(space), "--dir", str(tmp_path / "sweep"), *args]


def load(tmp_path: Path) -> optuna.Study:
    storage = optuna.storages.JournalStorage(
        optuna.storages.journal.JournalFileBackend(str(tmp_path / "sweep" / STUDY_FILE))
    )
    return optuna.load_study(study_name="space", storage=storage)


@pytest.mark.slow
def test_a_study_killed_mid_trial_resumes_with_the_killed_trial_queued_again(tmp_path):
    command = sweep_command(tmp_path, 3, *TRIAL, "logger=csv", "callbacks=none")
    proc = subprocess.Popen(command, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    second = tmp_path / "sweep" / "trials" / "1"
    while not second.exists() and proc.poll() is None:  # trial 0 done, trial 1 running
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.communicate()
    killed = load(tmp_path).trials
    assert [t.state for t in killed] == [optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.RUNNING]

    resumed = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "trial #1's worker died while it ran: marked failed, its params queued again" in resumed.stderr
    trials = load(tmp_path).trials
    states = [t.state.name for t in trials]
    assert states == ["COMPLETE", "FAIL", "COMPLETE", "COMPLETE"]
    assert trials[1].user_attrs["requeued"] and trials[2].user_attrs["requeued_from"] == 1
    assert trials[2].params == trials[1].params  # the killed trial's values ran again
    assert sum(counts_toward_budget(t) for t in trials) == 3
    best = max(t.value for t in trials if t.value is not None)
    assert "sweep: 3 trials: 3 complete, 0 pruned, 0 failed" in resumed.stderr
    assert load(tmp_path).best_value == best
    assert f"val/acc={best:.6g}" in resumed.stderr
    assert (tmp_path / "sweep" / "trials" / "3" / "metrics.json").is_file()

    again = subprocess.run(
        command, cwd=REPO, capture_output=True, text=True, timeout=300
    )  # a finished study runs nothing
    assert again.returncode == 0 and len(load(tmp_path).trials) == 4, again.stderr[-3000:]


@pytest.mark.slow
def test_two_workers_share_one_study(tmp_path):
    """--workers 2: 4 trials in all, numbers 0-3 once each, each a run folder with its TensorBoard HParams row;
    plots at the end."""
    command = sweep_command(
        tmp_path, 4, "--workers", "2", *TRIAL, "callbacks.health.dead_steps=0"
    )  # 1 step: spikes or not
    proc = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    trials = load(tmp_path).trials
    assert [t.number for t in trials] == [0, 1, 2, 3]
    assert all(t.state is optuna.trial.TrialState.COMPLETE for t in trials)
    assert sorted(p.name for p in (tmp_path / "sweep" / "trials").iterdir()) == ["0", "1", "2", "3"]
    for t in trials:
        events = list((Path(t.user_attrs["run_dir"]) / "tensorboard").glob("events.out.tfevents.*"))
        assert events and b"hparams" in events[0].read_bytes(), t.number
    assert {p.name for p in (tmp_path / "sweep" / "plots").iterdir()} == {
        "optimization_history.png",
        "parallel_coordinate.png",
        "param_importances.png",
    }
    assert proc.stderr.count("sweep: 4 trials: 4 complete") == 1  # the workers leave the summary to the parent


def test_prune_trial_reports_each_validation_and_prunes():
    study = optuna.create_study(direction="maximize", pruner=optuna.pruners.ThresholdPruner(lower=0.5))
    trial = study.ask()
    callback = PruneTrial(trial, "val/acc")

    def trainer(acc, sanity=False, epoch=0):
        return SimpleNamespace(
            callback_metrics={"val/acc": torch.tensor(acc)}, sanity_checking=sanity, current_epoch=epoch
        )

    callback.on_validation_end(trainer(0.1, sanity=True), None)  # the sanity check is not an epoch
    callback.on_validation_end(trainer(0.7, epoch=0), None)
    with pytest.raises(optuna.TrialPruned, match="pruned after epoch 1: val/acc=0.2"):
        callback.on_validation_end(trainer(0.2, epoch=1), None)
    assert study._storage.get_trial(trial._trial_id).intermediate_values == {
        0: pytest.approx(0.7),
        1: pytest.approx(0.2),
    }


@pytest.mark.parametrize(
    "path", sorted((Path(__file__).parents[1] / "configs" / "hparams_search").glob("*.yaml")), ids=lambda p: p.stem
)
def test_every_shipped_search_space_passes_the_checks_before_a_first_trial(path):
    """Every file in configs/hparams_search names existing keys with values inside their fields' ranges."""
    from brain_ai.app.search_space import check_search_space
    from brain_ai.app.sweep_study import train_composer

    with train_composer() as compose:
        check_search_space(load_search_space(path.stem), [], compose)


def test_shipped_search_space_loads():
    space = load_search_space("optuna")
    assert (space.direction, space.metric, space.mode) == ("maximize", "val/acc", "max")
    assert set(space.params) == {"optim.lr", "snn.neuron.beta", "encoding.num_steps"}


@pytest.mark.parametrize(
    "text,names",
    [
        ("params: {optim.lr: {type: float, low: 0.01, high: 0.001}}", ["params.optim.lr", "low=0.01", "low < high"]),
        (
            "params: {optim.lr: {type: float, low: 0, high: 0.1, log: true}}",
            ["params.optim.lr", "log=true needs low > 0"],
        ),
        ("params: {encoding: {type: categorical, choices: []}}", ["params.encoding", "non-empty list of choices"]),
        (
            "direction: up\nparams: {optim.lr: {type: float, low: 0.001, high: 0.1}}",
            ["direction='up'", "maximize, minimize"],
        ),
        ("n_trials: 0\nparams: {optim.lr: {type: float, low: 0.001, high: 0.1}}", ["n_trials=0", "integer >= 1"]),
        (
            "sampler: {type: grid}\nparams: {optim.lr: {type: float, low: 0.001, high: 0.1}}",
            ["sampler.type='grid'", "tpe, random"],
        ),
        ("pruner: {kind: median}\nparams: {optim.lr: {type: float, low: 0.001, high: 0.1}}", ["PrunerSpec", "kind"]),
        ("direction: maximize", ["non-empty params"]),
    ],
)
def test_bad_search_space_files_are_refused_naming_the_field(tmp_path, text, names):
    path = tmp_path / "space.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as err:
        load_search_space(str(path))
    for name in names:
        assert name in str(err.value), (name, str(err.value))
    assert str(path) in str(err.value)


def test_a_trial_that_the_pruner_stops_is_pruned_and_the_next_one_runs(tmp_path):
    """The pruning callback's TrialPruned leaves Lightning's fit and makes the trial PRUNED (not FAIL)."""
    from hydra.core.hydra_config import HydraConfig

    from brain_ai.app.sweep_study import Sweep, train_composer

    (tmp_path / "space.yaml").write_text(SPACE.format(n=2))
    space = load_search_space(str(tmp_path / "space.yaml"))
    try:
        with train_composer() as compose:
            sweep = Sweep(space, [*TRIAL, "logger=csv", "callbacks=none"], tmp_path / "sweep", None, "space", compose)
            sweep.study.pruner = optuna.pruners.ThresholdPruner(lower=2.0)  # every accuracy is below 2
            sweep.run()
    finally:
        HydraConfig.instance().cfg = None
    trials = sweep.study.trials
    assert [t.state for t in trials] == [optuna.trial.TrialState.PRUNED] * 2
    assert all(list(t.intermediate_values) == [0] for t in trials)
