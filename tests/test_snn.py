"""SNNCore / ConvSNN (brain_ai.core.snn): shapes, layer names, the over-time layers, TBPTT
equivalence, the membrane readout, the neuron variants, dropout and io-size checks (carried state
and checkpointing: test_snn_segments.py)."""

from __future__ import annotations

import dataclasses

import pytest
import torch
from framework_helpers import dyadic_weights_

from brain_ai.config import ConfigError, NeuronConfig, SNNConfig
from brain_ai.core.network_output import dropout_seeds, over_time
from brain_ai.core.snn import ConvSNN, SNNCore, build_snn, with_io_sizes

PROBE_KEYS = {"firing_rate", "spike_sparsity", "membrane_mean", "membrane_var", "dead_frac", "saturated_frac"}


def mlp_cfg(**kw) -> SNNConfig:
    neuron = kw.pop("neuron", NeuronConfig(threshold=0.5))
    return SNNConfig(input_size=20, hidden_sizes=[32, 16], output_size=5, neuron=neuron, **kw)


def conv_cfg(**kw) -> SNNConfig:
    neuron = kw.pop("neuron", NeuronConfig(threshold=0.5))
    return SNNConfig(
        architecture="conv",
        input_shape=[2, 8, 8],
        conv_channels=[4, 8],
        hidden_sizes=[16],
        output_size=5,
        neuron=neuron,
        **kw,
    )


def spikes_in(*shape, p=0.4, seed=0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return (torch.rand(*shape, generator=g) < p).float()


def test_mlp_shapes_names_and_binary_spikes():
    torch.manual_seed(0)
    net = SNNCore(mlp_cfg())
    x = spikes_in(3, 12, 4, 5)  # (B, T, 4, 5) -> flattened to 20 features
    out = net(x)
    assert net.layer_names == ["layer0", "layer1", "layer2"]
    assert out.output.shape == (3, 12, 5)
    assert list(out.layer_spikes) == ["layer0", "layer1", "layer2"]
    assert [tuple(s.shape) for s in out.layer_spikes.values()] == [(3, 12, 32), (3, 12, 16), (3, 12, 5)]
    assert torch.equal(out.output, out.layer_spikes["layer2"])
    for s in out.layer_spikes.values():
        assert set(s.unique().tolist()) <= {0.0, 1.0}
    assert out.layer_spikes["layer0"].sum() > 0
    assert out.probes == {} and out.layer_membranes == {}
    assert list(out.final_states) == ["layer0", "layer1", "layer2"]


def test_conv_shapes_and_names():
    torch.manual_seed(0)
    net = ConvSNN(conv_cfg()).eval()
    out = net(spikes_in(2, 6, 2, 8, 8))
    assert net.layer_names == ["layer0", "layer1", "layer2", "layer3"]
    shapes = {k: tuple(v.shape) for k, v in out.layer_spikes.items()}
    assert shapes == {"layer0": (2, 6, 4, 8, 8), "layer1": (2, 6, 8, 4, 4), "layer2": (2, 6, 16), "layer3": (2, 6, 5)}
    assert out.output.shape == (2, 6, 5)


def test_return_details_gives_probes_and_membranes_of_every_layer():
    torch.manual_seed(0)
    net = SNNCore(mlp_cfg())
    out = net(spikes_in(3, 10, 20), return_details=True)
    assert set(out.probes) == {"layer0", "layer1", "layer2"}
    for name, probes in out.probes.items():
        assert set(probes) == PROBE_KEYS
        assert out.layer_membranes[name].shape == out.layer_spikes[name].shape
        rate = out.layer_spikes[name].detach().mean()
        assert float(probes["firing_rate"]) == pytest.approx(float(rate), abs=1e-6)
        assert float(probes["spike_sparsity"]) == pytest.approx(
            1.0 - float((out.layer_spikes[name] > 0).float().mean()), abs=1e-6
        )
    only_membrane = net(spikes_in(3, 10, 20), record_membrane=True)
    assert set(only_membrane.layer_membranes) == {"layer0", "layer1", "layer2"} and only_membrane.probes == {}


def _manual_mlp(net: SNNCore, x: torch.Tensor) -> torch.Tensor:
    """Step-by-step reference: per time step, Linear then one neuron step, layer by layer."""
    states = [None] * len(net.linears)
    outputs = []
    for t in range(x.shape[1]):
        h = x[:, t].flatten(1)  # (B, F)
        for j, (linear, neuron) in enumerate(zip(net.linears, net.neurons)):
            h, states[j] = neuron(linear(h), states[j])
        outputs.append(h)
    return torch.stack(outputs, dim=1)  # (B, T, C)


def _manual_conv(net: ConvSNN, x: torch.Tensor) -> torch.Tensor:
    n_conv = len(net.blocks)
    states = [None] * len(net.neurons)
    outputs = []
    for t in range(x.shape[1]):
        h = x[:, t]  # (B, C, H, W)
        for j, block in enumerate(net.blocks):
            h, states[j] = net.neurons[j](block(h), states[j])
            h = net.pool(h)
        h = h.flatten(1)
        for j, linear in enumerate(net.linears):
            h, states[n_conv + j] = net.neurons[n_conv + j](linear(h), states[n_conv + j])
        outputs.append(h)
    return torch.stack(outputs, dim=1)


@pytest.mark.parametrize("backend", ["auto", "eager", "fused"])
def test_mlp_over_time_equals_a_step_by_step_loop(backend):
    torch.manual_seed(1)
    net = SNNCore(mlp_cfg(neuron=NeuronConfig(threshold=0.5, backend=backend))).double()
    x = spikes_in(4, 15, 20).double()
    expected = _manual_mlp(net, x)
    got = net(x).output
    assert expected.sum() > 0
    assert torch.equal(got, expected)


def test_over_time_keeps_a_time_major_input_time_major():
    """A ``(B, T, F)`` view of a ``(T, B, F)`` tensor (the recurrent Functions' spikes) is not copied to batch-major."""
    linear = torch.nn.Linear(6, 3).double()
    x = torch.randn(5, 4, 6, dtype=torch.float64).transpose(0, 1)  # (B, T, F) = (4, 5, 6), time-major storage
    y = over_time(linear, x)
    assert y.shape == (4, 5, 3) and y.transpose(0, 1).is_contiguous()
    torch.testing.assert_close(y, over_time(linear, x.contiguous()), rtol=0, atol=1e-12)
    assert over_time(linear, x.contiguous()).is_contiguous()


@pytest.mark.parametrize("hidden,time_major", [([32, 16], [True, True]), ([8], [False])])
def test_a_recurrent_layer_gets_its_current_time_major(monkeypatch, hidden, time_major):
    """The recurrent Functions work time-major: the network hands them a time-major current when its
    steps are wider than the layer input's (a narrower one stays batch-major); outputs as eager."""
    import brain_ai.core.neurons.lif as lif

    seen, real = [], lif.fused_recurrent_sequence
    monkeypatch.setattr(lif, "fused_recurrent_sequence", lambda x, *a, **k: seen.append(x) or real(x, *a, **k))
    neuron = NeuronConfig(type="recurrent_adaptive_lif", threshold=0.5, backend="fused")
    cfg = dataclasses.replace(mlp_cfg(neuron=neuron), hidden_sizes=hidden)
    a, b = _twin(cfg, dataclasses.replace(cfg, neuron=dataclasses.replace(neuron, backend="eager")))
    x = spikes_in(4, 15, 20)
    x.requires_grad_(True)
    out = a(x).output
    assert [not t.is_contiguous() and t.transpose(0, 1).is_contiguous() for t in seen] == time_major
    torch.testing.assert_close(out, b(x).output, rtol=0, atol=1e-6)
    gx = torch.autograd.grad(out.sum(), x)[0]
    torch.testing.assert_close(gx, torch.autograd.grad(b(x).output.sum(), x)[0], rtol=1e-5, atol=1e-5)


def test_backend_reaches_every_spiking_layer_and_errors_name_it():
    x = spikes_in(2, 6, 20)
    with pytest.raises(ConfigError, match="RecurrentLIFNeuron: backend='fused' cannot run"):  # refused when built
        SNNCore(mlp_cfg(neuron=NeuronConfig(type="recurrent_lif", backend="fused")))
    with pytest.raises(ConfigError, match="backend='triton' cannot run: tensors are on cpu"):
        SNNCore(mlp_cfg(neuron=NeuronConfig(backend="triton")))(x)
    # the membrane readout decides its own backend (fused) and is not affected by the spiking layers'
    assert SNNCore(mlp_cfg(neuron=NeuronConfig(backend="fused"), readout="membrane"))(x).output.shape == (2, 6, 5)


def test_conv_over_time_equals_a_step_by_step_loop():
    torch.manual_seed(2)
    net = ConvSNN(conv_cfg()).double().eval()  # BatchNorm in eval: per-frame, independent of the batch
    x = spikes_in(2, 7, 2, 8, 8).double()
    expected = _manual_conv(net, x)
    got = net(x)
    assert got.layer_spikes["layer0"].sum() > 0
    assert torch.equal(got.output, expected)


def _twin(cfg_a: SNNConfig, cfg_b: SNNConfig):
    torch.manual_seed(3)
    a = build_snn(cfg_a)
    b = build_snn(cfg_b)
    b.load_state_dict(a.state_dict())
    return a, b


@pytest.mark.parametrize("cfg_fn", [mlp_cfg, lambda **kw: conv_cfg(norm="none", **kw)], ids=["mlp", "conv"])
def test_chunk_size_gives_a_bit_identical_forward(cfg_fn):
    full, chunked = _twin(cfg_fn(), cfg_fn(chunk_size=3))
    dyadic_weights_(full)  # exact matmul sums: a chunk's GEMM shape cannot change the bits
    chunked.load_state_dict(full.state_dict())
    x = spikes_in(2, 11, *((20,) if full.cfg.architecture.value == "mlp" else (2, 8, 8)))
    a, b = full(x, return_details=True), chunked(x, return_details=True)
    assert torch.equal(a.output, b.output)
    for name in a.layer_membranes:
        assert torch.equal(a.layer_membranes[name], b.layer_membranes[name])


def test_membrane_readout_outputs_a_real_valued_membrane():
    torch.manual_seed(4)
    net = SNNCore(mlp_cfg(readout="membrane"))
    out = net(spikes_in(3, 9, 20))
    assert out.output.shape == (3, 9, 5)
    assert not set(out.output.unique().tolist()) <= {0.0, 1.0}
    assert list(out.layer_spikes) == ["layer0", "layer1"]  # the readout is not a spiking layer
    assert "layer2" in out.final_states
    # v_t = beta * v_{t-1} + W s_t: the readout integrates its input current
    current = net.linears[2](out.layer_spikes["layer1"])  # (B, T, 5)
    v = torch.zeros(3, 5)
    for t in range(9):
        v = 0.9 * v + current[:, t]
        torch.testing.assert_close(out.output[:, t], v, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize(
    "neuron",
    [
        NeuronConfig(type="recurrent_lif", threshold=0.5),
        NeuronConfig(type="adaptive_lif", threshold=0.5),
        NeuronConfig(type="advanced_lif", threshold=0.5, max_delay=3),
        NeuronConfig(threshold=0.5, synaptic=True, refractory_steps=2, learnable_beta=True, learnable_threshold=True),
        NeuronConfig(
            type="recurrent_adaptive_lif",
            threshold=0.5,
            learnable_beta=True,
            per_neuron_beta=True,
            learnable_adaptation=True,
        ),
    ],
    ids=["recurrent_lif", "adaptive_lif", "advanced_lif", "lif_synaptic_refractory", "recurrent_adaptive_lif"],
)
def test_neuron_variants_run_forward_and_backward(neuron):
    torch.manual_seed(5)
    net = SNNCore(mlp_cfg(neuron=neuron))
    out = net(spikes_in(2, 10, 20, p=0.6), return_details=True)
    assert out.output.shape == (2, 10, 5)
    assert set(out.output.unique().tolist()) <= {0.0, 1.0}
    (out.output.sum() + sum(s.sum() for s in out.layer_spikes.values())).backward()
    grads = [p.grad for p in net.parameters() if p.requires_grad]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)
    assert net.linears[0].weight.grad.abs().sum() > 0


def test_recurrent_neurons_only_in_dense_hidden_layers():
    net = ConvSNN(conv_cfg(neuron=NeuronConfig(type="recurrent_lif")))
    kinds = [type(n).__name__ for n in net.neurons]
    assert kinds == ["LIFNeuron", "LIFNeuron", "RecurrentLIFNeuron", "LIFNeuron"]
    net = ConvSNN(conv_cfg(neuron=NeuronConfig(type="recurrent_adaptive_lif", learnable_adaptation=True)))
    kinds = [type(n).__name__ for n in net.neurons]
    assert kinds == ["AdaptiveLIFNeuron", "AdaptiveLIFNeuron", "RecurrentAdaptiveLIFNeuron", "AdaptiveLIFNeuron"]


def test_dropout_only_in_train_mode():
    torch.manual_seed(6)
    net = SNNCore(mlp_cfg(dropout=0.5))
    seen = []
    net.linears[1].register_forward_hook(lambda mod, args, out: seen.append(args[0].detach().clone()))
    x = spikes_in(4, 10, 20, p=0.6)

    net.train()
    out = net(x)
    dropped, spikes = seen[-1], out.layer_spikes["layer0"].flatten(0, 1)  # the Linear sees (B*T, N)
    assert set(dropped.unique().tolist()) <= {0.0, 2.0}  # kept spikes scaled by 1 / (1 - p)
    assert torch.equal(dropped > 0, (spikes > 0) & (dropped > 0))
    assert (dropped == 0).sum() > (spikes == 0).sum()  # some spikes were dropped

    net.eval()
    first = net(x)
    assert torch.equal(seen[-1], first.layer_spikes["layer0"].flatten(0, 1))
    assert torch.equal(net(x).output, first.output)


def test_input_checks_name_the_field():
    net = SNNCore(mlp_cfg())
    with pytest.raises(ValueError, match=r"snn\.input_size=20 .*7 features"):
        net(torch.zeros(2, 3, 7))
    conv = ConvSNN(conv_cfg())
    with pytest.raises(ValueError, match=r"snn\.input_shape=\[2, 8, 8\]"):
        conv(torch.zeros(2, 3, 2, 6, 6))
    with pytest.raises(ConfigError, match=r"snn\.output_size"):
        SNNCore(SNNConfig(input_size=4))
    with pytest.raises(ConfigError, match=r"snn\.input_size"):
        SNNCore(SNNConfig(output_size=4))


def test_with_io_sizes_fills_and_checks():
    filled = with_io_sizes(SNNConfig(), (1, 8, 8), 10)
    assert (filled.input_size, filled.output_size, filled.input_shape) == (64, 10, None)
    conv = with_io_sizes(SNNConfig(architecture="conv"), (2, 16, 16), 4)
    assert (conv.input_shape, conv.output_size) == ([2, 16, 16], 4)
    with pytest.raises(ConfigError, match=r"snn\.input_size=10 .*64.*snn\.input_size=64"):
        with_io_sizes(SNNConfig(input_size=10), (1, 8, 8), 10)
    with pytest.raises(ConfigError, match=r"snn\.output_size=3 .*10"):
        with_io_sizes(SNNConfig(output_size=3), (64,), 10)
    with pytest.raises(ConfigError, match=r"snn\.architecture=conv .*\(700,\)"):
        with_io_sizes(SNNConfig(architecture="conv"), (700,), 20)
    with pytest.raises(ConfigError, match=r"snn\.input_shape=\[1, 28, 28\]"):
        with_io_sizes(SNNConfig(architecture="conv", input_shape=[1, 28, 28]), (2, 34, 34), 10)


@pytest.mark.parametrize("kernel_size", [2, 4])
def test_even_conv_kernel_is_refused_naming_the_field(kernel_size):
    # padding k // 2 would grow each feature map by one pixel and break the next layer's shape
    with pytest.raises(ConfigError, match=rf"snn\.kernel_size={kernel_size} must be odd"):
        SNNConfig(architecture="conv", kernel_size=kernel_size)


def test_odd_conv_kernels_keep_the_feature_map_size():
    for k in (1, 3, 5):
        net = ConvSNN(
            SNNConfig(
                architecture="conv",
                input_shape=[1, 6, 6],
                conv_channels=[2],
                kernel_size=k,
                pool=1,
                hidden_sizes=[],
                output_size=3,
            )
        )
        assert net(torch.rand(2, 3, 1, 6, 6)).output.shape == (2, 3, 3)


def test_network_scans_its_input_for_nan_once_not_per_layer(monkeypatch):
    """NaN/Inf input is refused by the network itself; the per-layer runs skip the scan (a host sync)."""
    import brain_ai.core.neurons.base as base

    net = SNNCore(SNNConfig(input_size=6, hidden_sizes=[5, 4], output_size=3))
    x = torch.rand(2, 7, 6)
    with pytest.raises(ValueError, match="SNNCore: input contains NaN or Inf"):
        net(torch.where(torch.arange(6) == 2, float("nan"), x))
    scans = []
    monkeypatch.setattr(base, "check_finite", lambda owner, t: scans.append(owner))
    net(x)
    assert scans == []  # three neuron layers, no scan among them


def test_dropout_masks_come_from_the_generator_without_touching_the_global_rng():
    net = SNNCore(mlp_cfg(dropout=0.25)).train()
    x = spikes_in(4, 6, 20)
    before = torch.get_rng_state()
    seeds = dropout_seeds(x, 0.25, torch.Generator().manual_seed(3))
    masks = net._dropout_masks({"x": x, "dropout_seeds": seeds})
    assert torch.equal(torch.get_rng_state(), before)
    assert tuple(seeds.shape) == (1, 6)
    torch.testing.assert_close(seeds, torch.randint(0, 2**63 - 1, (1, 6), generator=torch.Generator().manual_seed(3)))
    # step k of the first layer: its own generator, seeded with seeds[0, k]
    u = torch.stack([torch.rand((4, 32), generator=torch.Generator().manual_seed(int(s))) for s in seeds[0]], dim=1)
    torch.testing.assert_close(masks[0], (u < 0.75).float() / 0.75)  # keep with p = 1 - dropout, scaled by 1 / (1 - p)
    assert [tuple(m.shape) for m in masks] == [(4, 6, 32), (4, 6, 16)]
    torch.testing.assert_close(masks[1].unique(), torch.tensor([0.0, 1 / 0.75]))
    # a segment's masks are those steps of the whole sequence's (no mask of all T is ever drawn)
    tail = net._dropout_masks({"x": x[:, 2:], "dropout_seeds": seeds[:, 2:]})
    torch.testing.assert_close(tail[1], masks[1][:, 2:])
    a = net(x, generator=torch.Generator().manual_seed(5)).output
    b = net(x, generator=torch.Generator().manual_seed(5)).output
    assert torch.equal(a, b) and torch.equal(torch.get_rng_state(), before)
    assert net._dropout_masks({"x": x}) == [] and dropout_seeds(x, 0.0, torch.Generator()) is None
