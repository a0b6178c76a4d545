r"""Pure step functions of the LIF family (no modules, no state on ``self``).

Each function maps ``(x_t, state, parameters) -> (spikes_t, new_state)`` for one time step;
tensors are ``(B, *N)``. Everything is computed in the state dtype (float32 under AMP):
``x`` may be fp16/bf16 and is promoted when added to the fp32 state. The spikes returned here
are in the state dtype; the modules cast them to the compute dtype. No op is in place.

One LIF step (``lif_step``)::

    synaptic:        i   = synaptic_beta * i + x ;  cur = i          (else cur = x)
      alpha kernel:  r   = synaptic_rise_beta * r + x ; i = synaptic_beta * i + r ; cur = i
    own drive:       cur = cur + drive   (currents the cell adds itself, e.g. AdEx; not filtered)
    refractory:      cur = cur * (ref == 0)
    charge:          v   = beta * v + cur [+ (1 - beta) * v_rest]     (leak toward v_rest)
    fire:            s   = H(v - thr)     (surrogate gradient, also w.r.t. thr)
    refractory:      s   = s * (ref == 0)
    reset subtract:  v   = v - s * thr    zero: v = v * (1 - s) [+ s * v_reset]    none: v unchanged
    refractory:      ref = where(s > 0, refractory_steps, max(ref - 1, 0))

The reset is not detached: gradients flow through ``s`` in the reset too. The bracketed terms
are only computed for a nonzero ``v_rest`` / ``v_reset``, so the defaults (0) give the results of
the plain equations bit for bit.
"""

from __future__ import annotations

from typing import Callable, Optional, Tuple, Union

import torch
from torch import Tensor

from brain_ai.config import ResetMode
from brain_ai.core.neurons.state import SpikingState
from brain_ai.core.surrogates import Surrogate

#: ``(x_t, state, **parameters) -> (spikes_t, new_state)``: one of the step functions below.
StepFn = Callable[..., Tuple[Tensor, SpikingState]]


def charge(cur: Tensor, v: Tensor, beta: Tensor, v_rest: float = 0.0) -> Tensor:
    """Leaky integration toward ``v_rest``: ``v' = beta * v + cur + (1 - beta) * v_rest`` (``beta``
    scalar or broadcastable to ``v``; the last term only when ``v_rest != 0``)."""
    v = beta * v + cur
    return v + (1.0 - beta) * v_rest if v_rest else v


def fire(v: Tensor, threshold: Tensor, surrogate: Surrogate) -> Tensor:
    """Spikes ``H(v - threshold)`` as 0/1 in v's dtype; backward ``surrogate.grad(v - threshold)``."""
    return surrogate(v - threshold)


def reset_membrane(v: Tensor, s: Tensor, threshold: Tensor, reset: ResetMode, v_reset: float = 0.0) -> Tensor:
    """Reset after a spike: subtract ``s * threshold``, zero (to ``v_reset``: ``v * (1 - s) + s * v_reset``) or none."""
    if reset is ResetMode.subtract:
        return v - s * threshold
    if reset is ResetMode.zero:
        return v * (1.0 - s) + s * v_reset if v_reset else v * (1.0 - s)
    return v


def lif_step(
    x: Tensor,
    state: SpikingState,
    *,
    beta: Tensor,
    threshold: Tensor,
    surrogate: Surrogate,
    reset: ResetMode = ResetMode.subtract,
    synaptic_beta: Optional[float] = None,
    synaptic_rise_beta: Optional[float] = None,
    refractory_steps: int = 0,
    v_rest: float = 0.0,
    v_reset: float = 0.0,
    drive: Optional[Tensor] = None,
) -> Tuple[Tensor, SpikingState]:
    """One LIF step (equations in the module docstring).

    Args:
        x: ``(B, *N)`` input current of this step.
        state: needs ``v``; ``i`` when ``synaptic_beta`` is given; ``ref`` when
            ``refractory_steps > 0``. Other fields are passed through unchanged.
        beta: membrane decay in [0, 0.999], scalar or ``(*N)``.
        threshold: firing threshold (scalar or broadcastable; AdaptiveLIF passes ``(B, *N)``).
        synaptic_beta: decay of the synaptic current; ``None`` = no synaptic current.
        synaptic_rise_beta: with ``synaptic_beta``, a second-order (alpha-kernel) current: the
            input first charges a rise stage ``state.i_rise`` decaying by this factor, which then
            feeds ``i``. Its impulse response is ``sum_k rise^k beta^(t-k)``, the difference of
            two exponentials (``(t + 1) beta^t``, the alpha function, when the two are equal).
        refractory_steps: steps a neuron ignores input and cannot fire after a spike.
        v_rest: resting potential the membrane leaks toward.
        v_reset: membrane after a spike with ``reset=zero``.
        drive: ``(B, *N)`` current the cell itself adds to the membrane input after the synaptic
            filter (AdEx: its exponential and adaptation terms); ``None`` = none.
    Returns:
        ``(s, new_state)`` with ``s (B, *N)`` in the state dtype.
    """
    i = i_rise = None
    if synaptic_beta is not None:
        if synaptic_rise_beta is not None:
            i_rise = synaptic_rise_beta * state.i_rise + x
            x = i_rise
        i = synaptic_beta * state.i + x
        cur = i
    else:
        cur = x
    if drive is not None:
        cur = cur + drive
    ready = None
    if refractory_steps > 0:
        ready = (state.ref == 0).to(state.v.dtype)  # (B, *N) 1 where not refractory
        cur = cur * ready
    v = charge(cur, state.v, beta, v_rest)
    s = fire(v, threshold, surrogate)
    ref = state.ref
    if ready is not None:
        s = s * ready
        ref = torch.where(s > 0, torch.full_like(state.ref, refractory_steps), (state.ref - 1).clamp(min=0))
    v = reset_membrane(v, s, threshold, reset, v_reset)
    i_rise = i_rise if i_rise is not None else state.i_rise
    return s, state.replace(v=v, i=i if i is not None else state.i, i_rise=i_rise, ref=ref)


def adaptive_lif_step(
    x: Tensor,
    state: SpikingState,
    *,
    threshold: Tensor,
    adaptation_alpha: float,
    adaptation_decay: Union[float, Tensor],
    **lif_kwargs,
) -> Tuple[Tensor, SpikingState]:
    """One adaptive-threshold LIF step (needs ``state.a``)::

        thr = threshold + adaptation_alpha * a       (effective threshold, uses the old a)
        s, v = lif_step(x, ..., threshold=thr)       (reset subtracts thr, the effective one)
        a   = adaptation_decay * a + s

    ``adaptation_decay`` is a number or a tensor broadcastable to ``a`` (per neuron, learnable).
    ``lif_kwargs`` are the other :func:`lif_step` arguments (beta, surrogate, reset, ...).
    """
    thr = threshold + adaptation_alpha * state.a
    s, new = lif_step(x, state, threshold=thr, **lif_kwargs)
    return s, new.replace(a=adaptation_decay * state.a + s)


def recurrent_lif_step(
    x: Tensor, state: SpikingState, *, w_rec: Tensor, step: StepFn = lif_step, **step_kwargs
) -> Tuple[Tensor, SpikingState]:
    """One recurrent step (needs ``state.prev_spk``; ``x (B, N)`` is already ``W_in x``)::

        cur = x + prev_spk @ W_rec^T        (W_rec (N, N), no bias)
        s, state = step(cur, ...);  prev_spk = s

    ``step`` is the cell the recurrent current feeds: :func:`lif_step` (RecurrentLIF) or
    :func:`adaptive_lif_step` (RecurrentAdaptiveLIF); ``step_kwargs`` are its arguments.
    """
    rec = torch.nn.functional.linear(state.prev_spk.to(w_rec.dtype), w_rec)  # (B, N)
    s, new = step(x + rec, state, **step_kwargs)
    return s, new.replace(prev_spk=s)


def delayed_input(x: Tensor, history: Tensor, delay: Tensor) -> Tuple[Tensor, Tensor]:
    """Per-neuron fractional delay of the input current by linear interpolation.

    ``history (B, D + 1, *N)`` holds the last ``D + 1`` currents, newest first. The new history
    is ``[x, history[:, :-1]]``; the delayed current of neuron n with delay ``d_n in [0, D]`` is::

        lo = floor(d_n), hi = min(lo + 1, D), f = d_n - lo
        x_del = (1 - f) * hist[lo] + f * hist[hi]        (so d x_del / d d_n = hist[hi] - hist[lo])

    Returns ``(x_del (B, *N), new_history)``.
    """
    hist = torch.cat([x.unsqueeze(1).to(history.dtype), history[:, :-1]], dim=1)  # (B, D+1, *N)
    max_delay = hist.shape[1] - 1
    lo = delay.detach().floor().clamp(max=max_delay)  # (*N) integer tap
    frac = delay - lo  # gradient to the delay flows here
    lo_idx = lo.long().expand(hist.shape[0], 1, *delay.shape)  # (B, 1, *N)
    hi_idx = (lo_idx + 1).clamp(max=max_delay)
    x_lo = hist.gather(1, lo_idx).squeeze(1)
    x_hi = hist.gather(1, hi_idx).squeeze(1)
    return (1.0 - frac) * x_lo + frac * x_hi, hist


def leaky_integrator_step(x: Tensor, state: SpikingState, *, beta: Tensor) -> Tuple[Tensor, SpikingState]:
    """Non-spiking readout: ``v = beta * v + x``; the output is ``v`` (state dtype)."""
    v = charge(x, state.v, beta)
    return v, state.replace(v=v)
