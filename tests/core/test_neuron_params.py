"""Issue 24 items 1-2: every neuron is built from one parameter object (NeuronConfig), and each layer
decides its backend once (at build, and again when it is moved), stores it and shows it."""

from __future__ import annotations

import dataclasses
from typing import Tuple

import pytest
import torch
from torch import Tensor

from brain_ai.config import (
    PSN_TYPES,
    RANGE,
    Backend,
    ConfigError,
    NeuronConfig,
    NeuronType,
    OptimConfig,
    SNNConfig,
    field_range,
    ranged,
)
from brain_ai.core.neurons import (
    NEURONS,
    AdaptiveLIFNeuron,
    AdvancedLIFNeuron,
    LeakyIntegrator,
    LIFNeuron,
    ParallelSpikingNeuron,
    RecurrentAdaptiveLIFNeuron,
    RecurrentLIFNeuron,
    build_neuron,
)
from brain_ai.core.neurons import base as base_mod
from brain_ai.core.neurons.base import LeakyCellBase
from brain_ai.core.neurons.functional import adaptive_lif_step
from brain_ai.core.neurons.state import SpikingState
from brain_ai.core.snn import build_snn

# ---- one parameter object -------------------------------------------------------------------


def _config_with_gain() -> type:
    """The recipe of docs/extending.md, step 1: a new field, its default and its range on the
    parameter object (NeuronConfig's own ``__post_init__`` checks the range: nothing to override)."""
    return dataclasses.make_dataclass(
        "GainNeuronConfig",
        [("input_gain", float, ranged(1.0, low=0.0, low_inclusive=False))],
        bases=(NeuronConfig,),
    )


class GainAdaptiveLIF(AdaptiveLIFNeuron):
    """Step 2: the equation reads the new field from ``self.params`` (input scaled by ``input_gain``)."""

    backends = frozenset({Backend.eager})  # the fused kernel has no input gain

    def _step(self, x: Tensor, state: SpikingState) -> Tuple[Tensor, SpikingState]:
        p = self.params
        return adaptive_lif_step(
            p.input_gain * x,
            state,
            adaptation_alpha=p.adaptation_alpha,
            adaptation_decay=p.adaptation_decay,
            **self.lif_kwargs(),
        )


def test_a_new_neuron_parameter_needs_the_field_the_equation_and_its_test_only():
    config = _config_with_gain()
    x = torch.rand(3, 6, 5)
    doubled = GainAdaptiveLIF(5, config(type="adaptive_lif", input_gain=2.0, beta=0.8))
    plain = AdaptiveLIFNeuron(5, NeuronConfig(type="adaptive_lif", beta=0.8))
    # step 3, its test: gain 2 on x is the stock neuron on 2 x; everything else (state, time loop,
    # checkpointing, backend decision, repr) came unchanged with the base classes
    out, _, _ = doubled.forward_sequence(x, checkpoint_every=2)
    ref, _, _ = plain.forward_sequence(2.0 * x, backend="eager")
    assert torch.equal(out, ref) and doubled.backend is Backend.eager and "backend=eager" in repr(doubled)
    assert GainAdaptiveLIF(5, config(type="adaptive_lif"), input_gain=3.0).params.input_gain == 3.0  # keywords too
    with pytest.raises(ConfigError, match=r"neuron.input_gain=0.0 is out of range; allowed: \(0.0, inf\)"):
        config(input_gain=0.0)
    # the built-in neurons take the extended object as it is (no other code had to learn the field)
    assert isinstance(build_neuron(config(type="lif", input_gain=2.0), 4), LIFNeuron)


def test_the_keyword_constructor_is_the_parameter_object():
    torch.manual_seed(0)
    by_keywords = RecurrentLIFNeuron(8, beta=0.9, threshold=1.0, reset="subtract", surrogate="atan")
    torch.manual_seed(0)
    by_object = RecurrentLIFNeuron(8, NeuronConfig(type="recurrent_lif", beta=0.9, threshold=1.0, reset="subtract"))
    assert by_keywords.params == by_object.params
    assert all(torch.equal(a, b) for a, b in zip(by_keywords.state_dict().values(), by_object.state_dict().values()))
    cfg = NeuronConfig(beta=0.5)
    layer = LIFNeuron(4, cfg)
    cfg.beta = 0.1  # the layer keeps its own copy
    assert layer.params.beta == 0.5 and layer.beta.item() == 0.5


def test_an_unknown_parameter_names_the_fields():
    with pytest.raises(
        TypeError, match=r"LIFNeuron: unknown parameter\(s\) \['bta'\]; allowed: the fields of NeuronConfig .*beta"
    ):
        LIFNeuron(4, bta=0.9)
    with pytest.raises(TypeError, match="LIFNeuron: params must be a NeuronConfig, got dict"):
        LIFNeuron(4, {"beta": 0.9})


#: the fields a neuron type needs besides the defaults (the PSN family's T and order)
_NEEDS = {
    NeuronType.psn: dict(psn_steps=4),
    NeuronType.masked_psn: dict(psn_steps=4, psn_order=2),
    NeuronType.sliding_psn: dict(psn_order=2),
}


@pytest.mark.parametrize("ntype", list(NEURONS))
def test_every_neuron_is_built_from_its_config_and_validates_once(ntype):
    cfg = NeuronConfig(type=ntype, adaptation_alpha=0.25, adaptation_decay=0.8, **_NEEDS.get(ntype, {}))
    layer = build_neuron(cfg, 6)
    assert type(layer) is NEURONS[ntype] and layer.neuron_type is ntype
    assert (
        layer.params.adaptation_alpha == 0.25 and layer.params.adaptation_decay == 0.8
    )  # advanced_lif: beta learnable
    with pytest.raises(ConfigError, match=rf"{NEURONS[ntype].__name__}: neuron.adaptation_alpha=-1 is out of range"):
        NEURONS[ntype](6, adaptation_alpha=-1, **_NEEDS.get(ntype, {}))


@pytest.mark.parametrize("ntype", sorted(PSN_TYPES))
def test_the_psn_family_takes_the_parameter_object_and_its_fields_as_keywords(ntype):
    cls, needs = NEURONS[ntype], _NEEDS[ntype]
    by_keywords = cls(3, threshold=0.5, surrogate="sigmoid", **needs)
    by_object = cls(3, NeuronConfig(type=ntype, threshold=0.5, surrogate="sigmoid", **needs))
    assert by_keywords.params == by_object.params and by_keywords.params.type is ntype
    assert repr(by_keywords) == repr(by_object) and "Sigmoid" in repr(by_keywords)
    assert all(torch.equal(a, b) for a, b in zip(by_keywords.state_dict().values(), by_object.state_dict().values()))
    assert torch.all(by_keywords.bias == -0.5)  # the bias starts at -threshold, read from the parameter object
    with pytest.raises(TypeError, match=rf"{cls.__name__}: unknown parameter\(s\) \['steps'\]"):
        cls(3, steps=4)  # the old keyword: the field is psn_steps
    with pytest.raises(TypeError, match=rf"{cls.__name__}: params must be a NeuronConfig, got int"):
        cls(3, 4)  # the old positional T
    with pytest.raises(
        ConfigError, match=rf"{cls.__name__}: neuron.reset='zero' is not available for neuron.type={ntype.value}"
    ):
        cls(3, reset="zero", **needs)


def test_the_psn_hooks_are_abstract():
    class NoTimeMap(ParallelSpikingNeuron):
        pass

    with pytest.raises(TypeError, match="abstract.*(_hidden|time_matrix|time_taps)"):
        NoTimeMap(3, NeuronConfig(type="sliding_psn", psn_order=2))
    assert {"time_matrix", "time_taps", "_hidden"} <= ParallelSpikingNeuron.__abstractmethods__


def test_recurrent_adaptive_lif_reads_its_adaptation_from_the_config():
    layer = RecurrentAdaptiveLIFNeuron(
        4, NeuronConfig(type="recurrent_adaptive_lif", adaptation_alpha=0.2, adaptation_decay=0.7)
    )
    assert layer.adaptation_alpha == 0.2 and layer.adaptation_decay.item() == pytest.approx(0.7)
    default = RecurrentAdaptiveLIFNeuron(4)  # the defaults live on the config's fields, once
    assert default.adaptation_alpha == NeuronConfig.adaptation_alpha
    assert default.adaptation_decay.item() == pytest.approx(NeuronConfig.adaptation_decay)


def test_tau_mean_has_one_range_checked_when_the_config_is_made():
    with pytest.raises(ConfigError, match=r"neuron.tau_mean=1000 is out of range; allowed: \(1.0, 500.0\]"):
        NeuronConfig(type="advanced_lif", tau_mean=1000)
    with pytest.raises(ConfigError, match=r"neuron.tau_std=10 is too large for a uniform tau"):
        NeuronConfig(type="advanced_lif", tau_distribution="uniform", tau_mean=10, tau_std=10)
    layer = build_neuron(NeuronConfig(type="advanced_lif", tau_mean=500, tau_std=0, tau_distribution="constant"), 3)
    assert torch.allclose(layer.tau, torch.full((3,), 500.0), rtol=1e-3)
    with pytest.raises(ConfigError, match="neuron.beta=0.5 is not used by type=advanced_lif"):
        AdvancedLIFNeuron(3, beta=0.5)


def test_ranges_live_on_the_fields_and_one_checker_names_field_value_and_interval():
    declared = {f.name for f in dataclasses.fields(NeuronConfig) if RANGE in f.metadata}
    assert {"beta", "dt", "threshold", "synaptic_beta", "refractory_steps", "adaptation_decay", "tau_mean"} <= declared
    assert {"psn_steps", "psn_order", "psn_mask_ramp_epochs", "adex_delta_t", "adex_a", "adex_b"} <= declared
    assert str(field_range(NeuronConfig, "threshold")) == "(0.0, inf)"
    assert str(field_range(NeuronConfig, "psn_order")) == "integer in [1, inf)"
    assert NeuronConfig(psn_steps=None).psn_steps is None  # None = not set, where the default is None
    with pytest.raises(ConfigError, match=r"neuron.adex_a=-1 is out of range; allowed: \[0.0, inf\)"):
        NeuronConfig(adex_a=-1)  # the field's range holds for every neuron type
    with pytest.raises(ConfigError, match=r"neuron.max_delay=1.5 must be an integer"):
        NeuronConfig(type="advanced_lif", max_delay=1.5)
    with pytest.raises(ConfigError, match=r"snn.dropout=1.0 is out of range; allowed: \[0.0, 1.0\)"):
        SNNConfig(dropout=1.0)
    with pytest.raises(ConfigError, match=r"optim.momentum=1.5 is out of range; allowed: \[0.0, 1.0\]"):
        OptimConfig(momentum=1.5)


# ---- backend: decided once ------------------------------------------------------------------


def test_the_backend_is_decided_at_build_not_per_forward(monkeypatch):
    layer = LIFNeuron(4)
    assert layer.backend is Backend.fused and "backend=fused" in repr(layer)
    calls = []
    monkeypatch.setattr(base_mod, "resolve_backend", lambda *a, **k: calls.append(a) or Backend.eager)
    for _ in range(3):
        layer.forward_sequence(torch.rand(2, 5, 4), checkpoint_every=2)
    assert calls == []  # three forwards, three segments each: no decision made again
    layer.double()  # a move decides again, for the device the tensors are on
    assert len(calls) == 1 and layer.backend is Backend.eager


def test_classes_declare_their_backends_and_whether_they_spike():
    assert LIFNeuron(2).backend_unsupported(Backend.triton) is None
    assert RecurrentAdaptiveLIFNeuron(2).backend_unsupported(Backend.fused) is None
    assert (
        RecurrentLIFNeuron(2).backend_unsupported(Backend.fused)
        == "RecurrentLIFNeuron has no fused kernel (its backends: eager)"
    )
    assert "refractory_steps=2" in LIFNeuron(2, refractory_steps=2).backend_unsupported(Backend.fused)
    assert LeakyIntegrator.backends == {Backend.eager, Backend.fused} and not LeakyIntegrator.spiking
    assert all(cls.spiking for cls in NEURONS.values()) and LeakyCellBase.spiking is False


def test_a_backend_the_layer_cannot_run_is_refused_when_it_is_built():
    with pytest.raises(ConfigError, match=r"LIFNeuron: backend='fused' cannot run: LIFNeuron has a synaptic current"):
        build_snn(
            SNNConfig(
                input_size=3, hidden_sizes=[4], output_size=2, neuron=NeuronConfig(synaptic=True, backend="fused")
            )
        )


def test_a_backend_only_this_device_cannot_run_is_kept_and_refused_when_the_layer_runs_there(monkeypatch):
    monkeypatch.setattr(base_mod, "resolve_backend", _no_triton_here)
    layer = LIFNeuron(4, backend="triton")  # built on CPU, meant for a GPU
    assert "backend=triton (cannot run on cpu)" in repr(layer)
    with pytest.raises(ConfigError, match="backend='triton' cannot run: tensors are on cpu"):
        layer.forward_sequence(torch.rand(2, 3, 4))


def _no_triton_here(requested, device, surrogate, fused_reason, *, owner, **reasons):
    if Backend(requested) is Backend.triton:
        raise ConfigError(f"{owner}: backend='triton' cannot run: tensors are on cpu")
    return Backend.fused


def test_the_network_reports_each_layers_backend():
    net = build_snn(SNNConfig(input_size=3, hidden_sizes=[4, 4], output_size=2, readout="membrane"))
    assert net.backend_summary() == "layer0=fused, layer1=fused, layer2=fused"  # the membrane readout: its own auto
    net = build_snn(
        SNNConfig(input_size=3, hidden_sizes=[4], output_size=2, neuron=NeuronConfig(type=NeuronType.recurrent_lif))
    )
    assert net.backend_summary() == "layer0=eager, layer1=fused"  # the readout is a plain LIF (no recurrence)
