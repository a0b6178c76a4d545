"""Probes against hand-computed values; health checks."""

import math

import pytest
import torch

from brain_ai.core.probes import HEALTHY_RANGES, check_health, compute_probes


def test_probe_values_against_numpy():
    g = torch.Generator().manual_seed(0)
    spikes = (torch.rand(4, 10, 6, generator=g) < 0.3).float()
    spikes[:, :, 0] = 0  # dead neuron
    spikes[:, :, 1] = 1  # saturated neuron
    spikes[0, 0, 2] = 0
    membrane = torch.randn(4, 10, 6, generator=g)
    p = compute_probes(spikes, membrane)
    s, m = spikes.numpy(), membrane.numpy()
    per_neuron = s.reshape(-1, 6).mean(0)
    assert all(v.dim() == 0 and not v.requires_grad for v in p.values())
    assert p["firing_rate"].item() == pytest.approx(s.mean())
    assert p["spike_sparsity"].item() == pytest.approx((s == 0).mean())
    assert p["dead_frac"].item() == pytest.approx((per_neuron == 0).mean())
    assert p["saturated_frac"].item() == pytest.approx((per_neuron >= 0.95).mean())
    assert p["membrane_mean"].item() == pytest.approx(m.mean(), abs=1e-6)
    assert p["membrane_var"].item() == pytest.approx(m.var(), rel=1e-5)


def test_saturation_threshold_and_no_membrane():
    spikes = torch.zeros(2, 10, 3)
    spikes[:, :9, 0] = 1  # fires 90 % of steps
    assert compute_probes(spikes)["saturated_frac"].item() == 0
    p = compute_probes(spikes, saturation_threshold=0.9)
    assert p["saturated_frac"].item() == pytest.approx(1 / 3)
    assert "membrane_mean" not in p


def test_probes_keep_graph_intact_and_work_on_conv_shapes():
    spikes = (torch.rand(2, 4, 3, 5, 5) > 0.5).float().requires_grad_()
    p = compute_probes(spikes, spikes * 2)
    assert p["firing_rate"].grad_fn is None


def test_bad_arguments():
    with pytest.raises(ValueError, match="spikes must be"):
        compute_probes(torch.zeros(3, 4))
    with pytest.raises(ValueError, match="saturation_threshold"):
        compute_probes(torch.zeros(2, 3, 4), saturation_threshold=1.5)
    with pytest.raises(ValueError, match="membrane shape"):
        compute_probes(torch.zeros(2, 3, 4), torch.zeros(2, 3, 5))


def test_healthy_ranges_match_seed_table():
    assert (HEALTHY_RANGES["firing_rate"].low, HEALTHY_RANGES["firing_rate"].high) == (0.01, 0.50)
    assert (HEALTHY_RANGES["spike_sparsity"].low, HEALTHY_RANGES["spike_sparsity"].high) == (0.50, 0.99)
    assert HEALTHY_RANGES["dead_frac"].high == 0.05 and HEALTHY_RANGES["saturated_frac"].high == 0.05


def test_check_health_healthy_and_violations():
    healthy = {
        "firing_rate": 0.1,
        "spike_sparsity": 0.9,
        "dead_frac": 0.0,
        "saturated_frac": 0.0,
        "membrane_mean": 0.3,
        "membrane_var": 0.2,
    }
    assert check_health({k: torch.tensor(v) for k, v in healthy.items()}) == []
    bad = dict(
        healthy, firing_rate=0.001, spike_sparsity=0.999, dead_frac=0.3, membrane_var=0.0, membrane_mean=math.nan
    )
    msgs = check_health(bad, layer="layer0")
    assert msgs == [  # one line per symptom, with the probes that show it and the config keys to try
        "layer0: too few spikes (firing_rate=0.001, spike_sparsity=0.999, dead_frac=0.3); try a lower snn.neuron.threshold, "
        "a larger encoding.rate_gain or a wider surrogate (snn.neuron.surrogate_alpha)",
        "layer0: non-finite values (membrane_mean=nan); try a lower optim.lr or trainer.gradient_clip_val=1.0",
        "layer0: membrane does not vary (membrane_var=0); the input may be constant or the weights zero: check data and encoding",
    ]
    nested = check_health({"a": healthy, "b": dict(healthy, saturated_frac=0.05)})
    assert len(nested) == 1 and nested[0].startswith(
        "b: too many spikes (saturated_frac=0.05); try a higher snn.neuron.threshold"
    )
