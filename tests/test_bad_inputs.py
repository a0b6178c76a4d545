"""One clear message per bad input: a table of bad or hostile inputs through the command line
(train.py / evaluate.py / export.py in subprocesses) and the Python API.

Every command-line case asserts the exit status (2: config / input error, 1: a run stopped by a
guard or an error Hydra reports itself), that the message names the field or file, and that no
Python traceback is printed. The command-line cases run up front, in parallel, in one fixture;
all but one fail before any training (most before Lightning is even imported).
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Dict, List, Tuple, Type

import numpy as np
import pytest
import torch
from framework_helpers import untrained_checkpoint
from script_server import ScriptRunner
from torch import nn

from brain_ai.config import (
    ConfigError,
    DataConfig,
    DecodingConfig,
    EfficiencyConfig,
    EncodingConfig,
    LossConfig,
    NeuronConfig,
    SNNConfig,
    from_dict,
)
from brain_ai.config.run_config import EvaluateSettings, ExportSettings, TrainSettings
from brain_ai.core.encoding import build_encoder
from brain_ai.core.learning_rules import check_step_forms
from brain_ai.core.neurons import build_neuron
from brain_ai.core.snn import build_snn
from brain_ai.errors import InputFileError
from brain_ai.metrics.efficiency import EfficiencyError, EfficiencyMeter

SMALL = [
    "data=digits",
    "data.limit_train=64",
    "data.batch_size=32",
    "snn.hidden_sizes=[16]",
    "encoding.num_steps=4",
    "trainer.max_epochs=1",
    "trainer.enable_progress_bar=false",
    "+trainer.enable_model_summary=false",
    "logger=csv",
]
#: the search space that an earlier sweep wrote into {files}/sweeps/other (sweep_storage_of_another_space)
OTHER_SPACE = '{"params": {"optim.lr": {"high": 0.1, "low": 0.0001, "type": "float"}}}'


@dataclass(frozen=True)
class Cli:
    """One command line: ``<script>.py *args`` must exit with ``status`` and name every string in ``names``."""

    id: str
    script: str
    args: Tuple[str, ...]
    status: int
    names: Tuple[str, ...]


def cli(id: str, args: str, status: int, *names: str, script: str = "train") -> Cli:
    return Cli(id, script, tuple(args.split()), status, names)


CLI_CASES: List[Cli] = [
    # unknown keys, with or without +, named with the closest valid key (before Hydra composes)
    cli("unknown_neuron_key", "snn.neuron.bta=0.5", 2, "snn.neuron.bta", "closest valid key is snn.neuron.beta"),
    cli("unknown_neuron_key_plus", "+snn.neuron.bta=0.5", 2, "snn.neuron.bta", "snn.neuron.beta"),
    cli("unknown_neuron_key_plusplus", "++snn.neuron.bta=0.5", 2, "snn.neuron.bta", "snn.neuron.beta"),
    cli("unknown_top_level_plus", "+tets=false", 2, "tets", "closest valid key is test"),
    cli("unknown_trainer_key", "trainer.max_epoch=2", 2, "trainer.max_epoch", "trainer.max_epochs"),
    cli(
        "unknown_trainer_key_plus",
        "+trainer.limit_val_batchs=1",
        2,
        "trainer.limit_val_batchs",
        "trainer.limit_val_batches",
    ),
    cli("unknown_optim_key", "optim.lrr=0.1", 2, "optim.lrr", "optim.lr"),
    cli("unknown_data_key_plus", "+data.roots=x", 2, "data.roots", "data.root"),
    cli("unknown_encoding_key", "encoding.num_stepz=5", 2, "encoding.num_stepz", "encoding.num_steps"),
    cli("unknown_decoding_key_plus", "+decoding.temprature=1", 2, "decoding.temperature"),
    cli("unknown_loss_key_plus", "+loss.w_rat=1", 2, "loss.w_rate_reg"),
    cli(
        "evaluate_unknown_key",
        "ckpt_path=x.ckpt outptu_json=r.json",
        2,
        "outptu_json",
        "output_json",
        script="evaluate",
    ),
    cli("evaluate_unknown_key_plus", "ckpt_path=x.ckpt +data_rot=d", 2, "data_rot", "data_root", script="evaluate"),
    # errors Hydra reports itself (one message, no traceback)
    cli("bad_enum_value", "snn.neuron.type=lifx", 1, "snn.neuron.type", "lifx"),
    cli("missing_group_option", "data=nope", 1, "data/nope"),
    cli("list_expected", "snn.hidden_sizes=abc", 1, "snn.hidden_sizes"),
    cli("int_expected", "data.batch_size=abc", 1, "data.batch_size"),
    cli("evaluate_missing_ckpt_path", "", 2, "ckpt_path must be set", script="evaluate"),
    # values out of range, refused before Lightning is imported
    cli("beta_out_of_range", "snn.neuron.beta=1.2", 2, "snn.neuron.beta=1.2", "[0.0, 0.999]"),
    cli("threshold_negative", "snn.neuron.threshold=-1", 2, "snn.neuron.threshold=-1"),
    cli("num_steps_zero", "encoding.num_steps=0", 2, "encoding.num_steps=0"),
    cli("batch_size_zero", "data.batch_size=0", 2, "data.batch_size=0"),
    cli("lr_negative", "optim.lr=-1", 2, "optim.lr=-1"),
    cli("val_fraction_above_one", "data.val_fraction=1.5", 2, "data.val_fraction=1.5"),
    cli("rate_range_inverted", "loss.rate_min=0.5 loss.rate_max=0.2", 2, "loss.rate_max=0.2"),
    cli("max_epochs_zero", "trainer.max_epochs=0", 2, "trainer.max_epochs=0", "allowed: >= 1"),
    cli(
        "val_fraction_zero_with_val_metric",
        "data.val_fraction=0",
        2,
        "data.val_fraction=0",
        "optimized_metric=train/acc",
    ),
    cli("precision_16_true", "trainer.precision=16-true", 2, "trainer.precision=16-true", "16-mixed"),
    cli("precision_bf16_true", "trainer.precision=bf16-true", 2, "trainer.precision=bf16-true", "bf16-mixed"),
    cli("seed_not_int", "seed=abc", 2, "seed='abc'"),
    cli("optimized_mode_bad", "optimized_mode=maximum", 2, "optimized_mode='maximum'", "max, min"),
    # combinations that would train to chance (the compatibility table)
    cli(
        "population_with_probspikes",
        "data=digits decoding=population",
        2,
        "decoding=population",
        "loss.task_loss=cross_entropy",
    ),
    cli(
        "membrane_with_spiking_readout", "data=digits decoding=membrane", 2, "decoding=membrane", "snn.readout=membrane"
    ),
    cli(
        "first_spike_with_probspikes",
        "data=digits decoding=first_spike",
        2,
        "decoding=first_spike",
        "use decoding=membrane or decoding=rate",
    ),
    cli("identity_on_static_data", "data=digits encoding=identity", 2, "encoding=identity", "data=digits"),
    cli("rate_encoder_on_event_data", "data=shd", 2, "data=shd", "encoding=identity"),
    cli("regression_codec_on_classification", "data=digits preset=regression", 2, "loss.task_loss=mse", "data=digits"),
    # sequential MNIST and the non-spiking baselines
    cli("smnist_mode_unknown", "data=smnist data.mode=column", 1, "data.mode", "column"),
    cli(
        "smnist_pixels_per_step_not_divisor",
        "data=smnist data.mode=pixel data.pixels_per_step=5",
        2,
        "data.pixels_per_step=5",
        "784",
        "allowed: 1, 2, 4, 7",
    ),
    cli(
        "smnist_permute_with_conv",
        "data=smnist data.permute=true snn=conv encoding=direct decoding=membrane",
        2,
        "data.permute=true",
        "snn.architecture=conv",
        "allowed snn.architecture: mlp, lstm, gru",
    ),
    cli("smnist_static_encoder", "data=smnist", 2, "encoding=rate_bernoulli", "data=smnist", "encoding=direct"),
    cli(
        "smnist_identity_encoder", "data=smnist encoding=identity", 2, "encoding=identity", "spikes", "encoding=direct"
    ),
    cli(
        "smnist_field_on_other_data",
        "data=digits data.permute=true",
        2,
        "data.permute=true",
        "data=smnist",
        "data=digits",
    ),
    cli(
        "lstm_with_rate_decoder",
        "data=smnist snn=lstm encoding=direct",
        2,
        "decoding=rate",
        "snn.architecture=lstm",
        "allowed: decoding=membrane",
    ),
    cli(
        "gru_with_ensemble_decoder",
        "data=smnist snn=gru encoding=direct decoding=ensemble loss=cross_entropy",
        2,
        "decoding=ensemble",
        "snn.architecture=gru",
        "allowed: decoding=membrane",
    ),
    cli(
        "lstm_with_activity_regularisers",
        "data=smnist snn=lstm encoding=direct decoding=membrane",
        2,
        "loss.w_rate_reg=0.1",
        "snn.architecture=lstm",
        "loss.w_isi",
        "loss=cross_entropy",
    ),
    cli(
        "lstm_with_spiking_readout",
        "data=smnist snn=lstm snn.readout=spiking",
        2,
        "snn.readout=spiking",
        "snn.architecture=lstm",
        "allowed: snn.readout=membrane",
    ),
    cli(
        "unknown_callback_argument",
        "data=digits +callbacks.health.divergence_factr=3",
        2,
        "callbacks.health.divergence_factor",
    ),
    # checkpoints and output files
    cli(
        "remote_ckpt_refused",
        f"{' '.join(SMALL)} ckpt_path=http://127.0.0.1:9/evil.ckpt",
        2,
        "ckpt_path='http://127.0.0.1:9/evil.ckpt'",
        "allow_remote_ckpt=true",
    ),
    cli("missing_ckpt", f"{' '.join(SMALL)} ckpt_path={{files}}/missing.ckpt", 2, "missing.ckpt"),
    cli(
        "malicious_ckpt_train", f"{' '.join(SMALL)} ckpt_path={{files}}/evil.ckpt", 2, "evil.ckpt", "Unsupported global"
    ),
    cli(
        "random_bytes_ckpt",
        "ckpt_path={files}/random.ckpt",
        2,
        "random.ckpt",
        "not a readable PyTorch checkpoint",
        script="evaluate",
    ),
    cli(
        "truncated_ckpt",
        "ckpt_path={files}/truncated.ckpt",
        2,
        "truncated.ckpt",
        "truncated or corrupt",
        script="evaluate",
    ),
    cli(
        "plain_state_dict",
        "ckpt_path={files}/state_dict.ckpt",
        2,
        "state_dict.ckpt",
        "plain state_dict",
        script="evaluate",
    ),
    cli(
        "malicious_ckpt_evaluate",
        "ckpt_path={files}/evil.ckpt",
        2,
        "evil.ckpt",
        "Unsupported global",
        script="evaluate",
    ),
    cli(
        "output_json_unwritable",
        "ckpt_path={files}/random.ckpt output_json={files}/a_file/r.json",
        2,
        "output_json folder",
        "a_file",
        script="evaluate",
    ),
    cli(
        "checkpoint_dir_unwritable",
        f"{' '.join(SMALL)} callbacks.model_checkpoint.dirpath={{files}}/a_file/ckpts",
        2,
        "callbacks.model_checkpoint.dirpath",
        "a_file/ckpts",
    ),
    # data files
    cli(
        "mnist_files_missing",
        "data=mnist data.root={files}/empty trainer.enable_progress_bar=false",
        2,
        "train-images-idx3-ubyte",
        "data.download=true",
    ),
    cli(
        "mnist_idx_corrupt",
        "data=mnist data.root={files}/mnist_bad trainer.enable_progress_bar=false",
        2,
        "train-images-idx3-ubyte",
        "not an uncompressed idx file",
    ),
    cli(
        "mnist_idx_truncated",
        "data=mnist data.root={files}/mnist_short trainer.enable_progress_bar=false",
        2,
        "train-images-idx3-ubyte",
        "truncated",
    ),
    cli(
        "data_root_is_a_file",
        "data=mnist data.root={files}/a_file trainer.enable_progress_bar=false",
        2,
        "data.root=",
        "a_file",
        "is a file",
    ),
    cli(
        "shd_h5_corrupt",
        "data=shd encoding=identity data.root={files}/shd_bad trainer.enable_progress_bar=false",
        2,
        "shd_train.h5",
        "could not be read",
    ),
    # a run that cannot learn stops with a message (exit 1)
    cli(
        "dead_network_stops",
        f"{' '.join(SMALL)} snn.neuron.threshold=1e30",
        1,
        "training stopped",
        "stayed silent",
        "snn.neuron.threshold",
    ),
    # --- issue 23, files: corrupt or poisoned checkpoints, NIR files and event data ---
    cli(
        "ckpt_flipped_weight_byte",
        "ckpt_path={files}/flipped.ckpt",
        2,
        "flipped.ckpt",
        "member 'flipped/data/",
        "CRC-32",
        script="evaluate",
    ),
    cli(
        "ckpt_nan_weight",
        "ckpt_path={files}/nan_weight.ckpt",
        2,
        "nan_weight.ckpt",
        "non-finite",
        "net.linears.1.weight",
        script="evaluate",
    ),
    cli(
        "ckpt_os_system_payload",
        "ckpt_path={files}/os_system.ckpt",
        2,
        "os_system.ckpt",
        "GLOBAL posix.system",
        script="evaluate",
    ),
    cli(
        "nir_nan_second_threshold",
        "ckpt_path={files}/nan_threshold.nir",
        2,
        "nan_threshold.nir",
        "layer1.v_threshold",
        script="evaluate",
    ),
    cli("nir_fails_nir_read", "ckpt_path={files}/not_nir.nir", 2, "not_nir.nir", "nir.read failed", script="evaluate"),
    cli(
        "nir_without_metadata",
        "ckpt_path={files}/bare.nir",
        2,
        "bare.nir",
        "no brain_ai training metadata",
        script="evaluate",
    ),
    cli(
        "remote_timeout_zero",
        "ckpt_path=x.ckpt remote_ckpt_timeout_s=0",
        2,
        "remote_ckpt_timeout_s=0",
        "> 0",
        script="evaluate",
    ),
    cli(
        "remote_max_mb_text",
        "ckpt_path=x.ckpt remote_ckpt_max_mb=lots",
        2,
        "remote_ckpt_max_mb='lots'",
        script="evaluate",
    ),
    cli(
        "shd_unit_out_of_range_in_worker",
        "data=shd encoding=identity data.root={files}/shd_units data.n_time_bins=4 data.batch_size=2 "
        "data.num_workers=1 snn.hidden_sizes=[8] trainer.max_epochs=1 trainer.enable_progress_bar=false logger=csv",
        2,
        "shd_train.h5 sample",
        "event x index 800",
        "[0, 699]",
    ),
    # --- issue 27, efficiency: energy constants refused at compose time ---
    cli("efficiency_energy_negative", "efficiency.e_ac_pj=-1", 2, "efficiency.e_ac_pj=-1.0", "allowed: [0.0, inf)"),
    cli(
        "efficiency_energy_nan_evaluate",
        "ckpt_path={files}/random.ckpt efficiency.e_mac_pj=nan",
        2,
        "efficiency.e_mac_pj=nan",
        "must be finite",
        script="evaluate",
    ),
    cli(
        "efficiency_energy_unknown_key",
        "efficiency.e_ac=1",
        2,
        "efficiency.e_ac",
        "closest valid key is efficiency.e_ac_pj",
    ),
    # --- issue 23, resume and run folders (lock files, earlier runs, outputs that are inputs) ---
    cli(
        "lock_file_empty",
        f"{' '.join(SMALL)} paths.output_dir={{files}}/lock_empty",
        2,
        "lock_empty/.brain_ai.lock",
        "an empty file",
    ),
    cli(
        "lock_file_garbage",
        f"{' '.join(SMALL)} paths.output_dir={{files}}/lock_garbage",
        2,
        "lock_garbage/.brain_ai.lock",
        "did not write",
    ),
    cli(
        "lock_file_pid_not_int",
        f"{' '.join(SMALL)} paths.output_dir={{files}}/lock_pid_text",
        2,
        "lock_pid_text/.brain_ai.lock",
        "did not write",
    ),
    cli(
        "lock_of_live_process_on_other_host",
        f"{' '.join(SMALL)} paths.output_dir={{files}}/lock_other_host",
        2,
        "in use by another run",
        "elsewhere.example",
    ),
    cli(
        "new_run_over_an_earlier_runs_config",
        f"{' '.join(SMALL)} paths.output_dir={{files}}/earlier_run",
        2,
        "already holds another run",
        "earlier_run/.hydra/config.yaml",
    ),
    cli(
        "checkpoint_dir_of_an_earlier_run",
        f"{' '.join(SMALL)} callbacks.model_checkpoint.dirpath={{files}}/earlier_ckpts",
        2,
        "already holds checkpoints of another run",
        "last.ckpt",
    ),
    cli(
        "evaluate_output_json_is_the_ckpt",
        "ckpt_path={files}/full.ckpt output_json={files}/full.ckpt",
        2,
        "output_json=",
        "is the input file ckpt_path=",
        script="evaluate",
    ),
    cli(
        "evaluate_output_json_is_the_ckpt_via_dotdot",
        "ckpt_path={files}/full.ckpt output_json={files}/empty/../full.ckpt",
        2,
        "is the input file ckpt_path=",
        script="evaluate",
    ),
    # --- issue 29, core: rest / reset potentials ---
    cli(
        "v_reset_at_threshold",
        "snn.neuron.reset=zero snn.neuron.v_reset=1.0",
        2,
        "v_reset=1.0",
        "threshold=1.0",
        "v_reset < threshold",
    ),
    cli("v_reset_with_subtract_reset", "snn.neuron.v_reset=0.5", 2, "v_reset=0.5", "reset=zero", "reset=subtract"),
    # --- issue 29, compact spikes ---
    cli("spike_dtype_unknown", "encoding.spike_dtype=int8", 1, "encoding.spike_dtype", "int8"),
    cli(
        "spike_dtype_with_direct",
        "encoding=direct encoding.spike_dtype=uint8",
        2,
        "encoding.spike_dtype=uint8",
        "type=direct",
        "allowed: float",
    ),
    # --- issue 23, sweeps, runs that cannot learn (a -m sweep runs every job and exits 1 if any failed) ---
    cli(
        "sweep_bad_values_every_job_runs",
        f"-m {' '.join(SMALL)} snn.neuron.beta=1.5,2.0 hydra.sweep.dir={{files}}/sweeps/beta",
        1,
        "error: snn.neuron.beta=1.5",
        "error: snn.neuron.beta=2.0",
        "sweep: 2 of 2 jobs failed",
        "#1 snn.neuron.beta=2.0: FAILED: error: snn.neuron.beta=2.0 is out of range",
    ),
    cli(
        "sweep_dead_job_then_healthy_job",
        f"-m {' '.join(SMALL)} snn.neuron.threshold=1e30,1.0 hydra.sweep.dir={{files}}/sweeps/dead",
        1,
        "sweep: 1 of 2 jobs failed",
        "#0 snn.neuron.threshold=1e+30: FAILED: training stopped:",
        "#1 snn.neuron.threshold=1.0: succeeded",
    ),
    cli(
        "sweep_unknown_key_refused_before_any_job",
        f"-m {' '.join(SMALL)} snn.neuron.bta=0.5,0.6",
        2,
        "snn.neuron.bta",
        "snn.neuron.beta",
    ),
    cli(
        "lr_1000_output_layer_stuck",
        f"{' '.join(SMALL)} optim.lr=1000 trainer.max_epochs=12",
        1,
        "training stopped",
        "output neurons fired at (almost) every step",
        "2 epochs in a row",
        "optim.lr (now 1000)",
        "callbacks.health.stuck_epochs=0",
    ),
    cli(
        "short_run_ends_with_stuck_output",
        f"{' '.join(SMALL)} data.limit_train=704 optim.lr=1000",
        1,
        "training stopped",
        "at epoch 0 (step 22)",
        "on the last training batch of the run",
    ),
    cli(
        "health_stuck_epochs_negative",
        f"{' '.join(SMALL)} callbacks.health.stuck_epochs=-1",
        1,
        "stuck_epochs=-1",
        "callbacks.health",
    ),
    # --- issue 23, first hour ---
    # the README's old example (checkpoint_every=50 at the default T = 25): refused naming the field and T
    cli("checkpoint_every_above_num_steps", "data=digits snn.checkpoint_every=50", 2, "snn.checkpoint_every=50", "25"),
    # --- issue 23, flags: top-level settings typed by brain_ai/config/run_config.py, trainer / _target_ values, export.py ---
    cli(
        "remote_ckpt_quoted_false",
        f"{' '.join(SMALL)} ckpt_path=http://127.0.0.1:9/evil.ckpt allow_remote_ckpt='false'",
        2,
        "allow_remote_ckpt='false'",
        "allowed: true, false",
    ),
    cli(
        "evaluate_remote_ckpt_quoted_false",
        "ckpt_path=http://127.0.0.1:9/evil.ckpt allow_remote_ckpt='false'",
        2,
        "allow_remote_ckpt='false'",
        "allowed: true, false",
        script="evaluate",
    ),
    cli(
        "resume_allow_changes_quoted",
        "resume_allow_changes='no'",
        2,
        "resume_allow_changes='no'",
        "allowed: true, false",
    ),
    cli("test_flag_maybe", "test=maybe", 2, "test='maybe'", "allowed: true, false"),
    cli("allocator_reuse_number", "allocator_reuse=2", 2, "allocator_reuse=2", "allowed: true, false"),
    cli("seed_negative", "seed=-1", 2, "seed=-1", "[0, inf)"),
    cli("evaluate_seed_float", "ckpt_path={files}/snn.ckpt seed=1.5", 2, "seed=1.5", "an integer", script="evaluate"),
    cli(
        "evaluate_stream_window_zero",
        "ckpt_path={files}/random.ckpt stream_window=0",
        2,
        "stream_window=0",
        "[1, inf)",
        script="evaluate",
    ),
    cli(
        "evaluate_stream_window_text",
        "ckpt_path={files}/random.ckpt stream_window=all",
        2,
        "stream_window='all'",
        "an integer, null",
        script="evaluate",
    ),
    cli(
        "experimental_rerun_train",
        "--experimental-rerun {files}/config.pickle",
        2,
        "--experimental-rerun",
        "overrides.yaml",
    ),
    cli(
        "experimental_rerun_evaluate",
        "--experimental-rerun={files}/config.pickle",
        2,
        "--experimental-rerun",
        script="evaluate",
    ),
    cli(
        "experimental_rerun_export",
        "--experimental-rerun {files}/config.pickle",
        2,
        "--experimental-rerun",
        script="export",
    ),
    cli("max_epochs_not_int", "trainer.max_epochs=abc", 2, "trainer.max_epochs='abc'", "an integer"),
    cli("max_epochs_below_minus_one", "trainer.max_epochs=-2", 2, "trainer.max_epochs=-2", "[-1, inf)"),
    cli("data_seed_negative", "data.seed=-1", 2, "data.seed=-1", "[0, inf)"),
    cli("gradient_clip_negative", "trainer.gradient_clip_val=-1", 2, "trainer.gradient_clip_val=-1", "[0.0, inf)"),
    cli(
        "gradient_clip_text",
        "data=digits trainer.gradient_clip_val=high",
        2,
        "trainer.gradient_clip_val='high'",
        "a number",
    ),
    cli(
        "optimized_metric_never_logged",
        f"{' '.join(SMALL)} optimized_metric=val/accuracy",
        2,
        "optimized_metric='val/accuracy'",
        "val/acc",
    ),
    cli(
        "optimized_metric_test_stage",
        f"{' '.join(SMALL)} optimized_metric=test/acc",
        2,
        "optimized_metric='test/acc'",
        "while fitting",
        "val/acc",
    ),
    cli(
        "log_every_n_steps_text",
        "data=digits trainer.log_every_n_steps=often",
        2,
        "trainer.log_every_n_steps='often'",
        "an integer",
    ),
    cli(
        "check_val_every_n_epoch_float",
        "data=digits trainer.check_val_every_n_epoch=0.5",
        2,
        "trainer.check_val_every_n_epoch=0.5",
        "an integer",
    ),
    cli(
        "precision_unknown",
        "data=digits trainer.precision=8-true",
        2,
        "trainer.precision='8-true'",
        "32-true",
        "bf16-mixed",
    ),
    cli(
        "deterministic_maybe",
        "data=digits trainer.deterministic=maybe",
        2,
        "trainer.deterministic='maybe'",
        "true, false, warn",
    ),
    cli(
        "health_dead_steps_text",
        "data=digits callbacks.health.dead_steps=few",
        2,
        "callbacks.health.dead_steps='few'",
        "an integer",
    ),
    cli(
        "checkpoint_save_last_quoted",
        "data=digits callbacks.model_checkpoint.save_last='false'",
        2,
        "callbacks.model_checkpoint.save_last='false'",
        "true, false",
    ),
    cli(
        "export_approximate_maybe",
        "ckpt_path={files}/snn.ckpt output={files}/out/m.nir approximate=maybe",
        2,
        "approximate='maybe'",
        "allowed: true, false",
        script="export",
    ),
    cli(
        "export_not_exact_hint",
        "ckpt_path={files}/snn.ckpt output={files}/out/m.nir",
        2,
        "NIR cannot express this network exactly",
        "layer0: reset=subtract",
        "approximate=true",
        script="export",
    ),
    cli(
        "export_missing_ckpt",
        "ckpt_path={files}/missing.ckpt output={files}/out/m.nir",
        2,
        "missing.ckpt",
        "does not exist",
        script="export",
    ),
    cli(
        "export_random_bytes_ckpt",
        "ckpt_path={files}/random.ckpt output={files}/out/m.nir",
        2,
        "random.ckpt",
        "not a readable PyTorch checkpoint",
        script="export",
    ),
    cli(
        "export_not_brain_ai_ckpt",
        "ckpt_path={files}/state_dict.ckpt output={files}/out/m.nir",
        2,
        "state_dict.ckpt",
        "not a brain_ai training checkpoint",
        script="export",
    ),
    cli("export_output_missing", "ckpt_path={files}/snn.ckpt", 2, "output must be set", script="export"),
    cli(
        "export_output_unwritable",
        "ckpt_path={files}/snn.ckpt output={files}/a_file/m.nir approximate=true",
        2,
        "a_file/m.nir",
        "cannot write",
        script="export",
    ),
    cli(
        "export_dt_negative",
        "ckpt_path={files}/snn.ckpt output={files}/out/m.nir dt=-1",
        2,
        "dt=-1",
        "(0.0, inf)",
        script="export",
    ),
    cli(
        "export_dt_text",
        "ckpt_path={files}/snn.ckpt output={files}/out/m.nir dt=fast",
        2,
        "dt='fast'",
        "a number, null",
        script="export",
    ),
    cli(
        "export_unknown_key",
        "ckpt_path={files}/snn.ckpt output={files}/out/m.nir approx=true",
        2,
        "approx",
        "closest valid key is approximate",
        script="export",
    ),
    # --- issue 29, neurons: readout time constant and AdEx parameters, refused at compose time ---
    cli(
        "readout_tau_zero", "snn.readout=membrane decoding=membrane snn.readout_tau=0", 2, "snn.readout_tau=0", "(0.0, "
    ),
    cli(
        "readout_tau_with_spiking_readout",
        "snn.readout_tau=10",
        2,
        "snn.readout_tau=10",
        "snn.readout=spiking",
        "snn.readout=membrane",
    ),
    cli(
        "adex_rheobase_above_threshold",
        "snn.neuron.type=adex snn.neuron.adex_v_rheobase=1.5",
        2,
        "neuron.adex_v_rheobase=1.5",
        "(0.0, 1.0)",
    ),
    # --- issue 26, recurrent Triton kernel: backend=triton without CUDA, refused before training ---
    cli(
        "recurrent_triton_on_cpu",
        "snn.neuron.type=recurrent_adaptive_lif snn.neuron.backend=triton",
        2,
        "RecurrentAdaptiveLIFNeuron",
        "backend='triton'",
        "tensors are on cpu",
        "use backend=auto, fused or eager",
    ),
    # --- issue 26, psn: the parallel spiking neurons (psn, masked_psn, sliding_psn) where they cannot apply ---
    cli(
        "psn_steps_not_the_data_T",
        f"{' '.join(SMALL)} snn.neuron.type=psn snn.neuron.psn_steps=8",
        2,
        "snn.neuron.psn_steps=8",
        "T=4",
        "snn.neuron.psn_steps=4",
    ),
    cli(
        "psn_order_above_T",
        f"{' '.join(SMALL)} snn.neuron.type=masked_psn snn.neuron.psn_order=5",
        2,
        "snn.neuron.psn_order=5",
        "1 <= psn_order <= 4",
    ),
    cli("psn_order_zero", "snn.neuron.type=sliding_psn snn.neuron.psn_order=0", 2, "neuron.psn_order=0", "[1, inf)"),
    cli(
        "psn_order_on_full_psn",
        "snn.neuron.type=psn snn.neuron.psn_order=2",
        2,
        "neuron.psn_order=2",
        "masked_psn, sliding_psn",
    ),
    cli(
        "psn_chunk_cuts_T",
        f"{' '.join(SMALL)} snn.neuron.type=psn snn.chunk_size=2",
        2,
        "snn.chunk_size=2",
        "T=4",
        "sliding_psn",
    ),
    cli(
        "psn_checkpoint_cuts_T",
        f"{' '.join(SMALL)} snn.neuron.type=masked_psn snn.checkpoint_every=3",
        2,
        "snn.checkpoint_every=3",
        "allowed: null or >= 4",
    ),
    cli(
        "psn_memory_budget",
        "snn.neuron.type=psn snn.memory_budget_mb=100",
        2,
        "snn.memory_budget_mb=100",
        "allowed: null",
    ),
    cli(
        "psn_with_reset",
        "snn.neuron.type=sliding_psn snn.neuron.reset=zero",
        2,
        "neuron.reset='zero'",
        "allowed: 'subtract'",
    ),
    cli("psn_with_synaptic", "snn.neuron.type=psn snn.neuron.synaptic=true", 2, "neuron.synaptic=True", "no reset"),
    cli(
        "psn_fused_backend",
        "snn.neuron.type=masked_psn snn.neuron.backend=fused",
        2,
        "neuron.backend=fused",
        "allowed: auto, eager",
    ),
    cli(
        "psn_mask_ramp_beyond_training",
        f"{' '.join(SMALL)} snn.neuron.type=masked_psn snn.neuron.psn_mask_ramp_epochs=1",
        2,
        "snn.neuron.psn_mask_ramp_epochs=1",
        "trainer.max_epochs=1",
    ),
    cli(
        "psn_learnable_adaptation",
        "snn.neuron.type=sliding_psn snn.neuron.learnable_adaptation=true",
        2,
        "neuron.learnable_adaptation=true",
        "recurrent_adaptive_lif",
    ),
    cli(
        "psn_stream_window_below_T",
        "ckpt_path={files}/psn.ckpt stream_window=1",
        2,
        "stream_window=1",
        "snn.neuron.type=psn",
        script="evaluate",
    ),
    cli(
        "psn_nir_export",
        "ckpt_path={files}/psn.ckpt output={files}/out/psn.nir",
        2,
        "layer0",
        "cannot be exported",
        script="export",
    ),
    # --- issue 28, sweep.py: search spaces checked before the first trial, one study per space, failed trials ---
    cli(
        "sweep_param_unknown_key",
        "--search {files}/search/unknown_key.yaml --dir {files}/sweeps/unknown_key",
        2,
        "params.snn.neuron.bta",
        "closest valid key is snn.neuron.beta",
        script="sweep",
    ),
    cli(
        "sweep_param_above_its_range",
        "--search {files}/search/beta_range.yaml --dir {files}/sweeps/beta_range",
        2,
        "params.snn.neuron.beta (high 1.5)",
        "snn.neuron.beta=1.5 is out of range",
        script="sweep",
    ),
    cli(
        "sweep_param_unknown_choice",
        "--search {files}/search/unknown_choice.yaml --dir {files}/sweeps/choice",
        2,
        "params.encoding (choice 1 'ttfss')",
        "ttfss",
        script="sweep",
    ),
    cli(
        "sweep_param_bad_type",
        "--search {files}/search/bad_type.yaml --dir {files}/sweeps/bad_type",
        2,
        "params.optim.lr.type='uniform'",
        "float, int, categorical",
        script="sweep",
    ),
    cli("sweep_unknown_search_name", "--search optuan", 2, "--search 'optuan'", "allowed: optuna", script="sweep"),
    cli(
        "sweep_unknown_override",
        "--search {files}/search/dead.yaml --dir {files}/sweeps/typo snn.neuron.bta=0.5",
        2,
        "snn.neuron.bta",
        "snn.neuron.beta",
        script="sweep",
    ),
    cli("sweep_workers_zero", "--workers 0", 2, "--workers 0", "allowed: 1 or more", script="sweep"),
    cli(
        "sweep_storage_of_another_space",
        "--search {files}/search/other_space.yaml --dir {files}/sweeps/other",
        2,
        "was written by a sweep with another search space",
        "the study's:  " + OTHER_SPACE,
        "this sweep's: ",
        '"high": 0.01',
        script="sweep",
    ),
    cli(
        "sweep_every_trial_fails_study_goes_on",
        "--search {files}/search/dead.yaml --dir {files}/sweeps/dead " + " ".join(SMALL),
        1,
        "sweep: trial #1 failed: training stopped:",
        "sweep: 2 trials: 0 complete, 0 pruned, 2 failed",
        "#0 FAILED: training stopped:",
        "best: none",
        script="sweep",
    ),
    # --- issue 24, setup: encoding.sequence_input removed (value sequences come from the data set) ---
    cli(
        "sequence_input_removed",
        "data=digits encoding=direct encoding.sequence_input=true",
        2,
        "encoding.sequence_input was removed",
        "data=smnist",
    ),
    cli(
        "sequence_input_false_removed",
        "data=digits +encoding.sequence_input=false",
        2,
        "encoding.sequence_input was removed",
    ),
    # --- issue 24, neuron parameters: one range per field, checked when the config is composed ---
    cli(
        "advanced_tau_mean_above_range",
        "snn=advanced snn.neuron.tau_mean=1000",
        2,
        "neuron.tau_mean=1000",
        "(1.0, 500.0]",
    ),
    # --- issue 26, compiled recurrent loop (backend=compiled): CPU, float32 / float64 state, recurrent adaptive LIF ---
    cli(
        "compiled_backend_on_lif",
        "snn.neuron.backend=compiled",
        2,
        "snn.neuron.backend=compiled",
        "neuron.type=recurrent_adaptive_lif",
        "got neuron.type=lif",
    ),
    cli(
        "compiled_backend_on_gpu",
        "snn.neuron.type=recurrent_adaptive_lif snn.neuron.backend=compiled trainer=gpu",
        2,
        "snn.neuron.backend=compiled runs CPU tensors",
        "trainer.accelerator=gpu",
    ),
    cli(
        "compiled_backend_half_state",
        "snn.neuron.type=recurrent_adaptive_lif snn.neuron.backend=compiled snn.neuron.dtype_policy=input_dtype "
        "trainer.precision=bf16-mixed",
        2,
        "snn.neuron.dtype_policy=input_dtype",
        "trainer.precision=bf16-mixed",
        "fp32_state",
    ),
    # --- issue 25, online learning rules (ottt / sltt): configs they cannot serve, refused before training ---
    cli("learning_rule_unknown", "snn.learning_rule=rtrl", 1, "snn.learning_rule", "rtrl"),
    cli(
        "learning_rule_lstm",
        "snn=lstm snn.learning_rule=ottt",
        2,
        "snn.learning_rule=ottt",
        "snn.architecture=lstm",
        "learning_rule=bptt",
    ),
    cli(
        "learning_rule_batch_norm",
        "snn=conv snn.learning_rule=sltt",
        2,
        "snn.learning_rule=sltt",
        "snn.norm=batch",
        "snn.norm=none",
    ),
    cli(
        "learning_rule_checkpoint_every",
        "snn.learning_rule=ottt snn.checkpoint_every=2",
        2,
        "snn.checkpoint_every=2",
        "snn.learning_rule=ottt",
        "snn.checkpoint_every=null",
    ),
    cli(
        "learning_rule_membrane_max",
        f"{' '.join(SMALL)} snn.learning_rule=ottt snn.readout=membrane decoding=membrane "
        "decoding.membrane_reduce=max loss=cross_entropy",
        2,
        "snn.learning_rule=ottt",
        "decoding.membrane_reduce=max",
        "no per-step form",
        "membrane_reduce=mean",
    ),
    cli(
        "learning_rule_first_spike",
        f"{' '.join(SMALL)} snn.learning_rule=sltt decoding.type=first_spike loss.task_loss=first_spike",
        2,
        "snn.learning_rule=sltt",
        "decoding=first_spike",
        "no per-step form",
        "decoding=rate",
    ),
    cli("sltt_steps_zero", "snn.learning_rule=sltt snn.sltt_steps=0", 2, "snn.sltt_steps=0", "[1, "),
    cli(
        "sltt_steps_above_T",
        f"{' '.join(SMALL)} snn.learning_rule=sltt snn.sltt_steps=9",
        2,
        "snn.sltt_steps=9",
        "T=4",
        "1 <= snn.sltt_steps <= 4",
    ),
    cli(
        "learning_rule_psn",
        f"{' '.join(SMALL)} snn.learning_rule=ottt snn.neuron.type=psn snn.neuron.psn_steps=4",
        2,
        "snn.learning_rule=ottt",
        "snn.neuron.type=psn",
        "snn.learning_rule=bptt",
    ),
    cli(
        "sltt_steps_with_bptt",
        "snn.sltt_steps=3",
        2,
        "snn.sltt_steps=3",
        "snn.learning_rule=bptt",
        "snn.learning_rule=sltt",
    ),
]


def make_files(folder: Path) -> None:
    """The bad files the command-line cases name (``{files}``)."""

    class Payload:
        def __reduce__(self):
            return (open, (str(folder / "PWNED"), "w"))

    torch.save({"state_dict": {"w": Payload()}}, folder / "evil.ckpt")
    (folder / "random.ckpt").write_bytes(np.random.default_rng(0).bytes(4096))
    torch.save({"state_dict": {"w": torch.zeros(100)}, "hyper_parameters": {}}, folder / "full.ckpt")
    (folder / "truncated.ckpt").write_bytes((folder / "full.ckpt").read_bytes()[:300])
    torch.save({"net.fc.weight": torch.zeros(2, 2)}, folder / "state_dict.ckpt")
    (folder / "a_file").write_text("not a folder")
    (folder / "empty").mkdir()
    names = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")
    for sub, content in (("mnist_bad", lambda name: b"\x1f\x8b" + b"\x00" * 30), ("mnist_short", idx_bytes)):
        raw = folder / sub / "MNIST" / "raw"
        raw.mkdir(parents=True)
        for name in names:
            (raw / name).write_bytes(content(name)[:-5] if sub == "mnist_short" else content(name))
    shd = folder / "shd_bad" / "SHD"
    shd.mkdir(parents=True)
    for name in ("shd_train.h5.zip", "shd_test.h5.zip"):
        (shd / name).write_bytes(b"PK")
    for name in ("shd_train.h5", "shd_test.h5"):
        (shd / name).write_bytes(b"not an hdf5 file" * 10)
    make_corrupt_files(folder)
    make_run_folders(folder)
    make_flag_files(folder, Payload())
    untrained_checkpoint(folder / "psn.ckpt", ["snn.neuron.type=psn"])  # issue 26: a fixed-T PSN network


def make_corrupt_files(folder: Path) -> None:
    """The files of the issue 23 "files" cases: altered or poisoned checkpoints, NIR files, SHD data."""
    import os as os_module

    from brain_ai.config import NeuronConfig, SNNConfig
    from brain_ai.core.snn import build_snn
    from brain_ai.interop.nir import export, write_graph

    class System:
        def __reduce__(self):
            return (os_module.system, (f"touch {folder / 'PWNED'}",))

    torch.save({"state_dict": {"w": System()}, "hyper_parameters": {}}, folder / "os_system.ckpt")
    exportable = ["snn.neuron.reset=zero"]  # NIR-exact: export.py would run on these files
    flip_byte(untrained_checkpoint(folder / "flipped.ckpt", exportable))  # a valid checkpoint but for one weight bit
    ckpt = torch.load(untrained_checkpoint(folder / "nan_weight.ckpt", exportable), weights_only=True)
    ckpt["state_dict"]["net.linears.1.weight"][0, 1] = float("nan")
    torch.save(ckpt, folder / "nan_weight.ckpt")
    graph = export(
        build_snn(SNNConfig(input_size=4, hidden_sizes=[3], output_size=2, neuron=NeuronConfig(reset="zero")))
    )
    write_graph(graph, folder / "bare.nir")
    graph.nodes["layer1"].v_threshold[:] = float("nan")  # the second layer: not only the first is checked
    write_graph(graph, folder / "nan_threshold.nir")
    import h5py

    with h5py.File(folder / "not_nir.nir", "w") as f:  # HDF5, but not what nir.read expects
        f["weights"] = np.zeros(3)
    write_shd(folder / "shd_units" / "SHD", units_above=800)


def flip_byte(path: Path) -> None:
    """Flip one bit in the middle of the largest tensor of a torch zip checkpoint (stored, uncompressed)."""
    import zipfile

    with zipfile.ZipFile(path) as archive:
        info = max((i for i in archive.infolist() if "/data/" in i.filename), key=lambda i: i.file_size)
    data = bytearray(path.read_bytes())
    data[info.header_offset + 30 + len(info.filename.encode()) + len(info.extra) + info.file_size // 2] ^= 0x40
    path.write_bytes(bytes(data))


def write_shd(
    home: Path, n: int = 10, units_above: int = 0, times: Callable[[int], np.ndarray] = lambda i: np.arange(8) / 64
) -> None:
    """``<home>/shd_{train,test}.h5(.zip)``: n recordings of 8 events each per split (SHD's layout);
    ``units_above > 0`` puts one event of every recording on that (out-of-range) unit."""
    import h5py

    home.mkdir(parents=True)
    for split in ("train", "test"):
        with h5py.File(home / f"shd_{split}.h5", "w") as f:
            t = f.create_dataset("spikes/times", (n,), dtype=h5py.vlen_dtype(np.float16))
            u = f.create_dataset("spikes/units", (n,), dtype=h5py.vlen_dtype(np.uint16))
            for i in range(n):
                t[i] = times(i).astype(np.float16)
                u[i] = np.array([units_above or 5, *range(10, 80, 10)], np.uint16)
            f["labels"] = (np.arange(n) % 20).astype(np.uint8)
            f["extra/keys"] = np.array([f"d{i}".encode() for i in range(20)])
            f["extra/speaker"] = np.zeros(n, np.uint16)
        (home / f"shd_{split}.h5.zip").touch()


def make_run_folders(folder: Path) -> None:
    """Run folders with malformed or foreign lock files and earlier runs (issue 23, resume block)."""
    for name, lock in (
        ("lock_empty", ""),
        ("lock_garbage", "\x00garbage{"),
        ("lock_pid_text", '{"pid": "abc", "host": "x"}'),
        ("lock_other_host", '{"pid": 1, "host": "elsewhere.example"}'),
    ):
        (folder / name).mkdir()
        (folder / name / ".brain_ai.lock").write_text(lock)
    (folder / "earlier_run" / ".hydra").mkdir(parents=True)
    (folder / "earlier_run" / ".hydra" / "config.yaml").write_text("seed: 1\n")
    (folder / "earlier_ckpts").mkdir()
    (folder / "earlier_ckpts" / "last.ckpt").write_bytes(b"an earlier run's checkpoint")


def make_flag_files(folder: Path, payload: object) -> None:
    """Issue 23, flags: a brain_ai checkpoint of the default network (reset=subtract: NIR export
    is not exact) and a pickled Hydra config that would run ``payload`` (``--experimental-rerun``)."""
    import pickle

    from brain_ai.config import to_dict
    from brain_ai.core.snn import build_snn, with_io_sizes

    snn = with_io_sizes(SNNConfig(hidden_sizes=[4]), (64,), 10)
    state = {f"net.{k}": v for k, v in build_snn(snn).state_dict().items()}
    torch.save({"hyper_parameters": {"snn": to_dict(snn)}, "state_dict": state}, folder / "snn.ckpt")
    (folder / "config.pickle").write_bytes(pickle.dumps(payload))


def idx_bytes(name: str, n: int = 4) -> bytes:
    """A complete idx file: n images 28x28 (magic 0x0803) or n labels (0x0801)."""
    if "images" in name:
        return (0x0803).to_bytes(4, "big") + b"".join(v.to_bytes(4, "big") for v in (n, 28, 28)) + bytes(n * 28 * 28)
    return (0x0801).to_bytes(4, "big") + n.to_bytes(4, "big") + bytes(n)


def make_search_spaces(folder: Path) -> None:
    """Search spaces for sweep.py under ``folder/search``, and another space's study in ``folder/sweeps/other``."""
    import optuna

    spaces = {
        "unknown_key": "snn.neuron.bta: {type: float, low: 0.5, high: 0.9}",
        "beta_range": "snn.neuron.beta: {type: float, low: 0.5, high: 1.5}",
        "unknown_choice": "encoding: {type: categorical, choices: [rate_bernoulli, ttfss]}",
        "bad_type": "optim.lr: {type: uniform, low: 0.001, high: 0.01}",
        "other_space": "optim.lr: {type: float, low: 0.001, high: 0.01}",
        "dead": "snn.neuron.threshold: {type: categorical, choices: [1.0e+30]}",  # every trial stops: a silent network
    }
    (folder / "search").mkdir()
    for name, params in spaces.items():
        (folder / "search" / f"{name}.yaml").write_text(f"n_trials: 2\npruner: {{type: none}}\nparams:\n  {params}\n")
    (folder / "sweeps" / "other").mkdir(parents=True)
    journal = optuna.storages.journal.JournalFileBackend(str(folder / "sweeps/other/study.journal"))
    storage = optuna.storages.JournalStorage(journal)
    optuna.create_study(storage=storage, study_name="other_space").set_user_attr("search_space", OTHER_SPACE)


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("bad_files")
    make_files(folder)
    make_search_spaces(folder)
    return folder


@pytest.fixture(scope="module")
def cli_results(files, tmp_path_factory) -> Dict[str, subprocess.CompletedProcess]:
    """Every CLI case, each its own process, 4 at a time (forked from servers that import once:
    :mod:`script_server`): id -> completed process."""
    runs = tmp_path_factory.mktemp("bad_runs")
    env = {k: v for k, v in os.environ.items() if k != "HYDRA_FULL_ERROR"}
    commands = [
        (f"{c.script}.py", [*(a.replace("{files}", str(files)) for a in c.args), f"hydra.run.dir={runs / c.id}"])
        for c in CLI_CASES
    ]
    with ScriptRunner(workers=4, env=env) as runner:
        return dict(zip((c.id for c in CLI_CASES), runner.map(commands)))


@pytest.mark.parametrize("case", CLI_CASES, ids=[c.id for c in CLI_CASES])
def test_command_line(case, cli_results, files):
    proc = cli_results[case.id]
    output = proc.stdout + proc.stderr
    assert proc.returncode == case.status, output[-3000:]
    assert "Traceback" not in output, output[-3000:]
    assert "weights_only` set to `False`" not in output, output[-3000:]  # torch's hint to load unsafely is never shown
    for name in case.names:
        assert name in proc.stderr, (name, proc.stderr[-3000:])
    if case.status == 2:  # our own errors: exactly one message line
        assert sum(line.startswith("error: ") for line in proc.stderr.splitlines()) == 1, proc.stderr[-3000:]
    assert not (files / "PWNED").exists()


# ------------------------------------------------------------------------------------------------
# Python API
# ------------------------------------------------------------------------------------------------


def neurons():
    from brain_ai.core.neurons import (
        AdaptiveLIFNeuron,
        AdvancedLIFNeuron,
        LeakyIntegrator,
        LIFNeuron,
        RecurrentAdaptiveLIFNeuron,
        RecurrentLIFNeuron,
    )

    return {
        "lif": LIFNeuron,
        "adaptive_lif": AdaptiveLIFNeuron,
        "recurrent_lif": RecurrentLIFNeuron,
        "advanced_lif": AdvancedLIFNeuron,
        "recurrent_adaptive_lif": RecurrentAdaptiveLIFNeuron,
        "leaky_integrator": LeakyIntegrator,
    }


def neuron_step(name: str, value: float) -> Callable[[], object]:
    return lambda: neurons()[name](4)(torch.tensor([[0.5, value, 0.1, 0.2]]))


def neuron_sequence(name: str, shape: Tuple[int, ...], value: float = 0.5) -> Callable[[], object]:
    return lambda: neurons()[name](4).forward_sequence(torch.full(shape, value))


def encode(kind: str, x: torch.Tensor, **settings: object) -> Callable[[], object]:
    from brain_ai.core.encoding import build_encoder

    return lambda: build_encoder(EncodingConfig(type=kind, num_steps=4, **settings))(x)


def loss_with_labels(term: str, labels: List[int]) -> Callable[[], object]:
    def run():
        from brain_ai.config import DecodingConfig, LossConfig
        from brain_ai.core.decoding import build_decoder
        from brain_ai.core.losses import LossInputs, build_loss

        output = (torch.rand(len(labels), 5, 10) > 0.5).float()
        decoded = build_decoder(DecodingConfig(), 10)(output)
        loss = build_loss(LossConfig(task_loss=term, w_rate_reg=0.0, w_temporal=0.0, w_isi=0.0, w_membrane=0.0))
        return loss(
            LossInputs(
                output=output, decoded=decoded, targets=torch.tensor(labels), layer_spikes={}, layer_membranes={}
            )
        )

    return run


def idx_check(content: bytes, tmp: Path) -> Callable[[], object]:
    def run():
        from brain_ai.data.static import check_idx

        path = tmp / "train-images-idx3-ubyte"
        path.write_bytes(content)
        check_idx(path, 3)

    return run


def load_ckpt(content: bytes, tmp: Path) -> Callable[[], object]:
    def run():
        from brain_ai.training.checkpoints import load_checkpoint

        path = tmp / "bad.ckpt"
        path.write_bytes(content)
        load_checkpoint(path)

    return run


def load_checkpoint_file(path: Path) -> object:
    from brain_ai.training.checkpoints import load_checkpoint

    return load_checkpoint(path)


def nir_load(path: Path) -> object:
    from brain_ai.interop.nir import load

    return load(path)


def download_offline(name: str, tmp: Path, monkeypatch) -> Callable[[], object]:
    def refuse(*args, **kwargs):
        raise socket.gaierror(-3, "Temporary failure in name resolution")

    def run():
        from brain_ai.data import DATASETS

        monkeypatch.setattr(socket, "getaddrinfo", refuse)
        monkeypatch.setattr(socket, "create_connection", refuse)
        cfg = DataConfig(name=name, root=str(tmp / "data"), download=True)
        DATASETS[cfg.name].download(cfg)

    return run


def efficiency_of(layer: nn.Module) -> Callable[[], object]:
    """Count an MLP whose readout connection was replaced by ``layer``."""
    net = build_snn(SNNConfig(input_size=2, hidden_sizes=[3], output_size=2))
    net.linears[1] = layer
    return lambda: EfficiencyMeter(net)


def efficiency_without_details() -> object:
    net = build_snn(SNNConfig(input_size=2, hidden_sizes=[3], output_size=2))
    return EfficiencyMeter(net).update(net(torch.ones(1, 3, 2)))


def train_tiny(tmp: Path, *overrides: str) -> object:
    from framework_helpers import TINY, compose_config

    from brain_ai.app import pipeline

    return pipeline.train(compose_config([*TINY, *overrides], output_dir=tmp))


def unknown_key_through_pipeline() -> object:
    from framework_helpers import TINY, compose_config

    from brain_ai.app import pipeline

    return pipeline.build_model(compose_config([*TINY, "+snn.neuron.bta=0.5"]))


def corrupt_file(name: str, tmp: Path, call: Callable[[Path], object]) -> Callable[[], object]:
    """``call(<tmp>/<name>)`` on the files of :func:`make_corrupt_files` (written into ``tmp``)."""

    def run():
        make_corrupt_files(tmp)
        return call(tmp / name)

    return run


def export_checkpoint(path: Path) -> object:
    from brain_ai.interop.nir import export

    return export(path)


def online_ragged_batch() -> object:
    """A training step of an sltt model on a padded batch with its (B, T) mask."""
    from framework_helpers import compose_config

    from brain_ai.app import pipeline

    model, _ = pipeline.build_model(compose_config([*SMALL, "snn.learning_rule=sltt"]))
    return model.training_step((torch.rand(2, 8, 64), torch.tensor([0, 1]), torch.ones(2, 8, dtype=torch.bool)), 0)


def adex():
    from brain_ai.core.neurons import AdExNeuron

    return AdExNeuron


def compiled_sequence(dtype: torch.dtype) -> Callable[[], object]:
    """A recurrent adaptive LIF whose state has ``dtype`` (dtype_policy=input_dtype) run with backend=compiled."""
    cfg = NeuronConfig(type="recurrent_adaptive_lif", dtype_policy="input_dtype")
    return lambda: build_neuron(cfg, 4).to(dtype).forward_sequence(torch.rand(2, 3, 4, dtype=dtype), backend="compiled")


def adex_export() -> object:
    """NIR export of a small AdEx network (refused: NIR has no AdEx)."""
    from brain_ai.core.snn import build_snn
    from brain_ai.interop.nir import export

    return export(build_snn(SNNConfig(input_size=3, hidden_sizes=[4], output_size=2, neuron=NeuronConfig(type="adex"))))


def psn():
    from brain_ai.core.neurons import psn as module

    return module


def psn_net() -> nn.Module:
    """A small MLP of psn layers, T = 4."""
    return build_snn(
        SNNConfig(input_size=3, hidden_sizes=[4], output_size=2, neuron=NeuronConfig(type="psn", psn_steps=4))
    )


def psn_continued() -> object:
    neuron = psn().MaskedPSN(3, psn_steps=4, psn_order=2)
    return neuron.forward_sequence(torch.rand(2, 4, 3), neuron.reset_state(2))


def psn_export() -> object:
    from brain_ai.interop.nir import export

    return export(psn_net())


def psn_streamed() -> object:
    from brain_ai.core.snn import run_streaming

    return run_streaming(psn_net(), torch.rand(2, 4, 3), 2)


def nan_graph(node: str, field: str) -> Callable[[], object]:
    """``load`` of an exported graph with one NaN in ``node.field``."""

    def run():
        from brain_ai.config import NeuronConfig, SNNConfig
        from brain_ai.core.snn import build_snn
        from brain_ai.interop.nir import export, load

        graph = export(
            build_snn(SNNConfig(input_size=4, hidden_sizes=[3], output_size=2, neuron=NeuronConfig(reset="zero")))
        )
        getattr(graph.nodes[node], field).flat[0] = float("nan")
        return load(graph)

    return run


def events(t, x, sensor=(700, 1, 1), y=None) -> Callable[[], object]:
    """:func:`brain_ai.data.events.checked_events` of one recording (t in µs)."""

    def run():
        from brain_ai.data.events import checked_events

        fields = [("t", np.asarray(t).dtype), ("x", "<i8")] + ([("y", "<i8")] if y is not None else []) + [("p", "<i8")]
        rec = np.zeros(len(t), np.dtype(fields))
        rec["t"], rec["x"], rec["p"] = t, x, 0
        if y is not None:
            rec["y"] = y
        return checked_events(rec, sensor, "rec.h5 sample 3")

    return run


def shd_test_sample(tmp: Path, times: Callable[[int], np.ndarray]) -> Callable[[], object]:
    """The first test sample of an SHD file whose recordings have the given times (seconds)."""

    def run():
        from brain_ai.data import build_datamodule

        write_shd(tmp / "SHD", times=times)
        dm = build_datamodule(DataConfig(name="shd", root=str(tmp), n_time_bins=4))
        dm.setup()
        return dm.test_set[0]

    return run


def export_onto_input(tmp: Path, how: str) -> Callable[[], object]:
    """``export_file`` asked to write over its own checkpoint (the same path, or a link to it)."""

    def run():
        from brain_ai.interop.nir import export_file

        ckpt = tmp / "model.ckpt"
        ckpt.write_bytes(b"an irreplaceable checkpoint")
        output = ckpt
        if how == "symlink":
            output = tmp / "link.nir"
            output.symlink_to(ckpt)
        try:
            export_file(ckpt, output)
        finally:
            assert ckpt.read_bytes() == b"an irreplaceable checkpoint"

    return run


#: an 8-bit image row, 0-255 (not scaled to [0, 1])
PIXELS = torch.tensor([[0.0, 128.0, 255.0]])


def interrupted_task() -> None:
    """A Ctrl-C outside training, through the entry points' error policy (exit 130, no traceback)."""
    from brain_ai.app.cli import report_errors

    def task() -> None:
        raise KeyboardInterrupt

    report_errors(task)


def recurrent_triton(monkeypatch, n: int, **kw) -> Callable[[], object]:  # noqa: ANN003
    """A ``fused_recurrent_sequence`` call of N neurons with ``backend="triton"`` (or ``kw``'s), the kernels
    taken to be runnable here (as on CUDA), so that the recurrent kernel's own limits are what refuses it."""
    from brain_ai.core.fused_recurrent import fused_recurrent_sequence
    from brain_ai.core.surrogates import get_surrogate

    monkeypatch.setattr("brain_ai.core.backend.triton_unsupported", lambda device, surrogate: None)
    kw = {"backend": "triton", **kw}
    return lambda: fused_recurrent_sequence(
        torch.rand(2, 3, n),
        None,
        None,
        None,
        torch.zeros(n, n),
        0.9,
        0.9,
        1.0,
        0.5,
        "subtract",
        get_surrogate("atan"),
        **kw,
    )


def tiny_module(**kwargs: Any) -> Any:
    """A small SNNLitModule (digits sizes, no data) built with ``kwargs`` (issue 24's API cases)."""
    from brain_ai.config import DecodingConfig, LossConfig, OptimConfig, to_dict
    from brain_ai.training.module import SNNLitModule

    snn = SNNConfig(hidden_sizes=[4], input_size=64, output_size=10)
    return SNNLitModule(
        snn=to_dict(snn),
        encoding=to_dict(EncodingConfig()),
        decoding=to_dict(DecodingConfig()),
        loss=to_dict(LossConfig()),
        optim=to_dict(OptimConfig()),
        num_outputs=10,
        **kwargs,
    )


@dataclass(frozen=True)
class Api:
    id: str
    make: Callable  # (tmp_path, monkeypatch) -> zero-argument callable
    error: Type[BaseException]
    names: Tuple[str, ...]


def segmenting_whole_layer_term(**snn: object) -> Callable[[], object]:
    """``check_segmentable`` of a loss with a term (added in code, no summary) that reads whole layer spikes."""
    from brain_ai.core.losses import LossTerm, ProbSpikes, SNNLossComposer
    from brain_ai.training.module import check_segmentable

    class WholeSpikes(LossTerm):
        name = "whole_spikes"
        needs_layer_spikes = True

        def forward(self, inputs):  # noqa: ANN001
            return torch.stack([s.float().mean() for s in inputs.layer_spikes.values()]).mean(), {}

    composer = SNNLossComposer([(ProbSpikes(), 1.0), (WholeSpikes(), 0.1)])
    return lambda: check_segmentable(composer, SNNConfig(**snn))


API_CASES: List[Api] = [
    *[
        Api(
            f"{n}_nan_step",
            lambda t, m, n=n: neuron_step(n, float("nan")),
            ValueError,
            (n.split("_")[0].upper()[:1], "NaN or Inf"),
        )
        for n in ("lif", "adaptive_lif", "recurrent_lif", "advanced_lif", "recurrent_adaptive_lif", "leaky_integrator")
    ],
    *[
        Api(
            f"{n}_inf_sequence",
            lambda t, m, n=n: neuron_sequence(n, (2, 3, 4), float("inf")),
            ValueError,
            ("NaN or Inf",),
        )
        for n in ("lif", "adaptive_lif", "recurrent_lif", "advanced_lif", "recurrent_adaptive_lif", "leaky_integrator")
    ],
    *[
        Api(
            f"{n}_zero_steps",
            lambda t, m, n=n: neuron_sequence(n, (2, 0, 4)),
            ValueError,
            ("forward_sequence", "T>=1", "(2, 0, 4)"),
        )
        for n in ("lif", "adaptive_lif", "recurrent_lif", "advanced_lif", "recurrent_adaptive_lif", "leaky_integrator")
    ],
    *[
        Api(
            f"{e}_encoder_nan",
            lambda t, m, e=e: encode(e, torch.tensor([[0.2, float("nan")]])),
            ValueError,
            (f"{e} encoder", "NaN or Inf"),
        )
        for e in ("rate_bernoulli", "rate_poisson", "rate_deterministic", "latency", "ttfs", "population")
    ],
    Api(
        "delta_encoder_inf",
        lambda t, m: encode("delta", torch.full((1, 3, 2), float("inf"))),
        ValueError,
        ("delta encoder", "NaN or Inf"),
    ),
    Api(
        "identity_encoder_non_spikes",
        lambda t, m: encode("identity", torch.tensor([[[0.0, 6.98]]])),
        ValueError,
        ("identity encoder", "6.98", "non-negative integers"),
    ),
    Api(
        "identity_encoder_negative",
        lambda t, m: encode("identity", torch.tensor([[[0.0, -1.0]]])),
        ValueError,
        ("identity encoder", "-1.0"),
    ),
    Api(
        "probspikes_label_too_large",
        lambda t, m: loss_with_labels("probspikes", [0, 10]),
        ValueError,
        ("probspikes", "[0, 10)", "to 10"),
    ),
    Api(
        "first_spike_label_too_large",
        lambda t, m: loss_with_labels("first_spike", [3, 12]),
        ValueError,
        ("first_spike", "[0, 10)"),
    ),
    Api(
        "cross_entropy_label_negative",
        lambda t, m: loss_with_labels("cross_entropy", [-1, 2]),
        ValueError,
        ("cross_entropy: targets", "[0, 10)", "from -1"),
    ),
    Api(
        "neuron_config_beta",
        lambda t, m: lambda: NeuronConfig(beta=1.2),
        ConfigError,
        ("neuron.beta=1.2", "[0.0, 0.999]"),
    ),
    Api(
        "neuron_config_surrogate",
        lambda t, m: lambda: NeuronConfig(surrogate="atann"),
        ConfigError,
        ("neuron.surrogate='atann'", "atan"),
    ),
    Api("snn_config_hidden_zero", lambda t, m: lambda: SNNConfig(hidden_sizes=[0]), ConfigError, ("snn.hidden_sizes",)),
    Api(
        "encoding_config_type", lambda t, m: lambda: EncodingConfig(type="nope"), ConfigError, ("encoding.type='nope'",)
    ),
    Api(
        "smnist_mode_unknown",
        lambda t, m: lambda: DataConfig(name="smnist", mode="column"),
        ConfigError,
        ("data.mode='column'", "row, pixel"),
    ),
    Api(
        "smnist_pixels_per_step_not_divisor",
        lambda t, m: lambda: DataConfig(name="smnist", mode="pixel", pixels_per_step=3),
        ConfigError,
        ("data.pixels_per_step=3", "784", "392, 784"),
    ),
    Api(
        "smnist_pixels_per_step_in_row_mode",
        lambda t, m: lambda: DataConfig(name="smnist", mode="row", pixels_per_step=4),
        ConfigError,
        ("data.pixels_per_step=4", "data.mode=pixel"),
    ),
    Api(
        "smnist_source_not_28x28",
        lambda t, m: lambda: DataConfig(name="smnist", source="digits"),
        ConfigError,
        ("data.source=digits", "mnist5k, mnist, fashion_mnist"),
    ),
    Api(
        "lstm_without_layers",
        lambda t, m: lambda: SNNConfig(architecture="lstm", hidden_sizes=[], readout="membrane"),
        ConfigError,
        ("snn.hidden_sizes=[]", "snn.architecture=lstm"),
    ),
    Api(
        "gru_with_checkpointing",
        lambda t, m: lambda: SNNConfig(architecture="gru", readout="membrane", checkpoint_every=4),
        ConfigError,
        ("snn.checkpoint_every=4", "snn.architecture=gru", "allowed: null"),
    ),
    Api(
        "data_config_val_fraction",
        lambda t, m: lambda: DataConfig(val_fraction=1.0),
        ConfigError,
        ("data.val_fraction",),
    ),
    Api(
        "from_dict_unknown_field",
        lambda t, m: lambda: from_dict(NeuronConfig, {"bta": 0.5}),
        ConfigError,
        ("bta", "beta"),
    ),
    Api(
        "unknown_key_in_composed_config",
        lambda t, m: unknown_key_through_pipeline,
        ConfigError,
        ("snn.neuron.bta", "snn.neuron.beta"),
    ),
    Api(
        "idx_gzip_not_uncompressed",
        lambda t, m: idx_check(b"\x1f\x8b" + bytes(40), t),
        InputFileError,
        ("train-images-idx3-ubyte", "gzip"),
    ),
    Api(
        "idx_wrong_magic",
        lambda t, m: idx_check(idx_bytes("train-labels-idx1-ubyte"), t),
        InputFileError,
        ("train-images-idx3-ubyte", "magic 2049"),
    ),
    Api(
        "idx_truncated",
        lambda t, m: idx_check(idx_bytes("train-images-idx3-ubyte")[:-1], t),
        InputFileError,
        ("train-images-idx3-ubyte", "truncated"),
    ),
    Api("idx_empty", lambda t, m: idx_check(b"", t), InputFileError, ("train-images-idx3-ubyte", "empty file")),
    Api(
        "ckpt_empty_file",
        lambda t, m: load_ckpt(b"", t),
        InputFileError,
        ("bad.ckpt", "not a readable PyTorch checkpoint"),
    ),
    Api("ckpt_json_file", lambda t, m: load_ckpt(json.dumps({"a": 1}).encode(), t), InputFileError, ("bad.ckpt",)),
    Api(
        "mnist_download_offline",
        lambda t, m: download_offline("mnist", t, m),
        InputFileError,
        ("data.download=true", "by hand", "train-images-idx3-ubyte", "data.download=false"),
    ),
    Api(
        "shd_download_offline",
        lambda t, m: download_offline("shd", t, m),
        InputFileError,
        ("data.download=true", "by hand", "shd_train.h5"),
    ),
    # --- issue 23, files: corrupt or poisoned checkpoints, NIR files and event data ---
    Api(
        "ckpt_flipped_byte_load",
        lambda t, m: corrupt_file("flipped.ckpt", t, load_checkpoint_file),
        InputFileError,
        ("flipped.ckpt", "member 'flipped/data/", "CRC-32"),
    ),
    Api(
        "ckpt_flipped_byte_export",
        lambda t, m: corrupt_file("flipped.ckpt", t, export_checkpoint),
        InputFileError,
        ("flipped.ckpt", "CRC-32"),
    ),
    Api(
        "ckpt_nan_weight_export",
        lambda t, m: corrupt_file("nan_weight.ckpt", t, export_checkpoint),
        InputFileError,
        ("nan_weight.ckpt", "non-finite", "net.linears.1.weight"),
    ),
    Api(
        "ckpt_os_system_export",
        lambda t, m: corrupt_file("os_system.ckpt", t, export_checkpoint),
        InputFileError,
        ("os_system.ckpt", "GLOBAL posix.system"),
    ),
    Api(
        "nir_nan_weight_graph",
        lambda t, m: nan_graph("fc1", "weight"),
        InputFileError,
        ("load: the graph", "fc1.weight"),
    ),
    Api("nir_nan_bias_graph", lambda t, m: nan_graph("fc0", "bias"), InputFileError, ("fc0.bias",)),
    Api(
        "nir_nan_threshold_file",
        lambda t, m: corrupt_file("nan_threshold.nir", t, nir_load),
        InputFileError,
        ("nan_threshold.nir", "layer1.v_threshold"),
    ),
    Api(
        "nir_fails_nir_read_load",
        lambda t, m: corrupt_file("not_nir.nir", t, nir_load),
        InputFileError,
        ("not_nir.nir", "nir.read failed"),
    ),
    Api(
        "events_empty_recording",
        lambda t, m: events(np.zeros(0, np.int64), []),
        InputFileError,
        ("rec.h5 sample 3", "no events"),
    ),
    Api(
        "events_nan_time",
        lambda t, m: events(np.array([0.0, np.nan, 5.0]), [1, 2, 3]),
        InputFileError,
        ("rec.h5 sample 3", "NaN or infinite"),
    ),
    Api(
        "events_negative_time",
        lambda t, m: events(np.array([-7, 0, 5]), [1, 2, 3]),
        InputFileError,
        ("rec.h5 sample 3", "-7", ">= 0"),
    ),
    Api(
        "events_unit_out_of_range",
        lambda t, m: events(np.array([0, 1, 5]), [1, 700, 3]),
        InputFileError,
        ("rec.h5 sample 3", "event x index 700", "[0, 699]"),
    ),
    Api(
        "events_pixel_y_out_of_range",
        lambda t, m: events(np.array([0, 1]), [1, 2], sensor=(34, 34, 2), y=[3, 40]),
        InputFileError,
        ("event y index 40", "[0, 33]"),
    ),
    Api(
        "shd_file_nan_time",
        lambda t, m: shd_test_sample(t, lambda i: np.array([0, 1, np.nan, 3, 4, 5, 6, 7]) / 64),
        InputFileError,
        ("shd_test.h5 sample 0", "times >= 0"),
    ),
    # --- issue 27, efficiency: unknown layers, forwards without details, energy constants ---
    Api(
        "efficiency_unknown_layer",
        lambda t, m: efficiency_of(nn.Bilinear(3, 3, 2)),
        EfficiencyError,
        ("'linears.1'", "torch.nn.modules.linear.Bilinear"),
    ),
    Api(
        "efficiency_without_details",
        lambda t, m: efficiency_without_details,
        EfficiencyError,
        ("recorded no inputs", "return_details=True"),
    ),
    Api(
        "efficiency_energy_inf",
        lambda t, m: lambda: EfficiencyConfig(e_ac_pj=float("inf")),
        ConfigError,
        ("efficiency.e_ac_pj=inf", "finite"),
    ),
    # --- issue 23, resume and run folders ---
    Api(
        "export_output_is_the_ckpt",
        lambda t, m: export_onto_input(t, "same"),
        InputFileError,
        ("output=", "is the input file ckpt_path="),
    ),
    Api(
        "export_output_is_a_symlink_to_the_ckpt",
        lambda t, m: export_onto_input(t, "symlink"),
        InputFileError,
        ("link.nir", "is the input file"),
    ),
    # --- issue 29, core: state keywords, rest / reset potentials ---
    Api(
        "dtype_policy_unknown",
        lambda t, m: lambda: NeuronConfig(dtype_policy="fp16"),
        ConfigError,
        ("neuron.dtype_policy='fp16'", "fp32_state", "input_dtype"),
    ),
    Api(
        "v_rest_nan",
        lambda t, m: lambda: NeuronConfig(v_rest=float("nan")),
        ConfigError,
        ("neuron.v_rest=nan", "finite"),
    ),
    Api(
        "carry_state_not_bool",
        lambda t, m: lambda: neurons()["lif"](4).forward_sequence(torch.ones(2, 3, 4), carry_state="yes"),
        TypeError,
        ("LIFNeuron.forward_sequence", "carry_state='yes'", "True, False or None"),
    ),
    Api(
        "lif_module_v_reset_above_threshold",
        lambda t, m: lambda: neurons()["lif"](4, threshold=0.5, reset="zero", v_reset=0.7),
        ValueError,
        ("LIFNeuron: neuron.v_reset=0.7", "threshold=0.5"),
    ),
    # --- issue 29, compact spikes ---
    Api(
        "spike_dtype_learned_centers",
        lambda t, m: lambda: EncodingConfig(type="population", centers="learned", spike_dtype="bool"),
        ConfigError,
        ("encoding.spike_dtype=bool", "centers=learned", "allowed: spike_dtype=float"),
    ),
    Api(
        "compact_spikes_input_requires_grad",
        lambda t, m: lambda: build_encoder(EncodingConfig(spike_dtype="uint8"))(torch.rand(2, 3, requires_grad=True)),
        ValueError,
        ("encoding.spike_dtype=uint8", "x.requires_grad=True", "spike_dtype=float"),
    ),
    Api(
        "bool_identity_event_counts",
        lambda t, m: (
            lambda: build_encoder(EncodingConfig(type="identity", spike_dtype="bool"))(torch.full((1, 2, 3), 2.0))
        ),
        ValueError,
        ("encoding.spike_dtype=bool", "up to 1", "up to 2"),
    ),
    Api(
        "uint8_identity_event_counts_over_255",
        lambda t, m: (
            lambda: build_encoder(EncodingConfig(type="identity", spike_dtype="uint8"))(torch.full((1, 2, 3), 300.0))
        ),
        ValueError,
        ("encoding.spike_dtype=uint8", "up to 255", "up to 300"),
    ),
    # --- issue 23, encoders (input outside the range of encoding.normalization) and interrupts ---
    *[
        Api(
            f"{kind}_{mode}_pixels_0_255",
            lambda t, m, kind=kind, mode=mode: encode(kind, PIXELS, normalization=mode),
            ValueError,
            (
                f"{kind} encoder",
                "[0, 255]",
                accepted,
                f"encoding.normalization={mode}",
                "encoding.normalization=minmax",
            ),
        )
        for kind, mode, accepted in (
            ("rate_bernoulli", "clamp", "[-1, 2]"),
            ("rate_poisson", "sigmoid", "[-10, 10]"),
            ("latency", "clamp", "[-1, 2]"),
            ("population", "sigmoid", "[-10, 10]"),
            ("direct", "clamp", "[-1, 2]"),
            ("ttfs", "none", "[0, 1]"),
        )
    ],
    Api(
        "delta_clamp_pixels_0_255",
        lambda t, m: encode("delta", PIXELS.view(1, 3, 1), normalization="clamp"),
        ValueError,
        ("delta encoder", "[0, 255]", "[-1, 2]"),
    ),
    Api("interrupt_outside_training", lambda t, m: interrupted_task, SystemExit, ("130",)),
    # --- issue 23, flags ---
    Api(
        "train_settings_quoted_false",
        lambda t, m: lambda: TrainSettings(allow_remote_ckpt="false"),
        ConfigError,
        ("allow_remote_ckpt='false'", "allowed: true, false"),
    ),
    Api(
        "export_settings_approximate_text",
        lambda t, m: lambda: ExportSettings(approximate="maybe"),
        ConfigError,
        ("approximate='maybe'", "allowed: true, false"),
    ),
    Api(
        "evaluate_settings_stream_window_zero",
        lambda t, m: lambda: EvaluateSettings(stream_window=0),
        ConfigError,
        ("stream_window=0", "[1, inf)"),
    ),
    Api(
        "train_settings_optimized_mode",
        lambda t, m: lambda: TrainSettings(optimized_mode="up"),
        ConfigError,
        ("optimized_mode='up'", "max, min"),
    ),
    Api(
        "optimized_metric_never_logged_api",
        lambda t, m: lambda: train_tiny(t, "optimized_metric=val/nope"),
        ConfigError,
        ("optimized_metric='val/nope'", "val/acc"),
    ),
    Api(
        "max_epochs_text_api",
        lambda t, m: lambda: train_tiny(t, "trainer.max_epochs=abc"),
        ConfigError,
        ("trainer.max_epochs='abc'",),
    ),
    # --- issue 29, neurons: readout time constant and AdEx ---
    Api(
        "readout_tau_negative",
        lambda t, m: lambda: SNNConfig(readout="membrane", readout_tau=-1.0),
        ConfigError,
        ("snn.readout_tau=-1.0", "(0.0, "),
    ),
    Api(
        "readout_tau_nan",
        lambda t, m: lambda: SNNConfig(readout="membrane", readout_tau=float("nan")),
        ConfigError,
        ("snn.readout_tau=nan", "finite"),
    ),
    Api(
        "readout_tau_lstm",
        lambda t, m: lambda: SNNConfig(architecture="lstm", readout="membrane", readout_tau=5.0),
        ConfigError,
        ("snn.readout_tau=5.0", "snn.architecture=lstm", "allowed: null"),
    ),
    Api(
        "adex_delta_t_zero",
        lambda t, m: lambda: NeuronConfig(type="adex", adex_delta_t=0.0),
        ConfigError,
        ("neuron.adex_delta_t=0.0", "(0.0, inf)"),
    ),
    Api(
        "adex_delta_t_overflows",
        lambda t, m: lambda: NeuronConfig(type="adex", adex_delta_t=0.001),
        ConfigError,
        ("neuron.adex_delta_t=0.001", "overflows", "adex_delta_t >= 0.01"),
    ),
    Api(
        "adex_a_negative",
        lambda t, m: lambda: NeuronConfig(type="adex", adex_a=-0.1),
        ConfigError,
        ("neuron.adex_a=-0.1", "[0.0, inf)"),
    ),
    Api(
        "adex_b_negative",
        lambda t, m: lambda: NeuronConfig(type="adex", adex_b=-1.0),
        ConfigError,
        ("neuron.adex_b=-1.0", "[0.0, inf)"),
    ),
    Api(
        "adex_tau_w_too_long",
        lambda t, m: lambda: NeuronConfig(type="adex", adex_tau_w=2000.0),
        ConfigError,
        ("neuron.adex_tau_w=2000.0", "(0.0, 999."),
    ),
    Api(
        "adex_rheobase_below_rest",
        lambda t, m: lambda: NeuronConfig(type="adex", v_rest=0.5, adex_v_rheobase=0.3),
        ConfigError,
        ("neuron.adex_v_rheobase=0.3", "(0.5, 1.0)"),
    ),
    Api(
        "adex_module_rheobase",
        lambda t, m: lambda: adex()(4, adex_v_rheobase=1.2),
        ConfigError,
        ("AdExNeuron: neuron.adex_v_rheobase=1.2", "(0.0, 1.0)"),
    ),
    Api(
        "adex_nan_step",
        lambda t, m: lambda: adex()(4)(torch.tensor([[0.5, float("nan"), 0.1, 0.2]])),
        ValueError,
        ("AdExNeuron", "NaN or Inf"),
    ),
    Api(
        "adex_fused_backend",
        lambda t, m: lambda: adex()(4).forward_sequence(torch.rand(2, 3, 4), backend="fused"),
        ConfigError,
        ("backend='fused'", "AdExNeuron has no fused kernel", "exponential spike initiation", "backend=auto or eager"),
    ),
    Api(
        "adex_triton_backend",
        lambda t, m: lambda: adex()(4).forward_sequence(torch.rand(2, 3, 4), backend="triton"),
        ConfigError,
        ("backend='triton'", "AdExNeuron has no fused kernel"),
    ),
    Api(
        "adex_nir_export",
        lambda t, m: adex_export,
        ValueError,
        ("layer0", "NIR has no adaptive exponential integrate-and-fire node"),
    ),
    # --- issue 26, recurrent Triton kernel: what it cannot run, named (as if on CUDA) ---
    Api(
        "recurrent_triton_too_wide",
        lambda t, m: recurrent_triton(m, 600),
        ConfigError,
        ("fused_recurrent_sequence", "backend='triton'", "N=600", "at most 512", "backend=auto, fused or eager"),
    ),
    Api(
        "recurrent_triton_fp16_state",
        lambda t, m: recurrent_triton(m, 8, state_dtype=torch.float16),
        ConfigError,
        ("backend='triton'", "state dtype is float16", "float32, float64"),
    ),
    Api(
        "recurrent_fused_function_eager",
        lambda t, m: recurrent_triton(m, 8, backend="eager"),
        ConfigError,
        ("fused_recurrent_sequence", "backend='eager' is not a fused path", "auto, fused, triton"),
    ),
    # --- issue 26, psn: the parallel spiking neuron modules ---
    Api(
        "psn_input_not_T",
        lambda t, m: lambda: psn().PSN(4, psn_steps=6).forward_sequence(torch.rand(2, 5, 4)),
        ValueError,
        ("PSN", "the input has 5 steps", "T=6", "sliding_psn"),
    ),
    Api(
        "psn_state_continuation",
        lambda t, m: lambda: psn_continued(),
        ValueError,
        ("MaskedPSN(T=4)", "cannot continue a sequence"),
    ),
    Api(
        "masked_psn_order_above_T",
        lambda t, m: lambda: psn().MaskedPSN(4, psn_steps=3, psn_order=4),
        ConfigError,
        ("MaskedPSN", "neuron.psn_order=4", "[1, 3]"),
    ),
    Api(
        "sliding_psn_order_zero",
        lambda t, m: lambda: psn().SlidingPSN(4, psn_order=0),
        ConfigError,
        ("SlidingPSN", "neuron.psn_order=0", "[1, inf)"),
    ),
    Api(
        "psn_nan_sequence",
        lambda t, m: lambda: psn().SlidingPSN(3, psn_order=2).forward_sequence(torch.full((1, 2, 3), float("nan"))),
        ValueError,
        ("SlidingPSN", "NaN or Inf"),
    ),
    Api(
        "psn_triton_backend",
        lambda t, m: lambda: psn().PSN(3, psn_steps=2).forward_sequence(torch.rand(1, 2, 3), backend="triton"),
        ConfigError,
        ("backend=triton", "allowed: auto, eager"),
    ),
    Api(
        "psn_without_steps",
        lambda t, m: lambda: build_snn(SNNConfig(input_size=3, output_size=2, neuron=NeuronConfig(type="psn"))),
        ConfigError,
        ("neuron.psn_steps is None", "neuron.type=psn"),
    ),
    Api(
        "psn_nir_export_api",
        lambda t, m: lambda: psn_export(),
        ValueError,
        ("layer0", "parallel spiking neurons", "cannot be exported"),
    ),
    Api(
        "psn_streaming_below_T",
        lambda t, m: lambda: psn_streamed(),
        ValueError,
        ("the input has 2 steps", "stream windows"),
    ),
    # --- issue 24, setup: encoding.sequence_input removed (value sequences come from the data set) ---
    Api(
        "sequence_input_removed_from_dict",
        lambda t, m: lambda: from_dict(EncodingConfig, {"type": "rate_bernoulli", "sequence_input": True}),
        ConfigError,
        ("EncodingConfig.sequence_input was removed", "data=smnist"),
    ),
    Api(
        "check_finite_every_zero",
        lambda t, m: lambda: tiny_module(check_finite_every_n_steps=0),
        ConfigError,
        ("SNNLitModule.check_finite_every_n_steps=0", "[1, inf)"),
    ),
    # --- issue 24, neuron parameters: one parameter object per neuron, one backend decision per layer ---
    Api(
        "neuron_unknown_parameter",
        lambda t, m: lambda: neurons()["lif"](4, bta=0.9),
        TypeError,
        ("LIFNeuron", "'bta'", "fields of NeuronConfig", "beta"),
    ),
    Api(
        "neuron_params_not_a_config",
        lambda t, m: lambda: neurons()["lif"](4, {"beta": 0.9}),
        TypeError,
        ("LIFNeuron", "params must be a NeuronConfig", "dict"),
    ),
    Api(
        "neuron_uniform_tau_lower_bound",
        lambda t, m: lambda: NeuronConfig(type="advanced_lif", tau_distribution="uniform", tau_std=10.0),
        ConfigError,
        ("neuron.tau_std=10.0", "tau_mean - sqrt(3)*tau_std", "must be > 0"),
    ),
    Api(
        "network_fused_backend_with_synaptic",
        lambda t, m: (
            lambda: build_snn(
                SNNConfig(
                    input_size=3, hidden_sizes=[4], output_size=2, neuron=NeuronConfig(synaptic=True, backend="fused")
                )
            )
        ),
        ConfigError,
        ("backend='fused'", "LIFNeuron has a synaptic current", "backend=auto or eager"),
    ),
    # --- issue 25, memory: checkpoint_every with a loss term that cannot be segmented ---
    Api(
        "checkpoint_every_whole_layer_term",
        lambda t, m: segmenting_whole_layer_term(checkpoint_every=8),
        ConfigError,
        (
            "snn.checkpoint_every=8",
            "['whole_spikes']",
            "rate_reg, temporal, isi, membrane",
            "snn.checkpoint_every=null",
        ),
    ),
    Api(
        "memory_budget_whole_layer_term",
        lambda t, m: segmenting_whole_layer_term(memory_budget_mb=64.0),
        ConfigError,
        ("snn.memory_budget_mb=64.0", "['whole_spikes']", "snn.memory_budget_mb=null"),
    ),
    # --- issue 26, compiled recurrent loop (backend=compiled) ---
    Api(
        "compiled_backend_bf16_state",
        lambda t, m: compiled_sequence(torch.bfloat16),
        ConfigError,
        ("backend='compiled'", "the state dtype is bfloat16", "allowed: float32, float64"),
    ),
    Api(
        "compiled_backend_fp16_state",
        lambda t, m: compiled_sequence(torch.float16),
        ConfigError,
        ("backend='compiled'", "the state dtype is float16", "allowed: float32, float64"),
    ),
    Api(
        "compiled_backend_lif_layer",
        lambda t, m: lambda: build_neuron(NeuronConfig(), 4).forward_sequence(torch.rand(2, 3, 4), backend="compiled"),
        ConfigError,
        ("backend='compiled'", "LIFNeuron has no compiled kernel", "its backends: eager, fused, triton"),
    ),
    Api(
        "compiled_backend_config_type",
        lambda t, m: lambda: NeuronConfig(type="adaptive_lif", backend="compiled"),
        ConfigError,
        ("neuron.backend=compiled", "neuron.type=recurrent_adaptive_lif", "got neuron.type=adaptive_lif"),
    ),
    # --- issue 25, online learning rules (ottt / sltt) ---
    Api(
        "learning_rule_gru_config",
        lambda t, m: lambda: SNNConfig(architecture="gru", readout="membrane", learning_rule="sltt"),
        ConfigError,
        ("snn.learning_rule=sltt", "snn.architecture=gru", "snn.learning_rule=bptt"),
    ),
    Api(
        "sltt_steps_above_T_api",
        lambda t, m: (
            lambda: check_step_forms(SNNConfig(learning_rule="sltt", sltt_steps=30), DecodingConfig(), LossConfig(), 25)
        ),
        ConfigError,
        ("snn.sltt_steps=30", "T=25"),
    ),
    Api(
        "learning_rule_population_regression",
        lambda t, m: (
            lambda: check_step_forms(
                SNNConfig(learning_rule="ottt"),
                DecodingConfig(type="population", population_mode="regression"),
                LossConfig(task_loss="mse"),
                10,
            )
        ),
        ConfigError,
        ("snn.learning_rule=ottt", "decoding=population", "population_mode=regression", "no per-step form"),
    ),
    Api(
        "learning_rule_first_spike_loss",
        lambda t, m: (
            lambda: check_step_forms(
                SNNConfig(learning_rule="sltt"), DecodingConfig(), LossConfig(task_loss="first_spike"), 10
            )
        ),
        ConfigError,
        ("snn.learning_rule=sltt", "loss.task_loss=first_spike", "no per-step form", "probspikes, cross_entropy"),
    ),
    Api(
        "learning_rule_ragged_batch",
        lambda t, m: online_ragged_batch,
        ValueError,
        ("snn.learning_rule=sltt", "ragged", "(B, T) mask"),
    ),
]


@pytest.mark.parametrize("case", API_CASES, ids=[c.id for c in API_CASES])
def test_python_api(case, tmp_path, monkeypatch):
    call = case.make(tmp_path, monkeypatch)
    with pytest.raises(case.error) as err:
        call()
    for name in case.names:
        assert name in str(err.value), (name, str(err.value))


def test_table_size():
    """The issue asks for at least 60 cases; README "Reliability" quotes these totals."""
    assert len(CLI_CASES) + len(API_CASES) >= 60


def test_sweep_failures_are_kept_in_the_study(cli_results, files):
    """issue 28: the failed trials of sweep_every_trial_fails_study_goes_on carry their message in the study;
    a search space refused before the first trial left no trial and no study behind."""
    import optuna

    assert cli_results["sweep_every_trial_fails_study_goes_on"].returncode == 1
    journal = optuna.storages.journal.JournalFileBackend(str(files / "sweeps/dead/study.journal"))
    storage = optuna.storages.JournalStorage(journal)
    trials = optuna.load_study(study_name="dead", storage=storage).trials
    assert [t.state for t in trials] == [optuna.trial.TrialState.FAIL] * 2
    assert all(t.user_attrs["error"].startswith("training stopped: ") for t in trials), [t.user_attrs for t in trials]
    for case in ("unknown_key", "beta_range", "choice", "bad_type"):
        assert not (files / "sweeps" / case).exists(), case
