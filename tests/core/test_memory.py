"""BPTT activation-memory prediction and chunk-size selection."""

import pytest
import torch
from torch import nn

from brain_ai.core.memory import chunk_size_for_budget, estimate_bptt_bytes, fit_bptt_bytes, saved_tensor_bytes
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
