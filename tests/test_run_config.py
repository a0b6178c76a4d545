"""The top-level settings of train.py / evaluate.py / export.py: one typed schema each
(brain_ai/config/run_config.py), defaults only there, booleans that are never a string; the metrics a
run logs come from one place (``SNNLitModule.logged_metrics``). Bad values on the command line:
tests/test_bad_inputs.py (block "issue 23, flags")."""

from __future__ import annotations

import dataclasses

import pytest
from framework_helpers import CONFIG_DIR, compose_config
from omegaconf import OmegaConf

from brain_ai.app import pipeline
from brain_ai.config.hydra_store import PRIMARY_CONFIGS
from brain_ai.config.keys import primary_keys
from brain_ai.config.validate import run_settings
from brain_ai.training.module import FIT_STAGES, STAGES

REQUIRED = {"evaluate": ["ckpt_path=x.ckpt"], "export": ["ckpt_path=x.ckpt", "output=m.nir"]}


@pytest.mark.parametrize("name", sorted(PRIMARY_CONFIGS))
def test_primary_config_defaults_live_in_the_settings_dataclass(name, tmp_path):
    """The YAML holds only its defaults list; the composed settings are the dataclass's defaults."""
    settings, _ = PRIMARY_CONFIGS[name]
    assert list(OmegaConf.load(CONFIG_DIR / f"{name}.yaml")) == ["defaults"]
    composed = run_settings(
        compose_config(REQUIRED.get(name, []), output_dir=None if name == "export" else tmp_path, config_name=name)
    )
    given = {o.split("=")[0] for o in REQUIRED.get(name, [])}
    for f in dataclasses.fields(settings):
        if f.name not in given and f.name != "data_root":  # data_root: ${paths.data_dir}, resolved
            assert getattr(composed, f.name) == f.default, f.name
    assert {f.name for f in dataclasses.fields(settings)} <= set(primary_keys(name))


def test_a_quoted_false_is_false_through_the_python_api():
    """Hydra's compose API (no command-line check) lets OmegaConf read the typed bool: never true."""
    cfg = compose_config(["allow_remote_ckpt='false'", "resume_allow_changes='false'", "test='false'"])
    settings = run_settings(cfg)
    assert (settings.allow_remote_ckpt, settings.resume_allow_changes, settings.test) == (False, False, False)


def test_logged_metrics_are_the_metrics_a_run_logs(short_run):
    """What ``optimized_metric`` is checked against is what training and testing log (no second list)."""
    model, _ = pipeline.build_model(short_run.cfg)
    logged = {k for k in short_run.metrics if k.split("/")[0] in STAGES}
    assert logged == set(model.logged_metrics())
    assert set(model.logged_metrics(FIT_STAGES)) == {k for k in logged if not k.startswith("test/")}


def test_regression_runs_may_optimise_val_mse_but_not_val_acc(tmp_path):
    """The allowed metrics follow the task: preset=regression logs val/mse and no accuracy."""
    base = ["data=synthetic_regression", "data.num_samples=64", "trainer.max_epochs=1", "preset=regression"]
    model, _ = pipeline.build_model(compose_config(base, output_dir=tmp_path))
    pipeline.check_optimized_metric("val/mse", model)
    with pytest.raises(pipeline.ConfigError, match=r"optimized_metric='val/acc'.*val/mse"):
        pipeline.check_optimized_metric("val/acc", model)
