"""Encoders: shapes, hand-written references, reproducibility, round trips, bad input."""

from __future__ import annotations

import dataclasses
import math
import re

import numpy as np
import pytest
import torch

from brain_ai.config import ConfigError, DecodingConfig, EncoderType, EncodingConfig, NormalizationType
from brain_ai.core.decoding import build_decoder
from brain_ai.core.encoding import (
    ENCODERS,
    SpikeBatch,
    batch_to_time_first,
    build_encoder,
    normalize,
    regular_spikes,
    time_to_batch_first,
)

SEQUENCE_ENCODERS = {EncoderType.delta.name, EncoderType.identity.name}


def _input(name: str, shape: tuple, steps: int = 6) -> torch.Tensor:
    """A static sample batch, or a (B, T, ...) sequence for delta / identity."""
    torch.manual_seed(0)
    if name == EncoderType.identity.name:
        return (torch.rand((shape[0], steps) + shape[1:]) < 0.3).float()
    if name == EncoderType.delta.name:
        return torch.rand((shape[0], steps) + shape[1:])
    return torch.rand(shape)


# ---------------------------------------------------------------------------- axis helpers, SpikeBatch


def test_axis_helpers_swap_batch_and_time():
    x = torch.arange(24.0).view(2, 3, 4)  # (B, T, N)
    tf = batch_to_time_first(x)
    assert tf.shape == (3, 2, 4) and torch.equal(tf[1, 0], x[0, 1])
    assert torch.equal(time_to_batch_first(tf), x)
    with pytest.raises(ValueError, match="at least 2 dims"):
        time_to_batch_first(torch.zeros(3))


def test_spike_batch_properties_and_validation():
    sb = SpikeBatch(spikes=torch.tensor([[[0.0, 1.0]], [[1.0, 1.0]]]).expand(2, 5, 2))
    assert (sb.batch_size, sb.time_steps, sb.feature_shape) == (2, 5, (2,))
    assert sb.mask.shape == (2, 5) and sb.mask.dtype == torch.bool and bool(sb.mask.all())
    assert sb.is_binary() and sb.device == torch.device("cpu")
    assert not SpikeBatch(spikes=torch.full((1, 2, 3), 0.5)).is_binary()
    with pytest.raises(ValueError, match=r"\(B, T, \.\.\.\)"):
        SpikeBatch(spikes=torch.zeros(2, 3))
    with pytest.raises(ValueError, match="mask"):
        SpikeBatch(spikes=torch.zeros(2, 3, 4), mask=torch.ones(2, 4, dtype=torch.bool))


# ---------------------------------------------------------------------------- every encoder


@pytest.mark.parametrize("name", sorted(e.name for e in ENCODERS))
@pytest.mark.parametrize("shape", [(3, 5), (2, 2, 4, 4)], ids=["vector", "image"])
def test_every_encoder_is_batch_first_binary_and_sized_by_output_shape(name, shape):
    cfg = EncodingConfig(type=name, num_steps=7, seed=0)
    enc = build_encoder(cfg)
    x = _input(name, shape)
    sb = enc(x)
    steps = x.shape[1] if name in SEQUENCE_ENCODERS else cfg.num_steps
    per_sample = x.shape[2:] if name in SEQUENCE_ENCODERS else x.shape[1:]
    assert isinstance(sb, SpikeBatch) and type(enc).name == name
    assert sb.spikes.shape == (shape[0], steps) + enc.output_shape(tuple(per_sample))
    assert sb.is_binary() is enc.emits_spikes and sb.spikes.dtype == torch.float32
    assert sb.mask.shape == (shape[0], steps)


def test_direct_encoder_repeats_the_normalised_input_as_a_current():
    x = torch.tensor([[0.2, 1.0, 0.6], [3.0, 1.0, 2.0]], dtype=torch.float64, requires_grad=True)
    enc = build_encoder(EncodingConfig(type="direct", num_steps=4, normalization="minmax"))
    sb = enc(x)
    xn = x.detach().numpy()
    ref = (xn - xn.min(1, keepdims=True)) / (xn.max(1, keepdims=True) - xn.min(1, keepdims=True))  # (B, F)
    np.testing.assert_allclose(sb.spikes.detach().numpy(), np.repeat(ref[:, None], 4, axis=1), rtol=1e-12)
    assert sb.spikes.dtype == torch.float64 and not sb.is_binary() and bool(sb.mask.all())
    enc.eval()
    assert torch.equal(enc(x).spikes, sb.spikes)  # no sampling: the same in train and eval mode
    sb.spikes.sum().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all()


@pytest.mark.parametrize("name", sorted(e.name for e in ENCODERS))
def test_every_encoder_rejects_nan_and_wrong_rank(name):
    enc = build_encoder(EncodingConfig(type=name, num_steps=4))
    x = _input(name, (2, 3))
    bad = x.clone()
    bad.view(-1)[0] = float("nan")
    with pytest.raises(ValueError, match="NaN or Inf"):
        enc(bad)
    bad.view(-1)[0] = float("inf")
    with pytest.raises(ValueError, match="NaN or Inf"):
        enc(bad)
    with pytest.raises(ValueError, match="allowed ranks"):
        enc(torch.rand(2, 3, 4, 5, 6, 7))


def test_dtype_policy_fp64_kept_integer_becomes_float32():
    x = torch.rand(2, 6, dtype=torch.float64)
    assert build_encoder(EncodingConfig(num_steps=3))(x).spikes.dtype == torch.float64
    frames = torch.randint(0, 2, (2, 4, 6), dtype=torch.uint8)
    sb = build_encoder(EncodingConfig(type="identity"))(frames)
    assert sb.spikes.dtype == torch.float32 and torch.equal(sb.spikes, frames.float())


def test_non_positive_time_steps_and_bad_fields_are_config_errors():
    with pytest.raises(ConfigError, match=r"encoding\.num_steps=0"):
        EncodingConfig(num_steps=0)
    with pytest.raises(ConfigError, match=r"encoding\.type='rat'.*allowed: rate_bernoulli"):
        EncodingConfig(type="rat")
    with pytest.raises(ConfigError, match=r"encoding\.t_max=30"):
        EncodingConfig(num_steps=25, t_max=30)
    with pytest.raises(ConfigError, match="latency_burst"):
        EncodingConfig(type="ttfs", latency_burst=2)


# ---------------------------------------------------------------------------- normalisation


def test_normalize_minmax_sigmoid_clamp_match_numpy():
    x = torch.tensor([[1.0, 1.5, 2.0], [-1.0, -1.0, -1.0]])
    got, stats = normalize(x, NormalizationType.minmax)
    ref = np.array([[0.0, 0.5, 1.0], [0.0, 0.0, 0.0]])  # constant sample -> 0
    np.testing.assert_allclose(got.numpy(), ref)
    np.testing.assert_allclose(stats["norm_min"].numpy(), [1.0, -1.0])
    np.testing.assert_allclose(
        normalize(x, NormalizationType.sigmoid)[0].numpy(), 1 / (1 + np.exp(-x.numpy())), rtol=1e-6
    )
    np.testing.assert_allclose(normalize(x, NormalizationType.clamp)[0].numpy(), np.clip(x.numpy(), 0, 1))


def test_normalization_none_rejects_values_outside_unit_range():
    enc = build_encoder(EncodingConfig(normalization="none"))
    with pytest.raises(
        ValueError,
        match=r"rate_bernoulli encoder: input values span \[-0\.5, 2\], outside \[0, 1\].*normalization=none",
    ):
        enc(torch.tensor([[0.2, -0.5, 2.0]]))
    assert enc(torch.tensor([[0.0, 1.0]])).spikes.shape == (1, 25, 2)


@pytest.mark.parametrize("kind", ["rate_bernoulli", "latency", "population", "direct"])
@pytest.mark.parametrize("mode, accepted", [("clamp", "[-1, 2]"), ("sigmoid", "[-10, 10]")])
def test_pixels_0_to_255_are_refused_not_saturated(kind, mode, accepted):
    """0-255 images clipped or squashed to [0, 1] would be (almost) all-ones spike trains."""
    enc = build_encoder(EncodingConfig(type=kind, num_steps=4, normalization=mode))
    with pytest.raises(
        ValueError,
        match=rf"{kind} encoder: input values span \[0, 255\], outside {re.escape(accepted)}.*normalization=minmax",
    ):
        enc(torch.tensor([[0.0, 128.0, 255.0]]))
    assert enc(torch.tensor([[-0.5, 0.5, 1.5]])).spikes.shape[:2] == (1, 4)  # small excursions: clipped / squashed


# ---------------------------------------------------------------------------- rate encoders


def test_rate_bernoulli_round_trip_through_rate_decoder():
    steps, x = 2000, torch.linspace(0.0, 1.0, 11).view(1, -1).repeat(4, 1)
    sb = build_encoder(EncodingConfig(num_steps=steps, normalization="none", seed=3))(x)
    counts = build_decoder(DecodingConfig(type="rate"), 11)(sb.spikes).aux["count_histogram"]
    bound = 4 * torch.sqrt(x * (1 - x) / steps) + 1e-6  # 4 standard deviations of the sample mean
    assert bool(((counts / steps - x).abs() <= bound).all())


def test_rate_poisson_fires_with_probability_one_minus_exp_minus_p():
    steps, x = 4000, torch.tensor([[0.0, 0.25, 0.5, 1.0]])
    sb = build_encoder(EncodingConfig(type="rate_poisson", num_steps=steps, normalization="none", seed=1))(x)
    p = 1 - np.exp(-x.numpy()[0])
    np.testing.assert_allclose(sb.aux["rates"].numpy()[0], p, rtol=1e-6)
    np.testing.assert_allclose(sb.spikes.mean(1).numpy()[0], p, atol=4 * np.sqrt(0.25 / steps))


def test_rate_deterministic_matches_floor_schedule_and_gain_bias():
    x = torch.tensor([[0.0, 0.3, 0.5, 0.8]])
    cfg = EncodingConfig(type="rate_deterministic", num_steps=10, normalization="none", rate_gain=1.5, rate_bias=-0.1)
    sb = build_encoder(cfg)(x)
    p = np.clip(1.5 * x.numpy()[0] - 0.1, 0, 1)  # [0, 0.35, 0.65, 1]
    t = np.arange(10)[:, None]
    ref = np.floor((t + 1) * p + 1e-6) - np.floor(t * p + 1e-6)
    np.testing.assert_array_equal(sb.spikes[0].numpy(), ref)
    np.testing.assert_array_equal(sb.spikes[0].sum(0).numpy(), np.floor(10 * p + 1e-6))


def test_same_seed_same_spikes_and_explicit_generator():
    x = torch.rand(3, 8)
    a = build_encoder(EncodingConfig(seed=5))
    b = build_encoder(EncodingConfig(seed=5))
    first_a, first_b = a(x).spikes, b(x).spikes
    assert torch.equal(first_a, first_b)
    assert torch.equal(a(x).spikes, b(x).spikes)  # generators advance in step
    assert not torch.equal(build_encoder(EncodingConfig(seed=6))(x).spikes, first_a)
    g1, g2 = torch.Generator().manual_seed(9), torch.Generator().manual_seed(9)
    free = build_encoder(EncodingConfig())
    assert torch.equal(free(x, generator=g1).spikes, free(x, generator=g2).spikes)


@pytest.mark.parametrize("name", ["rate_bernoulli", "rate_poisson", "population"])
def test_deterministic_eval_gives_identical_regular_spikes(name):
    x = torch.rand(3, 6)
    enc = build_encoder(EncodingConfig(type=name, num_steps=20))
    enc.eval()
    first = enc(x)
    assert torch.equal(first.spikes, enc(x).spikes)
    assert torch.equal(first.spikes, regular_spikes(first.aux["rates"], 20).float())
    enc.train()
    assert not torch.equal(enc(x).spikes, enc(x).spikes)  # sampling in training mode


def test_rate_spikes_pass_a_straight_through_gradient_to_the_input():
    x = torch.rand(2, 5, requires_grad=True)
    spikes = build_encoder(EncodingConfig(num_steps=4, normalization="none", rate_gain=0.5))(x).spikes
    spikes.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), np.full((2, 5), 4 * 0.5))  # d sum / d p = T, d p / d x = gain


# ---------------------------------------------------------------------------- latency / ttfs


@pytest.mark.parametrize(
    "mapping, ref",
    [
        ("linear", lambda x: 10 - 10 * x),
        ("exponential", lambda x: 0 + 3.0 * np.log(1 / x)),
        ("log", lambda x: 10 - 10 * np.log1p((np.e - 1) * x)),
    ],
)
def test_latency_mappings_match_numpy(mapping, ref):
    x = torch.tensor([[1.0, 0.7, 0.45, 0.2, 0.06]])
    cfg = EncodingConfig(type="latency", num_steps=11, normalization="none", latency_mapping=mapping, latency_tau=3.0)
    sb = build_encoder(cfg)(x)
    t = ref(x.numpy()[0].astype(np.float64))
    expected = np.where(t <= 10.5, np.round(np.minimum(t, 10)), -1)
    np.testing.assert_array_equal(sb.aux["spike_times"].numpy()[0], expected)
    for n, tn in enumerate(expected):
        train = sb.spikes[0, :, n].numpy()
        assert train.sum() == (tn >= 0) and (tn < 0 or train[int(tn)] == 1)


def test_latency_zero_input_no_spike_or_t_max_and_burst():
    x = torch.tensor([[0.0, 1.0, 0.5]])
    cfg = dict(type="latency", num_steps=10, normalization="none", latency_mapping="linear", t_min=1, t_max=8)
    none = build_encoder(EncodingConfig(**cfg))(x)
    assert none.aux["spike_times"].tolist() == [[-1, 1, 4]]  # 8 - 0.5 * 7 = 4.5 -> round half to even = 4
    late = build_encoder(EncodingConfig(**cfg, allow_no_spike=False))(x)
    assert late.aux["spike_times"].tolist() == [[8, 1, 4]]
    burst = build_encoder(EncodingConfig(**cfg, latency_burst=3))(x).spikes[0]
    assert burst[:, 0].sum() == 0 and burst[1:4, 1].tolist() == [1, 1, 1] and burst[:, 1].sum() == 3
    assert burst[4:7, 2].sum() == 3 and burst[:, 2].sum() == 3


def test_latency_jitter_only_in_training_and_stays_in_window():
    x = torch.rand(64, 16) * 0.9 + 0.1
    cfg = EncodingConfig(
        type="latency", num_steps=20, normalization="none", latency_mapping="linear", jitter=2.0, seed=0
    )
    clean = build_encoder(EncodingConfig(type="latency", num_steps=20, normalization="none", latency_mapping="linear"))(
        x
    )
    enc = build_encoder(cfg)
    jittered = enc(x).aux["spike_times"]
    assert not torch.equal(jittered, clean.aux["spike_times"])
    assert int(jittered.min()) >= 0 and int(jittered.max()) <= 19
    enc.eval()
    assert torch.equal(enc(x).aux["spike_times"], clean.aux["spike_times"])


def test_ttfs_exactly_one_spike_or_none():
    x = torch.rand(8, 30)
    x[:, :3] = 0.0
    sb = build_encoder(EncodingConfig(type="ttfs", num_steps=15, normalization="clamp"))(x)
    counts = sb.spikes.sum(1)
    times = sb.aux["spike_times"]
    assert bool(((counts == 1) == (times >= 0)).all()) and bool((counts <= 1).all())
    assert bool((times[:, :3] == -1).all())
    first = sb.spikes.argmax(1)
    assert torch.equal(first[times >= 0], times[times >= 0])


def test_ttfs_encode_first_spike_decode_recovers_ordering_exactly():
    steps, n = 30, 10
    torch.manual_seed(1)
    for _ in range(5):
        # distinct intensities on distinct steps: x_k = 1 - t_k / (T - 1) with distinct t_k
        t = torch.randperm(steps - 1)[:n].float()
        x = (1 - t / (steps - 1)).view(1, -1)
        sb = build_encoder(
            EncodingConfig(type="ttfs", num_steps=steps, normalization="none", latency_mapping="linear")
        )(x)
        out = build_decoder(DecodingConfig(type="first_spike"), n)(sb.spikes)
        assert out.prediction.item() == int(x.argmax())
        assert torch.equal(out.logits_proxy.argsort(descending=True), x.argsort(descending=True))


# ---------------------------------------------------------------------------- population


def test_population_activation_layout_and_map():
    x = torch.tensor([[0.0, 0.5, 1.0]])
    cfg = EncodingConfig(type="population", num_steps=5, normalization="none", population_size=3, population_sigma=0.25)
    sb = build_encoder(cfg)(x)
    c = np.array([0.0, 0.5, 1.0])
    ref = np.exp(-((x.numpy()[0][:, None] - c[None, :]) ** 2) / (2 * 0.25**2)).reshape(-1)  # unit f * P + k
    np.testing.assert_allclose(sb.aux["rates"].numpy()[0], ref, rtol=1e-6)
    pmap = sb.aux["population_map"]
    assert pmap["feature_index"].tolist() == [0, 0, 0, 1, 1, 1, 2, 2, 2]
    assert pmap["center_index"].tolist() == [0, 1, 2] * 3 and pmap["centers"].tolist() == [0.0, 0.5, 1.0]


def test_population_silent_zero_rates_and_centres():
    """population_silent_zero: centres k / P, rates max(a(x) - a(0), 0) / (1 - a(0)) (numpy), none at x = 0."""
    x = torch.tensor([[0.0, 0.2, 0.5, 1.0]])
    cfg = EncodingConfig(
        type="population",
        num_steps=5,
        normalization="none",
        population_size=4,
        population_sigma=0.2,
        population_silent_zero=True,
    )
    sb = build_encoder(cfg)(x)
    c = np.array([0.25, 0.5, 0.75, 1.0])
    gauss = lambda v: np.exp(-((v - c[None, :]) ** 2) / (2 * 0.2**2))  # noqa: E731
    ref = np.maximum(gauss(x.numpy()[0][:, None]) - gauss(0.0), 0) / (1 - gauss(0.0))
    np.testing.assert_allclose(sb.aux["rates"].numpy()[0], ref.reshape(-1), rtol=1e-5, atol=1e-7)
    assert sb.aux["population_map"]["centers"].tolist() == c.tolist()
    assert not sb.spikes[:, :, :4].any() and sb.spikes[:, :, 4:].any()  # feature 0 (x = 0) is silent
    learned = build_encoder(dataclasses.replace(cfg, centers="learned"))
    with torch.no_grad():
        learned.centers[0] = 0.0  # a learned centre reaching 0 stays silent, not NaN
    rates = learned(x).aux["rates"]
    assert torch.isfinite(rates).all() and not rates[0, ::4].any()


def test_population_on_images_expands_channels_and_uniform_centers_are_seeded():
    cfg = EncodingConfig(type="population", num_steps=3, population_size=4, centers="uniform", seed=2)
    enc = build_encoder(cfg)
    assert enc(torch.rand(2, 3, 5, 5)).spikes.shape == (2, 3, 12, 5, 5) and enc.output_shape((3, 5, 5)) == (12, 5, 5)
    c = enc.centers
    assert torch.equal(c, c.sort().values) and torch.equal(c, build_encoder(cfg).centers)


def test_population_learned_centers_receive_gradient():
    enc = build_encoder(EncodingConfig(type="population", num_steps=8, population_size=5, centers="learned"))
    spikes = enc(torch.rand(4, 3)).spikes
    (spikes * torch.randn_like(spikes)).sum().backward()
    assert enc.centers.grad is not None and bool(enc.centers.grad.abs().sum() > 0)


@pytest.mark.parametrize("train", [False, True], ids=["deterministic", "sampled"])
def test_population_encode_regression_decode_recovers_values(train):
    """Tolerance 0.05: the truncated tuning curves bias values within ~1.5 sigma of 0 and 1 by < 0.045."""
    x = torch.linspace(0.0, 1.0, 51).view(-1, 1).repeat(1, 3)
    enc = build_encoder(
        EncodingConfig(
            type="population", num_steps=200, normalization="none", population_size=8, population_sigma=0.1, seed=0
        )
    ).train(train)
    out = build_decoder(DecodingConfig(type="population", population_mode="regression", population_size=8), 3)(
        enc(x).spikes
    )
    assert float((out.estimate - x).abs().max()) < 0.05
    assert float((out.estimate - x)[10:41].abs().max()) < 0.02  # interior


# ---------------------------------------------------------------------------- delta, identity


def _delta_reference(x: np.ndarray, thr: float):
    """Send-on-delta on (T, N): reference = x_0, jumps to x_t on a spike."""
    ref = x[0].copy()
    on, off = np.zeros_like(x), np.zeros_like(x)
    for t in range(x.shape[0]):
        d = x[t] - ref
        on[t], off[t] = d > thr, d < -thr
        ref = np.where((d > thr) | (d < -thr), x[t], ref)
    return on, off, ref


def test_delta_matches_numpy_and_streams_with_explicit_state():
    torch.manual_seed(0)
    x = torch.cumsum(torch.randn(2, 12, 4) * 0.2, dim=1)
    enc = build_encoder(EncodingConfig(type="delta", normalization="none", delta_threshold=0.15))
    sb = enc(x)
    for b in range(2):
        on, off, ref = _delta_reference(x[b].numpy().astype(np.float32), 0.15)
        np.testing.assert_array_equal(sb.spikes[b, :, :4].numpy(), on)
        np.testing.assert_array_equal(sb.spikes[b, :, 4:].numpy(), off)
        np.testing.assert_allclose(sb.aux["state"][b].numpy(), ref)
    first = enc(x[:, :5])
    second = enc(x[:, 5:], state=first.aux["state"])
    assert torch.equal(torch.cat([first.spikes, second.spikes], dim=1), sb.spikes)
    with pytest.raises(ValueError, match="state.shape"):
        enc(x, state=torch.zeros(2, 5))


def test_delta_on_image_sequences_doubles_channels():
    enc = build_encoder(EncodingConfig(type="delta"))
    assert enc(torch.rand(2, 4, 1, 3, 3)).spikes.shape == (2, 4, 2, 3, 3) and enc.output_shape((1, 3, 3)) == (2, 3, 3)


def test_identity_needs_a_time_axis():
    with pytest.raises(ValueError, match="allowed ranks"):
        build_encoder(EncodingConfig(type="identity"))(torch.rand(2, 5))


# ---------------------------------------------------------------------------- AMP


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_sampling_is_fp32_under_autocast(dtype):
    x = torch.rand(4, 10)
    ref = build_encoder(EncodingConfig(seed=4))(x).spikes
    with torch.autocast("cpu", dtype=dtype):
        got = build_encoder(EncodingConfig(seed=4))(x).spikes
        low = build_encoder(EncodingConfig(seed=4))(x.to(dtype)).spikes
    assert torch.equal(got, ref)
    assert low.dtype == dtype and float((low.float() - ref).abs().mean()) < 0.02
    assert not math.isnan(float(low.float().sum()))


def test_seeded_encoder_pickles_with_its_generator_state():
    import pickle

    x = torch.rand(2, 5)
    enc = build_encoder(EncodingConfig(seed=7))
    enc(x)
    clone = pickle.loads(pickle.dumps(enc))
    assert torch.equal(clone(x).spikes, enc(x).spikes)
