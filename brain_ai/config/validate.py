"""Config checks that need no data, no torch and no Lightning (cheap: ``train.py`` runs them first).

:func:`validate_config` checks a composed ``train`` / ``evaluate`` / ``export`` config: unknown keys
of the schema groups (:mod:`brain_ai.config.keys`), the top-level settings (:func:`run_settings`), the
schema groups as validated dataclasses, and the trainer / metric settings that would run to a useless end. Every error is a
:class:`~brain_ai.config.ConfigError` naming the field, the value and what is allowed.
"""

from __future__ import annotations

import dataclasses
from typing import Any, NamedTuple, Optional, Union

from omegaconf import DictConfig, OmegaConf

from brain_ai.config import (
    Backend,
    ConfigError,
    DataConfig,
    DecodingConfig,
    DtypePolicy,
    EfficiencyConfig,
    EncodingConfig,
    LossConfig,
    OptimConfig,
    SNNConfig,
    check_range,
    from_dict,
)
from brain_ai.config.hydra_store import PRIMARY_CONFIGS
from brain_ai.config.keys import check_schema_keys
from brain_ai.config.run_config import EvaluateSettings, ExportSettings, TrainSettings

RunSettingsLike = Union[TrainSettings, EvaluateSettings, ExportSettings]


def _to_dataclass(node: DictConfig, cls: type, group: str) -> Any:
    """OmegaConf node -> validated dataclass (``__post_init__`` runs); errors name the group.

    Nested configs validate under their own name (``neuron.beta=...``); the message is then
    prefixed with the group so that it names the full key (``snn.neuron.beta=...``).
    """
    try:
        obj = OmegaConf.to_object(node)
        if not isinstance(obj, cls):  # YAML without a schema (plain dict)
            obj = from_dict(cls, obj)
    except ConfigError as err:
        if str(err).startswith(f"{group}."):
            raise
        raise ConfigError(f"{group}.{err}") from err
    return obj


class SchemaGroups(NamedTuple):
    """The composed config's schema groups as validated dataclasses (:func:`resolve_configs`);
    made once per run: :func:`validate_config` returns them, and ``train.py`` hands them on to
    :func:`brain_ai.app.pipeline.train`."""

    snn: SNNConfig
    encoding: EncodingConfig
    decoding: DecodingConfig
    loss: LossConfig
    optim: OptimConfig
    data: DataConfig


def resolve_configs(cfg: DictConfig) -> SchemaGroups:
    """Turn the composed config's domain groups into validated dataclasses."""
    return SchemaGroups(
        _to_dataclass(cfg.snn, SNNConfig, "snn"),
        _to_dataclass(cfg.encoding, EncodingConfig, "encoding"),
        _to_dataclass(cfg.decoding, DecodingConfig, "decoding"),
        _to_dataclass(cfg.loss, LossConfig, "loss"),
        _to_dataclass(cfg.optim, OptimConfig, "optim"),
        _to_dataclass(cfg.data, DataConfig, "data"),
    )


def efficiency_config(cfg: DictConfig) -> EfficiencyConfig:
    """The validated energy constants of the efficiency estimate (``efficiency`` group; the
    defaults where a config has none)."""
    return _to_dataclass(cfg.efficiency, EfficiencyConfig, "efficiency") if "efficiency" in cfg else EfficiencyConfig()


#: ``trainer.precision`` values whose whole network runs in a low precision -- neuron state included,
#: which brain_ai keeps in fp32 (the ``*-mixed`` precisions do that under autocast)
LOW_PRECISION_TRUE = ("16-true", "bf16-true")


def run_settings(cfg: DictConfig) -> RunSettingsLike:
    """The validated top-level settings of a composed ``train`` / ``evaluate`` / ``export`` config
    (the settings dataclass its Hydra schema extends: :data:`brain_ai.config.hydra_store.PRIMARY_CONFIGS`)."""
    schema = OmegaConf.get_type(cfg)
    settings = next(
        (s for s, _ in PRIMARY_CONFIGS.values() if isinstance(schema, type) and issubclass(schema, s)), None
    )
    if settings is None:
        raise ConfigError(
            f"a config composed without a brain_ai primary schema ({schema}); compose configs/train.yaml, "
            f"evaluate.yaml or export.yaml (allowed roots: {', '.join(PRIMARY_CONFIGS)})"
        )
    return settings(**{f.name: cfg[f.name] for f in dataclasses.fields(settings)})


def seed_of(cfg: DictConfig) -> int:
    """``cfg.seed`` checked (:class:`~brain_ai.config.run_config.RunSettings`: an integer >= 0)."""
    return run_settings(cfg).seed


def check_trainer_settings(trainer: DictConfig) -> None:
    """Trainer values that would run to a useless end or that Lightning reports late, refused
    before Lightning is imported (every other plain-typed value: :func:`brain_ai.config.keys.check_target_keys`)."""
    max_epochs = trainer.get("max_epochs")
    if max_epochs is not None:
        check_range("trainer", "max_epochs", max_epochs, low=-1, integer=True)
        if max_epochs == 0:
            raise ConfigError(
                "trainer.max_epochs=0 trains nothing; allowed: >= 1 (or -1 with trainer.max_steps=<steps>)"
            )
    if trainer.get("gradient_clip_val") is not None:  # Lightning accepts a negative value and clips nothing
        check_range("trainer", "gradient_clip_val", trainer.gradient_clip_val, low=0.0)
    precision = str(trainer.get("precision"))
    if precision in LOW_PRECISION_TRUE:
        raise ConfigError(
            f"trainer.precision={precision} runs the neuron state in {precision.split('-')[0]} too; brain_ai keeps it in fp32: "
            f"use {precision.split('-')[0]}-mixed (allowed: 32-true, 64-true, 16-mixed, bf16-mixed)"
        )


#: ``trainer.accelerator`` values that put the network on an accelerator (``backend=compiled`` runs CPU tensors)
ACCELERATORS = ("gpu", "cuda", "mps", "tpu")
#: ``trainer.precision`` values that run the network under fp16/bf16 autocast
MIXED_PRECISION = ("16-mixed", "bf16-mixed")


def check_backend_settings(trainer: Optional[DictConfig], snn: SNNConfig) -> None:
    """``snn.neuron.backend=compiled`` (float32 / float64 state on CPU) refused with a trainer that
    runs the network elsewhere or in a low-precision state."""
    neuron = snn.neuron
    if neuron.backend is not Backend.compiled or trainer is None:
        return
    accelerator, precision = str(trainer.get("accelerator")), str(trainer.get("precision"))
    if accelerator in ACCELERATORS:
        raise ConfigError(
            f"snn.neuron.backend=compiled runs CPU tensors, but trainer.accelerator={accelerator}; "
            f"use snn.neuron.backend=auto (triton / fused on a GPU) or trainer.accelerator=cpu"
        )
    if neuron.dtype_policy is DtypePolicy.input_dtype and precision in MIXED_PRECISION:
        raise ConfigError(
            f"snn.neuron.backend=compiled runs a float32 or float64 state, but snn.neuron.dtype_policy=input_dtype with "
            f"trainer.precision={precision} keeps it in {precision.split('-')[0]}; use snn.neuron.dtype_policy=fp32_state "
            f"or snn.neuron.backend=auto (allowed with compiled: 32-true, 64-true, or *-mixed with fp32_state)"
        )


def check_run_settings(cfg: DictConfig, data_cfg: DataConfig) -> None:
    """An ``optimized_metric`` that the data split cannot produce, refused before anything is built."""
    metric = run_settings(cfg).optimized_metric
    if data_cfg.val_fraction == 0 and metric and str(metric).startswith("val/"):
        raise ConfigError(
            f"data.val_fraction=0 leaves no validation set, but optimized_metric={metric} (monitored by the checkpoint "
            f"callback, returned to sweepers) is a validation metric: set optimized_metric=train/{str(metric)[4:]}, or "
            f"keep a validation split (data.val_fraction=0.1)"
        )


def validate_config(cfg: DictConfig) -> Optional[SchemaGroups]:
    """All data-free checks of a composed config; returns the validated dataclasses (``None`` for
    an ``evaluate`` config, which has no schema groups: they come from the checkpoint)."""
    missing = sorted(str(k) for k in cfg if k != "hydra" and OmegaConf.is_missing(cfg, k))  # top level: ckpt_path=???
    if missing:
        raise ConfigError(f"{', '.join(missing)} must be set (e.g. {missing[0]}=<value> on the command line)")
    check_schema_keys(cfg)
    run_settings(cfg)
    if "trainer" in cfg:
        check_trainer_settings(cfg.trainer)
    efficiency_config(cfg)
    if "snn" not in cfg:
        return None
    configs = resolve_configs(cfg)
    check_backend_settings(cfg.get("trainer"), configs.snn)
    check_run_settings(cfg, configs.data)
    return configs
