"""The one-way setup: run_spec reads a composed config once into typed values, infers the
network's sizes from shape functions (no module is built to read them), and build_model and
train build from it; train returns what it built."""

from __future__ import annotations

import math

import pytest
from framework_helpers import TINY, compose_config

from brain_ai.app import pipeline
from brain_ai.app.run_spec import RunSpec, run_spec
from brain_ai.config import DataConfig, EncodingConfig, SNNConfig, Task
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
