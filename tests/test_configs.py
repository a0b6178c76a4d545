"""Every YAML of every Hydra group composes and validates; bad configs fail before any training."""

from __future__ import annotations

import dataclasses
import math

import pytest
from hydra.core.hydra_config import HydraConfig
from hydra.errors import ConfigCompositionException
from omegaconf import OmegaConf
from omegaconf.errors import ValidationError

from brain_ai import pipeline
from brain_ai.config import (
    CODEC_PRESETS,
    ConfigError,
    DataConfig,
    DecodingConfig,
    EncodingConfig,
    LossConfig,
    OptimConfig,
    SNNConfig,
)
from framework_helpers import CONFIG_DIR, compose_config

DOMAIN_GROUPS = {
    "snn": SNNConfig,
    "encoding": EncodingConfig,
    "decoding": DecodingConfig,
    "loss": LossConfig,
    "data": DataConfig,
    "optim": OptimConfig,
}

GROUPS = sorted(p.name for p in CONFIG_DIR.iterdir() if p.is_dir())
GROUP_OPTIONS = [(group, path.stem) for group in GROUPS for path in sorted((CONFIG_DIR / group).glob("*.yaml"))]


def test_every_design_group_has_yaml_files():
    expected = {"data", "snn", "encoding", "decoding", "loss", "preset", "trainer", "callbacks", "logger",
                "experiment", "hparams_search", "paths", "hydra", "debug", "optim"}
    assert expected <= set(GROUPS)
    for group in expected:
        assert list((CONFIG_DIR / group).glob("*.yaml")), f"configs/{group}/ has no YAML"


@pytest.mark.parametrize("group,option", GROUP_OPTIONS, ids=[f"{g}={o}" for g, o in GROUP_OPTIONS])
def test_every_yaml_composes_and_resolves(group, option, tmp_path):
    cfg = compose_config([f"{group}={option}"], output_dir=tmp_path)
    HydraConfig.instance().set_config(cfg)
    # every interpolation of the job config resolves (hydra's own node has run-time-only values)
    job = OmegaConf.to_container(OmegaConf.masked_copy(cfg, [k for k in cfg if k != "hydra"]), resolve=True, throw_on_missing=True)
    assert job["paths"]["output_dir"] == str(tmp_path)
    if group in DOMAIN_GROUPS:
        obj = OmegaConf.to_object(cfg[group])
        assert isinstance(obj, DOMAIN_GROUPS[group])
    # all domain groups of the composed config validate into their dataclasses
    resolved = pipeline.resolve_configs(cfg)
    assert [type(o) for o in resolved] == [SNNConfig, EncodingConfig, DecodingConfig, LossConfig, OptimConfig, DataConfig]


def test_experiments_set_what_they_promise():
    cfg = compose_config(["experiment=nmnist_conv"])
    snn, enc, _, _, _, data = pipeline.resolve_configs(cfg)
    assert (snn.architecture.name, enc.type.name, data.name.name, data.n_time_bins) == ("conv", "identity", "nmnist", 20)
    assert cfg.task_name == "nmnist_conv"
    cfg = compose_config(["experiment=shd_recurrent"])
    snn, *_ = pipeline.resolve_configs(cfg)
    assert (snn.neuron.type.name, snn.hidden_sizes) == ("recurrent_lif", [200])
    cfg = compose_config(["experiment=edifice_mlp"])
    model, _ = pipeline.build_model(cfg)
    snn, enc, dec, *_ = pipeline.resolve_configs(cfg)
    assert (model.snn_cfg.input_size, snn.hidden_sizes, model.snn_cfg.output_size) == (784, [256, 128], 10)
    assert (enc.type.name, enc.num_steps, dec.type.name) == ("direct", 25, "rate")
    assert (cfg.loss.task_loss, cfg.loss.w_rate, cfg.loss.w_temporal, cfg.loss.w_isi) == ("probspikes", 0.0, 0.0, 0.0)
    neurons = [m for m in model.modules() if hasattr(m, "surrogate")]
    assert len(neurons) == 3 and all(repr(n.surrogate) == "FastSigmoid(alpha=25.0)" for n in neurons)
    assert all(n.beta.item() == pytest.approx(math.exp(-0.5)) and n.threshold.item() == 1.0 for n in neurons)


def test_preset_files_match_the_python_presets():
    assert {p.stem for p in (CONFIG_DIR / "preset").glob("*.yaml")} == set(CODEC_PRESETS)
    for name, factory in CODEC_PRESETS.items():
        cfg = compose_config([f"preset={name}"])
        expected = factory()
        for part in ("encoding", "decoding", "loss"):
            got = OmegaConf.to_object(cfg[part])
            assert got == getattr(expected, part), f"preset={name}: {part} differs from {factory.__name__}()"


def test_optim_adam_is_the_dataclass_default():
    assert OmegaConf.to_object(compose_config(["optim=adam"]).optim) == OptimConfig()


def test_default_train_config_is_the_schema_defaults_where_yaml_is_silent():
    cfg = compose_config([])
    snn = OmegaConf.to_object(cfg.snn)
    assert dataclasses.replace(snn, hidden_sizes=[256]) == SNNConfig()


@pytest.mark.parametrize(
    "override",
    ["snn.hiden_sizes=[3]", "snn.dropout=abc", "encoding.type=bogus", "snn.neuron.tpye=lif", "data.batch_size=1.5",
     "snn.neuron.backend=gpu"],
)
def test_typos_and_wrong_types_fail_at_compose_time(override):
    with pytest.raises((ConfigCompositionException, ValidationError)) as info:
        compose_config([override])
    key = override.split("=")[0]
    assert key in str(info.value)


def test_neuron_backend_is_one_hydra_switch():
    for name in ("auto", "eager", "fused", "triton"):
        assert OmegaConf.to_object(compose_config([f"snn.neuron.backend={name}"]).snn).neuron.backend.name == name
    assert OmegaConf.to_object(compose_config([]).snn).neuron.backend.name == "auto"


@pytest.mark.parametrize(
    "overrides,field",
    [
        (["encoding.num_steps=-1"], "encoding.num_steps"),
        (["snn.neuron.beta=1.2"], "snn.neuron.beta"),
        (["snn.dropout=1.0"], "snn.dropout"),
        (["optim.lr=0"], "optim.lr"),
        (["data.val_fraction=1.5"], "data.val_fraction"),
        (["loss.target_rate=2"], "loss.target_rate"),
        (["decoding.temperature=-1"], "decoding.temperature"),
    ],
)
def test_bad_values_fail_before_training_naming_the_field(overrides, field):
    cfg = compose_config(overrides)
    with pytest.raises(ConfigError) as info:
        pipeline.build_model(cfg)
    assert str(info.value).startswith(f"{field}=")


def test_input_size_mismatch_names_the_field():
    cfg = compose_config(["data=digits", "snn.input_size=10"])
    with pytest.raises(ConfigError, match=r"snn\.input_size=10 .*64 features"):
        pipeline.build_model(cfg)


def test_output_size_mismatch_names_the_field():
    cfg = compose_config(["data=digits", "snn.output_size=3"])
    with pytest.raises(ConfigError, match=r"snn\.output_size=3 .*10 output neurons"):
        pipeline.build_model(cfg)


def test_spiking_data_needs_identity_encoder_and_static_data_refuses_it():
    with pytest.raises(ConfigError, match="encoding=identity"):
        pipeline.build_model(compose_config(["data=synthetic", "encoding=rate_bernoulli"]))
    with pytest.raises(ConfigError, match="encoding=identity needs spiking data"):
        pipeline.build_model(compose_config(["data=digits", "encoding=identity"]))


def test_built_network_is_sized_by_data_and_codec():
    model, dm = pipeline.build_model(compose_config(["data=digits", "preset=population_classification", "snn.hidden_sizes=[16]"]))
    # 8x8 digits, population code of 8 neurons per pixel in; 10 classes x 4 neurons out
    assert model.snn_cfg.input_size == 64 * 8
    assert model.snn_cfg.output_size == 10 * 4
    assert dm.num_outputs == 10


@pytest.mark.parametrize(
    "overrides,message",
    [
        (["preset=regression"], r"loss\.task_loss=mse does not fit data=digits, a classification task; allowed: probspikes"),
        (["decoding=population_regression"], r"decoding\.population_mode=regression does not fit data=digits"),
    ],
)
def test_regression_codec_on_classification_data_fails_before_training(overrides, message):
    with pytest.raises(ConfigError, match=message):
        pipeline.build_model(compose_config(["data=digits", *overrides]))


def test_surrogate_parameters_and_scale_reach_every_neuron():
    cfg = compose_config(
        ["data=digits", "snn.neuron.surrogate=piecewise_leaky_relu", "+snn.neuron.surrogate_params.c=0.05", "snn.neuron.surrogate_normalize=false"]
    )
    model, _ = pipeline.build_model(cfg)
    found = [m.surrogate for m in model.modules() if hasattr(m, "surrogate")]
    assert found and all(repr(s) == "PiecewiseLeakyRelu(c=0.05, w=1.0, normalize=False)" for s in found)


@pytest.mark.parametrize(
    "overrides,message",
    [
        (["snn.neuron.surrogate=relu_grad", "+snn.neuron.surrogate_params.width=-1"], r"ReluGrad\.width=-1"),
        (["snn.neuron.surrogate=piecewise_leaky_relu", "snn.neuron.surrogate_alpha=2"], r"no parameter.*'alpha'.*c, w"),
    ],
)
def test_bad_surrogate_parameters_name_the_parameter(overrides, message):
    with pytest.raises(ValueError, match=message):
        pipeline.build_model(compose_config(["data=digits", *overrides]))


def test_unknown_surrogate_lists_the_allowed_names():
    with pytest.raises((ConfigCompositionException, ValidationError)) as info:
        compose_config(["snn.neuron.surrogate=nope"])
    assert "slayer_grad" in f"{info.value} {info.value.__cause__}"
