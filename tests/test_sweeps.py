"""Hydra multirun through train.py: a grid over encoders and a 2-trial Optuna search."""

from __future__ import annotations

import pytest
import yaml

from framework_helpers import TINY_CLI, run_train


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


@pytest.mark.slow
def test_optuna_search_writes_optimization_results(tmp_path):
    proc = run_train("hparams_search=optuna", "hydra.sweeper.n_trials=2", *TINY_CLI, f"hydra.sweep.dir={tmp_path}")
    results = yaml.safe_load((tmp_path / "optimization_results.yaml").read_text())
    assert results["name"] == "optuna"
    assert set(results["best_params"]) == {"optim.lr", "snn.neuron.beta", "encoding.num_steps"}
    assert 0.0 <= results["best_value"] <= 1.0
    assert sorted(p.name for p in tmp_path.iterdir() if p.is_dir()) == ["0", "1"]
    assert "Best value" in proc.stdout + proc.stderr
