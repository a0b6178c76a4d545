"""Online learning rules (snn.learning_rule = ottt | sltt, brain_ai.core.learning_rules): BPTT's
gradient at T = 1, training memory that does not grow with T, the per-step loss forms, sltt's
random steps and ottt's presynaptic traces."""

from __future__ import annotations

import dataclasses
from typing import Dict, List

import numpy as np
import pytest
import torch
from framework_helpers import compose_config
from torch import nn

from brain_ai.app import pipeline
from brain_ai.config import DecodingConfig, LearningRule, LossConfig, NeuronConfig
from brain_ai.core.decoding import build_decoder
from brain_ai.core.learning_rules import OnlineLearner, StepObjective, traced_current, traced_recurrence
from brain_ai.core.losses import LossInputs, build_loss
from brain_ai.core.neurons import RecurrentAdaptiveLIFNeuron

#: training_step is called here without a Trainer: its self.log calls warn and do nothing
pytestmark = pytest.mark.filterwarnings("ignore:You are trying to `self.log\\(\\)`")

SMALL = [
    "data=digits",
    "data.limit_train=32",
    "data.batch_size=8",
    "snn.hidden_sizes=[12]",
    "trainer.max_epochs=1",
    "logger=csv",
    "data.augment_shift=0",
]
#: the default loss (probspikes + rate / ISI regularisers) with the membrane term; a recurrent adaptive
#: network with a learnable per-neuron membrane and a membrane readout (the smnist_row recipe)
SETUPS = {
    "lif_probspikes": ["loss.w_temporal=0", "loss.w_membrane=0.1"],
    "recurrent_adaptive_membrane": [
        "snn.neuron.type=recurrent_adaptive_lif",
        "snn.neuron.learnable_beta=true",
        "snn.neuron.per_neuron_beta=true",
        "snn.readout=membrane",
        "decoding=membrane",
        "decoding.membrane_reduce=mean",
        "loss=cross_entropy",
    ],
}


def build(*overrides: str):
    torch.manual_seed(0)
    model, dm = pipeline.build_model(compose_config([*SMALL, *overrides]))
    dm.setup("fit")
    return model, dm


def step_gradients(model, batch, rule: LearningRule) -> Dict[str, torch.Tensor]:
    """Parameter gradients of one training step under ``rule`` (the same encoder draws every time)."""
    model.snn_cfg = dataclasses.replace(model.snn_cfg, learning_rule=rule)
    model.seed_stream.manual_seed(model.stream_seed)
    model.zero_grad()
    model.training_step(batch, 0).backward()
    return {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}


@pytest.mark.parametrize("setup", sorted(SETUPS))
@pytest.mark.parametrize("rule", [LearningRule.ottt, LearningRule.sltt])
def test_one_step_gives_bptt_gradient(setup, rule):
    """At T = 1 there is no temporal path to drop and the per-step loss is the loss: BPTT's gradient."""
    model, dm = build("encoding.num_steps=1", *SETUPS[setup])
    batch = next(iter(dm.train_dataloader()))
    bptt = step_gradients(model, batch, LearningRule.bptt)
    online = step_gradients(model, batch, rule)
    assert bptt.keys() == online.keys() and len(bptt) >= 4
    for name in bptt:
        torch.testing.assert_close(online[name], bptt[name], rtol=0, atol=1e-7, msg=name)


@pytest.mark.parametrize("rule", [LearningRule.ottt, LearningRule.sltt])
def test_longer_sequences_differ_from_bptt(rule):
    """At T > 1 the online rules are approximations: a gradient that equals BPTT's would mean the rule did nothing."""
    model, dm = build("encoding.num_steps=6", *SETUPS["lif_probspikes"])
    batch = next(iter(dm.train_dataloader()))
    bptt = step_gradients(model, batch, LearningRule.bptt)
    online = step_gradients(model, batch, rule)
    assert not torch.allclose(online["net.linears.0.weight"], bptt["net.linears.0.weight"])


class SavedTensorBytes:
    """Peak bytes of the tensors autograd holds for backward (a tracked counter, not RSS or time):
    every saved tensor is counted from when it is saved until its graph frees it."""

    def __init__(self) -> None:
        self.live = self.peak = 0

    def pack(self, t: torch.Tensor) -> "_Held":
        return _Held(self, t)

    def context(self):
        return torch.autograd.graph.saved_tensors_hooks(self.pack, lambda held: held.tensor)


class _Held:
    def __init__(self, counter: SavedTensorBytes, tensor: torch.Tensor) -> None:
        self.counter, self.tensor, self.bytes = counter, tensor, tensor.numel() * tensor.element_size()
        counter.live += self.bytes
        counter.peak = max(counter.peak, counter.live)

    def __del__(self) -> None:
        self.counter.live -= self.bytes


def training_step_peak(rule: str, steps: int, window: int = 8) -> int:
    """Peak saved-tensor bytes of one training step (forward, every loss term, backward) at T = ``steps``,
    online windows of ``window`` steps."""
    model, dm = build(f"encoding.num_steps={steps}", f"snn.learning_rule={rule}", f"snn.online_window={window}")
    batch = next(iter(dm.train_dataloader()))
    counter = SavedTensorBytes()
    with counter.context():
        model.training_step(batch, 0).backward()
    return counter.peak


@pytest.mark.parametrize("rule", ["ottt", "sltt"])
def test_training_memory_does_not_grow_with_T(rule):
    """The default loss (probspikes, rate, temporal and ISI regularisers); T = 240 against T = 12,
    same batch, windows of 8 steps: within 10 % (benchmarks/online_memory.py measures T = 2000
    against T = 100). A longer window keeps more: memory grows with the window, not with T."""
    short, long = training_step_peak(rule, 12), training_step_peak(rule, 240)
    assert long <= 1.1 * short, (short, long)
    assert training_step_peak(rule, 240, window=40) > 2 * long


@pytest.mark.parametrize("setup", sorted(SETUPS))
@pytest.mark.parametrize("rule", [LearningRule.ottt, LearningRule.sltt])
def test_the_window_does_not_change_the_gradient(setup, rule):
    """Steps one at a time, in windows of 3 (the last one short) and all 7 at once: the same gradient
    (every loss term, including the temporal and ISI windows across window boundaries)."""
    model, dm = build("encoding.num_steps=7", *SETUPS[setup], "loss.w_temporal=0.5", "loss.temporal_window=2")
    batch = next(iter(dm.train_dataloader()))
    grads = {}
    for window in (1, 3, 7):
        model.snn_cfg = dataclasses.replace(model.snn_cfg, online_window=window)
        grads[window] = step_gradients(model, batch, rule)
    assert len(grads[1]) >= 4
    for window in (3, 7):
        for name in grads[1]:
            torch.testing.assert_close(
                grads[window][name], grads[1][name], rtol=1e-5, atol=1e-7, msg=f"{window} {name}"
            )


def test_sltt_steps_in_windows_give_the_steps_gradient():
    """sltt_steps = K in windows: the same gradient as step by step (the chosen steps learn, the others do not)."""
    model, dm = build("encoding.num_steps=9", "snn.learning_rule=sltt", "snn.sltt_steps=3", *SETUPS["lif_probspikes"])
    batch = next(iter(dm.train_dataloader()))
    grads = {}
    for window in (1, 4):
        model.snn_cfg = dataclasses.replace(model.snn_cfg, online_window=window)
        grads[window] = step_gradients(model, batch, LearningRule.sltt)
    for name in grads[1]:
        torch.testing.assert_close(grads[4][name], grads[1][name], rtol=1e-5, atol=1e-7, msg=name)


def test_bptt_memory_grows_with_T():
    """The counter sees what BPTT keeps (else the test above could not fail)."""
    assert training_step_peak("bptt", 240) > 5 * training_step_peak("bptt", 12)


def test_sltt_steps_draw_from_the_batch_generator_only():
    """sltt_steps = K backpropagates at K steps drawn from the given generator, never the global RNG."""
    model, _ = build()
    learner = lambda seed: OnlineLearner(  # noqa: E731
        LearningRule.sltt,
        list(model.parameters()),
        model.decoder,
        model.criterion,
        torch.zeros(2, dtype=torch.long),
        sltt_steps=3,
        generator=torch.Generator().manual_seed(seed),
    )
    before = torch.get_rng_state()
    chosen: List[List[int]] = []
    for seed in (1, 1, 2):
        one = learner(seed)
        one.begin(20, False)
        chosen.append([t for t in range(20) if one.learns_in(t, t + 1)])
    assert torch.equal(torch.get_rng_state(), before)
    assert all(len(c) == 3 for c in chosen) and chosen[0] == chosen[1] and chosen[0] != chosen[2]


def test_sltt_steps_all_equals_every_step():
    """K = T chooses every step: the same gradient as sltt without K; K < T another one."""
    model, dm = build("encoding.num_steps=5", *SETUPS["lif_probspikes"])
    batch = next(iter(dm.train_dataloader()))
    every = step_gradients(model, batch, LearningRule.sltt)
    model.snn_cfg = dataclasses.replace(model.snn_cfg, sltt_steps=5)
    all_k = step_gradients(model, batch, LearningRule.sltt)
    model.snn_cfg = dataclasses.replace(model.snn_cfg, sltt_steps=2)
    two = step_gradients(model, batch, LearningRule.sltt)
    for name in every:
        torch.testing.assert_close(all_k[name], every[name], msg=name)
    assert not torch.allclose(two["net.linears.0.weight"], every["net.linears.0.weight"])


@pytest.mark.parametrize("layer", [nn.Linear(5, 3), nn.Conv2d(2, 3, 3, padding=1)], ids=["linear", "conv"])
def test_traced_current_value_and_gradients(layer):
    """ottt's layer: the value and input gradient of layer(x), the parameter gradients of layer(trace)."""
    shape = (4, 5) if isinstance(layer, nn.Linear) else (4, 2, 6, 6)
    x, trace = torch.rand(shape, requires_grad=True), torch.rand(shape)
    out = traced_current(layer, x, trace)
    torch.testing.assert_close(out, layer(x))
    g = torch.randn_like(out)
    got = torch.autograd.grad(out, [x, *layer.parameters()], g)
    want_x = torch.autograd.grad(layer(x), x, g)[0]
    want_params = torch.autograd.grad(layer(trace), list(layer.parameters()), g)
    for a, b in zip(got, [want_x, *want_params]):
        torch.testing.assert_close(a, b)


def test_presynaptic_trace_over_segments_matches_a_numpy_loop():
    """OnlineLearner.trace: a_t = mean(decay) a_{t-1} + x_t, carried from one segment to the next."""
    torch.manual_seed(0)
    model, _ = build("encoding.num_steps=2")
    learner = OnlineLearner(LearningRule.ottt, [], model.decoder, model.criterion, torch.zeros(3, dtype=torch.long))
    x, decay = torch.rand(3, 7, 4), torch.tensor([0.5, 0.9])
    got = torch.cat([learner.trace("layer0", x[:, :3], decay), learner.trace("layer0", x[:, 3:], decay)], dim=1)
    want, a = np.zeros((3, 7, 4)), np.zeros((3, 4))
    for t in range(7):
        a = 0.7 * a + x[:, t].numpy()
        want[:, t] = a
    np.testing.assert_allclose(got.numpy(), want, rtol=1e-6)


@pytest.mark.parametrize("backend", ["eager", "compiled"])
def test_traced_recurrence_gives_w_rec_the_trace_of_previous_spikes(backend):
    """ottt's recurrent weight gradient is sum_t g_t^T r_t, r_t = lambda r_{t-1} + s_{t-1} (lambda the mean
    membrane decay), g_t the gradient of the step's input current (a hand-written loop for r)."""
    torch.manual_seed(0)
    cfg = NeuronConfig(
        type="recurrent_adaptive_lif",
        tau=4.0,
        learnable_beta=True,
        per_neuron_beta=True,
        threshold=0.5,
        backend=backend,
    )
    neuron = RecurrentAdaptiveLIFNeuron(5, cfg)
    x = (torch.randn(3, 6, 5) * 1.5).requires_grad_()
    weights = torch.randn(3, 6, 5)
    current, pending = traced_recurrence(x, neuron.w_rec)
    spikes, _, _ = neuron._run_sequence(current, None, None, None, "none", None, check_values=False, spatial=True)
    assert 0.1 < spikes.mean() < 0.9
    lam = float(neuron.beta.mean())
    previous = torch.cat([torch.zeros(3, 1, 5), spikes[:, :-1].detach()], dim=1).numpy()
    trace, r = np.zeros_like(previous), np.zeros(previous[:, 0].shape)
    for t in range(previous.shape[1]):
        r = lam * r + previous[:, t]
        trace[:, t] = r
    pending["gap"] = torch.from_numpy(trace - previous).float()
    g_x, g_w = torch.autograd.grad((weights * spikes).sum(), [x, neuron.w_rec])
    want = np.einsum("btn,btm->nm", g_x.numpy(), trace)  # dW[n, m] = sum g[n] r[m]
    torch.testing.assert_close(g_w, torch.from_numpy(want).float(), rtol=1e-5, atol=1e-6)


def test_step_forms_of_isi_temporal_and_membrane_add_up_to_the_full_terms():
    """The terms with an exact per-step value (ISI, temporal windows, membrane) sum over steps to the full term."""
    torch.manual_seed(0)
    steps = 9
    spikes = {"layer0": (torch.rand(3, steps, 4) < 0.4).float(), "layer1": (torch.rand(3, steps, 2) < 0.5).float()}
    membranes = {"layer0": torch.randn(3, steps, 4) * 2}
    cfg = LossConfig(w_rate_reg=0.0, w_isi=1.0, w_temporal=1.0, w_membrane=1.0, temporal_window=3)
    criterion = build_loss(cfg)
    decoder = build_decoder(DecodingConfig(), 2)
    targets = torch.tensor([0, 1, 1])
    output = spikes["layer1"]
    full = {
        n: term(LossInputs(output, decoder(output), targets, spikes, membranes))[0]
        for n, term in criterion.terms.items()
    }
    for window in (1, 4):
        objective = StepObjective(decoder, criterion, targets, steps)
        summed: Dict[str, torch.Tensor] = {}
        for start in range(0, steps, window):
            part = lambda d: {k: v[:, start : start + window] for k, v in d.items()}  # noqa: E731
            learned, others = objective(
                {"output": output[:, start : start + window], "spikes": part(spikes), "membranes": part(membranes)}
            )
            assert not others
            for name, value in learned.items():
                summed[name] = summed.get(name, 0.0) + value
        for name in ("isi", "temporal", "membrane"):
            torch.testing.assert_close(summed[name], full[name], msg=f"{window} {name}")


@pytest.mark.parametrize("rule", [LearningRule.ottt, LearningRule.sltt])
def test_the_spatial_kernels_give_the_eager_steps_gradient(rule):
    """The recurrent adaptive layer and the membrane readout run their whole-sequence Functions with the
    spatial-only backward (compiled / fused); the same network stepped in PyTorch ops with the state
    detached at every step gives the same gradient."""
    grads, layers = {}, {}
    for backend in ("auto", "eager"):
        model, dm = build(
            "encoding.num_steps=6", *SETUPS["recurrent_adaptive_membrane"], f"snn.neuron.backend={backend}"
        )
        batch = next(iter(dm.train_dataloader()))
        grads[backend] = step_gradients(model, batch, rule)
        layers[backend] = [neuron.backend.name for neuron in model.net.neurons]
    # the membrane readout runs its own fused scan either way (its spatial backward: tests/core/test_fused_recurrent.py)
    assert layers == {"auto": ["compiled", "fused"], "eager": ["eager", "fused"]}
    for name in grads["eager"]:
        torch.testing.assert_close(grads["auto"][name], grads["eager"][name], rtol=1e-5, atol=1e-7, msg=name)
