"""Which data, encoder, decoder, readout and task loss fit together: the one compatibility table.

Every combination that would train to chance is refused here, at config time, with a message that
names the decoder / loss / setting it needs (``brain_ai.app.pipeline.build_model`` calls
:func:`check_codec` before anything is built). Measured on ``data=digits``: every combination
these tables allow learns (``benchmarks/codec_combinations.py``; README "Reliability").
"""

from __future__ import annotations

from typing import TYPE_CHECKING, FrozenSet, List

from brain_ai.config import (
    NON_SPIKING_ARCHITECTURES,
    Architecture,
    ConfigError,
    DataConfig,
    DatasetName,
    DecoderType,
    DecodingConfig,
    EncoderType,
    EncodingConfig,
    LossConfig,
    PopulationMode,
    Readout,
    SNNConfig,
    Task,
    TaskLoss,
)

if TYPE_CHECKING:
    from brain_ai.data import DatasetInfo

#: encoders whose input already is a sequence ``(B, T, ...)``: they need event / spiking data
SEQUENCE_ENCODERS: FrozenSet[EncoderType] = frozenset({EncoderType.identity, EncoderType.delta})

#: encoders that take a real-valued sequence (data=smnist): the sequence as input current, or ON/OFF spikes
VALUE_SEQUENCE_ENCODERS: FrozenSet[EncoderType] = frozenset({EncoderType.direct, EncoderType.delta})

#: loss weights of the activity regularisers: they read the spikes / membranes of spiking layers
ACTIVITY_WEIGHTS = ("w_rate_reg", "w_temporal", "w_isi", "w_membrane")

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
    TaskLoss.cross_entropy: frozenset(
        {DecoderType.rate, DecoderType.first_spike, DecoderType.population, DecoderType.membrane}
    ),
    TaskLoss.mse: frozenset({DecoderType.population}),
}


def decoder_parts(dec: DecodingConfig) -> List[DecoderType]:
    """The decoders whose statistics ``dec`` reads (the ensemble's members, else ``[dec.type]``)."""
    return list(dec.ensemble_members) if dec.type is DecoderType.ensemble else [dec.type]


def _names(types) -> str:
    return " or ".join(f"decoding={t.name}" for t in sorted(types, key=lambda t: t.name))


def check_network(snn: SNNConfig, dec: DecodingConfig, loss: LossConfig, data: DataConfig) -> None:
    """Raise :class:`ConfigError` unless the network fits the data, decoder and loss: no conv network
    on permuted pixels; a non-spiking baseline (lstm, gru) only with decoding=membrane and no
    activity regulariser (it has no spikes to count)."""
    arch = snn.architecture
    if data.permute and arch is Architecture.conv:
        allowed = ", ".join(a.name for a in Architecture if a is not Architecture.conv)
        raise ConfigError(
            f"data.permute=true scatters each image's pixels, so snn.architecture=conv has no neighbourhoods left to convolve; "
            f"allowed snn.architecture: {allowed}"
        )
    if arch not in NON_SPIKING_ARCHITECTURES:
        return
    parts = decoder_parts(dec)
    if dec.type is DecoderType.ensemble or DecoderType.membrane not in parts:
        reads = " and ".join(DECODER_READS[p][0] for p in parts)
        raise ConfigError(
            f"decoding={dec.type.name} reads {reads}, but snn.architecture={arch.name} has no spikes: its linear readout "
            f"is read like a membrane; allowed: decoding=membrane"
        )
    weights = [f"loss.{w}={getattr(loss, w):g}" for w in ACTIVITY_WEIGHTS if getattr(loss, w) > 0]
    if weights:
        raise ConfigError(
            f"{', '.join(weights)}: activity regularisers read spiking layers, but snn.architecture={arch.name} has none; "
            f"allowed: 0 for {', '.join(f'loss.{w}' for w in ACTIVITY_WEIGHTS)} (e.g. loss=cross_entropy)"
        )


def check_augment_shift(data: DataConfig, info: "DatasetInfo") -> None:
    """Raise :class:`ConfigError` unless ``data.augment_shift`` (null: the data set's own, which
    fits) has images to shift: static ``(C, H, W)`` samples, or smnist's sequences read from images."""
    images = len(info.sample_shape) == 3 or data.name is DatasetName.smnist
    if data.augment_shift and (info.is_event_data or not images):
        raise ConfigError(
            f"data.augment_shift={data.augment_shift} shifts images (static (C, H, W), or smnist's), but data={data.name.name} "
            f"yields {'spike frames' if info.is_event_data else 'vectors'} of shape {tuple(info.sample_shape)}; allowed: 0"
        )


def check_codec(
    enc: EncodingConfig,
    dec: DecodingConfig,
    loss: LossConfig,
    readout: Readout,
    *,
    event_data: bool,
    task: Task,
    data_name: str,
    value_sequence: bool = False,
) -> None:
    """Raise :class:`ConfigError` unless data, encoder, decoder, readout and task loss fit together.

    ``task`` and ``value_sequence`` (the data are real-valued sequences, e.g. smnist, fed through
    :data:`VALUE_SEQUENCE_ENCODERS`) come from the data set's :class:`~brain_ai.data.DatasetInfo`.
    """
    if event_data and enc.type is not EncoderType.identity:
        raise ConfigError(
            f"data={data_name} already yields spike frames (B, T, ...): use encoding=identity (got encoding={enc.type.name})"
        )
    if value_sequence:
        if enc.type not in VALUE_SEQUENCE_ENCODERS:
            why = (
                "passes only spikes / event counts through"
                if enc.type is EncoderType.identity
                else "encodes a static input into num_steps steps"
            )
            raise ConfigError(
                f"data={data_name} yields real-valued sequences (B, T, F), but encoding={enc.type.name} {why}; allowed: "
                f"encoding=direct (the sequence as input current) or encoding=delta (ON/OFF spikes where it changes)"
            )
    elif not event_data and enc.type in SEQUENCE_ENCODERS:
        raise ConfigError(
            f"encoding={enc.type.name} needs spiking data (nmnist, shd, dvsgesture, synthetic: sequences (B, T, ...)), but data={data_name} "
            f"is static: choose an encoder such as encoding=rate_bernoulli"
        )
    regression = task is Task.regression
    if (loss.task_loss is TaskLoss.mse) != regression:
        allowed = "mse" if regression else ", ".join(t.name for t in TaskLoss if t is not TaskLoss.mse)
        raise ConfigError(
            f"loss.task_loss={loss.task_loss.name} does not fit data={data_name}, a {task.name} task; allowed: {allowed}"
        )
    parts = decoder_parts(dec)
    if DecoderType.population in parts and (dec.population_mode is PopulationMode.regression) != regression:
        allowed = PopulationMode.regression.name if regression else PopulationMode.classification.name
        raise ConfigError(
            f"decoding.population_mode={dec.population_mode.name} does not fit data={data_name}, a {task.name} task; allowed: {allowed}"
        )
    if regression and dec.type is not DecoderType.population:
        raise ConfigError(
            f"decoding={dec.type.name} cannot estimate values for data={data_name}, a regression task: use decoding=population_regression"
        )
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
