"""Surrogates, encoders and decoders are found by name; adding one is a class + a register call."""

import pytest
import torch

from brain_ai.config import DecoderType, DecodingConfig, EncodingConfig
from brain_ai.core.decoding import DECODERS, RateDecoder, register_decoder
from brain_ai.core.encoding import ENCODERS, RateBernoulliEncoder, register_encoder
from brain_ai.core.surrogates import SURROGATES, ATan, Param, Surrogate, get_surrogate, register_surrogate


class Quadratic(Surrogate):
    name = "test_quadratic"
    params = (Param("alpha", 2.0),)

    def surrogate_grad(self, x):
        return torch.clamp(1.0 - (self.alpha * x) ** 2, min=0.0)


def test_register_custom_surrogate_and_use_it_by_name():
    try:
        assert register_surrogate(Quadratic) is Quadratic
        assert register_surrogate(Quadratic) is Quadratic  # same class twice: fine
        sg = get_surrogate("test_quadratic", alpha=4.0)
        x = torch.tensor([-1.0, 0.0, 0.1], requires_grad=True)
        sg(x).sum().backward()
        torch.testing.assert_close(x.grad, torch.tensor([0.0, 1.0, 1.0 - 0.16]))
    finally:
        SURROGATES.pop("test_quadratic", None)


def test_taken_names_and_wrong_classes_are_rejected():
    class Other(Surrogate):
        name = "atan"

        def surrogate_grad(self, x):
            return x

    with pytest.raises(ValueError, match="surrogate named 'atan' is already registered"):
        register_surrogate(Other)
    with pytest.raises(TypeError, match="not a Surrogate subclass"):
        register_surrogate(RateDecoder)

    class Nameless(RateBernoulliEncoder):
        name = ""

    with pytest.raises(ValueError, match="must be set to register it as a encoder"):
        register_encoder(Nameless)
    assert SURROGATES["atan"] is ATan


def test_encoder_and_decoder_registries_cover_their_enums():
    assert set(DECODERS) == {d.name for d in DecoderType}
    assert register_decoder(RateDecoder) is RateDecoder
    assert register_encoder(RateBernoulliEncoder) is RateBernoulliEncoder
    assert isinstance(ENCODERS["rate_bernoulli"](EncodingConfig()), RateBernoulliEncoder)
    assert isinstance(DECODERS["rate"](DecodingConfig(), 10), RateDecoder)
