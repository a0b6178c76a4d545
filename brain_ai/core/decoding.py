r"""Spike decoders: network output ``(B, T, output_size)`` -> class logits or value estimates.

Every decoder is an ``nn.Module`` built by ``build_decoder(DecodingConfig, num_outputs)``, where
``num_outputs`` is what the model predicts per sample: ``C`` classes, or ``D`` regressed values.
``decoder.output_size`` is how many output neurons the network needs for them, and
``decoder.task`` (a :class:`~brain_ai.config.Task`) says which of the two output types it
returns: a :class:`ClassificationOutput` or a :class:`RegressionOutput`. Statistics
are accumulated in fp32 and normalised by ``T``, so the same spike statistics give the same
logits at any ``T``. All paths are differentiable w.r.t. the output tensor.

============  ====================================================================================
decoder       ``logits_proxy (B, C)`` (classification) / ``estimate (B, D)`` (regression)
============  ====================================================================================
rate          ``r_c / temperature`` with ``r_c = (1/T) sum_t s_tc``
first_spike   ``-t_c / (T temperature)`` with the first-spike time
              ``t_c = sum_{t<T} prod_{u<=t} (1 - s_uc)`` (= index of the first spike, ``T`` if the
              neuron never fires). The product form is exact for 0/1 spikes and differentiable:
              ``d t_c / d s_uc = -(t_c - u)`` for ``u < t_c`` (firing earlier moves the time there)
population    outputs grouped ``C x P`` (unit ``c * P + k`` has centre ``k / (P - 1)``), group rates
              ``r_ck``. classification: ``mean_k r_ck / temperature``; regression (``D`` groups):
              the estimate ``y_d = sum_k c_k r_dk / max(sum_k r_dk, 1/T)``: exact once the group
              fired at least once; a silent group gives 0 with gradient ``T c_k`` (not ``c_k / eps``)
membrane      final / max / mean over time of a non-spiking readout, ``/ temperature``
ensemble      ``log(sum_i w_i softmax(logits_i) + eps)`` over member decoders (weights sum to 1)
============  ====================================================================================

Ragged batches: ``decoder(output, mask)`` with ``mask (B, T)`` bool counts only each sample's
valid steps (``T`` above becomes that sample's number of valid steps; ``final`` is the last valid
step), so padding a sample with masked steps does not change its logits.

Classification: ``prediction = argmax logits`` (ties: lowest index; for first_spike the earliest
neuron wins), ``confidence = max softmax(logits)``, ``aux['margin']`` = top-1 minus top-2
probability. Population regression: ``estimate (B, D)`` and ``confidence = mass * (1 - 2 spread)``
averaged over values, where ``spread`` is the rate-weighted std of the centres around the estimate
and ``mass`` is 1 for a group that fired and 0 for a silent one; both in [0, 1].
"""

from __future__ import annotations

import abc
import dataclasses
from dataclasses import dataclass, field
from typing import Any, ClassVar, Dict, Optional, Type

import torch
from torch import Tensor, nn

from brain_ai.config import DecoderType, DecodingConfig, MembraneReduce, PopulationMode, Task
from brain_ai.core.encoding import TIME_DIM
from brain_ai.core.masking import check_mask, time_mean, time_sum, valid_steps, zero_invalid


@dataclass(kw_only=True)
class DecoderOutput(abc.ABC):
    """What every decoder returns: ``confidence (B,)`` in [0, 1] and ``aux`` (detached extras:
    ``count_histogram``, ``first_spike_times``, ``margin``, ...). ``task`` names the subclass:
    :class:`ClassificationOutput` or :class:`RegressionOutput`."""

    task: ClassVar[Task]
    confidence: Tensor
    aux: Dict[str, Any] = field(default_factory=dict)

    @property
    @abc.abstractmethod
    def trained(self) -> Tensor:
        """The differentiable fp32 tensor a task loss trains: ``logits_proxy (B, C)`` or ``estimate (B, D)``."""


@dataclass(kw_only=True)
class ClassificationOutput(DecoderOutput):
    """``logits_proxy (B, C)`` float32, differentiable (the losses' input); ``prediction (B,)``
    int64 class indices (argmax of the logits); ``confidence (B,)`` max softmax probability."""

    task: ClassVar[Task] = Task.classification
    logits_proxy: Tensor
    prediction: Tensor

    @property
    def trained(self) -> Tensor:
        return self.logits_proxy


@dataclass(kw_only=True)
class RegressionOutput(DecoderOutput):
    """``estimate (B, D)`` float32 values, differentiable (the mse loss's input);
    ``confidence (B,)`` from how concentrated each group's spikes are."""

    task: ClassVar[Task] = Task.regression
    estimate: Tensor

    @property
    def trained(self) -> Tensor:
        return self.estimate


def first_spike_times(spikes: Tensor, mask: Optional[Tensor] = None) -> Tensor:
    """First-spike step per neuron, ``(B, T, N) -> (B, N)`` float32; ``T`` where it never fires.

    ``t = sum_t prod_{u<=t} (1 - s_u)``: exact for 0/1 spikes, differentiable w.r.t. ``spikes``.
    With ``mask (B, T)`` only valid steps count (a silent neuron gets its sample's valid-step count).
    """
    survive = torch.cumprod(
        1.0 - zero_invalid(spikes.float(), mask), dim=TIME_DIM
    )  # (B, T, N): 1 until the first spike
    return time_sum(survive, mask)


def classification_output(logits: Tensor, aux: Dict[str, Any]) -> ClassificationOutput:
    """prediction = argmax, confidence = max softmax, aux['margin'] = top-1 - top-2 probability."""
    with torch.no_grad():
        probs = torch.softmax(logits.float(), dim=-1)
        top = probs.topk(min(2, probs.shape[-1]), dim=-1).values  # (B, <=2)
        aux["margin"] = top[:, 0] - top[:, 1] if top.shape[-1] > 1 else top[:, 0]
        confidence, prediction = probs.max(dim=-1)
    return ClassificationOutput(logits_proxy=logits, prediction=prediction, confidence=confidence, aux=aux)


class Decoder(nn.Module, metaclass=abc.ABCMeta):
    """Base decoder for ``num_outputs`` classes (or regressed values): checks ``output (B, T,
    output_size)`` and calls :meth:`decode`, which returns the output type of :attr:`task`."""

    name: ClassVar[str] = ""

    def __init__(self, cfg: DecodingConfig, num_outputs: int) -> None:
        super().__init__()
        if not isinstance(cfg, DecodingConfig):
            raise TypeError(f"{type(self).__name__}: cfg must be a DecodingConfig, got {type(cfg).__name__}")
        if isinstance(num_outputs, bool) or not isinstance(num_outputs, int) or num_outputs < 1:
            raise ValueError(f"{type(self).__name__}: num_outputs={num_outputs!r} must be an integer >= 1")
        self.cfg = cfg
        self.num_outputs = num_outputs

    @property
    def task(self) -> Task:
        """classification (:class:`ClassificationOutput`) or regression (:class:`RegressionOutput`)."""
        return Task.classification

    @classmethod
    def output_size_for(cls, cfg: DecodingConfig, num_outputs: int) -> int:
        """Output neurons the network needs (``snn.output_size``) for ``cfg`` and ``num_outputs``,
        without building the decoder: one per class by default."""
        return num_outputs

    @property
    def output_size(self) -> int:
        """:meth:`output_size_for` this decoder's config and outputs."""
        return self.output_size_for(self.cfg, self.num_outputs)

    def forward(self, output: Tensor, mask: Optional[Tensor] = None) -> DecoderOutput:
        """output: spikes or membrane ``(B, T, output_size)``; mask: ``(B, T)`` bool or None."""
        expected = self.output_size
        if output.dim() != 3 or output.shape[-1] != expected or output.shape[TIME_DIM] < 1:
            raise ValueError(
                f"{self.name} decoder: output.shape={tuple(output.shape)} must be (B, T>=1, {expected}) "
                f"for num_outputs={self.num_outputs}"
            )
        return self.decode(output, check_mask(mask, output.shape[0], output.shape[TIME_DIM], f"{self.name} decoder"))

    @abc.abstractmethod
    def decode(self, output: Tensor, mask: Optional[Tensor] = None) -> DecoderOutput:
        """Decode a checked ``output (B, T, output_size)``; only the steps where ``mask`` is True count."""


class RateDecoder(Decoder):
    """Spike-count decoding: ``logits = (counts / T) / temperature``."""

    name = DecoderType.rate.name

    def decode(self, output: Tensor, mask: Optional[Tensor] = None) -> ClassificationOutput:
        counts = time_sum(output, mask)  # (B, C) fp32
        logits = counts / (valid_steps(mask, output) * self.cfg.temperature)
        return classification_output(logits, {"count_histogram": counts.detach()})


class FirstSpikeDecoder(Decoder):
    """Earliest output neuron wins: ``logits = -t_first / (T temperature)`` (never fired: t = T)."""

    name = DecoderType.first_spike.name

    def decode(self, output: Tensor, mask: Optional[Tensor] = None) -> ClassificationOutput:
        t_first = first_spike_times(output, mask)  # (B, C)
        logits = -t_first / (valid_steps(mask, output) * self.cfg.temperature)
        return classification_output(logits, {"first_spike_times": t_first.detach()})


class PopulationDecoder(Decoder):
    """Groups of ``population_size`` output neurons per class / regressed value
    (``population_mode`` = the task)."""

    name = DecoderType.population.name

    def __init__(self, cfg: DecodingConfig, num_outputs: int) -> None:
        super().__init__(cfg, num_outputs)
        size = cfg.population_size
        self.register_buffer("centers", torch.linspace(0.0, 1.0, size) if size > 1 else torch.full((1,), 0.5))

    @property
    def task(self) -> Task:
        return Task.regression if self.cfg.population_mode is PopulationMode.regression else Task.classification

    @classmethod
    def output_size_for(cls, cfg: DecodingConfig, num_outputs: int) -> int:
        return num_outputs * cfg.population_size

    def decode(self, output: Tensor, mask: Optional[Tensor] = None) -> DecoderOutput:
        batch, size = output.shape[0], self.cfg.population_size
        rates = time_mean(output, mask).view(batch, self.num_outputs, size)  # (B, C or D, P)
        aux: Dict[str, Any] = {"group_rates": rates.detach(), "count_histogram": time_sum(output.detach(), mask)}
        if self.task is Task.classification:
            return classification_output(rates.mean(dim=-1) / self.cfg.temperature, aux)
        # floor 1/T: a silent group has a bounded gradient (T c_k); T = valid steps, (B, 1, 1)
        one_spike = 1.0 / valid_steps(mask, output).clamp_min(1.0).unsqueeze(-1)
        weights = rates / rates.sum(dim=-1, keepdim=True).clamp_min(one_spike)  # (B, D, P)
        estimate = (weights * self.centers).sum(dim=-1)  # (B, D)
        with torch.no_grad():
            mass = weights.sum(dim=-1)
            spread = (weights * (self.centers - estimate.unsqueeze(-1)) ** 2).sum(dim=-1).sqrt()
            confidence = (mass * (1.0 - 2.0 * spread)).mean(dim=-1).clamp(0.0, 1.0)  # rounding only
        return RegressionOutput(estimate=estimate, confidence=confidence, aux=aux)


class MembraneDecoder(Decoder):
    """Non-spiking readout ``v (B, T, C)``: final / max / mean over time, ``/ temperature``."""

    name = DecoderType.membrane.name

    def decode(self, output: Tensor, mask: Optional[Tensor] = None) -> ClassificationOutput:
        v = output.float()
        reduce = self.cfg.membrane_reduce
        if reduce is MembraneReduce.final:
            if mask is None:
                stat = v[:, -1]
            else:  # the last valid step of each sample
                steps = torch.arange(v.shape[TIME_DIM], device=v.device).expand_as(mask)  # (B, T)
                last = torch.where(mask, steps, torch.zeros_like(steps)).amax(dim=TIME_DIM)  # (B,)
                stat = v[torch.arange(v.shape[0], device=v.device), last]
        elif reduce is MembraneReduce.max:
            stat = v if mask is None else v.masked_fill(~mask.unsqueeze(-1), float("-inf"))
            stat = stat.amax(dim=TIME_DIM)
        else:
            stat = time_mean(v, mask)
        return classification_output(stat / self.cfg.temperature, {"membrane_" + reduce.name: stat.detach()})


class EnsembleDecoder(Decoder):
    """Weighted mixture of member decoders' class probabilities (all see the same output)."""

    name = DecoderType.ensemble.name

    def __init__(self, cfg: DecodingConfig, num_outputs: int) -> None:
        super().__init__(cfg, num_outputs)
        members = [build_decoder(dataclasses.replace(cfg, type=m), num_outputs) for m in cfg.ensemble_members]
        needs = {m.name: m.output_size for m in members}
        if len(set(needs.values())) != 1:
            raise ValueError(
                f"decoding.ensemble_members need different numbers of output neurons {needs}; allowed: members with equal output_size"
            )
        self.members = nn.ModuleList(members)
        total = float(sum(cfg.ensemble_weights))
        self.register_buffer("weights", torch.tensor([w / total for w in cfg.ensemble_weights], dtype=torch.float32))

    @classmethod
    def output_size_for(cls, cfg: DecodingConfig, num_outputs: int) -> int:
        return DECODERS[cfg.ensemble_members[0]].output_size_for(cfg, num_outputs)

    def decode(self, output: Tensor, mask: Optional[Tensor] = None) -> ClassificationOutput:
        outs = [m.decode(output, mask) for m in self.members]
        probs = sum(w * torch.softmax(o.logits_proxy.float(), dim=-1) for w, o in zip(self.weights, outs))  # (B, C)
        aux = {"member_logits": {m.name: o.logits_proxy.detach() for m, o in zip(self.members, outs)}}
        return classification_output(torch.log(probs + self.cfg.eps), aux)


#: ``decoding.type`` -> class: one class per :class:`~brain_ai.config.DecoderType` member (a new
#: decoder is a member there plus an entry here; docs/extending.md)
DECODERS: Dict[DecoderType, Type[Decoder]] = {
    DecoderType[cls.name]: cls
    for cls in (RateDecoder, FirstSpikeDecoder, PopulationDecoder, MembraneDecoder, EnsembleDecoder)
}


def build_decoder(cfg: DecodingConfig, num_outputs: int) -> Decoder:
    """The decoder of ``cfg.type`` for ``num_outputs`` classes (or regressed values)."""
    if not isinstance(cfg, DecodingConfig):
        raise TypeError(f"build_decoder: cfg must be a DecodingConfig, got {type(cfg).__name__}")
    return DECODERS[cfg.type](cfg, num_outputs)


def decoder_output_size(cfg: DecodingConfig, num_outputs: int) -> int:
    """Output neurons the decoder of ``cfg`` needs for ``num_outputs`` classes (or regressed
    values), from the config alone (:meth:`Decoder.output_size_for`; no decoder is built)."""
    return DECODERS[cfg.type].output_size_for(cfg, num_outputs)
