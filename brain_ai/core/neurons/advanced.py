r"""AdvancedLIFNeuron: heterogeneous learnable time constants and learnable input delays.

Per step, for neuron n with decay ``beta_n = exp(-1 / tau_n)`` and delay ``d_n in [0, D]``::

    hist  = [x, hist[0], ..., hist[D - 1]]                     (state.spike_history, newest first)
    x_del = (1 - f_n) * hist[floor(d_n)] + f_n * hist[min(floor(d_n) + 1, D)],  f_n = d_n - floor(d_n)
    adaptive LIF step (adaptive_lif_step) with input x_del and per-neuron beta_n:
        thr = threshold + adaptation_alpha * a ; LIF step with thr ; a = adaptation_decay * a + s

Both ``beta_n = 0.999 * sigmoid(raw_n)`` and ``d_n = D * sigmoid(delay_raw_n)`` are
parameterised so that every optimiser step keeps them in range. The delay receives gradient
through the linear interpolation (``d x_del / d d_n = hist[hi] - hist[lo]``); spikes stay binary.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, Dict, Optional, Tuple, Union

import torch
from torch import Tensor, nn

from brain_ai.config import (
    TAU_RANGE,
    ConfigError,
    NeuronConfig,
    NeuronType,
    TauDistribution,
    check_tau_draw,
    coerce_enum,
)
from brain_ai.core.neurons.base import Size, SpikingNeuronBase, as_shape, neuron_params
from brain_ai.core.neurons.functional import adaptive_lif_step, delayed_input
from brain_ai.core.neurons.state import SpikingState


def sample_tau(
    shape: Tuple[int, ...],
    distribution: Union[TauDistribution, str],
    mean: float,
    std: float,
    generator: Optional[torch.Generator] = None,
) -> Tensor:
    """Draw per-neuron time constants (steps) with the given mean and standard deviation.

    constant: all ``mean``; uniform: ``U(mean - sqrt(3) std, mean + sqrt(3) std)`` (needs a
    positive lower bound); lognormal: ``exp(N(mu, sigma^2))`` with ``sigma^2 = ln(1 + std^2/mean^2)``,
    ``mu = ln(mean) - sigma^2 / 2``. Draws are then truncated to :data:`~brain_ai.config.TAU_RANGE`;
    the mean and std are checked by :func:`~brain_ai.config.check_tau_draw` (as the config checks them).
    """
    distribution = coerce_enum("neuron", "tau_distribution", distribution, TauDistribution)
    check_tau_draw("neuron", distribution, mean, std)
    if distribution is TauDistribution.constant:
        tau = torch.full(shape, float(mean))
    elif distribution is TauDistribution.uniform:
        half = math.sqrt(3.0) * std
        tau = mean - half + 2 * half * torch.rand(shape, generator=generator)
    else:
        sigma2 = math.log1p((std / mean) ** 2)
        mu = math.log(mean) - sigma2 / 2
        tau = torch.exp(mu + math.sqrt(sigma2) * torch.randn(shape, generator=generator))
    return tau.clamp(*TAU_RANGE)


class AdvancedLIFNeuron(SpikingNeuronBase):
    """LIF with heterogeneous learnable per-neuron tau and learnable per-neuron input delays.

    Parameters (:class:`~brain_ai.config.NeuronConfig`, defaults and ranges there): those of
    :class:`SpikingNeuronBase` except ``beta`` / ``tau`` / ``dt`` (beta is always per-neuron and
    learnable, drawn by :func:`sample_tau` from ``tau_distribution``, ``tau_mean``, ``tau_std``);
    ``adaptation_alpha``, ``adaptation_decay``: spike-frequency adaptation (state ``a``), the rule
    of :class:`AdaptiveLIFNeuron` (``adaptation_alpha=0`` switches its effect off); ``max_delay``:
    ``D``, delays live in [0, D] steps (0 disables delays and the history buffer).
    ``generator``: optional RNG for tau and the initial delays (uniform in [0.1 D, 0.9 D]).
    """

    neuron_type = NeuronType.advanced_lif
    adaptation_alpha = property(lambda self: float(self.params.adaptation_alpha))
    adaptation_decay = property(lambda self: float(self.params.adaptation_decay))
    max_delay = property(lambda self: self.params.max_delay)

    def __init__(
        self,
        size: Size,
        params: Optional[NeuronConfig] = None,
        *,
        generator: Optional[torch.Generator] = None,
        **overrides: Any,
    ) -> None:
        owner = type(self).__name__
        shape = as_shape(owner, size)
        p, initial = neuron_params(owner, params, self.neuron_type, overrides)
        for key in ("beta", "tau"):
            value = initial.get(key, getattr(p, key))
            if value is not None:
                raise ConfigError(
                    f"neuron.{key}={value!r} is not used by type=advanced_lif, which draws one tau per neuron "
                    f"(in steps); set neuron.tau_mean / tau_std / tau_distribution (constant: one tau) instead"
                )
        tau = sample_tau(shape, p.tau_distribution, p.tau_mean, p.tau_std, generator)
        p = dataclasses.replace(p, learnable_beta=True, per_neuron_beta=True)  # beta comes from the tau draw
        super().__init__(shape, p, beta=torch.exp(-1.0 / tau), **initial)
        if p.max_delay > 0:
            frac = 0.1 + 0.8 * torch.rand(shape, generator=generator)  # initial d / D
            self.delay_raw = nn.Parameter(torch.logit(frac))

    @property
    def tau(self) -> Tensor:
        """Per-neuron membrane time constant in steps, ``-1 / ln(beta)``, shape ``size``."""
        return -1.0 / torch.log(self.beta)

    @property
    def delay(self) -> Optional[Tensor]:
        """Per-neuron input delay in [0, max_delay] steps (``None`` when ``max_delay == 0``)."""
        return self.max_delay * torch.sigmoid(self.delay_raw) if self.max_delay > 0 else None

    def state_shapes(self, batch_size: int) -> Dict[str, Tuple[int, ...]]:
        shapes = {**super().state_shapes(batch_size), "a": (batch_size, *self.size)}
        if self.max_delay > 0:
            shapes["spike_history"] = (batch_size, self.max_delay + 1, *self.size)
        return shapes

    def _step(self, x: Tensor, state: SpikingState) -> Tuple[Tensor, SpikingState]:
        adapt = dict(adaptation_alpha=self.adaptation_alpha, adaptation_decay=self.adaptation_decay)
        if self.max_delay == 0:
            return adaptive_lif_step(x, state, **adapt, **self.lif_kwargs())
        x_del, hist = delayed_input(x, state.spike_history, self.delay)
        s, new = adaptive_lif_step(x_del, state, **adapt, **self.lif_kwargs())
        return s, new.replace(spike_history=hist)

    def extra_repr(self) -> str:
        adapt = f", adaptation_alpha={self.adaptation_alpha}, adaptation_decay={self.adaptation_decay}"
        return super().extra_repr() + f", max_delay={self.max_delay}" + adapt
