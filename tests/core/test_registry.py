"""Every name a config can choose maps to exactly one class, and nothing else is selectable: the
neuron / surrogate / encoder / decoder tables are closed over their config enums (no run-time
registration). A custom surrogate is used from Python as an instance."""

import pytest
import torch

from brain_ai.config import (
    ConfigError,
    DecoderType,
    DecodingConfig,
    EncoderType,
    EncodingConfig,
    NeuronConfig,
    NeuronType,
    SurrogateType,
)
from brain_ai.core import decoding, encoding, surrogates
from brain_ai.core.decoding import DECODERS, build_decoder
from brain_ai.core.encoding import ENCODERS, build_encoder
from brain_ai.core.neurons import NEURONS, LIFNeuron, build_neuron
from brain_ai.core.surrogates import SURROGATES, Param, Surrogate, get_surrogate


class Quadratic(Surrogate):
    name = "test_quadratic"
    params = (Param("alpha", 2.0),)

    def surrogate_grad(self, x):
        return torch.clamp(1.0 - (self.alpha * x) ** 2, min=0.0)


@pytest.mark.parametrize(
    "table, enum_cls",
    [(ENCODERS, EncoderType), (DECODERS, DecoderType), (NEURONS, NeuronType)],
    ids=["encoders", "decoders", "neurons"],
)
def test_tables_are_keyed_by_exactly_their_enum_members(table, enum_cls):
    assert set(table) == set(enum_cls) and all(isinstance(k, enum_cls) for k in table)


def test_surrogate_table_holds_exactly_the_config_choices():
    assert set(SURROGATES) == {m.value for m in SurrogateType}
    for member in SurrogateType:
        assert type(build_neuron(NeuronConfig(surrogate=member), 3).surrogate) is SURROGATES[member.value]


@pytest.mark.parametrize("member", list(EncoderType), ids=lambda m: m.name)
def test_every_encoder_type_builds_its_class(member):
    assert type(build_encoder(EncodingConfig(type=member))) is ENCODERS[member]


@pytest.mark.parametrize("member", list(DecoderType), ids=lambda m: m.name)
def test_every_decoder_type_builds_its_class(member):
    assert type(build_decoder(DecodingConfig(type=member), 4)) is DECODERS[member]


def test_no_run_time_registration_api():
    for module, name in (
        (encoding, "register_encoder"),
        (decoding, "register_decoder"),
        (surrogates, "register_surrogate"),
    ):
        assert not hasattr(module, name), name


def test_a_name_outside_the_enum_is_a_config_error_listing_the_choices():
    with pytest.raises(
        ConfigError, match=r"encoding\.type='threshold' is not a valid choice; allowed: rate_bernoulli, "
    ):
        EncodingConfig(type="threshold")
    with pytest.raises(ConfigError, match=r"decoding\.type='median' is not a valid choice; allowed: rate, first_spike"):
        DecodingConfig(type="median")


def test_a_custom_surrogate_instance_drives_a_neuron():
    sg = Quadratic(alpha=4.0)
    assert get_surrogate(sg) is sg
    neuron = LIFNeuron(3, beta=0.5, threshold=1.0, surrogate=sg)
    x = torch.tensor([[[1.0, 1.025, 2.0]]], requires_grad=True)  # (B=1, T=1, N=3): v - thr = 0, 0.025, 1
    spikes, _, _ = neuron.forward_sequence(x)
    spikes.sum().backward()
    torch.testing.assert_close(x.grad, torch.tensor([[[1.0, 1.0 - (4.0 * 0.025) ** 2, 0.0]]]))
