"""AdvancedLIFNeuron: heterogeneous tau initialisation, learnable fractional delays."""

import math

import pytest
import torch

from brain_ai.config import NeuronConfig, NeuronType
from brain_ai.core.neurons import TAU_RANGE, AdvancedLIFNeuron, build_neuron, delayed_input, sample_tau


def test_tau_constant():
    n = AdvancedLIFNeuron(5, tau_distribution="constant", tau_mean=10.0)
    torch.testing.assert_close(n.beta.detach(), torch.full((5,), math.exp(-0.1)))
    torch.testing.assert_close(n.tau.detach(), torch.full((5,), 10.0), rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("dist", ["uniform", "lognormal"])
def test_tau_distribution_moments(dist):
    tau = sample_tau((20000,), dist, 10.0, 3.0, torch.Generator().manual_seed(0))
    assert tau.mean().item() == pytest.approx(10.0, rel=0.03)
    assert tau.std().item() == pytest.approx(3.0, rel=0.05)
    assert tau.min() >= TAU_RANGE[0] and tau.max() <= TAU_RANGE[1]
    if dist == "uniform":
        half = math.sqrt(3) * 3.0
        assert tau.min() >= 10 - half and tau.max() <= 10 + half


def test_uniform_tau_with_nonpositive_lower_bound_raises():
    with pytest.raises(ValueError, match="tau_std"):
        sample_tau((3,), "uniform", 5.0, 4.0)


def test_beta_is_per_neuron_learnable_and_in_range():
    n = AdvancedLIFNeuron(50, tau_distribution="lognormal", tau_mean=10.0, tau_std=5.0)
    assert n.beta.shape == (50,) and n.beta_raw.requires_grad
    assert 0 < n.beta.min() and n.beta.max() < 0.999 and n.beta.unique().numel() > 1


def test_integer_delay_shifts_input():
    x = torch.arange(1.0, 9.0).reshape(1, 8, 1).expand(2, 8, 3)  # (B, T, N) values 1..8
    delay = torch.tensor([0.0, 1.0, 2.0])
    hist = torch.zeros(2, 3, 3)  # D = 2
    outs = []
    for t in range(8):
        x_del, hist = delayed_input(x[:, t], hist, delay)
        outs.append(x_del)
    out = torch.stack(outs, 1)
    assert torch.equal(out[0, :, 0], x[0, :, 0])
    assert torch.equal(out[0, 1:, 1], x[0, :-1, 1]) and out[0, 0, 1] == 0
    assert torch.equal(out[0, 2:, 2], x[0, :-2, 2]) and (out[0, :2, 2] == 0).all()


def test_fractional_delay_interpolates_and_gradient_is_tap_difference():
    hist = torch.tensor([[[0.0], [4.0], [10.0]]])  # (B=1, D+1=3, N=1)
    x = torch.tensor([[1.0]])
    delay = torch.tensor([1.25], requires_grad=True)
    x_del, new_hist = delayed_input(x, hist, delay)
    # new history [1, 0, 4]; d = 1.25 -> 0.75 * hist[1] + 0.25 * hist[2] = 0 + 1 = 1.0
    assert new_hist.flatten().tolist() == [1.0, 0.0, 4.0]
    assert x_del.item() == pytest.approx(1.0)
    x_del.sum().backward()
    assert delay.grad.item() == pytest.approx(4.0 - 0.0)


def test_delay_gradient_reaches_parameter_and_spikes_stay_binary():
    n = AdvancedLIFNeuron(6, max_delay=3, generator=torch.Generator().manual_seed(1))
    d = n.delay.detach()
    assert (d >= 0).all() and (d <= 3).all()
    x = 2.0 * torch.rand(4, 15, 6)
    s, _, tr = n.forward_sequence(x, record="membrane")
    assert ((s == 0) | (s == 1)).all() and s.sum() > 0
    tr["membrane"].sum().backward()
    assert n.delay_raw.grad is not None and n.delay_raw.grad.abs().sum() > 0
    assert n.beta_raw.grad.abs().sum() > 0


def test_no_delay_means_no_history():
    n = AdvancedLIFNeuron(4, max_delay=0)
    assert n.delay is None and n.reset_state(2).spike_history is None


def test_from_config():
    cfg = NeuronConfig(type=NeuronType.advanced_lif, tau_distribution="constant", tau_mean=20.0, max_delay=4)
    n = build_neuron(cfg, 3)
    assert isinstance(n, AdvancedLIFNeuron) and n.max_delay == 4
    torch.testing.assert_close(n.tau.detach(), torch.full((3,), 20.0), rtol=1e-3, atol=1e-3)
