"""Resting potential ``v_rest`` and reset value ``v_reset``: a numpy reference, every backend,
the default path unchanged bit for bit, and bad values refused naming the field."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from brain_ai.config import ConfigError, NeuronConfig
from brain_ai.core.fused import fused_lif_sequence
from brain_ai.core.neurons import LIFNeuron, build_neuron
from brain_ai.core.surrogates import get_surrogate

BETA, THR = 0.8, 1.0


def numpy_lif(x: np.ndarray, reset: str, v_rest: float = 0.0, v_reset: float = 0.0, plain: bool = False):
    """Hand-written reference over ``x (B, T, N)`` float32: spikes and the membrane after each step.

    ``plain``: the equations without rest/reset terms (the code before v_rest / v_reset existed)."""
    beta, thr = np.float32(BETA), np.float32(THR)
    v = np.zeros(x.shape[::2], np.float32)
    spikes, mem = np.zeros_like(x), np.zeros_like(x)
    for t in range(x.shape[1]):
        v = beta * v + x[:, t]
        if not plain:
            v = v + (np.float32(1) - beta) * np.float32(v_rest)
        s = (v - thr > 0).astype(np.float32)
        if reset == "subtract":
            v = v - s * thr
        elif reset == "zero":
            v = v * (np.float32(1) - s) if plain else np.where(s > 0, np.float32(v_reset), v)
        spikes[:, t], mem[:, t] = s, v
    return spikes, mem


def inputs(seed: int = 0) -> torch.Tensor:
    return 0.2 + 0.5 * torch.rand(3, 20, 6, generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("backend", ["eager", "fused"])
@pytest.mark.parametrize("reset", ["subtract", "zero", "none"])
def test_defaults_give_the_plain_equations_bit_for_bit(backend, reset):
    x = inputs()
    s, state, traces = LIFNeuron(6, beta=BETA, threshold=THR, reset=reset).forward_sequence(
        x, backend=backend, record="membrane"
    )
    want_s, want_m = numpy_lif(x.numpy(), reset, plain=True)
    assert 0 < want_s.mean() < 1
    np.testing.assert_array_equal(s.numpy(), want_s)
    np.testing.assert_array_equal(traces["membrane"].numpy(), want_m)
    np.testing.assert_array_equal(state.v.numpy(), want_m[:, -1])


@pytest.mark.parametrize("backend", ["eager", "fused"])
@pytest.mark.parametrize(
    ("reset", "v_rest", "v_reset"),
    [("zero", 0.3, -0.5), ("zero", -0.2, 0.6), ("subtract", 0.4, 0.0), ("none", -0.3, 0.0)],
)
def test_membrane_leaks_to_v_rest_and_resets_to_v_reset(backend, reset, v_rest, v_reset):
    x = inputs(1)
    cell = LIFNeuron(6, beta=BETA, threshold=THR, reset=reset, v_rest=v_rest, v_reset=v_reset)
    s, state, traces = cell.forward_sequence(x, backend=backend, record="membrane")
    want_s, want_m = numpy_lif(x.numpy(), reset, v_rest, v_reset)
    assert 0 < want_s.mean() < 1
    np.testing.assert_array_equal(s.numpy(), want_s)
    np.testing.assert_allclose(traces["membrane"].numpy(), want_m, rtol=0, atol=1e-6)
    if reset == "zero":  # after every spike the membrane is v_reset (exactly, in the eager step)
        after = traces["membrane"][s > 0]
        assert torch.allclose(after, torch.full_like(after, v_reset), atol=1e-6 if backend == "fused" else 0)


def test_without_input_the_membrane_decays_to_v_rest():
    cell = LIFNeuron(2, beta=0.5, threshold=THR, v_rest=0.6)
    _, state, _ = cell.forward_sequence(torch.zeros(1, 60, 2), backend="eager")
    torch.testing.assert_close(state.v, torch.full((1, 2), 0.6))


@pytest.mark.parametrize("neuron_type", ["lif", "adaptive_lif", "recurrent_adaptive_lif"])
def test_fused_matches_eager_with_rest_and_reset_values_and_gradients(neuron_type):
    cfg = NeuronConfig(
        type=neuron_type, reset="zero", v_rest=0.2, v_reset=-0.3, learnable_beta=True, learnable_threshold=True
    )
    x = inputs(2).requires_grad_()
    out = {}
    for backend in ("eager", "fused"):
        torch.manual_seed(0)
        cell = build_neuron(cfg, 6)
        s, state, traces = cell.forward_sequence(x, backend=backend, record="membrane")
        w = torch.linspace(0.5, 1.5, s.shape[1]).view(1, -1, 1)
        loss = (s * w).sum() + state.v.sum() + traces["membrane"].sum()
        out[backend] = (s, state.v, torch.autograd.grad(loss, [x, *cell.parameters()]))
    (s1, v1, g1), (s2, v2, g2) = out["eager"], out["fused"]
    assert torch.equal(s1, s2) and 0 < s1.mean() < 1
    torch.testing.assert_close(v1, v2, rtol=0, atol=1e-6)
    for a, b in zip(g1, g2):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-4)


def test_bad_rest_and_reset_values_are_refused_naming_the_field():
    with pytest.raises(ConfigError, match=r"neuron.v_reset=1.0 is at or above neuron.threshold=1.0"):
        NeuronConfig(reset="zero", v_reset=1.0)
    with pytest.raises(ConfigError, match=r"neuron.v_reset=0.5 needs neuron.reset=zero \(got reset=subtract"):
        NeuronConfig(v_reset=0.5)
    with pytest.raises(ConfigError, match=r"neuron.v_rest=nan must be finite"):
        NeuronConfig(v_rest=float("nan"))
    with pytest.raises(ValueError, match=r"LIFNeuron: neuron.v_reset=2.0 is at or above neuron.threshold=1.5"):
        LIFNeuron(4, threshold=1.5, reset="zero", v_reset=2.0)
    with pytest.raises(ValueError, match=r"fused_lif_sequence: v_reset=0.5 needs reset=zero, got reset=none"):
        fused_lif_sequence(torch.ones(1, 2, 3), None, 0.9, 1.0, "none", get_surrogate("atan"), v_reset=0.5)
