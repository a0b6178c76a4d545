"""Module shells: parameters/buffers, state lifecycle and input checks around the pure steps.

``LeakyCellBase`` owns the membrane decay ``beta`` and the state lifecycle shared by every cell
with a leaky membrane; ``SpikingNeuronBase`` adds threshold, surrogate, reset mode, synaptic
current and refractory period. Subclasses only declare their state fields (``state_shapes``)
and call one pure step function (``_step``).
"""

from __future__ import annotations

import abc
from typing import Any, Dict, Optional, Tuple, Union

import torch
from torch import Tensor, nn

from brain_ai.config import BETA_MAX, NeuronType, ResetMode, check_range, coerce_enum
from brain_ai.core.fused import fused_lif_sequence, fused_supported
from brain_ai.core.neurons.state import SpikingState, check_state, state_dtype_for
from brain_ai.core.surrogates import Surrogate, get_surrogate
from brain_ai.core.unroll import Record, snn_unroll

Size = Union[int, Tuple[int, ...]]


def as_shape(owner: str, size: Any) -> Tuple[int, ...]:
    """Feature shape of one step (excluding batch) from an int or a tuple of positive ints."""
    shape = (size,) if isinstance(size, int) and not isinstance(size, bool) else tuple(size)
    if not shape or any(isinstance(n, bool) or not isinstance(n, int) or n <= 0 for n in shape):
        raise ValueError(f"{owner}: size={size!r} must be a positive int or a tuple of positive ints")
    return shape


def beta_to_raw(beta: Tensor) -> Tensor:
    """Inverse of ``beta = BETA_MAX * sigmoid(raw)`` (needs ``0 < beta < BETA_MAX``)."""
    return torch.logit(beta / BETA_MAX)


class LeakyCellBase(nn.Module, metaclass=abc.ABCMeta):
    r"""Base of every cell with a leaky membrane ``v = beta * v + input``.

    ``beta`` is fixed (a buffer) or learnable. Learnable beta is parameterised as
    ``beta = 0.999 * sigmoid(raw)`` so that no optimiser step can leave [0, 0.999]; it needs an
    initial value strictly inside (0, 0.999). ``per_neuron_beta`` gives one beta per neuron
    (shape ``size``), otherwise one per layer.
    """

    def __init__(
        self,
        size: Size,
        beta: Union[float, Tensor] = 0.9,
        *,
        learnable_beta: bool = False,
        per_neuron_beta: bool = False,
    ) -> None:
        super().__init__()
        self.size = as_shape(type(self).__name__, size)
        self.learnable_beta = learnable_beta
        shape = self.size if per_neuron_beta else ()
        init = torch.as_tensor(beta, dtype=torch.float32).expand(shape).clone()  # (*N) or ()
        self._check_beta(init, learnable_beta)
        if learnable_beta:
            self.beta_raw = nn.Parameter(beta_to_raw(init))
        else:
            self.register_buffer("beta_fixed", init)

    def _check_beta(self, beta: Tensor, learnable: bool) -> None:
        owner = type(self).__name__
        bad = beta[~((beta >= 0) & (beta <= BETA_MAX))]
        if bad.numel():
            raise ValueError(f"{owner}: beta={bad.flatten()[0].item()!r} is out of range; allowed: [0, {BETA_MAX}]")
        if learnable and bool(((beta <= 0) | (beta >= BETA_MAX)).any()):
            raise ValueError(
                f"{owner}: learnable beta needs 0 < beta < {BETA_MAX} (beta = {BETA_MAX}*sigmoid(raw)); "
                f"got beta in [{beta.min().item()}, {beta.max().item()}]"
            )

    @property
    def beta(self) -> Tensor:
        """Membrane decay per step, in [0, 0.999]; scalar or ``(*N)``."""
        if self.learnable_beta:
            return BETA_MAX * torch.sigmoid(self.beta_raw)
        return self.beta_fixed

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

    def _prepare_state(self, x: Tensor, feature_shape: Tuple[int, ...], state: Optional[SpikingState], layout: str) -> SpikingState:
        owner = type(self).__name__
        if not torch.is_floating_point(x):
            raise TypeError(f"{owner}: input dtype {x.dtype} must be floating point")
        if tuple(feature_shape) != self.size:
            raise ValueError(f"{owner}: input shape {tuple(x.shape)} does not match {layout} with size={self.size}")
        if not bool(torch.isfinite(x.detach()).all()):  # one check per call (detached: nothing saved for backward)
            raise ValueError(f"{owner}: input contains NaN or Inf; allowed: finite values")
        dtype = state_dtype_for(x.dtype)
        if state is None:
            return self.reset_state(x.shape[0], x.device, dtype)
        check_state(owner, state, self.state_shapes(x.shape[0]), x.device, dtype)
        return state

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

    def forward_sequence(
        self,
        x: Tensor,
        state: Optional[SpikingState] = None,
        *,
        chunk_size: Optional[int] = None,
        checkpoint: bool = False,
        record: Record = "none",
    ) -> Tuple[Tensor, SpikingState, Dict[str, Tensor]]:
        """Whole sequence ``x (B, T, *size)`` -> ``(out (B, T, *size), final_state, traces)``.

        Runs :func:`brain_ai.core.unroll.snn_unroll` (``chunk_size`` = truncated BPTT window,
        ``checkpoint`` = recompute each chunk in backward, ``record`` = "none" | "spikes" |
        "membrane"; membrane traces are the post-reset ``state.v``).
        """
        if x.dim() < 2 or x.shape[1] < 1:
            raise ValueError(f"{type(self).__name__}.forward_sequence: x must be (B, T>=1, *size), got shape {tuple(x.shape)}")
        state = self._prepare_state(x, x.shape[2:], state, "(B, T, *size)")
        if not checkpoint and self._fusable():
            return self._fused_sequence(x, state, chunk_size, record)
        return snn_unroll(self._cell, x, state, chunk_size, checkpoint=checkpoint, record=record)

    def _fusable(self) -> bool:
        """Whether the fused whole-sequence kernel runs this cell (the LIF family says when)."""
        return False

    def extra_repr(self) -> str:
        return f"size={self.size}, learnable_beta={self.learnable_beta}, beta_shape={tuple(self.beta.shape)}"


class SpikingNeuronBase(LeakyCellBase):
    """Base of the LIF family: adds threshold, surrogate, reset, synaptic current, refractoriness.

    Args:
        size: feature shape of one step (int or tuple), excluding batch.
        beta: membrane decay in [0, 0.999] (``beta = exp(-1/tau)`` for a time constant tau in steps).
        threshold: firing threshold > 0; ``learnable_threshold`` makes it an ``nn.Parameter``
            (it then receives ``d s / d thr = -surrogate.grad(v - thr)`` through autograd).
        reset: "subtract" (soft), "zero" (hard) or "none".
        surrogate: registry name or a :class:`~brain_ai.core.surrogates.Surrogate` instance;
            ``surrogate_alpha`` sets the width of a named one.
        synaptic: add a synaptic current ``i = synaptic_beta * i + x`` feeding the membrane.
        refractory_steps: after a spike, ignore input and stay silent for this many steps.
        fused: run ``forward_sequence`` through the fused whole-sequence kernel
            (:mod:`brain_ai.core.fused`) when this neuron type supports it and no gradient
            checkpointing is asked for; ``False`` always uses the generic per-step unroll.
    """

    #: NeuronType that :func:`~brain_ai.core.fused.fused_supported` knows this class as (None: never fused)
    fused_type: Optional[NeuronType] = None

    def __init__(
        self,
        size: Size,
        beta: Union[float, Tensor] = 0.9,
        threshold: float = 1.0,
        *,
        reset: Union[ResetMode, str] = ResetMode.subtract,
        surrogate: Union[str, Surrogate] = "atan",
        surrogate_alpha: Optional[float] = None,
        learnable_beta: bool = False,
        per_neuron_beta: bool = False,
        learnable_threshold: bool = False,
        synaptic: bool = False,
        synaptic_beta: float = 0.8,
        refractory_steps: int = 0,
        fused: bool = True,
    ) -> None:
        super().__init__(size, beta, learnable_beta=learnable_beta, per_neuron_beta=per_neuron_beta)
        self.fused = bool(fused)
        owner = type(self).__name__
        check_range(owner, "threshold", threshold, low=0.0, low_inclusive=False)
        check_range(owner, "synaptic_beta", synaptic_beta, low=0.0, high=BETA_MAX)
        check_range(owner, "refractory_steps", refractory_steps, low=0, integer=True)
        self.reset = coerce_enum(owner, "reset", reset, ResetMode)
        self.surrogate = get_surrogate(surrogate, surrogate_alpha)
        self.synaptic_beta = float(synaptic_beta) if synaptic else None
        self.refractory_steps = refractory_steps
        self.learnable_threshold = learnable_threshold
        thr = torch.tensor(float(threshold))
        if learnable_threshold:
            self.threshold_param = nn.Parameter(thr)
        else:
            self.register_buffer("threshold_fixed", thr)

    @property
    def threshold(self) -> Tensor:
        """Firing threshold (0-d tensor; a Parameter when learnable)."""
        return self.threshold_param if self.learnable_threshold else self.threshold_fixed

    def state_shapes(self, batch_size: int) -> Dict[str, Tuple[int, ...]]:
        shapes = super().state_shapes(batch_size)
        if self.synaptic_beta is not None:
            shapes["i"] = shapes["v"]
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
            refractory_steps=self.refractory_steps,
        )

    def _fusable(self) -> bool:
        return self.fused_type is not None and fused_supported(
            self.fused_type, synaptic=self.synaptic_beta is not None, refractory_steps=self.refractory_steps, enabled=self.fused
        )

    def _fused_kwargs(self, state: SpikingState) -> Dict[str, Any]:
        """Extra arguments of :func:`fused_lif_sequence` for this variant (AdaptiveLIF adds its own)."""
        return {}

    def _fused_sequence(
        self, x: Tensor, state: SpikingState, chunk_size: Optional[int], record: Record
    ) -> Tuple[Tensor, SpikingState, Dict[str, Tensor]]:
        """The fused equivalent of ``snn_unroll(self._cell, ...)``: same outputs, state and traces.

        Truncated BPTT runs the kernel once per ``chunk_size`` window with the state detached
        in between, exactly like the generic unroll.
        """
        windows = x.split(chunk_size, dim=1) if chunk_size else (x,)  # (B, k, *size) each
        spikes, membranes = [], []
        for k, window in enumerate(windows):
            if k:
                state = state.detach()
            s, v, a, mem = fused_lif_sequence(
                window, state.v, self.beta, self.threshold, self.reset, self.surrogate,
                record_membrane=record == "membrane", **self._fused_kwargs(state),
            )
            state = state.replace(v=v, a=a) if a is not None else state.replace(v=v)
            spikes.append(s)
            membranes.append(mem)
        out = spikes[0] if len(spikes) == 1 else torch.cat(spikes, dim=1)  # (B, T, *size)
        traces: Dict[str, Tensor] = {}
        if record in ("spikes", "membrane"):
            traces["spikes"] = out
        if record == "membrane":
            traces["membrane"] = membranes[0] if len(membranes) == 1 else torch.cat(membranes, dim=1)
        return out, state, traces

    def _cell(self, x: Tensor, state: SpikingState) -> Tuple[Tensor, SpikingState]:
        s, new = self._step(x, state)
        return s.to(x.dtype), new  # spikes in the compute dtype, state stays in the state dtype

    def extra_repr(self) -> str:
        extras = f", threshold={self.threshold.item():g}, reset={self.reset.name}, surrogate={self.surrogate!r}"
        if self.synaptic_beta is not None:
            extras += f", synaptic_beta={self.synaptic_beta}"
        if self.refractory_steps:
            extras += f", refractory_steps={self.refractory_steps}"
        return super().extra_repr() + extras

