"""data.augment_shift: validated before training, applied in training steps only, reproducible."""

import pytest
import torch
from framework_helpers import TINY, compose_config

from brain_ai.app import pipeline
from brain_ai.config import ConfigError
from brain_ai.data import augment


@pytest.mark.parametrize(
    "overrides, what",
    [
        (["data=synthetic", "encoding=identity", "data.augment_shift=1"], "spike frames"),
        (["data=synthetic_regression", "preset=regression", "data.augment_shift=1"], "vectors"),
    ],
)
def test_shift_on_non_image_data_fails_before_training(overrides, what):
    with pytest.raises(ConfigError, match=rf"data\.augment_shift=1 shifts images .*{what}.*allowed: 0"):
        pipeline.build_model(compose_config(overrides))


def test_shift_runs_in_training_steps_only(tmp_path, monkeypatch):
    calls = []
    real = augment.random_shift

    def spy(x, max_shift, generator):
        assert isinstance(generator, torch.Generator)  # the module's per-batch generator, not the global RNG
        calls.append((tuple(x.shape), max_shift))
        return real(x, max_shift, generator)

    monkeypatch.setattr(augment, "random_shift", spy)  # what the data's batch transform (RandomShift) calls
    cfg = compose_config([*TINY, "data.augment_shift=1", "~logger", "callbacks=none"], output_dir=tmp_path)
    pipeline.train(cfg)
    assert calls and all(shape[1:] == (1, 8, 8) and s == 1 for shape, s in calls)
    assert len(calls) == 3  # 96 training samples / batch 32; validation and test never shift


def test_default_config_is_mnist5k_with_its_own_shift():
    cfg = compose_config([])
    assert cfg.data.name == "mnist5k" and cfg.data.augment_shift is None
    model, _ = pipeline.build_model(cfg)
    assert model.batch_transform.max_shift == 2  # mnist5k's own (DataSource.augment_shift); 0 (none) for the others
    assert pipeline.build_model(compose_config(["data=digits"]))[0].batch_transform is None
    assert pipeline.build_model(compose_config(["data.augment_shift=0"]))[0].batch_transform is None


def test_shifted_runs_are_reproducible(tmp_path):
    cfg = [*TINY, "data.augment_shift=1", "~logger", "callbacks=none", "seed=5"]
    a = pipeline.train(compose_config(cfg, output_dir=tmp_path / "a"))
    b = pipeline.train(compose_config(cfg, output_dir=tmp_path / "b"))
    assert a == b
    assert torch.isfinite(torch.tensor(a["test/loss"]))
