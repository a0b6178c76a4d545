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

from brain_ai.config import NeuronConfig, check_adex
from brain_ai.core.neurons.base import Size, SpikingNeuronBase
from brain_ai.core.neurons.functional import lif_step
from brain_ai.core.neurons.lif import neuron_kwargs
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

    Args:
        adex_delta_t: slope factor ``Delta_T`` (threshold units, > 0).
        adex_v_rheobase: ``V_T``, where the exponential takes over, in (v_rest, threshold).
        adex_a: subthreshold coupling ``a`` of ``w`` to ``v`` (>= 0).
        adex_b: spike-triggered jump ``b`` of ``w`` (>= 0).
        adex_tau_w: time constant of ``w`` in units of ``dt``.

    Ranges are :func:`~brain_ai.config.check_adex`'s. Only the eager backend runs it (``auto``
    picks it; ``fused`` / ``triton`` are refused with the reason).

    Example::

        adex = AdExNeuron(64, tau=20.0, reset="zero")
        spikes, final, traces = adex.forward_sequence(torch.rand(8, 50, 64), record="membrane")
    """

    def __init__(
        self,
        size: Size,
        *args: Any,
        adex_delta_t: float = NeuronConfig.adex_delta_t,
        adex_v_rheobase: float = NeuronConfig.adex_v_rheobase,
        adex_a: float = NeuronConfig.adex_a,
        adex_b: float = NeuronConfig.adex_b,
        adex_tau_w: float = NeuronConfig.adex_tau_w,
        dt: float = NeuronConfig.dt,
        **kwargs: Any,
    ) -> None:
        super().__init__(size, *args, dt=dt, **kwargs)
        thr = self.threshold.detach()
        for threshold in {thr.min().item(), thr.max().item()}:
            check_adex(type(self).__name__, threshold, self.v_rest, dt, adex_delta_t, adex_v_rheobase, adex_a, adex_b, adex_tau_w)
        self.adex_delta_t = float(adex_delta_t)
        self.adex_v_rheobase = float(adex_v_rheobase)
        self.adex_a = float(adex_a)
        self.adex_b = float(adex_b)
        self.adex_tau_w = float(adex_tau_w)
        self.w_decay = math.exp(-dt / adex_tau_w)

    @classmethod
    def from_config(cls, cfg: NeuronConfig, size: Size) -> "AdExNeuron":
        return cls(
            size, adex_delta_t=cfg.adex_delta_t, adex_v_rheobase=cfg.adex_v_rheobase, adex_a=cfg.adex_a,
            adex_b=cfg.adex_b, adex_tau_w=cfg.adex_tau_w, **neuron_kwargs(cfg),
        )  # fmt: skip

    def state_shapes(self, batch_size: int) -> Dict[str, Tuple[int, ...]]:
        return {**super().state_shapes(batch_size), "a": (batch_size, *self.size)}

    def _step(self, x: Tensor, state: SpikingState) -> Tuple[Tensor, SpikingState]:
        return adex_step(
            x, state, delta_t=self.adex_delta_t, v_rheobase=self.adex_v_rheobase, adaptation_a=self.adex_a,
            adaptation_b=self.adex_b, w_decay=self.w_decay, **self.lif_kwargs(),
        )  # fmt: skip

    def _fused_reason(self) -> Optional[str]:
        return f"{type(self).__name__} {_NO_KERNEL}"

    def _triton_reason(self) -> Optional[str]:
        return f"{type(self).__name__} {_NO_KERNEL}"

    def extra_repr(self) -> str:
        return super().extra_repr() + (
            f", adex_delta_t={self.adex_delta_t}, adex_v_rheobase={self.adex_v_rheobase}, adex_a={self.adex_a}, "
            f"adex_b={self.adex_b}, adex_tau_w={self.adex_tau_w}"
        )
