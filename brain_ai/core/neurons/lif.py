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
from typing import Any, Dict, Optional, Tuple, Union

import torch
from torch import Tensor, nn

from brain_ai.config import Backend, NeuronConfig, NeuronType
from brain_ai.core.fused_integrator import leaky_integrate
from brain_ai.core.fused_recurrent import fused_recurrent_sequence
from brain_ai.core.neurons.base import LeakyCellBase, SpikingNeuronBase, decay_value, register_decay
from brain_ai.core.neurons.functional import adaptive_lif_step, leaky_integrator_step, lif_step, recurrent_lif_step
from brain_ai.core.neurons.state import SpikingState
from brain_ai.core.unroll import Record, SegmentFn


class LIFNeuron(SpikingNeuronBase):
    r"""Leaky integrate-and-fire: ``v = beta * v + x``, ``s = H(v - thr)``, then reset.

    Example::

        lif = LIFNeuron(128, beta=0.9, threshold=1.0, reset="subtract")
        spikes, state = lif(torch.randn(32, 128))                 # one step (B, N)
        seq, final, traces = lif.forward_sequence(torch.randn(32, 25, 128), record="membrane")
    """

    neuron_type = NeuronType.lif
    backends = frozenset({Backend.eager, Backend.fused, Backend.triton})

    def _step(self, x: Tensor, state: SpikingState) -> Tuple[Tensor, SpikingState]:
        return lif_step(x, state, **self.lif_kwargs())


class AdaptiveLIFNeuron(SpikingNeuronBase):
    r"""LIF with spike-frequency adaptation (state ``a``)::

    thr = threshold + adaptation_alpha * a      (effective threshold; the reset uses it)
    LIF step with thr
    a   = adaptation_decay * a + s
    """

    neuron_type = NeuronType.adaptive_lif
    backends = frozenset({Backend.eager, Backend.fused, Backend.triton})
    adaptation_alpha = property(lambda self: float(self.params.adaptation_alpha))
    adaptation_decay = property(lambda self: float(self.params.adaptation_decay))

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
        return (
            super().extra_repr()
            + f", adaptation_alpha={self.adaptation_alpha}, adaptation_decay={self.adaptation_decay}"
        )


class RecurrentLIFNeuron(SpikingNeuronBase):
    r"""LIF with a recurrent weight on its own previous spikes (state ``prev_spk``)::

        i = W_in x + W_rec s_prev      (the caller passes W_in x; W_rec (N, N), no bias, owned here)
        LIF step with input i;  prev_spk = s

    ``size`` must be a single int ``N``. ``W_rec`` starts ``U(-1/sqrt(N), 1/sqrt(N))`` like ``nn.Linear``.
    """

    neuron_type = NeuronType.recurrent_lif

    def __init__(self, size: Union[int, Tuple[int]], params: Optional[NeuronConfig] = None, **overrides: Any) -> None:
        super().__init__(size, params, **overrides)
        if len(self.size) != 1:
            raise ValueError(f"{type(self).__name__}: size={size!r} must be a single int (N,) for a dense recurrence")
        n = self.size[0]
        bound = 1.0 / math.sqrt(n)
        self.w_rec = nn.Parameter(torch.empty(n, n).uniform_(-bound, bound))  # (N_out, N_in)

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

    Parameters (:class:`~brain_ai.config.NeuronConfig`, defaults and ranges there):
    ``adaptation_alpha`` (threshold increase per unit of ``a``), ``adaptation_decay`` (``rho``,
    the initial value when learnable), ``learnable_adaptation`` (learn ``rho = 0.999 * sigmoid(raw)``;
    one per neuron when ``per_neuron_beta``, which also makes the membrane ``beta`` per neuron).

    ``forward_sequence`` runs the whole-sequence Function of :mod:`brain_ai.core.fused_recurrent`
    (``backend`` fused; ``compiled``, auto's choice on CPU: the same Function with numba-compiled
    loops, :mod:`brain_ai.core.compiled_recurrent`) with exact gradients for the input, ``W_rec``, ``beta``, ``rho``,
    the threshold and the initial state; ``backend=triton`` runs the same Function through the
    persistent kernels of :mod:`brain_ai.core.fused_recurrent_triton` (``auto`` does not pick them
    yet: verified only under the Triton interpreter).
    """

    neuron_type = NeuronType.recurrent_adaptive_lif
    backends = frozenset({Backend.eager, Backend.fused, Backend.triton, Backend.compiled})
    auto_triton = False  # its Triton kernel is verified only under the interpreter so far (docs/gpu.md)
    time_major = True  # fused_recurrent's loops and kernels
    adaptation_alpha = property(lambda self: float(self.params.adaptation_alpha))
    learnable_adaptation = property(lambda self: self.params.learnable_adaptation)

    def __init__(self, size: Union[int, Tuple[int]], params: Optional[NeuronConfig] = None, **overrides: Any) -> None:
        super().__init__(size, params, **overrides)
        p = self.params
        shape = self.size if p.per_neuron_beta and p.learnable_adaptation else ()
        register_decay(self, "adaptation_decay", torch.full(shape, float(p.adaptation_decay)), p.learnable_adaptation)

    @property
    def adaptation_decay(self) -> Tensor:
        """Adaptation decay ``rho`` per step, in [0, 0.999]; ``()`` or ``(N,)``."""
        return decay_value(self, "adaptation_decay", self.learnable_adaptation)

    def state_shapes(self, batch_size: int) -> Dict[str, Tuple[int, ...]]:
        return {**super().state_shapes(batch_size), "a": (batch_size, *self.size)}

    def _step(self, x: Tensor, state: SpikingState) -> Tuple[Tensor, SpikingState]:
        return recurrent_lif_step(
            x,
            state,
            w_rec=self.w_rec,
            step=adaptive_lif_step,
            adaptation_alpha=self.adaptation_alpha,
            adaptation_decay=self.adaptation_decay,
            **self.lif_kwargs(),
        )

    spatial_fused = True

    def _fused_segment(self, record: Record, backend: Backend, spatial: bool = False) -> SegmentFn:
        """One :func:`~brain_ai.core.fused_recurrent.fused_recurrent_sequence` call per time segment
        (``spatial``: its spatial-only backward, the online rules')."""

        def run(x: Tensor, state: SpikingState) -> Tuple[Dict[str, Tensor], SpikingState]:  # x (B, t, N)
            s, v, a, prev, mem = fused_recurrent_sequence(
                x,
                state.v,
                state.a,
                state.prev_spk,
                self.w_rec,
                self.beta,
                self.adaptation_decay,
                self.threshold,
                self.adaptation_alpha,
                self.reset,
                self.surrogate,
                record_membrane=record == "membrane",
                v_rest=self.v_rest,
                v_reset=self.v_reset,
                state_dtype=state.v.dtype,
                backend=backend,
                spatial=spatial,
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
    ``(v (B, T, *size), final_state, traces)``. Backends: ``fused`` (what ``auto`` picks on every
    device: :func:`~brain_ai.core.fused_integrator.leaky_integrate`, one autograd Function per
    time segment, the same forward values as the unroll) and ``eager``.
    """

    backends = frozenset({Backend.eager, Backend.fused})

    def _step(self, x: Tensor, state: SpikingState) -> Tuple[Tensor, SpikingState]:
        return leaky_integrator_step(x, state, beta=self.beta)

    spatial_fused = True

    def _fused_segment(self, record: Record, backend: Backend, spatial: bool = False) -> SegmentFn:
        """``step_segment(self._cell, ...)`` as one :func:`leaky_integrate` call per time segment
        (``spatial``: its spatial-only backward, the online rules')."""

        def run(x: Tensor, state: SpikingState) -> Tuple[Dict[str, Tensor], SpikingState]:  # x (B, t, *size)
            v = leaky_integrate(x, state.v, self.beta, spatial=spatial)
            outputs = {"out": v, "membrane": v} if record == "membrane" else {"out": v}
            return outputs, state.replace(v=v[:, -1].clone())  # not a view that keeps the segment's v alive

        return run
