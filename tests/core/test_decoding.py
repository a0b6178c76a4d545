"""Decoders: hand-written references, shapes, confidence range, gradients, T invariance."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from brain_ai.config import ConfigError, DecoderType, DecodingConfig, PopulationMode, Task
from brain_ai.core.decoding import (
    DECODERS,
    ClassificationOutput,
    DecoderOutput,
    RegressionOutput,
    build_decoder,
    first_spike_times,
)


def _softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def _cfg(name: str, **kw) -> DecodingConfig:
    return DecodingConfig(type=name, **kw)


def _spikes(batch: int, steps: int, n: int, p: float = 0.3, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return (torch.rand(batch, steps, n, generator=g) < p).float()


# ---------------------------------------------------------------------------- first-spike time


def test_first_spike_times_match_numpy_and_never_fired_is_T():
    s = _spikes(3, 9, 5, p=0.15)
    s[:, :, 0] = 0.0  # never fires
    ref = np.full((3, 5), 9.0)
    for b, t, n in zip(*np.nonzero(s.numpy())):
        ref[b, n] = min(ref[b, n], t)
    np.testing.assert_array_equal(first_spike_times(s).numpy(), ref)


def test_first_spike_time_gradient_is_minus_distance_before_the_first_spike():
    s = torch.zeros(1, 8, 2)
    s[0, 5, 0] = 1.0  # fires at 5; neuron 1 never fires (t = 8)
    s[0, 6, 0] = 1.0
    s.requires_grad_(True)
    first_spike_times(s).sum().backward()
    g = s.grad[0].numpy()
    np.testing.assert_allclose(g[:5, 0], -(5 - np.arange(5)))  # firing earlier at u moves t to u
    np.testing.assert_allclose(g[6:, 0], 0.0)  # after the first spike: no effect
    np.testing.assert_allclose(g[:, 1], -(8 - np.arange(8)))


# ---------------------------------------------------------------------------- each decoder


def test_rate_decoder_matches_numpy():
    s = _spikes(4, 10, 3)
    out = build_decoder(_cfg("rate", temperature=0.5), 3)(s)
    counts = s.numpy().sum(1)
    logits = counts / (10 * 0.5)
    probs = _softmax(logits)
    np.testing.assert_allclose(out.logits_proxy.detach().numpy(), logits, rtol=1e-6)
    np.testing.assert_array_equal(out.aux["count_histogram"].numpy(), counts)
    np.testing.assert_array_equal(out.prediction.numpy(), logits.argmax(-1))
    np.testing.assert_allclose(out.confidence.numpy(), probs.max(-1), rtol=1e-6)
    top2 = np.sort(probs, -1)[:, -2:]
    np.testing.assert_allclose(out.aux["margin"].numpy(), top2[:, 1] - top2[:, 0], rtol=1e-5, atol=1e-7)


def test_first_spike_decoder_earliest_wins_ties_lowest_index():
    s = torch.zeros(3, 6, 3)
    s[0, 4, 0], s[0, 2, 1], s[0, 5, 2] = 1, 1, 1  # neuron 1 first
    s[1, 3, 0], s[1, 3, 2] = 1, 1  # tie -> 0
    out = build_decoder(_cfg("first_spike", temperature=1.0), 3)(s)  # sample 2: nobody fires -> all t = T, tie -> 0
    assert out.prediction.tolist() == [1, 0, 0]
    np.testing.assert_allclose(out.aux["first_spike_times"].numpy(), [[4, 2, 5], [3, 6, 3], [6, 6, 6]])
    np.testing.assert_allclose(out.logits_proxy.detach().numpy(), -out.aux["first_spike_times"].numpy() / 6)


def test_population_classification_groups_contiguous_units():
    s = _spikes(2, 12, 6)
    dec = build_decoder(_cfg("population", population_size=3, temperature=0.25), 2)
    assert dec.output_size == 6
    out = dec(s)
    rates = s.numpy().mean(1).reshape(2, 2, 3)
    np.testing.assert_allclose(out.logits_proxy.detach().numpy(), rates.mean(-1) / 0.25, rtol=1e-6)
    np.testing.assert_allclose(out.aux["group_rates"].numpy(), rates, rtol=1e-6)


def test_population_regression_expectation_over_centers():
    s = _spikes(3, 20, 8, p=0.4)
    s[2] = 0.0  # silent: estimate 0, confidence 0
    out = build_decoder(_cfg("population", population_mode="regression", population_size=4), 2)(s)
    rates = s.numpy().mean(1).reshape(3, 2, 4)
    c = np.linspace(0, 1, 4)
    w = rates / np.maximum(rates.sum(-1, keepdims=True), 1 / 20)
    est = (w * c).sum(-1)
    spread = np.sqrt((w * (c - est[..., None]) ** 2).sum(-1))
    assert isinstance(out, RegressionOutput) and not hasattr(out, "logits_proxy") and not hasattr(out, "prediction")
    np.testing.assert_allclose(out.estimate.detach().numpy(), est, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(out.confidence.numpy(), (w.sum(-1) * (1 - 2 * spread)).mean(-1), rtol=1e-5, atol=1e-6)
    assert out.confidence[2].item() == 0.0 and out.estimate[2].tolist() == [0.0, 0.0]


@pytest.mark.parametrize(
    "reduce, ref", [("final", lambda v: v[:, -1]), ("max", lambda v: v.max(1)), ("mean", lambda v: v.mean(1))]
)
def test_membrane_decoder_reductions(reduce, ref):
    v = torch.randn(3, 7, 4)
    out = build_decoder(_cfg("membrane", membrane_reduce=reduce, temperature=2.0), 4)(v)
    np.testing.assert_allclose(out.logits_proxy.numpy(), ref(v.numpy()) / 2.0, rtol=1e-5, atol=1e-6)


def test_ensemble_mixes_member_probabilities():
    s = _spikes(4, 10, 3)
    cfg = _cfg("ensemble", ensemble_members=["rate", "first_spike"], ensemble_weights=[3.0, 1.0])
    out = build_decoder(cfg, 3)(s)
    rate = build_decoder(_cfg("rate"), 3)(s).logits_proxy.numpy()
    first = build_decoder(_cfg("first_spike"), 3)(s).logits_proxy.detach().numpy()
    probs = 0.75 * _softmax(rate) + 0.25 * _softmax(first)
    np.testing.assert_allclose(out.logits_proxy.detach().numpy(), np.log(probs + 1e-7), rtol=1e-5)
    np.testing.assert_array_equal(out.prediction.numpy(), probs.argmax(-1))


def test_ensemble_members_must_agree_on_output_count():
    cfg = _cfg("ensemble", ensemble_members=["rate", "population"], ensemble_weights=[1.0, 1.0])
    with pytest.raises(ValueError, match="equal output_size"):
        build_decoder(cfg, 3)
    with pytest.raises(ConfigError, match="ensemble_weights"):
        _cfg("ensemble", ensemble_members=["rate"], ensemble_weights=[1.0, 1.0])


# ---------------------------------------------------------------------------- every decoder


EVERY_DECODER = [pytest.param(_cfg(name), id=name) for name in sorted(d.name for d in DECODERS)] + [
    pytest.param(_cfg("population", population_mode="regression", population_size=2), id="population-regression")
]


@pytest.mark.parametrize("cfg", EVERY_DECODER)
def test_every_decoder_shapes_confidence_and_gradient(cfg):
    dec = build_decoder(cfg, 4)
    raw = torch.rand(5, 9, dec.output_size, requires_grad=True)
    out = dec(raw)
    assert type(dec).name == cfg.type.name
    regression = cfg.type is DecoderType.population and cfg.population_mode is PopulationMode.regression
    assert dec.task is (Task.regression if regression else Task.classification) and out.task is dec.task
    if regression:
        assert type(out) is RegressionOutput and out.estimate.shape == (5, 4) and out.estimate.dtype == torch.float32
    else:
        assert (
            type(out) is ClassificationOutput
            and out.logits_proxy.shape == (5, 4)
            and out.logits_proxy.dtype == torch.float32
        )
        assert out.prediction.shape == (5,) and out.prediction.dtype == torch.int64
    assert out.confidence.shape == (5,) and bool(((out.confidence >= 0) & (out.confidence <= 1)).all())
    out.trained.sum().backward()
    assert raw.grad is not None and bool(raw.grad.abs().sum() > 0)
    with pytest.raises(ValueError, match=r"must be \(B, T>=1"):
        dec(torch.rand(5, 9, dec.output_size + 1))


@pytest.mark.parametrize("name", ["rate", "first_spike", "population"])
def test_same_statistics_same_logits_at_any_T(name):
    dec = build_decoder(_cfg(name, population_size=2), 4)
    short = _spikes(3, 25, dec.output_size)
    long = short.repeat_interleave(4, dim=1)  # T = 100, every step lasts 4: same rates, same t_first / T
    torch.testing.assert_close(dec(short).logits_proxy, dec(long).logits_proxy)


def test_build_decoder_rejects_bad_arguments():
    with pytest.raises(TypeError, match="DecodingConfig"):
        build_decoder({"type": "rate"}, 3)
    with pytest.raises(ValueError, match="num_outputs=0"):
        build_decoder(_cfg("rate"), 0)
    with pytest.raises(ConfigError, match=r"decoding\.temperature=0"):
        _cfg("rate", temperature=0)


def test_output_types_are_distinct_and_the_base_is_abstract():
    fields = lambda cls: {f.name for f in dataclasses.fields(cls)}  # noqa: E731
    assert fields(ClassificationOutput) == {"confidence", "aux", "logits_proxy", "prediction"}
    assert fields(RegressionOutput) == {"confidence", "aux", "estimate"}
    assert (ClassificationOutput.task, RegressionOutput.task) == (Task.classification, Task.regression)
    with pytest.raises(TypeError, match="abstract"):
        DecoderOutput(confidence=torch.ones(2))
