"""AdEx (``snn.neuron.type=adex``): NumPy golden dynamics, every surrogate, backends, network use."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from brain_ai.config import NeuronConfig, SNNConfig
from brain_ai.core.neurons import AdExNeuron, build_neuron
from brain_ai.core.snn import build_snn
from brain_ai.core.surrogates import SURROGATES


def numpy_adex(x, beta, threshold, delta_t, v_rheobase, a, b, tau_w, reset, v_rest, v_reset):
    """The AdEx equations of brain_ai.core.neurons.adex, integrated in NumPy: (spikes, v, w), each (B, T, N)."""
    w_decay = math.exp(-1.0 / tau_w)
    v = w = np.zeros(x.shape[::2])
    out = {"s": [], "v": [], "w": []}
    for t in range(x.shape[1]):
        e = delta_t * np.exp((np.minimum(v, threshold) - v_rheobase) / delta_t)
        v_new = beta * v + (1 - beta) * (v_rest + e - w) + x[:, t]
        s = (v_new > threshold).astype(float)
        after = {"subtract": v_new - threshold, "zero": np.full_like(v_new, v_reset), "none": v_new}[reset]
        v_new = np.where(s > 0, after, v_new)
        w = w_decay * w + (1 - w_decay) * a * (v - v_rest) + b * s
        v = v_new
        for key, value in (("s", s), ("v", v), ("w", w)):
            out[key].append(value)
    return tuple(np.stack(out[k], axis=1) for k in ("s", "v", "w"))


@pytest.mark.parametrize(
    "reset, v_rest, v_reset", [("subtract", 0.0, 0.0), ("zero", 0.0, 0.0), ("zero", -0.25, -0.5), ("none", 0.0, 0.0)]
)
def test_adex_matches_numpy_golden(reset, v_rest, v_reset):
    params = dict(delta_t=0.15, v_rheobase=0.7, a=0.3, b=0.25, tau_w=30.0)
    neuron = AdExNeuron(
        5,
        beta=0.75,
        threshold=1.0,
        reset=reset,
        v_rest=v_rest,
        v_reset=v_reset,
        adex_delta_t=params["delta_t"],
        adex_v_rheobase=params["v_rheobase"],
        adex_a=params["a"],
        adex_b=params["b"],
        adex_tau_w=params["tau_w"],
    ).double()  # beta 0.75: exact in the float32 buffer
    x = torch.rand(3, 40, 5, generator=torch.Generator().manual_seed(0), dtype=torch.float64) * 0.6
    s, final, traces = neuron.forward_sequence(x, record="membrane")
    ref_s, ref_v, ref_w = numpy_adex(x.numpy(), 0.75, 1.0, reset=reset, v_rest=v_rest, v_reset=v_reset, **params)
    assert 0 < ref_s.mean() < 1  # the case exercises spikes, resets and adaptation
    np.testing.assert_array_equal(s.numpy(), ref_s)
    np.testing.assert_allclose(traces["membrane"].numpy(), ref_v, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(final.a.numpy(), ref_w[:, -1], rtol=1e-12, atol=1e-12)


def test_adaptation_slows_firing():
    """The spike-triggered jump b lowers the rate under a constant drive (w subtracts from v)."""
    x = torch.full((1, 200, 1), 0.3)
    rates = [AdExNeuron(1, adex_b=b).forward_sequence(x)[0].mean().item() for b in (0.0, 1.0)]
    assert rates[0] > 0 and rates[1] < 0.7 * rates[0]


@pytest.mark.parametrize("surrogate", sorted(SURROGATES))
def test_adex_trains_with_every_surrogate(surrogate):
    neuron = build_neuron(
        NeuronConfig(type="adex", surrogate=surrogate, learnable_beta=True, learnable_threshold=True), 6
    )
    x = (0.4 * torch.rand(4, 12, 6, generator=torch.Generator().manual_seed(1))).requires_grad_()
    s, _, _ = neuron.forward_sequence(x)
    s.sum().backward()
    assert s.sum() > 0
    for grad in (x.grad, neuron.beta_raw.grad, neuron.threshold_param.grad):
        assert torch.isfinite(grad).all() and grad.abs().sum() > 0


def test_adex_backends_auto_runs_eager():
    neuron = AdExNeuron(4)
    x = torch.rand(2, 6, 4)
    auto, _, _ = neuron.forward_sequence(x, backend="auto")
    eager, _, _ = neuron.forward_sequence(x, backend="eager")
    assert torch.equal(auto, eager)


def test_adex_in_a_network_with_its_own_readout_tau():
    cfg = SNNConfig(
        input_size=3,
        hidden_sizes=[5],
        output_size=2,
        neuron=NeuronConfig(type="adex", tau=20.0),
        readout="membrane",
        readout_tau=10.0,
    )
    net = build_snn(cfg)
    hidden, readout = net.neurons
    assert isinstance(hidden, AdExNeuron)
    assert hidden.beta.item() == pytest.approx(math.exp(-1 / 20)) and readout.beta.item() == pytest.approx(
        math.exp(-1 / 10)
    )
    out = net(torch.rand(2, 7, 3))
    assert out.output.shape == (2, 7, 2) and out.final_states["layer0"].a.shape == (2, 5)
