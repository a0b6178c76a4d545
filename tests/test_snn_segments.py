"""Whole-network state and time segments: ``forward(x, state=)`` continues a sequence bit for bit,
``snn.checkpoint_every`` gives full-BPTT gradients, bad state / config values fail clearly."""

from __future__ import annotations

import dataclasses

import pytest
import torch
from framework_helpers import dyadic_weights_

from brain_ai.config import ConfigError, NeuronConfig, SNNConfig
from brain_ai.core.snn import build_snn

T = 12

#: every ``snn`` option: architecture x neuron type x readout (conv: batch norm off, see below)
OPTIONS = {
    "mlp_lif": dict(neuron=NeuronConfig(threshold=0.5)),
    "mlp_recurrent": dict(neuron=NeuronConfig(type="recurrent_lif", threshold=0.5)),
    "mlp_recurrent_adaptive": dict(
        neuron=NeuronConfig(
            type="recurrent_adaptive_lif",
            threshold=0.5,
            learnable_beta=True,
            per_neuron_beta=True,
            learnable_adaptation=True,
        ),
        readout="membrane",
    ),
    "mlp_adaptive": dict(neuron=NeuronConfig(type="adaptive_lif", threshold=0.5, learnable_beta=True)),
    "mlp_advanced_delays": dict(neuron=NeuronConfig(type="advanced_lif", threshold=0.5, max_delay=3)),
    "mlp_synaptic_refractory": dict(
        neuron=NeuronConfig(threshold=0.5, synaptic=True, refractory_steps=2, learnable_threshold=True)
    ),
    "mlp_membrane_readout": dict(neuron=NeuronConfig(threshold=0.5), readout="membrane"),
    "conv_lif": dict(architecture="conv", norm="none", neuron=NeuronConfig(threshold=0.5)),
    "conv_adaptive": dict(architecture="conv", norm="none", neuron=NeuronConfig(type="adaptive_lif", threshold=0.5)),
    "conv_recurrent_adaptive": dict(
        architecture="conv", norm="none", neuron=NeuronConfig(type="recurrent_adaptive_lif", threshold=0.5)
    ),
}


def make_cfg(option: str, fused: bool, **kw) -> SNNConfig:
    spec = dict(OPTIONS[option])
    spec["neuron"] = dataclasses.replace(spec["neuron"], backend="auto" if fused else "eager")
    if spec.get("architecture") == "conv":
        return SNNConfig(input_shape=[2, 6, 6], conv_channels=[4], hidden_sizes=[16], output_size=5, **spec, **kw)
    return SNNConfig(input_size=20, hidden_sizes=[32, 16], output_size=5, **spec, **kw)


def make_net(cfg: SNNConfig, seed: int = 0) -> torch.nn.Module:
    """A network with dyadic Linear/Conv weights (exact sums: bit-for-bit comparisons are fair)."""
    torch.manual_seed(seed)
    net = build_snn(cfg)
    dyadic_weights_(net)
    return net


def spikes_in(cfg: SNNConfig, batch: int = 3, steps: int = T, seed: int = 1) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    shape = (20,) if cfg.architecture.value == "mlp" else tuple(cfg.input_shape)
    return (torch.rand(batch, steps, *shape, generator=g) < 0.4).float()


def assert_states_equal(a, b):
    assert list(a) == list(b)
    for name in a:
        for (field, ta), (_, tb) in zip(a[name].items(), b[name].items()):
            assert (ta is None) == (tb is None), (name, field)
            if ta is not None:
                assert torch.equal(ta, tb), (name, field)


@pytest.mark.parametrize("fused", [True, False], ids=["fused", "generic"])
@pytest.mark.parametrize("option", list(OPTIONS))
def test_split_run_with_carried_state_equals_one_run(option, fused):
    cfg = make_cfg(option, fused)
    net = make_net(cfg)
    x = spikes_in(cfg)
    whole = net(x, record_membrane=True)
    assert whole.output.abs().sum() > 0
    for cuts in ([5], [1, 7, 11]):
        state, parts = None, []
        for start, stop in zip([0, *cuts], [*cuts, T]):
            out = net(x[:, start:stop], state, record_membrane=True)
            parts.append(out)
            state = out.final_states
        assert torch.equal(torch.cat([p.output for p in parts], 1), whole.output)
        for name in whole.layer_spikes:
            assert torch.equal(torch.cat([p.layer_spikes[name] for p in parts], 1), whole.layer_spikes[name])
        for name in whole.layer_membranes:
            assert torch.equal(torch.cat([p.layer_membranes[name] for p in parts], 1), whole.layer_membranes[name])
        assert_states_equal(state, whole.final_states)


def test_batch_norm_network_streams_in_eval_mode():
    cfg = SNNConfig(
        architecture="conv",
        input_shape=[2, 6, 6],
        conv_channels=[4],
        hidden_sizes=[16],
        output_size=5,
        neuron=NeuronConfig(threshold=0.5),
    )
    net = make_net(cfg).eval()  # batch norm in eval mode is per frame
    x = spikes_in(cfg)
    first = net(x[:, :4])
    assert torch.equal(torch.cat([first.output, net(x[:, 4:], first.final_states).output], 1), net(x).output)


def test_advanced_lif_delay_history_is_carried():
    cfg = make_cfg("mlp_advanced_delays", fused=False)
    net = make_net(cfg)
    out = net(spikes_in(cfg, steps=4))
    assert out.final_states["layer0"].spike_history.shape == (3, 4, 32)  # (B, max_delay + 1, N)
    assert out.final_states["layer0"].spike_history.abs().sum() > 0


def test_reset_state_equals_none():
    cfg = make_cfg("mlp_adaptive", fused=True)
    net = make_net(cfg)
    x = spikes_in(cfg)
    assert torch.equal(net(x, net.reset_state(3)).output, net(x).output)


def test_wrong_state_names_the_layer_and_both_shapes():
    cfg = make_cfg("mlp_lif", fused=True)
    net = make_net(cfg)
    state = net(spikes_in(cfg, batch=3)).final_states
    with pytest.raises(
        ValueError, match=r"SNNCore layer 'layer0': state\.v has shape \(3, 32\) but the input needs \(2, 32\)"
    ):
        net(spikes_in(cfg, batch=2), state)
    with pytest.raises(ValueError, match=r"layers \['layer0', 'layer1', 'layer2'\].*got \['layer0', 'layer1'\]"):
        net(spikes_in(cfg), {k: state[k] for k in ("layer0", "layer1")})
    other = make_net(make_cfg("mlp_adaptive", fused=True))  # same names, adaptive needs state.a
    with pytest.raises(
        ValueError, match=r"SNNCore layer 'layer0': state\.a is None but this neuron needs it with shape \(3, 32\)"
    ):
        other(spikes_in(cfg), state)
    wide = make_net(SNNConfig(input_size=20, hidden_sizes=[8, 16], output_size=5))
    with pytest.raises(ValueError, match=r"layer 'layer0': state\.v has shape \(3, 32\) but the input needs \(3, 8\)"):
        wide(spikes_in(cfg), state)


def _grads(net, x, autocast: bool):
    net.zero_grad(set_to_none=True)
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast):
        out = net(x, record_membrane=True)
        weights = torch.linspace(0.5, 1.5, out.output.shape[1])[None, :, None]
        loss = (out.output.float() * weights).sum() + sum(m.float().pow(2).mean() for m in out.layer_membranes.values())
    loss.backward()
    return out, {n: p.grad.clone() for n, p in net.named_parameters() if p.grad is not None}


def _rel_err(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a.double() - b.double()).norm() / b.double().norm().clamp_min(1e-30))


@pytest.mark.parametrize("autocast", [False, True], ids=["fp32", "bf16"])
@pytest.mark.parametrize("fused", [True, False], ids=["fused", "generic"])
@pytest.mark.parametrize("option", list(OPTIONS))
def test_checkpoint_every_gives_full_bptt_gradients(option, fused, autocast):
    cfg = make_cfg(option, fused)
    full = make_net(cfg)
    every = 5
    ckpt = make_net(dataclasses.replace(cfg, checkpoint_every=every))
    x = spikes_in(cfg)
    out_full, g_full = _grads(full, x, autocast)
    out_ckpt, g_ckpt = _grads(ckpt, x, autocast)
    assert torch.equal(out_full.output, out_ckpt.output)
    assert set(g_full) == set(g_ckpt) and any(g.abs().sum() > 0 for g in g_full.values())
    # Under bf16 autocast a Linear/Conv weight gradient is a bf16 matmul over the (B*t) frames of a
    # segment, rounded to bf16 (unit roundoff 2^-8) once per segment and summed in fp32, where full
    # BPTT rounds the whole sum once: |g_ckpt - g_full| <= 2^-8 (|g_full| + sum_k |g_k|), which is
    # (1 + segments) 2^-8 |g_full| when the segments' gradients share a sign. Everything else
    # (and every fp32 gradient) agrees to 1e-5.
    segments = -(-x.shape[1] // every)
    bf16_bound = (1 + segments) * 2.0**-8
    for name in g_full:
        bf16_weight = autocast and name.startswith(("linears", "blocks"))
        assert _rel_err(g_ckpt[name], g_full[name]) <= (bf16_bound if bf16_weight else 1e-5), name


def test_checkpointing_with_dropout_uses_the_same_masks_in_recomputation():
    cfg = make_cfg("mlp_lif", fused=True, dropout=0.3)
    full, ckpt = make_net(cfg), make_net(dataclasses.replace(cfg, checkpoint_every=4))
    x = spikes_in(cfg)
    torch.manual_seed(7)
    out_full, g_full = _grads(full, x, autocast=False)
    torch.manual_seed(7)
    out_ckpt, g_ckpt = _grads(ckpt, x, autocast=False)
    assert torch.equal(out_full.output, out_ckpt.output)
    for name in g_full:
        assert _rel_err(g_ckpt[name], g_full[name]) <= 1e-5, name
    torch.manual_seed(8)  # other masks -> other gradients: dropout really acted
    _, g_other = _grads(full, x, autocast=False)
    assert not torch.equal(g_other["linears.1.weight"], g_full["linears.1.weight"])


def test_checkpoint_every_composes_with_truncation():
    cfg = make_cfg("mlp_recurrent", fused=False, chunk_size=4)
    trunc, both = make_net(cfg), make_net(dataclasses.replace(cfg, checkpoint_every=3))
    x = spikes_in(cfg)
    out_a, g_a = _grads(trunc, x, autocast=False)
    out_b, g_b = _grads(both, x, autocast=False)
    assert torch.equal(out_a.output, out_b.output)
    for name in g_a:
        assert _rel_err(g_b[name], g_a[name]) <= 1e-5, name


def test_keep_spikes_false_returns_no_hidden_spikes():
    cfg = make_cfg("mlp_lif", fused=True, checkpoint_every=4)
    out = make_net(cfg)(spikes_in(cfg), keep_spikes=False)
    assert out.layer_spikes == {} and out.output.shape == (3, T, 5)


def test_inference_ignores_checkpoint_every():
    cfg = make_cfg("mlp_lif", fused=True, checkpoint_every=8)
    net = make_net(cfg)
    with torch.no_grad():  # a window shorter than checkpoint_every is fine when nothing is recorded
        assert net(spikes_in(cfg, steps=3)).output.shape == (3, 3, 5)
    with pytest.raises(
        ConfigError,
        match=r"snn\.checkpoint_every=8 is larger than the sequence \(T=3 steps\); allowed: 1 <= checkpoint_every <= 3",
    ):
        net(spikes_in(cfg, steps=3))


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(checkpoint_every=0), r"snn\.checkpoint_every=0 is out of range; allowed: \[1, inf"),
        (dict(checkpoint_every=2.5), r"snn\.checkpoint_every=2\.5 must be an integer"),
        (dict(memory_budget_mb=0), r"snn\.memory_budget_mb=0 is out of range"),
        (
            dict(memory_budget_mb=100.0, checkpoint_every=5),
            r"snn\.memory_budget_mb=100\.0 picks snn\.checkpoint_every.*allowed: one of them",
        ),
        (
            dict(architecture="conv", checkpoint_every=5),
            r"snn\.checkpoint_every=5 cannot be used with snn\.norm=batch.*allowed: snn\.norm=none",
        ),
        (dict(architecture="conv", chunk_size=5), r"snn\.chunk_size=5 cannot be used with snn\.norm=batch"),
        (
            dict(architecture="conv", memory_budget_mb=64.0),
            r"snn\.memory_budget_mb=64\.0 cannot be used with snn\.norm=batch",
        ),
    ],
)
def test_bad_segmenting_config_names_field_value_and_allowed(kwargs, match):
    with pytest.raises(ConfigError, match=match):
        SNNConfig(**kwargs)
