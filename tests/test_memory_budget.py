"""Issue 25 item 3: ``snn.memory_budget_mb`` fits the real training step (SNN with the loss terms'
summaries, decoder, every loss term, backward, optimiser step) and leaves the global RNG alone."""

from __future__ import annotations

import dataclasses

import torch
from framework_helpers import TINY, compose_config

from brain_ai.app import pipeline
from brain_ai.config import DecodingConfig, EncodingConfig, LossConfig, OptimConfig, SNNConfig, to_dict
from brain_ai.core import memory
from brain_ai.core.memory import checkpoint_every_for_budget, fit_network_peak, peak_bytes
from brain_ai.training.module import SNNLitModule, training_step_factory

#: short probes (T, checkpoint_every) so that the fit stays fast; extrapolated to T = STEPS
PROBES = ((40, None), (120, None), *((steps, k) for steps in (60, 120) for k in (5, 10, 20, 40)))
STEPS, BATCH = 240, 16
CFG = SNNConfig(input_size=20, hidden_sizes=[64], output_size=3)


def make_module(snn: SNNConfig) -> SNNLitModule:
    """The default loss (rate / temporal / ISI regularisers) with the membrane term, rate decoder."""
    return SNNLitModule(
        to_dict(snn),
        to_dict(EncodingConfig(type="direct")),
        to_dict(DecodingConfig()),
        to_dict(LossConfig(w_membrane=0.1)),
        to_dict(OptimConfig()),
        num_outputs=3,
        value_sequence=True,
    )


def test_budget_peak_holds_on_the_measured_training_step():
    factory = training_step_factory(make_module)
    model = fit_network_peak(CFG, BATCH, PROBES, make_step=factory)
    smallest = min(model.predict(STEPS, k) for k in range(1, STEPS + 1))
    budget = int(1.25 * smallest)
    every = checkpoint_every_for_budget(model, STEPS, budget)
    assert every is not None and 1 < every < STEPS
    torch.manual_seed(0)
    measured = peak_bytes(factory(dataclasses.replace(CFG, checkpoint_every=every), BATCH, STEPS))
    predicted = model.predict(STEPS, every)
    assert abs(measured - predicted) <= 0.2 * predicted, (measured, predicted, every)
    assert measured <= 1.2 * budget, (measured, budget, every)


def test_budget_search_leaves_the_global_rng_alone():
    torch.manual_seed(5)
    before = torch.get_rng_state()
    fit_network_peak(
        CFG,
        4,
        ((8, None), (16, None), (12, 2), (12, 4), (16, 2), (16, 4)),
        make_step=training_step_factory(make_module),
    )
    assert torch.equal(torch.get_rng_state(), before)


def _initial_weights(seed: int, *overrides: str):
    torch.manual_seed(seed)  # what train() does (L.seed_everything) before build_model
    model, _ = pipeline.build_model(compose_config([*TINY, "encoding.num_steps=40", *overrides]))
    return model.net.state_dict()


def test_seeds_give_their_own_initial_weights_with_a_budget(monkeypatch):
    """The budget search inside build_model (its probes shortened here) draws nothing from the run's RNG."""
    searches = []

    def short_search(cfg, batch_size, probes=(), make_step=memory.network_step):
        searches.append(cfg)
        return fit_network_peak(cfg, batch_size, ((8, None), (16, None), (12, 2), (12, 4), (16, 2), (16, 4)), make_step)

    monkeypatch.setattr(memory, "fit_network_peak", short_search)
    one, two = (_initial_weights(seed, "snn.memory_budget_mb=100") for seed in (1, 2))
    assert len(searches) == 2
    assert any(not torch.equal(one[k], two[k]) for k in one)
    assert all(torch.equal(one[k], v) for k, v in _initial_weights(1).items())  # as without a budget
