"""BPTT activation-memory prediction and chunk-size selection."""

import dataclasses
import logging

import pytest
import torch
from torch import nn

from brain_ai.config import ConfigError, SNNConfig
from brain_ai.core.memory import (
    checkpoint_every_for_budget,
    chunk_size_for_budget,
    estimate_bptt_bytes,
    fit_bptt_bytes,
    fit_network_peak,
    network_step,
    peak_bytes,
    resolve_memory_budget,
    saved_tensor_bytes,
)
from brain_ai.core.neurons import AdaptiveLIFNeuron, LIFNeuron


def _model(neuron):
    torch.manual_seed(0)
    fc = nn.Linear(20, 32)
    return lambda x: neuron.forward_sequence(fc(x))[0]


def test_saved_tensor_bytes_counts_distinct_storages():
    w = torch.rand(3, 3, requires_grad=True)
    # w * w saves w twice (one storage); exp saves its output
    assert saved_tensor_bytes(lambda: (w * w).exp()) == 2 * 9 * 4


@pytest.mark.parametrize("neuron", [LIFNeuron(32, learnable_beta=True), AdaptiveLIFNeuron(32, synaptic=True)])
def test_prediction_matches_measurement_at_larger_size(neuron):
    run = _model(neuron)
    predicted = estimate_bptt_bytes(run, (20,), batch_size=24, time_steps=60)
    x = torch.rand(24, 60, 20, requires_grad=True)
    measured = saved_tensor_bytes(lambda: run(x))
    assert predicted == pytest.approx(measured, rel=0.01)  # stated tolerance: 1 %


def test_prediction_under_bf16_autocast():
    run = _model(LIFNeuron(32))
    predicted = estimate_bptt_bytes(run, (20,), 16, 30, dtype=torch.bfloat16)
    x = torch.rand(16, 30, 20, requires_grad=True)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        measured = saved_tensor_bytes(lambda: run(x))
    assert predicted == pytest.approx(measured, rel=0.01)
    assert predicted < estimate_bptt_bytes(run, (20,), 16, 30)


def test_chunk_size_for_budget():
    run = _model(LIFNeuron(32))
    model = fit_bptt_bytes(run, (20,))
    budget = model.predict(16, 10)
    k = chunk_size_for_budget(run, (20,), 16, 100, budget)
    assert k == 10
    assert chunk_size_for_budget(run, (20,), 16, 100, 10**12) == 100
    with pytest.raises(ValueError, match="budget_bytes=10 "):
        chunk_size_for_budget(run, (20,), 16, 100, 10)
    with pytest.raises(ValueError, match="budget_bytes=0"):
        chunk_size_for_budget(run, (20,), 16, 100, 0)


# ---- peak memory of a whole network's training step; checkpoint_every for a budget ----------

SMALL = SNNConfig(input_size=40, hidden_sizes=[48], output_size=6)


def test_peak_bytes_replays_allocations_and_frees():
    def fn():
        a = torch.ones(1000, 1000)  # 4 MB
        b = torch.ones(1000, 1000)  # 8 MB alive
        del a
        c = torch.ones(2000, 1000)  # 4 + 8 = 12 MB alive: the peak
        del b, c

    assert peak_bytes(fn) == 12_000_000


@pytest.fixture(scope="module")
def small_model():
    return fit_network_peak(SMALL, batch_size=16)


@pytest.mark.parametrize("every", [None, 40])
def test_network_peak_estimate_matches_measured_peak(small_model, every):
    """The estimate for the whole network (fitted on T <= 384) against the measured peak at T = 800."""
    cfg = dataclasses.replace(SMALL, checkpoint_every=every)
    measured = peak_bytes(network_step(cfg, batch_size=16, time_steps=800))
    assert small_model.predict(800, every) == pytest.approx(measured, rel=0.3)


def test_checkpointing_lowers_the_measured_peak(small_model):
    full = peak_bytes(network_step(SMALL, 16, 600))
    ckpt = peak_bytes(network_step(dataclasses.replace(SMALL, checkpoint_every=20), 16, 600))
    assert ckpt < 0.5 * full


def test_checkpoint_every_for_budget(small_model):
    full = small_model.predict(600)
    assert checkpoint_every_for_budget(small_model, 600, full) is None
    budget = int(0.5 * full)
    k = checkpoint_every_for_budget(small_model, 600, budget)
    assert small_model.predict(600, k) <= budget and (k == 600 or small_model.predict(600, k + 1) > budget)
    with pytest.raises(
        ConfigError, match=r"snn\.memory_budget_mb=.* is below the smallest predicted peak.*allowed: a larger budget"
    ):
        checkpoint_every_for_budget(small_model, 600, 1000)


def test_resolve_memory_budget_logs_and_sets_checkpoint_every(small_model, caplog):
    budget_mb = round(0.5 * small_model.predict(400) / 2**20, 3)
    with caplog.at_level(logging.INFO, logger="brain_ai.core.memory"):
        cfg = resolve_memory_budget(
            dataclasses.replace(SMALL, memory_budget_mb=budget_mb), batch_size=16, time_steps=400
        )
    assert cfg.memory_budget_mb is None and 1 <= cfg.checkpoint_every < 400
    assert f"snn.memory_budget_mb={budget_mb:g} -> snn.checkpoint_every={cfg.checkpoint_every}" in caplog.text
    assert resolve_memory_budget(SMALL, 16, 400) == SMALL
    with pytest.raises(ConfigError, match=r"snn\.checkpoint_every=50 is larger than the sequence \(T=25 steps\)"):
        resolve_memory_budget(dataclasses.replace(SMALL, checkpoint_every=50), 16, 25)
