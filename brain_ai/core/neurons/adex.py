r"""AdEx: the adaptive exponential integrate-and-fire neuron (Brette & Gerstner 2005).

Continuous time, with the rest ``E_L`` = ``v_rest`` (default 0) and ``V_peak`` = ``threshold``::

    tau_m dv/dt = -(v - v_rest) + Delta_T exp((v - V_T) / Delta_T) - w + R I
    tau_w dw/dt = a (v - v_rest) - w
    v >= threshold:  v -> reset (subtract | zero: v_reset | none),  w -> w + b

One step of length ``dt`` (exponential Euler, both updates read the old ``v`` and ``w``; ``beta =
exp(-dt / tau_m)`` is the neuron's membrane decay, ``w_decay = exp(-dt / tau_w)``)::

    e  = Delta_T * exp((min(v, threshold) - V_T) / Delta_T)       exponential spike initiation
    v' = beta * v + (1 - beta) * (v_rest + e - w) + x              (lif_step with drive (1 - beta)(e - w))
    s  = H(v' - threshold);  v' reset (subtract | zero | none)
    w' = w_decay * w + (1 - w_decay) * a * (v - v_rest) + b * s    subthreshold coupling a, jump b

``x`` is the input current of the step (``R I`` scaled like every brain_ai neuron's input). The
exponential is read at ``min(v, threshold)``: a membrane above the threshold spikes this step
anyway, and the cap keeps the term finite (it is at most ``Delta_T exp(20)``,
:data:`~brain_ai.config.ADEX_MAX_EXPONENT`), also with ``reset=none``. With ``Delta_T -> 0`` and ``a = b = 0`` the step is
the LIF step. ``w`` lives in the state field ``a`` (the adaptation variable). Synaptic current
and refractoriness apply as in :func:`~brain_ai.core.neurons.functional.lif_step`.
"""

from __future__ import annotations

import math
from typing import Any, Dict, Optional, Tuple

import torch
from torch import Tensor

from brain_ai.config import Backend, NeuronConfig, NeuronType, check_adex
from brain_ai.core.neurons.base import Size, SpikingNeuronBase
from brain_ai.core.neurons.functional import lif_step
from brain_ai.core.neurons.state import SpikingState

#: why no whole-sequence kernel runs AdEx (the fused and Triton backends refuse it with this)
_NO_KERNEL = "has no fused kernel: the fused LIF Function and the Triton kernels have no exponential spike initiation or adaptation current w"


def adex_step(
    x: Tensor,
    state: SpikingState,
    *,
    beta: Tensor,
    threshold: Tensor,
    delta_t: float,
    v_rheobase: float,
    adaptation_a: float,
    adaptation_b: float,
    w_decay: float,
    v_rest: float = 0.0,
    **lif_kwargs: Any,
) -> Tuple[Tensor, SpikingState]:
    """One AdEx step (equations in the module docstring); needs ``state.a`` (= ``w``, ``(B, *N)``).

    ``lif_kwargs`` are the other :func:`lif_step` arguments (surrogate, reset, synaptic, refractory).
    Returns ``(s, new_state)``, ``s (B, *N)`` in the state dtype.
    """
    v, w = state.v, state.a
    spike_initiation = delta_t * torch.exp((torch.minimum(v, threshold) - v_rheobase) / delta_t)
    drive = (1.0 - beta) * (spike_initiation - w)
    s, new = lif_step(x, state, beta=beta, threshold=threshold, v_rest=v_rest, drive=drive, **lif_kwargs)
    return s, new.replace(a=w_decay * w + (1.0 - w_decay) * adaptation_a * (v - v_rest) + adaptation_b * s)


class AdExNeuron(SpikingNeuronBase):
    r"""Adaptive exponential integrate-and-fire layer (state ``v``, ``a`` = the adaptation current ``w``).

    The other arguments (``size``, ``beta`` / ``tau``, ``threshold``, ``v_rest``, ``v_reset``, ...) are
    :class:`SpikingNeuronBase`'s (``beta`` is the membrane decay ``exp(-dt / tau_m)``).

    Parameters (:class:`~brain_ai.config.NeuronConfig`; ranges on its fields and :func:`~brain_ai.config.check_adex`):
    ``adex_delta_t`` (slope factor ``Delta_T``), ``adex_v_rheobase`` (``V_T``), ``adex_a`` (subthreshold
    coupling), ``adex_b`` (spike-triggered jump), ``adex_tau_w`` (time constant of ``w``, units of ``dt``).
    Only the eager backend runs it (``auto`` picks it; ``fused`` / ``triton`` are refused with the reason).

    Example::

        adex = AdExNeuron(64, tau=20.0, reset="zero")
        spikes, final, traces = adex.forward_sequence(torch.rand(8, 50, 64), record="membrane")
    """

    neuron_type = NeuronType.adex
    adex_delta_t = property(lambda self: float(self.params.adex_delta_t))
    adex_v_rheobase = property(lambda self: float(self.params.adex_v_rheobase))
    adex_a = property(lambda self: float(self.params.adex_a))
    adex_b = property(lambda self: float(self.params.adex_b))
    adex_tau_w = property(lambda self: float(self.params.adex_tau_w))

    def __init__(self, size: Size, params: Optional[NeuronConfig] = None, **overrides: Any) -> None:
        super().__init__(size, params, **overrides)
        p, thr = self.params, self.threshold.detach()
        if "threshold" in overrides:  # a tensor of initial thresholds: the config checked its own number only
            for threshold in {thr.min().item(), thr.max().item()}:
                check_adex(
                    type(self).__name__,
                    threshold,
                    p.v_rest,
                    p.dt,
                    p.adex_delta_t,
                    p.adex_v_rheobase,
                    p.adex_tau_w,
                )

    @property
    def w_decay(self) -> float:
        """Per-step decay ``exp(-dt / tau_w)`` of the adaptation current ``w``."""
        return math.exp(-self.params.dt / self.params.adex_tau_w)

    def state_shapes(self, batch_size: int) -> Dict[str, Tuple[int, ...]]:
        return {**super().state_shapes(batch_size), "a": (batch_size, *self.size)}

    def _step(self, x: Tensor, state: SpikingState) -> Tuple[Tensor, SpikingState]:
        return adex_step(
            x,
            state,
            delta_t=self.adex_delta_t,
            v_rheobase=self.adex_v_rheobase,
            adaptation_a=self.adex_a,
            adaptation_b=self.adex_b,
            w_decay=self.w_decay,
            **self.lif_kwargs(),
        )

    def backend_unsupported(self, backend: Backend) -> Optional[str]:
        return None if backend is Backend.eager else f"{type(self).__name__} {_NO_KERNEL}"

    def extra_repr(self) -> str:
        return super().extra_repr() + (
            f", adex_delta_t={self.adex_delta_t}, adex_v_rheobase={self.adex_v_rheobase}, adex_a={self.adex_a}, "
            f"adex_b={self.adex_b}, adex_tau_w={self.adex_tau_w}"
        )
