"""Every option of every Hydra group (YAML or registered from Python) composes, validates and equals the
dataclass it claims to be; the Python defaults are the default run; bad configs fail before any training."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from framework_helpers import CONFIG_DIR, compose_config
from hydra.core.hydra_config import HydraConfig
from hydra.errors import ConfigCompositionException
from omegaconf import OmegaConf
from omegaconf.errors import ValidationError

from brain_ai.app import pipeline
from brain_ai.config import (
    CODEC_PRESETS,
    ConfigError,
    DataConfig,
    DecodingConfig,
    EncodingConfig,
    LossConfig,
    OptimConfig,
    SNNConfig,
    from_dict,
    to_dict,
)
from brain_ai.config.hydra_store import PRESET_PARTS, PRESET_RUN_SETTINGS, SCHEMAS
from brain_ai.config.keys import check_overrides, group_options
from brain_ai.core.snn import with_io_sizes
from brain_ai.data import build_datamodule
from brain_ai.data.ragged import split_batch
from brain_ai.training.module import SNNLitModule

DOMAIN_GROUPS = SCHEMAS

#: the options brain_ai.config.hydra_store registers from Python (no YAML)
REGISTERED = {"preset": set(CODEC_PRESETS), **{group: set(options) for group, options in PRESET_PARTS.items()}}
#: configs/ folders that are not Hydra groups: hparams_search holds sweep.py's search spaces
NOT_GROUPS = {"hparams_search"}
GROUPS = sorted(({p.name for p in CONFIG_DIR.iterdir() if p.is_dir()} - NOT_GROUPS) | set(REGISTERED))
GROUP_OPTIONS = [(group, option) for group in GROUPS for option in group_options(group)]
TRAIN_DEFAULTS = {
    k: v
    for entry in OmegaConf.to_container(OmegaConf.load(CONFIG_DIR / "train.yaml"))["defaults"]
    if isinstance(entry, dict)
    for k, v in entry.items()
}


def test_every_design_group_has_options():
    expected = {
        "data",
        "snn",
        "encoding",
        "decoding",
        "loss",
        "preset",
        "trainer",
        "callbacks",
        "logger",
        "experiment",
        "paths",
        "hydra",
        "debug",
        "optim",
    }
    options = {group for group, _ in GROUP_OPTIONS}
    assert expected <= options


def test_registered_options_have_no_yaml_copy():
    for group, options in REGISTERED.items():
        for option in options:
            assert not (CONFIG_DIR / group / f"{option}.yaml").exists(), (
                f"configs/{group}/{option}.yaml copies {group}={option} from Python"
            )


# ------------------------------------------------ every option == the dataclass it claims to be
def _yaml_body(group, option):
    """The stated differences of a YAML option (its keys without the defaults list), or None if registered."""
    path = CONFIG_DIR / group / f"{option}.yaml"
    if not path.exists():
        return None
    body = OmegaConf.to_container(OmegaConf.load(path), resolve=False)
    body.pop("defaults", None)
    return body


def _merge(base, diff):
    out = dict(base)
    for key, value in diff.items():
        out[key] = _merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def _restated(defaults, body, prefix):
    """Keys of ``body`` whose value equals the schema default (restated, not a difference)."""
    found = []
    for key, value in body.items():
        if isinstance(value, dict) and isinstance(defaults.get(key), dict) and defaults.get(key):
            found += _restated(defaults[key], value, f"{prefix}{key}.")
        elif key in defaults and defaults[key] == value:
            found.append(f"{prefix}{key}")
    return found


def expected_option(group, option):
    """What ``<group>=<option>`` claims to be: the schema defaults + the YAML body, or the preset's part."""
    body = _yaml_body(group, option)
    if body is None:
        return getattr(CODEC_PRESETS[PRESET_PARTS[group][option]](), group)
    return from_dict(SCHEMAS[group], _merge(to_dict(SCHEMAS[group]()), body))


def experiment_body(name):
    """``experiment=<name>``'s group choices (``override /<group>``) and values, with the experiments
    it builds on (a plain name in its defaults list) merged first."""
    body = OmegaConf.to_container(OmegaConf.load(CONFIG_DIR / "experiment" / f"{name}.yaml"), resolve=False)
    choices, merged = {}, {}
    for entry in body.pop("defaults", []):
        if isinstance(entry, str):
            if entry != "_self_":
                parent_choices, parent_body = experiment_body(entry)
                choices.update(parent_choices)
                merged = _merge(merged, parent_body)
        else:
            choices.update({key.removeprefix("override /"): value for key, value in entry.items()})
    return choices, _merge(merged, body)


def expected_run(overrides):
    """The schema groups of ``train.py <overrides>`` as the options claim them: each group's option
    (train.yaml's default, the command line, or an experiment's ``override /<group>``), the preset's
    parts, then an experiment's own values. Returns (groups, experiment body, groups before it)."""
    choice = dict(TRAIN_DEFAULTS)
    choice.update(dict(o.split("=", 1) for o in overrides))
    body = {}
    if choice.get("experiment"):
        overrides, body = experiment_body(choice["experiment"])
        choice.update(overrides)
    base = {group: expected_option(group, choice[group]) for group in SCHEMAS}
    if choice.get("preset"):
        preset = CODEC_PRESETS[choice["preset"]]()
        base.update(encoding=preset.encoding, decoding=preset.decoding, loss=preset.loss)
    groups = {
        group: from_dict(SCHEMAS[group], _merge(to_dict(value), body.get(group, {}))) for group, value in base.items()
    }
    return groups, body, base


SCHEMA_OPTIONS = [(g, o) for g, o in GROUP_OPTIONS if g in SCHEMAS or g in ("preset", "experiment")]


@pytest.mark.parametrize("group,option", SCHEMA_OPTIONS, ids=[f"{g}={o}" for g, o in SCHEMA_OPTIONS])
def test_every_option_composes_to_the_dataclass_it_claims_to_be(group, option):
    """``<group>=<option>`` composed by Hydra equals schema defaults + the option's stated differences
    (its YAML body, or the Python preset it is registered from), in every schema group."""
    cfg = compose_config([f"{group}={option}"])
    expected, body, _ = expected_run([f"{group}={option}"])
    for name in SCHEMAS:
        assert OmegaConf.to_object(cfg[name]) == expected[name], f"{group}={option}: {name} is not what it claims"
    top = {
        **(PRESET_RUN_SETTINGS.get(option, {}) if group == "preset" else {}),
        **{k: v for k, v in body.items() if k not in SCHEMAS and not isinstance(v, dict)},
    }
    for key, value in top.items():
        assert cfg[key] == value, f"{group}={option}: {key}"


@pytest.mark.parametrize("group,option", SCHEMA_OPTIONS, ids=[f"{g}={o}" for g, o in SCHEMA_OPTIONS])
def test_yaml_options_state_only_differences(group, option):
    """A YAML option restates no default: no value equal to its schema's (in an experiment: to the
    options it builds on), and the default option of every schema group is empty."""
    body = _yaml_body(group, option)
    if body is None:
        return  # registered from Python
    if group in SCHEMAS:
        assert not _restated(to_dict(SCHEMAS[group]()), body, f"{group}."), f"{group}={option} restates defaults"
        if TRAIN_DEFAULTS[group] == option:
            assert body == {}, f"{group}={option} is the default option: it must be empty"
        return
    _, merged, base = expected_run([f"{group}={option}"] if group == "experiment" else [])
    built_on = _parent_experiments_body(option) if group == "experiment" else {}
    for name in SCHEMAS:
        # a value is restated when it equals what the option builds on: the groups and the experiments it extends
        before = _merge(to_dict(base[name]), built_on.get(name, {}))
        own = body.get(name, {}) if built_on else merged.get(name, {})
        restated = _restated(before, own, f"{name}.")
        assert not restated, f"{group}={option} restates {restated}"


def _parent_experiments_body(name):
    """The merged values of the experiments that ``experiment=<name>`` extends (a plain name in its defaults list)."""
    body = OmegaConf.to_container(OmegaConf.load(CONFIG_DIR / "experiment" / f"{name}.yaml"), resolve=False)
    defaults = body.get("defaults", [])
    merged = {}
    for entry in defaults:
        if isinstance(entry, str) and entry != "_self_":
            merged = _merge(merged, experiment_body(entry)[1])
    return merged


def test_default_options_are_the_schema_defaults():
    """The dataclass defaults ARE the default run: every schema group of ``train.py`` with no
    overrides equals its dataclass built with no arguments (the codec equals rate_classification)."""
    cfg = compose_config([])
    for group, schema in SCHEMAS.items():
        assert OmegaConf.to_object(cfg[group]) == schema(), f"{group}: the default run differs from {schema.__name__}()"
    preset = CODEC_PRESETS["rate_classification"]()
    assert (preset.encoding, preset.decoding, preset.loss) == (EncodingConfig(), DecodingConfig(), LossConfig())


def test_python_defaults_build_the_module_train_py_builds():
    """``SNNLitModule`` from the dataclass defaults (the "without Hydra" recipe of docs/training.md)
    equals the one ``train.py`` builds with no overrides: hparams, weights, first-batch loss."""
    cfg = compose_config([])
    torch.manual_seed(cfg.seed)
    cli_model, cli_dm = pipeline.build_model(cfg)
    dm = build_datamodule(DataConfig())
    snn = with_io_sizes(SNNConfig(), step_shape=dm.sample_shape, output_size=dm.num_outputs)
    torch.manual_seed(cfg.seed)
    py_model = SNNLitModule(
        snn=to_dict(snn),
        encoding=to_dict(EncodingConfig()),
        decoding=to_dict(DecodingConfig()),
        loss=to_dict(LossConfig()),
        optim=to_dict(OptimConfig()),
        num_outputs=dm.num_outputs,
        seed=cfg.seed,
        data=to_dict(DataConfig()),
        batch_transform=dm.train_batch_transform(),
    )
    assert dict(py_model.hparams) == dict(cli_model.hparams)
    assert py_model.batch_transform.max_shift == cli_model.batch_transform.max_shift == 2
    for (name, a), (_, b) in zip(py_model.state_dict().items(), cli_model.state_dict().items()):
        assert torch.equal(a, b), name
    cli_dm.setup("fit")
    x, y, mask = split_batch(next(iter(cli_dm.train_dataloader())))

    def first_loss(model):
        torch.manual_seed(0)
        decoded, out = model(x, mask=mask)
        return model.loss_of(decoded, out, y, mask)[0]

    assert first_loss(py_model).item() == first_loss(cli_model).item()


@pytest.mark.parametrize("group,option", GROUP_OPTIONS, ids=[f"{g}={o}" for g, o in GROUP_OPTIONS])
def test_every_option_composes_and_resolves(group, option, tmp_path):
    cfg = compose_config([f"{group}={option}"], output_dir=tmp_path)
    HydraConfig.instance().set_config(cfg)
    # every interpolation of the job config resolves (hydra's own node has run-time-only values)
    job = OmegaConf.to_container(
        OmegaConf.masked_copy(cfg, [k for k in cfg if k != "hydra"]), resolve=True, throw_on_missing=True
    )
    assert job["paths"]["output_dir"] == str(tmp_path)
    if group in DOMAIN_GROUPS:
        obj = OmegaConf.to_object(cfg[group])
        assert isinstance(obj, DOMAIN_GROUPS[group])
    # all domain groups of the composed config validate into their dataclasses
    resolved = pipeline.resolve_configs(cfg)
    assert [type(o) for o in resolved] == [
        SNNConfig,
        EncodingConfig,
        DecodingConfig,
        LossConfig,
        OptimConfig,
        DataConfig,
    ]


def test_experiments_set_what_they_promise():
    cfg = compose_config(["experiment=nmnist_conv"])
    snn, enc, _, _, _, data = pipeline.resolve_configs(cfg)
    assert (snn.architecture.name, enc.type.name, data.name.name, data.n_time_bins) == (
        "conv",
        "identity",
        "nmnist",
        20,
    )
    assert cfg.task_name == "nmnist_conv"
    cfg = compose_config(["experiment=shd_recurrent"])
    snn, *_ = pipeline.resolve_configs(cfg)
    assert (snn.neuron.type.name, snn.hidden_sizes) == ("recurrent_lif", [200])
    cfg = compose_config(["experiment=edifice_mlp"])
    model, _ = pipeline.build_model(cfg)
    snn, enc, dec, *_ = pipeline.resolve_configs(cfg)
    assert (model.snn_cfg.input_size, snn.hidden_sizes, model.snn_cfg.output_size) == (784, [256, 128], 10)
    assert (enc.type.name, enc.num_steps, dec.type.name) == ("direct", 25, "rate")
    assert (cfg.loss.task_loss, cfg.loss.w_rate_reg, cfg.loss.w_temporal, cfg.loss.w_isi) == (
        "probspikes",
        0.0,
        0.0,
        0.0,
    )
    neurons = [m for m in model.modules() if hasattr(m, "surrogate")]
    assert len(neurons) == 3 and all(repr(n.surrogate) == "FastSigmoid(alpha=25.0, normalize=False)" for n in neurons)
    x = np.linspace(-1.0, 1.0, 201)  # seed 003: d spike / dx = slope / (1 + slope |x|)^2, slope 25
    grad = neurons[0].surrogate.grad(torch.tensor(x, dtype=torch.float64)).numpy()
    np.testing.assert_allclose(grad, 25.0 / (1.0 + 25.0 * np.abs(x)) ** 2, rtol=1e-12)
    assert all(n.beta.item() == pytest.approx(math.exp(-0.5)) and n.threshold.item() == 1.0 for n in neurons)


@pytest.mark.parametrize(
    "override",
    [
        "snn.hiden_sizes=[3]",
        "snn.dropout=abc",
        "encoding.type=bogus",
        "snn.neuron.tpye=lif",
        "data.batch_size=1.5",
        "snn.neuron.backend=gpu",
    ],
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
    model, dm = pipeline.build_model(
        compose_config(["data=digits", "preset=population_classification", "snn.hidden_sizes=[16]"])
    )
    # 8x8 digits, population code of 8 neurons per pixel in; 10 classes x 4 neurons out
    assert model.snn_cfg.input_size == 64 * 8
    assert model.snn_cfg.output_size == 10 * 4
    assert dm.num_outputs == 10


@pytest.mark.parametrize(
    "overrides,message",
    [
        (
            ["preset=regression"],
            r"loss\.task_loss=mse does not fit data=digits, a classification task; allowed: probspikes",
        ),
        (["decoding=population_regression"], r"decoding\.population_mode=regression does not fit data=digits"),
    ],
)
def test_regression_codec_on_classification_data_fails_before_training(overrides, message):
    with pytest.raises(ConfigError, match=message):
        pipeline.build_model(compose_config(["data=digits", *overrides]))


def test_surrogate_parameters_and_scale_reach_every_neuron():
    cfg = compose_config(
        [
            "data=digits",
            "snn.neuron.surrogate=piecewise_leaky_relu",
            "+snn.neuron.surrogate_params.c=0.05",
            "snn.neuron.surrogate_normalize=false",
        ]
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


def test_deprecated_loss_key_still_works_from_the_command_line():
    cfg = compose_config(["loss.w_rate=0.3"])
    with pytest.warns(FutureWarning, match=r"loss\.w_rate is deprecated .* use loss\.w_rate_reg"):
        loss = pipeline.resolve_configs(cfg)[3]
    assert loss.w_rate_reg == 0.3


@pytest.mark.parametrize(
    "overrides",
    [
        ["preset=ttfs_classification", "encoding=population"],
        ["-m", "preset=regression,ttfs_classification", "loss=regression"],
    ],
)
def test_a_group_option_beside_a_preset_is_refused_before_hydra(overrides):
    """The preset would replace it silently (it sets encoding, decoding and loss as a whole)."""
    with pytest.raises(
        ConfigError,
        match=r"preset=\S+ sets encoding, decoding and loss together, so (encoding=population|loss=regression) would be replaced",
    ):
        check_overrides(overrides, "train")
    check_overrides(["preset=ttfs_classification", "encoding.num_steps=10"], "train")  # single fields are fine
