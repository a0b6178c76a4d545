"""brain_ai.metrics.efficiency: exact counts on tiny networks with hand-derived spikes (one per
layer type), every snn option and encoder, ragged batches, and the errors."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
import torch
from omegaconf import OmegaConf
from torch import nn

from brain_ai.config import (
    ConfigError,
    EfficiencyConfig,
    EncoderType,
    EncodingConfig,
    NeuronConfig,
    SNNConfig,
    from_dict,
)
from brain_ai.core.encoding import build_encoder
from brain_ai.core.snn import build_snn
from brain_ai.metrics.efficiency import EfficiencyError, EfficiencyMeter, measure_efficiency

CONFIG_DIR = Path(__file__).resolve().parents[1] / "configs"
ADDITIVE = (
    "dense_ops",
    "effective_acs",
    "effective_macs",
    "synops",
    "parameter_count",
    "footprint_bytes",
    "energy_pj",
    "dense_ann_energy_pj",
)


def _set(module: nn.Module, **values) -> None:
    """Overwrite ``module``'s parameters by name with the given values."""
    with torch.no_grad():
        for name, value in values.items():
            getattr(module, name).copy_(torch.as_tensor(value, dtype=torch.float32))


def _mlp(**kw) -> nn.Module:
    return build_snn(SNNConfig(**{"input_size": 2, "hidden_sizes": [3], "output_size": 2, **kw}))


def _tiny_mlp() -> nn.Module:
    """2 -> 3 -> 2 LIF (beta 0.9, threshold 1, subtract reset), one zero weight in W0, two in W1."""
    net = _mlp()
    _set(net.linears[0], weight=[[2.0, 0.0], [2.0, 2.0], [0.1, 0.1]], bias=[0.0, 0.0, 0.0])
    _set(net.linears[1], weight=[[1.0, 1.0, 1.0], [0.0, 0.0, 1.0]], bias=[0.0, 0.0])
    return net


X_MLP = torch.tensor([[[1.0, 0.0], [1.0, 1.0], [0.0, 0.0]]])  # (B=1, T=3, 2)


def test_mlp_counts_match_the_hand_derivation():
    """layer0 currents [2, 2, .1], [2, 4, .2], [0, 0, 0] -> spikes [1, 1, 0] every step (v: [1, 1, .1],
    [1.9, 3.9, .29], [.71, 2.51, .261]); layer1 currents [2, 0] -> spikes [1, 0] every step."""
    net = _tiny_mlp()
    out = net(X_MLP, return_details=True)
    assert out.layer_spikes["layer0"].tolist() == [[[1.0, 1.0, 0.0]] * 3]
    assert out.layer_spikes["layer1"].tolist() == [[[1.0, 0.0]] * 3]
    report = measure_efficiency(net, X_MLP)
    l0, l1, total = report.layers["layer0"], report.layers["layer1"], report.total
    # layer0: input 0 at t0 and t1 fans out to 3 non-zero weights, input 1 at t1 to 2: 3 + 5
    assert (l0["dense_ops"], l0["effective_acs"], l0["effective_macs"]) == (3 * 2 * 3, 8, 0)
    # layer1: neurons 0 and 1 spike every step, 1 non-zero fan-out weight each: 3 * 2
    assert (l1["dense_ops"], l1["effective_acs"], l1["effective_macs"]) == (3 * 3 * 2, 6, 0)
    assert (l0["activation_sparsity"], l1["activation_sparsity"], total["activation_sparsity"]) == (
        3 / 9,
        3 / 6,
        6 / 15,
    )
    assert (l0["connection_sparsity"], l1["connection_sparsity"], total["connection_sparsity"]) == (
        1 / 6,
        2 / 6,
        3 / 12,
    )
    # layer0's membranes all change every step; layer1's neuron 1 stays at 0 after its first step
    assert (l0["membrane_updates"], l1["membrane_updates"], total["membrane_updates"]) == (9, 4, 13)
    assert (l0["parameter_count"], l1["parameter_count"], total["parameter_count"]) == (9, 8, 17)
    assert total["footprint_bytes"] == (17 + 4) * 4  # + beta and threshold buffers of two layers, fp32
    assert total["synops"] == 14 and total["dense_ops"] == 36
    assert total["energy_pj"] == pytest.approx(14 * 0.9)
    assert total["dense_ann_energy_pj"] == pytest.approx(36 * 4.6)
    assert total["energy_ratio"] == pytest.approx(14 * 0.9 / (36 * 4.6))
    for key in ADDITIVE:
        assert total[key] == pytest.approx(l0[key] + l1[key]), key


def test_counts_are_per_sample_and_skip_masked_steps():
    """Two copies of X_MLP padded with two steps of ones, masked: the same report as X_MLP alone."""
    padded = torch.cat([X_MLP, torch.ones(1, 2, 2)], dim=1).repeat(2, 1, 1)  # (2, 5, 2)
    mask = torch.tensor([[True] * 3 + [False] * 2] * 2)
    net = _tiny_mlp()
    alone = measure_efficiency(net, X_MLP)
    ragged = measure_efficiency(net, padded, mask)
    assert ragged.layers == alone.layers and ragged.total == alone.total and ragged.samples == 2
    assert measure_efficiency(net, padded).total["synops"] > alone.total["synops"]  # the padding does count unmasked


def test_meter_sums_batches():
    net = _tiny_mlp()
    meter = EfficiencyMeter(net)
    for x in (X_MLP, torch.zeros(2, 3, 2)):
        meter.update(net(x, return_details=True))
    report = meter.compute()
    assert report.samples == 3 and report.total["synops"] == pytest.approx(14 / 3)


def test_conv_counts_in_bounds_taps_and_non_zero_fan_out():
    """1x3x3 input, one 3x3 conv (padding 1, bottom-right tap 0, weights 2), no pooling, Linear 9 -> 2.
    t0: centre spike -> 8 taps reach the 8 outputs whose tap is non-zero, all 8 fire (output (0, 0)
    reads it through the zero tap); t1: corner (0, 0) + centre -> 4 + 8 taps, all 9 fire."""
    net = build_snn(
        SNNConfig(
            architecture="conv",
            input_shape=[1, 3, 3],
            conv_channels=[1],
            pool=1,
            norm="none",
            hidden_sizes=[],
            output_size=2,
        )
    )
    kernel = torch.full((1, 1, 3, 3), 2.0)
    kernel[0, 0, 2, 2] = 0.0
    _set(net.blocks[0][0], weight=kernel, bias=[0.0])
    linear = torch.ones(2, 9)
    linear[:, 0] = 0.0
    linear[1, 1] = 0.0
    _set(net.linears[0], weight=linear, bias=[0.0, 0.0])
    x = torch.zeros(1, 2, 1, 3, 3)
    x[0, 0, 0, 1, 1] = 1.0
    x[0, 1, 0, 1, 1] = x[0, 1, 0, 0, 0] = 1.0
    out = net(x, return_details=True)
    assert out.layer_spikes["layer0"].flatten(2).tolist() == [[[0.0] + [1.0] * 8, [1.0] * 9]]
    report = measure_efficiency(net, x)
    conv, dense = report.layers["layer0"], report.layers["layer1"]
    # in-bounds taps per output row/column: 2, 3, 2 -> 7 * 7 per step
    assert (conv["dense_ops"], conv["effective_acs"], conv["effective_macs"]) == (2 * 49, 8 + 4 + 8, 0)
    assert conv["connection_sparsity"] == 1 / 9
    # fan-outs per conv output: 0, 1, then 2 for the other 7: t0 1 + 14, t1 0 + 1 + 14
    assert (dense["dense_ops"], dense["effective_acs"], dense["effective_macs"]) == (2 * 9 * 2, 30, 0)


def test_average_pooled_spikes_count_as_macs_on_fractional_steps():
    """1x2x2 input, 1x1 conv (weight 2) -> LIF -> AvgPool 2 -> Linear 1 -> 2: one spike of four
    pools to 0.25 (a MAC step), four spikes to 1.0 (an AC step)."""
    net = build_snn(
        SNNConfig(
            architecture="conv",
            input_shape=[1, 2, 2],
            conv_channels=[1],
            kernel_size=1,
            pool=2,
            norm="none",
            hidden_sizes=[],
            output_size=2,
        )
    )
    _set(net.blocks[0][0], weight=[[[[2.0]]]], bias=[0.0])
    x = torch.zeros(1, 2, 1, 2, 2)
    x[0, 0, 0, 0, 0] = 1.0
    x[0, 1] = 1.0
    report = measure_efficiency(net, x)
    conv, dense = report.layers["layer0"], report.layers["layer1"]
    assert (conv["dense_ops"], conv["effective_acs"], conv["effective_macs"]) == (2 * 4, 1 + 4, 0)
    assert (dense["dense_ops"], dense["effective_acs"], dense["effective_macs"]) == (2 * 2, 2, 2)
    assert report.total["energy_pj"] == pytest.approx(7 * 0.9 + 2 * 4.6)


def test_batch_norm_is_folded_and_in_the_footprint():
    net = build_snn(
        SNNConfig(architecture="conv", input_shape=[1, 3, 3], conv_channels=[2], pool=1, hidden_sizes=[], output_size=2)
    )
    report = measure_efficiency(net, torch.ones(1, 2, 1, 3, 3))
    conv = report.layers["layer0"]
    assert conv["dense_ops"] == 2 * 49 * 2  # the conv's taps only: BatchNorm adds no synaptic operation
    assert conv["parameter_count"] == 2 * 9 + 2 + 2  # conv (no bias under batch norm) + BN weight and bias
    bn_buffers = 2 + 2 + 1  # running mean, running var (fp32), num_batches_tracked (int64)
    assert conv["footprint_bytes"] == (22 + 2) * 4 + (bn_buffers - 1) * 4 + 8  # + the LIF's beta and threshold


def test_recurrent_weight_is_a_layer_of_its_own():
    """recurrent_lif 1 -> 2 -> 1: W_in [2, .5], W_rec [[0, 0], [.1, 0]]; input [1, 1, 0].
    neuron 0: v 2 -> 1, 2.9 -> 1.9, 1.71 -> .71 (spikes every step); neuron 1: .5, .45 + .5 + .1 =
    1.05 -> .05 (spike at t1), .045 + .1 (no spike). W_rec reads s_{t-1}: 0, [1, 0], [1, 1]."""
    net = _mlp(input_size=1, hidden_sizes=[2], output_size=1, neuron=NeuronConfig(type="recurrent_lif"))
    _set(net.linears[0], weight=[[2.0], [0.5]], bias=[0.0, 0.0])
    _set(net.neurons[0], w_rec=[[0.0, 0.0], [0.1, 0.0]])
    x = torch.tensor([[[1.0], [1.0], [0.0]]])
    assert net(x, return_details=True).layer_spikes["layer0"].tolist() == [[[1.0, 0.0], [1.0, 1.0], [1.0, 0.0]]]
    report = measure_efficiency(net, x)
    rec = report.layers["layer0.recurrent"]
    # column 0 of W_rec has one non-zero weight, column 1 none: t1 1, t2 1 + 0
    assert (rec["dense_ops"], rec["effective_acs"], rec["effective_macs"]) == (3 * 4, 2, 0)
    assert (rec["connection_sparsity"], rec["parameter_count"]) == (3 / 4, 4)
    assert "membrane_updates" not in rec and "activation_sparsity" not in rec
    assert report.layers["layer0"]["effective_acs"] == 2 * 2 and report.layers["layer0"]["parameter_count"] == 4


@pytest.mark.parametrize("arch,gates", [("lstm", 4), ("gru", 3)])
def test_lstm_gru_are_dense_macs_over_valid_steps(arch, gates):
    net = build_snn(SNNConfig(architecture=arch, input_size=2, hidden_sizes=[3], output_size=2, readout="membrane"))
    mask = torch.tensor([[True] * 4, [True, True, False, False]])  # 6 valid steps, 2 samples
    report = measure_efficiency(net, torch.rand(2, 4, 2), mask)
    layer, readout = report.layers["layer0"], report.layers["readout"]
    assert layer["dense_ops"] == layer["effective_macs"] == gates * 3 * (2 + 3) * 6 / 2 and layer["effective_acs"] == 0
    assert readout["dense_ops"] == readout["effective_macs"] == 3 * 2 * 6 / 2
    assert report.total["energy_ratio"] == 1.0
    assert report.total["parameter_count"] == sum(p.numel() for p in net.parameters())


def _snn_option(name: str) -> SNNConfig:
    body = OmegaConf.to_container(OmegaConf.load(CONFIG_DIR / "snn" / f"{name}.yaml"))
    body.pop("defaults", None)
    conv = body.get("architecture") == "conv"
    small = {"input_shape": [2, 6, 6], "conv_channels": [3, 4]} if conv else {"input_size": 5}
    return from_dict(SNNConfig, {**body, **small, "hidden_sizes": [4], "output_size": 3})


SNN_OPTIONS = sorted(p.stem for p in (CONFIG_DIR / "snn").glob("*.yaml"))


@pytest.mark.parametrize("option", SNN_OPTIONS)
@pytest.mark.parametrize("readout", ["spiking", "membrane"])
def test_every_snn_option_is_counted_whole(option, readout):
    """Every snn option (and readout) is counted: rows add up to the total, every parameter is in
    exactly one row, and spiking inputs give ACs."""
    cfg = _snn_option(option)
    if cfg.architecture.name in ("lstm", "gru") and readout == "spiking":
        pytest.skip("LSTM / GRU have a membrane readout only")
    torch.manual_seed(0)
    net = build_snn(replace(cfg, readout=readout))
    shape = (2, 6, 6) if cfg.architecture.name == "conv" else (5,)
    x = (torch.rand(3, 6, *shape) < 0.5).float()
    report = measure_efficiency(net, x)  # the light forward: spikes and membranes, no probes
    for key in ADDITIVE:
        assert report.total[key] == pytest.approx(sum(v[key] for v in report.layers.values())), key
    with torch.no_grad():
        detailed = EfficiencyMeter(net.eval())
        detailed.update(net(x, return_details=True))  # out.inputs instead of the passed input
    assert detailed.compute().layers == report.layers
    assert report.total["parameter_count"] == sum(p.numel() for p in net.parameters())
    if cfg.architecture.name in ("lstm", "gru"):
        assert report.total["effective_acs"] == 0
    else:
        assert report.layers["layer0"]["effective_acs"] > 0 and report.layers["layer0"]["effective_macs"] == 0
        assert 0 < report.total["activation_sparsity"] <= 1 and report.total["membrane_updates"] > 0


ENCODERS = [e.name for e in EncoderType]
#: encoders whose output is not spikes: the first layer's inputs are MACs
REAL_VALUED = {"direct"}


@pytest.mark.parametrize("encoder", ENCODERS)
def test_every_encoder_output_is_counted_as_acs_or_macs(encoder):
    torch.manual_seed(0)
    enc = build_encoder(EncodingConfig(type=encoder, num_steps=6)).eval()
    inputs = {"identity": (torch.rand(3, 6, 4) < 0.4).float(), "delta": torch.rand(3, 6, 4).cumsum(1)}  # sequences
    spikes = enc(inputs.get(encoder, torch.rand(3, 4) * 0.8 + 0.1)).spikes
    net = _mlp(input_size=spikes[0, 0].numel(), hidden_sizes=[4], output_size=2)
    layer0 = measure_efficiency(net, spikes).layers["layer0"]
    assert layer0["synops"] > 0
    if encoder in REAL_VALUED:
        assert layer0["effective_acs"] == 0 and layer0["effective_macs"] > 0
    else:
        assert layer0["effective_macs"] == 0 and layer0["effective_acs"] > 0


def test_event_frames_with_counts_are_macs():
    net = _tiny_mlp()
    frames = X_MLP * 2.0  # two events in a bin: not a spike
    layer0 = measure_efficiency(net, frames).layers["layer0"]
    assert (layer0["effective_acs"], layer0["effective_macs"]) == (0, 8)


def test_energy_constants_come_from_the_config():
    report = measure_efficiency(_tiny_mlp(), X_MLP, energy=EfficiencyConfig(e_ac_pj=1.0, e_mac_pj=10.0))
    assert report.total["energy_pj"] == 14.0 and report.total["dense_ann_energy_pj"] == 360.0
    d = report.to_dict()
    assert d["e_ac_pj"] == 1.0 and "estimate" in d["note"] and d["total"] == report.total
    assert "estimate" in report.table() and "layer1" in report.table()


# ------------------------------------------------------------------ errors
class _Gate(nn.Module):
    def forward(self, x):
        return x


def test_unknown_layer_type_names_it():
    net = _tiny_mlp()
    net.linears[1] = nn.Bilinear(3, 3, 2)
    with pytest.raises(EfficiencyError, match=r"'linears.1', a torch.nn.modules.linear.Bilinear"):
        EfficiencyMeter(net)
    net = _tiny_mlp()
    net.extra = _Gate()
    with pytest.raises(EfficiencyError, match=r"'extra', a test_efficiency._Gate"):
        measure_efficiency(net, X_MLP)


def test_unknown_network_type_names_it():
    with pytest.raises(
        EfficiencyError, match="torch.nn.modules.container.Sequential; known networks: SNNCore, ConvSNN, RecurrentANN"
    ):
        EfficiencyMeter(nn.Sequential(nn.Linear(2, 2)))


@pytest.mark.parametrize(
    "drop,missing,flags",
    [
        ("inputs", "inputs", "return_details=True"),
        ("layer_spikes", "spikes of 'layer0'", "keep_spikes=True, record_membrane=True"),
        ("layer_membranes", "membranes of 'layer0'", "keep_spikes=True, record_membrane=True"),
    ],
)
def test_forward_without_details_names_the_flag(drop, missing, flags):
    net = _tiny_mlp()
    out = replace(net(X_MLP, return_details=True), **{drop: None if drop == "inputs" else {}})
    with pytest.raises(EfficiencyError, match=f"recorded no {missing}; run the network with {flags}"):
        EfficiencyMeter(net).update(out)
    assert net(X_MLP).inputs is None  # a plain forward keeps no input


def test_the_meters_forward_records_no_probes():
    """EfficiencyMeter.forward_kwargs asks for the spikes and membranes only: no probe running sums."""
    net = _tiny_mlp()
    meter = EfficiencyMeter(net)
    out = net(X_MLP, **meter.forward_kwargs())
    spiking = {name for name, neuron in zip(net.layer_names, net.neurons) if neuron.spiking}
    assert out.probes == {} and set(out.layer_spikes) == spiking and set(out.layer_membranes) == set(net.layer_names)
    meter.update(out, inputs=X_MLP)
    assert meter.compute().total == measure_efficiency(net, X_MLP).total


def test_recurrent_ann_keeps_its_input_with_details():
    net = build_snn(SNNConfig(architecture="gru", input_size=2, hidden_sizes=[3], output_size=2, readout="membrane"))
    x = torch.rand(2, 4, 2)
    assert torch.equal(net(x, return_details=True).inputs, x) and net(x).inputs is None


def test_empty_meter_is_an_error():
    with pytest.raises(EfficiencyError, match="no batch was counted"):
        EfficiencyMeter(_tiny_mlp()).compute()


@pytest.mark.parametrize(
    "field,value,message",
    [
        ("e_ac_pj", -0.1, r"efficiency.e_ac_pj=-0.1 is out of range; allowed: \[0.0, inf\)"),
        ("e_mac_pj", float("nan"), "efficiency.e_mac_pj=nan must be finite"),
        ("e_mac_pj", float("inf"), "efficiency.e_mac_pj=inf must be finite"),
        ("e_ac_pj", "x", "efficiency.e_ac_pj='x' must be a number"),
    ],
)
def test_energy_constants_are_validated(field, value, message):
    with pytest.raises(ConfigError, match=message):
        EfficiencyConfig(**{field: value})
