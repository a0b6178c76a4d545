"""Time codes (encoding=latency / ttfs) and the synaptic current they get by default
(:func:`brain_ai.core.snn.with_synaptic_default`), and the recipe of ``python train.py encoding=ttfs
loss=rate_classification`` (docs/codecs-losses.md#time-codes)."""

from __future__ import annotations

import pytest
from framework_helpers import TINY, compose_config

from brain_ai.app import pipeline
from brain_ai.config import EncodingConfig, SNNConfig
from brain_ai.core.encoding import ENCODERS
from brain_ai.core.snn import with_synaptic_default


def test_only_latency_and_ttfs_are_time_codes():
    assert sorted(t.name for t, cls in ENCODERS.items() if cls.time_coded) == ["latency", "ttfs"]


@pytest.mark.parametrize(
    "snn, encoder, synaptic",
    [
        ({}, "ttfs", True),  # unset: on for a time code
        ({}, "latency", True),
        ({}, "rate_bernoulli", False),  # unset: off for every other encoder
        ({}, "direct", False),
        ({"neuron": {"synaptic": False}}, "ttfs", False),  # explicit values are kept
        ({"neuron": {"synaptic": True}}, "rate_bernoulli", True),
        ({"neuron": {"type": "psn"}}, "ttfs", False),  # the PSN family has no synaptic current
        ({"neuron": {"backend": "fused"}}, "ttfs", False),  # nor do the kernels a user picks explicitly
        ({"neuron": {"backend": "eager"}}, "ttfs", True),
        ({"architecture": "lstm", "readout": "membrane"}, "ttfs", False),  # nor a non-spiking network
    ],
)
def test_synaptic_default_follows_the_code(snn, encoder, synaptic):
    resolved = with_synaptic_default(SNNConfig(**snn), EncodingConfig(type=encoder))
    assert resolved.neuron.synaptic is synaptic


@pytest.mark.parametrize("overrides, synaptic", [([], False), (["encoding=ttfs", "loss=rate_classification"], True)])
def test_the_model_of_a_time_code_has_a_synaptic_current(overrides, synaptic):
    model, _ = pipeline.build_model(compose_config([*TINY, *overrides]))
    assert model.snn_cfg.neuron.synaptic is synaptic
    assert all((layer.synaptic_beta is not None) is synaptic for layer in model.net.neurons)
    # stored resolved: a checkpoint's readers (NIR export, resume) build the same network
    assert model.hparams["snn"]["neuron"]["synaptic"] is synaptic


def test_ttfs_recipe_defaults_and_the_default_run_unchanged():
    ttfs = compose_config(["encoding=ttfs", "loss=rate_classification"])
    assert (ttfs.encoding.type, ttfs.encoding.num_steps, ttfs.encoding.latency_mapping) == ("ttfs", 15, "linear")
    assert ttfs.snn.neuron.synaptic is None  # resolved from the encoder when the model is built
    default = compose_config([])
    assert (default.encoding.type, default.encoding.num_steps, default.snn.neuron.synaptic) == (
        "rate_bernoulli",
        25,
        None,
    )
