"""The search space of a ``sweep.py`` study: ``configs/hparams_search/<name>.yaml`` as dataclasses.

A search space names the metric and its direction, the trial budget, the Optuna sampler and
pruner, and per config key (``optim.lr``, ``snn.neuron.beta``, a group such as ``encoding``) the
values a trial may take. :func:`check_search_space` tries every key and every end of every range
(every choice) against the config before the first trial, so a key that does not exist or a value
outside its field's range fails at once, naming the key.
"""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence

from omegaconf import DictConfig, OmegaConf

from brain_ai.config import ConfigError, from_dict
from brain_ai.config.keys import CONFIG_DIR

#: folder of the shipped search spaces (``--search <name>`` reads ``<name>.yaml`` there)
SEARCH_DIR = CONFIG_DIR / "hparams_search"
#: ``direction`` -> the ``optimized_mode`` of each trial's checkpoint callback
DIRECTIONS = {"maximize": "max", "minimize": "min"}
#: ``params.<key>.type`` values
PARAM_TYPES = ("float", "int", "categorical")
#: ``sampler.type`` values
SAMPLERS = ("tpe", "random")
#: ``pruner.type`` values
PRUNERS = ("median", "none")


@dataclass(frozen=True)
class ParamSpec:
    """The values one config key takes: a ``float`` or ``int`` range ``[low, high]`` (``log``:
    sampled on a log scale; ``step``: an int grid) or ``categorical`` ``choices``."""

    type: str
    low: Optional[float] = None
    high: Optional[float] = None
    log: bool = False
    step: Optional[int] = None
    choices: Optional[List[Any]] = None

    def check(self, where: str) -> None:
        """Raise :class:`ConfigError` naming ``where`` (``<file> params.<key>``) for an unusable spec."""
        if self.type not in PARAM_TYPES:
            raise ConfigError(f"{where}.type={self.type!r} is not a valid choice; allowed: {', '.join(PARAM_TYPES)}")
        if self.type == "categorical":
            if not self.choices or self.low is not None or self.high is not None:
                raise ConfigError(
                    f"{where}: a categorical parameter needs a non-empty list of choices and no low / high"
                )
            return
        if self.choices is not None or self.low is None or self.high is None:
            raise ConfigError(f"{where}: a {self.type} parameter needs low and high and no choices")
        if not (math.isfinite(self.low) and math.isfinite(self.high) and self.low < self.high):
            raise ConfigError(f"{where}: low={self.low} and high={self.high}; allowed: finite numbers with low < high")
        if self.log and self.low <= 0:
            raise ConfigError(f"{where}: log=true needs low > 0, got low={self.low}")
        if self.step is not None and (self.type != "int" or self.step < 1 or self.log):
            raise ConfigError(f"{where}.step={self.step}: a step is an int parameter's grid (>= 1, without log)")

    def values_to_check(self) -> Dict[str, Any]:
        """``{"low": ..., "high": ...}`` or ``{"choice 0": ..., ...}``: the values that bound what a trial gets."""
        if self.type == "categorical":
            return {f"choice {i}": choice for i, choice in enumerate(self.choices or ())}
        cast = int if self.type == "int" else float
        return {"low": cast(self.low), "high": cast(self.high)}

    def suggest(self, trial: Any, key: str) -> Any:
        """The value of ``key`` for an Optuna ``trial``."""
        if self.type == "categorical":
            return trial.suggest_categorical(key, list(self.choices or ()))
        if self.type == "int":
            return trial.suggest_int(key, int(self.low), int(self.high), step=self.step or 1, log=self.log)
        return trial.suggest_float(key, float(self.low), float(self.high), log=self.log)


@dataclass(frozen=True)
class SamplerSpec:
    """Optuna's sampler: ``tpe`` (``n_startup_trials`` random ones first) or ``random``; ``seed`` null: unseeded."""

    type: str = "tpe"
    seed: Optional[int] = None
    n_startup_trials: int = 10

    def build(self, seed: Optional[int]) -> Any:
        import optuna

        if self.type == "random":
            return optuna.samplers.RandomSampler(seed=seed)
        return optuna.samplers.TPESampler(seed=seed, n_startup_trials=self.n_startup_trials)


@dataclass(frozen=True)
class PrunerSpec:
    """Optuna's pruner: ``median`` (stop a trial whose metric after an epoch is worse than the median of
    the earlier trials' at that epoch, once ``n_startup_trials`` trials finished and after
    ``n_warmup_steps`` epochs) or ``none``."""

    type: str = "median"
    n_startup_trials: int = 5
    n_warmup_steps: int = 0

    def build(self) -> Any:
        import optuna

        if self.type == "none":
            return optuna.pruners.NopPruner()
        return optuna.pruners.MedianPruner(n_startup_trials=self.n_startup_trials, n_warmup_steps=self.n_warmup_steps)


@dataclass(frozen=True)
class SearchSpace:
    """One ``configs/hparams_search/<name>.yaml``: the metric to ``direction`` over ``n_trials`` trials
    (all workers together), the sampler, the pruner and the ``params`` a trial samples."""

    params: Dict[str, ParamSpec]
    direction: str = "maximize"
    metric: str = "val/acc"
    n_trials: int = 20
    sampler: SamplerSpec = field(default_factory=SamplerSpec)
    pruner: PrunerSpec = field(default_factory=PrunerSpec)
    #: the file it was read from (named in error messages)
    source: str = ""

    @property
    def mode(self) -> str:
        """``max`` / ``min``: the trials' ``optimized_mode``."""
        return DIRECTIONS[self.direction]

    def identity(self, overrides: Sequence[str]) -> Dict[str, Any]:
        """What makes two sweeps the same study: the metric, its direction, the params and the
        overrides every trial gets (Hydra's own ``hydra.*`` ones aside); stored with the study."""
        return {
            "metric": self.metric,
            "direction": self.direction,
            "params": {
                key: {k: v for k, v in dataclasses.asdict(spec).items() if v is not None}
                for key, spec in self.params.items()
            },
            "overrides": sorted(o for o in overrides if not o.lstrip("+~").startswith("hydra.")),
        }


def identity_text(identity: Dict[str, Any]) -> str:
    """A search space's identity as one line of JSON (stored with the study, quoted in messages)."""
    return json.dumps(identity, sort_keys=True)


def search_file(search: str) -> Path:
    """``--search``: a shipped name (``optuna``: ``configs/hparams_search/optuna.yaml``) or a YAML file's path."""
    path = Path(search).expanduser()
    if path.suffix in (".yaml", ".yml"):
        if not path.is_file():
            raise ConfigError(f"--search {search}: no such file")
        return path
    names = sorted(p.stem for p in SEARCH_DIR.glob("*.yaml"))
    if search not in names:
        raise ConfigError(
            f"--search {search!r} is not a search space in {SEARCH_DIR}; allowed: {', '.join(names)} or a .yaml file"
        )
    return SEARCH_DIR / f"{search}.yaml"


def load_search_space(search: str) -> SearchSpace:
    """Read and check (:meth:`ParamSpec.check`, direction, budget, sampler, pruner) a search space file."""
    path = search_file(search)
    raw = OmegaConf.to_container(OmegaConf.load(path), resolve=True)
    if not isinstance(raw, dict) or not isinstance(raw.get("params"), dict) or not raw["params"]:
        raise ConfigError(f"{path}: needs a mapping with a non-empty params: {{<config key>: {{type: ..., ...}}}}")
    params = raw.pop("params")
    try:
        space = from_dict(SearchSpace, {**raw, "params": {}, "source": str(path)})
        specs = {
            str(key): from_dict(ParamSpec, spec if isinstance(spec, dict) else {"type": spec})
            for key, spec in params.items()
        }
    except (ConfigError, TypeError) as err:
        raise ConfigError(f"{path}: {err}") from None
    space = dataclasses.replace(space, params=specs)
    if space.direction not in DIRECTIONS:
        raise ConfigError(f"{path}: direction={space.direction!r}; allowed: {', '.join(DIRECTIONS)}")
    if not isinstance(space.n_trials, int) or space.n_trials < 1:
        raise ConfigError(f"{path}: n_trials={space.n_trials!r}; allowed: an integer >= 1")
    if space.sampler.type not in SAMPLERS:
        raise ConfigError(f"{path}: sampler.type={space.sampler.type!r}; allowed: {', '.join(SAMPLERS)}")
    if space.pruner.type not in PRUNERS:
        raise ConfigError(f"{path}: pruner.type={space.pruner.type!r}; allowed: {', '.join(PRUNERS)}")
    for key, spec in specs.items():
        spec.check(f"{path} params.{key}")
    return space


def override(key: str, value: Any) -> str:
    """``key=value`` on Hydra's command line (a list as ``[a,b]``, a string as it is)."""
    if isinstance(value, (list, tuple)):
        return f"{key}=[{','.join(str(v) for v in value)}]"
    return f"{key}={value}"


def check_search_space(
    space: SearchSpace, overrides: Sequence[str], compose: Callable[[Sequence[str]], DictConfig]
) -> None:
    """Before the first trial: every key of ``space.params`` exists (the closest valid key is named
    otherwise) and every end of its range / every choice passes the config's own checks
    (:func:`brain_ai.config.validate.validate_config`) together with ``overrides``; ``space.metric`` is a
    valid ``optimized_metric``. ``compose(overrides)`` composes ``configs/train.yaml``."""
    from hydra.errors import HydraException
    from omegaconf.errors import OmegaConfBaseException

    from brain_ai.config.keys import check_overrides, group_options
    from brain_ai.config.validate import validate_config

    check_overrides(list(overrides), "train")
    fixed = [*overrides, f"optimized_metric={space.metric}", f"optimized_mode={space.mode}"]
    validate_config(compose(fixed))
    for key, spec in space.params.items():
        for which, value in spec.values_to_check().items():
            where = f"{space.source} params.{key} ({which} {value!r})"
            try:
                check_overrides([override(key, value)], "train")
                validate_config(compose([*fixed, override(key, value)]))
            except ConfigError as err:
                raise ConfigError(f"{where}: {err}") from None
            except (HydraException, OmegaConfBaseException) as err:  # a group option that does not exist
                options = group_options(key)
                allowed = f"; allowed: {', '.join(options)}" if options else ""
                raise ConfigError(f"{where}: {str(err).splitlines()[0]}{allowed}") from None
