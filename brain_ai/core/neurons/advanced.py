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

import math
from typing import Dict, Optional, Tuple, Union

import torch
from torch import Tensor, nn

from brain_ai.config import (
    BETA_MAX, ConfigError, DtypePolicy, NeuronConfig, ResetMode, SynapticKernel, TauDistribution, ThresholdShape, check_range,
    coerce_enum,
)  # fmt: skip
from brain_ai.core.neurons.base import Size, SpikingNeuronBase, as_shape
from brain_ai.core.neurons.functional import adaptive_lif_step, delayed_input
from brain_ai.core.neurons.lif import neuron_kwargs
from brain_ai.core.neurons.state import SpikingState
from brain_ai.core.surrogates import Surrogate

#: Sampled time constants are truncated to this range (steps) so that beta = exp(-1/tau) stays
#: strictly inside (0, 0.999), where its logit parameterisation is finite.
TAU_RANGE = (0.5, 500.0)


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
    ``mu = ln(mean) - sigma^2 / 2``. Draws are then truncated to :data:`TAU_RANGE`.
    """
    distribution = coerce_enum("neuron", "tau_distribution", distribution, TauDistribution)
    check_range("neuron", "tau_mean", mean, low=TAU_RANGE[0], high=TAU_RANGE[1])
    check_range("neuron", "tau_std", std, low=0.0)
    if distribution is TauDistribution.constant:
        tau = torch.full(shape, float(mean))
    elif distribution is TauDistribution.uniform:
        half = math.sqrt(3.0) * std
        if mean - half <= 0:
            raise ValueError(
                f"neuron.tau_std={std!r} is too large for a uniform tau with tau_mean={mean!r}: "
                f"the lower bound tau_mean - sqrt(3)*tau_std = {mean - half:g} must be > 0"
            )
        tau = mean - half + 2 * half * torch.rand(shape, generator=generator)
    else:
        sigma2 = math.log1p((std / mean) ** 2)
        mu = math.log(mean) - sigma2 / 2
        tau = torch.exp(mu + math.sqrt(sigma2) * torch.randn(shape, generator=generator))
    return tau.clamp(*TAU_RANGE)


class AdvancedLIFNeuron(SpikingNeuronBase):
    """LIF with heterogeneous learnable per-neuron tau and learnable per-neuron input delays.

    Args:
        size: feature shape of one step.
        threshold, threshold_shape, reset, surrogate, surrogate_alpha, learnable_threshold, synaptic,
        synaptic_beta, synaptic_kernel, synaptic_rise_beta, refractory_steps, v_rest, v_reset, dtype_policy:
            as in :class:`SpikingNeuronBase`.
        adaptation_alpha, adaptation_decay: spike-frequency adaptation (state ``a``), the rule of
            :class:`AdaptiveLIFNeuron`; ``adaptation_alpha=0`` switches its effect off.
        tau_distribution, tau_mean, tau_std: initial per-neuron time constants (:func:`sample_tau`);
            beta is always per-neuron and learnable.
        max_delay: ``D``; delays live in [0, D] steps (0 disables delays and the history buffer).
        generator: optional RNG for tau and the initial delays (uniform in [0.1 D, 0.9 D]).
    """

    def __init__(
        self,
        size: Size,
        threshold: Union[float, Tensor] = NeuronConfig.threshold,
        *,
        threshold_shape: Union[ThresholdShape, str] = NeuronConfig.threshold_shape,
        tau_distribution: Union[TauDistribution, str] = NeuronConfig.tau_distribution,
        tau_mean: float = NeuronConfig.tau_mean,
        tau_std: float = NeuronConfig.tau_std,
        max_delay: int = NeuronConfig.max_delay,
        reset: Union[ResetMode, str] = NeuronConfig.reset,
        surrogate: Union[str, Surrogate] = NeuronConfig.surrogate.name,
        surrogate_alpha: Optional[float] = None,
        learnable_threshold: bool = NeuronConfig.learnable_threshold,
        synaptic: bool = NeuronConfig.synaptic,
        synaptic_beta: float = NeuronConfig.synaptic_beta,
        synaptic_kernel: Union[SynapticKernel, str] = NeuronConfig.synaptic_kernel,
        synaptic_rise_beta: float = NeuronConfig.synaptic_rise_beta,
        refractory_steps: int = NeuronConfig.refractory_steps,
        adaptation_alpha: float = NeuronConfig.adaptation_alpha,
        adaptation_decay: float = NeuronConfig.adaptation_decay,
        v_rest: float = NeuronConfig.v_rest,
        v_reset: float = NeuronConfig.v_reset,
        dtype_policy: Union[DtypePolicy, str] = NeuronConfig.dtype_policy,
        generator: Optional[torch.Generator] = None,
    ) -> None:
        shape = as_shape(type(self).__name__, size)
        tau = sample_tau(shape, tau_distribution, tau_mean, tau_std, generator)
        super().__init__(
            shape,
            torch.exp(-1.0 / tau),
            threshold,
            threshold_shape=threshold_shape,
            reset=reset,
            surrogate=surrogate,
            surrogate_alpha=surrogate_alpha,
            learnable_beta=True,
            per_neuron_beta=True,
            learnable_threshold=learnable_threshold,
            synaptic=synaptic,
            synaptic_beta=synaptic_beta,
            synaptic_kernel=synaptic_kernel,
            synaptic_rise_beta=synaptic_rise_beta,
            refractory_steps=refractory_steps,
            v_rest=v_rest,
            v_reset=v_reset,
            dtype_policy=dtype_policy,
        )
        check_range(type(self).__name__, "adaptation_alpha", adaptation_alpha, low=0.0)
        check_range(type(self).__name__, "adaptation_decay", adaptation_decay, low=0.0, high=BETA_MAX)
        self.adaptation_alpha = float(adaptation_alpha)
        self.adaptation_decay = float(adaptation_decay)
        check_range(type(self).__name__, "max_delay", max_delay, low=0, integer=True)
        self.max_delay = max_delay
        if max_delay > 0:
            frac = 0.1 + 0.8 * torch.rand(shape, generator=generator)  # initial d / D
            self.delay_raw = nn.Parameter(torch.logit(frac))

    @classmethod
    def from_config(cls, cfg: NeuronConfig, size: Size) -> "AdvancedLIFNeuron":
        kw = neuron_kwargs(cfg)
        for key in ("beta", "tau"):
            if kw[key] is not None:
                raise ConfigError(
                    f"neuron.{key}={kw[key]!r} is not used by type=advanced_lif, which draws one tau per neuron "
                    f"(in steps); set neuron.tau_mean / tau_std / tau_distribution (constant: one tau) instead"
                )
        for key in ("beta", "tau", "dt", "learnable_beta", "per_neuron_beta"):  # beta comes from the tau draw
            kw.pop(key)
        return cls(
            size,
            tau_distribution=cfg.tau_distribution,
            tau_mean=cfg.tau_mean,
            tau_std=cfg.tau_std,
            max_delay=cfg.max_delay,
            adaptation_alpha=cfg.adaptation_alpha,
            adaptation_decay=cfg.adaptation_decay,
            **kw,
        )

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

