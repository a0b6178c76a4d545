"""Which data, encoder, decoder, readout and task loss fit together: the one compatibility table.

Every combination that would train to chance is refused here, at config time, with a message that
names the decoder / loss / setting it needs (``brain_ai.pipeline.build_model`` calls
:func:`check_codec` before anything is built). Measured on ``data=digits``: every combination
these tables allow learns (``benchmarks/codec_combinations.py``; README "Reliability").
"""

from __future__ import annotations

from typing import FrozenSet, List

from brain_ai.config import (
    ConfigError,
    DecoderType,
    DecodingConfig,
    EncoderType,
    EncodingConfig,
    LossConfig,
    PopulationMode,
    Readout,
    Task,
    TaskLoss,
)

#: encoders whose input already is a sequence ``(B, T, ...)``: they need event / spiking data
SEQUENCE_ENCODERS: FrozenSet[EncoderType] = frozenset({EncoderType.identity, EncoderType.delta})

#: decoder -> (what it reads from the network output, the snn.readout that produces it)
DECODER_READS = {
    DecoderType.rate: ("spike counts of one output neuron per class", Readout.spiking),
    DecoderType.first_spike: ("first-spike times of one output neuron per class", Readout.spiking),
    DecoderType.population: ("spike counts of population_size output neurons per class", Readout.spiking),
    DecoderType.membrane: ("the membrane of a non-spiking readout", Readout.membrane),
}

#: task loss -> the decoders whose statistic it trains (cross_entropy trains the logits of any
#: classification decoder; mse the population regression estimate; probspikes the mean output over
#: time: spike counts, or the membrane of a non-spiking readout)
LOSS_TRAINS = {
    TaskLoss.probspikes: frozenset({DecoderType.rate, DecoderType.membrane}),
    TaskLoss.first_spike: frozenset({DecoderType.first_spike}),
    TaskLoss.cross_entropy: frozenset({DecoderType.rate, DecoderType.first_spike, DecoderType.population, DecoderType.membrane}),
    TaskLoss.mse: frozenset({DecoderType.population}),
}


def decoder_parts(dec: DecodingConfig) -> List[DecoderType]:
    """The decoders whose statistics ``dec`` reads (the ensemble's members, else ``[dec.type]``)."""
    return list(dec.ensemble_members) if dec.type is DecoderType.ensemble else [dec.type]


def _names(types) -> str:
    return " or ".join(f"decoding={t.name}" for t in sorted(types, key=lambda t: t.name))


def check_codec(enc: EncodingConfig, dec: DecodingConfig, loss: LossConfig, readout: Readout, *,
                event_data: bool, task: Task, data_name: str) -> None:
    """Raise :class:`ConfigError` unless data, encoder, decoder, readout and task loss fit together."""
    if event_data and enc.type is not EncoderType.identity:
        raise ConfigError(f"data={data_name} already yields spike frames (B, T, ...): use encoding=identity (got encoding={enc.type.name})")
    if not event_data and enc.type in SEQUENCE_ENCODERS:
        raise ConfigError(
            f"encoding={enc.type.name} needs spiking data (nmnist, shd, dvsgesture, synthetic: sequences (B, T, ...)), but data={data_name} "
            f"is static: choose an encoder such as encoding=rate_bernoulli"
        )
    regression = task is Task.regression
    if (loss.task_loss is TaskLoss.mse) != regression:
        allowed = "mse" if regression else ", ".join(t.name for t in TaskLoss if t is not TaskLoss.mse)
        raise ConfigError(f"loss.task_loss={loss.task_loss.name} does not fit data={data_name}, a {task.name} task; allowed: {allowed}")
    parts = decoder_parts(dec)
    if DecoderType.population in parts and (dec.population_mode is PopulationMode.regression) != regression:
        allowed = PopulationMode.regression.name if regression else PopulationMode.classification.name
        raise ConfigError(f"decoding.population_mode={dec.population_mode.name} does not fit data={data_name}, a {task.name} task; allowed: {allowed}")
    if regression and dec.type is not DecoderType.population:
        raise ConfigError(f"decoding={dec.type.name} cannot estimate values for data={data_name}, a regression task: use decoding=population_regression")
    if dec.type is DecoderType.ensemble and DecoderType.population in parts and len(set(parts)) > 1:
        raise ConfigError(
            f"decoding.ensemble_members={[p.name for p in parts]}: population needs population_size outputs per class, "
            f"the others one; allowed: population alone, or any of rate, first_spike, membrane"
        )
    for part in parts:
        reads, needed = DECODER_READS[part]
        if readout is not needed:
            fix = "snn.readout=membrane" if needed is Readout.membrane else "snn.readout=spiking (or decoding=membrane)"
            raise ConfigError(f"decoding={part.name} reads {reads}, but snn.readout={readout.name}: use {fix}")
    trained = LOSS_TRAINS[loss.task_loss]
    if not trained.intersection(parts):
        raise ConfigError(
            f"loss.task_loss={loss.task_loss.name} trains what {_names(trained)} reads, but decoding={dec.type.name} reads "
            f"{' and '.join(DECODER_READS[p][0] for p in parts)}: use {_names(trained)}, or loss.task_loss=cross_entropy "
            f"(it trains any classification decoder's logits)"
        )
