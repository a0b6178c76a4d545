"""Which settings only change how the model is computed: metadata on the config fields, read by the
resume check and the HParams columns (issue 25 item 5, issue 24 item 2)."""

from __future__ import annotations

import dataclasses

from brain_ai.config import CONFIG_GROUPS, EXECUTION_ONLY, execution_only_settings
from brain_ai.config.schema import _resolved_types
from brain_ai.training.checkpoints import hparam_changes
from brain_ai.training.dashboards import hparam_columns

#: every config field that is NOT execution-only, by dataclass: reviewed, one explicit set. A new field
#: must say what it is: ``field(..., metadata={EXECUTION_ONLY: True})`` when it only changes how the
#: model is computed (free to change on resume, no HParams column), else its name here.
MODEL_SETTINGS = {
    "SNNConfig": "architecture input_size input_shape hidden_sizes output_size conv_channels kernel_size pool norm dropout "
    "readout readout_tau learning_rule sltt_steps",
    "NeuronConfig": "type beta tau dt threshold threshold_shape reset v_rest v_reset dtype_policy surrogate surrogate_alpha "
    "surrogate_params surrogate_normalize learnable_beta per_neuron_beta learnable_threshold synaptic synaptic_beta "
    "synaptic_kernel synaptic_rise_beta refractory_steps adaptation_alpha adaptation_decay learnable_adaptation "
    "tau_distribution tau_mean tau_std max_delay adex_delta_t adex_v_rheobase adex_a adex_b adex_tau_w psn_steps psn_order "
    "psn_mask_ramp_epochs",
    "EncodingConfig": "type num_steps normalization deterministic_eval rate_gain rate_bias seed latency_mapping latency_tau "
    "t_min t_max allow_no_spike jitter latency_burst population_size population_sigma centers population_silent_zero delta_threshold sequence_input",
    "DecodingConfig": "type temperature eps population_mode population_size membrane_reduce ensemble_members ensemble_weights",
    "LossConfig": "task_loss w_probspikes w_first_spike w_cross_entropy w_mse w_rate_reg w_temporal w_isi w_membrane "
    "target_rate rate_targets rate_min rate_max saturation_threshold probspikes_temperature probspikes_eps "
    "first_spike_temperature temporal_window temporal_penalty isi_refractory_window isi_tau max_membrane w_rate",
    "DataConfig": "name root download batch_size num_workers val_fraction seed limit_train augment_shift n_time_bins "
    "bin_width_us downsample cache num_classes num_inputs num_samples num_targets source mode pixels_per_step permute "
    "permutation_seed",
    "OptimConfig": "optimizer lr weight_decay momentum scheduler step_size step_gamma",
    "EfficiencyConfig": "e_ac_pj e_mac_pj",
}


def _undeclared(cls: type, reviewed: dict, out: list) -> None:
    hints = _resolved_types(cls)
    for f in dataclasses.fields(cls):
        nested = hints.get(f.name)
        if isinstance(nested, type) and dataclasses.is_dataclass(nested):
            _undeclared(nested, reviewed, out)
        elif EXECUTION_ONLY not in f.metadata and f.name not in reviewed.get(cls.__name__, "").split():
            out.append(f"{cls.__name__}.{f.name}")


def test_every_config_field_says_whether_it_is_execution_only():
    undeclared: list = []
    for cls in CONFIG_GROUPS.values():
        _undeclared(cls, MODEL_SETTINGS, undeclared)
    assert undeclared == [], (
        f"config fields that do not say whether they only change how the model is computed: {undeclared}; give each "
        f"field(..., metadata={{EXECUTION_ONLY: True}}) or list it in MODEL_SETTINGS"
    )


def test_the_check_fails_for_a_new_field_that_does_not_say():
    base = CONFIG_GROUPS["snn"]
    extended = dataclasses.make_dataclass("SNNConfig", [("new_knob", int, dataclasses.field(default=0))], bases=(base,))
    undeclared: list = []
    _undeclared(extended, MODEL_SETTINGS, undeclared)
    assert undeclared == ["SNNConfig.new_knob"]
    marked = dataclasses.make_dataclass(
        "SNNConfig", [("new_knob", int, dataclasses.field(default=0, metadata={EXECUTION_ONLY: True}))], bases=(base,)
    )
    undeclared = []
    _undeclared(marked, MODEL_SETTINGS, undeclared)
    assert undeclared == []


def test_the_execution_only_settings_are_read_from_the_fields():
    assert execution_only_settings() == {
        "snn.chunk_size",
        "snn.checkpoint_every",
        "snn.memory_budget_mb",
        "snn.online_window",
        "snn.neuron.backend",
        "encoding.spike_dtype",
    }


def test_resume_ignores_every_execution_only_setting_and_compares_the_rest():
    stored = {
        "snn": {"checkpoint_every": None, "neuron": {"backend": "auto", "beta": 0.9}},
        "encoding": {"spike_dtype": "float"},
    }
    current = {
        "snn": {"checkpoint_every": 8, "neuron": {"backend": "eager", "beta": 0.9}},
        "encoding": {"spike_dtype": "uint8"},
    }
    assert hparam_changes(stored, current) == []
    current["snn"]["neuron"]["beta"] = 0.5
    assert hparam_changes(stored, current) == ["snn.neuron.beta: 0.9 -> 0.5"]


def test_hparams_columns_leave_out_execution_only_command_line_keys():
    cli = ("optim.lr", "snn.neuron.backend", "snn.checkpoint_every", "encoding.spike_dtype", "snn.neuron.beta")
    assert hparam_columns(("seed",), cli) == ("seed", "optim.lr", "snn.neuron.beta")
