"""Register brain_ai's config dataclasses and codec presets in Hydra's ConfigStore (an explicit
call, never an import side effect).

Each schema group (:data:`SCHEMAS`: ``snn``, ``encoding``, ``decoding``, ``loss``, ``data``,
``optim``, ``efficiency``) has its dataclass stored as ``<group>/base_<group>``; its YAML options start from it
(``defaults: [base_<group>, _self_]``) and hold only what differs from it, so a typo or a value
of the wrong type fails when Hydra composes the config -- before any training. The one binding
added here: ``data.root`` follows ``paths.data_dir``.

Each primary config (``configs/<name>.yaml``: ``train``, ``evaluate``, ``export``) starts from
``<name>_schema`` (:func:`primary_schema`): its settings dataclass of :mod:`brain_ai.config.run_config`
(:data:`PRIMARY_CONFIGS`) plus one untyped field per group that fills a top-level key, so the
top-level settings are typed and their defaults live in the dataclass only.

The codec presets are defined once, by the ``*_preset()`` functions of :mod:`brain_ai.config`
(:data:`~brain_ai.config.CODEC_PRESETS`), and registered from there: ``preset=<name>`` sets
encoding, decoding and loss to the preset's (plus :data:`PRESET_RUN_SETTINGS`), and the group
options of :data:`PRESET_PARTS` are a preset's part (``loss=ttfs_classification`` is
``ttfs_classification_preset().loss``). No YAML copies them.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Dict, Tuple

from hydra.core.config_store import ConfigStore

from brain_ai.config import CODEC_PRESETS, CONFIG_GROUPS, DataConfig
from brain_ai.config.run_config import EvaluateSettings, ExportSettings, TrainSettings

#: group name -> schema dataclass
SCHEMAS = CONFIG_GROUPS

#: primary config name -> (its settings dataclass, the groups of its defaults list that fill a
#: top-level key; ``preset``, ``experiment``, ... write into the others and are not listed)
PRIMARY_CONFIGS: Dict[str, Tuple[type, Tuple[str, ...]]] = {
    "train": (
        TrainSettings,
        (
            "data",
            "snn",
            "encoding",
            "decoding",
            "loss",
            "optim",
            "efficiency",
            "trainer",
            "callbacks",
            "logger",
            "paths",
        ),
    ),
    "evaluate": (EvaluateSettings, ("trainer", "efficiency", "logger", "paths")),
    "export": (ExportSettings, ()),
}

#: group -> {option: preset}: group options registered as that preset's part (group = the
#: preset's field); every other option is a YAML file in ``configs/<group>/``
PRESET_PARTS: Dict[str, Dict[str, str]] = {
    "encoding": {"ttfs": "ttfs_classification", "population": "population_classification"},
    "decoding": {
        "first_spike": "ttfs_classification",
        "population": "population_classification",
        "population_regression": "regression",
    },
    "loss": {name: name for name in CODEC_PRESETS},
}

#: run-level settings a preset sets besides its codec: regression errors go down, so checkpoints
#: and sweeps follow the validation MSE
PRESET_RUN_SETTINGS: Dict[str, Dict[str, Any]] = {
    "regression": {"optimized_metric": "val/mse", "optimized_mode": "min"},
}


def schema_node(group: str) -> Any:
    """The schema node of ``group`` (its dataclass with the defaults; ``data.root`` bound to ``paths.data_dir``)."""
    return DataConfig(root="${paths.data_dir}") if group == "data" else SCHEMAS[group]


def primary_schema(config_name: str) -> type:
    """The Hydra schema of ``configs/<config_name>.yaml``: its settings dataclass with one field
    per group of :data:`PRIMARY_CONFIGS` (any content: the group's own schema types it)."""
    settings, groups = PRIMARY_CONFIGS[config_name]
    fields = [(group, Any, dataclasses.field(default=None)) for group in groups]
    return dataclasses.make_dataclass(f"{settings.__name__}Schema", fields, bases=(settings,))


def register_configs() -> None:
    """Store every primary schema under ``<name>_schema``, every group schema under
    ``<group>/base_<group>``, every preset under ``preset/<name>`` and every
    :data:`PRESET_PARTS` option under ``<group>/<option>`` (idempotent)."""
    cs = ConfigStore.instance()
    for name in PRIMARY_CONFIGS:
        cs.store(name=f"{name}_schema", node=primary_schema(name))
    for group in SCHEMAS:
        cs.store(group=group, name=f"base_{group}", node=schema_node(group))
    presets = {name: factory() for name, factory in CODEC_PRESETS.items()}
    for name, preset in presets.items():
        node = {
            "encoding": preset.encoding,
            "decoding": preset.decoding,
            "loss": preset.loss,
            **PRESET_RUN_SETTINGS.get(name, {}),
        }
        cs.store(group="preset", name=name, node=node, package="_global_")
    for group, options in PRESET_PARTS.items():
        for option, preset_name in options.items():
            cs.store(group=group, name=option, node=getattr(presets[preset_name], group))
