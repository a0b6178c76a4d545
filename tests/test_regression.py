"""Regression as a task: experiment=synthetic_regression trains end to end, learns, checkpoints by
val/mse; classification codecs on regression data (and the reverse) fail before training."""

from __future__ import annotations

import csv
import logging
import math

import numpy as np
import pytest
import torch
from framework_helpers import compose_config

from brain_ai.app import pipeline
from brain_ai.config import ConfigError, Task
from brain_ai.core.decoding import RegressionOutput

#: experiment=synthetic_regression shrunk to ~2 s: 4 inputs -> 1 target (the (B, 1) case), 360
#: training samples, a 32-neuron hidden layer over 10 steps, 3 epochs, CSV metrics per epoch.
TINY_REGRESSION = [
    "experiment=synthetic_regression",
    "data.num_samples=500",
    "data.num_inputs=4",
    "data.num_targets=1",
    "data.batch_size=32",
    "encoding.num_steps=10",
    "snn.hidden_sizes=[32]",
    "optim.lr=0.01",
    "trainer.max_epochs=3",
    "trainer.enable_progress_bar=false",
    "+trainer.enable_model_summary=false",
    "logger=csv",
]


def test_experiment_is_a_regression_run_checkpointed_by_val_mse():
    cfg = compose_config(["experiment=synthetic_regression"])
    _, enc, dec, loss, _, data = pipeline.resolve_configs(cfg)
    assert (data.name.name, enc.type.name, dec.population_mode.name, loss.task_loss.name) == (
        "synthetic_regression",
        "population",
        "regression",
        "mse",
    )
    assert (cfg.optimized_metric, cfg.optimized_mode) == ("val/mse", "min")
    checkpoint = cfg.callbacks.model_checkpoint
    assert (checkpoint.monitor, checkpoint.mode) == ("val/mse", "min")
    default = compose_config([]).callbacks.model_checkpoint  # classification default unchanged
    assert (default.monitor, default.mode) == ("val/acc", "max")


def test_model_output_dimension_is_the_number_of_targets():
    model, dm = pipeline.build_model(compose_config(["experiment=synthetic_regression", "snn.hidden_sizes=[8]"]))
    assert (dm.task, dm.num_outputs, model.task, model.hparams.task) == (
        Task.regression,
        2,
        Task.regression,
        "regression",
    )
    assert model.snn_cfg.input_size == 10 * 8 and model.snn_cfg.output_size == 2 * 8  # 8 neurons per value
    decoded, _ = model(torch.rand(5, 10))
    assert isinstance(decoded, RegressionOutput) and decoded.estimate.shape == (5, 2)


def test_regression_trains_learns_and_tests_the_best_checkpoint(tmp_path, caplog):
    cfg = compose_config(TINY_REGRESSION, output_dir=tmp_path)
    with caplog.at_level(logging.INFO, logger="brain_ai.app.pipeline"):
        metrics = pipeline.train(cfg)
    expected = {f"{stage}/{name}" for stage in ("train", "val", "test") for name in ("loss", "mse", "mae")}
    assert expected <= set(metrics)
    assert all(math.isfinite(v) for v in metrics.values()), metrics
    assert metrics["test/mae"] ** 2 <= metrics["test/mse"] + 1e-7  # Jensen: mean|e|^2 <= mean e^2

    # learned: well below the MSE of predicting the training mean (the targets' variance)
    _, dm = pipeline.build_model(cfg)
    dm.setup()
    train_targets = dm.train_set.dataset.targets[dm.train_set.indices].numpy()
    test_targets = dm.test_set.targets.numpy()
    mean_predictor_mse = float(((test_targets - train_targets.mean(axis=0)) ** 2).mean())
    assert metrics["test/mse"] < 0.5 * mean_predictor_mse, (metrics["test/mse"], mean_predictor_mse)

    # tested the checkpoint with the lowest val/mse (not the last one, not by val/acc)
    with open(tmp_path / "csv" / "metrics.csv") as f:
        val_mse = {int(r["epoch"]): float(r["val/mse"]) for r in csv.DictReader(f) if r.get("val/mse")}
    assert sorted(val_mse) == [0, 1, 2]
    best_epoch = min(val_mse, key=val_mse.get)
    tested = [r.getMessage() for r in caplog.records if r.getMessage().startswith("tested ")]
    assert tested == [f"tested {tmp_path / 'checkpoints' / f'epoch_{best_epoch:03d}.ckpt'}"]
    assert np.isclose(metrics["val/mse"], val_mse[2])  # callback_metrics keep the last epoch's value


@pytest.mark.parametrize(
    "overrides,message",
    [
        ([], r"loss\.task_loss=probspikes does not fit data=synthetic_regression, a regression task; allowed: mse"),
        (["preset=rate_classification"], r"loss\.task_loss=probspikes does not fit data=synthetic_regression"),
        (["preset=population_classification"], r"loss\.task_loss=cross_entropy does not fit data=synthetic_regression"),
        (
            ["preset=regression", "decoding.population_mode=classification"],
            r"decoding\.population_mode=classification does not fit data=synthetic_regression, a regression task; allowed: regression",
        ),
    ],
    ids=["default_codec", "rate_classification", "population_classification", "population_classification_decoder"],
)
def test_classification_codec_on_regression_data_fails_before_training(overrides, message):
    with pytest.raises(ConfigError, match=message):
        pipeline.build_model(compose_config(["data=synthetic_regression", *overrides]))
