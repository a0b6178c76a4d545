r"""Spike encoders: continuous input -> batch-first spike trains ``(B, T, ...)``.

Every encoder is an ``nn.Module`` built from an :class:`~brain_ai.config.EncodingConfig`
(``build_encoder(cfg)``) and returns a :class:`SpikeBatch`. Static encoders take one sample per
batch element, ``(B, N)``, ``(B, C, L)`` or ``(B, C, H, W)``, and emit ``T = cfg.num_steps``
steps; ``delta`` and ``identity`` take a sequence ``(B, T, ...)`` and keep its ``T``.

Intensity encoders first normalise ``x`` to ``[0, 1]`` (``cfg.normalization``): ``none``
(no change), ``minmax`` per sample ``(x - min) / (max - min)`` (a constant sample maps to 0),
``sigmoid``, ``clamp`` (clips to [0, 1]). Each mode accepts input in its range of
:data:`ACCEPTED_INPUT_RANGES` only -- ``none`` [0, 1], ``clamp`` [-1, 2] (it clips small excursions
of input on the [0, 1] scale), ``sigmoid`` [-10, 10] (beyond, every value maps to 0 or 1),
``minmax`` any finite value -- so input on another scale (0-255 pixels) is an error naming the
encoder, the observed range and the accepted one, never an all-ones spike train.

==================  ==============================================================================
encoder             code (``x`` normalised, ``p`` a spike probability per step)
==================  ==============================================================================
rate_bernoulli      ``p = clamp(rate_gain * x + rate_bias, 0, 1)``; ``s_t = [U_t < p]``
rate_poisson        Poisson events of intensity ``p`` per step, a bin spikes iff it holds >= 1
                    event: ``P(s_t = 1) = 1 - exp(-p)``
rate_deterministic  regular spikes, ``s_t = floor((t + 1) p) - floor(t p)``: ``floor(T p)`` spikes
latency             one spike (or a burst of ``latency_burst``) at ``t(x)`` in ``[t_min, t_max]``:
                    linear ``t_max - x (t_max - t_min)``; exponential ``t_min + tau ln(1/x)``;
                    log ``t_max - (t_max - t_min) ln(1 + (e - 1) x)``; rounded to whole steps
ttfs                latency with exactly one spike per neuron (``spike_times`` -1 where none)
population          ``P`` Gaussian tuning curves ``a_p = exp(-(x - c_p)^2 / (2 sigma^2))``, each
                    rate-coded like rate_bernoulli; features ``(F0, ...) -> (F0 * P, ...)``;
                    ``population_silent_zero``: centres in (0, 1] and rates
                    ``max(a_p(x) - a_p(0), 0) / (1 - a_p(0))``, so ``x = 0`` emits no spike
delta               ON / OFF channels ``(F0, ...) -> (2 F0, ...)``: ON where ``x_t - r > thr``,
                    OFF where ``x_t - r < -thr``; the reference ``r`` starts at ``x_0`` (or a
                    passed ``state``) and jumps to ``x_t`` wherever a spike was emitted
identity            the input already is spikes / event frames ``(B, T, ...)`` (passed through)
direct              no spikes: the normalised input is the input current of every step,
                    ``out_t = x`` for ``num_steps`` steps (Edifice's constant-current input);
                    on a value sequence (data=smnist, ``build_encoder(cfg, value_sequence=True)``)
                    the input is a sequence ``(B, T, ...)`` of currents, ``out_t = x_t``
                    (normalised over the whole sample)
==================  ==============================================================================

In eval mode with ``deterministic_eval`` the rate and population encoders emit the regular
code at the same spike probability (``floor((t+1) P) - floor(t P)``) instead of sampling, and
latency jitter is off. Sampling happens in fp32 (fp64 for fp64 input) and spikes are cast
afterwards to ``cfg.spike_dtype``: ``float``, the input's dtype (float32 for integer input), or
the compact ``uint8`` / ``bool`` (1 byte per element instead of 4; the networks convert them to
their compute dtype at the first layer, with the same results). Float rate and population spikes
carry a straight-through gradient ``d s / d p = 1`` so input scaling and learned centres can
train; compact spikes carry none (an input that requires grad is refused); latency, delta and
identity spikes carry none. direct emits real values and takes only ``spike_dtype=float``.
"""

from __future__ import annotations

import abc
import math
from dataclasses import dataclass, field
from typing import Any, ClassVar, Dict, Optional, Tuple, Type

import torch
from torch import Tensor, nn

from brain_ai.config import CentersMode, EncoderType, EncodingConfig, LatencyMapping, NormalizationType, SpikeDtype
from brain_ai.core.neurons.state import check_finite

BATCH_DIM = 0
TIME_DIM = 1


def time_to_batch_first(x: Tensor) -> Tensor:
    """``(T, B, ...) -> (B, T, ...)`` (a view)."""
    if x.dim() < 2:
        raise ValueError(f"time_to_batch_first: x.shape={tuple(x.shape)} needs at least 2 dims (T, B, ...)")
    return x.transpose(0, 1)


def batch_to_time_first(x: Tensor) -> Tensor:
    """``(B, T, ...) -> (T, B, ...)`` (a view)."""
    if x.dim() < 2:
        raise ValueError(f"batch_to_time_first: x.shape={tuple(x.shape)} needs at least 2 dims (B, T, ...)")
    return x.transpose(0, 1)


@dataclass
class SpikeBatch:
    """An encoded batch.

    spikes: ``(B, T, *feature_shape)``, 0/1 values (the input's float dtype, or uint8 / bool per
    ``encoding.spike_dtype``; identity: event counts); mask: ``(B, T)`` bool, True where
    the step is valid (all True unless ragged); aux: encoder extras (``rates``, ``spike_times``,
    ``population_map``, ``norm_min`` / ``norm_max``, ``state``).
    """

    spikes: Tensor
    mask: Optional[Tensor] = None
    aux: Dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.spikes.dim() < 3:
            raise ValueError(f"SpikeBatch.spikes.shape={tuple(self.spikes.shape)} must be (B, T, ...) with >= 3 dims")
        bt = tuple(self.spikes.shape[:2])
        if self.mask is None:
            self.mask = torch.ones(bt, dtype=torch.bool, device=self.spikes.device)
        elif tuple(self.mask.shape) != bt or self.mask.dtype != torch.bool:
            raise ValueError(
                f"SpikeBatch.mask must be a bool tensor of shape (B, T)={bt}, got {self.mask.dtype} {tuple(self.mask.shape)}"
            )

    @property
    def batch_size(self) -> int:
        return self.spikes.shape[BATCH_DIM]

    @property
    def time_steps(self) -> int:
        return self.spikes.shape[TIME_DIM]

    @property
    def feature_shape(self) -> Tuple[int, ...]:
        return tuple(self.spikes.shape[2:])

    @property
    def device(self) -> torch.device:
        return self.spikes.device

    def is_binary(self) -> bool:
        """True iff every entry of ``spikes`` is exactly 0 or 1."""
        return bool(((self.spikes == 0) | (self.spikes == 1)).all())


class _StraightThrough(torch.autograd.Function):
    """Forward: the sampled spikes ``s`` unchanged. Backward: ``d s / d p = 1`` (to ``p``'s dtype)."""

    @staticmethod
    def forward(p: Tensor, s: Tensor) -> Tensor:  # type: ignore[override]
        return s.clone()

    @staticmethod
    def setup_context(ctx, inputs, output) -> None:  # noqa: ANN001
        ctx.p_dtype = inputs[0].dtype

    @staticmethod
    def backward(ctx, grad: Tensor):  # noqa: ANN001
        return grad.to(ctx.p_dtype), None


def _work_dtype(x: Tensor) -> torch.dtype:
    """Sampling / normalisation dtype: fp64 for fp64 input, else fp32 (also under autocast)."""
    return torch.float64 if x.dtype == torch.float64 else torch.float32


def _float_dtype(x: Tensor) -> torch.dtype:
    """The input's float dtype (float32 for integer / bool input)."""
    return x.dtype if x.is_floating_point() else torch.float32


#: ``encoding.spike_dtype`` -> storage dtype of compact spikes
_COMPACT_DTYPES = {SpikeDtype.uint8: torch.uint8, SpikeDtype.bool: torch.bool}


#: ``encoding.normalization`` -> the input range it accepts (``minmax`` accepts any finite input)
ACCEPTED_INPUT_RANGES: Dict[NormalizationType, Tuple[float, float]] = {
    NormalizationType.none: (0.0, 1.0),
    NormalizationType.clamp: (-1.0, 2.0),
    NormalizationType.sigmoid: (-10.0, 10.0),
}


def check_input_range(x: Tensor, mode: NormalizationType, encoder: str) -> None:
    """Raise ValueError if ``x`` leaves the range that normalisation ``mode`` accepts
    (:data:`ACCEPTED_INPUT_RANGES`), naming the encoder, the observed and the accepted range."""
    if mode not in ACCEPTED_INPUT_RANGES or not x.numel():
        return
    low, high = ACCEPTED_INPUT_RANGES[mode]
    seen_low, seen_high = torch.stack(torch.aminmax(x)).tolist()  # one host sync per batch, not two
    if seen_low < low or seen_high > high:
        raise ValueError(
            f"{encoder} encoder: input values span [{seen_low:.4g}, {seen_high:.4g}], outside [{low:g}, {high:g}], the range "
            f"encoding.normalization={mode.value} accepts; use encoding.normalization=minmax (scales each sample to "
            f"[0, 1]) or scale the data to [0, 1]"
        )


def normalize(
    x: Tensor, mode: NormalizationType, *, encoder: str = "", per_sample_dims: int = 1, check_range: bool = True
) -> Tuple[Tensor, Dict[str, Tensor]]:
    """Map ``x`` to [0, 1] in the work dtype; returns ``(x_norm, stats)``.

    ``minmax`` reduces over every dim after the first ``per_sample_dims`` (the batch), so each
    sample is scaled by its own ``min``/``max`` (given back as ``stats['norm_min'/'norm_max']``,
    shape ``(B,)``). With ``check_range``, input outside the mode's :data:`ACCEPTED_INPUT_RANGES`
    raises (the message names ``encoder``).
    """
    x = x.to(_work_dtype(x))
    if check_range:
        check_input_range(x, mode, encoder)
    if mode is NormalizationType.none:
        return x, {}
    if mode is NormalizationType.sigmoid:
        return torch.sigmoid(x), {}
    if mode is NormalizationType.clamp:
        return x.clamp(0.0, 1.0), {}
    flat = x.flatten(per_sample_dims)  # (B, F)
    lo, hi = flat.amin(-1), flat.amax(-1)  # (B,)
    span = hi - lo
    shape = lo.shape + (1,) * (x.dim() - per_sample_dims)
    safe_span = torch.where(span > 0, span, torch.ones_like(span))  # constant sample -> (x - lo) = 0
    return (x - lo.view(shape)) / safe_span.view(shape), {"norm_min": lo.detach(), "norm_max": hi.detach()}


def regular_spikes(prob: Tensor, num_steps: int) -> Tensor:
    """Deterministic code at spike probability ``prob`` (B, *F) -> bool ``(B, T, *F)``.

    ``s_t = floor((t + 1) prob) - floor(t prob)``, so ``sum_t s_t = floor(T prob)`` (+1e-6 guards
    against ``0.1 * 10 = 0.9999999``).
    """
    shape = (1, num_steps) + (1,) * (prob.dim() - 1)
    steps = torch.arange(1, num_steps + 1, device=prob.device, dtype=prob.dtype).view(shape)  # (1, T, 1..)
    cum = torch.floor(steps * prob.detach().unsqueeze(1) + 1e-6)  # (B, T, *F) spikes emitted up to t
    prev = torch.cat([torch.zeros_like(cum[:, :1]), cum[:, :-1]], dim=1)
    return (cum - prev) > 0


class Encoder(nn.Module, metaclass=abc.ABCMeta):
    """Base encoder: validates input, runs :meth:`encode`, wraps the result in a SpikeBatch.

    ``input_ranks``: allowed ``x.dim()`` (static: ``(B, N)``, ``(B, C, L)``, ``(B, C, H, W)``).
    ``forward(x, generator=None)``: an explicit ``torch.Generator`` wins; otherwise, with
    ``cfg.seed`` set, the encoder's own generator (seeded once per device, advancing on every
    call, so two encoders with the same seed produce the same sequence of batches); otherwise
    the global RNG.
    """

    name: ClassVar[str] = ""
    input_ranks: ClassVar[Tuple[int, ...]] = (2, 3, 4)
    #: False for encoders whose output is an input current, not 0/1 spikes (direct)
    emits_spikes: ClassVar[bool] = True
    #: True for time codes (latency, ttfs): each input arrives once, its value in the spike's time,
    #: so the network integrates it through a synaptic current (``snn.neuron.synaptic`` unset;
    #: :func:`brain_ai.core.snn.with_synaptic_default`)
    time_coded: ClassVar[bool] = False

    def __init__(self, cfg: EncodingConfig) -> None:
        super().__init__()
        if not isinstance(cfg, EncodingConfig):
            raise TypeError(f"{type(self).__name__}: cfg must be an EncodingConfig, got {type(cfg).__name__}")
        self.cfg = cfg
        self._generators: Dict[torch.device, torch.Generator] = {}

    def _generator(self, device: torch.device) -> Optional[torch.Generator]:
        if self.cfg.seed is None:
            return None
        if device not in self._generators:
            self._generators[device] = torch.Generator(device=device).manual_seed(self.cfg.seed)
        return self._generators[device]

    def _check_input(self, x: Tensor) -> None:
        if not isinstance(x, Tensor):
            raise TypeError(f"{self.name} encoder: x must be a torch.Tensor, got {type(x).__name__}")
        if x.dim() not in self.input_ranks:
            raise ValueError(
                f"{self.name} encoder: x.shape={tuple(x.shape)} has rank {x.dim()}; allowed ranks: {self.input_ranks}"
            )
        check_finite(f"{self.name} encoder", x)

    @property
    def deterministic(self) -> bool:
        """True in eval mode when ``cfg.deterministic_eval`` (no sampling, no jitter)."""
        return not self.training and self.cfg.deterministic_eval

    @property
    def compact(self) -> bool:
        """True when the spikes are stored as uint8 / bool (``cfg.spike_dtype``)."""
        return self.cfg.spike_dtype is not SpikeDtype.float

    def spike_dtype(self, x: Tensor) -> torch.dtype:
        """Storage dtype of the spikes encoded from ``x`` (``cfg.spike_dtype``)."""
        return _COMPACT_DTYPES.get(self.cfg.spike_dtype) or _float_dtype(x)

    def forward(self, x: Tensor, *, generator: Optional[torch.Generator] = None) -> SpikeBatch:
        """x: static ``(B, ...)`` -> SpikeBatch with spikes ``(B, T, *output_shape(x.shape[1:]))``."""
        self._check_input(x)
        gen = generator if generator is not None else self._generator(x.device)
        spikes, aux = self.encode(x, gen)
        return SpikeBatch(spikes=spikes, aux=aux)

    @abc.abstractmethod
    def encode(self, x: Tensor, generator: Optional[torch.Generator]) -> Tuple[Tensor, Dict[str, Any]]:
        """``x (B, ...)`` -> ``(spikes (B, T, ...), aux)``; sample with ``generator`` (None = global RNG)."""

    @classmethod
    def step_shape(cls, cfg: EncodingConfig, input_shape: Tuple[int, ...]) -> Tuple[int, ...]:
        """Per-step feature shape of the spikes for per-sample ``input_shape`` (no batch, no time),
        from the config alone (no encoder built)."""
        return tuple(input_shape)

    def output_shape(self, input_shape: Tuple[int, ...]) -> Tuple[int, ...]:
        """:meth:`step_shape` of this encoder's config."""
        return self.step_shape(self.cfg, input_shape)


class RateBernoulliEncoder(Encoder):
    """Rate code: ``p = clamp(gain x + bias, 0, 1)``, ``s_t ~ Bernoulli(spike_probability(p))``."""

    name = EncoderType.rate_bernoulli.name
    #: False: always the regular (deterministic) code
    sampled: ClassVar[bool] = True

    def rates(self, x_norm: Tensor) -> Tensor:
        """Per-step firing intensity ``(B, *F_out)`` from normalised input ``(B, *F)``."""
        return (self.cfg.rate_gain * x_norm + self.cfg.rate_bias).clamp(0.0, 1.0)

    def spike_probability(self, p: Tensor) -> Tensor:
        return p

    def encode(self, x: Tensor, generator: Optional[torch.Generator]) -> Tuple[Tensor, Dict[str, Any]]:
        x_norm, aux = normalize(x, self.cfg.normalization, encoder=self.name)
        prob = self.spike_probability(self.rates(x_norm))  # (B, *F_out), work dtype
        num_steps = self.cfg.num_steps
        if self.deterministic or not self.sampled:
            fired = regular_spikes(prob, num_steps)
        else:
            u = torch.rand(
                (prob.shape[0], num_steps) + prob.shape[1:], generator=generator, device=prob.device, dtype=prob.dtype
            )
            fired = u < prob.detach().unsqueeze(1)  # (B, T, *F_out)
        if self.compact:
            if prob.requires_grad:
                raise ValueError(
                    f"{self.name} encoder: encoding.spike_dtype={self.cfg.spike_dtype.name} carries no gradient back to the input "
                    f"(x.requires_grad=True); allowed: spike_dtype=float for a straight-through gradient"
                )
            spikes = fired.to(self.spike_dtype(x))
        else:
            spikes = _StraightThrough.apply(prob.unsqueeze(1).expand(fired.shape), fired.to(self.spike_dtype(x)))
        aux["rates"] = prob.detach()
        return spikes, aux


class RatePoissonEncoder(RateBernoulliEncoder):
    """Poisson events of intensity ``p`` per step, binned: ``P(s_t = 1) = 1 - exp(-p)``."""

    name = EncoderType.rate_poisson.name

    def spike_probability(self, p: Tensor) -> Tensor:
        return -torch.expm1(-p)


class RateDeterministicEncoder(RateBernoulliEncoder):
    """Regular spikes at rate ``p`` (no sampling): ``s_t = floor((t+1) p) - floor(t p)``."""

    name = EncoderType.rate_deterministic.name
    sampled = False


class PopulationEncoder(RateBernoulliEncoder):
    """Gaussian population code, each unit rate-coded like rate_bernoulli (gain/bias unused).

    ``(B, F0, *rest) -> (B, T, F0 * P, *rest)``; unit ``f * P + k`` encodes feature ``f`` with
    centre ``c_k``. ``aux['population_map']``: ``feature_index`` and ``center_index`` ``(F0 * P,)``,
    ``centers`` ``(P,)``.
    """

    name = EncoderType.population.name

    def __init__(self, cfg: EncodingConfig) -> None:
        super().__init__(cfg)
        size, silent = cfg.population_size, cfg.population_silent_zero
        if silent:  # no centre at 0, where no unit fires
            linear = torch.linspace(1.0 / size, 1.0, size)
        else:
            linear = torch.linspace(0.0, 1.0, size) if size > 1 else torch.full((1,), 0.5)
        if cfg.centers is CentersMode.learned:
            self.centers = nn.Parameter(linear)
        elif cfg.centers is CentersMode.uniform:
            gen = None if cfg.seed is None else torch.Generator().manual_seed(cfg.seed)
            drawn = torch.rand(size, generator=gen)
            self.register_buffer("centers", (1.0 - drawn if silent else drawn).sort().values)  # (0, 1] | [0, 1)
        else:
            self.register_buffer("centers", linear)

    def rates(self, x_norm: Tensor) -> Tensor:
        size, sigma = self.cfg.population_size, self.cfg.population_sigma
        centers = self.centers.to(x_norm.dtype).view((1, 1, size) + (1,) * (x_norm.dim() - 2))
        act = torch.exp(-((x_norm.unsqueeze(2) - centers) ** 2) / (2 * sigma**2))  # (B, F0, P, *rest)
        if self.cfg.population_silent_zero:
            at_zero = torch.exp(-(centers**2) / (2 * sigma**2))  # a_p(0) < 1 for a centre > 0
            # a learned centre may reach 0, where a_p(0) = 1: the floor keeps that unit silent, not NaN
            act = ((act - at_zero) / (1.0 - at_zero).clamp_min(1e-6)).clamp_min(0.0)
        return act.flatten(1, 2)  # (B, F0 * P, *rest)

    def encode(self, x: Tensor, generator: Optional[torch.Generator]) -> Tuple[Tensor, Dict[str, Any]]:
        spikes, aux = super().encode(x, generator)
        size, f0 = self.cfg.population_size, x.shape[1]
        units = torch.arange(f0 * size, device=x.device)
        aux["population_map"] = {
            "feature_index": units // size,
            "center_index": units % size,
            "centers": self.centers.detach(),
        }
        return spikes, aux

    @classmethod
    def step_shape(cls, cfg: EncodingConfig, input_shape: Tuple[int, ...]) -> Tuple[int, ...]:
        return (input_shape[0] * cfg.population_size,) + tuple(input_shape[1:])


class LatencyEncoder(Encoder):
    """Latency code: stronger input fires earlier; a burst of ``latency_burst`` spikes from ``t(x)``.

    With ``allow_no_spike``, zero intensity (and exponential times beyond ``t_max``) emit no
    spike; otherwise they fire at ``t_max``. Training-mode jitter adds ``round(N(0, jitter))`` steps,
    then keeps the time inside ``[t_min, t_max]``. ``aux['spike_times']``: long ``(B, *F)``, -1 = none.
    """

    name = EncoderType.latency.name
    time_coded = True

    def spike_times(self, x_norm: Tensor) -> Tensor:
        """Real-valued spike times ``(B, *F)`` (may exceed t_max for the exponential map)."""
        cfg = self.cfg
        t_min, t_max = float(cfg.t_min), float(cfg.last_spike_step)
        if cfg.latency_mapping is LatencyMapping.linear:
            return t_max - x_norm * (t_max - t_min)
        if cfg.latency_mapping is LatencyMapping.log:
            return t_max - (t_max - t_min) * torch.log1p((math.e - 1.0) * x_norm)
        return t_min - cfg.latency_tau * torch.log(x_norm)  # ln(1/0) = inf -> beyond t_max

    def encode(self, x: Tensor, generator: Optional[torch.Generator]) -> Tuple[Tensor, Dict[str, Any]]:
        cfg = self.cfg
        x_norm, aux = normalize(x, cfg.normalization, encoder=self.name)
        x_norm = x_norm.detach()
        t_max = cfg.last_spike_step
        t_real = self.spike_times(x_norm)
        if cfg.allow_no_spike:
            fires = (x_norm > 0) & (t_real <= t_max + 0.5)
        else:
            fires = torch.ones_like(x_norm, dtype=torch.bool)
        t_step = torch.round(torch.minimum(t_real, torch.full_like(t_real, float(t_max))))
        if self.training and cfg.jitter > 0:
            noise = torch.randn(t_step.shape, generator=generator, device=t_step.device, dtype=t_step.dtype)
            t_step = (t_step + torch.round(noise * cfg.jitter)).clamp(float(cfg.t_min), float(t_max))
        t_step = t_step.long()  # (B, *F)
        steps = torch.arange(cfg.num_steps, device=x.device).view((1, cfg.num_steps) + (1,) * (x.dim() - 1))
        start = t_step.unsqueeze(1)  # (B, 1, *F)
        fired = fires.unsqueeze(1) & (steps >= start) & (steps < start + cfg.latency_burst)  # (B, T, *F)
        aux["spike_times"] = torch.where(fires, t_step, torch.full_like(t_step, -1))
        return fired.to(self.spike_dtype(x)), aux


class TTFSEncoder(LatencyEncoder):
    """Time to first spike: exactly one spike per neuron per window (none where allowed)."""

    name = EncoderType.ttfs.name

    def __init__(self, cfg: EncodingConfig) -> None:
        super().__init__(cfg)
        if cfg.latency_burst != 1:
            raise ValueError(
                f"ttfs encoder: encoding.latency_burst={cfg.latency_burst!r}; allowed: 1 (exactly one spike)"
            )


class DeltaEncoder(Encoder):
    """Send-on-delta code of a sequence ``(B, T, F0, *rest) -> (B, T, 2 F0, *rest)`` (ON then OFF).

    Stateless module, explicit state: ``forward(x, state=r)`` continues a stream from the
    reference ``r`` ``(B, F0, *rest)`` returned as ``aux['state']`` by the previous chunk; with
    ``state=None`` a new sequence starts (reference ``x_0``, so step 0 is silent). There is
    nothing to ``reset()``. ``minmax`` normalises each sample over its whole (T, features) window,
    so streams split in chunks should use ``none``, ``sigmoid`` or ``clamp``.
    """

    name = EncoderType.delta.name
    input_ranks = (3, 4, 5)

    def forward(
        self, x: Tensor, *, state: Optional[Tensor] = None, generator: Optional[torch.Generator] = None
    ) -> SpikeBatch:  # type: ignore[override]
        """Encode ``x`` from the reference ``state``; deterministic, so ``generator`` is unused."""
        self._check_input(x)
        spikes, aux = self._delta(x, state)
        return SpikeBatch(spikes=spikes, aux=aux)

    def encode(self, x: Tensor, generator: Optional[torch.Generator]) -> Tuple[Tensor, Dict[str, Any]]:
        """A new sequence (no carried reference); deterministic, so ``generator`` is unused."""
        return self._delta(x, None)

    def _delta(self, x: Tensor, state: Optional[Tensor]) -> Tuple[Tensor, Dict[str, Any]]:
        # none: the thresholds apply to the raw input's own scale
        x_norm, aux = normalize(
            x,
            self.cfg.normalization,
            encoder=self.name,
            check_range=self.cfg.normalization is not NormalizationType.none,
        )
        x_norm = x_norm.detach()
        frames = x_norm.unbind(TIME_DIM)  # T x (B, *F)
        if state is None:
            ref = frames[0]
        elif tuple(state.shape) != tuple(frames[0].shape):
            raise ValueError(
                f"delta encoder: state.shape={tuple(state.shape)} must be (B, *F)={tuple(frames[0].shape)}"
            )
        else:
            ref = state.to(x_norm.dtype)
        thr = self.cfg.delta_threshold
        on, off = [], []
        for frame in frames:
            diff = frame - ref
            up, down = diff > thr, diff < -thr
            ref = torch.where(up | down, frame, ref)
            on.append(up)
            off.append(down)
        spikes = torch.cat([torch.stack(on, TIME_DIM), torch.stack(off, TIME_DIM)], dim=2)  # (B, T, 2 F0, *rest)
        aux["state"] = ref
        return spikes.to(self.spike_dtype(x)), aux

    @classmethod
    def step_shape(cls, cfg: EncodingConfig, input_shape: Tuple[int, ...]) -> Tuple[int, ...]:
        return (2 * input_shape[0],) + tuple(input_shape[1:])


class IdentityEncoder(Encoder):
    """Input already is spikes / event frames ``(B, T, ...)``: passed through (integers -> float32,
    or ``cfg.spike_dtype``: uint8 holds counts up to 255, bool only 0/1; larger values are refused).

    ``num_steps`` and ``normalization`` are not used; ``SpikeBatch.is_binary()`` tells whether the
    frames are spikes or event counts.
    """

    name = EncoderType.identity.name
    input_ranks = (3, 4, 5)

    def encode(self, x: Tensor, generator: Optional[torch.Generator]) -> Tuple[Tensor, Dict[str, Any]]:
        bad = (x < 0) | (x != torch.round(x)) if x.is_floating_point() else x < 0
        if bool(bad.any()):
            raise ValueError(
                f"identity encoder: x must hold spikes or event counts (non-negative integers), got {x[bad].flatten()[0].item()!r}; "
                f"encode real-valued input with another encoder (e.g. rate_bernoulli)"
            )
        dtype = self.spike_dtype(x)
        if self.compact and x.numel():
            most = 1 if dtype is torch.bool else torch.iinfo(dtype).max
            if float(x.max()) > most:
                raise ValueError(
                    f"identity encoder: encoding.spike_dtype={self.cfg.spike_dtype.name} holds values up to {most}, but x holds "
                    f"event counts up to {float(x.max()):g}; allowed: spike_dtype=float (or uint8 for counts up to 255)"
                )
        return x.to(dtype), {}


class DirectEncoder(Encoder):
    """Direct (constant-current) input: the normalised static input, repeated for ``num_steps``.

    No sampling: ``out[:, t] = normalize(x)`` for every t, shape ``(B, T, *x.shape[1:])`` in x's
    float dtype. With ``sequence_input`` (the data are real-valued sequences, e.g. data=smnist) the
    input ``x (B, T, *F)`` already is a sequence of currents: ``out = normalize(x)`` (minmax over
    each sample's whole sequence), same shape, its own T (``num_steps`` unused). The values are input currents, not spikes (``SpikeBatch.is_binary()`` is False
    unless the input is 0/1); gradients flow back to ``x`` (the repetition is a broadcast view).
    """

    name = EncoderType.direct.name
    emits_spikes = False

    def __init__(self, cfg: EncodingConfig, sequence_input: bool = False) -> None:
        super().__init__(cfg)
        self.sequence_input = sequence_input
        if sequence_input:
            self.input_ranks = (3, 4, 5)  # (B, T, *F)

    def encode(self, x: Tensor, generator: Optional[torch.Generator]) -> Tuple[Tensor, Dict[str, Any]]:
        x_norm, aux = normalize(
            x, self.cfg.normalization, encoder=self.name
        )  # (B, *F) or, with sequence_input, (B, T, *F); work dtype
        if self.sequence_input:
            return x_norm.to(_float_dtype(x)), aux
        current = x_norm.to(_float_dtype(x)).unsqueeze(1)  # (B, 1, *F)
        return current.expand(x.shape[0], self.cfg.num_steps, *x.shape[1:]), aux  # (B, T, *F)


#: ``encoding.type`` -> class: one class per :class:`~brain_ai.config.EncoderType` member (a new
#: encoder is a member there plus an entry here; docs/extending.md)
ENCODERS: Dict[EncoderType, Type[Encoder]] = {
    EncoderType[cls.name]: cls
    for cls in (
        RateBernoulliEncoder,
        RatePoissonEncoder,
        RateDeterministicEncoder,
        LatencyEncoder,
        TTFSEncoder,
        PopulationEncoder,
        DeltaEncoder,
        IdentityEncoder,
        DirectEncoder,
    )
}


def build_encoder(cfg: EncodingConfig, value_sequence: bool = False) -> Encoder:
    """The encoder of ``cfg.type`` (see :data:`ENCODERS`). ``value_sequence``: the data are
    real-valued sequences ``(B, T, *F)`` (``DatasetInfo.is_value_sequence``), which the direct
    encoder passes on with their own T; every other encoder takes them as they are."""
    if not isinstance(cfg, EncodingConfig):
        raise TypeError(f"build_encoder: cfg must be an EncodingConfig, got {type(cfg).__name__}")
    if cfg.type is EncoderType.direct:
        return DirectEncoder(cfg, sequence_input=value_sequence)
    return ENCODERS[cfg.type](cfg)


def encoded_step_shape(cfg: EncodingConfig, input_shape: Tuple[int, ...]) -> Tuple[int, ...]:
    """Per-step feature shape that the encoder of ``cfg`` makes of per-sample ``input_shape`` (one
    step of a sequence, or a static sample), from the config alone (:meth:`Encoder.step_shape`)."""
    return ENCODERS[cfg.type].step_shape(cfg, tuple(input_shape))
