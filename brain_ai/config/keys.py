"""Unknown config keys are errors naming the key and the closest valid one (``difflib``).

Hydra itself rejects an unknown key without ``+`` (without a suggestion) and accepts one with
``+`` (then nothing reads it: a silent typo). :func:`check_overrides` checks the command-line
overrides before Hydra composes; :func:`check_schema_keys` and :func:`check_target_keys` check a
composed config (the Python API, YAML files). Keys are checked where their owner is known: the schema groups (dataclass
fields, nested ones included), ``trainer`` and every ``_target_`` node (the target's
parameters), and the primary config's top-level keys. Values are checked against their type
where Hydra would not say which values are allowed: the top-level settings on the command line
(:mod:`brain_ai.config.run_config`; a quoted ``'false'`` is a string, not a bool) and the plain-typed
parameters of ``_target_`` nodes.
"""

from __future__ import annotations

import dataclasses
import difflib
import importlib
import inspect
import typing
from pathlib import Path
from typing import Any, Dict, Iterable, List, Optional, Sequence

from omegaconf import DictConfig, OmegaConf

from brain_ai.config import CODEC_PRESETS, ConfigError, check_type
from brain_ai.config.hydra_store import PRESET_PARTS, PRIMARY_CONFIGS, SCHEMAS

CONFIG_DIR = Path(__file__).resolve().parents[2] / "configs"
TRAINER_TARGET = "lightning.pytorch.Trainer"


def group_options(group: str) -> List[str]:
    """The options of a config group: its YAML files in ``configs/<group>/`` and the options
    :func:`brain_ai.config.hydra_store.register_configs` registers from Python (presets and their parts)."""
    registered = set(CODEC_PRESETS) if group == "preset" else set(PRESET_PARTS.get(group, {}))
    return sorted({p.stem for p in (CONFIG_DIR / group).glob("*.yaml")} | registered)


def closest(name: str, candidates: Iterable[str]) -> Optional[str]:
    """The candidate closest to ``name`` (``difflib``), or ``None`` when none is close."""
    match = difflib.get_close_matches(name, sorted(set(candidates)), n=1, cutoff=0.5)
    return match[0] if match else None


def _unknown(path: str, name: str, valid: Iterable[str], prefix: str) -> ConfigError:
    """The error for the unknown key ``path`` (last part ``name``) among ``valid`` keys under ``prefix``."""
    match = closest(name, valid)
    if match is not None:
        return ConfigError(
            f"unknown config key {path}; the closest valid key is {prefix + '.' if prefix else ''}{match}"
        )
    return ConfigError(
        f"unknown config key {path}; valid keys{' of ' + prefix if prefix else ''}: {', '.join(sorted(set(valid)))}"
    )


def _unknown_field(path: str, name: str, schema: type, prefix: str) -> ConfigError:
    """The error for ``path``, not a field of dataclass ``schema``: why, for a key removed from it
    (``schema.REMOVED``: name -> what replaces it), else :func:`_unknown`."""
    removed = getattr(schema, "REMOVED", {}).get(name)
    if removed is not None:
        return ConfigError(f"{path} was removed: {removed}")
    return _unknown(path, name, current_fields(schema), prefix)


def check_schema_path(parts: Sequence[str], schema: type, prefix: str) -> None:
    """Walk ``parts`` through the fields of dataclass ``schema``; raise on the first unknown one."""
    cls: Any = schema
    for depth, name in enumerate(parts):
        if not (isinstance(cls, type) and dataclasses.is_dataclass(cls)):
            return  # a dict / list / scalar field: free below this point
        fields = {f.name for f in dataclasses.fields(cls)}
        here = ".".join([prefix, *parts[:depth]])
        if name not in fields:
            raise _unknown_field(".".join([prefix, *parts[: depth + 1]]), name, cls, here)
        cls = typing.get_type_hints(cls).get(name)


def current_fields(schema: type) -> List[str]:
    """Field names of dataclass ``schema`` that are suggested for a typo: deprecated aliases
    (``schema.DEPRECATED``) still work but are never suggested."""
    deprecated = getattr(schema, "DEPRECATED", {})
    return [f.name for f in dataclasses.fields(schema) if f.name not in deprecated]


def _import_target(target: str) -> Any:
    """The class or function a ``_target_`` path names, ``None`` if it cannot be imported."""
    module_name, _, attr = target.rpartition(".")
    try:
        return getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError, ValueError):
        return None


def target_parameters(target: str) -> Optional[List[str]]:
    """Parameter names of ``target`` (a class or function path), ``None`` if it takes ``**kwargs`` or cannot be imported."""
    try:
        params = inspect.signature(_import_target(target)).parameters.values()
    except (ValueError, TypeError):
        return None
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params):
        return None
    return [p.name for p in params if p.name != "self"]


def _check_target_keys(keys: Iterable[str], target: str, prefix: str) -> None:
    valid = target_parameters(target)
    if valid is None:
        return
    for key in keys:
        if not key.startswith("_") and key not in valid:
            raise _unknown(f"{prefix}.{key}", key, valid, prefix)


def _check_target_values(node: DictConfig, target: str, prefix: str) -> None:
    """Each plain value of a ``_target_`` node against the type annotation of the target's
    parameter (``trainer.max_epochs=abc`` is refused before the trainer is built); interpolations
    are left to their own keys."""
    obj = _import_target(target)
    try:
        hints = typing.get_type_hints(obj.__init__ if isinstance(obj, type) else obj)
    except Exception:  # unresolvable annotations, or nothing imported: the target reports its own errors
        return
    for key in node.keys():
        if str(key) in hints and not OmegaConf.is_interpolation(node, str(key)):
            check_type(f"{prefix}.{key}", node[key], hints[str(key)])


def primary_keys(config_name: str) -> List[str]:
    """Top-level keys of ``configs/<config_name>.yaml``: its settings (:data:`~brain_ai.config.hydra_store.PRIMARY_CONFIGS`)
    and the groups of its defaults list."""
    raw = OmegaConf.to_container(OmegaConf.load(CONFIG_DIR / f"{config_name}.yaml"))
    keys = [f.name for f in dataclasses.fields(PRIMARY_CONFIGS[config_name][0])]
    for entry in raw["defaults"]:
        if isinstance(entry, dict):
            keys += [str(k).split("@")[0].split("/")[0].lstrip("/") for k in entry]
    return [*keys, "hydra"]


def check_overrides(overrides: Sequence[str], config_name: str) -> None:
    """Check command-line overrides (``key=value``, ``+key=value``, ``++key=value``) before Hydra runs."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    candidates = [o for o in overrides if "=" in o and not o.startswith("-")]
    try:
        parsed = OverridesParser.create().parse_overrides(candidates)
    except Exception:  # a syntax error: Hydra reports it with its own message
        return
    _check_preset_choice(parsed)
    top = primary_keys(config_name)
    settings = typing.get_type_hints(PRIMARY_CONFIGS[config_name][0])
    for override in parsed:
        parts = override.key_or_group.split(".")
        if (
            override.package is not None or override.is_delete() or parts[0].split("/")[0] == "hydra"
        ):  # hydra/launcher=...
            continue
        if parts[0] not in top:
            raise _unknown(parts[0], parts[0], top, "")
        if len(parts) == 1:
            _check_setting_value(override, settings)
            continue
        if parts[0] in SCHEMAS:
            check_schema_path(parts[1:], SCHEMAS[parts[0]], parts[0])
        elif parts[0] == "trainer":
            _check_target_keys(parts[1:2], TRAINER_TARGET, "trainer")


def _check_setting_value(override: Any, settings: Dict[str, Any]) -> None:
    """A top-level setting's value as typed (before Hydra, which would turn a quoted ``'false'``
    into false and report other mistakes with its own wording); sweeps and interpolations are left to Hydra."""
    name = override.key_or_group
    if name not in settings or override.is_sweep_override():
        return
    value = override.value()
    if isinstance(value, str) and "${" in value:
        return
    check_type(name, value, settings[name])


def _check_preset_choice(parsed: Sequence[Any]) -> None:
    """``preset=<name>`` sets all of encoding, decoding and loss: a group option chosen beside it
    would be replaced silently, so it is an error (single fields, ``encoding.num_steps=10``, are fine)."""
    groups = {o.key_or_group: o for o in parsed if o.package is None and not o.is_delete()}
    preset = groups.get("preset")
    if preset is None or preset.value() in (None, "null"):
        return
    clash = [f"{g}={groups[g].input_line.split('=', 1)[1]}" for g in ("encoding", "decoding", "loss") if g in groups]
    if clash:
        raise ConfigError(
            f"preset={preset.input_line.split('=', 1)[1]} sets encoding, decoding and loss together, so {' '.join(clash)} "
            f"would be replaced by the preset's; allowed: the preset or the group options, and single fields beside a "
            f"preset (e.g. encoding.num_steps=10)"
        )


def check_schema_keys(cfg: DictConfig) -> None:
    """Check a composed config's schema groups against their dataclasses (cheap: no imports)."""
    for group, schema in SCHEMAS.items():
        node = cfg.get(group)
        if isinstance(node, DictConfig):
            _check_node(node, schema, group)


def check_target_keys(cfg: DictConfig) -> None:
    """Check every top-level ``_target_`` node (``trainer``) and ``<group>.<name>`` ``_target_`` node
    (``callbacks.health``, ``logger.tensorboard``) against the target's parameters, names and
    plain-typed values (imports the targets)."""
    for name, node in cfg.items_ex(resolve=False):  # interpolations (paths.output_dir) may need Hydra
        if name in SCHEMAS or name == "hydra" or not isinstance(node, DictConfig):
            continue
        targets = (
            [(name, node)]
            if "_target_" in node
            else [
                (f"{name}.{k}", v)
                for k, v in node.items_ex(resolve=False)
                if isinstance(v, DictConfig) and "_target_" in v
            ]
        )
        for prefix, sub in targets:
            _check_target_keys(list(sub.keys()), str(sub._target_), prefix)
            _check_target_values(sub, str(sub._target_), prefix)


def _check_node(node: DictConfig, schema: type, prefix: str) -> None:
    hints = typing.get_type_hints(schema)
    fields = {f.name for f in dataclasses.fields(schema)}
    for key in node.keys():
        if key not in fields:
            raise _unknown_field(f"{prefix}.{key}", str(key), schema, prefix)
        sub, sub_type = node.get(key), hints.get(key)
        if isinstance(sub, DictConfig) and isinstance(sub_type, type) and dataclasses.is_dataclass(sub_type):
            _check_node(sub, sub_type, f"{prefix}.{key}")
