"""export -> load gives the same network: bit-identical spikes for every exportable snn option,
and the exported graph means what the mapping table says (checked by a numpy Euler simulator)."""

from __future__ import annotations

import math

import nir
import numpy as np
import pytest
import torch
from nir_helpers import active_net, conv, mlp, spike_input

from brain_ai.config import NeuronConfig
from brain_ai.core.snn import ConvSNN, SNNCore
from brain_ai.interop.nir import export, load, read_graph, write_graph

Z = dict(reset="zero")
EXACT = {
    "mlp_lif": mlp(NeuronConfig(**Z)),
    "mlp_lif_beta0_thr_half": mlp(NeuronConfig(beta=0.0, threshold=0.5, **Z)),
    "mlp_learnable": mlp(NeuronConfig(learnable_beta=True, learnable_threshold=True, beta=0.8, threshold=1.3, **Z)),
    "mlp_per_neuron_beta": mlp(NeuronConfig(learnable_beta=True, per_neuron_beta=True, beta=0.95, **Z)),
    "mlp_synaptic": mlp(NeuronConfig(synaptic=True, synaptic_beta=0.7, beta=0.85, **Z)),
    "mlp_recurrent": mlp(NeuronConfig(type="recurrent_lif", **Z)),
    "mlp_recurrent_synaptic_membrane": mlp(NeuronConfig(type="recurrent_lif", synaptic=True, **Z), readout="membrane"),
    "mlp_adaptive_alpha0": mlp(NeuronConfig(type="adaptive_lif", adaptation_alpha=0.0, **Z)),
    "mlp_advanced_no_delay": mlp(
        NeuronConfig(type="advanced_lif", tau_mean=8.0, tau_std=4.0, adaptation_alpha=0.0, **Z)
    ),
    "mlp_membrane_readout": mlp(NeuronConfig(beta=0.99, **Z), readout="membrane", hidden_sizes=[8]),
    "mlp_no_hidden_dropout": mlp(NeuronConfig(surrogate="sigmoid", **Z), hidden_sizes=[], dropout=0.3, chunk_size=5),
    "conv_pool2": conv(NeuronConfig(**Z)),
    "conv_pool1_k5_membrane": conv(NeuronConfig(**Z), pool=1, kernel_size=5, readout="membrane", conv_channels=[3]),
    "conv_synaptic_per_neuron": conv(NeuronConfig(synaptic=True, learnable_beta=True, per_neuron_beta=True, **Z)),
    "mlp_rest_reset": mlp(NeuronConfig(v_rest=0.2, v_reset=-0.3, **Z)),
    "mlp_recurrent_synaptic_rest_reset": mlp(
        NeuronConfig(type="recurrent_lif", synaptic=True, v_rest=-0.1, v_reset=0.4, **Z)
    ),
    "conv_rest_reset_membrane": conv(NeuronConfig(v_rest=0.1, v_reset=0.5, **Z), readout="membrane"),
    "conv_advanced_k1": conv(
        NeuronConfig(type="advanced_lif", adaptation_alpha=0.0, **Z), kernel_size=1, hidden_sizes=[]
    ),
}


def _assert_same(a, b):
    assert torch.equal(a.output, b.output)
    assert a.layer_spikes.keys() == b.layer_spikes.keys()
    for k in a.layer_spikes:
        assert torch.equal(a.layer_spikes[k], b.layer_spikes[k]), k


@pytest.mark.parametrize("name", sorted(EXACT))
def test_round_trip_is_bit_identical(name, tmp_path):
    cfg = EXACT[name]
    net = active_net(cfg)
    path = write_graph(export(net), tmp_path / "net.nir")
    back = load(path)
    assert type(back) is type(net) and back.layer_names == net.layer_names
    x = spike_input(cfg)
    with torch.no_grad():
        a, b = net(x), back(x)
    _assert_same(a, b)
    rates = [s.mean().item() for s in a.layer_spikes.values()]
    assert all(0 < r < 1 for r in rates), f"test network not active in every layer: {rates}"


def test_readout_tau_round_trips(tmp_path):
    """A leaky readout with its own tau (snn.readout_tau) comes back as that readout_tau, same outputs."""
    cfg = mlp(NeuronConfig(tau=20.0, **Z), readout="membrane", readout_tau=10.0)
    net = active_net(cfg)
    back = load(write_graph(export(net), tmp_path / "net.nir"))
    assert back.cfg.readout_tau == pytest.approx(10.0) and back.neurons[-1].beta.item() == net.neurons[-1].beta.item()
    x = spike_input(cfg)
    with torch.no_grad():
        _assert_same(net(x), back(x))


@pytest.mark.parametrize("name", ["mlp_recurrent", "mlp_rest_reset"])
def test_load_result_is_exportable_again_with_identical_graph(name):
    net = active_net(EXACT[name])
    g1 = export(net)
    g2 = export(load(g1))
    assert g1.nodes.keys() == g2.nodes.keys() and sorted(g1.edges) == sorted(g2.edges)
    for k, node in g1.nodes.items():
        for field in ("weight", "bias", "tau", "r", "v_threshold", "v_leak", "v_reset"):
            if hasattr(node, field):
                np.testing.assert_array_equal(getattr(node, field), getattr(g2.nodes[k], field), err_msg=f"{k}.{field}")


def test_graph_parameters_follow_the_mapping_table():
    cfg = mlp(NeuronConfig(beta=0.9, threshold=1.5, synaptic=True, synaptic_beta=0.6, **Z), readout="membrane")
    g = export(active_net(cfg), dt=1e-3)
    assert g.metadata["dt"] == 1e-3
    lif = g.nodes["layer0"]
    assert isinstance(lif, nir.CubaLIF) and isinstance(g.nodes["layer2"], nir.LI)
    f32 = dict(rtol=1e-6)  # beta is a float32 buffer
    np.testing.assert_allclose(lif.tau_mem, 1e-3 / (1 - 0.9), **f32)
    np.testing.assert_allclose(lif.r, 1 / (1 - 0.9), **f32)
    np.testing.assert_allclose(lif.tau_syn, 1e-3 / (1 - 0.6), **f32)
    np.testing.assert_allclose(lif.w_in, 1 / (1 - 0.6), **f32)
    np.testing.assert_array_equal(lif.v_threshold, np.full(16, 1.5))
    np.testing.assert_array_equal(lif.v_reset, 0)
    np.testing.assert_array_equal(lif.v_leak, 0)


def _euler_reference(graph: nir.NIRGraph, x: np.ndarray, dt: float):
    """Simulate an MLP-shaped NIR graph with forward Euler in float64, straight from the NIR equations.

    Returns the spikes of every LIF/CubaLIF node and the last node's output, ``(B, T, N)`` each.
    """
    order = ["input"]
    while order[-1] != "output":
        order.append(next(d for s, d in graph.edges if s == order[-1] and not d.endswith("_rec")))
    state, out, recs = {}, {}, {s: graph.nodes[d].weight for s, d in graph.edges if d.endswith("_rec")}
    b, t = x.shape[:2]
    for step in range(t):
        h = x[:, step]
        for name in order[1:-1]:
            n = graph.nodes[name]
            if isinstance(n, nir.Affine):
                h = h @ n.weight.T + n.bias
                continue
            if name in recs:
                h = h + state.get(name + "/s", np.zeros_like(h)) @ recs[name].T
            v = state.get(name + "/v", np.zeros_like(h))
            if isinstance(n, nir.CubaLIF):
                i = state.get(name + "/i", np.zeros_like(h))
                i = i + dt / n.tau_syn * (-i + n.w_in * h)
                state[name + "/i"] = i
                v = v + dt / n.tau_mem * ((n.v_leak - v) + n.r * i)
            else:
                v = v + dt / n.tau * ((n.v_leak - v) + n.r * h)
            if isinstance(n, nir.LI):
                state[name + "/v"], h = v, v
            else:
                s = (v > n.v_threshold).astype(np.float64)
                state[name + "/v"] = np.where(s > 0, n.v_reset, v)
                state[name + "/s"], h = s, s
            out.setdefault(name, np.zeros((b, t, h.shape[-1])))[:, step] = h
    return out


@pytest.mark.parametrize(
    "name",
    [
        "mlp_lif",
        "mlp_synaptic",
        "mlp_recurrent_synaptic_membrane",
        "mlp_per_neuron_beta",
        "mlp_rest_reset",
        "mlp_recurrent_synaptic_rest_reset",
    ],
)
def test_exported_graph_matches_a_numpy_euler_simulation(name):
    cfg = EXACT[name]
    net = active_net(cfg).double()
    dt = 1e-3
    graph = export(net, dt=dt)
    x = spike_input(cfg).double()
    with torch.no_grad():
        ours = net(x)
    ref = _euler_reference(graph, x.numpy(), dt)
    for layer, spikes in ours.layer_spikes.items():
        np.testing.assert_array_equal(spikes.numpy(), ref[layer], err_msg=layer)
    last = net.layer_names[-1]
    np.testing.assert_allclose(ours.output.numpy(), ref[last], rtol=1e-9, atol=1e-9)


def test_load_uses_the_recorded_dt_and_an_explicit_dt_overrides_it():
    cfg = mlp(NeuronConfig(beta=0.9, **Z))
    graph = export(active_net(cfg), dt=0.5)
    assert math.isclose(float(load(graph).neurons[0].beta), 0.9, rel_tol=1e-7)
    assert math.isclose(float(load(graph, dt=0.25).neurons[0].beta), 1 - 0.25 / 5.0, rel_tol=1e-6)


def test_export_accepts_a_checkpoint_and_records_its_hparams(tmp_path):
    import json

    from brain_ai.config import to_dict

    cfg = mlp(NeuronConfig(**Z), hidden_sizes=[8], output_size=4)
    net = active_net(cfg)
    hparams = {"snn": to_dict(cfg), "encoding": {}, "num_classes": 4}
    path = tmp_path / "run.ckpt"
    torch.save({"hyper_parameters": hparams, "state_dict": {f"net.{k}": v for k, v in net.state_dict().items()}}, path)
    graph = export(path)
    assert json.loads(graph.metadata["brain_ai_hparams"]) == hparams
    x = spike_input(cfg)
    with torch.no_grad():
        _assert_same(net(x), load(graph)(x))


def test_read_graph_round_trips_the_file(tmp_path):
    graph = export(active_net(EXACT["conv_pool2"]))
    back = read_graph(write_graph(graph, tmp_path / "sub" / "g.nir"))
    assert isinstance(load(back), ConvSNN) and isinstance(load(export(active_net(EXACT["mlp_lif"]))), SNNCore)
    assert not list((tmp_path / "sub").glob(".*tmp"))
