"""Divergence and dead networks stop the run (HealthMonitor) before a broken model is checkpointed."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch

from brain_ai import pipeline
from brain_ai.callbacks import HealthMonitor
from brain_ai.errors import TrainingStopped
from framework_helpers import TINY, compose_config


def checkpoints(folder):
    return sorted(p.name for p in (folder / "checkpoints").glob("*.ckpt")) if (folder / "checkpoints").exists() else []


def test_dead_network_stops_before_any_checkpoint(tmp_path):
    cfg = compose_config([*TINY, "trainer.max_epochs=3", "snn.neuron.threshold=1e30"], output_dir=tmp_path)
    with pytest.raises(TrainingStopped, match=r"every neuron \(layer0, layer1\) stayed silent.*snn.neuron.threshold \(now 1e\+30\)"):
        pipeline.train(cfg)
    assert checkpoints(tmp_path) == []


def test_divergence_stops_before_any_checkpoint(tmp_path):
    cfg = compose_config(
        [*TINY, "trainer.max_epochs=3", "optim.lr=1e10", "decoding=membrane", "snn.readout=membrane", "loss=population_classification"],
        output_dir=tmp_path,
    )
    with pytest.raises(TrainingStopped, match=r"(divergence_factor=100 times its first value|non-finite weights).*optim.lr \(now 1e\+10\)"):
        pipeline.train(cfg)
    assert checkpoints(tmp_path) == []


def test_healthy_run_is_not_stopped(tmp_path):
    metrics = pipeline.train(compose_config([*TINY, "test=false", "callbacks.health.dead_steps=3"], output_dir=tmp_path))
    assert metrics["train/loss"] > 0 and checkpoints(tmp_path)


def trainer_at(step, batches=100):
    return SimpleNamespace(global_step=step, num_training_batches=batches)


def probe_module(rates):
    """A stand-in module whose probe reports the given per-layer firing rates."""
    probes = {layer: {"firing_rate": torch.tensor(rate)} for layer, rate in rates.items()}
    return SimpleNamespace(probe=lambda x, mask=None: SimpleNamespace(probes=probes), parameters=lambda: [], named_parameters=lambda: [])


def test_loss_growth_beyond_the_factor_stops():
    monitor = HealthMonitor(warmup_steps=10**9, divergence_factor=10.0, dead_steps=0)
    module = probe_module({})
    batch = (torch.zeros(1), None)
    for step, loss in enumerate([2.0, 5.0, 19.9], start=1):
        monitor.on_train_batch_end(trainer_at(step), module, {"loss": torch.tensor(loss)}, batch, step - 1)
    with pytest.raises(TrainingStopped, match=r"loss 20.1 is more than callbacks.health.divergence_factor=10 times its first value 2"):
        monitor.on_train_batch_end(trainer_at(4), module, {"loss": torch.tensor(20.1)}, batch, 3)


def test_non_finite_weights_stop_naming_the_parameter():
    net = torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.Linear(2, 1))
    with torch.no_grad():
        net[1].weight[0, 0] = float("inf")
    monitor = HealthMonitor(warmup_steps=10**9, divergence_factor=None, dead_steps=0)
    with pytest.raises(TrainingStopped, match=r"non-finite weights in 1.weight"):
        monitor.on_train_batch_end(trainer_at(1), net, None, (torch.zeros(1), None), 0)


@pytest.mark.parametrize("rate, cause", [(0.0, "stayed silent"), (1.0, "fired at every time step")])
def test_silent_or_saturated_for_the_first_steps_stops(rate, cause):
    monitor = HealthMonitor(warmup_steps=10**9, divergence_factor=None, dead_steps=3)
    module = probe_module({"layer0": rate, "layer1": rate})
    for step in (1, 2):
        monitor.on_train_batch_end(trainer_at(step), module, None, (torch.zeros(1), None), step - 1)
    with pytest.raises(TrainingStopped, match=cause):
        monitor.on_train_batch_end(trainer_at(3), module, None, (torch.zeros(1), None), 2)


def test_one_live_step_or_layer_means_not_dead():
    monitor = HealthMonitor(warmup_steps=10**9, divergence_factor=None, dead_steps=2)
    monitor.on_train_batch_end(trainer_at(1), probe_module({"layer0": 0.0, "layer1": 0.0}), None, (torch.zeros(1), None), 0)
    monitor.on_train_batch_end(trainer_at(2), probe_module({"layer0": 0.0, "layer1": 0.2}), None, (torch.zeros(1), None), 1)
    monitor.on_train_batch_end(trainer_at(3), probe_module({"layer0": 0.0, "layer1": 0.0}), None, (torch.zeros(1), None), 2)
    assert monitor._dead_checked


def test_a_first_epoch_shorter_than_dead_steps_is_checked_at_its_end():
    monitor = HealthMonitor(warmup_steps=10**9, divergence_factor=None, dead_steps=50)
    with pytest.raises(TrainingStopped, match="first 2 training steps"):
        for step in (1, 2):
            monitor.on_train_batch_end(trainer_at(step, batches=2), probe_module({"layer0": 0.0}), None, (torch.zeros(1), None), step - 1)


@pytest.mark.parametrize("kwargs", [{"divergence_factor": 1.0}, {"dead_steps": -1}, {"every_n_steps": 0}])
def test_bad_settings_are_refused(kwargs):
    with pytest.raises(ValueError, match=next(iter(kwargs))):
        HealthMonitor(**kwargs)
