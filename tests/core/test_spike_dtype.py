"""Compact spikes (``encoding.spike_dtype``): uint8 / bool encoder output, converted at the first
layer, with the same results as float spikes; the first Linear keeps them compact for backward."""

from __future__ import annotations

import dataclasses

import pytest
import torch
from framework_helpers import compose_config, saved_bytes

from brain_ai.app import pipeline
from brain_ai.config import EncodingConfig, SNNConfig
from brain_ai.core.encoding import build_encoder
from brain_ai.core.snn import build_snn

COMPACT = {"uint8": torch.uint8, "bool": torch.bool}
#: every encoder that emits spikes (direct emits currents and takes only float)
SPIKING = ("rate_bernoulli", "rate_poisson", "rate_deterministic", "latency", "ttfs", "population", "delta", "identity")


def _encoder_input(kind: str) -> torch.Tensor:
    """A static batch (4, 6), or a (4, 5, 6) sequence (spikes for identity) for delta / identity."""
    x = torch.rand(4, 5, 6, generator=torch.Generator().manual_seed(0))
    if kind == "identity":
        return (x < 0.3).float()
    return x if kind == "delta" else x[:, 0]


@pytest.mark.parametrize("spike_dtype", COMPACT)
@pytest.mark.parametrize("kind", SPIKING)
def test_compact_encoders_emit_the_float_spikes_in_one_byte(kind, spike_dtype):
    x = _encoder_input(kind)
    ref = (
        build_encoder(EncodingConfig(type=kind, num_steps=5))
        .train()(x, generator=torch.Generator().manual_seed(1))
        .spikes
    )
    got = (
        build_encoder(EncodingConfig(type=kind, num_steps=5, spike_dtype=spike_dtype))
        .train()(x, generator=torch.Generator().manual_seed(1))
        .spikes
    )
    assert got.dtype == COMPACT[spike_dtype] and got.element_size() == 1 and ref.dtype == torch.float32
    assert torch.equal(got.float(), ref)


@pytest.mark.parametrize("spike_dtype", COMPACT)
def test_default_run_forward_and_gradients_bit_for_bit(spike_dtype):
    """The default run's module (configs/train.yaml), training mode: the output sequence, the
    decoded logits and every parameter's gradient equal those of float spikes bit for bit."""
    images = torch.rand(8, 1, 28, 28, generator=torch.Generator().manual_seed(1))
    runs = {}
    for dtype in ("float", spike_dtype):
        torch.manual_seed(0)
        model, _ = pipeline.build_model(compose_config([f"encoding.spike_dtype={dtype}"]))
        decoded, out = model.train()(images, generator=torch.Generator().manual_seed(2))
        decoded.logits_proxy.sum().backward()
        runs[dtype] = (out.output, decoded.logits_proxy, {n: p.grad for n, p in model.named_parameters()})
    (out_f, logits_f, grads_f), (out_c, logits_c, grads_c) = runs["float"], runs[spike_dtype]
    assert torch.equal(out_f, out_c) and torch.equal(logits_f, logits_c)
    assert grads_f.keys() == grads_c.keys() and all(torch.equal(grads_f[n], grads_c[n]) for n in grads_f)


def _spikes(shape, dtype=torch.uint8) -> torch.Tensor:
    return (torch.rand(shape, generator=torch.Generator().manual_seed(5)) < 0.3).to(dtype)


@pytest.mark.parametrize(
    "cfg",
    [
        SNNConfig(input_size=12, hidden_sizes=[8, 6], output_size=3, dropout=0.3),
        SNNConfig(architecture="conv", input_shape=[2, 4, 4], conv_channels=[3], hidden_sizes=[5], output_size=3),
        SNNConfig(architecture="lstm", input_size=12, hidden_sizes=[8], output_size=3, dropout=0.3, readout="membrane"),
    ],
    ids=["mlp_dropout", "conv", "lstm_dropout"],
)
def test_networks_take_compact_spikes(cfg):
    shape = (3, 4, *(cfg.input_shape if cfg.input_shape else [cfg.input_size]))
    spikes = _spikes(shape)
    torch.manual_seed(0)
    net = build_snn(cfg).train()
    ref = net(spikes.float(), generator=torch.Generator().manual_seed(1), return_details=True)
    got = net(spikes, generator=torch.Generator().manual_seed(1), return_details=True)
    assert torch.equal(got.output, ref.output)
    assert got.inputs.dtype == torch.float32  # the efficiency meter reads float inputs


def test_bf16_autocast_same_output_and_gradients():
    net = build_snn(SNNConfig(input_size=12, hidden_sizes=[8], output_size=3))
    spikes = _spikes((3, 4, 12))
    runs = []
    for x in (spikes.float(), spikes):
        net.zero_grad()
        with torch.autocast("cpu", dtype=torch.bfloat16):
            out = net(x).output
        out.float().sum().backward()
        runs.append((out, [p.grad.clone() for p in net.parameters()]))
    assert runs[0][0].dtype == torch.bfloat16 and torch.equal(runs[0][0], runs[1][0])
    assert all(torch.equal(a, b) for a, b in zip(runs[0][1], runs[1][1]))


def test_first_linear_saves_the_compact_spikes_for_backward():
    """Autograd keeps 1 byte per input element instead of 4: 3 bytes x (B*T*F) fewer saved."""
    net = build_snn(SNNConfig(input_size=64, hidden_sizes=[4], output_size=2))
    spikes = _spikes((2, 3, 64))
    saved = {
        dtype: saved_bytes(lambda: net(spikes.to(dtype), keep_spikes=False))
        for dtype in (torch.float32, torch.uint8, torch.bool)
    }
    assert saved[torch.float32] - saved[torch.uint8] == 3 * spikes.numel()
    assert saved[torch.bool] == saved[torch.uint8]


def test_uint8_identity_keeps_event_counts():
    counts = torch.tensor([[[0.0, 2.0, 255.0]]])
    got = build_encoder(EncodingConfig(type="identity", spike_dtype="uint8"))(counts).spikes
    assert got.dtype == torch.uint8 and torch.equal(got.float(), counts)


def test_learned_centres_train_with_float_spikes_only():
    cfg = EncodingConfig(type="population", centers="learned")
    enc = build_encoder(cfg).train()
    enc(torch.rand(2, 3)).spikes.sum().backward()
    assert enc.centers.grad is not None  # the straight-through gradient that compact spikes cannot carry
    assert dataclasses.replace(cfg, centers="linear", spike_dtype="bool").spike_dtype.name == "bool"
