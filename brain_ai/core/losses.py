r"""SNN loss pack: task terms + regularisers, composed with per-component diagnostics.

A :class:`LossTerm` maps :class:`LossInputs` to ``(scalar_loss, diagnostics)``; the
:class:`SNNLossComposer` sums weighted terms and returns ``(total, info)`` with
``info = {"total": Tensor, "components": {name: Tensor}, "diagnostics": {name: {key: Tensor}},
"weights": {name: float}}`` (0-d detached fp32 tensors, read without a host sync; components are
unweighted; names are TensorBoard tags ``train/loss/<name>``). Everything is computed in fp32 and normalised by ``T`` (means over time),
so the same spike statistics give the same loss at ``T = 25`` and ``T = 100``. With
``LossInputs.mask (B, T)`` (ragged batches) every term counts only valid steps: means over time
are per sample over its valid steps, temporal windows must lie inside the valid steps, and
padding a sample with masked steps does not change any term.

==============  ====================================================================================
term (name)     loss
==============  ====================================================================================
probspikes      ``-log max(softmax(r / temperature)_y, eps)``, ``r_c = (1/T) sum_t s_tc`` (output)
first_spike     cross-entropy of ``-t_c / (T temperature)``, ``t_c = sum_t prod_{u<=t} (1 - s_uc)``
cross_entropy   cross-entropy of ``ClassificationOutput.logits_proxy`` (a classification decoder)
mse             ``mean (y_hat - y)^2`` of ``RegressionOutput.estimate`` (a regression decoder)
rate_reg        per layer ``mean (r_bn - target)^2 + mean relu(rate_min - r_n)^2 + relu(r_n - rate_max)^2``
                (``r_bn`` rate of neuron n in sample b, ``r_n`` its batch mean); mean over layers
temporal        population rate ``q_t`` per layer; l1 / l2: ``|q_t - mean(q_{t-W..t-1})|`` (squared);
                variance: variance of ``q`` in sliding windows of ``W`` steps; mean over t, layers
isi             ``mean_{n,t} s_t sum_{d=1..W} exp(-d / tau) s_{t-d}``, mean over layers
membrane        ``mean relu(|v| - max_membrane)^2`` over recorded membranes, mean over layers
==============  ====================================================================================
"""

from __future__ import annotations

import abc
import math
from dataclasses import dataclass, field
from typing import ClassVar, Dict, List, Optional, Sequence, Tuple, Type

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from brain_ai.config import LossConfig, TaskLoss, TemporalPenalty
from brain_ai.core.decoding import ClassificationOutput, DecoderOutput, RegressionOutput, first_spike_times
from brain_ai.core.encoding import TIME_DIM
from brain_ai.core.masking import check_mask, time_mean, time_sum, valid_steps, zero_invalid
from brain_ai.core.summaries import LayerSummary, Summary, summarize

Diagnostics = Dict[str, Tensor]


@dataclass
class LossInputs:
    """What a loss may look at.

    output: network output ``(B, T, C_out)`` (spikes, or membrane of a non-spiking readout);
    decoded: the decoder's view of ``output`` (a :class:`ClassificationOutput` or a
    :class:`RegressionOutput`); targets: class indices ``(B,)`` long, or values ``(B,)`` /
    ``(B, D)`` float for regression; layer_spikes / layer_membranes: ``"layer0"``,
    ``"layer1"``, ... -> ``(B, T, ...)``; layer_summaries: term name -> layer -> the term's
    :class:`~brain_ai.core.summaries.LayerSummary` of that layer, accumulated by the network
    segment by segment (``SNNOutput.summaries``; a term reads these instead of the whole layer
    tensors when they are there); mask: ``(B, T)`` bool, True at valid steps (None: all).
    """

    output: Tensor
    decoded: DecoderOutput
    targets: Tensor
    layer_spikes: Dict[str, Tensor] = field(default_factory=dict)
    layer_membranes: Dict[str, Tensor] = field(default_factory=dict)
    mask: Optional[Tensor] = None
    layer_summaries: Dict[str, Dict[str, Summary]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.mask is not None:
            _check_sequence(self.output, "output")
            check_mask(self.mask, self.output.shape[0], self.output.shape[TIME_DIM], "LossInputs")


def _check_sequence(x: Tensor, what: str) -> None:
    if x.dim() < 3:
        raise ValueError(f"{what}.shape={tuple(x.shape)} must be (B, T, ...) with >= 3 dims")


def _class_targets(targets: Tensor, scores: Tensor, what: str) -> Tensor:
    """``targets (B,)`` int64 class indices in ``[0, C)`` for ``scores (B, ..., C)``; else a ValueError naming the range."""
    batch, classes = scores.shape[0], scores.shape[-1]
    if targets.dim() != 1 or targets.shape[0] != batch or targets.dtype != torch.long:
        raise ValueError(
            f"{what}: targets must be class indices (B,)=({batch},) int64, got {targets.dtype} {tuple(targets.shape)}"
        )
    if batch and not bool(((targets >= 0) & (targets < classes)).all()):
        raise ValueError(
            f"{what}: targets must lie in [0, {classes}) (one per output class), got values from {int(targets.min())} to {int(targets.max())}"
        )
    return targets


def _decoded_as(decoded: DecoderOutput, kind: type, what: str) -> DecoderOutput:
    """``decoded`` if it is a ``kind`` (the output type ``what`` needs); else a ValueError naming both."""
    if not isinstance(decoded, kind):
        raise ValueError(
            f"{what} needs a {kind.__name__} (the output of a {kind.task.name} decoder), got a {type(decoded).__name__}"
        )
    return decoded


def _layers(maps: Dict[str, Tensor], term: str, what: str) -> Dict[str, Tensor]:
    if not maps:
        raise ValueError(f"loss term {term!r} needs LossInputs.{what} (got none); record them or set its weight to 0")
    for name, x in maps.items():
        _check_sequence(x, f"{what}[{name!r}]")
    return maps


def _layer_summaries(term: "LayerSummary", inputs: LossInputs) -> Dict[str, Summary]:
    """layer -> ``term``'s summary of it: the network's segment-wise one (``inputs.layer_summaries``)
    or, from the whole layer tensors, the same summary over one segment."""
    if term.key in inputs.layer_summaries:
        return inputs.layer_summaries[term.key]
    if term.needs_spikes:
        layers = _layers(inputs.layer_spikes, term.key, "layer_spikes")
        return {name: summarize(term, spikes, None, inputs.mask) for name, spikes in layers.items()}
    layers = _layers(inputs.layer_membranes, term.key, "layer_membranes")
    return {name: summarize(term, None, v, inputs.mask) for name, v in layers.items()}


def _total(stat: Tensor) -> Tensor:
    """A running sum's segment parts ``(B or 1, segments, ...)`` added up: ``(B or 1, ...)``."""
    return stat.sum(dim=1)


class LossTerm(nn.Module, metaclass=abc.ABCMeta):
    """One loss component. ``forward(inputs) -> (0-d fp32 loss, {key: 0-d detached tensor})``."""

    name: ClassVar[str] = ""
    #: which optional LossInputs fields the term reads (the model records them only when needed)
    needs_layer_spikes: ClassVar[bool] = False
    needs_membrane: ClassVar[bool] = False
    #: the value on a batch is the mean of its samples' values (so the steps of a segment may be
    #: folded into the batch: the online rules' per-step form, brain_ai.core.learning_rules)
    sample_mean: ClassVar[bool] = False

    @classmethod
    def from_config(cls, cfg: LossConfig) -> "LossTerm":
        return cls()

    @abc.abstractmethod
    def forward(self, inputs: LossInputs) -> Tuple[Tensor, Diagnostics]: ...


class ProbSpikes(LossTerm):
    """Spike-count cross-entropy on the output spikes ``(B, T, C)`` (rates, fp32, eps-floored)."""

    name = "probspikes"
    sample_mean = True

    def __init__(
        self, temperature: float = LossConfig.probspikes_temperature, eps: float = LossConfig.probspikes_eps
    ) -> None:
        super().__init__()
        self.temperature, self.log_eps = float(temperature), math.log(eps)

    @classmethod
    def from_config(cls, cfg: LossConfig) -> "ProbSpikes":
        return cls(cfg.probspikes_temperature, cfg.probspikes_eps)

    def forward(self, inputs: LossInputs) -> Tuple[Tensor, Diagnostics]:
        _check_sequence(inputs.output, "output")
        targets = _class_targets(inputs.targets, inputs.output, self.name)
        rates = time_mean(inputs.output, inputs.mask)  # (B, C) = counts / T
        log_p = F.log_softmax(rates / self.temperature, dim=-1).clamp_min(self.log_eps)
        log_p_y = log_p.gather(1, targets.unsqueeze(1)).squeeze(1)  # (B,)
        return -log_p_y.mean(), {"target_prob": log_p_y.detach().exp().mean(), "output_rate": rates.detach().mean()}


class FirstSpikeLoss(LossTerm):
    """TTFS classification: cross-entropy of ``-t_first / (T temperature)`` on output spikes."""

    name = "first_spike"

    def __init__(self, temperature: float = LossConfig.first_spike_temperature) -> None:
        super().__init__()
        self.temperature = float(temperature)

    @classmethod
    def from_config(cls, cfg: LossConfig) -> "FirstSpikeLoss":
        return cls(cfg.first_spike_temperature)

    def forward(self, inputs: LossInputs) -> Tuple[Tensor, Diagnostics]:
        _check_sequence(inputs.output, "output")
        targets = _class_targets(inputs.targets, inputs.output, self.name)
        steps = valid_steps(inputs.mask, inputs.output)  # (B, 1): T of each sample
        t_first = first_spike_times(inputs.output, inputs.mask)  # (B, C), T = never fired
        loss = F.cross_entropy(-t_first / (steps * self.temperature), targets)
        t = t_first.detach()
        return loss, {"mean_first_spike": (t / steps).mean(), "silent_frac": (t >= steps).float().mean()}


class CrossEntropyLoss(LossTerm):
    """Cross-entropy of ``ClassificationOutput.logits_proxy (B, C)`` (already temperature-scaled by the decoder)."""

    name = "cross_entropy"
    sample_mean = True

    def forward(self, inputs: LossInputs) -> Tuple[Tensor, Diagnostics]:
        logits = _decoded_as(inputs.decoded, ClassificationOutput, f"loss term {self.name!r}").logits_proxy.float()
        targets = _class_targets(inputs.targets, logits, self.name)
        acc = (logits.detach().argmax(-1) == targets).float().mean()
        return F.cross_entropy(logits, targets), {"accuracy": acc}


class MSELoss(LossTerm):
    """Regression: mean squared error of ``RegressionOutput.estimate (B, D)`` against targets ``(B, D)`` or ``(B,)``."""

    name = "mse"

    def forward(self, inputs: LossInputs) -> Tuple[Tensor, Diagnostics]:
        estimate = _decoded_as(inputs.decoded, RegressionOutput, f"loss term {self.name!r}").estimate.float()
        if inputs.targets.numel() != estimate.numel() or not inputs.targets.is_floating_point():
            raise ValueError(
                f"mse: targets must be float values shaped like the estimate {tuple(estimate.shape)}, "
                f"got {inputs.targets.dtype} {tuple(inputs.targets.shape)}"
            )
        error = estimate - inputs.targets.float().reshape(estimate.shape)
        return (error**2).mean(), {"mae": error.detach().abs().mean()}


class RateRegularization(LossTerm, LayerSummary):
    """Keep each layer's firing rate near its target (per-layer targets) and inside [rate_min, rate_max].
    Summary: ``count (B, 1, N)`` spikes per neuron over the segment's valid steps."""

    name = key = "rate_reg"
    needs_layer_spikes = True

    def __init__(
        self,
        target_rate: float = LossConfig.target_rate,
        rate_targets: Optional[Dict[str, float]] = None,
        rate_min: float = LossConfig.rate_min,
        rate_max: float = LossConfig.rate_max,
        saturation_threshold: float = LossConfig.saturation_threshold,
    ) -> None:
        super().__init__()
        self.target_rate, self.rate_targets = float(target_rate), dict(rate_targets or {})
        self.rate_min, self.rate_max, self.saturation_threshold = (
            float(rate_min),
            float(rate_max),
            float(saturation_threshold),
        )

    @classmethod
    def from_config(cls, cfg: LossConfig) -> "RateRegularization":
        return cls(cfg.target_rate, cfg.rate_targets, cfg.rate_min, cfg.rate_max, cfg.saturation_threshold)

    def segment(
        self, spikes: Tensor, membrane: Optional[Tensor], mask: Optional[Tensor], carry: None
    ) -> Tuple[Summary, None]:
        return {"count": time_sum(spikes, mask).flatten(1).unsqueeze(1)}, None

    def penalty(self, rate: Tensor, layer: str) -> Tensor:
        """Firing rates ``rate (..., B, N)`` of layer ``layer`` -> the penalty ``(...)``: ``mean_{b,n} (r_bn -
        target)^2`` plus the band term on the batch mean ``r_n`` (the leading dims: e.g. one per step)."""
        per_neuron = rate.mean(dim=-2)  # (..., N)
        target = self.rate_targets.get(layer, self.target_rate)
        band = F.relu(self.rate_min - per_neuron) ** 2 + F.relu(per_neuron - self.rate_max) ** 2
        return ((rate - target) ** 2).mean(dim=(-2, -1)) + band.mean(dim=-1)

    def forward(self, inputs: LossInputs) -> Tuple[Tensor, Diagnostics]:
        layers = _layer_summaries(self, inputs)
        unknown = sorted(set(self.rate_targets) - set(layers))
        if unknown:
            raise ValueError(f"loss.rate_targets names unknown layer(s) {unknown}; allowed: {sorted(layers)}")
        steps = valid_steps(inputs.mask, inputs.output).clamp_min(1.0)  # (B, 1)
        losses, diag = [], {}
        for name, summary in layers.items():
            rate = _total(summary["count"]) / steps  # (B, N)
            losses.append(self.penalty(rate, name))
            r = rate.detach().mean(dim=0)  # (N,)
            diag.update(
                {
                    f"{name}/rate": r.mean(),
                    f"{name}/dead_frac": (r == 0).float().mean(),
                    f"{name}/saturated_frac": (r >= self.saturation_threshold).float().mean(),
                }
            )
        return torch.stack(losses).mean(), diag


class TemporalConsistency(LossTerm, LayerSummary):
    """Penalise flicker of each layer's population rate ``q_t`` (l1 / l2 / windowed variance).
    Summary: the population rate ``q (B, t)`` of the segment's steps."""

    name = key = "temporal"
    needs_layer_spikes = True

    def __init__(
        self, window: int = LossConfig.temporal_window, penalty: TemporalPenalty = LossConfig.temporal_penalty
    ) -> None:
        super().__init__()
        if penalty is TemporalPenalty.variance and window < 2:
            raise ValueError(f"temporal consistency: window={window!r} with penalty=variance; allowed: window >= 2")
        self.window, self.penalty = int(window), penalty

    @classmethod
    def from_config(cls, cfg: LossConfig) -> "TemporalConsistency":
        return cls(cfg.temporal_window, cfg.temporal_penalty)

    @property
    def span(self) -> int:
        """Steps one penalty window covers: ``W`` (variance) or ``W + 1`` (l1 / l2: a step and the ``W`` before it)."""
        return self.window if self.penalty is TemporalPenalty.variance else self.window + 1

    def check_length(self, steps: int) -> None:
        """Raise unless a sequence of ``steps`` steps holds at least one window."""
        if steps < self.span:
            raise ValueError(
                f"temporal consistency: T={steps} is shorter than the {self.span} steps that "
                f"loss.temporal_window={self.window} ({self.penalty.name}) needs"
            )

    def segment(
        self, spikes: Tensor, membrane: Optional[Tensor], mask: Optional[Tensor], carry: None
    ) -> Tuple[Summary, None]:
        flat = spikes.float().flatten(2)
        # sum / N equals mean(-1) bit for bit, but its backward expands a (B, t) gradient instead of
        # dividing a materialised (B, t, N) one
        return {"q": flat.sum(dim=-1) / flat.shape[-1]}, None  # (B, t)

    def layer_penalty(self, spikes: Tensor, mask: Optional[Tensor] = None) -> Tensor:
        """spikes ``(B, T, ...)`` -> 0-d penalty on the population rate ``q (B, T)`` (windows of valid steps only)."""
        return self.rate_penalty(summarize(self, spikes, None, mask)["q"], mask)

    def rate_penalty(self, q: Tensor, mask: Optional[Tensor] = None) -> Tensor:
        """Population rate ``q (B, T)`` -> 0-d penalty (windows of valid steps only)."""
        span = self.span
        self.check_length(q.shape[1])
        per_window = self.window_penalty(q.unfold(1, span, 1))  # (B, T - span + 1)
        if mask is None:
            return per_window.mean()
        inside = mask.unfold(1, span, 1).all(dim=-1).to(per_window.dtype)  # (B, T - span + 1)
        return (per_window * inside).sum() / inside.sum().clamp_min(1.0)

    def window_penalty(self, windows: Tensor) -> Tensor:
        """Windows of population rates ``(..., span)``, oldest first -> the penalty of each ``(...)``."""
        if self.penalty is TemporalPenalty.variance:
            return windows.var(dim=-1, unbiased=False)
        change = windows[..., -1] - windows[..., :-1].mean(dim=-1)
        return change.abs() if self.penalty is TemporalPenalty.l1 else change**2

    def forward(self, inputs: LossInputs) -> Tuple[Tensor, Diagnostics]:
        layers = _layer_summaries(self, inputs)
        values = {name: self.rate_penalty(summary["q"], inputs.mask) for name, summary in layers.items()}
        return torch.stack(list(values.values())).mean(), {f"{n}/penalty": v.detach() for n, v in values.items()}


class _LaggedProducts(torch.autograd.Function):
    r"""``sum_{b,t,n} s_t h_t`` with ``h_t = sum_{d=1..W} k_d s_{t-d}`` for ``s (B, T, N)``; 0-d.

    The quadratic form's gradient is ``h_t + sum_d k_d s_{t+d}``: W shifted adds in each
    direction on one ``(B, T, N)`` buffer, instead of a conv1d over ``B*N`` one-channel signals
    of length T (oneDNN's worst case: on ``snn=conv`` it took more than half of a CPU training
    step) or autograd through W shifted products (a zero-filled full-size gradient per slice).
    Only ``s`` is saved; ``h`` is recomputed in backward.
    """

    @staticmethod
    def forward(ctx, s: Tensor, weights: Tuple[float, ...]) -> Tensor:  # noqa: ANN001
        ctx.save_for_backward(s)
        ctx.weights = weights
        h = _lagged_sum(s, weights)
        return h.mul_(s).sum()

    @staticmethod
    def backward(ctx, grad: Tensor) -> Tuple[Tensor, None]:  # noqa: ANN001
        (s,) = ctx.saved_tensors
        both = _lagged_sum(s, ctx.weights, future=True)
        return both.mul_(grad), None


def _lagged_sum(s: Tensor, weights: Tuple[float, ...], future: bool = False) -> Tensor:
    """``sum_d k_d s_{t-d}`` along dim 1 of ``s (B, T, N)`` (``future``: plus ``sum_d k_d s_{t+d}``); a new tensor."""
    out = torch.zeros_like(s, memory_format=torch.contiguous_format)
    for d, k in enumerate(weights, start=1):
        if d >= s.shape[1]:
            break
        out[:, d:].add_(s[:, :-d], alpha=k)
        if future:
            out[:, :-d].add_(s[:, d:], alpha=k)
    return out


class ISIRegularization(LossTerm, LayerSummary):
    """Penalise spikes that follow another spike within ``window`` steps (kernel ``exp(-d / tau)``).
    Summary: ``lagged (1, 1)``, the segment's ``sum_{b,t,n} s_t sum_d k_d s_{t-d} / N``, whose
    windows reach into the previous segment through the carried last ``window`` steps."""

    name = key = "isi"
    needs_layer_spikes = True

    def __init__(self, window: int = LossConfig.isi_refractory_window, tau: float = LossConfig.isi_tau) -> None:
        super().__init__()
        self.window = int(window)
        #: k_d = exp(-d / tau) for spike distances d = 1..window
        self.weights = tuple(math.exp(-d / tau) for d in range(1, self.window + 1))

    @classmethod
    def from_config(cls, cfg: LossConfig) -> "ISIRegularization":
        return cls(cfg.isi_refractory_window, cfg.isi_tau)

    def segment(
        self, spikes: Tensor, membrane: Optional[Tensor], mask: Optional[Tensor], carry: Optional[Tensor]
    ) -> Tuple[Summary, Tensor]:
        flat = zero_invalid(spikes.float().flatten(2), mask)  # (B, t, N)
        lagged = _LaggedProducts.apply(flat, self.weights)
        if carry is not None:  # the windows of this segment's first steps reach into the carried (B, <=W, N)
            joined = torch.cat([carry, flat], dim=1)
            # a prefix's products look back only inside the prefix: the difference is this segment's steps
            lagged = _LaggedProducts.apply(joined, self.weights) - _LaggedProducts.apply(carry, self.weights)
            flat = joined
        # a copy: a view would keep the whole segment's (B, t, N) storage alive with the carry
        return {"lagged": (lagged / flat.shape[2]).reshape(1, 1)}, flat[:, -self.window :].clone()

    def layer_penalty(self, spikes: Tensor, mask: Optional[Tensor] = None) -> Tensor:
        """spikes ``(B, T, ...)`` -> ``mean_{b,n,t} s_t sum_d k_d s_{t-d}`` (valid steps only)."""
        return self.summary_penalty(summarize(self, spikes, None, mask), valid_steps(mask, spikes))

    @staticmethod
    def summary_penalty(summary: Summary, steps: Tensor) -> Tensor:
        """The penalty from a layer's summary and the valid steps per sample ``steps (B, 1)``."""
        return _total(summary["lagged"]).sum() / steps.sum().clamp_min(1.0)

    def forward(self, inputs: LossInputs) -> Tuple[Tensor, Diagnostics]:
        steps = valid_steps(inputs.mask, inputs.output)  # (B, 1)
        values = {
            name: self.summary_penalty(summary, steps) for name, summary in _layer_summaries(self, inputs).items()
        }
        return torch.stack(list(values.values())).mean(), {f"{n}/penalty": v.detach() for n, v in values.items()}


class MembraneRegularization(LossTerm, LayerSummary):
    """Penalise membrane potentials beyond ``|v| = max_membrane``: ``mean relu(|v| - max)^2``.
    Summary: ``excess_sq`` and ``excess_count`` ``(1, 1)``, sums over the segment's valid
    entries divided by N."""

    name = key = "membrane"
    needs_membrane = True
    sample_mean = True
    needs_spikes = False

    def __init__(self, max_membrane: float = LossConfig.max_membrane) -> None:
        super().__init__()
        self.max_membrane = float(max_membrane)

    @classmethod
    def from_config(cls, cfg: LossConfig) -> "MembraneRegularization":
        return cls(cfg.max_membrane)

    def segment(self, spikes: None, membrane: Tensor, mask: Optional[Tensor], carry: None) -> Tuple[Summary, None]:
        excess = zero_invalid(F.relu(membrane.float().abs() - self.max_membrane), mask)  # (B, t, *N)
        per_neuron = excess[0, 0].numel()
        sums = {"excess_sq": (excess**2).sum(), "excess_count": (excess.detach() > 0).sum().float()}
        return {k: (v / per_neuron).reshape(1, 1) for k, v in sums.items()}, None

    def forward(self, inputs: LossInputs) -> Tuple[Tensor, Diagnostics]:
        entries = valid_steps(inputs.mask, inputs.output).sum().clamp_min(1.0)  # valid (b, t) pairs
        losses, diag = [], {}
        for name, summary in _layer_summaries(self, inputs).items():
            losses.append(_total(summary["excess_sq"]).sum() / entries)
            diag[f"{name}/excess_frac"] = _total(summary["excess_count"]).sum() / entries
        return torch.stack(losses).mean(), diag


class SNNLossComposer(nn.Module):
    """``total = sum_i w_i * loss_i`` over named terms; see the module docstring for ``info``."""

    def __init__(self, terms: Sequence[Tuple[LossTerm, float]]) -> None:
        super().__init__()
        names = [term.name for term, _ in terms]
        if not terms or len(set(names)) != len(names):
            raise ValueError(f"SNNLossComposer: terms {names} must be non-empty with unique names")
        for term, weight in terms:
            if not isinstance(term, LossTerm) or not math.isfinite(weight) or weight < 0:
                raise ValueError(
                    f"SNNLossComposer: term {term!r} with weight={weight!r}; allowed: a LossTerm with a finite weight >= 0"
                )
        self.terms = nn.ModuleDict({term.name: term for term, _ in terms})
        self.weights = {term.name: float(weight) for term, weight in terms}

    @property
    def summaries(self) -> List[LayerSummary]:
        """The terms that read layer tensors through a segment-wise summary (the network computes them)."""
        return [t for t in self.terms.values() if isinstance(t, LayerSummary)]

    @property
    def whole_layer_terms(self) -> List[LossTerm]:
        """The terms that read whole layer tensors (no summary form: they cannot be segmented)."""
        return [
            t
            for t in self.terms.values()
            if (t.needs_layer_spikes or t.needs_membrane) and not isinstance(t, LayerSummary)
        ]

    @property
    def needs_layer_spikes(self) -> bool:
        return any(t.needs_layer_spikes for t in self.terms.values())

    @property
    def needs_membrane(self) -> bool:
        return any(t.needs_membrane for t in self.terms.values())

    def forward(self, inputs: LossInputs) -> Tuple[Tensor, Dict[str, object]]:
        results = {name: term(inputs) for name, term in self.terms.items()}
        total = torch.stack([self.weights[n] * loss.float() for n, (loss, _) in results.items()]).sum()
        # 0-d detached tensors, no host sync: self.log takes them as they are
        info: Dict[str, object] = {
            "total": total.detach(),
            "components": {name: loss.detach().float() for name, (loss, _) in results.items()},
            "diagnostics": {
                name: {key: value.float() for key, value in diag.items()} for name, (_, diag) in results.items()
            },
            "weights": dict(self.weights),
        }
        return total, info


def compute_snn_metrics(
    decoded: DecoderOutput,
    targets: Tensor,
    layer_spikes: Optional[Dict[str, Tensor]] = None,
    mask: Optional[Tensor] = None,
) -> Dict[str, float]:
    """Plain-float metrics: ``accuracy`` (a :class:`ClassificationOutput`) or ``mae`` / ``mse`` (a
    :class:`RegressionOutput`), ``confidence``, and per layer ``<name>/firing_rate``,
    ``<name>/dead_frac`` (valid steps of ``mask`` only)."""
    with torch.no_grad():
        values: Dict[str, Tensor] = {"confidence": decoded.confidence.float().mean()}
        if isinstance(decoded, ClassificationOutput):
            values["accuracy"] = (decoded.prediction == targets.reshape(decoded.prediction.shape)).float().mean()
        else:
            estimate = _decoded_as(decoded, RegressionOutput, "compute_snn_metrics").estimate.float()
            error = estimate - targets.float().reshape(estimate.shape)
            values.update({"mae": error.abs().mean(), "mse": (error**2).mean()})
        for name, spikes in (layer_spikes or {}).items():
            per_neuron = time_sum(spikes, mask).sum(0) / valid_steps(mask, spikes).sum()  # (*N)
            values.update(
                {f"{name}/firing_rate": per_neuron.mean(), f"{name}/dead_frac": (per_neuron == 0).float().mean()}
            )
        floats = torch.stack([v.float() for v in values.values()]).tolist()
    return dict(zip(values, floats))


#: task_loss -> term class;  regulariser weight field -> term class
TASK_TERMS: Dict[TaskLoss, Type[LossTerm]] = {
    TaskLoss.probspikes: ProbSpikes,
    TaskLoss.first_spike: FirstSpikeLoss,
    TaskLoss.cross_entropy: CrossEntropyLoss,
    TaskLoss.mse: MSELoss,
}
REGULARIZERS: Dict[str, Type[LossTerm]] = {
    "w_rate_reg": RateRegularization,
    "w_temporal": TemporalConsistency,
    "w_isi": ISIRegularization,
    "w_membrane": MembraneRegularization,
}


def build_loss(cfg: LossConfig) -> SNNLossComposer:
    """The task term ``cfg.task_loss`` (weight ``w_<task_loss>``) plus every regulariser with weight > 0."""
    if not isinstance(cfg, LossConfig):
        raise TypeError(f"build_loss: cfg must be a LossConfig, got {type(cfg).__name__}")
    terms: List[Tuple[LossTerm, float]] = [(TASK_TERMS[cfg.task_loss].from_config(cfg), cfg.task_weight)]
    terms += [(cls.from_config(cfg), getattr(cfg, w)) for w, cls in REGULARIZERS.items() if getattr(cfg, w) > 0]
    return SNNLossComposer(terms)
