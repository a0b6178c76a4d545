r"""The parallel spiking neuron family (Fang et al., "Parallel Spiking Neurons with High Efficiency
and Ability to Learn Long-term Dependencies", NeurIPS 2023): neurons without reset whose hidden
state is a learnable linear map over the time steps, computed for the whole sequence at once.

Per neuron ``n`` of a layer, with the input currents ``X[t, n]`` of ``T`` steps::

    H = M X + b          M (T, T): the time-mixing matrix, the same for every neuron of the layer
    S = Theta(H)         Heaviside forward, the surrogate's gradient backward

* ``psn`` (:class:`PSN`): ``M = W``, a full learnable ``T x T`` weight, ``b`` a ``(T, 1)`` bias.
  Non-causal (step ``t`` reads every step); fixed ``T``.
* ``masked_psn`` (:class:`MaskedPSN`): ``M = W * (lambda M_k + (1 - lambda) J)`` with the banded
  lower-triangular mask ``M_k[i, j] = 1`` for ``j <= i <= j + k - 1`` (order ``k``: step ``t``
  reads steps ``t - k + 1 .. t``) and ``J`` all ones; ``lambda`` ramps from 0 to 1 during training
  (the progressive masking, :func:`follow_mask_schedule`), ``b`` ``(T, 1)``. Causal once
  ``lambda = 1``; fixed ``T``.
* ``sliding_psn`` (:class:`SlidingPSN`): ``H[t] = sum_{i<k} w_i X[t - k + 1 + i] + b``, a ``k``-tap
  causal convolution over time shared by every step, ``b`` a scalar: any ``T``; the state (the last
  ``k - 1`` inputs) carries a sequence across calls, so streaming, ``chunk_size`` and
  ``checkpoint_every`` work as for the LIF family.

Parameter and buffer names and shapes are SpikingJelly's (``spikingjelly.activation_based.neuron.PSN``,
``MaskedPSN``, ``SlidingPSN``): a state dict of one loads into the other. The bias is the negative
threshold (initialised to ``-neuron.threshold``; SpikingJelly's default is -1). Every weight starts
as the leak of a LIF with beta = 1/2 without reset (``M[t, j] = 2^-(t - j)``, ``j <= t``: SpikingJelly's
``exp_init`` of the sliding PSN; SpikingJelly draws the PSN / masked PSN weight Kaiming uniform). Tensors are batch
first, ``(B, T, *size)``, where SpikingJelly's are time first.
"""

from __future__ import annotations

import abc
import dataclasses
from typing import Any, Dict, Optional, Tuple, Union

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from brain_ai.config import (
    FIXED_STEP_PSN_TYPES,
    PSN_TYPES,
    Backend,
    ConfigError,
    NeuronConfig,
    NeuronType,
    SNNConfig,
    coerce_enum,
)
from brain_ai.core.neurons.base import NeuronLayerBase, surrogate_of
from brain_ai.core.neurons.state import SpikingState
from brain_ai.core.unroll import Record, SegmentFn, check_record, traces_of


class ParallelSpikingNeuron(NeuronLayerBase):
    """Shared shell of the family: built from one :class:`~brain_ai.config.NeuronConfig` (its PSN
    fields ``psn_steps``, ``psn_order``, ``psn_mask_ramp_epochs``, and ``threshold``, ``surrogate``,
    ``dtype_policy``), the spike function and the segment of the base's sequence path.

    Subclasses define :meth:`time_matrix` (the ``(T, T)`` map ``M``), :meth:`time_taps` and
    :meth:`_hidden` (``H`` of a segment). ``forward_sequence(x (B, T, *size))`` -> ``(spikes
    (B, T, *size), final_state, traces)``; ``record="membrane"`` records ``H`` (the threshold is 0:
    ``S = Theta(H)``).
    """

    #: the layer emits spikes; its one implementation is a whole-sequence matmul / convolution (eager)
    spiking = True

    def _register_values(self, initial: Dict[str, Any]) -> None:
        self.surrogate = surrogate_of(self.params, initial)

    def backend_description(self) -> str:
        """The implementation that runs the layer (for the network's backend summary)."""
        return Backend.eager.value

    # ---- what a subclass defines ----------------------------------------------------------
    @abc.abstractmethod
    def time_matrix(self, steps: int) -> Tensor:
        """``M (T, T)``: ``H[:, t] = sum_j M[t, j] X[:, j] + b_t`` over ``steps`` steps from the zero state."""

    @abc.abstractmethod
    def time_taps(self, steps: int) -> Tensor:
        """``(T, T)`` bool: the entries of :meth:`time_matrix` the structure allows (the dense operations)."""

    @abc.abstractmethod
    def _hidden(self, x: Tensor, state: SpikingState) -> Tuple[Tensor, SpikingState]:
        """``H (B, t, *size)`` of a segment ``x (B, t, *size)`` and the state after it."""

    @abc.abstractmethod
    def _mix(self, y: Tensor) -> Tensor:
        """``M y`` of ``y (B, t, *F)`` from the zero state, without the bias, for any feature shape ``F``."""

    #: how many of the last input currents the state keeps (the sliding PSN's ``k - 1``)
    tail_steps = 0

    def _advance(self, state: SpikingState, tail: Tensor, h: Tensor) -> SpikingState:
        """The state after a segment whose hidden state is ``h`` and whose last currents are ``tail``
        ``(B, <= tail_steps, *size)``, oldest first."""
        return state.replace(v=h[:, -1].to(state.v.dtype))

    def run_after_linear(
        self, u: Tensor, linear: nn.Linear, record: Record
    ) -> Tuple[Tensor, SpikingState, Dict[str, Tensor]]:
        r"""The layer on the input current ``linear(u)`` from the zero state, the time map applied
        to the linear layer's input instead of its output: ``M (U W^T + 1 b^T) + b_psn = (M U) W^T
        + (M 1) b^T + b_psn``, equal up to rounding. The networks call it when ``u (B, T, F)`` has
        fewer features than the layer has neurons (pixel-wise S-MNIST: 1 pixel against 256
        neurons), so the time map runs over ``B x F`` series instead of ``B x N``. Returns what
        :meth:`forward_sequence` returns: ``(spikes (B, T, N), final_state, traces)``.
        """
        check_record(f"{type(self).__name__}.run_after_linear", record)
        steps = u.shape[1]
        offset = self.bias.to(u.dtype)  # b_psn, plus (M 1) b^T: (1, T, N), added in one pass
        if linear.bias is not None:
            offset = self._mix(u.new_ones(1, steps, 1)) * linear.bias + offset
        mixed = self._mix(u)
        if u.shape[2] == 1:  # one input feature: the synapses are an outer product, one pass with the offset
            h = torch.addcmul(offset, mixed, linear.weight.view(1, 1, -1).to(u.dtype))
        else:
            h = F.linear(mixed, linear.weight) + offset
        state = self._prepare_state(h, h.shape[2:], None, "(B, T, *size)", check_values=False)
        tail = linear(u[:, steps - min(steps, self.tail_steps) :])
        outputs = {"out": self.surrogate(h).to(u.dtype), "membrane": h}
        return outputs["out"], self._advance(state, tail, h), traces_of(outputs, record)

    def mixing_weights(self) -> Tensor:
        """The weights of the time map as the efficiency counter sees them (connection sparsity): the
        effective ``(T, T)`` matrix of psn / masked_psn (masked entries are zeros), the ``k`` taps of sliding_psn."""
        return self.time_matrix(self.T)

    # ---- sequence -----------------------------------------------------------------------
    def forward(self, x: Tensor, state: Optional[SpikingState] = None) -> Tuple[Tensor, SpikingState]:
        """Whole sequence ``x (B, T, *size)`` -> ``(spikes, final_state)`` (there is no single-step form)."""
        out, final, _ = self._run_sequence(x, state, None, None, "none", Backend.auto, check_values=True)
        return out, final

    def _prepare_state(
        self,
        x: Tensor,
        feature_shape: Tuple[int, ...],
        state: Optional[SpikingState],
        layout: str,
        check_values: bool = True,
    ) -> SpikingState:
        if state is not None:
            self._check_continuation(state)
        return super()._prepare_state(x, feature_shape, state, layout, check_values)

    def _check_continuation(self, state: SpikingState) -> None:
        """A given ``state`` continues a sequence: only :class:`SlidingPSN` can (the fixed-T types refuse)."""

    def _segment_fn(
        self,
        x: Tensor,
        state: SpikingState,
        record: Record,
        backend: Union[Backend, str, None],
        owner: str,
        spatial: bool = False,
    ) -> SegmentFn:
        """``S = Theta(H)`` of each segment's :meth:`_hidden`; ``backend``: None (the network's call),
        auto or eager (one implementation, the whole-sequence matmul / convolution); ``spatial`` is
        refused (the hidden state mixes the steps: no per-step form)."""
        if spatial:
            raise ConfigError(f"{owner}: the parallel spiking neurons have no spatial-only (online learning) form")
        chosen = Backend.eager if backend is None else coerce_enum(owner, "backend", backend, Backend)
        if chosen not in (Backend.auto, Backend.eager):
            raise ConfigError(
                f"{owner}: backend={chosen.name} is not available for the parallel spiking neurons (one "
                "whole-sequence matmul / convolution, no fused or Triton kernel); allowed: auto, eager"
            )
        keep_membrane = record == "membrane"

        def segment(x_seg: Tensor, seg_state: SpikingState) -> Tuple[Dict[str, Tensor], SpikingState]:
            h, new_state = self._hidden(x_seg, seg_state)  # (B, t, *size)
            outputs = {"out": self.surrogate(h).to(x_seg.dtype)}
            if keep_membrane:
                outputs["membrane"] = h
            return outputs, new_state

        return segment

    def extra_repr(self) -> str:
        return f"size={self.size}, surrogate={self.surrogate!r}"


class _FixedStepsPSN(ParallelSpikingNeuron):
    """PSN / masked PSN: a ``(T, T)`` weight (``T = params.psn_steps``), so exactly ``T`` steps per
    call and no continuation."""

    T = property(lambda self: self.params.psn_steps)

    def _register_values(self, initial: Dict[str, Any]) -> None:
        super()._register_values(initial)
        steps = _required(type(self).__name__, self.params, "psn_steps", "the number of time steps")
        lag = _lags(steps)  # (T, T): t - j
        # SpikingJelly's names and shapes; W starts as the leak of a LIF with beta = 1/2 (no reset), like the
        # sliding PSN's exp_init (SpikingJelly: Kaiming uniform, which leaves a network without BatchNorm silent)
        self.weight = nn.Parameter(torch.where(lag >= 0, 0.5 ** lag.clamp(min=0).float(), torch.zeros(())))
        self.bias = nn.Parameter(torch.full((steps, 1), -float(self.params.threshold)))

    def _check_continuation(self, state: SpikingState) -> None:
        raise ValueError(
            f"{type(self).__name__}(T={self.T}) maps all T steps at once and cannot continue a sequence: "
            "pass state=None "
            "(streaming, carried state and stream windows are available for sliding_psn only)"
        )

    def _mix(self, y: Tensor) -> Tensor:
        if y.shape[1] != self.T:
            raise ValueError(
                f"{type(self).__name__}: the input has {y.shape[1]} steps but the neuron maps exactly T={self.T} "
                "(neuron.psn_steps); chunk_size, checkpoint_every and stream windows shorter than T are not available "
                "for psn / masked_psn (sliding_psn runs any T)"
            )
        return torch.matmul(self.time_matrix(self.T).to(y.dtype), y.flatten(2)).view(y.shape)

    def _hidden(self, x: Tensor, state: SpikingState) -> Tuple[Tensor, SpikingState]:
        h = self._mix(x) + self.bias.to(x.dtype).view(self.T, *[1] * len(self.size))  # (B, T, *size)
        return h, self._advance(state, x, h)

    def extra_repr(self) -> str:
        return f"T={self.T}, " + super().extra_repr()


class PSN(_FixedStepsPSN):
    """Parallel spiking neuron: ``H = W X + b`` with a learnable ``W (T, T)`` and ``b (T, 1)``.

    Example::

        psn = PSN(64, psn_steps=8)                  # = PSN(64, NeuronConfig(type="psn", psn_steps=8))
        spikes, _, _ = psn.forward_sequence(torch.rand(4, 8, 64))
    """

    neuron_type = NeuronType.psn

    def time_matrix(self, steps: int) -> Tensor:
        return self.weight

    def time_taps(self, steps: int) -> Tensor:
        return torch.ones(steps, steps, dtype=torch.bool, device=self.weight.device)


class MaskedPSN(_FixedStepsPSN):
    """Masked PSN of order ``k`` (``params.psn_order``, ``1 <= k <= T``): ``H = (W * M_k(lambda)) X + b``
    (module docstring), e.g. ``MaskedPSN(64, psn_steps=8, psn_order=3)``.

    ``lambda_`` (buffer ``_lambda_``) is the mask's progress: 0 uses the full ``W``, 1 only its band;
    ``ramp_epochs`` (``params.psn_mask_ramp_epochs``) > 0 starts at 0 and :func:`follow_mask_schedule`
    raises it by ``1 / ramp_epochs`` per epoch; 0 starts (and stays) at 1.
    """

    neuron_type = NeuronType.masked_psn
    k = property(lambda self: self.params.psn_order)
    ramp_epochs = property(lambda self: self.params.psn_mask_ramp_epochs)

    def _register_values(self, initial: Dict[str, Any]) -> None:
        super()._register_values(initial)
        steps, order = self.T, _required(type(self).__name__, self.params, "psn_order", "its order k")
        self.register_buffer("_lambda_", torch.tensor(0.0 if self.ramp_epochs else 1.0))
        ones = torch.ones(steps, steps)
        self.register_buffer("mask0", torch.tril(ones) * torch.triu(ones, -(order - 1)))  # the band M_k
        self.register_buffer("mask1", ones)  # J (kept for SpikingJelly's state dict)

    @property
    def lambda_(self) -> Tensor:
        """Progress of the mask in [0, 1] (a 0-d buffer)."""
        return self._lambda_

    def set_epoch(self, epoch: int) -> None:
        """``lambda = min(1, epoch / ramp_epochs)`` (1 without a ramp)."""
        self._lambda_.fill_(min(1.0, epoch / self.ramp_epochs) if self.ramp_epochs else 1.0)

    def time_matrix(self, steps: int) -> Tensor:
        lam = self._lambda_
        return (lam * self.mask0 + (1.0 - lam) * self.mask1) * self.weight  # at lambda = 1: exactly W * M_k

    def time_taps(self, steps: int) -> Tensor:
        return (self._lambda_ < 1) | self.mask0.bool()

    def extra_repr(self) -> str:
        return f"order={self.k}, ramp_epochs={self.ramp_epochs}, " + super().extra_repr()


class SlidingPSN(ParallelSpikingNeuron):
    """Sliding PSN of order ``k`` (``params.psn_order``): ``H[t] = sum_{i<k} weight[i] X[t - k + 1 + i]
    + bias`` (a causal ``k``-tap convolution over time), for any ``T``, e.g. ``SlidingPSN(64, psn_order=3)``.
    ``weight`` starts at ``(..., 1/4, 1/2, 1)`` (SpikingJelly's ``exp_init``: the leak of a LIF with
    beta = 1/2, without reset), ``bias`` at ``-threshold``. State ``spike_history (B, k - 1, *size)``:
    the last ``k - 1`` inputs, newest first (zeros before the first step), so a sequence continues
    across calls exactly.
    """

    neuron_type = NeuronType.sliding_psn
    k = property(lambda self: self.params.psn_order)

    def _register_values(self, initial: Dict[str, Any]) -> None:
        super()._register_values(initial)
        order = _required(type(self).__name__, self.params, "psn_order", "its order k")
        self.weight = nn.Parameter(0.5 ** torch.arange(order - 1, -1, -1, dtype=torch.float32))  # (k,)
        self.bias = nn.Parameter(torch.tensor(-float(self.params.threshold)))

    def state_shapes(self, batch_size: int) -> Dict[str, Tuple[int, ...]]:
        return {**super().state_shapes(batch_size), "spike_history": (batch_size, self.k - 1, *self.size)}

    def mixing_weights(self) -> Tensor:
        return self.weight

    def time_matrix(self, steps: int) -> Tensor:
        """The banded Toeplitz ``(T, T)``: ``M[t, j] = weight[k - 1 - t + j]`` for ``t - k < j <= t``."""
        index = (self.k - 1 - _lags(steps)).clamp(0, self.k - 1).to(self.weight.device)
        return self.weight[index] * self.time_taps(steps)

    def time_taps(self, steps: int) -> Tensor:
        lag = _lags(steps)
        return ((lag >= 0) & (lag < self.k)).to(self.weight.device)

    tail_steps = property(lambda self: self.k - 1)

    def _convolve(self, past: Tensor) -> Tensor:
        """The ``k``-tap causal convolution of ``past (B, k - 1 + t, *F)`` (oldest first): ``(B, t, *F)``, no bias."""
        b, length, features = past.shape[0], past.shape[1], past.shape[2:]
        series = past.movedim(1, -1).reshape(-1, 1, length)  # (B * F, 1, k - 1 + t)
        h = F.conv1d(series, self.weight.to(past.dtype).view(1, 1, self.k))  # (B * F, 1, t)
        return h.view(b, *features, length - (self.k - 1)).movedim(-1, 1)

    def _mix(self, y: Tensor) -> Tensor:
        return self._convolve(torch.cat([y.new_zeros(y.shape[0], self.k - 1, *y.shape[2:]), y], dim=1))

    def _advance(self, state: SpikingState, tail: Tensor, h: Tensor) -> SpikingState:
        past = torch.cat([state.spike_history.flip(1).to(tail.dtype), tail], dim=1)  # oldest first
        history = past[:, past.shape[1] - (self.k - 1) :].flip(1).to(state.v.dtype)  # the last k - 1, newest first
        return state.replace(v=h[:, -1].to(state.v.dtype), spike_history=history)

    def _hidden(self, x: Tensor, state: SpikingState) -> Tuple[Tensor, SpikingState]:
        past = torch.cat([state.spike_history.flip(1).to(x.dtype), x], dim=1)  # (B, k - 1 + t, *size), oldest first
        h = self._convolve(past) + self.bias.to(x.dtype)  # (B, t, *size)
        return h, self._advance(state, x, h)

    def extra_repr(self) -> str:
        return f"order={self.k}, " + super().extra_repr()


def _lags(steps: int) -> Tensor:
    """``(T, T)`` int64: ``t - j`` for output step ``t`` (row) and input step ``j`` (column)."""
    return torch.arange(steps).view(-1, 1) - torch.arange(steps).view(1, -1)


def _required(owner: str, params: NeuronConfig, name: str, meaning: str) -> int:
    """``params.<name>`` (psn_steps, psn_order), which the layer needs and the config may leave None."""
    value = getattr(params, name)
    if value is None:
        raise ConfigError(
            f"{owner}: neuron.{name} is None but neuron.type={params.type.value} needs {meaning}: set it, or let "
            "the pipeline fill it from the data and encoder"
        )
    return value


def follow_mask_schedule(net: nn.Module, epoch: int) -> None:
    """Move every :class:`MaskedPSN` of ``net`` to training epoch ``epoch`` of its ramp (``set_epoch``)."""
    for module in net.modules():
        if isinstance(module, MaskedPSN):
            module.set_epoch(epoch)


def with_time_steps(cfg: SNNConfig, time_steps: int, max_epochs: Optional[int] = None) -> SNNConfig:
    """Fill the PSN family's ``neuron.psn_steps`` (and an unset ``psn_order``: ``T``) from the data's
    ``time_steps``; reject values that do not fit it (``cfg`` itself for the other neuron types).

    Raises:
        ConfigError: ``psn_steps`` set to another T, ``psn_order > T``, time segments that cut T for
            ``psn`` / ``masked_psn``, or a mask ramp that does not end within ``max_epochs``.
    """
    neuron = cfg.neuron
    if neuron.type not in PSN_TYPES:
        return cfg
    o = "snn.neuron"
    if neuron.type in FIXED_STEP_PSN_TYPES and neuron.psn_steps is not None and neuron.psn_steps != time_steps:
        raise ConfigError(
            f"{o}.psn_steps={neuron.psn_steps} does not match the data: the encoder yields T={time_steps} steps and "
            f"{neuron.type.value} maps a fixed T; remove the override or set {o}.psn_steps={time_steps}"
        )
    for field in ("chunk_size", "checkpoint_every"):
        every = getattr(cfg, field)
        if neuron.type in FIXED_STEP_PSN_TYPES and every is not None and every < time_steps:
            raise ConfigError(
                f"snn.{field}={every} cuts the T={time_steps} steps that {o}.type={neuron.type.value} maps at once; "
                f"allowed: null or >= {time_steps}, or {o}.type=sliding_psn"
            )
    if neuron.psn_order is not None and neuron.psn_order > time_steps:
        raise ConfigError(
            f"{o}.psn_order={neuron.psn_order} is larger than the sequence (T={time_steps} steps); allowed: 1 <= "
            f"psn_order <= {time_steps}"
        )
    if neuron.type.value == "masked_psn" and max_epochs is not None and neuron.psn_mask_ramp_epochs >= max_epochs > 0:
        raise ConfigError(
            f"{o}.psn_mask_ramp_epochs={neuron.psn_mask_ramp_epochs} does not end within "
            f"trainer.max_epochs={max_epochs} (the mask would still read future steps when training stops); "
            f"allowed: 0 <= psn_mask_ramp_epochs < {max_epochs}"
        )
    steps = time_steps if neuron.type in FIXED_STEP_PSN_TYPES else neuron.psn_steps
    order = neuron.psn_order if neuron.psn_order is not None or neuron.type.value == "psn" else time_steps
    return dataclasses.replace(cfg, neuron=dataclasses.replace(neuron, psn_steps=steps, psn_order=order))


def check_stream_window(cfg: SNNConfig, window: Optional[int]) -> None:
    """Refuse stream windows shorter than the fixed T of psn / masked_psn (they map all T steps at once)."""
    neuron = cfg.neuron
    if window is not None and neuron.type in FIXED_STEP_PSN_TYPES and window < neuron.psn_steps:
        raise ConfigError(
            f"stream_window={window} cuts the T={neuron.psn_steps} steps that "
            f"snn.neuron.type={neuron.type.value} maps at "
            f"once; allowed: null or >= {neuron.psn_steps} (sliding_psn streams in any window)"
        )


__all__ = [
    "PSN",
    "MaskedPSN",
    "ParallelSpikingNeuron",
    "SlidingPSN",
    "check_stream_window",
    "follow_mask_schedule",
    "with_time_steps",
]
