"""Plain-data configuration for brain_ai (stdlib only: Enums + dataclasses).

Every choice is a ``str`` Enum whose lower-case member names are the words users type
(on the Hydra command line or in Python). Every dataclass validates itself in
``__post_init__`` and raises :class:`ConfigError` (a ``ValueError``) that names the field,
the bad value and what is allowed. The same classes are the Hydra schema
(``brain_ai.hydra_store``) and the arguments of the plain-PyTorch factories in
``brain_ai.core`` -- the core never needs Hydra.
"""

from __future__ import annotations

import dataclasses
import enum
import math
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Type, TypeVar

E = TypeVar("E", bound=enum.Enum)
C = TypeVar("C")

#: Largest membrane decay a neuron may use (beta is parameterised to stay in [0, BETA_MAX]).
BETA_MAX = 0.999


class ConfigError(ValueError):
    """A configuration value is invalid. The message names the field, the value and what is allowed."""


# --------------------------------------------------------------------------------------------
# validation helpers (shared by every dataclass in this module)
# --------------------------------------------------------------------------------------------


def coerce_enum(owner: str, name: str, value: Any, enum_cls: Type[E]) -> E:
    """Return ``value`` as a member of ``enum_cls`` (accepting the member or its lower-case name)."""
    if isinstance(value, enum_cls):
        return value
    if isinstance(value, str):
        key = value.strip().lower()
        for member in enum_cls:
            if member.name == key or member.value == key:
                return member
    allowed = ", ".join(m.name for m in enum_cls)
    raise ConfigError(f"{owner}.{name}={value!r} is not a valid choice; allowed: {allowed}")


def check_range(
    owner: str,
    name: str,
    value: Any,
    *,
    low: Optional[float] = None,
    high: Optional[float] = None,
    low_inclusive: bool = True,
    high_inclusive: bool = True,
    integer: bool = False,
) -> None:
    """Raise :class:`ConfigError` unless ``low (<)<= value (<)<= high`` (and finite, and int if asked)."""
    kind = "an integer" if integer else "a number"
    if isinstance(value, bool) or not isinstance(value, (int, float)) or (integer and not isinstance(value, int)):
        raise ConfigError(f"{owner}.{name}={value!r} must be {kind}")
    if not math.isfinite(value):
        raise ConfigError(f"{owner}.{name}={value!r} must be finite")
    lo_ok = low is None or (value >= low if low_inclusive else value > low)
    hi_ok = high is None or (value <= high if high_inclusive else value < high)
    if not (lo_ok and hi_ok):
        lb = "-inf" if low is None else f"{low}"
        hb = "inf" if high is None else f"{high}"
        interval = f"{'[' if low_inclusive and low is not None else '('}{lb}, {hb}{']' if high_inclusive and high is not None else ')'}"
        raise ConfigError(f"{owner}.{name}={value!r} is out of range; allowed: {interval}")


def check_positive_int_list(owner: str, name: str, values: Any, *, allow_empty: bool = False) -> None:
    """Raise :class:`ConfigError` unless ``values`` is a list of positive integers."""
    if not isinstance(values, (list, tuple)) or (not allow_empty and len(values) == 0):
        raise ConfigError(f"{owner}.{name}={values!r} must be a {'' if allow_empty else 'non-empty '}list of positive integers")
    for v in values:
        if isinstance(v, bool) or not isinstance(v, int) or v <= 0:
            raise ConfigError(f"{owner}.{name}={list(values)!r} must contain only positive integers (got {v!r})")


def to_dict(cfg: Any) -> Dict[str, Any]:
    """Convert a (nested) config dataclass into plain Python primitives (Enums become their names)."""

    def convert(value: Any) -> Any:
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            return {f.name: convert(getattr(value, f.name)) for f in dataclasses.fields(value)}
        if isinstance(value, enum.Enum):
            return value.name
        if isinstance(value, (list, tuple)):
            return [convert(v) for v in value]
        if isinstance(value, dict):
            return {str(k): convert(v) for k, v in value.items()}
        return value

    return convert(cfg)


def from_dict(cls: Type[C], data: Dict[str, Any]) -> C:
    """Build ``cls`` from a plain dict made by :func:`to_dict` (nested dataclasses included).

    Unknown keys raise :class:`ConfigError` naming the key and the allowed fields.
    """
    if not isinstance(data, dict):
        raise ConfigError(f"{cls.__name__}: expected a mapping, got {type(data).__name__}")
    known = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - set(known))
    if unknown:
        raise ConfigError(f"{cls.__name__}: unknown field(s) {unknown}; allowed: {sorted(known)}")
    kwargs = {}
    hints = _resolved_types(cls)
    for name, value in data.items():
        target = hints.get(name)
        if isinstance(value, dict) and isinstance(target, type) and dataclasses.is_dataclass(target):
            value = from_dict(target, value)
        kwargs[name] = value
    return cls(**kwargs)


def _resolved_types(cls: type) -> Dict[str, Any]:
    import typing

    try:
        return typing.get_type_hints(cls)
    except Exception:  # pragma: no cover - forward refs that cannot be resolved
        return {}


# --------------------------------------------------------------------------------------------
# Enums
# --------------------------------------------------------------------------------------------


class NeuronType(str, enum.Enum):
    """Which spiking neuron a layer uses."""

    lif = "lif"
    adaptive_lif = "adaptive_lif"
    recurrent_lif = "recurrent_lif"
    advanced_lif = "advanced_lif"


class ResetMode(str, enum.Enum):
    """What happens to the membrane after a spike."""

    subtract = "subtract"  # v <- v - s * v_th   (soft reset)
    zero = "zero"  # v <- v * (1 - s)    (hard reset to 0)
    none = "none"  # no reset


class SurrogateType(str, enum.Enum):
    """Built-in surrogate gradients (see ``brain_ai.core.surrogates``)."""

    atan = "atan"
    fast_sigmoid = "fast_sigmoid"
    ste = "ste"
    sigmoid = "sigmoid"
    superspike = "superspike"
    triangle = "triangle"
    piecewise_quadratic = "piecewise_quadratic"
    gaussian = "gaussian"
    erf = "erf"
    softsign = "softsign"


class TauDistribution(str, enum.Enum):
    """How AdvancedLIFNeuron draws its per-neuron membrane time constants."""

    constant = "constant"
    uniform = "uniform"
    lognormal = "lognormal"


class Architecture(str, enum.Enum):
    mlp = "mlp"
    conv = "conv"


class NormType(str, enum.Enum):
    batch = "batch"
    none = "none"


class Readout(str, enum.Enum):
    """Output layer: spiking neurons, or a non-spiking leaky integrator (for membrane decoding)."""

    spiking = "spiking"
    membrane = "membrane"


# --------------------------------------------------------------------------------------------
# Neuron + network
# --------------------------------------------------------------------------------------------


@dataclass
class NeuronConfig:
    """Parameters of one spiking neuron population (shared by every layer of an SNN).

    Units: time is in simulation steps; ``beta = exp(-1 / tau)`` is the per-step membrane decay.
    """

    type: NeuronType = NeuronType.lif
    beta: float = 0.9
    threshold: float = 1.0
    reset: ResetMode = ResetMode.subtract
    surrogate: SurrogateType = SurrogateType.atan
    #: width/slope parameter of the surrogate; ``None`` uses the surrogate's own default
    surrogate_alpha: Optional[float] = None
    learnable_beta: bool = False
    #: one beta per neuron instead of one per layer (only meaningful with learnable_beta)
    per_neuron_beta: bool = False
    learnable_threshold: bool = False
    #: synaptic current i <- synaptic_beta * i + x feeding the membrane
    synaptic: bool = False
    synaptic_beta: float = 0.8
    #: steps a neuron stays silent (input ignored) after a spike; 0 disables
    refractory_steps: int = 0
    #: AdaptiveLIF: v_th_eff = threshold + adaptation_alpha * a;  a <- adaptation_decay * a + s
    adaptation_alpha: float = 0.5
    adaptation_decay: float = 0.95
    #: AdvancedLIF: per-neuron tau (steps) drawn from this distribution
    tau_distribution: TauDistribution = TauDistribution.lognormal
    tau_mean: float = 10.0
    tau_std: float = 5.0
    #: AdvancedLIF: learnable per-neuron input delay in [0, max_delay] steps; 0 disables delays
    max_delay: int = 0
    #: use the fused multi-step kernel when no per-step hook needs intermediates
    fused: bool = True

    def __post_init__(self) -> None:
        o = "neuron"
        self.type = coerce_enum(o, "type", self.type, NeuronType)
        self.reset = coerce_enum(o, "reset", self.reset, ResetMode)
        self.surrogate = coerce_enum(o, "surrogate", self.surrogate, SurrogateType)
        self.tau_distribution = coerce_enum(o, "tau_distribution", self.tau_distribution, TauDistribution)
        check_range(o, "beta", self.beta, low=0.0, high=BETA_MAX)
        check_range(o, "threshold", self.threshold, low=0.0, low_inclusive=False)
        if self.surrogate_alpha is not None:
            check_range(o, "surrogate_alpha", self.surrogate_alpha, low=0.0, low_inclusive=False)
        check_range(o, "synaptic_beta", self.synaptic_beta, low=0.0, high=BETA_MAX)
        check_range(o, "refractory_steps", self.refractory_steps, low=0, integer=True)
        check_range(o, "adaptation_alpha", self.adaptation_alpha, low=0.0)
        check_range(o, "adaptation_decay", self.adaptation_decay, low=0.0, high=BETA_MAX)
        check_range(o, "tau_mean", self.tau_mean, low=1.0, low_inclusive=False)
        check_range(o, "tau_std", self.tau_std, low=0.0)
        check_range(o, "max_delay", self.max_delay, low=0, integer=True)


@dataclass
class SNNConfig:
    """Architecture of an SNN built by ``brain_ai.core.snn.build_snn``.

    ``mlp``: ``input_size -> hidden_sizes... -> output_size``, Linear -> neuron per layer.
    ``conv``: ``input_shape (C, H, W)`` -> [Conv -> norm -> neuron -> pool] per ``conv_channels``
    -> Linear -> neuron per ``hidden_sizes`` -> Linear(output_size) -> readout.
    """

    architecture: Architecture = Architecture.mlp
    input_size: int = 784
    input_shape: List[int] = field(default_factory=lambda: [1, 28, 28])
    hidden_sizes: List[int] = field(default_factory=lambda: [256])
    output_size: int = 10
    conv_channels: List[int] = field(default_factory=lambda: [16, 32])
    kernel_size: int = 3
    pool: int = 2
    norm: NormType = NormType.batch
    neuron: NeuronConfig = field(default_factory=NeuronConfig)
    dropout: float = 0.0
    readout: Readout = Readout.spiking
    #: truncated BPTT window in steps (state detached between chunks); None = full BPTT
    chunk_size: Optional[int] = None
    #: recompute each chunk in backward (torch.utils.checkpoint) to save activation memory
    checkpoint: bool = False

    def __post_init__(self) -> None:
        o = "snn"
        self.architecture = coerce_enum(o, "architecture", self.architecture, Architecture)
        self.norm = coerce_enum(o, "norm", self.norm, NormType)
        self.readout = coerce_enum(o, "readout", self.readout, Readout)
        if isinstance(self.neuron, dict):
            self.neuron = from_dict(NeuronConfig, self.neuron)
        check_range(o, "input_size", self.input_size, low=1, integer=True)
        check_positive_int_list(o, "input_shape", self.input_shape)
        if len(self.input_shape) != 3:
            raise ConfigError(f"{o}.input_shape={list(self.input_shape)!r} must be [C, H, W] (3 positive integers)")
        check_positive_int_list(o, "hidden_sizes", self.hidden_sizes, allow_empty=True)
        check_range(o, "output_size", self.output_size, low=1, integer=True)
        check_positive_int_list(o, "conv_channels", self.conv_channels, allow_empty=True)
        check_range(o, "kernel_size", self.kernel_size, low=1, integer=True)
        check_range(o, "pool", self.pool, low=1, integer=True)
        check_range(o, "dropout", self.dropout, low=0.0, high=1.0, high_inclusive=False)
        if self.chunk_size is not None:
            check_range(o, "chunk_size", self.chunk_size, low=1, integer=True)
        if self.architecture is Architecture.conv and not self.conv_channels:
            raise ConfigError(f"{o}.conv_channels=[] but architecture=conv needs at least one conv block")


# --------------------------------------------------------------------------------------------
# Data + optimisation
# --------------------------------------------------------------------------------------------


class DatasetName(str, enum.Enum):
    """Data sets known to ``brain_ai.data`` (see its registry)."""

    mnist5k = "mnist5k"
    digits = "digits"
    mnist = "mnist"
    fashion_mnist = "fashion_mnist"
    nmnist = "nmnist"
    shd = "shd"
    dvsgesture = "dvsgesture"
    synthetic = "synthetic"


@dataclass
class DataConfig:
    """Which data set to load and how to batch it.

    Static data sets (mnist5k, digits, mnist, fashion_mnist) yield ``x (B, C, H, W)`` floats in
    [0, 1]; event data sets (nmnist, shd, dvsgesture) and ``synthetic`` yield spike/event frames
    ``x (B, T, ...)`` with ``T = n_time_bins`` and need ``encoding=identity``.
    """

    name: DatasetName = DatasetName.mnist5k
    #: folder holding downloaded data sets (``<root>/<ClassName>/...``)
    root: str = "data"
    download: bool = False
    batch_size: int = 128
    num_workers: int = 0
    #: fraction of the training split held out for validation
    val_fraction: float = 0.1
    #: split / shuffling seed (independent of the training seed)
    seed: int = 0
    #: use at most this many training samples (None = all)
    limit_train: Optional[int] = None
    #: event data: number of time bins per sample (tonic.transforms.ToFrame n_time_bins)
    n_time_bins: int = 25
    #: event data: spatial downsampling factor for DVS sensors (1 = none)
    downsample: int = 1
    #: event data: cache binned frames on disk (tonic DiskCachedDataset)
    cache: bool = False
    #: synthetic data: task size
    num_classes: int = 10
    num_inputs: int = 100
    num_samples: int = 2000

    def __post_init__(self) -> None:
        o = "data"
        self.name = coerce_enum(o, "name", self.name, DatasetName)
        check_range(o, "batch_size", self.batch_size, low=1, integer=True)
        check_range(o, "num_workers", self.num_workers, low=0, integer=True)
        check_range(o, "val_fraction", self.val_fraction, low=0.0, high=1.0, high_inclusive=False)
        check_range(o, "seed", self.seed, integer=True)
        if self.limit_train is not None:
            check_range(o, "limit_train", self.limit_train, low=1, integer=True)
        check_range(o, "n_time_bins", self.n_time_bins, low=1, integer=True)
        check_range(o, "downsample", self.downsample, low=1, integer=True)
        check_range(o, "num_classes", self.num_classes, low=2, integer=True)
        check_range(o, "num_inputs", self.num_inputs, low=1, integer=True)
        check_range(o, "num_samples", self.num_samples, low=1, integer=True)


class OptimizerName(str, enum.Enum):
    adam = "adam"
    adamw = "adamw"
    sgd = "sgd"


class SchedulerName(str, enum.Enum):
    none = "none"
    cosine = "cosine"
    step = "step"
    onecycle = "onecycle"


@dataclass
class OptimConfig:
    """Optimiser and learning-rate schedule of the LightningModule."""

    optimizer: OptimizerName = OptimizerName.adam
    lr: float = 2e-3
    weight_decay: float = 0.0
    momentum: float = 0.9
    scheduler: SchedulerName = SchedulerName.cosine
    #: StepLR: decay lr by ``step_gamma`` every ``step_size`` epochs
    step_size: int = 10
    step_gamma: float = 0.5

    def __post_init__(self) -> None:
        o = "optim"
        self.optimizer = coerce_enum(o, "optimizer", self.optimizer, OptimizerName)
        self.scheduler = coerce_enum(o, "scheduler", self.scheduler, SchedulerName)
        check_range(o, "lr", self.lr, low=0.0, low_inclusive=False)
        check_range(o, "weight_decay", self.weight_decay, low=0.0)
        check_range(o, "momentum", self.momentum, low=0.0, high=1.0)
        check_range(o, "step_size", self.step_size, low=1, integer=True)
        check_range(o, "step_gamma", self.step_gamma, low=0.0, high=1.0, low_inclusive=False)


# --------------------------------------------------------------------------------------------
# Spike codec + losses (EncodingConfig, DecodingConfig, LossConfig) and presets
# --------------------------------------------------------------------------------------------
