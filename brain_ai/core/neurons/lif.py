r"""LIF, adaptive LIF, recurrent (adaptive) LIF neurons and the non-spiking leaky integrator.

All share the step of :func:`~brain_ai.core.neurons.functional.lif_step` (per step, ``(B, *N)``)::

    i = synaptic_beta * i + x ; cur = i          (synaptic=True; else cur = x)
    cur = cur * (ref == 0)                       (refractory_steps > 0)
    v = beta * v + cur [+ (1 - beta) * v_rest]
    s = H(v - thr) [* (ref == 0)]
    v = v - s * thr | v * (1 - s) [+ s * v_reset] | v   (reset subtract | zero | none)
    ref = where(s > 0, refractory_steps, max(ref - 1, 0))
"""

from __future__ import annotations

import math
from typing import Any, Dict, Tuple, Union

import torch
from torch import Tensor, nn

from brain_ai.config import BETA_MAX, Backend, NeuronConfig, NeuronType, check_range
from brain_ai.core.fused_recurrent import fused_recurrent_sequence
from brain_ai.core.neurons.base import LeakyCellBase, Size, SpikingNeuronBase, decay_value, register_decay
from brain_ai.core.neurons.functional import adaptive_lif_step, leaky_integrator_step, lif_step, recurrent_lif_step
from brain_ai.core.neurons.state import SpikingState
from brain_ai.core.surrogates import get_surrogate
from brain_ai.core.unroll import Record, SegmentFn


def neuron_kwargs(cfg: NeuronConfig) -> Dict[str, Any]:
    """The :class:`SpikingNeuronBase` keyword arguments held by a :class:`NeuronConfig`."""
    return dict(
        beta=cfg.beta,
        tau=cfg.tau,
        dt=cfg.dt,
        threshold=cfg.threshold,
        threshold_shape=cfg.threshold_shape,
        reset=cfg.reset,
        surrogate=get_surrogate(
            cfg.surrogate.value, cfg.surrogate_alpha, normalize=cfg.surrogate_normalize, **cfg.surrogate_params
        ),
        learnable_beta=cfg.learnable_beta,
        per_neuron_beta=cfg.per_neuron_beta,
        learnable_threshold=cfg.learnable_threshold,
        synaptic=cfg.synaptic,
        synaptic_beta=cfg.synaptic_beta,
        synaptic_kernel=cfg.synaptic_kernel,
        synaptic_rise_beta=cfg.synaptic_rise_beta,
        refractory_steps=cfg.refractory_steps,
        v_rest=cfg.v_rest,
        v_reset=cfg.v_reset,
        dtype_policy=cfg.dtype_policy,
    )


class LIFNeuron(SpikingNeuronBase):
    r"""Leaky integrate-and-fire: ``v = beta * v + x``, ``s = H(v - thr)``, then reset.

    Example::

        lif = LIFNeuron(128, beta=0.9, threshold=1.0, reset="subtract")
        spikes, state = lif(torch.randn(32, 128))                 # one step (B, N)
        seq, final, traces = lif.forward_sequence(torch.randn(32, 25, 128), record="membrane")
    """

    fused_type = NeuronType.lif

    @classmethod
    def from_config(cls, cfg: NeuronConfig, size: Size) -> "LIFNeuron":
        return cls(size, **neuron_kwargs(cfg))

    def _step(self, x: Tensor, state: SpikingState) -> Tuple[Tensor, SpikingState]:
        return lif_step(x, state, **self.lif_kwargs())


class AdaptiveLIFNeuron(SpikingNeuronBase):
    r"""LIF with spike-frequency adaptation (state ``a``)::

        thr = threshold + adaptation_alpha * a      (effective threshold; the reset uses it)
        LIF step with thr
        a   = adaptation_decay * a + s
    """

    def __init__(
        self, size: Size, *args: Any, adaptation_alpha: float = NeuronConfig.adaptation_alpha,
        adaptation_decay: float = NeuronConfig.adaptation_decay, **kwargs: Any,
    ) -> None:
        super().__init__(size, *args, **kwargs)
        check_range(type(self).__name__, "adaptation_alpha", adaptation_alpha, low=0.0)
        check_range(type(self).__name__, "adaptation_decay", adaptation_decay, low=0.0, high=BETA_MAX)
        self.adaptation_alpha = float(adaptation_alpha)
        self.adaptation_decay = float(adaptation_decay)

    fused_type = NeuronType.adaptive_lif

    @classmethod
    def from_config(cls, cfg: NeuronConfig, size: Size) -> "AdaptiveLIFNeuron":
        return cls(size, adaptation_alpha=cfg.adaptation_alpha, adaptation_decay=cfg.adaptation_decay, **neuron_kwargs(cfg))

    def state_shapes(self, batch_size: int) -> Dict[str, Tuple[int, ...]]:
        return {**super().state_shapes(batch_size), "a": (batch_size, *self.size)}

    def _step(self, x: Tensor, state: SpikingState) -> Tuple[Tensor, SpikingState]:
        kw = self.lif_kwargs()
        return adaptive_lif_step(
            x, state, adaptation_alpha=self.adaptation_alpha, adaptation_decay=self.adaptation_decay, **kw
        )

    def _fused_kwargs(self, state: SpikingState) -> Dict[str, Any]:
        return dict(adaptation_alpha=self.adaptation_alpha, adaptation_decay=self.adaptation_decay, a0=state.a)

    def extra_repr(self) -> str:
        return super().extra_repr() + f", adaptation_alpha={self.adaptation_alpha}, adaptation_decay={self.adaptation_decay}"


class RecurrentLIFNeuron(SpikingNeuronBase):
    r"""LIF with a recurrent weight on its own previous spikes (state ``prev_spk``)::

        i = W_in x + W_rec s_prev      (the caller passes W_in x; W_rec (N, N), no bias, owned here)
        LIF step with input i;  prev_spk = s

    ``size`` must be a single int ``N``. ``W_rec`` starts ``U(-1/sqrt(N), 1/sqrt(N))`` like ``nn.Linear``.
    """

    def __init__(self, size: Union[int, Tuple[int]], *args: Any, **kwargs: Any) -> None:
        super().__init__(size, *args, **kwargs)
        if len(self.size) != 1:
            raise ValueError(f"{type(self).__name__}: size={size!r} must be a single int (N,) for a dense recurrence")
        n = self.size[0]
        bound = 1.0 / math.sqrt(n)
        self.w_rec = nn.Parameter(torch.empty(n, n).uniform_(-bound, bound))  # (N_out, N_in)

    @classmethod
    def from_config(cls, cfg: NeuronConfig, size: Size) -> "RecurrentLIFNeuron":
        return cls(size, **neuron_kwargs(cfg))

    def state_shapes(self, batch_size: int) -> Dict[str, Tuple[int, ...]]:
        return {**super().state_shapes(batch_size), "prev_spk": (batch_size, *self.size)}

    def _step(self, x: Tensor, state: SpikingState) -> Tuple[Tensor, SpikingState]:
        return recurrent_lif_step(x, state, w_rec=self.w_rec, **self.lif_kwargs())


class RecurrentAdaptiveLIFNeuron(RecurrentLIFNeuron):
    r"""Recurrent adaptive LIF, the neuron of LSNN (Bellec et al. 2018) and SRNN (Yin et al. 2021).

    Per step (``(B, N)``; ``beta``, ``rho`` = ``adaptation_decay`` and the threshold per layer or
    per neuron)::

        I_t  = x_t + W_rec s_{t-1}                 (the caller passes x_t = W_in input_t)
        v_t  = beta * v_{t-1} + I_t
        th_t = threshold + adaptation_alpha * a_{t-1}
        s_t  = H(v_t - th_t);  reset v_t with th_t (subtract | zero | none)
        a_t  = rho * a_{t-1} + s_t

    i.e. :func:`~brain_ai.core.neurons.functional.recurrent_lif_step` feeding
    :func:`~brain_ai.core.neurons.functional.adaptive_lif_step` (state ``v``, ``a``, ``prev_spk``).

    Args:
        adaptation_alpha: threshold increase per unit of ``a`` (>= 0).
        adaptation_decay: ``rho`` in [0, 0.999] (initial value when learnable).
        learnable_adaptation: learn ``rho = 0.999 * sigmoid(raw)`` (stays in (0, 0.999)); one per
            neuron when ``per_neuron_beta`` (which also makes the membrane ``beta`` per neuron).

    The other arguments are those of :class:`~brain_ai.core.neurons.base.SpikingNeuronBase`.

    ``forward_sequence`` runs the whole-sequence Function of :mod:`brain_ai.core.fused_recurrent`
    (``backend`` fused / auto) with exact gradients for the input, ``W_rec``, ``beta``, ``rho``,
    the threshold and the initial state; ``backend=triton`` runs the same Function through the
    persistent kernels of :mod:`brain_ai.core.fused_recurrent_triton` (``auto`` does not pick them
    yet: verified only under the Triton interpreter).
    """

    fused_type = NeuronType.recurrent_adaptive_lif

    def __init__(
        self,
        size: Union[int, Tuple[int]],
        *args: Any,
        adaptation_alpha: float = 0.5,
        adaptation_decay: float = 0.95,
        learnable_adaptation: bool = False,
        per_neuron_beta: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(size, *args, per_neuron_beta=per_neuron_beta, **kwargs)
        owner = type(self).__name__
        check_range(owner, "adaptation_alpha", adaptation_alpha, low=0.0)
        check_range(owner, "adaptation_decay", adaptation_decay, low=0.0, high=BETA_MAX)
        self.adaptation_alpha = float(adaptation_alpha)
        self.learnable_adaptation = bool(learnable_adaptation)
        shape = self.size if per_neuron_beta and learnable_adaptation else ()
        register_decay(self, "adaptation_decay", torch.full(shape, float(adaptation_decay)), self.learnable_adaptation)

    @classmethod
    def from_config(cls, cfg: NeuronConfig, size: Size) -> "RecurrentAdaptiveLIFNeuron":
        return cls(
            size, adaptation_alpha=cfg.adaptation_alpha, adaptation_decay=cfg.adaptation_decay,
            learnable_adaptation=cfg.learnable_adaptation, **neuron_kwargs(cfg),
        )  # fmt: skip

    @property
    def adaptation_decay(self) -> Tensor:
        """Adaptation decay ``rho`` per step, in [0, 0.999]; ``()`` or ``(N,)``."""
        return decay_value(self, "adaptation_decay", self.learnable_adaptation)

    def state_shapes(self, batch_size: int) -> Dict[str, Tuple[int, ...]]:
        return {**super().state_shapes(batch_size), "a": (batch_size, *self.size)}

    def _step(self, x: Tensor, state: SpikingState) -> Tuple[Tensor, SpikingState]:
        return recurrent_lif_step(
            x, state, w_rec=self.w_rec, step=adaptive_lif_step, adaptation_alpha=self.adaptation_alpha,
            adaptation_decay=self.adaptation_decay, **self.lif_kwargs(),
        )  # fmt: skip

    def _fused_segment(self, record: Record, backend: Backend) -> SegmentFn:
        """One :func:`~brain_ai.core.fused_recurrent.fused_recurrent_sequence` call per time segment."""

        def run(x: Tensor, state: SpikingState) -> Tuple[Dict[str, Tensor], SpikingState]:  # x (B, t, N)
            s, v, a, prev, mem = fused_recurrent_sequence(
                x, state.v, state.a, state.prev_spk, self.w_rec, self.beta, self.adaptation_decay, self.threshold,
                self.adaptation_alpha, self.reset, self.surrogate, record_membrane=record == "membrane",
                v_rest=self.v_rest, v_reset=self.v_reset, state_dtype=state.v.dtype, backend=backend,
            )
            outputs = {"out": s} if mem is None else {"out": s, "membrane": mem}
            return outputs, state.replace(v=v, a=a, prev_spk=prev)

        return run

    def extra_repr(self) -> str:
        rho = self.adaptation_decay
        rho_text = f"{rho.item():g}" if rho.dim() == 0 else f"per_neuron{tuple(rho.shape)}"
        return super().extra_repr() + (
            f", adaptation_alpha={self.adaptation_alpha}, adaptation_decay={rho_text}, "
            f"learnable_adaptation={self.learnable_adaptation}"
        )


class LeakyIntegrator(LeakyCellBase):
    r"""Non-spiking readout: ``v = beta * v + x``; the output is ``v`` itself (state dtype, fp32 under AMP).

    Use it as the last layer for membrane-potential decoding. ``forward_sequence`` returns
    ``(v (B, T, *size), final_state, traces)``.
    """

    def _step(self, x: Tensor, state: SpikingState) -> Tuple[Tensor, SpikingState]:
        return leaky_integrator_step(x, state, beta=self.beta)
