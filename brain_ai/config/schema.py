"""Plain-data configuration for brain_ai (stdlib only: Enums + dataclasses).

Every choice is a ``str`` Enum whose lower-case member names are the words users type
(on the Hydra command line or in Python). Every dataclass validates itself in
``__post_init__`` and raises :class:`ConfigError` (a ``ValueError``) that names the field,
the bad value and what is allowed. The same classes are the Hydra schema
(``brain_ai.config.hydra_store``) and the arguments of the plain-PyTorch factories in
``brain_ai.core`` -- the core never needs Hydra.
"""

from __future__ import annotations

import dataclasses
import enum
import math
import warnings
from dataclasses import dataclass, field
from typing import Any, ClassVar, Dict, FrozenSet, List, Optional, Tuple, Type, TypeVar

E = TypeVar("E", bound=enum.Enum)
C = TypeVar("C")

#: Largest membrane decay a neuron may use (beta is parameterised to stay in [0, BETA_MAX]).
BETA_MAX = 0.999
#: Membrane decay when neither beta nor tau is given.
DEFAULT_BETA = 0.9


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
    """Raise :class:`ConfigError` unless ``low (<)<= value (<)<= high`` (and finite, and int if asked).

    The message names ``<owner>.<name>`` (``<name>`` alone for a top-level setting, ``owner=""``)."""
    kind = "an integer" if integer else "a number"
    key = f"{owner}.{name}" if owner else name
    if isinstance(value, bool) or not isinstance(value, (int, float)) or (integer and not isinstance(value, int)):
        raise ConfigError(f"{key}={value!r} must be {kind}")
    if not math.isfinite(value):
        raise ConfigError(f"{key}={value!r} must be finite")
    lo_ok = low is None or (value >= low if low_inclusive else value > low)
    hi_ok = high is None or (value <= high if high_inclusive else value < high)
    if not (lo_ok and hi_ok):
        raise ConfigError(
            f"{key}={value!r} is out of range; allowed: {format_interval(low, high, low_inclusive, high_inclusive)}"
        )


def format_interval(
    low: Optional[float], high: Optional[float], low_inclusive: bool = True, high_inclusive: bool = True
) -> str:
    """``[low, high]`` / ``(low, high)`` / ``[low, inf)`` ...: the interval as the error messages write it."""
    lb = "-inf" if low is None else f"{low}"
    hb = "inf" if high is None else f"{high}"
    opening = "[" if low_inclusive and low is not None else "("
    closing = "]" if high_inclusive and high is not None else ")"
    return f"{opening}{lb}, {hb}{closing}"


#: field metadata key: the :class:`Range` a number field must lie in, written on the field once
#: (``field(default=..., metadata={RANGE: Range(low=0.0)})``, or :func:`ranged`) and checked by
#: :func:`check_field_ranges` in the dataclass's ``__post_init__``; rules that read several fields
#: stay in ``__post_init__``.
RANGE = "range"


@dataclass(frozen=True)
class Range:
    """The interval a number field must lie in: ``low (<)<= value (<)<= high`` (None: unbounded),
    finite, and an integer when ``integer``. A field whose default is None may also be None."""

    low: Optional[float] = None
    high: Optional[float] = None
    low_inclusive: bool = True
    high_inclusive: bool = True
    integer: bool = False

    def check(self, owner: str, name: str, value: Any) -> None:
        """:func:`check_range` with this interval (the error names ``<owner>.<name>``, the value and the interval)."""
        check_range(
            owner,
            name,
            value,
            low=self.low,
            high=self.high,
            low_inclusive=self.low_inclusive,
            high_inclusive=self.high_inclusive,
            integer=self.integer,
        )

    def __str__(self) -> str:
        """The interval, e.g. ``(0.0, inf)``; ``integer in [1, inf)`` for an integer field."""
        text = format_interval(self.low, self.high, self.low_inclusive, self.high_inclusive)
        return f"integer in {text}" if self.integer else text


def ranged(default: Any, **bounds: Any) -> Any:
    """A dataclass field with ``default`` and the :class:`Range` of ``bounds`` (``low``, ``high``,
    ``low_inclusive``, ``high_inclusive``, ``integer``) as its :data:`RANGE` metadata."""
    return field(default=default, metadata={RANGE: Range(**bounds)})


def field_range(cls: type, name: str) -> Range:
    """The :class:`Range` declared on field ``name`` of the config dataclass ``cls``."""
    return {f.name: f for f in dataclasses.fields(cls)}[name].metadata[RANGE]


def check_field_ranges(owner: str, obj: Any) -> None:
    """Check every field of the config dataclass instance ``obj`` that declares a :data:`RANGE`
    (a None value passes where the field's default is None: "not set"). Raises
    :class:`ConfigError` naming ``<owner>.<field>``, the value and the allowed interval."""
    for f in dataclasses.fields(obj):
        bounds = f.metadata.get(RANGE)
        value = getattr(obj, f.name)
        if bounds is not None and not (value is None and f.default is None):
            bounds.check(owner, f.name, value)


def check_reset_potential(owner: str, v_reset: Any, reset: "ResetMode", threshold: float) -> None:
    """Raise :class:`ConfigError` unless ``v_reset`` is a finite number below ``threshold``, and 0
    unless ``reset`` is zero (subtract and none never set the membrane to a value)."""
    check_range(owner, "v_reset", v_reset)
    if v_reset >= threshold:
        raise ConfigError(
            f"{owner}.v_reset={v_reset!r} is at or above {owner}.threshold={threshold!r} (a reset neuron would fire "
            f"again at once); allowed: v_reset < threshold"
        )
    if v_reset != 0 and reset is not ResetMode.zero:
        raise ConfigError(
            f"{owner}.v_reset={v_reset!r} needs {owner}.reset=zero (got reset={reset.value}: subtract and none "
            f"never set the membrane to v_reset); allowed with reset={reset.value}: 0"
        )


def check_positive_int_list(owner: str, name: str, values: Any, *, allow_empty: bool = False) -> None:
    """Raise :class:`ConfigError` unless ``values`` is a list of positive integers."""
    if not isinstance(values, (list, tuple)) or (not allow_empty and len(values) == 0):
        raise ConfigError(
            f"{owner}.{name}={values!r} must be a {'' if allow_empty else 'non-empty '}list of positive integers"
        )
    for v in values:
        if isinstance(v, bool) or not isinstance(v, int) or v <= 0:
            raise ConfigError(f"{owner}.{name}={list(values)!r} must contain only positive integers (got {v!r})")


#: what each plain annotation accepts, as a user types it (``check_type``)
_TYPE_WORDS = {bool: "true, false", int: "an integer", float: "a number", str: "a string", type(None): "null"}


def _accepts(annotation: Any, value: Any) -> Optional[bool]:
    """Whether ``value`` fits ``annotation``; ``None`` when the annotation is not a plain one
    (bool, int, float, str, a path, None, ``Literal[...]``, or a ``Union`` / ``Optional`` of them)."""
    import pathlib
    import typing

    origin = typing.get_origin(annotation)
    if origin is typing.Union:
        verdicts = [_accepts(a, value) for a in typing.get_args(annotation)]
        return None if None in verdicts else any(verdicts)
    if origin is typing.Literal:
        return any(value == v and isinstance(value, bool) == isinstance(v, bool) for v in typing.get_args(annotation))
    if annotation is bool:
        return isinstance(value, bool)
    if annotation is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if annotation is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if annotation in (str, pathlib.Path):  # a number is a valid name (OmegaConf turns ckpt_path=3 into '3')
        return isinstance(value, (str, int, float)) and not isinstance(value, bool)
    if annotation is type(None):
        return value is None
    return None


def _type_words(annotation: Any) -> List[str]:
    import typing

    if typing.get_origin(annotation) is typing.Union:
        return [w for a in typing.get_args(annotation) for w in _type_words(a)]
    if typing.get_origin(annotation) is typing.Literal:
        return [_word(v) for v in typing.get_args(annotation)]
    return [_TYPE_WORDS.get(annotation, "a path")]


def check_type(key: str, value: Any, annotation: Any) -> None:
    """Raise :class:`ConfigError` naming ``key``, ``value`` and the allowed values unless ``value``
    fits the type ``annotation`` (a bool field takes only true / false: a quoted ``'false'`` is a
    string, never true). Annotations other than plain ones (see :func:`_accepts`) are not checked."""
    if _accepts(annotation, value) is False:
        raise ConfigError(
            f"{key}={value!r} is not a valid value; allowed: {', '.join(dict.fromkeys(_type_words(annotation)))}"
        )


def check_field_types(owner: str, obj: Any) -> None:
    """:func:`check_type` for every field of the dataclass instance ``obj`` (keys ``<owner>.<field>``,
    or the bare field name when ``owner`` is empty)."""
    hints = _resolved_types(type(obj))
    for f in dataclasses.fields(obj):
        check_type(f"{owner}.{f.name}" if owner else f.name, getattr(obj, f.name), hints.get(f.name))


def _word(value: Any) -> str:
    """``value`` as a user types it on the command line (Enum -> its name, bool -> true / false)."""
    if isinstance(value, enum.Enum):
        return value.name
    if isinstance(value, bool):
        return str(value).lower()
    return str(value)


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

    Unknown keys raise :class:`ConfigError` naming the key and the allowed fields (a key removed
    from ``cls``, ``cls.REMOVED``, names what replaces it).
    """
    if not isinstance(data, dict):
        raise ConfigError(f"{cls.__name__}: expected a mapping, got {type(data).__name__}")
    known = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - set(known))
    removed = getattr(cls, "REMOVED", {})
    for key in unknown:
        if key in removed:
            raise ConfigError(f"{cls.__name__}.{key} was removed: {removed[key]}")
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


#: field metadata key: True on a setting that changes only how the model is computed (memory, speed,
#: storage, which kernel runs it, the truncated-BPTT window), not the network it is: free to change
#: when a run is resumed, and left out of the HParams columns. Written on the field:
#: ``field(..., metadata={EXECUTION_ONLY: True})``; a field without it is a model setting.
EXECUTION_ONLY = "execution_only"


def execution_only_fields(cls: type, prefix: str) -> FrozenSet[str]:
    """Dotted keys ``<prefix>.<field>`` of the :data:`EXECUTION_ONLY` fields of the config dataclass
    ``cls`` and of the config dataclasses nested in it (``snn.neuron.backend``)."""
    keys = set()
    hints = _resolved_types(cls)
    for f in dataclasses.fields(cls):
        key = f"{prefix}.{f.name}"
        if f.metadata.get(EXECUTION_ONLY, False):
            keys.add(key)
        elif isinstance(hints.get(f.name), type) and dataclasses.is_dataclass(hints[f.name]):
            keys |= execution_only_fields(hints[f.name], key)
    return frozenset(keys)


# --------------------------------------------------------------------------------------------
# Enums
# --------------------------------------------------------------------------------------------


class NeuronType(str, enum.Enum):
    """Which spiking neuron a layer uses."""

    lif = "lif"
    adaptive_lif = "adaptive_lif"
    recurrent_lif = "recurrent_lif"
    advanced_lif = "advanced_lif"
    #: adaptive LIF with a recurrent weight (LSNN / SRNN); conv layers get adaptive_lif
    recurrent_adaptive_lif = "recurrent_adaptive_lif"
    #: adaptive exponential integrate-and-fire (Brette & Gerstner 2005), brain_ai.core.neurons.adex
    adex = "adex"
    #: parallel spiking neurons (Fang et al. 2023, brain_ai.core.neurons.psn): no reset, the hidden
    #: state a learnable map over the T steps (full T x T; banded of order k; a k-tap sliding weight)
    psn = "psn"
    masked_psn = "masked_psn"
    sliding_psn = "sliding_psn"


#: the parallel spiking neuron family, and those of it that map a fixed number of steps T
PSN_TYPES = frozenset({NeuronType.psn, NeuronType.masked_psn, NeuronType.sliding_psn})
FIXED_STEP_PSN_TYPES = frozenset({NeuronType.psn, NeuronType.masked_psn})
#: NeuronConfig fields of the LIF family's dynamics that a parallel spiking neuron has no use for
_NOT_PSN_FIELDS = (
    "threshold_shape",
    "reset",
    "v_rest",
    "v_reset",
    "learnable_threshold",
    "synaptic",
    "refractory_steps",
    "max_delay",
)


class ResetMode(str, enum.Enum):
    """What happens to the membrane after a spike."""

    subtract = "subtract"  # v <- v - s * v_th   (soft reset)
    zero = "zero"  # v <- v * (1 - s)    (hard reset to 0)
    none = "none"  # no reset


class DtypePolicy(str, enum.Enum):
    """Dtype of a neuron's state (membrane, currents) for a given input dtype."""

    fp32_state = "fp32_state"  # fp16/bf16 inputs (autocast) integrate into a float32 state; else the input's dtype
    input_dtype = "input_dtype"  # the state has the input's dtype, also fp16/bf16 (half the state memory, coarser)


class SurrogateType(str, enum.Enum):
    """Built-in surrogate gradients (see ``brain_ai.core.surrogates``: the braintools catalogue, then brain_ai's own)."""

    sigmoid = "sigmoid"
    piecewise_quadratic = "piecewise_quadratic"
    piecewise_exp = "piecewise_exp"
    soft_sign = "soft_sign"
    arctan = "arctan"
    nonzero_sign_log = "nonzero_sign_log"
    erf = "erf"
    piecewise_leaky_relu = "piecewise_leaky_relu"
    squarewave_fourier_series = "squarewave_fourier_series"
    s2nn = "s2nn"
    q_pseudo_spike = "q_pseudo_spike"
    leaky_relu = "leaky_relu"
    log_tailed_relu = "log_tailed_relu"
    relu_grad = "relu_grad"
    gaussian_grad = "gaussian_grad"
    inv_square_grad = "inv_square_grad"
    multi_gaussian_grad = "multi_gaussian_grad"
    slayer_grad = "slayer_grad"
    atan = "atan"
    fast_sigmoid = "fast_sigmoid"
    superspike = "superspike"
    triangle = "triangle"
    parabola = "parabola"
    gaussian = "gaussian"
    ste = "ste"


class ThresholdShape(str, enum.Enum):
    """One firing threshold per layer, or one per neuron (learnable or fixed either way)."""

    layer = "layer"
    per_neuron = "per_neuron"


class SynapticKernel(str, enum.Enum):
    """Synaptic current filter (with ``synaptic=True``)."""

    exponential = "exponential"  # first order: i = synaptic_beta * i + x
    alpha = "alpha"  # second order: r = synaptic_rise_beta * r + x ; i = synaptic_beta * i + r


class Backend(str, enum.Enum):
    """Which implementation runs a neuron layer's sequence (``brain_ai.core.backend``).

    ``eager``: the generic per-step unroll (any neuron). ``fused``: the whole-sequence autograd
    Function with its PyTorch time loop (LIF / adaptive LIF). ``triton``: the same Function with
    the Triton kernels (CUDA tensors, or CPU tensors under the Triton interpreter). ``compiled``:
    the recurrent adaptive LIF's Function with its time loops compiled by numba (CPU, float32 /
    float64). ``auto``: triton on CUDA when it can run, compiled on CPU when it can run, else fused
    when the layer supports it, else eager.
    """

    auto = "auto"
    eager = "eager"
    fused = "fused"
    triton = "triton"
    compiled = "compiled"


#: Neuron types with numba-compiled time loops (``backend=compiled``, :mod:`brain_ai.core.compiled_recurrent`)
COMPILED_NEURON_TYPES = frozenset({NeuronType.recurrent_adaptive_lif})


class TauDistribution(str, enum.Enum):
    """How AdvancedLIFNeuron draws its per-neuron membrane time constants."""

    constant = "constant"
    uniform = "uniform"
    lognormal = "lognormal"


class Architecture(str, enum.Enum):
    """Network family: spiking (``mlp``, ``conv``) or a non-spiking recurrent baseline (``lstm``, ``gru``)."""

    mlp = "mlp"
    conv = "conv"
    lstm = "lstm"  # torch.nn.LSTM layers + a linear readout (brain_ai.core.ann)
    gru = "gru"  # torch.nn.GRU layers + a linear readout (brain_ai.core.ann)


#: the non-spiking architectures (no spiking layers, no neuron config; a linear readout per step)
NON_SPIKING_ARCHITECTURES = frozenset({Architecture.lstm, Architecture.gru})


class LearningRule(str, enum.Enum):
    """How training computes weight gradients through time (docs/training.md).

    ``bptt``: backpropagation through the whole sequence (memory grows with T). ``ottt`` (online
    training through time, Xiao et al. 2022) and ``sltt`` (spatial learning through time, Meng et
    al. 2023) compute a loss at every step and its gradients at once, with the state detached
    between steps, so memory does not grow with T (brain_ai.core.learning_rules).
    """

    bptt = "bptt"
    ottt = "ottt"
    sltt = "sltt"


#: learning rules that learn step by step (no graph kept across steps)
ONLINE_RULES = frozenset({LearningRule.ottt, LearningRule.sltt})


class NormType(str, enum.Enum):
    batch = "batch"
    none = "none"


class Readout(str, enum.Enum):
    """Output layer: spiking neurons, or a non-spiking leaky integrator (for membrane decoding;
    its decay follows ``snn.readout_tau`` when set, else ``neuron.beta``/``tau``; ``learnable_beta`` and
    ``per_neuron_beta`` as the neurons)."""

    spiking = "spiking"
    membrane = "membrane"


# --------------------------------------------------------------------------------------------
# Neuron + network
# --------------------------------------------------------------------------------------------


#: AdvancedLIF: sampled time constants (steps) are truncated to this range so that beta = exp(-1/tau)
#: stays strictly inside (0, BETA_MAX), where its logit parameterisation is finite
TAU_RANGE = (0.5, 500.0)


@dataclass
class NeuronConfig:
    """Parameters of one spiking neuron population (shared by every layer of an SNN).

    Units: time is in simulation steps of length ``dt``; the per-step membrane decay is ``beta``,
    or ``beta = exp(-dt / tau)`` from a membrane time constant ``tau`` (in the units of ``dt``).
    """

    type: NeuronType = NeuronType.lif
    #: per-step membrane decay in [0, 0.999]; None = from ``tau`` if set, else DEFAULT_BETA (0.9)
    beta: Optional[float] = ranged(None, low=0.0, high=BETA_MAX)
    #: membrane time constant (units of ``dt``); mutually exclusive with ``beta``
    tau: Optional[float] = None
    #: step length for ``beta = exp(-dt / tau)`` (units of ``tau``)
    dt: float = ranged(1.0, low=0.0, low_inclusive=False)
    threshold: float = ranged(1.0, low=0.0, low_inclusive=False)
    #: one threshold per layer, or one per neuron (all starting at ``threshold``)
    threshold_shape: ThresholdShape = ThresholdShape.layer
    reset: ResetMode = ResetMode.subtract
    #: resting potential: the membrane leaks toward it, ``v = beta * v + x + (1 - beta) * v_rest``
    v_rest: float = ranged(0.0)
    #: reset=zero: the membrane after a spike (must be below ``threshold``)
    v_reset: float = 0.0
    #: state dtype: fp32_state (float32 state under autocast) | input_dtype (state in the input's dtype)
    dtype_policy: DtypePolicy = DtypePolicy.fp32_state
    surrogate: SurrogateType = SurrogateType.atan
    #: width/slope parameter of the surrogate; ``None`` uses the surrogate's own default
    surrogate_alpha: Optional[float] = ranged(None)
    #: the surrogate's other parameters by name (e.g. ``{c: 0.05, w: 0.5}`` for piecewise_leaky_relu)
    surrogate_params: Dict[str, float] = field(default_factory=dict)
    #: divide the surrogate gradient by its peak (peak 1); False keeps its published scale
    surrogate_normalize: bool = True
    learnable_beta: bool = False
    #: one beta per neuron instead of one per layer (only meaningful with learnable_beta); with
    #: learnable_adaptation also one adaptation_decay per neuron
    per_neuron_beta: bool = False
    learnable_threshold: bool = False
    #: synaptic current i <- synaptic_beta * i + x feeding the membrane; None = from the encoder:
    #: on for the time codes (encoding=latency / ttfs: one spike per input, which must outlast its
    #: step for the layers to keep firing), off otherwise (brain_ai.core.snn.with_synaptic_default)
    synaptic: Optional[bool] = None
    synaptic_beta: float = ranged(0.8, low=0.0, high=BETA_MAX)
    #: exponential (first order) or alpha (second order: a rise stage with its own decay)
    synaptic_kernel: SynapticKernel = SynapticKernel.exponential
    #: alpha kernel: decay of the rise stage r <- synaptic_rise_beta * r + x feeding i
    synaptic_rise_beta: float = ranged(0.5, low=0.0, high=BETA_MAX)
    #: steps a neuron stays silent (input ignored) after a spike; 0 disables
    refractory_steps: int = ranged(0, low=0, integer=True)
    #: AdaptiveLIF: v_th_eff = threshold + adaptation_alpha * a;  a <- adaptation_decay * a + s
    adaptation_alpha: float = ranged(0.5, low=0.0)
    adaptation_decay: float = ranged(0.95, low=0.0, high=BETA_MAX)
    #: recurrent_adaptive_lif: learn adaptation_decay (= 0.999 * sigmoid(raw), starting at
    #: adaptation_decay, so it stays in (0, 0.999)); per neuron with per_neuron_beta. The
    #: non-recurrent adaptive_lif layers that type builds (conv blocks, spiking readout) keep it fixed
    learnable_adaptation: bool = False
    #: AdvancedLIF: per-neuron tau (steps) drawn from this distribution
    tau_distribution: TauDistribution = TauDistribution.lognormal
    tau_mean: float = ranged(10.0, low=1.0, high=TAU_RANGE[1], low_inclusive=False)
    tau_std: float = ranged(5.0, low=0.0)
    #: AdvancedLIF: learnable per-neuron input delay in [0, max_delay] steps; 0 disables delays
    max_delay: int = ranged(0, low=0, integer=True)
    #: implementation of the sequence (auto | eager | fused | triton | compiled); see :class:`Backend`
    backend: Backend = field(default=Backend.auto, metadata={EXECUTION_ONLY: True})
    #: AdEx (type=adex; equations in brain_ai.core.neurons.adex): slope factor Delta_T of the
    #: exponential spike initiation (threshold units, > 0)
    adex_delta_t: float = ranged(0.1, low=0.0, low_inclusive=False)
    #: AdEx: rheobase potential V_T where the exponential takes over, in (v_rest, threshold)
    adex_v_rheobase: float = 0.8
    #: AdEx: subthreshold coupling a of the adaptation current w to v - v_rest (units of the leak, >= 0)
    adex_a: float = ranged(0.1, low=0.0)
    #: AdEx: spike-triggered jump b of w (threshold units, >= 0)
    adex_b: float = ranged(0.2, low=0.0)
    #: AdEx: time constant tau_w of w (units of ``dt``); w decays by exp(-dt / tau_w) per step
    adex_tau_w: float = 50.0
    #: psn / masked_psn: the fixed number of steps T they map; None = the data's (filled by the pipeline)
    psn_steps: Optional[int] = ranged(None, low=1, integer=True)
    #: masked_psn / sliding_psn: order k (steps each step reads: t - k + 1 .. t), 1 <= k <= T; None = T
    psn_order: Optional[int] = ranged(None, low=1, integer=True)
    #: masked_psn: epochs over which the mask's lambda ramps from 0 (full T x T) to 1 (banded, causal);
    #: 0 = banded from the start
    psn_mask_ramp_epochs: int = ranged(0, low=0, integer=True)

    def __post_init__(self) -> None:
        o = "neuron"
        self.type = coerce_enum(o, "type", self.type, NeuronType)
        self.reset = coerce_enum(o, "reset", self.reset, ResetMode)
        self.dtype_policy = coerce_enum(o, "dtype_policy", self.dtype_policy, DtypePolicy)
        self.threshold_shape = coerce_enum(o, "threshold_shape", self.threshold_shape, ThresholdShape)
        self.surrogate = coerce_enum(o, "surrogate", self.surrogate, SurrogateType)
        self.tau_distribution = coerce_enum(o, "tau_distribution", self.tau_distribution, TauDistribution)
        self.backend = coerce_enum(o, "backend", self.backend, Backend)
        if self.backend is Backend.compiled and self.type not in COMPILED_NEURON_TYPES:
            allowed = ", ".join(sorted(t.value for t in COMPILED_NEURON_TYPES))
            raise ConfigError(
                f"{o}.backend=compiled needs a neuron with a compiled loop ({o}.type={allowed}), got {o}.type={self.type.value}; "
                f"use {o}.backend=auto, fused or eager"
            )
        if self.beta is not None and self.tau is not None:
            raise ConfigError(
                f"{o}.beta={self.beta!r} and {o}.tau={self.tau!r} are mutually exclusive; set one (beta = exp(-dt/tau))"
            )
        check_field_ranges(o, self)
        if self.tau is not None:
            # beta = exp(-dt/tau) <= BETA_MAX  <=>  tau <= -dt / ln(BETA_MAX)
            check_range(o, "tau", self.tau, low=0.0, high=tau_max(self.dt), low_inclusive=False)
        check_reset_potential(o, self.v_reset, self.reset, self.threshold)
        if not isinstance(self.surrogate_params, dict) or not all(isinstance(k, str) for k in self.surrogate_params):
            raise ConfigError(
                f"{o}.surrogate_params={self.surrogate_params!r} must be a mapping of parameter name -> number"
            )
        for key, value in self.surrogate_params.items():
            check_range(o, f"surrogate_params.{key}", value)
        self.synaptic_kernel = coerce_enum(o, "synaptic_kernel", self.synaptic_kernel, SynapticKernel)
        if self.synaptic_kernel is SynapticKernel.alpha and not self.synaptic:
            raise ConfigError(f"{o}.synaptic_kernel=alpha needs {o}.synaptic=true (it filters the synaptic current)")
        if self.learnable_adaptation:
            if self.type is not NeuronType.recurrent_adaptive_lif:
                raise ConfigError(
                    f"{o}.learnable_adaptation=true needs {o}.type=recurrent_adaptive_lif, got {o}.type={self.type.value}"
                )
            check_range(
                o,
                "adaptation_decay",
                self.adaptation_decay,
                low=0.0,
                high=BETA_MAX,
                low_inclusive=False,
                high_inclusive=False,
            )
        check_tau_draw(o, self.tau_distribution, self.tau_mean, self.tau_std)
        if self.type is NeuronType.adex:
            check_adex(
                o,
                self.threshold,
                self.v_rest,
                self.dt,
                self.adex_delta_t,
                self.adex_v_rheobase,
                self.adex_tau_w,
            )
        self._check_psn(o)

    def _check_psn(self, o: str) -> None:
        """The parallel spiking neurons' fields: set only for the types that read them, in range; the
        LIF dynamics they lack (reset, synaptic current, ...) left at their defaults; no fused kernel."""
        if self.psn_order is not None and self.psn_steps is not None and self.type is NeuronType.masked_psn:
            check_range(o, "psn_order", self.psn_order, low=1, high=self.psn_steps, integer=True)
        readers = {
            "psn_steps": FIXED_STEP_PSN_TYPES,
            "psn_order": {NeuronType.masked_psn, NeuronType.sliding_psn},
            "psn_mask_ramp_epochs": {NeuronType.masked_psn},
        }
        for name, types in readers.items():
            if getattr(self, name) != NeuronConfig.__dataclass_fields__[name].default and self.type not in types:
                allowed = ", ".join(sorted(t.value for t in types))
                raise ConfigError(
                    f"{o}.{name}={getattr(self, name)!r} is read only by {o}.type={allowed}, got {o}.type={self.type.value}"
                )
        if self.type not in PSN_TYPES:
            return
        for name in _NOT_PSN_FIELDS:
            value, default = getattr(self, name), NeuronConfig.__dataclass_fields__[name].default
            if value != default and not (name == "synaptic" and value is False):  # false: none, as unset
                shown = getattr(value, "value", value)
                raise ConfigError(
                    f"{o}.{name}={shown!r} is not available for {o}.type={self.type.value}: a parallel spiking "
                    f"neuron has no reset, membrane potential levels, synaptic current, refractory period or delays; allowed: "
                    f"{getattr(default, 'value', default)!r}"
                )
        if self.backend not in (Backend.auto, Backend.eager):
            raise ConfigError(
                f"{o}.backend={self.backend.value} is not available for {o}.type={self.type.value} (one whole-sequence "
                f"matmul / convolution, no fused or Triton kernel); allowed: auto, eager"
            )


def check_tau_draw(owner: str, distribution: "TauDistribution", mean: float, std: float) -> None:
    """Raise :class:`ConfigError` unless AdvancedLIF's tau distribution can be drawn: ``1 < tau_mean <=``
    ``TAU_RANGE[1]``, ``tau_std >= 0``, and a uniform draw's lower bound ``mean - sqrt(3) std`` > 0."""
    field_range(NeuronConfig, "tau_mean").check(owner, "tau_mean", mean)
    field_range(NeuronConfig, "tau_std").check(owner, "tau_std", std)
    if distribution is TauDistribution.uniform and mean - math.sqrt(3.0) * std <= 0:
        raise ConfigError(
            f"{owner}.tau_std={std!r} is too large for a uniform tau with tau_mean={mean!r}: "
            f"the lower bound tau_mean - sqrt(3)*tau_std = {mean - math.sqrt(3.0) * std:g} must be > 0"
        )


#: AdEx: largest exponent (threshold - v_rheobase) / delta_t of the spike initiation term (its value at
#: the threshold); exp(20) ~ 5e8 keeps the term and its gradient finite in float32
ADEX_MAX_EXPONENT = 20.0


def tau_max(dt: float) -> float:
    """Largest time constant whose decay ``exp(-dt / tau)`` stays <= :data:`BETA_MAX`."""
    return -dt / math.log(BETA_MAX)


def check_adex(
    owner: str,
    threshold: float,
    v_rest: float,
    dt: float,
    delta_t: float,
    v_rheobase: float,
    tau_w: float,
) -> None:
    """Raise :class:`ConfigError` naming the field unless the AdEx parameters fit each other (the
    ranges of one field, ``delta_t > 0`` and ``a, b >= 0``, are on :class:`NeuronConfig`'s fields).

    ``v_rest < v_rheobase < threshold``; ``(threshold - v_rheobase) / delta_t <=``
    :data:`ADEX_MAX_EXPONENT` (else the exponential overflows float32 before the spike);
    ``0 < tau_w <= tau_max(dt)``.
    """
    check_range(
        owner, "adex_v_rheobase", v_rheobase, low=v_rest, high=threshold, low_inclusive=False, high_inclusive=False
    )
    if (threshold - v_rheobase) / delta_t > ADEX_MAX_EXPONENT:
        raise ConfigError(
            f"{owner}.adex_delta_t={delta_t!r} is too small for threshold - adex_v_rheobase = {threshold - v_rheobase:g}: "
            f"exp((threshold - v_rheobase) / delta_t) overflows; allowed: adex_delta_t >= "
            f"{(threshold - v_rheobase) / ADEX_MAX_EXPONENT:g} (exponent at most {ADEX_MAX_EXPONENT:g})"
        )
    check_range(owner, "adex_tau_w", tau_w, low=0.0, high=tau_max(dt), low_inclusive=False)


@dataclass
class SNNConfig:
    """Architecture of an SNN built by ``brain_ai.core.snn.build_snn``.

    ``mlp``: ``input_size -> hidden_sizes... -> output_size``, Linear -> neuron per layer.
    ``conv``: ``input_shape (C, H, W)`` -> [Conv -> norm -> neuron -> pool] per ``conv_channels``
    -> Linear -> neuron per ``hidden_sizes`` -> Linear(output_size) -> readout.
    """

    architecture: Architecture = Architecture.mlp
    #: features per time step entering the MLP; None = inferred from data + encoder. A value
    #: that does not match the data is an error naming this field.
    input_size: Optional[int] = ranged(None, low=1, integer=True)
    #: conv only: per-step input ``[C, H, W]``; None = inferred from data + encoder
    input_shape: Optional[List[int]] = None
    hidden_sizes: List[int] = field(default_factory=lambda: [256])
    #: output neurons; None = inferred from the data's classes and the decoder
    output_size: Optional[int] = ranged(None, low=1, integer=True)
    conv_channels: List[int] = field(default_factory=lambda: [16, 32])
    kernel_size: int = ranged(3, low=1, integer=True)
    pool: int = ranged(2, low=1, integer=True)
    norm: NormType = NormType.batch
    neuron: NeuronConfig = field(default_factory=NeuronConfig)
    dropout: float = ranged(0.0, low=0.0, high=1.0, high_inclusive=False)
    readout: Readout = Readout.spiking
    #: readout=membrane: time constant of the leaky readout (units of ``neuron.dt``; decay
    #: exp(-dt / readout_tau)), independent of the hidden layers' neuron settings (seed 002: readout
    #: synapse tau 10 against the membrane's 20); None = the readout follows ``neuron.beta`` / ``tau``
    readout_tau: Optional[float] = None
    #: truncated BPTT window in steps (state detached between chunks); None = full BPTT
    chunk_size: Optional[int] = field(default=None, metadata={EXECUTION_ONLY: True, RANGE: Range(low=1, integer=True)})
    #: exact BPTT with bounded memory: run the network in segments of this many steps, each
    #: recomputed in backward (torch.utils.checkpoint); None = no checkpointing; at most T
    checkpoint_every: Optional[int] = field(
        default=None, metadata={EXECUTION_ONLY: True, RANGE: Range(low=1, integer=True)}
    )
    #: activation-memory budget (MB) of a training step: the pipeline picks checkpoint_every
    #: for it (brain_ai.core.memory); None = use checkpoint_every as given
    memory_budget_mb: Optional[float] = field(
        default=None, metadata={EXECUTION_ONLY: True, RANGE: Range(low=0.0, low_inclusive=False)}
    )
    #: bptt | ottt | sltt: how gradients flow through time (LearningRule); ottt / sltt keep the graph
    #: of one window of steps at a time (online_window), so training memory does not grow with T
    learning_rule: LearningRule = LearningRule.bptt
    #: learning_rule=sltt only: backpropagate at this many randomly chosen steps per batch
    #: (1 <= sltt_steps <= T, drawn from the batch's generator); None = at every step
    sltt_steps: Optional[int] = ranged(None, low=1, integer=True)
    #: learning_rule=ottt / sltt: steps run and backpropagated together (one graph over this many
    #: steps, with no gradient through time inside it); memory grows with it, not with T, and the
    #: gradient is the same for any value (up to rounding)
    online_window: int = field(default=32, metadata={EXECUTION_ONLY: True, RANGE: Range(low=1, integer=True)})

    def __post_init__(self) -> None:
        o = "snn"
        self.architecture = coerce_enum(o, "architecture", self.architecture, Architecture)
        self.norm = coerce_enum(o, "norm", self.norm, NormType)
        self.readout = coerce_enum(o, "readout", self.readout, Readout)
        self.learning_rule = coerce_enum(o, "learning_rule", self.learning_rule, LearningRule)
        if isinstance(self.neuron, dict):
            self.neuron = from_dict(NeuronConfig, self.neuron)
        check_field_ranges(o, self)
        if self.input_shape is not None:
            check_positive_int_list(o, "input_shape", self.input_shape)
            if len(self.input_shape) != 3:
                raise ConfigError(f"{o}.input_shape={list(self.input_shape)!r} must be [C, H, W] (3 positive integers)")
        check_positive_int_list(o, "hidden_sizes", self.hidden_sizes, allow_empty=True)
        check_positive_int_list(o, "conv_channels", self.conv_channels, allow_empty=True)
        if self.kernel_size % 2 == 0:  # padding k // 2 keeps H x W only for odd k
            raise ConfigError(
                f"{o}.kernel_size={self.kernel_size} must be odd (1, 3, 5, ...): padding kernel_size // 2 keeps the feature map size only then"
            )
        if self.memory_budget_mb is not None:
            if self.neuron.type in FIXED_STEP_PSN_TYPES:
                raise ConfigError(
                    f"{o}.memory_budget_mb={self.memory_budget_mb} is not available for "
                    f"{o}.neuron.type={self.neuron.type.value}: the memory model runs the network at other lengths than "
                    f"its fixed T; allowed: null (or "
                    f"{o}.neuron.type=sliding_psn)"
                )
            if self.checkpoint_every is not None:
                raise ConfigError(
                    f"{o}.memory_budget_mb={self.memory_budget_mb} picks {o}.checkpoint_every itself, but "
                    f"{o}.checkpoint_every={self.checkpoint_every} is set too; allowed: one of them (the other null)"
                )
        self._check_time_split_with_batch_norm(o)
        if self.readout_tau is not None:
            self._check_readout_tau(o)
        if self.architecture in NON_SPIKING_ARCHITECTURES:
            self._check_non_spiking(o)
        if self.architecture is Architecture.conv and not self.conv_channels:
            raise ConfigError(f"{o}.conv_channels=[] but architecture=conv needs at least one conv block")
        self._check_learning_rule(o)

    def _check_learning_rule(self, o: str) -> None:
        """ottt / sltt run one step at a time with the state detached between steps: a network that
        is not stepped by brain_ai (lstm / gru), the parallel spiking neurons (psn family, all steps at
        once), batch norm over the whole sequence, and the other
        ways of splitting time have no meaning there; ``sltt_steps`` belongs to sltt."""
        rule = self.learning_rule.name
        if self.sltt_steps is not None:
            if self.learning_rule is not LearningRule.sltt:
                raise ConfigError(
                    f"{o}.sltt_steps={self.sltt_steps} picks the steps of {o}.learning_rule=sltt, but "
                    f"{o}.learning_rule={rule}; allowed: {o}.sltt_steps=null, or {o}.learning_rule=sltt"
                )
        if self.learning_rule not in ONLINE_RULES:
            return
        bptt = f"{o}.learning_rule=bptt"
        allowed = f"allowed: {bptt}"
        if self.architecture in NON_SPIKING_ARCHITECTURES:
            raise ConfigError(
                f"{o}.learning_rule={rule} is not available for {o}.architecture={self.architecture.name} "
                f"(torch.nn.{self.architecture.name.upper()} runs the whole sequence in one call); {allowed}"
            )
        if self.neuron.type in PSN_TYPES:
            raise ConfigError(
                f"{o}.learning_rule={rule} is not available for {o}.neuron.type={self.neuron.type.value}: "
                f"the parallel spiking neurons compute all steps at once, but {rule} runs one step at a "
                f"time; {allowed}"
            )
        if self.architecture is Architecture.conv and self.norm is NormType.batch:
            raise ConfigError(
                f"{o}.learning_rule={rule} cannot be used with {o}.norm=batch: batch-norm statistics span the "
                f"whole sequence, but {rule} runs one step at a time; {allowed}, or {o}.norm=none"
            )
        for name in ("chunk_size", "checkpoint_every", "memory_budget_mb"):
            value = getattr(self, name)
            if value is not None:
                raise ConfigError(
                    f"{o}.{name}={value} splits time for bptt, but {o}.learning_rule={rule} already runs one "
                    f"step at a time with memory that does not grow with T; allowed: {o}.{name}=null, or {bptt}"
                )

    def _check_readout_tau(self, o: str) -> None:
        """``readout_tau`` is the leaky-integrator readout's: a spiking readout or an LSTM / GRU has none."""
        check_range(o, "readout_tau", self.readout_tau, low=0.0, high=tau_max(self.neuron.dt), low_inclusive=False)
        if self.architecture in NON_SPIKING_ARCHITECTURES:
            raise ConfigError(
                f"{o}.readout_tau={self.readout_tau} is not available for {o}.architecture={self.architecture.name} "
                f"(its readout is linear, with no time constant); allowed: null"
            )
        if self.readout is not Readout.membrane:
            raise ConfigError(
                f"{o}.readout_tau={self.readout_tau} sets the time constant of the leaky-integrator readout, but "
                f"{o}.readout={self.readout.name}; allowed: {o}.readout=membrane, or {o}.readout_tau=null"
            )

    def _check_non_spiking(self, o: str) -> None:
        """LSTM / GRU: at least one recurrent layer, a linear readout read as a membrane, whole-sequence BPTT."""
        arch = self.architecture.name
        if not self.hidden_sizes:
            raise ConfigError(
                f"{o}.hidden_sizes=[] but {o}.architecture={arch} needs at least one recurrent layer (e.g. [128])"
            )
        if self.readout is not Readout.membrane:
            raise ConfigError(
                f"{o}.readout={self.readout.name}: {o}.architecture={arch} has no spikes, its linear readout is read like a "
                f"membrane; allowed: {o}.readout=membrane (with decoding=membrane)"
            )
        for name in ("chunk_size", "checkpoint_every", "memory_budget_mb"):
            value = getattr(self, name)
            if value is not None:
                raise ConfigError(
                    f"{o}.{name}={value} is not available for {o}.architecture={arch} (torch.nn.{arch.upper()} runs the whole sequence); allowed: null"
                )

    def _check_time_split_with_batch_norm(self, o: str) -> None:
        """Batch norm statistics span all T steps of a training batch: a network that runs in
        time segments (truncation, checkpointing) would normalise each segment on its own, and a
        recomputed segment would update the running statistics twice."""
        if self.architecture is not Architecture.conv or self.norm is not NormType.batch:
            return
        for name in ("chunk_size", "checkpoint_every", "memory_budget_mb"):
            value = getattr(self, name)
            if value is not None:
                raise ConfigError(
                    f"{o}.{name}={value} cannot be used with {o}.norm=batch: batch-norm statistics span the whole "
                    f"sequence, so it cannot run (or be recomputed) in time segments; allowed: {o}.norm=none, "
                    f"or {o}.{name}=null"
                )


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
    synthetic_regression = "synthetic_regression"
    smnist = "smnist"


class SequenceMode(str, enum.Enum):
    """How ``data=smnist`` reads a 28 x 28 image as a sequence (raster order, top row first)."""

    row = "row"  # T = 28 steps of one 28-pixel row
    pixel = "pixel"  # T = 784 / pixels_per_step steps of pixels_per_step consecutive pixels


#: the image sets ``data=smnist`` can read as sequences (all 28 x 28 grey images)
SEQUENCE_SOURCES = (DatasetName.mnist5k, DatasetName.mnist, DatasetName.fashion_mnist)
#: side and pixel count of those images
SEQUENCE_IMAGE_SIDE = 28
SEQUENCE_IMAGE_PIXELS = SEQUENCE_IMAGE_SIDE * SEQUENCE_IMAGE_SIDE
#: the DataConfig fields only ``data=smnist`` reads
SEQUENCE_FIELDS = ("source", "mode", "pixels_per_step", "permute", "permutation_seed")


@dataclass
class DataConfig:
    """Which data set to load and how to batch it.

    Static data sets (mnist5k, digits, mnist, fashion_mnist) yield ``x (B, C, H, W)`` floats in
    [0, 1]; event data sets (nmnist, shd, dvsgesture) and ``synthetic`` yield spike/event frames
    ``x (B, T, ...)`` with ``T = n_time_bins`` and need ``encoding=identity``.
    ``synthetic_regression`` is the one regression task: static ``x (B, num_inputs)`` in [0, 1]
    and float targets ``y (B, num_targets)`` in [0, 1] (use ``preset=regression``).
    ``smnist`` reads the images of ``source`` as real-valued sequences ``x (B, T, F)`` in [0, 1]
    (``mode``, ``pixels_per_step``, ``permute``; see :mod:`brain_ai.data.sequential`).
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
    #: static images: shift each training image by up to this many pixels (random, per sample,
    #: zero fill); 0 = no augmentation. Applied in the training step only. None = the data set's
    #: own value (``DataSource.augment_shift``: 2 for mnist5k, 0 for the others)
    augment_shift: Optional[int] = None
    #: event data: number of time bins per sample (tonic.transforms.ToFrame n_time_bins)
    n_time_bins: int = 25
    #: event data: cut by time instead, bins of this width (µs) from each recording's start, so
    #: samples differ in length (ragged: batches padded at the end, with a mask); None = n_time_bins
    bin_width_us: Optional[float] = None
    #: event data: spatial downsampling factor for DVS sensors (1 = none)
    downsample: int = 1
    #: event data: cache binned frames on disk (tonic DiskCachedDataset)
    cache: bool = False
    #: synthetic data: task size (num_classes: synthetic only; num_targets: synthetic_regression only)
    num_classes: int = 10
    num_inputs: int = 100
    num_samples: int = 2000
    num_targets: int = 1
    #: smnist: the image set read as sequences (mnist5k, mnist, fashion_mnist), with its splits
    source: DatasetName = DatasetName.mnist5k
    #: smnist: row (T = 28, 28 pixels per step) or pixel (T = 784 / pixels_per_step)
    mode: SequenceMode = SequenceMode.row
    #: smnist, mode=pixel: consecutive pixels per step (a divisor of 784)
    pixels_per_step: int = 1
    #: smnist: shuffle the 784 pixels by one fixed permutation (drawn from permutation_seed)
    #: before cutting them into steps (permuted sequential MNIST)
    permute: bool = False
    permutation_seed: int = 0

    #: fields that decide which samples land in train / val / test and what each sample holds:
    #: a run resumed with another value would continue on other data (refused on resume)
    SAMPLE_FIELDS: ClassVar[Tuple[str, ...]] = (
        "name",
        "source",
        "val_fraction",
        "seed",
        "limit_train",
        "num_classes",
        "num_inputs",
        "num_samples",
        "num_targets",
        "mode",
        "pixels_per_step",
        "permute",
        "permutation_seed",
    )

    def __post_init__(self) -> None:
        o = "data"
        self.name = coerce_enum(o, "name", self.name, DatasetName)
        self._check_sequence_fields(o)
        check_range(o, "batch_size", self.batch_size, low=1, integer=True)
        check_range(o, "num_workers", self.num_workers, low=0, integer=True)
        check_range(o, "val_fraction", self.val_fraction, low=0.0, high=1.0, high_inclusive=False)
        check_range(o, "seed", self.seed, low=0, integer=True)
        if self.limit_train is not None:
            check_range(o, "limit_train", self.limit_train, low=1, integer=True)
        check_range(o, "n_time_bins", self.n_time_bins, low=1, integer=True)
        if self.bin_width_us is not None:
            check_range(o, "bin_width_us", self.bin_width_us, low=0.0, low_inclusive=False)
        check_range(o, "downsample", self.downsample, low=1, integer=True)
        check_range(o, "num_classes", self.num_classes, low=2, integer=True)
        check_range(o, "num_inputs", self.num_inputs, low=1, integer=True)
        check_range(o, "num_samples", self.num_samples, low=1, integer=True)
        check_range(o, "num_targets", self.num_targets, low=1, integer=True)
        if self.augment_shift is not None:
            check_range(o, "augment_shift", self.augment_shift, low=0, integer=True)

    def _check_sequence_fields(self, o: str) -> None:
        """The smnist fields: valid values, and left at their defaults by every other data set."""
        self.source = coerce_enum(o, "source", self.source, DatasetName)
        self.mode = coerce_enum(o, "mode", self.mode, SequenceMode)
        if self.source not in SEQUENCE_SOURCES:
            raise ConfigError(
                f"{o}.source={self.source.name} is not a 28x28 image set; allowed: {', '.join(s.name for s in SEQUENCE_SOURCES)}"
            )
        check_range(o, "pixels_per_step", self.pixels_per_step, low=1, high=SEQUENCE_IMAGE_PIXELS, integer=True)
        if SEQUENCE_IMAGE_PIXELS % self.pixels_per_step:
            divisors = [k for k in range(1, SEQUENCE_IMAGE_PIXELS + 1) if SEQUENCE_IMAGE_PIXELS % k == 0]
            raise ConfigError(
                f"{o}.pixels_per_step={self.pixels_per_step} does not divide the {SEQUENCE_IMAGE_PIXELS} pixels of an image; "
                f"allowed: {', '.join(map(str, divisors))}"
            )
        if self.mode is SequenceMode.row and self.pixels_per_step != 1:
            raise ConfigError(
                f"{o}.pixels_per_step={self.pixels_per_step} applies to {o}.mode=pixel; {o}.mode=row feeds one row "
                f"({SEQUENCE_IMAGE_SIDE} pixels) per step: use {o}.mode=pixel or drop {o}.pixels_per_step"
            )
        if not isinstance(self.permute, bool):
            raise ConfigError(f"{o}.permute={self.permute!r} must be true or false")
        check_range(o, "permutation_seed", self.permutation_seed, low=0, integer=True)
        if self.name is not DatasetName.smnist:
            defaults = {f.name: f.default for f in dataclasses.fields(self) if f.name in SEQUENCE_FIELDS}
            changed = [f"{o}.{k}={_word(getattr(self, k))}" for k, v in defaults.items() if getattr(self, k) != v]
            if changed:
                raise ConfigError(
                    f"{', '.join(changed)} only apply to data=smnist (sequential images), not data={self.name.name}; remove them"
                )

    @property
    def sequence_steps(self) -> int:
        """smnist: time steps ``T`` of a sequence (784 / :attr:`step_pixels`)."""
        return SEQUENCE_IMAGE_PIXELS // self.step_pixels

    @property
    def step_pixels(self) -> int:
        """smnist: pixels fed per step (28 in row mode, ``pixels_per_step`` in pixel mode)."""
        return SEQUENCE_IMAGE_SIDE if self.mode is SequenceMode.row else self.pixels_per_step


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
    lr: float = ranged(2e-3, low=0.0, low_inclusive=False)
    weight_decay: float = ranged(0.0, low=0.0)
    momentum: float = ranged(0.9, low=0.0, high=1.0)
    scheduler: SchedulerName = SchedulerName.cosine
    #: StepLR: decay lr by ``step_gamma`` every ``step_size`` epochs
    step_size: int = ranged(10, low=1, integer=True)
    step_gamma: float = ranged(0.5, low=0.0, high=1.0, low_inclusive=False)

    def __post_init__(self) -> None:
        o = "optim"
        self.optimizer = coerce_enum(o, "optimizer", self.optimizer, OptimizerName)
        self.scheduler = coerce_enum(o, "scheduler", self.scheduler, SchedulerName)
        check_field_ranges(o, self)


# --------------------------------------------------------------------------------------------
# Spike codec + losses (EncodingConfig, DecodingConfig, LossConfig) and presets
# --------------------------------------------------------------------------------------------


class EncoderType(str, enum.Enum):
    """How ``brain_ai.core.encoding`` turns inputs into spike trains ``(B, T, ...)``."""

    rate_bernoulli = "rate_bernoulli"  # spike with probability p each step
    rate_poisson = "rate_poisson"  # Poisson process of intensity p per step (P(spike) = 1 - e^-p)
    rate_deterministic = "rate_deterministic"  # regular spikes at rate p, no sampling
    latency = "latency"  # stronger input fires earlier (optionally a burst of spikes)
    ttfs = "ttfs"  # time to first spike: exactly one spike per neuron (or none)
    population = "population"  # Gaussian tuning curves, population_size neurons per feature
    delta = "delta"  # ON/OFF spikes where a sequence changes by more than delta_threshold
    identity = "identity"  # the input already is spikes / event frames (B, T, ...)
    direct = "direct"  # the static input itself, repeated as a constant input current for num_steps


class SpikeDtype(str, enum.Enum):
    """Storage dtype of the encoders' spikes; the network converts them at its first layer."""

    float = "float"  # the input's float dtype (float32 for integer input): 4 bytes per element
    uint8 = "uint8"  # 1 byte per element
    bool = "bool"  # 1 byte per element


class NormalizationType(str, enum.Enum):
    """How intensity encoders map raw input to [0, 1] before coding."""

    none = "none"  # input must already lie in [0, 1] (checked)
    minmax = "minmax"  # per sample: (x - min) / (max - min); any finite input
    sigmoid = "sigmoid"  # 1 / (1 + exp(-x)); input in [-10, 10] (checked: beyond, all 0 or 1)
    clamp = "clamp"  # min(max(x, 0), 1); input in [-1, 2] (checked: clips small excursions only)


class LatencyMapping(str, enum.Enum):
    """Intensity x in [0, 1] -> spike time t in [t_min, t_max] (stronger = earlier)."""

    linear = "linear"  # t = t_max - x (t_max - t_min)
    exponential = "exponential"  # t = t_min + latency_tau * ln(1 / x)
    log = "log"  # t = t_max - (t_max - t_min) ln(1 + (e - 1) x)


class CentersMode(str, enum.Enum):
    """Where population-coding tuning curves are centred in [0, 1]."""

    linear = "linear"  # evenly spaced
    uniform = "uniform"  # drawn uniformly at random (seeded), sorted
    learned = "learned"  # evenly spaced at start, trained (nn.Parameter)


class DecoderType(str, enum.Enum):
    """How ``brain_ai.core.decoding`` turns output sequences into logits / predictions."""

    rate = "rate"
    first_spike = "first_spike"
    population = "population"
    membrane = "membrane"
    ensemble = "ensemble"


class Task(str, enum.Enum):
    """What a data set's targets are, and so what the decoder returns (``brain_ai.core.decoding``)."""

    classification = "classification"  # targets: class indices (B,) int64 -> ClassificationOutput
    regression = "regression"  # targets: values (B, D) float -> RegressionOutput (estimate)


class PopulationMode(str, enum.Enum):
    classification = "classification"  # argmax over group spike counts
    regression = "regression"  # expectation of the centres weighted by group rates


class MembraneReduce(str, enum.Enum):
    """Reduction over time of a non-spiking readout's membrane (B, T, C) -> (B, C)."""

    final = "final"
    max = "max"
    mean = "mean"


class TemporalPenalty(str, enum.Enum):
    """Temporal-consistency penalty on a layer's population rate r_t."""

    l1 = "l1"  # mean |r_t - mean(r_{t-W..t-1})|
    l2 = "l2"  # mean (r_t - mean(r_{t-W..t-1}))^2
    variance = "variance"  # mean variance of r inside sliding windows of W steps


class TaskLoss(str, enum.Enum):
    """The task term of :class:`LossConfig` (weighted by ``w_<name>``)."""

    probspikes = "probspikes"  # spike-count cross-entropy on the output spikes
    first_spike = "first_spike"  # cross-entropy on -t_first / T (differentiable first-spike time)
    cross_entropy = "cross_entropy"  # cross-entropy on the decoder's logits_proxy
    mse = "mse"  # mean squared error of the decoder's estimate (regression)


@dataclass
class EncodingConfig:
    """Input encoder (``brain_ai.core.encoding.build_encoder``). Times are in simulation steps."""

    #: keys removed from this group -> what a user should do instead (an error names it)
    REMOVED: ClassVar[Dict[str, str]] = {
        "sequence_input": "whether the input is a real-valued sequence comes from the data set (data=smnist: "
        "encoding=direct passes each sequence on with its own T); remove it",
    }

    type: EncoderType = EncoderType.rate_bernoulli
    #: time steps T of the encoded window (ignored by identity/delta, whose input has its own T)
    num_steps: int = 25
    normalization: NormalizationType = NormalizationType.minmax
    #: in eval mode, replace sampling by a deterministic code (regular spikes, no jitter)
    deterministic_eval: bool = True
    #: rate encoders: p = clamp(rate_gain * x + rate_bias, 0, 1)
    rate_gain: float = 1.0
    rate_bias: float = 0.0
    #: seed of the encoder's torch.Generator (None = global RNG)
    seed: Optional[int] = None
    latency_mapping: LatencyMapping = LatencyMapping.exponential
    #: exponential mapping time constant (steps)
    latency_tau: float = 5.0
    t_min: int = 0
    #: latest spike time; None = num_steps - 1
    t_max: Optional[int] = None
    #: latency/ttfs: zero intensity (or a time beyond t_max) emits no spike instead of firing at t_max
    allow_no_spike: bool = True
    #: latency/ttfs: std (steps) of Gaussian jitter added to spike times in training mode only
    jitter: float = 0.0
    #: latency: consecutive spikes emitted from the latency time on (ttfs requires 1)
    latency_burst: int = 1
    population_size: int = 8
    #: width of the Gaussian tuning curves on the [0, 1] scale
    population_sigma: float = 0.1
    centers: CentersMode = CentersMode.linear
    #: population: zero intensity emits no spike, as in the rate codes (the classification preset's
    #: choice): the centres lie in (0, 1] (linear: k / P, k = 1..P) and each unit's rate is its tuning
    #: curve's rise above its value at 0, rescaled to peak at 1. False: the classic code, whose unit
    #: centred at 0 fires at every step on every empty pixel (an image's background)
    population_silent_zero: bool = False
    #: delta: change (after normalisation) that triggers an ON / OFF spike
    delta_threshold: float = 0.1
    #: storage of the emitted spikes: float (the input's float dtype), uint8 or bool (1 byte per
    #: element instead of 4, converted to the compute dtype at the network's first layer; the
    #: same results). direct emits real-valued currents and takes only float.
    spike_dtype: SpikeDtype = field(default=SpikeDtype.float, metadata={EXECUTION_ONLY: True})

    def __post_init__(self) -> None:
        o = "encoding"
        self.type = coerce_enum(o, "type", self.type, EncoderType)
        self.normalization = coerce_enum(o, "normalization", self.normalization, NormalizationType)
        self.latency_mapping = coerce_enum(o, "latency_mapping", self.latency_mapping, LatencyMapping)
        self.centers = coerce_enum(o, "centers", self.centers, CentersMode)
        self.spike_dtype = coerce_enum(o, "spike_dtype", self.spike_dtype, SpikeDtype)
        if self.type is EncoderType.direct and self.spike_dtype is not SpikeDtype.float:
            raise ConfigError(
                f"{o}.spike_dtype={self.spike_dtype.name} does not fit {o}.type=direct, which emits real-valued input currents, "
                f"not 0/1 spikes; allowed: float"
            )
        if (
            self.type is EncoderType.population
            and self.centers is CentersMode.learned
            and self.spike_dtype is not SpikeDtype.float
        ):
            raise ConfigError(
                f"{o}.spike_dtype={self.spike_dtype.name} carries no gradient to the learned centres ({o}.centers=learned); "
                f"allowed: spike_dtype=float, or centers=linear / uniform"
            )
        check_range(o, "num_steps", self.num_steps, low=1, integer=True)
        check_range(o, "rate_gain", self.rate_gain)
        check_range(o, "rate_bias", self.rate_bias)
        if self.seed is not None:
            check_range(o, "seed", self.seed, low=0, integer=True)
        check_range(o, "latency_tau", self.latency_tau, low=0.0, low_inclusive=False)
        check_range(o, "t_min", self.t_min, low=0, high=self.num_steps - 1, integer=True)
        if self.t_max is not None:
            check_range(o, "t_max", self.t_max, low=self.t_min, high=self.num_steps - 1, integer=True)
        check_range(o, "jitter", self.jitter, low=0.0)
        check_range(o, "latency_burst", self.latency_burst, low=1, integer=True)
        if self.type is EncoderType.ttfs and self.latency_burst != 1:
            raise ConfigError(f"{o}.latency_burst={self.latency_burst!r} must be 1 when type=ttfs (exactly one spike)")
        check_range(o, "population_size", self.population_size, low=1, integer=True)
        check_range(o, "population_sigma", self.population_sigma, low=0.0, low_inclusive=False)
        check_range(o, "delta_threshold", self.delta_threshold, low=0.0, low_inclusive=False)

    @property
    def last_spike_step(self) -> int:
        """``t_max`` resolved against ``num_steps`` (steps)."""
        return self.num_steps - 1 if self.t_max is None else self.t_max


@dataclass
class DecodingConfig:
    """Output decoder (``brain_ai.core.decoding.build_decoder``)."""

    type: DecoderType = DecoderType.rate
    #: logits = statistic / temperature (rate, first_spike, population classification, membrane);
    #: 0.2 is the default run's tuned value (seed 001 names 1.0)
    temperature: float = 0.2
    #: guards divisions and logs
    eps: float = 1e-7
    population_mode: PopulationMode = PopulationMode.classification
    #: output neurons per class (population decoder)
    population_size: int = 8
    membrane_reduce: MembraneReduce = MembraneReduce.max
    #: ensemble: member decoders and their weights (normalised to sum 1)
    ensemble_members: List[DecoderType] = field(default_factory=lambda: [DecoderType.rate, DecoderType.first_spike])
    ensemble_weights: List[float] = field(default_factory=lambda: [0.5, 0.5])

    def __post_init__(self) -> None:
        o = "decoding"
        self.type = coerce_enum(o, "type", self.type, DecoderType)
        self.population_mode = coerce_enum(o, "population_mode", self.population_mode, PopulationMode)
        self.membrane_reduce = coerce_enum(o, "membrane_reduce", self.membrane_reduce, MembraneReduce)
        self.ensemble_members = [coerce_enum(o, "ensemble_members", m, DecoderType) for m in self.ensemble_members]
        check_range(o, "temperature", self.temperature, low=0.0, low_inclusive=False)
        check_range(o, "eps", self.eps, low=0.0, low_inclusive=False)
        check_range(o, "population_size", self.population_size, low=1, integer=True)
        if self.type is DecoderType.ensemble:
            self._check_ensemble(o)

    def _check_ensemble(self, o: str) -> None:
        if not self.ensemble_members:
            raise ConfigError(f"{o}.ensemble_members=[] must name at least one decoder")
        if DecoderType.ensemble in self.ensemble_members:
            raise ConfigError(
                f"{o}.ensemble_members={[m.name for m in self.ensemble_members]} may not contain ensemble"
            )
        if self.population_mode is PopulationMode.regression and DecoderType.population in self.ensemble_members:
            raise ConfigError(
                f"{o}.population_mode=regression cannot be combined in an ensemble; allowed: classification"
            )
        if len(self.ensemble_weights) != len(self.ensemble_members):
            raise ConfigError(
                f"{o}.ensemble_weights={list(self.ensemble_weights)!r} needs one weight per member "
                f"({len(self.ensemble_members)} members)"
            )
        for w in self.ensemble_weights:
            check_range(o, "ensemble_weights", w, low=0.0)
        if sum(self.ensemble_weights) <= 0:
            raise ConfigError(f"{o}.ensemble_weights={list(self.ensemble_weights)!r} must have a positive sum")


@dataclass
class LossConfig:
    """Loss composition (``brain_ai.core.losses.build_loss``): a task term + weighted regularisers.

    The task term is chosen by ``task_loss``. Every term is weighted by ``w_<term>`` and logged as
    ``train/loss/<term>``: task terms ``probspikes``, ``first_spike``, ``cross_entropy``, ``mse``;
    regularisers ``rate_reg``, ``temporal``, ``isi``, ``membrane``. A regulariser with weight 0 is
    not built.
    """

    #: deprecated key -> its new name (the old key still works for one release, with a warning)
    DEPRECATED: ClassVar[Dict[str, str]] = {"w_rate": "w_rate_reg"}

    task_loss: TaskLoss = TaskLoss.probspikes
    w_probspikes: float = 1.0
    w_first_spike: float = 1.0
    w_cross_entropy: float = 1.0
    w_mse: float = 1.0
    #: weight of the rate regulariser (loss term ``rate_reg``)
    w_rate_reg: float = 0.1
    w_temporal: float = 0.01
    w_isi: float = 0.01
    #: 0 (off) in the default run (seed 001 names 0.001)
    w_membrane: float = 0.0
    #: target firing rate (spikes / step) of every layer unless overridden in rate_targets
    target_rate: float = 0.1
    #: per-layer target rates, e.g. {"layer0": 0.05}
    rate_targets: Dict[str, float] = field(default_factory=dict)
    #: range penalty relu(rate_min - r)^2 + relu(r - rate_max)^2 on per-neuron rates
    rate_min: float = 0.0
    rate_max: float = 1.0
    #: a neuron firing at >= this rate counts as saturated in the diagnostics
    saturation_threshold: float = 0.95
    #: 0.2 is the default run's tuned value (seed 001 names 1.0)
    probspikes_temperature: float = 0.2
    probspikes_eps: float = 1e-7
    first_spike_temperature: float = 1.0
    temporal_window: int = 1
    temporal_penalty: TemporalPenalty = TemporalPenalty.l1
    isi_refractory_window: int = 3
    #: ISI kernel exp(-d / isi_tau) for spike distances d = 1..isi_refractory_window (steps)
    isi_tau: float = 1.0
    #: membrane regularisation: penalise |v| beyond this
    max_membrane: float = 2.0
    #: deprecated alias of ``w_rate_reg`` (removed in the next release); a value moves there, with a warning
    w_rate: Optional[float] = None

    def __post_init__(self) -> None:
        o = "loss"
        self._move_deprecated_aliases(o)
        self.task_loss = coerce_enum(o, "task_loss", self.task_loss, TaskLoss)
        self.temporal_penalty = coerce_enum(o, "temporal_penalty", self.temporal_penalty, TemporalPenalty)
        for name in (
            "w_probspikes",
            "w_first_spike",
            "w_cross_entropy",
            "w_mse",
            "w_rate_reg",
            "w_temporal",
            "w_isi",
            "w_membrane",
        ):
            check_range(o, name, getattr(self, name), low=0.0)
        if self.task_weight <= 0:
            raise ConfigError(
                f"{o}.w_{self.task_loss.name}={self.task_weight!r} must be > 0 (task_loss={self.task_loss.name})"
            )
        check_range(o, "target_rate", self.target_rate, low=0.0, high=1.0)
        if not isinstance(self.rate_targets, dict):
            raise ConfigError(f"{o}.rate_targets={self.rate_targets!r} must be a mapping layer name -> rate")
        for layer, rate in self.rate_targets.items():
            check_range(o, f"rate_targets[{layer!r}]", rate, low=0.0, high=1.0)
        check_range(o, "rate_min", self.rate_min, low=0.0, high=1.0)
        check_range(o, "rate_max", self.rate_max, low=self.rate_min, high=1.0)
        check_range(o, "saturation_threshold", self.saturation_threshold, low=0.0, high=1.0, low_inclusive=False)
        check_range(o, "probspikes_temperature", self.probspikes_temperature, low=0.0, low_inclusive=False)
        check_range(
            o, "probspikes_eps", self.probspikes_eps, low=0.0, high=1.0, low_inclusive=False, high_inclusive=False
        )
        check_range(o, "first_spike_temperature", self.first_spike_temperature, low=0.0, low_inclusive=False)
        check_range(o, "temporal_window", self.temporal_window, low=1, integer=True)
        if self.temporal_penalty is TemporalPenalty.variance and self.temporal_window < 2:
            raise ConfigError(
                f"{o}.temporal_window={self.temporal_window!r} with temporal_penalty=variance; allowed: >= 2"
            )
        check_range(o, "isi_refractory_window", self.isi_refractory_window, low=1, integer=True)
        check_range(o, "isi_tau", self.isi_tau, low=0.0, low_inclusive=False)
        check_range(o, "max_membrane", self.max_membrane, low=0.0)

    def _move_deprecated_aliases(self, o: str) -> None:
        for old, new in self.DEPRECATED.items():
            value = getattr(self, old)
            if value is None:
                continue
            default = next(f.default for f in dataclasses.fields(self) if f.name == new)
            if getattr(self, new) not in (default, value):
                raise ConfigError(
                    f"{o}.{old}={value!r} (deprecated) and {o}.{new}={getattr(self, new)!r} are both set; set only {o}.{new}"
                )
            warnings.warn(
                f"{o}.{old} is deprecated and will be removed in the next release; use {o}.{new}",
                FutureWarning,
                stacklevel=4,
            )
            setattr(self, new, value)
            setattr(self, old, None)

    @property
    def task_weight(self) -> float:
        """Weight of the selected task term (``w_<task_loss>``)."""
        return getattr(self, f"w_{self.task_loss.name}")


@dataclass
class CodecPreset:
    """A coherent encoding + decoding + loss bundle (see the ``*_preset()`` functions)."""

    encoding: EncodingConfig = field(default_factory=EncodingConfig)
    decoding: DecodingConfig = field(default_factory=DecodingConfig)
    loss: LossConfig = field(default_factory=LossConfig)

    def __post_init__(self) -> None:
        for name, cls in (("encoding", EncodingConfig), ("decoding", DecodingConfig), ("loss", LossConfig)):
            value = getattr(self, name)
            if isinstance(value, dict):
                setattr(self, name, from_dict(cls, value))
            elif not isinstance(value, cls):
                raise ConfigError(f"preset.{name}={value!r} must be a {cls.__name__}")
        d, task = self.decoding, self.loss.task_loss
        regression = d.type is DecoderType.population and d.population_mode is PopulationMode.regression
        if regression != (task is TaskLoss.mse):
            raise ConfigError(
                f"preset.loss.task_loss={task.name!r} does not fit decoding.type={d.type.name} "
                f"(population_mode={d.population_mode.name}); allowed: mse exactly for population regression"
            )


def rate_classification_preset() -> CodecPreset:
    """Bernoulli rate code -> spike-count decoding -> ProbSpikes + rate/ISI/temporal regularisers.

    This is the default run's codec: every value is the dataclass default.
    """
    return CodecPreset()


def ttfs_classification_preset() -> CodecPreset:
    """Time-to-first-spike code -> earliest output wins -> cross-entropy on -t_first / T.

    Its encoding is also ``encoding=ttfs``: 15 steps, one spike per pixel, which the network reads
    through the synaptic current a time code gets (the recipe of ``encoding=ttfs
    loss=rate_classification``: docs/codecs-losses.md#time-codes).
    """
    return CodecPreset(
        encoding=EncodingConfig(type=EncoderType.ttfs, num_steps=15, latency_mapping=LatencyMapping.linear),
        decoding=DecodingConfig(type=DecoderType.first_spike, temperature=0.1),
        # no activity regularisers: the first-spike loss alone (w_rate_reg 0.01 toward rate 0.05 gave
        # 94.9 % over 3 seeds on mnist5k, without it 95.3 %)
        loss=LossConfig(
            task_loss=TaskLoss.first_spike, first_spike_temperature=0.1, w_rate_reg=0.0, w_temporal=0.0, w_isi=0.0
        ),
    )


def population_classification_preset() -> CodecPreset:
    """Gaussian population code in (silent at zero intensity: ``population_silent_zero``) -> grouped
    output counts -> cross-entropy on group rates. Its encoding is also ``encoding=population``."""
    return CodecPreset(
        encoding=EncodingConfig(type=EncoderType.population, population_silent_zero=True),
        decoding=DecodingConfig(type=DecoderType.population, population_size=4),
        loss=LossConfig(task_loss=TaskLoss.cross_entropy, w_temporal=0.0, w_isi=0.0),
    )


def regression_preset() -> CodecPreset:
    """Population code of [0, 1] inputs -> population regression decoding (expected centre) -> MSE."""
    return CodecPreset(
        encoding=EncodingConfig(type=EncoderType.population, normalization=NormalizationType.none),
        decoding=DecodingConfig(type=DecoderType.population, population_mode=PopulationMode.regression),
        loss=LossConfig(task_loss=TaskLoss.mse, w_rate_reg=0.01, w_temporal=0.0, w_isi=0.0),
    )


#: preset name (the word users type) -> factory
CODEC_PRESETS = {
    "rate_classification": rate_classification_preset,
    "ttfs_classification": ttfs_classification_preset,
    "population_classification": population_classification_preset,
    "regression": regression_preset,
}


# --------------------------------------------------------------------------------------------
# Efficiency estimate (brain_ai.metrics.efficiency)
# --------------------------------------------------------------------------------------------


@dataclass
class EfficiencyConfig:
    """Energy per operation of the efficiency estimate (``brain_ai.metrics.efficiency``):
    ``energy_pj = e_ac_pj * ACs + e_mac_pj * MACs``, an estimate from operation counts.

    Defaults: 32-bit floating-point add 0.9 pJ and multiply-accumulate 4.6 pJ (3.7 pJ multiply +
    0.9 pJ add) in 45 nm CMOS, M. Horowitz, "Computing's energy problem (and what we can do about
    it)", ISSCC 2014 -- the figures the SNN literature cites.
    """

    #: energy of one accumulate (a spike arriving at a synapse), picojoules
    e_ac_pj: float = ranged(0.9, low=0.0)
    #: energy of one multiply-accumulate (a real-valued input at a synapse), picojoules
    e_mac_pj: float = ranged(4.6, low=0.0)

    def __post_init__(self) -> None:
        check_field_ranges("efficiency", self)


#: config group name -> its schema dataclass (registered as Hydra groups by brain_ai.hydra_store)
CONFIG_GROUPS: Dict[str, type] = {
    "snn": SNNConfig,
    "encoding": EncodingConfig,
    "decoding": DecodingConfig,
    "loss": LossConfig,
    "data": DataConfig,
    "optim": OptimConfig,
    "efficiency": EfficiencyConfig,
}


def execution_only_settings() -> FrozenSet[str]:
    """Dotted keys of every :data:`EXECUTION_ONLY` setting of the config groups (``snn.checkpoint_every``,
    ``snn.neuron.backend``, ...): read by the resume check and the HParams columns."""
    return frozenset().union(*(execution_only_fields(cls, group) for group, cls in CONFIG_GROUPS.items()))
