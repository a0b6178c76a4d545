"""What NIR cannot express is refused (naming layer and feature) or approximated with a warning;
graphs brain_ai cannot load and bad files give clear errors; nothing is half-written."""

from __future__ import annotations

import dataclasses

import nir
import numpy as np
import pytest
import torch
from nir_helpers import active_net, conv, mlp, spike_input

from brain_ai.config import NeuronConfig, ResetMode
from brain_ai.interop.nir import NIRExportError, NIRImportError, export, load, read_graph, write_graph

Z = dict(reset="zero")
NOT_EXPRESSIBLE = {
    "reset=subtract": mlp(NeuronConfig(reset="subtract")),
    "reset=none": mlp(NeuronConfig(reset="none")),
    "refractory_steps=2": mlp(NeuronConfig(refractory_steps=2, **Z)),
    "adaptive threshold": mlp(NeuronConfig(type="adaptive_lif", adaptation_alpha=0.3, **Z)),
    "learnable input delays": mlp(NeuronConfig(type="advanced_lif", max_delay=3, **Z)),
    "BatchNorm2d": conv(NeuronConfig(**Z), norm="batch"),
}


@pytest.mark.parametrize("feature", sorted(NOT_EXPRESSIBLE))
def test_inexpressible_feature_is_refused_naming_layer_and_feature(feature):
    with pytest.raises(NIRExportError, match=r"layer0: .*" + feature.split("=")[0]) as err:
        export(active_net(NOT_EXPRESSIBLE[feature]))
    assert feature.split("=")[-1] in str(err.value) and "approximate=True" in str(err.value)


def test_approximate_lists_every_approximation_in_one_warning():
    cfg = mlp(
        NeuronConfig(type="adaptive_lif", adaptation_alpha=0.3, refractory_steps=1, reset="subtract"), hidden_sizes=[8]
    )
    with pytest.warns(UserWarning) as record:
        export(active_net(cfg), approximate=True)
    (msg,) = [str(w.message) for w in record if "NIR export approximations" in str(w.message)]
    for layer in ("layer0", "layer1"):
        for feature in ("reset=subtract", "refractory_steps=1", "adaptive threshold"):
            assert f"{layer}: {feature}" in msg


def test_approximate_export_is_the_network_without_the_inexpressible_feature():
    """reset=subtract exported approximately == the same weights with reset=zero, spike for spike."""
    cfg = mlp(NeuronConfig(reset="subtract"))
    net = active_net(cfg)
    with pytest.warns(UserWarning, match="reset=subtract"):
        back = load(export(net, approximate=True))
    for cell in net.neurons:
        cell.params = dataclasses.replace(cell.params, reset=ResetMode.zero)
    x = spike_input(cfg)
    with torch.no_grad():
        assert torch.equal(net(x).output, back(x).output)


def test_batchnorm_is_folded_into_the_conv():
    cfg = conv(NeuronConfig(**Z), norm="batch", readout="membrane")
    net = active_net(cfg)
    with torch.no_grad():
        for block in net.blocks:
            bn = block[1]
            bn.running_mean.uniform_(-0.5, 0.5)
            bn.running_var.uniform_(0.5, 2.0)
            bn.weight.uniform_(0.5, 1.5)
            bn.bias.uniform_(-0.2, 0.2)
    with pytest.warns(UserWarning, match="BatchNorm2d folded"):
        back = load(export(net, approximate=True))
    x = spike_input(cfg)
    with torch.no_grad():
        a, b = net(x), back(x)
    agree = [(a.layer_spikes[k] == b.layer_spikes[k]).float().mean().item() for k in a.layer_spikes]
    assert min(agree) > 0.999, agree
    torch.testing.assert_close(a.output, b.output, rtol=1e-3, atol=1e-3)


def test_bad_dt_and_bad_model_are_rejected():
    net = active_net(mlp(NeuronConfig(**Z)))
    for dt in (0, -1e-3, float("nan"), True):
        with pytest.raises(ValueError, match="dt="):
            export(net, dt=dt)
    with pytest.raises(TypeError, match="SNNCore, ConvSNN, SNNLitModule or a checkpoint path"):
        export(torch.nn.Linear(2, 2))


def _mlp_graph():
    return export(active_net(mlp(NeuronConfig(**Z), hidden_sizes=[6], output_size=3, input_size=5)))


def test_unsupported_node_type_is_named():
    g = _mlp_graph()
    g.nodes["fc1"] = nir.Delay(delay=np.ones(6))
    with pytest.raises(NIRImportError, match=r"'fc1' has type Delay.*supported: "):
        load(g)


def test_shapes_that_do_not_chain_are_reported():
    g = _mlp_graph()
    g.nodes["fc1"] = nir.Affine(weight=np.ones((3, 7), np.float32), bias=np.zeros(3, np.float32))
    with pytest.raises(NIRImportError, match=r"shapes do not chain: fc1 has weight \(3, 7\) but receives 6"):
        load(g)


def test_branching_graph_and_unsupported_parameters_are_reported():
    g = _mlp_graph()
    g.edges.append(("layer0", "output"))
    with pytest.raises(NIRImportError, match=r"node 'layer0' feeds"):
        load(g)
    g = _mlp_graph()
    g.nodes["layer0"].v_leak = np.full(6, 0.1)  # the other LIF layers leak to 0
    with pytest.raises(NIRImportError, match=r"v_leak differs between neuron layers \(\[0.0, 0.1\]\)"):
        load(g)
    g = _mlp_graph()
    g.nodes["layer0"].v_reset = np.linspace(0, 0.5, 6)
    with pytest.raises(NIRImportError, match="layer0: per-neuron v_reset is not supported"):
        load(g)
    g = export(active_net(mlp(NeuronConfig(**Z), hidden_sizes=[6], output_size=3, input_size=5, readout="membrane")))
    g.nodes["layer1"].v_leak = np.full(3, 0.1)
    with pytest.raises(NIRImportError, match="layer1: LI readout with v_leak != 0"):
        load(g)
    g = _mlp_graph()
    g.nodes["layer0"].v_reset = np.full(6, 2.0)
    with pytest.raises(NIRImportError, match=r"layer0: v_reset=2.0 is at or above v_threshold"):
        load(g)
    g = _mlp_graph()
    g.nodes["layer0"].tau = np.full(6, 1e-5)  # shorter than dt=1e-4: decay < 0
    with pytest.raises(NIRImportError, match=r"layer0.tau: .*dt=0.0001"):
        load(g)


def test_missing_and_corrupt_files(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.nir"):
        load(tmp_path / "nope.nir")
    bad = tmp_path / "bad.nir"
    bad.write_bytes(b"not hdf5 at all")
    with pytest.raises(ValueError, match="bad.nir: not a readable NIR file"):
        read_graph(bad)


def test_write_is_atomic(tmp_path, monkeypatch):
    target = tmp_path / "model.nir"
    target.write_bytes(b"old")

    def half_write(buffer, graph):
        buffer.write(b"partial")
        raise OSError("disk full")

    monkeypatch.setattr(nir, "write", half_write)
    with pytest.raises(OSError, match="disk full"):
        write_graph(_mlp_graph(), target)
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["model.nir"]


def test_incompatible_checkpoint_is_named(tmp_path):
    path = tmp_path / "old.ckpt"
    torch.save({"hyper_parameters": {"snn": {"hidden_sizes": [4], "no_such_field": 1}}, "state_dict": {}}, path)
    with pytest.raises(ValueError, match="old.ckpt: checkpoint does not match"):
        export(path)
    torch.save({"weights": torch.zeros(2)}, tmp_path / "other.ckpt")
    with pytest.raises(ValueError, match="other.ckpt: not a brain_ai training checkpoint"):
        export(tmp_path / "other.ckpt")


def test_unknown_neuron_class_is_refused_even_with_approximate():
    from brain_ai.core.neurons import LIFNeuron

    class MyLIF(LIFNeuron):  # a subclass may change the step: the exporter does not guess
        pass

    net = active_net(mlp(NeuronConfig(**Z)))
    net.neurons[1] = MyLIF(10, reset="zero")
    with pytest.raises(NIRExportError, match="layer1: neuron type MyLIF has no NIR equivalent"):
        export(net, approximate=True)


def test_per_neuron_thresholds_and_mixed_neuron_models_are_reported():
    g = _mlp_graph()
    g.nodes["layer0"].v_threshold = np.linspace(0.5, 1.5, 6)
    with pytest.raises(NIRImportError, match="layer0: per-neuron thresholds are not supported"):
        load(g)
    g = _mlp_graph()
    n = g.nodes["layer0"]
    g.nodes["layer0"] = nir.CubaLIF(
        tau_syn=n.tau, tau_mem=n.tau, r=n.r, v_leak=n.v_leak, v_threshold=n.v_threshold, v_reset=n.v_reset
    )
    with pytest.raises(NIRImportError, match="mix"):
        load(g)


def test_conv_graphs_brain_ai_cannot_build_are_reported():
    g = export(active_net(conv(NeuronConfig(**Z))))
    g.nodes["conv1"].stride = (2, 2)
    with pytest.raises(NIRImportError, match=r"conv1: Conv2d .*stride"):
        load(g)
    g = export(active_net(conv(NeuronConfig(**Z))))
    g.edges = [e for e in g.edges if "pool1" not in e] + [("layer1", "flatten")]
    del g.nodes["pool1"]
    with pytest.raises(NIRImportError, match=r"pooling differs between conv blocks \(\[2, 1\]\)"):
        load(g)


def test_recurrent_adaptive_lif_exports_only_approximately_as_a_recurrent_lif():
    neuron = NeuronConfig(
        type="recurrent_adaptive_lif", learnable_beta=True, per_neuron_beta=True, learnable_adaptation=True, **Z
    )
    net = active_net(mlp(neuron, hidden_sizes=[16]))
    with torch.no_grad():
        net.neurons[0].adaptation_decay_raw.add_(torch.linspace(-1, 1, 16))  # per-neuron decays differ
    rho = net.neurons[0].adaptation_decay.detach()
    with pytest.raises(
        NIRExportError, match=r"layer0: adaptive threshold \(adaptation_alpha=0.5, adaptation_decay per neuron in \["
    ) as err:
        export(net)
    assert f"{rho.min().item():.4g}, {rho.max().item():.4g}]" in str(err.value) and "approximate=True" in str(err.value)
    with pytest.warns(UserWarning, match="layer0: adaptive threshold"):
        graph = export(net, approximate=True)
    assert (
        isinstance(graph.nodes["layer0"], nir.LIF)
        and ("layer0", "layer0_rec") in graph.edges
        and ("layer0_rec", "layer0") in graph.edges
    )
    np.testing.assert_array_equal(graph.nodes["layer0_rec"].weight, net.neurons[0].w_rec.detach().numpy())


@pytest.mark.parametrize("arch", ["lstm", "gru"])
def test_a_non_spiking_baseline_is_refused_naming_the_architecture(arch, tmp_path):
    from brain_ai.config import SNNConfig
    from brain_ai.core.snn import build_snn

    net = build_snn(SNNConfig(architecture=arch, input_size=4, hidden_sizes=[8], output_size=3, readout="membrane"))
    expected = rf"export: snn.architecture={arch} is a non-spiking baseline \(torch.nn.{arch.upper()}\); NIR has no LSTM / GRU node"
    with pytest.raises(NIRExportError, match=expected):
        export(net)

    class LitModule(torch.nn.Module):  # what export reads of an SNNLitModule: .net and .hparams
        def __init__(self):
            super().__init__()
            self.net, self.hparams = net, {}

    with pytest.raises(NIRExportError, match=expected):
        export(LitModule())
