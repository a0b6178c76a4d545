"""One validated, typed run specification from a composed config: :func:`run_spec`.

The composed Hydra config is read once, here: its schema groups become validated dataclasses, the
data set's :class:`~brain_ai.data.DatasetInfo` (task, outputs, sample shape, time steps, event data,
value sequences; no file access) is looked up, the groups are checked against each other and the
data (:mod:`brain_ai.config.compat`), and the network's input / output sizes are inferred from the
encoder's and decoder's shape functions (no module is built to read them). Everything downstream
(:func:`brain_ai.app.pipeline.build_model`, :class:`~brain_ai.training.module.SNNLitModule`) receives these typed
values, never the DictConfig.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from omegaconf import DictConfig

from brain_ai.config import DataConfig, DecodingConfig, EncodingConfig, LossConfig, OptimConfig, SNNConfig
from brain_ai.config.compat import check_augment_shift, check_codec, check_network
from brain_ai.config.keys import check_target_keys
from brain_ai.config.validate import SchemaGroups, seed_of, validate_config
from brain_ai.core.decoding import decoder_output_size
from brain_ai.core.encoding import encoded_step_shape
from brain_ai.core.learning_rules import check_step_forms
from brain_ai.core.memory import resolve_memory_budget
from brain_ai.core.neurons.psn import with_time_steps
from brain_ai.core.snn import with_io_sizes, with_synaptic_default
from brain_ai.data import DatasetInfo, dataset_info
from brain_ai.training.module import SNNLitModule, training_step_factory


@dataclass(frozen=True)
class RunSpec:
    """A run's model and data, validated and typed.

    ``snn`` has its input / output sizes set (and ``checkpoint_every`` resolved from
    ``memory_budget_mb``); ``info`` is the data set's metadata, the one source of the task
    (classification / regression) and of whether the inputs are real-valued sequences; ``seed`` is
    the run's seed.
    """

    snn: SNNConfig
    encoding: EncodingConfig
    decoding: DecodingConfig
    loss: LossConfig
    optim: OptimConfig
    data: DataConfig
    info: DatasetInfo
    seed: int


def run_spec(cfg: DictConfig, groups: Optional[SchemaGroups] = None) -> RunSpec:
    """The :class:`RunSpec` of a composed ``train`` config; a :class:`~brain_ai.config.ConfigError`
    naming the field for anything that does not fit, before anything is built or loaded.
    ``groups``: ``validate_config(cfg)``'s result where the caller has run it already (``train.py``,
    before importing Lightning), so that the config becomes dataclasses once; None runs it here.

    Checked: every group and top-level setting (:func:`brain_ai.config.validate.validate_config`), the
    ``_target_`` nodes' keys, the shift augmentation against the data, network / data / encoder /
    decoder / readout / task loss
    (:func:`brain_ai.config.compat.check_network`, :func:`~brain_ai.config.compat.check_codec`),
    the network's sizes against the data and codec (``snn.neuron.synaptic`` unset: from the encoder,
    :func:`~brain_ai.core.snn.with_synaptic_default`), ``snn.learning_rule`` ottt / sltt against the
    decoder's and loss's per-step forms and ``snn.sltt_steps`` against T
    (:func:`brain_ai.core.learning_rules.check_step_forms`), ``snn.checkpoint_every`` against T (and
    the PSN family's steps and order, :func:`~brain_ai.core.neurons.psn.with_time_steps`).
    """
    snn, encoding, decoding, loss, optim, data = validate_config(cfg) if groups is None else groups
    seed = seed_of(cfg)
    check_target_keys(cfg)
    info = dataset_info(data)
    check_augment_shift(data, info)
    check_network(snn, decoding, loss, data)
    check_codec(
        encoding,
        decoding,
        loss,
        snn.readout,
        event_data=info.is_event_data,
        task=info.task,
        data_name=data.name.name,
        value_sequence=info.is_value_sequence,
    )
    step_shape = encoded_step_shape(encoding, info.sample_shape)
    snn = with_io_sizes(snn, step_shape, decoder_output_size(decoding, info.num_outputs))
    snn = with_synaptic_default(snn, encoding)
    time_steps = info.time_steps or encoding.num_steps
    check_step_forms(snn, decoding, loss, time_steps)
    snn = with_time_steps(snn, time_steps, cfg.trainer.get("max_epochs"))

    def make_model(snn_cfg: SNNConfig) -> SNNLitModule:  # the real training step that memory_budget_mb fits
        return SNNLitModule(
            snn=snn_cfg,
            encoding=encoding,
            decoding=decoding,
            loss=loss,
            optim=optim,
            num_outputs=info.num_outputs,
            task=info.task,
            seed=seed,
            data=data,
            value_sequence=info.is_value_sequence,
        )

    snn = resolve_memory_budget(snn, data.batch_size, time_steps, training_step_factory(make_model))
    return RunSpec(
        snn=snn, encoding=encoding, decoding=decoding, loss=loss, optim=optim, data=data, info=info, seed=seed
    )
