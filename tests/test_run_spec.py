"""The one-way setup: run_spec reads a composed config once into typed values, infers the
network's sizes from shape functions (no module is built to read them), and build_model and
train build from it; train returns what it built."""

from __future__ import annotations

import importlib.util
import math

import pytest
from framework_helpers import REPO, TINY, compose_config

from brain_ai.app import pipeline
from brain_ai.app.run_spec import RunSpec, run_spec
from brain_ai.config import DataConfig, EncodingConfig, SNNConfig, Task
from brain_ai.config import validate as validate_mod
from brain_ai.core.decoding import Decoder
from brain_ai.core.encoding import Encoder
from brain_ai.data import DatasetInfo


@pytest.mark.parametrize(
    "overrides, input_size, output_size",
    [
        ([], 64, 10),  # digits 8x8, rate code, one output neuron per class
        (["encoding.type=population", "encoding.population_size=3"], 192, 10),  # 3 neurons per pixel
        (["decoding=population", "loss=population_classification", "decoding.population_size=5"], 64, 10 * 5),
    ],
)
def test_run_spec_infers_sizes_without_building_an_encoder_or_decoder(monkeypatch, overrides, input_size, output_size):
    built = []
    for cls in (Encoder, Decoder):
        real = cls.__init__
        monkeypatch.setattr(
            cls,
            "__init__",
            lambda self, *a, _real=real, **k: (built.append(type(self).__name__), _real(self, *a, **k))[1],
        )
    spec = run_spec(compose_config([*TINY, *overrides]))
    assert built == []
    assert isinstance(spec, RunSpec) and isinstance(spec.snn, SNNConfig) and isinstance(spec.encoding, EncodingConfig)
    assert (
        isinstance(spec.data, DataConfig)
        and isinstance(spec.info, DatasetInfo)
        and spec.info.task is Task.classification
    )
    assert (spec.snn.input_size, spec.snn.output_size) == (input_size, output_size)


def test_build_model_builds_what_the_spec_says():
    cfg = compose_config([*TINY, "encoding.type=population", "encoding.population_size=3"])
    spec = run_spec(cfg)
    model, dm = pipeline.build_model(cfg)
    assert model.snn_cfg == spec.snn and model.encoding_cfg == spec.encoding and model.decoding_cfg == spec.decoding
    assert math.prod(model.encoder.output_shape(dm.sample_shape)) == spec.snn.input_size == 192  # (3, 8, 8)
    assert model.decoder.output_size == spec.snn.output_size


def test_train_returns_its_metrics_and_what_it_built(tmp_path):
    result = pipeline.train(compose_config([*TINY, "test=false", "callbacks=none", "logger=csv"], output_dir=tmp_path))
    assert result["train/loss"] > 0 and result.metrics == dict(result)
    assert result.trainer.lightning_module is result.module and result.module.trainer is result.trainer
    assert result.datamodule.train_set is not None  # the data it trained on, set up


# ---- the composed config becomes dataclasses once (issue 24, item 3) ---------------------------


def _count_conversions(monkeypatch) -> list:
    """Record every call of resolve_configs (the one place the schema groups become dataclasses)."""
    calls = []
    real = validate_mod.resolve_configs
    monkeypatch.setattr(validate_mod, "resolve_configs", lambda cfg: calls.append(cfg) or real(cfg))
    return calls


def test_run_spec_takes_the_validated_groups_instead_of_converting_again(monkeypatch):
    cfg = compose_config([*TINY, "encoding.type=population", "encoding.population_size=3"])
    calls = _count_conversions(monkeypatch)
    groups = validate_mod.validate_config(cfg)
    spec = run_spec(cfg, groups)
    assert len(calls) == 1 and spec.encoding is groups.encoding and spec.snn.input_size == 192
    assert run_spec(cfg) == spec and len(calls) == 2  # without them, run_spec validates (Python callers)


def test_train_py_validates_before_lightning_and_hands_the_groups_to_train(monkeypatch, tmp_path):
    script = importlib.util.spec_from_file_location("train_script", REPO / "train.py")
    train_script = importlib.util.module_from_spec(script)
    script.loader.exec_module(train_script)
    calls = _count_conversions(monkeypatch)
    handed = []
    monkeypatch.setattr(pipeline, "train", lambda cfg, groups=None: handed.append(groups) or {})
    monkeypatch.setattr(pipeline, "optimized_value", lambda cfg, metrics: None)
    train_script.main.__wrapped__(compose_config(TINY, output_dir=tmp_path))  # the body under @hydra.main
    assert len(calls) == 1 and len(handed) == 1 and isinstance(handed[0], validate_mod.SchemaGroups)
    assert handed[0].snn.hidden_sizes == [32]
