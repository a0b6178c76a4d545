"""TensorBoard output of a short run (losses, metrics, probes, histograms, rasters) and the
health monitor's warnings."""

from __future__ import annotations

import logging

import pytest
import torch
from framework_helpers import TINY, compose_config
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from brain_ai.app import pipeline
from brain_ai.config import ConfigError
from brain_ai.training.callbacks import HealthMonitor, SpikeRasterLogger
from brain_ai.training.plots import FIGURE_HEIGHT_PX, FIGURE_WIDTH_PX

PROBE_SUFFIXES = ["firing_rate", "spike_sparsity", "dead_frac", "saturated_frac", "membrane_mean", "membrane_var"]


@pytest.fixture(scope="module")
def events(short_run) -> EventAccumulator:
    ea = EventAccumulator(
        str(short_run.output_dir / "tensorboard"), size_guidance={"scalars": 0, "histograms": 0, "images": 0}
    )
    ea.Reload()
    return ea


def test_loss_metric_and_component_scalars(events, short_run):
    scalars = set(events.Tags()["scalars"])
    components = {k.split("/")[-1] for k in short_run.metrics if k.startswith("train/loss/")}
    assert components == {"probspikes", "rate_reg", "temporal", "isi"}  # loss=rate_classification
    expected = {"train/loss", "val/loss", "train/acc", "val/acc", "test/acc"} | {f"train/loss/{c}" for c in components}
    assert expected <= scalars, expected - scalars
    assert [e.step for e in events.Scalars("train/loss")] == [0, 1, 2, 3, 4, 5]  # every step, 2 epochs x 3 batches
    assert len(events.Scalars("val/acc")) == 2
    assert events.Scalars("test/acc")[-1].value == pytest.approx(short_run.metrics["test/acc"], rel=1e-6)


@pytest.mark.parametrize("layer", ["layer0", "layer1"])
def test_probe_scalars_every_step(events, layer):
    scalars = set(events.Tags()["scalars"])
    for suffix in PROBE_SUFFIXES:
        tag = f"probes/{layer}/{suffix}"
        assert tag in scalars, tag
        assert [e.step for e in events.Scalars(tag)] == [1, 2, 3, 4, 5, 6]
    rates = [e.value for e in events.Scalars(f"probes/{layer}/firing_rate")]
    sparsity = [e.value for e in events.Scalars(f"probes/{layer}/spike_sparsity")]
    for r, s in zip(rates, sparsity):  # binary spikes: sparsity = 1 - mean rate
        assert 0.0 <= r <= 1.0 and r + s == pytest.approx(1.0, abs=1e-6)
    for suffix in ("dead_frac", "saturated_frac"):
        assert all(0.0 <= e.value <= 1.0 for e in events.Scalars(f"probes/{layer}/{suffix}"))
    assert all(e.value >= 0.0 for e in events.Scalars(f"probes/{layer}/membrane_var"))


def test_firing_rate_histograms(events):
    histograms = events.Tags()["histograms"]
    assert "probes/layer0/firing_rate_hist" in histograms
    hists = events.Histograms("probes/layer0/firing_rate_hist")
    assert [h.step for h in hists] == [1, 2, 3, 4, 5, 6]
    assert hists[0].histogram_value.num == 32  # one rate per hidden neuron
    assert 0.0 <= hists[0].histogram_value.min <= hists[0].histogram_value.max <= 1.0


def test_raster_figures_are_readable_pngs_once_per_validation_epoch(events):
    images = events.Tags()["images"]
    assert {"raster/input", "raster/layer0", "raster/layer1"} <= set(images)
    for tag in ("raster/input", "raster/layer0", "raster/layer1"):
        shots = events.Images(tag)
        assert len(shots) == 2  # once per validation epoch, not during the sanity check
        assert shots[-1].encoded_image_string.startswith(b"\x89PNG")
        assert (shots[-1].width, shots[-1].height) == (FIGURE_WIDTH_PX, FIGURE_HEIGHT_PX)


def test_raster_sample_index_is_checked():
    with pytest.raises(ConfigError, match=r"SpikeRasterLogger.sample_index=-1 is out of range"):
        SpikeRasterLogger(sample_index=-1)
    with pytest.raises(ConfigError, match=r"SpikeRasterLogger.max_neurons=0 is out of range"):
        SpikeRasterLogger(max_neurons=0)
    logger = SpikeRasterLogger(sample_index=4)
    batch = (torch.zeros(4, 3), torch.zeros(4, dtype=torch.long))
    with pytest.raises(
        ConfigError, match=r"sample_index=4 is out of range for a validation batch of 4 samples; allowed: 0 to 3"
    ):
        logger.on_validation_batch_end(None, None, None, batch, 0)


HEALTHY = {
    "firing_rate": 0.1,
    "spike_sparsity": 0.9,
    "dead_frac": 0.0,
    "saturated_frac": 0.0,
    "membrane_mean": 0.2,
    "membrane_var": 0.1,
}


def test_health_monitor_warns_once_per_layer(caplog):
    monitor = HealthMonitor(every_n_steps=1)
    dead = {**HEALTHY, "dead_frac": 0.5}
    probes = {
        "layer0": {k: torch.tensor(v) for k, v in HEALTHY.items()},
        "layer1": {k: torch.tensor(v) for k, v in dead.items()},
    }
    with caplog.at_level(logging.WARNING, logger="brain_ai.training.callbacks"):
        for _ in range(3):
            monitor._check(probes)
    messages = [r.getMessage() for r in caplog.records if r.name == "brain_ai.training.callbacks"]
    assert len(messages) == 1
    assert messages[0].startswith(
        "SNN health: layer1: too few spikes (dead_frac=0.5); try a lower snn.neuron.threshold"
    )
    assert monitor.warned == {"layer1"}


def test_dead_network_warns_exactly_once_per_layer(tmp_path, caplog):
    cfg = compose_config(
        [
            *TINY,
            "snn.neuron.threshold=100",
            "callbacks.health.every_n_steps=1",
            "callbacks.health.warmup_steps=0",
            "callbacks.health.dead_steps=0",
            "test=false",
            "~logger",
        ],
        output_dir=tmp_path,
    )
    with caplog.at_level(logging.WARNING, logger="brain_ai.training.callbacks"):
        pipeline.train(cfg)
    messages = [r.getMessage() for r in caplog.records if r.name == "brain_ai.training.callbacks"]
    for layer in ("layer0", "layer1"):  # one symptom, one line, its probes and the keys to try
        mine = [m for m in messages if f" {layer}: " in m]
        assert len(mine) == 1, messages
        assert "too few spikes (firing_rate=0, spike_sparsity=1, dead_frac=1)" in mine[0]
        assert "snn.neuron.threshold" in mine[0] and "encoding.rate_gain" in mine[0]
    assert len(messages) == 2


def test_a_run_never_warns_twice_for_a_layer(tmp_path, caplog):
    cfg = compose_config(
        [
            *TINY,
            "trainer.max_epochs=2",
            "callbacks.health.every_n_steps=1",
            "callbacks.health.warmup_steps=0",
            "test=false",
            "~logger",
        ],
        output_dir=tmp_path,
    )
    with caplog.at_level(logging.WARNING, logger="brain_ai.training.callbacks"):
        pipeline.train(cfg)
    messages = [r.getMessage() for r in caplog.records if r.name == "brain_ai.training.callbacks"]
    for layer in ("layer0", "layer1"):  # each symptom of a layer at most once
        symptoms = [m.split(" (")[0] for m in messages if f" {layer}: " in m]
        assert len(symptoms) == len(set(symptoms)), messages


def test_health_monitor_waits_for_warmup():
    from types import SimpleNamespace

    calls = []
    module = SimpleNamespace(
        probe=lambda x, mask=None, details=True: calls.append(x) or SimpleNamespace(probes={}), parameters=lambda: []
    )
    monitor = HealthMonitor(every_n_steps=1, warmup_steps=5, dead_steps=0)
    for step in range(1, 8):
        monitor.on_train_batch_end(SimpleNamespace(global_step=step), module, None, (torch.zeros(1), None), 0)
    assert len(calls) == 3  # steps 5, 6, 7
