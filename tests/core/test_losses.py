"""Loss terms and composer: numpy references, T normalisation, gradients through decoders."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from brain_ai.config import DecodingConfig, LossConfig, TaskLoss, TemporalPenalty
from brain_ai.core.decoding import build_decoder
from brain_ai.core.losses import (
    CrossEntropyLoss,
    FirstSpikeLoss,
    ISIRegularization,
    LossInputs,
    MembraneRegularization,
    MSELoss,
    ProbSpikes,
    RateRegularization,
    SNNLossComposer,
    TemporalConsistency,
    build_loss,
    compute_snn_metrics,
)
from brain_ai.core.surrogates import ATan


def _spikes(shape, p=0.3, seed=0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return (torch.rand(shape, generator=g) < p).float()


def _inputs(output, targets, decoder="rate", num_classes=None, **layers) -> LossInputs:
    dec = build_decoder(DecodingConfig(type=decoder), num_classes or output.shape[-1])
    return LossInputs(output=output, decoded=dec(output), targets=targets, **layers)


def _log_softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(-1, keepdims=True)
    return z - np.log(np.exp(z).sum(-1, keepdims=True))


# ---------------------------------------------------------------------------- task terms


def test_probspikes_matches_numpy():
    s, y = _spikes((4, 10, 3)), torch.tensor([0, 2, 1, 1])
    loss, diag = ProbSpikes(temperature=0.5)(_inputs(s, y))
    logp = _log_softmax(s.numpy().mean(1) / 0.5)[np.arange(4), y.numpy()]
    np.testing.assert_allclose(loss.item(), -logp.mean(), rtol=1e-6)
    np.testing.assert_allclose(diag["target_prob"].item(), np.exp(logp).mean(), rtol=1e-6)


def test_probspikes_eps_caps_the_per_sample_loss():
    s = torch.zeros(1, 4, 2)
    s[0, :, 0] = 1.0  # target 1 never fires, target 0 always: logit gap 1 / 1e-3
    loss, _ = ProbSpikes(temperature=1e-3, eps=1e-4)(_inputs(s, torch.tensor([1])))
    np.testing.assert_allclose(loss.item(), -np.log(1e-4), rtol=1e-6)


def test_first_spike_loss_matches_numpy():
    s, y = _spikes((3, 8, 4), p=0.2), torch.tensor([3, 0, 1])
    loss, diag = FirstSpikeLoss(temperature=0.2)(_inputs(s, y, decoder="first_spike"))
    t = np.full((3, 4), 8.0)
    for b, step, n in zip(*np.nonzero(s.numpy())):
        t[b, n] = min(t[b, n], step)
    ref = -_log_softmax(-t / (8 * 0.2))[np.arange(3), y.numpy()].mean()
    np.testing.assert_allclose(loss.item(), ref, rtol=1e-6)
    np.testing.assert_allclose(diag["silent_frac"].item(), (t == 8).mean())


def test_cross_entropy_and_mse_on_decoder_output():
    s, y = _spikes((4, 10, 3)), torch.tensor([0, 2, 1, 1])
    inp = _inputs(s, y)
    loss, diag = CrossEntropyLoss()(inp)
    ref = -_log_softmax(inp.decoded.logits_proxy.numpy())[np.arange(4), y.numpy()].mean()
    np.testing.assert_allclose(loss.item(), ref, rtol=1e-6)
    dec = build_decoder(DecodingConfig(type="population", population_mode="regression", population_size=3), 1)
    out = _spikes((4, 10, 3))
    decoded = dec(out)
    target = torch.rand(4)
    loss, diag = MSELoss()(LossInputs(out, decoded, target))
    np.testing.assert_allclose(loss.item(), ((decoded.estimate[:, 0] - target) ** 2).mean().item(), rtol=1e-6)
    with pytest.raises(ValueError, match="float values shaped like the estimate"):
        MSELoss()(LossInputs(out, decoded, torch.zeros(4, dtype=torch.long)))
    with pytest.raises(ValueError, match=r"class indices \(B,\)"):
        CrossEntropyLoss()(_inputs(s, y.float()))


def test_task_terms_refuse_the_other_tasks_decoder_output():
    s, y = _spikes((4, 10, 3)), torch.tensor([0, 2, 1, 1])
    regression = build_decoder(DecodingConfig(type="population", population_mode="regression", population_size=3), 1)(s)
    with pytest.raises(
        ValueError, match="loss term 'cross_entropy' needs a ClassificationOutput .*got a RegressionOutput"
    ):
        CrossEntropyLoss()(LossInputs(s, regression, y))
    with pytest.raises(ValueError, match="loss term 'mse' needs a RegressionOutput .*got a ClassificationOutput"):
        MSELoss()(LossInputs(s, _inputs(s, y).decoded, torch.rand(4, 3)))


# ---------------------------------------------------------------------------- regularisers


def test_rate_regularization_per_layer_targets_range_and_diagnostics():
    l0 = _spikes((4, 10, 6), p=0.3)
    l0[:, :, 0] = 0.0  # dead
    l0[:, :, 1] = 1.0  # saturated
    l1 = _spikes((4, 10, 2, 3), p=0.05, seed=1)
    term = RateRegularization(target_rate=0.1, rate_targets={"layer1": 0.05}, rate_min=0.02, rate_max=0.8)
    loss, diag = term(
        _inputs(l0[:, :, :3], torch.zeros(4, dtype=torch.long), layer_spikes={"layer0": l0, "layer1": l1})
    )

    def ref(x, target):
        r = x.reshape(4, 10, -1).mean(1)
        rn = r.mean(0)
        return ((r - target) ** 2).mean() + (np.maximum(0.02 - rn, 0) ** 2 + np.maximum(rn - 0.8, 0) ** 2).mean()

    np.testing.assert_allclose(loss.item(), (ref(l0.numpy(), 0.1) + ref(l1.numpy(), 0.05)) / 2, rtol=1e-6)
    assert diag["layer0/dead_frac"].item() == pytest.approx(1 / 6) and diag[
        "layer0/saturated_frac"
    ].item() == pytest.approx(1 / 6)
    with pytest.raises(ValueError, match=r"unknown layer\(s\) \['layer7'\]"):
        RateRegularization(rate_targets={"layer7": 0.1})(
            _inputs(l0, torch.zeros(4, dtype=torch.long), layer_spikes={"layer0": l0})
        )
    with pytest.raises(ValueError, match="needs LossInputs.layer_spikes"):
        RateRegularization()(_inputs(l0, torch.zeros(4, dtype=torch.long)))


@pytest.mark.parametrize("penalty, window", [("l1", 1), ("l2", 3), ("variance", 4)])
def test_temporal_consistency_matches_numpy(penalty, window):
    s = _spikes((3, 12, 5))
    loss, _ = TemporalConsistency(window, TemporalPenalty[penalty])(_inputs(s, None, layer_spikes={"layer0": s}))
    q = s.numpy().mean(-1)  # (B, T)
    if penalty == "variance":
        ref = np.mean([q[:, t : t + window].var(-1) for t in range(12 - window + 1)])
    else:
        d = np.stack([q[:, t] - q[:, t - window : t].mean(-1) for t in range(window, 12)], 1)
        ref = np.abs(d).mean() if penalty == "l1" else (d**2).mean()
    np.testing.assert_allclose(loss.item(), ref, rtol=1e-5)
    with pytest.raises(ValueError, match="temporal_window"):
        TemporalConsistency(20, TemporalPenalty[penalty])(_inputs(s, None, layer_spikes={"layer0": s}))


@pytest.mark.parametrize("window, tau, steps", [(1, 1.0, 15), (3, 1.0, 15), (5, 2.5, 15), (4, 1.0, 3)])
def test_isi_equals_naive_loop_value_and_gradient(window, tau, steps):
    """Penalty and its gradient to the spikes against loops over neurons, steps and distances
    (window > T - 1 included: distances beyond the sequence contribute nothing)."""
    s = _spikes((2, steps, 2, 3), p=0.4).requires_grad_()
    loss, _ = ISIRegularization(window, tau)(_inputs(s[:, :, 0].detach(), None, layer_spikes={"layer0": s}))
    loss.backward()
    x = s.detach().numpy().reshape(2, steps, 6).astype(np.float64)
    total, grad = 0.0, np.zeros_like(x)
    for b in range(2):
        for n in range(6):
            for t in range(steps):
                for d in range(1, window + 1):
                    if t - d >= 0:
                        total += x[b, t, n] * np.exp(-d / tau) * x[b, t - d, n]
                        grad[b, t, n] += np.exp(-d / tau) * x[b, t - d, n]
                        grad[b, t - d, n] += np.exp(-d / tau) * x[b, t, n]
    np.testing.assert_allclose(loss.item(), total / x.size, rtol=1e-5)
    np.testing.assert_allclose(s.grad.numpy().reshape(grad.shape), grad / x.size, rtol=1e-5, atol=1e-9)


def test_membrane_regularization_matches_numpy():
    v = torch.randn(3, 6, 4) * 2
    loss, diag = MembraneRegularization(max_membrane=1.5)(
        _inputs(_spikes((3, 6, 4)), None, layer_membranes={"layer0": v})
    )
    excess = np.maximum(np.abs(v.numpy()) - 1.5, 0)
    np.testing.assert_allclose(loss.item(), (excess**2).mean(), rtol=1e-5)
    np.testing.assert_allclose(diag["layer0/excess_frac"].item(), (excess > 0).mean())


# ---------------------------------------------------------------------------- composer


def test_composer_info_structure_and_weighted_total():
    s = _spikes((4, 10, 3))
    layers = {"layer0": _spikes((4, 10, 8), seed=1), "layer1": s}
    composer = build_loss(LossConfig(w_membrane=0.5))
    assert composer.needs_layer_spikes and composer.needs_membrane
    total, info = composer(
        _inputs(
            s, torch.tensor([0, 1, 2, 0]), layer_spikes=layers, layer_membranes={"layer0": torch.randn(4, 10, 8) * 3}
        )
    )
    assert set(info) == {"total", "components", "diagnostics", "weights"}
    assert list(info["components"]) == ["probspikes", "rate_reg", "temporal", "isi", "membrane"]
    assert info["weights"] == {"probspikes": 1.0, "rate_reg": 0.1, "temporal": 0.01, "isi": 0.01, "membrane": 0.5}
    logged = [
        info["total"],
        *info["components"].values(),
        *(v for d in info["diagnostics"].values() for v in d.values()),
    ]
    assert all(
        v.dim() == 0 and v.dtype == torch.float32 and not v.requires_grad for v in logged
    )  # tensors: no host sync
    assert info["total"].item() == pytest.approx(total.item())
    assert total.item() == pytest.approx(
        sum(info["weights"][k] * v.item() for k, v in info["components"].items()), rel=1e-6
    )
    assert "layer1/dead_frac" in info["diagnostics"]["rate_reg"]


def test_build_loss_builds_the_task_term_and_only_weighted_regularisers():
    cfg = LossConfig(
        task_loss="first_spike", w_first_spike=2.0, w_rate_reg=0.0, w_temporal=0.0, w_isi=0.3, w_membrane=0.0
    )
    composer = build_loss(cfg)
    assert composer.weights == {"first_spike": 2.0, "isi": 0.3} and not composer.needs_membrane
    with pytest.raises(ValueError, match="unique names"):
        SNNLossComposer([(ProbSpikes(), 1.0), (ProbSpikes(), 1.0)])


def test_losses_are_normalised_by_T():
    """Same spike statistics at T=25 and T=100 (each step repeated 4 times) give the same loss."""
    pattern = torch.tensor([0.0, 0.0, 0.0, 1.0, 1.0])  # periodic, silent for the first ISI window
    short = _spikes((4, 25, 3))
    layer_short = pattern.view(1, 5, 1).repeat(4, 5, 6)  # (4, 25, 6)
    layer_long = layer_short.repeat(1, 4, 1)  # (4, 100, 6): same periodic train, 4x longer
    y = torch.tensor([0, 1, 2, 0])
    for task, decoder in [("probspikes", "rate"), ("first_spike", "first_spike"), ("cross_entropy", "rate")]:
        cfg = LossConfig(task_loss=task, w_temporal=0.0, w_membrane=0.0)
        a, _ = build_loss(cfg)(_inputs(short, y, decoder, layer_spikes={"layer0": layer_short}))
        b, _ = build_loss(cfg)(_inputs(short.repeat_interleave(4, 1), y, decoder, layer_spikes={"layer0": layer_long}))
        torch.testing.assert_close(a, b, msg=f"task={task}")
    temporal = TemporalConsistency(5, TemporalPenalty.variance)
    a, _ = temporal(_inputs(short, y, layer_spikes={"layer0": layer_short}))
    b, _ = temporal(_inputs(short, y, layer_spikes={"layer0": layer_long}))
    torch.testing.assert_close(a, b)


# ---------------------------------------------------------------------------- gradients


@pytest.mark.parametrize(
    "task, decoder",
    [
        ("probspikes", "rate"),
        ("first_spike", "first_spike"),
        ("cross_entropy", "rate"),
        ("cross_entropy", "first_spike"),
        ("cross_entropy", "population"),
        ("cross_entropy", "ensemble"),
        ("mse", "population"),
    ],
)
def test_gradients_flow_from_every_loss_through_the_decoder_to_the_spikes(task, decoder):
    torch.manual_seed(0)
    dec_cfg = DecodingConfig(
        type=decoder, population_size=2, population_mode="regression" if task == "mse" else "classification"
    )
    dec = build_decoder(dec_cfg, 3)
    v = (torch.randn(4, 12, dec.output_size) * 0.5 + 0.5).requires_grad_(True)  # membrane - threshold
    hidden_v = (torch.randn(4, 12, 5) * 0.5 + 0.5).requires_grad_(True)
    spikes, hidden = ATan()(v), ATan()(hidden_v)  # 0/1 forward, surrogate backward
    targets = torch.rand(4, 3) if task == "mse" else torch.tensor([0, 1, 2, 1])
    composer = build_loss(LossConfig(task_loss=task, w_membrane=0.1, max_membrane=0.2))
    total, info = composer(
        LossInputs(spikes, dec(spikes), targets, {"layer0": hidden, "layer1": spikes}, {"layer0": hidden_v})
    )
    total.backward()
    assert torch.isfinite(total) and bool(v.grad.abs().sum() > 0) and bool(hidden_v.grad.abs().sum() > 0)
    for name, term in composer.terms.items():  # every term on its own reaches some spike tensor
        v.grad, hidden_v.grad = None, None
        spikes, hidden = ATan()(v), ATan()(hidden_v)
        loss, _ = term(
            LossInputs(spikes, dec(spikes), targets, {"layer0": hidden, "layer1": spikes}, {"layer0": hidden_v})
        )
        loss.backward()
        grads = [g for g in (v.grad, hidden_v.grad) if g is not None]
        assert grads and sum(float(g.abs().sum()) for g in grads) > 0, name


def test_compute_snn_metrics():
    s, y = _spikes((4, 10, 3)), torch.tensor([0, 2, 1, 1])
    inp = _inputs(s, y)
    layer = torch.zeros(4, 10, 2)
    layer[:, :5, 0] = 1
    m = compute_snn_metrics(inp.decoded, y, {"layer0": layer})
    assert m["accuracy"] == pytest.approx((inp.decoded.prediction == y).float().mean().item())
    assert m["layer0/firing_rate"] == pytest.approx(0.25) and m["layer0/dead_frac"] == pytest.approx(0.5)
    dec = build_decoder(DecodingConfig(type="population", population_mode="regression", population_size=3), 1)
    decoded, target = dec(s), torch.full((4,), 0.5)
    reg = compute_snn_metrics(decoded, target)
    assert set(reg) == {"confidence", "mae", "mse"}
    error = decoded.estimate[:, 0].numpy() - 0.5
    assert reg["mae"] == pytest.approx(np.abs(error).mean()) and reg["mse"] == pytest.approx((error**2).mean())


def test_compute_snn_metrics_dispatches_on_the_output_type_not_the_dtype():
    """A regression estimate that happens to be integer-valued is still scored as a regression."""
    s = _spikes((4, 10, 3))
    decoded = build_decoder(DecodingConfig(type="population", population_mode="regression", population_size=3), 1)(s)
    whole = dataclasses.replace(decoded, estimate=decoded.estimate.round().long())
    assert set(compute_snn_metrics(whole, torch.zeros(4))) == {"confidence", "mae", "mse"}
    decoded = _inputs(s, torch.tensor([0, 2, 1, 1])).decoded
    classes = dataclasses.replace(
        decoded, prediction=decoded.prediction.float()
    )  # float class indices: still classification
    assert set(compute_snn_metrics(classes, torch.tensor([0, 2, 1, 1]))) == {"confidence", "accuracy"}


def test_task_loss_enum_covers_every_task_term():
    from brain_ai.core.losses import TASK_TERMS

    assert set(TASK_TERMS) == set(TaskLoss)
