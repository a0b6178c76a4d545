"""The parallel spiking neuron family (psn, masked_psn, sliding_psn) against a few lines of numpy:
spikes, the surrogate gradients, the masked PSN's lambda ramp, the sliding PSN's carried state,
the networks and the efficiency counts. The peer test against SpikingJelly: tests/interop/test_psn_spikingjelly.py."""

import math

import numpy as np
import pytest
import torch

from brain_ai.config import NeuronConfig, SNNConfig
from brain_ai.core.neurons import PSN, MaskedPSN, SlidingPSN, build_neuron
from brain_ai.core.neurons.psn import follow_mask_schedule, with_time_steps
from brain_ai.core.snn import build_snn, run_streaming
from brain_ai.metrics.efficiency import measure_efficiency


def atan_grad(h):
    """The default surrogate's derivative (atan, alpha = 2, peak 1)."""
    return 1.0 / (1.0 + (math.pi * h) ** 2)


def np_time_map(x, m, bias):
    """``H[b, t, n] = sum_j M[t, j] x[b, j, n] + bias_t``; spikes ``H >= 0``."""
    h = np.einsum("tj,bjn->btn", m, x) + bias
    return h, (h >= 0).astype(np.float64)


def np_sliding_matrix(w, steps):
    """The sliding PSN's (T, T) map written out: ``M[t, j] = w[k - 1 - (t - j)]`` for ``0 <= t - j < k``."""
    k = len(w)
    m = np.zeros((steps, steps))
    for t in range(steps):
        for j in range(max(0, t - k + 1), t + 1):
            m[t, j] = w[k - 1 - (t - j)]
    return m


def randomised(neuron, seed=0):
    """``neuron`` in float64 with random weights and biases (away from its structured init)."""
    gen = torch.Generator().manual_seed(seed)
    neuron = neuron.double()
    with torch.no_grad():
        neuron.weight.copy_(torch.randn(neuron.weight.shape, generator=gen, dtype=torch.float64) * 0.7)
        neuron.bias.copy_(torch.randn(neuron.bias.shape, generator=gen, dtype=torch.float64) * 0.3)
    return neuron


def np_matrix(neuron, steps):
    if isinstance(neuron, SlidingPSN):
        return np_sliding_matrix(neuron.weight.detach().numpy(), steps)
    w = neuron.weight.detach().numpy()
    if isinstance(neuron, MaskedPSN):
        lam = float(neuron.lambda_)
        band = np.array([[1.0 if j <= t <= j + neuron.k - 1 else 0.0 for j in range(steps)] for t in range(steps)])
        w = w * (lam * band + (1 - lam))
    return w


def np_bias(neuron, steps):
    b = neuron.bias.detach().numpy()
    return np.full((steps, 1), float(b)) if b.ndim == 0 else b


CASES = {
    "psn": lambda: PSN(5, psn_steps=6),
    "masked_psn_banded": lambda: MaskedPSN(5, psn_steps=6, psn_order=2),
    "masked_psn_ramping": lambda: MaskedPSN(5, psn_steps=6, psn_order=3, psn_mask_ramp_epochs=4),
    "sliding_psn": lambda: SlidingPSN(5, psn_order=3),
    "sliding_psn_order_1": lambda: SlidingPSN(5, psn_order=1),
}


@pytest.mark.parametrize("case", CASES)
def test_spikes_and_gradients_match_numpy(case):
    neuron = randomised(CASES[case]())
    if case == "masked_psn_ramping":
        neuron.set_epoch(1)  # lambda = 1/4: the full matrix, weighted toward the band
        assert float(neuron.lambda_) == 0.25
    rng = np.random.default_rng(1)
    x_np = rng.normal(size=(3, 6, 5))
    up = rng.normal(size=(3, 6, 5))  # dL/dS
    x = torch.tensor(x_np, requires_grad=True)
    s, _, traces = neuron.forward_sequence(x, record="membrane")
    (s * torch.tensor(up)).sum().backward()

    m, bias = np_matrix(neuron, 6), np_bias(neuron, 6)
    h_ref, s_ref = np_time_map(x_np, m, bias)
    np.testing.assert_allclose(traces["membrane"].detach().numpy(), h_ref, rtol=1e-12, atol=1e-12)
    assert np.array_equal(s.detach().numpy(), s_ref)
    g_h = up * atan_grad(h_ref)  # dL/dH
    np.testing.assert_allclose(x.grad.numpy(), np.einsum("tj,btn->bjn", m, g_h), rtol=1e-10, atol=1e-12)
    g_m = np.einsum("btn,bjn->tj", g_h, x_np)  # dL/dM
    if isinstance(neuron, SlidingPSN):  # M[t, j] = w[k - 1 - (t - j)]
        k = neuron.k
        g_w = [sum(g_m[t, t - lag] for t in range(lag, 6)) for lag in range(k)][::-1]
        np.testing.assert_allclose(neuron.weight.grad.numpy(), g_w, rtol=1e-10)
        np.testing.assert_allclose(neuron.bias.grad.numpy(), g_h.sum(), rtol=1e-10)
    else:
        mask = m / np.where(neuron.weight.detach().numpy() == 0, 1, neuron.weight.detach().numpy())
        np.testing.assert_allclose(neuron.weight.grad.numpy(), g_m * mask, rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(neuron.bias.grad.numpy(), g_h.sum(axis=(0, 2))[:, None], rtol=1e-10)


def test_masked_psn_ramp_reaches_a_causal_band():
    neuron = MaskedPSN(4, psn_steps=5, psn_order=2, psn_mask_ramp_epochs=2)
    assert float(neuron.lambda_) == 0.0  # the full T x T matrix while the ramp starts
    x = torch.rand(2, 5, 4)
    changed = x.clone()
    changed[:, 4] += 10.0  # only the last step differs
    net = torch.nn.Sequential(neuron)
    h = lambda inp: neuron.forward_sequence(inp, record="membrane")[2]["membrane"]  # noqa: E731
    with torch.no_grad():
        neuron.weight.fill_(0.5)  # every entry reads its input
    assert not torch.equal(h(x)[:, 0], h(changed)[:, 0])  # lambda 0: step 0 reads step 4
    follow_mask_schedule(net, 1)
    assert float(neuron.lambda_) == 0.5
    follow_mask_schedule(net, 2)
    assert float(neuron.lambda_) == 1.0
    assert torch.equal(h(x)[:, :4], h(changed)[:, :4])  # lambda 1: no step reads a later one
    neuron.mask0.zero_()
    assert float(h(x).detach().abs().max()) == pytest.approx(1.0)  # banded weights gone: only the bias (-1) is left
    assert float(MaskedPSN(4, psn_steps=5, psn_order=2).lambda_) == 1.0  # no ramp: banded from the start


def test_sliding_psn_continues_a_sequence_across_calls_and_segments():
    torch.manual_seed(0)
    neuron = randomised(SlidingPSN(4, psn_order=3))
    x = torch.randn(2, 9, 4, dtype=torch.float64, requires_grad=True)
    whole, final, _ = neuron.forward_sequence(x, record="membrane")
    first, state, _ = neuron.forward_sequence(x[:, :4], carry_state=True)
    second, final_b, _ = neuron.forward_sequence(x[:, 4:], state)
    assert torch.equal(torch.cat([first, second], 1), whole)
    assert torch.equal(final.spike_history, final_b.spike_history)
    assert torch.equal(final.spike_history[:, 0], x[:, -1].detach())  # newest first
    (whole * torch.arange(9.0, dtype=torch.float64).view(1, 9, 1)).sum().backward()
    grads = x.grad.clone()
    x.grad = None
    ckpt, _, _ = neuron.forward_sequence(x, checkpoint_every=2)
    (ckpt * torch.arange(9.0, dtype=torch.float64).view(1, 9, 1)).sum().backward()
    torch.testing.assert_close(x.grad, grads, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("kind", ["psn", "masked_psn"])
def test_fixed_steps_refuse_other_lengths_and_carried_state(kind):
    neuron = PSN(3, psn_steps=4) if kind == "psn" else MaskedPSN(3, psn_steps=4, psn_order=2)
    with pytest.raises(ValueError, match="the input has 5 steps but the neuron maps exactly T=4"):
        neuron.forward_sequence(torch.rand(2, 5, 3))
    with pytest.raises(ValueError, match="the input has 2 steps"):
        neuron.forward_sequence(torch.rand(2, 4, 3), chunk_size=2)
    state = neuron.reset_state(2)
    with pytest.raises(ValueError, match="cannot continue a sequence"):
        neuron.forward_sequence(torch.rand(2, 4, 3), state)


def test_from_config_builds_each_type_with_its_fields():
    assert build_neuron(NeuronConfig(type="psn", psn_steps=7, threshold=0.5), 3).bias.flatten().tolist() == [-0.5] * 7
    masked = build_neuron(NeuronConfig(type="masked_psn", psn_steps=7, psn_order=3, psn_mask_ramp_epochs=2), 3)
    assert (masked.T, masked.k, masked.ramp_epochs, float(masked.lambda_)) == (7, 3, 2, 0.0)
    sliding = build_neuron(NeuronConfig(type="sliding_psn", psn_order=4), 3)
    assert sliding.weight.tolist() == [0.125, 0.25, 0.5, 1.0] and sliding.bias.item() == -1.0


def test_with_time_steps_fills_steps_and_order_from_the_data():
    psn = with_time_steps(SNNConfig(neuron=NeuronConfig(type="psn")), 12)
    assert (psn.neuron.psn_steps, psn.neuron.psn_order) == (12, None)
    masked = with_time_steps(SNNConfig(neuron=NeuronConfig(type="masked_psn", psn_order=3)), 12)
    assert (masked.neuron.psn_steps, masked.neuron.psn_order) == (12, 3)
    sliding = with_time_steps(SNNConfig(neuron=NeuronConfig(type="sliding_psn")), 12)
    assert (sliding.neuron.psn_steps, sliding.neuron.psn_order) == (None, 12)
    lif = SNNConfig()
    assert with_time_steps(lif, 12) is lif


@pytest.mark.parametrize(
    "neuron, architecture",
    [
        (dict(type="psn", psn_steps=6), "mlp"),
        (dict(type="masked_psn", psn_steps=6, psn_order=2), "conv"),
        (dict(type="sliding_psn", psn_order=3), "mlp"),
        (dict(type="sliding_psn", psn_order=3), "conv"),
    ],
)
def test_networks_run_and_learn_with_psn_layers(neuron, architecture):
    torch.manual_seed(0)
    shape = dict(input_shape=[1, 6, 6], conv_channels=[3]) if architecture == "conv" else dict(input_size=36)
    net = build_snn(
        SNNConfig(architecture=architecture, hidden_sizes=[8], output_size=3, neuron=NeuronConfig(**neuron), **shape)
    )
    x = torch.rand(4, 6, 1, 6, 6) * 2
    out = net(x, return_details=True)
    assert out.output.shape == (4, 6, 3) and set(out.layer_membranes) == set(net.layer_names)
    out.output.sum().backward()
    weights = [p for name, p in net.named_parameters() if name.endswith("neurons.0.weight")]
    assert weights and weights[0].grad is not None and weights[0].grad.abs().sum() > 0  # the time map learns


def test_sliding_psn_network_streams_like_one_call():
    torch.manual_seed(0)
    net = build_snn(
        SNNConfig(input_size=5, hidden_sizes=[6], output_size=2, neuron=NeuronConfig(type="sliding_psn", psn_order=3))
    )
    x = torch.rand(2, 10, 5) * 2
    with torch.no_grad():
        assert torch.equal(run_streaming(net, x, 3).output, net(x).output)


def test_efficiency_counts_the_time_map_per_neuron_and_step():
    """Hand-derived: 4 hidden neurons and a 2-neuron readout, T = 5; taps per step: psn 5; masked
    (k = 2, banded) 1 + 2 + 2 + 2 + 2 = 9; sliding (k = 3) 1 + 2 + 3 + 3 + 3 = 12 (MACs = taps when no weight is 0)."""
    x = torch.rand(2, 5, 3)
    for neuron, taps in [
        (dict(type="psn", psn_steps=5), 25),
        (dict(type="masked_psn", psn_steps=5, psn_order=2), 9),
        (dict(type="sliding_psn", psn_order=3), 12),
    ]:
        net = build_snn(SNNConfig(input_size=3, hidden_sizes=[4], output_size=2, neuron=NeuronConfig(**neuron)))
        with torch.no_grad():
            for m in net.neurons:
                m.weight.fill_(0.3)  # no zero weight (the PSN's own init is lower-triangular)
        report = measure_efficiency(net, x)
        for row, neurons in (("layer0.temporal", 4), ("layer1.temporal", 2)):
            assert report.layers[row]["dense_ops"] == neurons * taps
            assert report.layers[row]["effective_macs"] == neurons * taps
            assert report.layers[row]["effective_acs"] == 0
        assert report.layers["layer0.temporal"]["parameter_count"] == net.neurons[0].weight.numel()
        assert "membrane_updates" not in report.layers["layer0.temporal"]
    masked = build_snn(
        SNNConfig(
            input_size=3,
            hidden_sizes=[4],
            output_size=2,
            neuron=NeuronConfig(type="masked_psn", psn_steps=5, psn_order=2, psn_mask_ramp_epochs=3),
        )
    )
    mask = torch.tensor([[True] * 5, [True, True, False, False, False]])
    report = measure_efficiency(masked, x, mask=mask)  # lambda 0: all 25 taps; 5 + 2 of 10 (sample, step) rows valid
    assert report.layers["layer0.temporal"]["dense_ops"] == 4 * 5 * 7 / 2


@pytest.mark.parametrize(
    "neuron",
    [
        dict(type="psn", psn_steps=7),
        dict(type="masked_psn", psn_steps=7, psn_order=3, psn_mask_ramp_epochs=2),
        dict(type="sliding_psn", psn_order=3),
        dict(type="sliding_psn", psn_order=9),  # k - 1 > T: the carried history is partly the zeros before step 0
    ],
)
@pytest.mark.parametrize("features", [1, 2])  # 1: the synapses are an outer product
def test_time_map_on_a_narrower_input_equals_the_layer_by_layer_run(neuron, features, monkeypatch):
    """Input 1 or 2 < 6 hidden neurons: the network maps time on the Linear's input (M (U W^T + 1 b^T) =
    (M U) W^T + (M 1) b^T); spikes, membranes, final states and gradients equal the current-first run."""
    torch.manual_seed(0)
    net = build_snn(
        SNNConfig(input_size=features, hidden_sizes=[6], output_size=3, neuron=NeuronConfig(**neuron)),
    ).double()
    randomised(net.neurons[0], seed=1)
    calls = []
    original = type(net.neurons[0]).run_after_linear
    monkeypatch.setattr(
        type(net.neurons[0]), "run_after_linear", lambda self, *a: calls.append(1) or original(self, *a)
    )
    x = torch.rand(4, 7, features, dtype=torch.float64) * 2
    out = net(x, record_membrane=True)
    assert calls == [1]
    grads = torch.autograd.grad(out.output.sum(), list(net.parameters()))

    current = net.linears[0](x)
    spikes, state, traces = net.neurons[0].forward_sequence(current, record="membrane")
    readout, _, _ = net.neurons[1].forward_sequence(net.linears[1](spikes))
    ref_grads = torch.autograd.grad(readout.sum(), list(net.parameters()))
    assert torch.equal(out.layer_spikes["layer0"], spikes)
    torch.testing.assert_close(out.layer_membranes["layer0"], traces["membrane"], rtol=0, atol=1e-12)
    torch.testing.assert_close(out.output, readout, rtol=0, atol=1e-12)
    for field in ("v", "spike_history"):
        if getattr(state, field) is not None:
            torch.testing.assert_close(
                getattr(out.final_states["layer0"], field), getattr(state, field), rtol=0, atol=1e-12
            )
    for got, want in zip(grads, ref_grads):
        torch.testing.assert_close(got, want, rtol=0, atol=1e-12)
