"""HParams columns and the Custom Scalars layout (brain_ai.training.dashboards), without TensorBoard."""

from __future__ import annotations

import dataclasses
from types import SimpleNamespace

import pytest

from brain_ai.config import Readout, SNNConfig
from brain_ai.core.probes import HEALTHY_RANGES, HealthyRange
from brain_ai.core.snn import build_snn
from brain_ai.training.dashboards import (
    HPARAM_EFFICIENCY,
    command_line_keys,
    flatten_hparams,
    metric_names,
    run_hparams,
    scalars_layout,
    spiking_layers,
)


def test_flatten_hparams_uses_cli_keys_and_tensorboard_types():
    nested = {
        "snn": {"hidden_sizes": [256, 128], "neuron": {"beta": 0.9, "learnable_beta": True, "max_delay": None}},
        "seed": 3,
        "kernel": (3, 3),
    }
    assert flatten_hparams(nested) == {
        "snn.hidden_sizes": "[256, 128]",
        "snn.neuron.beta": 0.9,
        "snn.neuron.learnable_beta": "true",
        "seed": 3,
        "kernel": "[3, 3]",
    }


def test_run_hparams_keeps_the_asked_columns_that_are_set():
    module = SimpleNamespace(
        hparams={
            "snn": {"neuron": {"beta": None, "threshold": 1.0}, "hidden_sizes": [8]},
            "optim": {"lr": 0.01, "weight_decay": 0.0},
            "data": {"root": "data", "name": "digits"},
            "seed": 3,
        }
    )
    assert run_hparams(module) == {
        "data.name": "digits",
        "snn.hidden_sizes": "[8]",
        "snn.neuron.threshold": 1.0,
        "optim.lr": 0.01,
        "seed": 3,
    }
    assert run_hparams(module, columns=("optim.weight_decay", "data.root")) == {
        "optim.weight_decay": 0.0,
        "data.root": "data",
    }


def test_metric_columns_are_the_evaluation_stages_loss_and_metrics():
    module = SimpleNamespace(metrics={"val_metrics": {"mse": None, "mae": None}})
    assert metric_names(module) == [
        "val/loss",
        "val/mse",
        "val/mae",
        "test/loss",
        "test/mse",
        "test/mae",
        *HPARAM_EFFICIENCY,
    ]


def test_command_line_keys_outside_hydra_are_none(monkeypatch):
    from hydra.core.hydra_config import HydraConfig

    monkeypatch.setattr(HydraConfig.instance(), "cfg", None)  # an earlier in-process run may have set it
    assert command_line_keys() == ()


def test_layout_has_per_layer_health_charts_titled_with_the_monitor_thresholds():
    layout = scalars_layout(["layer0", "layer1"])
    assert list(layout) == ["layer0 health", "layer1 health", "losses", "metrics"]
    charts = layout["layer1 health"]
    (dead_title,) = [t for t in charts if "dead and saturated" in t]
    (rate_title,) = [t for t in charts if "firing rate" in t]
    high = HEALTHY_RANGES["dead_frac"].high
    assert f"dead: healthy below {high:g}" in dead_title
    assert charts[dead_title] == ["Multiline", ["^probes/layer1/dead_frac$", "^probes/layer1/saturated_frac$"]]
    rate = HEALTHY_RANGES["firing_rate"]
    assert f"healthy {rate.low:g} to {rate.high:g}" in rate_title
    assert charts[rate_title] == ["Multiline", ["^probes/layer1/firing_rate$"]]
    assert layout["losses"]["train loss terms"] == ["Multiline", ["^train/loss/"]]


def test_layout_follows_the_monitor_ranges():
    ranges = {**HEALTHY_RANGES, "firing_rate": HealthyRange(0.02, 0.3, "", "")}
    (title,) = [t for t in scalars_layout(["layer0"], ranges)["layer0 health"] if "firing rate" in t]
    assert "healthy 0.02 to 0.3" in title


@pytest.mark.parametrize(
    "readout, expected", [(Readout.spiking, ["layer0", "layer1", "layer2"]), (Readout.membrane, ["layer0", "layer1"])]
)
def test_spiking_layers_leave_out_a_membrane_readout(readout, expected):
    cfg = dataclasses.replace(SNNConfig(), hidden_sizes=[8, 4], input_size=6, output_size=3, readout=readout)
    assert spiking_layers(build_snn(cfg)) == expected
