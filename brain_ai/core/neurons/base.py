"""Module shells: parameters/buffers, state lifecycle and input checks around the pure steps.

``NeuronLayerBase`` is every neuron layer's: the parameter object (``params``, a
:class:`~brain_ai.config.NeuronConfig`), the state lifecycle, the input checks and the sequence
path through ``run_segments`` (the parallel spiking neurons of ``psn.py`` derive from it
directly). ``LeakyCellBase`` adds the membrane decay ``beta`` and the backend decided per device;
``SpikingNeuronBase`` adds threshold, surrogate, reset mode, synaptic current and refractory
period. Subclasses only declare their state fields (``state_shapes``) and call one pure step
function (``_step``).
"""

from __future__ import annotations

import abc
import dataclasses
from typing import Any, ClassVar, Dict, FrozenSet, Optional, Tuple, Union

import torch
from torch import Tensor, nn

from brain_ai.config import (
    BETA_MAX,
    DEFAULT_BETA,
    Backend,
    ConfigError,
    DtypePolicy,
    NeuronConfig,
    NeuronType,
    SynapticKernel,
    ThresholdShape,
    check_range,
    check_reset_potential,
)
from brain_ai.core.backend import compiled_unsupported, resolve_backend
from brain_ai.core.fused import fused_lif_sequence
from brain_ai.core.neurons.state import SpikingState, carry, check_finite, check_state, state_dtype_for
from brain_ai.core.surrogates import Surrogate, get_surrogate
from brain_ai.core.unroll import Record, SegmentFn, check_record, run_segments, step_segment, traces_of

Size = Union[int, Tuple[int, ...]]


def as_shape(owner: str, size: Any) -> Tuple[int, ...]:
    """Feature shape of one step (excluding batch) from an int or a tuple of positive ints."""
    shape = (size,) if isinstance(size, int) and not isinstance(size, bool) else tuple(size)
    if not shape or any(isinstance(n, bool) or not isinstance(n, int) or n <= 0 for n in shape):
        raise ValueError(f"{owner}: size={size!r} must be a positive int or a tuple of positive ints")
    return shape


#: parameters a keyword constructor may give as a tensor (per-neuron initial values) instead of a number
TENSOR_VALUES = ("beta", "tau", "threshold")


def neuron_params(
    owner: str,
    params: Optional[NeuronConfig],
    neuron_type: Optional[NeuronType],
    overrides: Dict[str, Any],
    tensor_values: Tuple[str, ...] = TENSOR_VALUES,
) -> Tuple[NeuronConfig, Dict[str, Any]]:
    """A layer's parameter object and the initial values that are not config numbers.

    ``params`` (a :class:`~brain_ai.config.NeuronConfig`, or a subclass with more fields; None =
    the defaults with ``type=neuron_type``) with the field ``overrides`` applied through the
    dataclass, which validates them: ``LIFNeuron(128, beta=0.9)`` is
    ``LIFNeuron(128, NeuronConfig(type="lif", beta=0.9))``. Tensors given for ``tensor_values``
    (the layer's per-neuron initial values, :data:`TENSOR_VALUES` by default) and a
    :class:`Surrogate` instance given for ``surrogate`` are returned apart, by name.
    """

    def apart(key: str, value: Any) -> bool:
        tensor = key in tensor_values and isinstance(value, Tensor)
        return tensor or (key == "surrogate" and isinstance(value, Surrogate))

    initial = {k: overrides.pop(k) for k in list(overrides) if apart(k, overrides[k])}
    if params is not None and not isinstance(params, NeuronConfig):
        raise TypeError(f"{owner}: params must be a NeuronConfig, got {type(params).__name__}")
    cls = type(params) if params is not None else NeuronConfig
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(overrides) - names)
    if unknown:
        raise TypeError(
            f"{owner}: unknown parameter(s) {unknown}; allowed: the fields of {cls.__name__} "
            f"({', '.join(sorted(names))})"
        )
    if "surrogate" in initial and overrides.get("surrogate_alpha") is not None:
        raise TypeError(f"{owner}: surrogate_alpha sets a named surrogate's width; a Surrogate instance has its own")
    try:
        if params is None:
            return cls(**({"type": neuron_type} if neuron_type is not None else {}), **overrides), initial
        return dataclasses.replace(params, **overrides), initial  # a copy: the layer's own
    except ConfigError as err:  # the dataclass names the field (neuron.<field>); add the layer
        raise ConfigError(f"{owner}: {err}") from None


def surrogate_of(params: NeuronConfig, initial: Dict[str, Any]) -> Surrogate:
    """The layer's surrogate: the instance a keyword constructor gave (``initial["surrogate"]``,
    :func:`neuron_params`), else the one ``params`` names (``surrogate``, ``surrogate_alpha``,
    ``surrogate_normalize``, ``surrogate_params``)."""
    return initial.get("surrogate") or get_surrogate(
        params.surrogate.value, params.surrogate_alpha, normalize=params.surrogate_normalize, **params.surrogate_params
    )


def resolve_beta(
    owner: str, beta: Union[float, Tensor, None], tau: Union[float, Tensor, None], dt: float
) -> Union[float, Tensor]:
    """The membrane decay from ``beta`` or from ``tau`` (``beta = exp(-dt / tau)``), never both.

    Neither given: :data:`~brain_ai.config.DEFAULT_BETA`. ``tau`` may be a tensor (per neuron).
    """
    check_range(owner, "dt", dt, low=0.0, low_inclusive=False)
    if tau is None:
        return DEFAULT_BETA if beta is None else beta
    if beta is not None:
        raise ValueError(f"{owner}: beta and tau are mutually exclusive; set one (beta = exp(-dt/tau)), got both")
    tau_t = torch.as_tensor(tau, dtype=torch.float64)
    if not bool(torch.isfinite(tau_t).all()) or bool((tau_t <= 0).any()):
        raise ValueError(f"{owner}: tau={tau!r} must be finite and > 0")
    return torch.exp(-dt / tau_t).to(torch.float32)


def beta_to_raw(beta: Tensor) -> Tensor:
    """Inverse of ``beta = BETA_MAX * sigmoid(raw)`` (needs ``0 < beta < BETA_MAX``)."""
    return torch.logit(beta / BETA_MAX)


def register_decay(module: nn.Module, name: str, init: Tensor, learnable: bool) -> None:
    """Give ``module`` a per-step decay ``name`` in [0, BETA_MAX] starting at ``init``.

    Learnable: a Parameter ``{name}_raw`` with ``decay = BETA_MAX * sigmoid(raw)`` (so no optimiser
    step can leave the range; needs ``0 < init < BETA_MAX``); else a buffer ``{name}_fixed``.
    Read it back with :func:`decay_value`. Out-of-range values raise ``ValueError`` naming ``name``.
    """
    owner = type(module).__name__
    bad = init[~((init >= 0) & (init <= BETA_MAX))]
    if bad.numel():
        raise ValueError(f"{owner}: {name}={bad.flatten()[0].item()!r} is out of range; allowed: [0, {BETA_MAX}]")
    if learnable and bool(((init <= 0) | (init >= BETA_MAX)).any()):
        raise ValueError(
            f"{owner}: learnable {name} needs 0 < {name} < {BETA_MAX} ({name} = {BETA_MAX}*sigmoid(raw)); "
            f"got {name} in [{init.min().item()}, {init.max().item()}]"
        )
    if learnable:
        module.register_parameter(f"{name}_raw", nn.Parameter(beta_to_raw(init)))
    else:
        module.register_buffer(f"{name}_fixed", init)


def decay_value(module: nn.Module, name: str, learnable: bool) -> Tensor:
    """The decay registered by :func:`register_decay` (a differentiable function of the raw Parameter)."""
    if learnable:
        return BETA_MAX * torch.sigmoid(getattr(module, f"{name}_raw"))
    return getattr(module, f"{name}_fixed")


class NeuronLayerBase(nn.Module, metaclass=abc.ABCMeta):
    """Base of every neuron layer: its feature shape, its parameter object, the state lifecycle,
    the input checks and the one sequence path through :func:`~brain_ai.core.unroll.run_segments`.

    A subclass registers its tensors from ``self.params`` (:meth:`_register_values`), declares its
    state fields (:meth:`state_shapes`) and gives the function that runs one time segment
    (:meth:`_segment_fn`). ``dtype_policy`` picks the state dtype
    (:func:`~brain_ai.core.neurons.state.state_dtype_for`): ``fp32_state`` (float32 state for
    fp16/bf16 inputs under autocast) or ``input_dtype`` (the state in the input's dtype).
    """

    #: whether the layer emits spikes (False: its output is a membrane, e.g. the leaky readout)
    spiking: ClassVar[bool] = False
    #: the NeuronType a default parameter object gets (None: the cell has no type of its own)
    neuron_type: ClassVar[Optional[NeuronType]] = None
    #: the implementations this class has (eager: the generic path every layer has)
    backends: ClassVar[FrozenSet[Backend]] = frozenset({Backend.eager})
    #: the fields a keyword constructor may give as tensors (per-neuron initial values, :func:`neuron_params`)
    tensor_values: ClassVar[Tuple[str, ...]] = ()
    #: whether the layer's sequence Functions keep their sequences time-major ``(T, B, *N)``: the
    #: networks then give it its input current as a ``(B, T, *N)`` view of a time-major tensor
    time_major: ClassVar[bool] = False

    def __init__(self, size: Size, params: Optional[NeuronConfig] = None, **overrides: Any) -> None:
        super().__init__()
        owner = type(self).__name__
        self.size = as_shape(owner, size)
        self.params, initial = neuron_params(owner, params, self.neuron_type, overrides, self.tensor_values)
        self._register_values(initial)

    @abc.abstractmethod
    def _register_values(self, initial: Dict[str, Any]) -> None:
        """Register the layer's Parameters and buffers from ``self.params``; ``initial`` holds the
        values a keyword constructor gave as tensors or a :class:`Surrogate` instance (:func:`neuron_params`)."""

    @property
    def dtype_policy(self) -> DtypePolicy:
        return self.params.dtype_policy

    # ---- state lifecycle ----------------------------------------------------------------
    def state_shapes(self, batch_size: int) -> Dict[str, Tuple[int, ...]]:
        """Shape of every state field this cell uses, for a batch of ``batch_size``."""
        return {"v": (batch_size, *self.size)}

    def reset_state(
        self, batch_size: int, device: Optional[torch.device] = None, dtype: torch.dtype = torch.float32
    ) -> SpikingState:
        """Fresh all-zero state for ``batch_size`` samples (nothing is stored on the module)."""
        check_range(type(self).__name__, "batch_size", batch_size, low=1, integer=True)
        return SpikingState(
            **{k: torch.zeros(shape, device=device, dtype=dtype) for k, shape in self.state_shapes(batch_size).items()}
        )

    def detach_state(self, state: SpikingState) -> SpikingState:
        """Same values with the autograd graph cut (truncated BPTT, streaming inference)."""
        return state.detach()

    def _prepare_state(
        self,
        x: Tensor,
        feature_shape: Tuple[int, ...],
        state: Optional[SpikingState],
        layout: str,
        check_values: bool = True,
    ) -> SpikingState:
        owner = type(self).__name__
        if not torch.is_floating_point(x):
            raise TypeError(f"{owner}: input dtype {x.dtype} must be floating point")
        if tuple(feature_shape) != self.size:
            raise ValueError(f"{owner}: input shape {tuple(x.shape)} does not match {layout} with size={self.size}")
        if check_values:
            check_finite(owner, x)
        dtype = state_dtype_for(x.dtype, self.dtype_policy)
        if state is None:
            return self.reset_state(x.shape[0], x.device, dtype)
        check_state(owner, state, self.state_shapes(x.shape[0]), x.device, dtype)
        return state

    # ---- sequence -----------------------------------------------------------------------
    def forward_sequence(
        self,
        x: Tensor,
        state: Optional[SpikingState] = None,
        *,
        chunk_size: Optional[int] = None,
        checkpoint_every: Optional[int] = None,
        record: Record = "none",
        backend: Union[Backend, str, None] = None,
        carry_state: Optional[bool] = None,
    ) -> Tuple[Tensor, Optional[SpikingState], Dict[str, Tensor]]:
        """Whole sequence ``x (B, T, *size)`` -> ``(out (B, T, *size), final_state, traces)``.

        Runs :func:`brain_ai.core.unroll.run_segments` (``chunk_size`` = truncated BPTT window,
        ``checkpoint_every`` = exact checkpointed BPTT segment, ``record`` = "none" | "spikes" |
        "membrane"). Each segment runs the implementation the layer decided (:meth:`_segment_fn`),
        or this call's ``backend`` (auto | eager | fused | triton | compiled, where the layer has
        it). NaN/Inf in ``x`` raise ``ValueError``. ``carry_state``
        (:func:`~brain_ai.core.neurons.state.carry`): None returns the final state attached to the
        graph, True detached (streaming: feed it back as ``state``), False returns None in its
        place (no reference kept).
        """
        out, final, traces = self._run_sequence(
            x, state, chunk_size, checkpoint_every, record, backend, check_values=True
        )
        return out, carry(f"{type(self).__name__}.forward_sequence", final, carry_state), traces

    def _run_sequence(
        self,
        x: Tensor,
        state: Optional[SpikingState],
        chunk_size: Optional[int],
        checkpoint_every: Optional[int],
        record: Record,
        backend: Union[Backend, str, None],
        check_values: bool,
        spatial: bool = False,
    ) -> Tuple[Tensor, SpikingState, Dict[str, Tensor]]:
        """``forward_sequence``; ``check_values=False`` skips the NaN/Inf scan (and its host sync)
        for a caller that checked the values already (the networks check their input once);
        ``spatial``: gradients through each step's spatial path only, every step starting from a
        constant state (online learning, :mod:`brain_ai.core.learning_rules`)."""
        owner = f"{type(self).__name__}.forward_sequence"
        check_record(owner, record)
        if x.dim() < 2 or x.shape[1] < 1:
            raise ValueError(f"{owner}: x must be (B, T>=1, *size), got shape {tuple(x.shape)}")
        state = self._prepare_state(x, x.shape[2:], state, "(B, T, *size)", check_values)
        segment = self._segment_fn(x, state, record, backend, owner, spatial)
        outputs, state = run_segments(segment, x, state, chunk_size=chunk_size, checkpoint_every=checkpoint_every)
        return outputs["out"], state, traces_of(outputs, record)

    @abc.abstractmethod
    def _segment_fn(
        self,
        x: Tensor,
        state: SpikingState,
        record: Record,
        backend: Union[Backend, str, None],
        owner: str,
        spatial: bool = False,
    ) -> SegmentFn:
        """The function that runs one time segment of ``x`` from ``state`` with ``backend`` (None:
        the layer's own decision), returning ``{"out": ..., ["membrane": ...]}`` and the state;
        ``spatial``: gradients through each step's spatial path only (:meth:`_run_sequence`)."""


class LeakyCellBase(NeuronLayerBase):
    r"""Base of every cell with a leaky membrane ``v = beta * v + input``.

    ``beta`` is fixed (a buffer) or learnable. Learnable beta is parameterised as
    ``beta = 0.999 * sigmoid(raw)`` so that no optimiser step can leave [0, 0.999]; it needs an
    initial value strictly inside (0, 0.999). ``per_neuron_beta`` gives one beta per neuron
    (shape ``size``), otherwise one per layer. Give ``tau`` (and ``dt``) instead of ``beta`` for
    ``beta = exp(-dt / tau)``; neither gives beta = 0.9. ``forward`` runs one step;
    ``forward_sequence`` runs the membrane-decayed cell over time with the backend decided when
    the layer was built or moved.
    """

    #: whether ``auto`` may pick this class's Triton kernel on CUDA (False: not yet verified on a GPU)
    auto_triton: ClassVar[bool] = True
    #: whether ``_fused_segment(..., spatial=True)`` has the spatial-only backward of the online rules;
    #: without it they step the cell in PyTorch ops with the state detached at every step
    spatial_fused: ClassVar[bool] = False
    tensor_values = TENSOR_VALUES

    def __init__(self, size: Size, params: Optional[NeuronConfig] = None, **overrides: Any) -> None:
        super().__init__(size, params, **overrides)
        self._decide_backend(self.beta.device)

    def _register_values(self, initial: Dict[str, Any]) -> None:
        p = self.params
        shape = self.size if p.per_neuron_beta else ()
        beta = resolve_beta(type(self).__name__, initial.get("beta", p.beta), initial.get("tau", p.tau), p.dt)
        init = torch.as_tensor(beta, dtype=torch.float32).expand(shape).clone()  # (*N) or ()
        register_decay(self, "beta", init, p.learnable_beta)

    @property
    def learnable_beta(self) -> bool:
        return self.params.learnable_beta

    @property
    def beta(self) -> Tensor:
        """Membrane decay per step, in [0, 0.999]; scalar or ``(*N)``."""
        return decay_value(self, "beta", self.learnable_beta)

    # ---- dynamics -----------------------------------------------------------------------
    @abc.abstractmethod
    def _step(self, x: Tensor, state: SpikingState) -> Tuple[Tensor, SpikingState]:
        """One step of the cell's pure step function (subclasses implement)."""

    def _cell(self, x: Tensor, state: SpikingState) -> Tuple[Tensor, SpikingState]:
        """``(x_t, state) -> (out_t, state)`` without checks (used by ``forward_sequence``)."""
        return self._step(x, state)

    def forward(self, x: Tensor, state: Optional[SpikingState] = None) -> Tuple[Tensor, SpikingState]:
        """One step: ``x (B, *size)`` -> ``(out (B, *size), new_state)``; ``state=None`` = zeros."""
        return self._cell(x, self._prepare_state(x, x.shape[1:], state, "(B, *size)"))

    def _segment_fn(
        self,
        x: Tensor,
        state: SpikingState,
        record: Record,
        backend: Union[Backend, str, None],
        owner: str,
        spatial: bool = False,
    ) -> SegmentFn:
        """The implementation of :attr:`backend` (decided from ``params.backend`` when the layer is
        built or moved), or of this call's ``backend`` (:func:`brain_ai.core.backend.resolve_backend`):
        the fused whole-sequence Function once per segment (the LIF family's ``_fused_segment``), or
        :meth:`_cell` step by step (membrane traces are the post-reset ``state.v``). ``spatial``:
        the fused Function's spatial-only backward where the class has one (:attr:`spatial_fused`),
        else the steps with the state detached at each."""
        call_choice = backend
        if backend is not None:  # this call's own choice
            backend = self._resolve(backend, x.device, owner)
        else:
            if x.device.type != self._backend_device:  # inputs on another device than the layer's tensors
                self._decide_backend(x.device)
            backend = self.backend
        if backend is Backend.compiled:  # the state dtype is known only now (dtype_policy, autocast)
            reason = compiled_unsupported(owner, self.params.type, x.device, state.v.dtype)
            if reason is not None:
                if self.params.backend is not Backend.auto or call_choice is not None:
                    raise ConfigError(
                        f"{owner}: backend='compiled' cannot run: {reason}; use backend=auto, fused or eager"
                    )
                backend = Backend.fused
        if backend is Backend.eager or (spatial and not self.spatial_fused):
            return step_segment(self._cell, record == "membrane", detach_steps=spatial)
        return self._fused_segment(record, backend, spatial=True) if spatial else self._fused_segment(record, backend)

    # ---- backend: decided once per device --------------------------------------------------
    def backend_unsupported(self, backend: Backend) -> Optional[str]:
        """None when ``backend`` (fused or triton) reproduces this layer exactly, else why not."""
        if backend in self.backends:
            return None
        has = ", ".join(b.value for b in Backend if b in self.backends)
        return f"{type(self).__name__} has no {backend.value} kernel (its backends: {has})"

    def _resolve(self, requested: Union[Backend, str], device: torch.device, owner: str) -> Backend:
        """:func:`~brain_ai.core.backend.resolve_backend` for this layer on ``device``."""
        return resolve_backend(
            requested,
            device,
            getattr(self, "surrogate", None),
            self.backend_unsupported(Backend.fused),
            owner=owner,
            triton_reason=self.backend_unsupported(Backend.triton),
            auto_triton=self.auto_triton,
            compiled_reason=self.backend_unsupported(Backend.compiled)
            or compiled_unsupported(owner, self.params.type, device, None),
        )

    def _decide_backend(self, device: torch.device) -> None:
        """Resolve ``params.backend`` for tensors on ``device`` and store it (at build and after every
        move, :meth:`_apply`). A backend the layer cannot run is an error here; one that only this
        device cannot run (triton on CPU) is stored and raised when the layer runs on it."""
        owner = type(self).__name__
        self._backend_device = torch.device(device).type
        self._backend_error: Optional[ConfigError] = None
        try:
            self._backend = self._resolve(self.params.backend, device, owner)
        except ConfigError as err:
            if self.backend_unsupported(self.params.backend) is not None:  # the layer's own settings
                raise
            self._backend, self._backend_error = self.params.backend, err

    @property
    def backend(self) -> Backend:
        """The implementation that runs this layer's sequences on its device (never ``auto``)."""
        if self._backend_error is not None:
            raise self._backend_error
        return self._backend

    def _apply(self, fn: Any, recurse: bool = True) -> "LeakyCellBase":
        module = super()._apply(fn, recurse)
        self._decide_backend(self.beta.device)  # .to(device) / .cuda(): the decision follows the tensors
        return module

    def backend_description(self) -> str:
        """The decided backend's name, or ``"<name> (cannot run on <device>)"`` (for repr and the run log)."""
        name = self._backend.value
        return name if self._backend_error is None else f"{name} (cannot run on {self._backend_device})"

    def extra_repr(self) -> str:
        return (
            f"size={self.size}, learnable_beta={self.learnable_beta}, beta_shape={tuple(self.beta.shape)}, "
            f"backend={self.backend_description()}"
        )


class SpikingNeuronBase(LeakyCellBase):
    """Base of the LIF family: adds threshold, surrogate, reset, synaptic current, refractoriness.

    Args:
        size: feature shape of one step (int or tuple), excluding batch.
        params: the layer's :class:`~brain_ai.config.NeuronConfig` (or give its fields as keywords).

    The fields it reads:

        beta: membrane decay in [0, 0.999]; or give ``tau`` (and ``dt``) for ``beta = exp(-dt/tau)``.
        threshold: firing threshold > 0 (a float, or a tensor of shape ``()`` or ``size``);
            ``threshold_shape="per_neuron"`` keeps one per neuron (shape ``size``), "layer" one for
            the layer; ``learnable_threshold`` makes it an ``nn.Parameter`` (it then receives
            ``d s / d thr = -surrogate.grad(v - thr)`` through autograd, in both paths).
        reset: "subtract" (soft), "zero" (hard) or "none".
        surrogate: registry name or a :class:`~brain_ai.core.surrogates.Surrogate` instance;
            ``surrogate_alpha`` sets the width of a named one.
        synaptic: add a synaptic current ``i = synaptic_beta * i + x`` feeding the membrane;
            ``synaptic_kernel="alpha"`` makes it second order (two time constants): a rise stage
            ``r = synaptic_rise_beta * r + x`` feeds ``i = synaptic_beta * i + r``.
        refractory_steps: after a spike, ignore input and stay silent for this many steps.
        v_rest: resting potential the membrane leaks toward (``v = beta * v + x + (1 - beta) * v_rest``).
        v_reset: ``reset="zero"`` sets the membrane to this value after a spike; it must be below
            the threshold (and 0 with the other reset modes).
        dtype_policy: the state dtype for an input dtype (:class:`LeakyCellBase`).

    ``forward_sequence(backend=)`` picks the implementation (:mod:`brain_ai.core.backend`); the
    fused Function runs once per time segment.
    """

    spiking = True

    def _register_values(self, initial: Dict[str, Any]) -> None:
        super()._register_values(initial)
        p = self.params
        self.surrogate = surrogate_of(p, initial)
        thr = self._initial_threshold(initial.get("threshold", p.threshold))  # () or (*size)
        if p.learnable_threshold:
            self.threshold_param = nn.Parameter(thr)
        else:
            self.register_buffer("threshold_fixed", thr)
        if "threshold" in initial:  # the config checked v_reset against its own (scalar) threshold only
            check_reset_potential(type(self).__name__, p.v_reset, p.reset, thr.min().item())

    # the layer's settings, read from its parameter object (NeuronConfig)
    reset = property(lambda self: self.params.reset)
    refractory_steps = property(lambda self: self.params.refractory_steps)
    learnable_threshold = property(lambda self: self.params.learnable_threshold)
    threshold_shape = property(lambda self: self.params.threshold_shape)
    v_rest = property(lambda self: float(self.params.v_rest))
    v_reset = property(lambda self: float(self.params.v_reset))

    @property
    def synaptic_beta(self) -> Optional[float]:
        """Decay of the synaptic current, None without one."""
        return float(self.params.synaptic_beta) if self.params.synaptic else None

    @property
    def synaptic_rise_beta(self) -> Optional[float]:
        """Decay of the alpha kernel's rise stage, None without one."""
        alpha = self.params.synaptic and self.params.synaptic_kernel is SynapticKernel.alpha
        return float(self.params.synaptic_rise_beta) if alpha else None

    def _initial_threshold(self, threshold: Union[float, Tensor]) -> Tensor:
        """``threshold`` as a float32 tensor of shape ``()`` (layer) or ``size`` (per_neuron), all > 0."""
        owner = type(self).__name__
        shape = self.size if self.threshold_shape is ThresholdShape.per_neuron else ()
        if not isinstance(threshold, Tensor):
            check_range(owner, "threshold", threshold, low=0.0, low_inclusive=False)
            return torch.full(shape, float(threshold))
        if tuple(threshold.shape) not in {(), shape}:
            raise ValueError(
                f"{owner}: threshold has shape {tuple(threshold.shape)}; allowed: () or {shape} "
                f"(threshold_shape={self.threshold_shape.name}, size={self.size})"
            )
        thr = threshold.detach().to(torch.float32).expand(shape).clone()
        if not bool(torch.isfinite(thr).all()) or bool((thr <= 0).any()):
            raise ValueError(f"{owner}: threshold must be finite and > 0 everywhere, got min {thr.min().item()!r}")
        return thr

    @property
    def threshold(self) -> Tensor:
        """Firing threshold: ``()`` or ``(*size)`` (threshold_shape=per_neuron); a Parameter when learnable."""
        return self.threshold_param if self.learnable_threshold else self.threshold_fixed

    def state_shapes(self, batch_size: int) -> Dict[str, Tuple[int, ...]]:
        shapes = super().state_shapes(batch_size)
        if self.synaptic_beta is not None:
            shapes["i"] = shapes["v"]
        if self.synaptic_rise_beta is not None:
            shapes["i_rise"] = shapes["v"]
        if self.refractory_steps > 0:
            shapes["ref"] = shapes["v"]
        return shapes

    def lif_kwargs(self) -> Dict[str, Any]:
        """Keyword arguments of :func:`~brain_ai.core.neurons.functional.lif_step` for this layer."""
        return dict(
            beta=self.beta,
            threshold=self.threshold,
            surrogate=self.surrogate,
            reset=self.reset,
            synaptic_beta=self.synaptic_beta,
            synaptic_rise_beta=self.synaptic_rise_beta,
            refractory_steps=self.refractory_steps,
            v_rest=self.v_rest,
            v_reset=self.v_reset,
        )

    def backend_unsupported(self, backend: Backend) -> Optional[str]:
        reason = super().backend_unsupported(backend)
        if reason is None and backend is not Backend.eager:  # the kernels have neither
            if self.params.synaptic:
                return f"{type(self).__name__} has a synaptic current (the {backend.value} kernel has none)"
            if self.refractory_steps:
                return (
                    f"{type(self).__name__} has refractory_steps={self.refractory_steps} "
                    f"(the {backend.value} kernel has no refractoriness)"
                )
        return reason

    def _fused_kwargs(self, state: SpikingState) -> Dict[str, Any]:
        """Extra arguments of :func:`fused_lif_sequence` for this variant (AdaptiveLIF adds its own)."""
        return {}

    def _fused_segment(self, record: Record, backend: Backend) -> SegmentFn:
        """The fused equivalent of ``step_segment(self._cell, ...)``: one ``backend`` kernel call per
        time segment, same outputs, state and membrane trace (segments are cut by ``run_segments``)."""

        def run(x: Tensor, state: SpikingState) -> Tuple[Dict[str, Tensor], SpikingState]:  # x (B, t, *size)
            s, v, a, mem = fused_lif_sequence(
                x,
                state.v,
                self.beta,
                self.threshold,
                self.reset,
                self.surrogate,
                record_membrane=record == "membrane",
                backend=backend,
                v_rest=self.v_rest,
                v_reset=self.v_reset,
                state_dtype=state.v.dtype,
                **self._fused_kwargs(state),
            )
            outputs = {"out": s} if mem is None else {"out": s, "membrane": mem}
            return outputs, state.replace(v=v, a=a) if a is not None else state.replace(v=v)

        return run

    def _cell(self, x: Tensor, state: SpikingState) -> Tuple[Tensor, SpikingState]:
        s, new = self._step(x, state)
        return s.to(x.dtype), new  # spikes in the compute dtype, state stays in the state dtype

    def extra_repr(self) -> str:
        thr = self.threshold
        thr_text = f"{thr.item():g}" if thr.dim() == 0 else f"per_neuron{tuple(thr.shape)}"
        extras = f", threshold={thr_text}, reset={self.reset.name}, surrogate={self.surrogate!r}"
        if self.synaptic_beta is not None:
            extras += f", synaptic_beta={self.synaptic_beta}"
        if self.synaptic_rise_beta is not None:
            extras += f", synaptic_kernel=alpha, synaptic_rise_beta={self.synaptic_rise_beta}"
        if self.refractory_steps:
            extras += f", refractory_steps={self.refractory_steps}"
        if self.v_rest or self.v_reset:
            extras += f", v_rest={self.v_rest}, v_reset={self.v_reset}"
        return super().extra_repr() + extras
