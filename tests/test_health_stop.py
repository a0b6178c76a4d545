"""Divergence and dead networks stop the run (HealthMonitor) before a broken model is checkpointed."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch
from framework_helpers import TINY, compose_config

from brain_ai.app import pipeline
from brain_ai.errors import TrainingStopped
from brain_ai.training.callbacks import HealthMonitor


def checkpoints(folder):
    return sorted(p.name for p in (folder / "checkpoints").glob("*.ckpt")) if (folder / "checkpoints").exists() else []


def test_dead_network_stops_before_any_checkpoint(tmp_path):
    cfg = compose_config([*TINY, "trainer.max_epochs=3", "snn.neuron.threshold=1e30"], output_dir=tmp_path)
    with pytest.raises(
        TrainingStopped, match=r"every neuron \(layer0, layer1\) stayed silent.*snn.neuron.threshold \(now 1e\+30\)"
    ):
        pipeline.train(cfg)
    assert checkpoints(tmp_path) == []


def test_divergence_stops_before_any_checkpoint(tmp_path):
    cfg = compose_config(
        [
            *TINY,
            "trainer.max_epochs=3",
            "optim.lr=1e10",
            "decoding=membrane",
            "snn.readout=membrane",
            "loss=population_classification",
        ],
        output_dir=tmp_path,
    )
    with pytest.raises(
        TrainingStopped,
        match=r"(divergence_factor=100 times its first value|non-finite weights).*optim.lr \(now 1e\+10\)",
    ):
        pipeline.train(cfg)
    assert checkpoints(tmp_path) == []


def test_healthy_run_is_not_stopped(tmp_path):
    metrics = pipeline.train(
        compose_config([*TINY, "test=false", "callbacks.health.dead_steps=3"], output_dir=tmp_path)
    )
    assert metrics["train/loss"] > 0 and checkpoints(tmp_path)


def trainer_at(step, batches=100, epoch=0, max_epochs=1000):
    return SimpleNamespace(global_step=step, num_training_batches=batches, current_epoch=epoch, max_epochs=max_epochs)


#: an output layer's spikes (B=2, T=2, C=2) that differ between the two samples
LIVE_OUTPUT = torch.tensor([[[1.0, 0.0], [0.0, 1.0]], [[0.0, 0.0], [1.0, 1.0]]])


def probe_module(rates, output=LIVE_OUTPUT, decoding="rate"):
    """A stand-in module whose probe reports the given per-layer firing rates and output ``(B, T, C)``."""
    from brain_ai.config import DecodingConfig
    from brain_ai.core.decoding import build_decoder

    probes = {layer: {"firing_rate": torch.tensor(rate)} for layer, rate in rates.items()}
    return SimpleNamespace(
        probe=lambda x, mask=None, details=True: SimpleNamespace(probes=probes, output=output),
        parameters=lambda: [],
        named_parameters=lambda: [],
        decoder=build_decoder(DecodingConfig(type=decoding), output.shape[-1]),
    )


def test_loss_growth_beyond_the_factor_stops():
    monitor = HealthMonitor(every_n_steps=1, warmup_steps=10**9, divergence_factor=10.0, dead_steps=0)
    module = probe_module({})
    batch = (torch.zeros(1), None)
    for step, loss in enumerate([2.0, 5.0, 19.9], start=1):
        monitor.on_train_batch_end(trainer_at(step), module, {"loss": torch.tensor(loss)}, batch, step - 1)
    with pytest.raises(
        TrainingStopped, match=r"loss 20.1 is more than callbacks.health.divergence_factor=10 times its first value 2"
    ):
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
    monitor.on_train_batch_end(
        trainer_at(1), probe_module({"layer0": 0.0, "layer1": 0.0}), None, (torch.zeros(1), None), 0
    )
    monitor.on_train_batch_end(
        trainer_at(2), probe_module({"layer0": 0.0, "layer1": 0.2}), None, (torch.zeros(1), None), 1
    )
    monitor.on_train_batch_end(
        trainer_at(3), probe_module({"layer0": 0.0, "layer1": 0.0}), None, (torch.zeros(1), None), 2
    )
    assert monitor._dead_checked


def test_a_first_epoch_shorter_than_dead_steps_is_checked_at_its_end():
    monitor = HealthMonitor(warmup_steps=10**9, divergence_factor=None, dead_steps=50)
    with pytest.raises(TrainingStopped, match="first 2 training steps"):
        for step in (1, 2):
            monitor.on_train_batch_end(
                trainer_at(step, batches=2), probe_module({"layer0": 0.0}), None, (torch.zeros(1), None), step - 1
            )


def saturated_and_silent(batch=4, steps=5):
    """Output neuron 0 fires at every step for every sample, neurons 1 and 2 never (optim.lr=1000)."""
    output = torch.zeros(batch, steps, 3)
    output[..., 0] = 1.0
    return output


def end_of_epoch(monitor, epoch, output, max_epochs=1000, decoding="rate", step=None):
    """One epoch of one training batch whose output layer gives ``output``."""
    trainer = trainer_at(epoch + 1 if step is None else step, batches=1, epoch=epoch, max_epochs=max_epochs)
    monitor.on_train_batch_end(
        trainer, probe_module({"layer0": 0.3}, output, decoding), None, (torch.zeros(1), None), 0
    )


def stuck_monitor(stuck_epochs=2, dead_steps=0):
    return HealthMonitor(warmup_steps=10**9, divergence_factor=None, dead_steps=dead_steps, stuck_epochs=stuck_epochs)


def test_an_output_stuck_for_two_epochs_in_a_row_stops():
    monitor = stuck_monitor()
    end_of_epoch(monitor, 0, saturated_and_silent())
    end_of_epoch(monitor, 1, LIVE_OUTPUT)  # a live epoch resets the count
    end_of_epoch(monitor, 2, saturated_and_silent())
    with pytest.raises(
        TrainingStopped,
        match=r"epoch 3 \(step 4\): 1 of 3 output neurons fired at \(almost\) every step and the others "
        r"stayed silent on the last training batch of 2 epochs in a row.*callbacks.health.stuck_epochs=0",
    ):
        end_of_epoch(monitor, 3, saturated_and_silent())


def test_a_short_run_is_checked_at_its_end():
    monitor = stuck_monitor(stuck_epochs=5)
    with pytest.raises(TrainingStopped, match=r"1 of 3 output neurons fired .* on the last training batch of the run"):
        end_of_epoch(monitor, 0, saturated_and_silent(), max_epochs=1)


def test_a_silent_output_is_stopped_after_epochs_in_a_row_only():
    """A short run that ends with a silent output is not stopped (first-spike codes start silent)."""
    monitor = stuck_monitor(stuck_epochs=2)
    end_of_epoch(monitor, 0, torch.zeros(4, 5, 3), max_epochs=1)
    with pytest.raises(
        TrainingStopped,
        match=r"every output neuron \(3\) stayed silent on the last training batch of 2 epochs in a row",
    ):
        end_of_epoch(monitor, 1, torch.zeros(4, 5, 3))


def test_a_silent_output_whose_decoder_still_tells_samples_apart_is_not_stuck():
    """first_spike decoding breaks ties of silent outputs by the membrane: predictions differ."""
    monitor = stuck_monitor(stuck_epochs=1)
    monitor._stop_on_stuck_output(
        trainer_at(30, epoch=0, max_epochs=1), SimpleNamespace(), torch.zeros(4, 5, 3), same_prediction=False
    )


@pytest.mark.parametrize(
    "output", [LIVE_OUTPUT, torch.zeros(1, 5, 3), torch.rand(4, 5, 3)], ids=["live", "one_sample", "membrane"]
)
def test_outputs_that_differ_or_tell_nothing_never_stop(output):
    monitor = stuck_monitor(stuck_epochs=1)
    for epoch in range(3):
        end_of_epoch(monitor, epoch, output, max_epochs=3)


def test_a_constant_membrane_readout_stops():
    with pytest.raises(TrainingStopped, match="the output layer gave the same values for every sample"):
        end_of_epoch(stuck_monitor(stuck_epochs=1), 0, torch.full((4, 5, 3), 0.25))


def test_stuck_check_disabled_with_zero():
    monitor = stuck_monitor(stuck_epochs=0)
    for epoch in range(3):
        end_of_epoch(monitor, epoch, saturated_and_silent(), max_epochs=3)


@pytest.mark.parametrize(
    "kwargs", [{"divergence_factor": 1.0}, {"dead_steps": -1}, {"every_n_steps": 0}, {"stuck_epochs": -1}]
)
def test_bad_settings_are_refused(kwargs):
    with pytest.raises(ValueError, match=next(iter(kwargs))):
        HealthMonitor(**kwargs)
