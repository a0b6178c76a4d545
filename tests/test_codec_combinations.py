"""Every encoding x decoding x loss (x readout) either is refused at config time with a message
naming what it needs, or learns (>= 50 % test accuracy on data=digits; slow cases below, the full
matrix in scripts/codec_combinations.py and the README)."""

from __future__ import annotations

import itertools

import pytest
from framework_helpers import TINY, compose_config

from brain_ai.app import pipeline
from brain_ai.app.pipeline import resolve_configs
from brain_ai.config import ConfigError, DecodingConfig, EncodingConfig, LossConfig, Readout, Task
from brain_ai.config.compat import check_codec
from brain_ai.config.keys import group_options


def group_configs():
    """{(group, option): dataclass} composed once per option."""
    out = {}
    for group, index in (("encoding", 1), ("decoding", 2), ("loss", 3)):
        for option in group_options(group):
            out[(group, option)] = resolve_configs(compose_config([f"{group}={option}"]))[index]
    return out


COMBOS = list(
    itertools.product(
        group_options("encoding"), group_options("decoding"), group_options("loss"), [r.name for r in Readout]
    )
)


@pytest.fixture(scope="module")
def configs():
    return group_configs()


def verdict(configs, encoding, decoding, loss, readout, event_data=False, task=Task.classification):
    try:
        check_codec(
            configs[("encoding", encoding)],
            configs[("decoding", decoding)],
            configs[("loss", loss)],
            Readout[readout],
            event_data=event_data,
            task=task,
            data_name="digits" if not event_data else "shd",
        )
    except ConfigError as err:
        return str(err)
    return None


def test_every_combination_is_allowed_or_refused_with_what_it_needs(configs):
    allowed = 0
    for encoding, decoding, loss, readout in COMBOS:
        message = verdict(configs, encoding, decoding, loss, readout)
        if message is None:
            allowed += 1
            continue
        # the refusal names the setting to change and a value that works
        assert any(
            key in message
            for key in ("use decoding=", "use encoding=", "snn.readout=", "allowed:", "choose an encoder")
        ), message
    assert 0 < allowed < len(COMBOS)


# (encoding, decoding, loss group, readout): the combinations that trained to chance, and the presets / README rows
REFUSED = [
    (
        "rate_bernoulli",
        "population",
        "rate_classification",
        "spiking",
        "loss.task_loss=probspikes trains what decoding=membrane or decoding=rate reads",
    ),
    (
        "rate_bernoulli",
        "membrane",
        "rate_classification",
        "spiking",
        "decoding=membrane reads the membrane of a non-spiking readout, but snn.readout=spiking",
    ),
    ("rate_bernoulli", "membrane", "population_classification", "spiking", "use snn.readout=membrane"),
    (
        "rate_bernoulli",
        "first_spike",
        "rate_classification",
        "spiking",
        "use decoding=membrane or decoding=rate, or loss.task_loss=cross_entropy",
    ),
    (
        "rate_bernoulli",
        "rate",
        "ttfs_classification",
        "spiking",
        "use decoding=first_spike, or loss.task_loss=cross_entropy",
    ),
    ("rate_bernoulli", "rate", "population_classification", "membrane", "decoding=rate reads spike counts"),
    (
        "rate_bernoulli",
        "population_regression",
        "population_classification",
        "spiking",
        "population_mode=regression does not fit data=digits",
    ),
    ("rate_bernoulli", "rate", "regression", "spiking", "loss.task_loss=mse does not fit data=digits"),
    ("identity", "rate", "rate_classification", "spiking", "encoding=identity needs spiking data"),
    ("delta", "rate", "rate_classification", "spiking", "encoding=delta needs spiking data"),
]
ALLOWED = [
    ("rate_bernoulli", "rate", "rate_classification", "spiking"),
    ("ttfs", "first_spike", "ttfs_classification", "spiking"),
    ("population", "population", "population_classification", "spiking"),
    ("ttfs", "rate", "rate_classification", "spiking"),
    ("rate_bernoulli", "membrane", "population_classification", "membrane"),
    ("rate_bernoulli", "membrane", "rate_classification", "membrane"),
    ("rate_bernoulli", "ensemble", "rate_classification", "spiking"),
    ("latency", "first_spike", "population_classification", "spiking"),
]


@pytest.mark.parametrize("encoding, decoding, loss, readout, message", REFUSED)
def test_combinations_that_train_to_chance_are_refused(configs, encoding, decoding, loss, readout, message):
    assert message in (verdict(configs, encoding, decoding, loss, readout) or "allowed")


@pytest.mark.parametrize("encoding, decoding, loss, readout", ALLOWED)
def test_working_combinations_are_allowed(configs, encoding, decoding, loss, readout):
    assert verdict(configs, encoding, decoding, loss, readout) is None


def test_event_data_need_identity(configs):
    assert verdict(configs, "identity", "rate", "rate_classification", "spiking", event_data=True) is None
    assert "use encoding=identity" in verdict(
        configs, "rate_bernoulli", "rate", "rate_classification", "spiking", event_data=True
    )


def test_ensemble_members_must_read_the_same_outputs():
    dec = DecodingConfig(type="ensemble", ensemble_members=["rate", "population"], ensemble_weights=[0.5, 0.5])
    with pytest.raises(ConfigError, match=r"ensemble_members=\['rate', 'population'\]"):
        check_codec(
            EncodingConfig(),
            dec,
            LossConfig(task_loss="cross_entropy"),
            Readout.spiking,
            event_data=False,
            task=Task.classification,
            data_name="digits",
        )


def test_pipeline_refuses_before_training(tmp_path):
    cfg = compose_config([*TINY, "decoding=population"], output_dir=tmp_path)
    with pytest.raises(ConfigError, match=r"loss.task_loss=probspikes .* decoding=population"):
        pipeline.build_model(cfg)


#: one slow case per allowed (decoding, loss, readout) pair, each with another encoder
LEARNS = [
    ("rate_bernoulli", "rate", "rate_classification", "spiking"),
    ("rate_poisson", "rate", "population_classification", "spiking"),
    ("ttfs", "first_spike", "ttfs_classification", "spiking"),
    ("latency", "first_spike", "population_classification", "spiking"),
    ("population", "population", "population_classification", "spiking"),
    ("rate_deterministic", "membrane", "population_classification", "membrane"),
    ("rate_bernoulli", "membrane", "rate_classification", "membrane"),
    ("rate_bernoulli", "ensemble", "rate_classification", "spiking"),
    ("ttfs", "ensemble", "ttfs_classification", "spiking"),
    ("rate_poisson", "ensemble", "population_classification", "spiking"),
]


#: the settings of the measured matrix (README "Reliability"): time codes (one spike per pixel)
#: need more steps, neurons and epochs than rate and population codes to pass 50 %
SHORT = ["snn.hidden_sizes=[64]", "encoding.num_steps=16", "trainer.max_epochs=3"]
TIME_CODED = ["snn.hidden_sizes=[256]", "encoding.num_steps=25", "trainer.max_epochs=8"]


@pytest.mark.slow
@pytest.mark.parametrize("encoding, decoding, loss, readout", LEARNS)
def test_allowed_combinations_learn(tmp_path, encoding, decoding, loss, readout):
    settings = TIME_CODED if encoding in ("latency", "ttfs") else SHORT
    cfg = compose_config(
        [
            "data=digits",
            f"encoding={encoding}",
            f"decoding={decoding}",
            f"loss={loss}",
            f"snn.readout={readout}",
            *settings,
            "data.batch_size=64",
            "trainer.enable_progress_bar=false",
            "callbacks=none",
            "logger=csv",
        ],
        output_dir=tmp_path,
    )
    assert pipeline.train(cfg)["test/acc"] >= 0.5
