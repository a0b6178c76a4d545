"""Ragged sequences: a mask (B, T) makes decoders, every loss term and the probes ignore padded
steps, so padding a sample with extra silent steps changes none of its loss, prediction or probes."""

import pytest
import torch

from brain_ai.config import DecodingConfig, SNNConfig, Task, TemporalPenalty
from brain_ai.core.decoding import DECODERS, build_decoder
from brain_ai.core.losses import (
    CrossEntropyLoss,
    FirstSpikeLoss,
    ISIRegularization,
    LossInputs,
    MembraneRegularization,
    MSELoss,
    ProbSpikes,
    RateRegularization,
    TemporalConsistency,
    compute_snn_metrics,
)
from brain_ai.core.probes import compute_probes
from brain_ai.core.snn import build_snn

T, PAD, B, C = 12, 5, 4, 3


def _net(readout: str, outputs: int):
    torch.manual_seed(0)
    cfg = SNNConfig(input_size=10, hidden_sizes=[16], output_size=outputs, readout=readout)
    net = build_snn(cfg)
    with torch.no_grad():
        for lin in net.linears:
            lin.weight.mul_(3.0)  # enough activity that every statistic is exercised
    return net


def _pair(readout: str, outputs: int):
    """The same batch plain (T steps) and padded with PAD silent steps + mask."""
    net = _net(readout, outputs)
    x = (torch.rand(B, T, 10, generator=torch.Generator().manual_seed(1)) < 0.4).float()
    x_pad = torch.cat([x, torch.zeros(B, PAD, 10)], dim=1)  # (B, T + PAD, 10)
    mask = torch.arange(T + PAD).expand(B, -1) < T  # (B, T + PAD)
    plain = net(x, return_details=True, record_membrane=True)
    padded = net(x_pad, return_details=True, record_membrane=True, mask=mask)
    return plain, padded, mask


DECODER_CFGS = {
    "rate": (DecodingConfig(type="rate"), "spiking"),
    "first_spike": (DecodingConfig(type="first_spike"), "spiking"),
    "population": (DecodingConfig(type="population", population_size=4), "spiking"),
    "population_regression": (
        DecodingConfig(type="population", population_size=4, population_mode="regression"),
        "spiking",
    ),
    "ensemble": (DecodingConfig(type="ensemble"), "spiking"),
    "membrane_final": (DecodingConfig(type="membrane", membrane_reduce="final"), "membrane"),
    "membrane_max": (DecodingConfig(type="membrane", membrane_reduce="max"), "membrane"),
    "membrane_mean": (DecodingConfig(type="membrane", membrane_reduce="mean"), "membrane"),
}


def test_every_decoder_is_covered():
    assert {cfg.type for cfg, _ in DECODER_CFGS.values()} == set(DECODERS)


@pytest.mark.parametrize("key", sorted(DECODER_CFGS))
def test_padding_does_not_change_decoded_logits_or_prediction(key):
    cfg, readout = DECODER_CFGS[key]
    decoder = build_decoder(cfg, C)
    plain, padded, mask = _pair(readout, decoder.output_size)
    a, b = decoder(plain.output), decoder(padded.output, mask)
    assert not torch.equal(decoder(padded.output).trained, a.trained)  # without the mask it differs
    torch.testing.assert_close(b.trained, a.trained, rtol=1e-6, atol=1e-7)  # logits or estimate
    if decoder.task is Task.classification:
        torch.testing.assert_close(b.prediction, a.prediction, rtol=0, atol=0)
    torch.testing.assert_close(b.confidence, a.confidence, rtol=1e-6, atol=1e-7)


TERMS = {
    "probspikes": ProbSpikes(),
    "first_spike": FirstSpikeLoss(),
    "cross_entropy": CrossEntropyLoss(),
    "rate_reg": RateRegularization(target_rate=0.2, rate_min=0.05, rate_max=0.5),
    "temporal_l1": TemporalConsistency(window=2),
    "temporal_l2": TemporalConsistency(window=1, penalty=TemporalPenalty.l2),
    "temporal_variance": TemporalConsistency(window=3, penalty=TemporalPenalty.variance),
    "isi": ISIRegularization(window=3, tau=2.0),
    "membrane": MembraneRegularization(max_membrane=0.5),
}


@pytest.mark.parametrize("name", sorted(TERMS))
def test_padding_does_not_change_any_loss_term(name):
    plain, padded, mask = _pair("spiking", C)
    decoder = build_decoder(DecodingConfig(type="rate"), C)
    y = torch.tensor([0, 1, 2, 1])

    def value(out, m):
        inputs = LossInputs(out.output, decoder(out.output, m), y, out.layer_spikes, out.layer_membranes, mask=m)
        return TERMS[name](inputs)

    (la, da), (lb, db) = value(plain, None), value(padded, mask)
    assert la.item() > 0
    torch.testing.assert_close(lb, la, rtol=1e-6, atol=1e-7)
    for key in da:
        torch.testing.assert_close(db[key], da[key], rtol=1e-6, atol=1e-7)
    no_mask = TERMS[name](
        LossInputs(padded.output, decoder(padded.output), y, padded.layer_spikes, padded.layer_membranes)
    )[0]
    if name != "cross_entropy":
        assert not torch.allclose(no_mask, la)  # the padded steps would count without the mask


def test_padding_does_not_change_mse_probes_or_metrics():
    plain, padded, mask = _pair("spiking", 2 * 4)
    decoder = build_decoder(DecodingConfig(type="population", population_size=4, population_mode="regression"), 2)
    y = torch.rand(B, 2)
    mse = [
        MSELoss()(LossInputs(o.output, decoder(o.output, m), y, mask=m))[0] for o, m in ((plain, None), (padded, mask))
    ]
    torch.testing.assert_close(mse[1], mse[0])
    for layer in plain.probes:
        for key, value in plain.probes[layer].items():
            torch.testing.assert_close(padded.probes[layer][key], value, rtol=1e-6, atol=1e-7, msg=f"{layer}/{key}")
    unmasked = compute_probes(padded.layer_spikes["layer0"])
    assert unmasked["firing_rate"] < plain.probes["layer0"]["firing_rate"]  # silent padding dilutes without the mask
    metrics = [
        compute_snn_metrics(decoder(o.output, m), y, o.layer_spikes, m) for o, m in ((plain, None), (padded, mask))
    ]
    assert metrics[1] == pytest.approx(metrics[0], rel=1e-6)


def test_samples_of_different_length_in_one_batch():
    """Sample 0 is 7 steps long, the others 12: its logits equal those of running it alone."""
    net = _net("spiking", C)
    decoder = build_decoder(DecodingConfig(type="first_spike"), C)
    x = (torch.rand(B, T, 10, generator=torch.Generator().manual_seed(3)) < 0.4).float()
    x[0, 7:] = 0.0
    mask = torch.ones(B, T, dtype=torch.bool)
    mask[0, 7:] = False
    batch = decoder(net(x).output, mask)
    alone = decoder(net(x[:1, :7]).output)
    torch.testing.assert_close(batch.logits_proxy[:1], alone.logits_proxy)
    rest = decoder(net(x[1:]).output)
    torch.testing.assert_close(batch.logits_proxy[1:], rest.logits_proxy)


@pytest.mark.parametrize(
    "mask, got",
    [
        (torch.ones(B, T, dtype=torch.float32), r"torch\.float32 \(4, 12\)"),
        (torch.ones(B, T + 1, dtype=torch.bool), r"torch\.bool \(4, 13\)"),
        (torch.ones(T, dtype=torch.bool), r"torch\.bool \(12,\)"),
    ],
)
def test_bad_masks_name_the_field(mask, got):
    out = torch.zeros(B, T, C)
    expected = r"mask must be a bool tensor of shape \(B, T\)=\(4, 12\), got " + got
    with pytest.raises(ValueError, match=r"rate decoder\." + expected):
        build_decoder(DecodingConfig(type="rate"), C)(out, mask)
    decoded = build_decoder(DecodingConfig(type="rate"), C)(out)
    with pytest.raises(ValueError, match=r"LossInputs\." + expected):
        LossInputs(out, decoded, torch.zeros(B, dtype=torch.long), mask=mask)
    with pytest.raises(ValueError, match=r"compute_probes\." + expected):
        compute_probes(out, mask=mask)
