"""Generate tests/test_codec_losses.py: every encoder, decoder, loss term and preset against its contract.

Tables from the registries: :data:`~brain_ai.core.encoding.ENCODERS`, the decoders of
:func:`~brain_ai.tools.validate_codec_losses.decoder_configs` (from
:data:`~brain_ai.core.decoding.DECODERS`), :class:`~brain_ai.config.TaskLoss`,
:data:`~brain_ai.config.CODEC_PRESETS` and the autocast dtypes of
:data:`~brain_ai.tools.amp_stress_test.DTYPES`. The checks are those of ``validate_codec_losses``
and ``amp_stress_test`` (small scale); the ISI and T-normalisation checks are left to
tests/core/test_losses.py, whose hand-written versions are stronger. Usage: ``python scripts/gen_codec_tests.py [--out PATH]``.
"""

from __future__ import annotations

from typing import List, Optional

from brain_ai.config import CODEC_PRESETS, TaskLoss
from brain_ai.core.encoding import ENCODERS
from brain_ai.tools import suite_generation
from brain_ai.tools.amp_stress_test import DTYPES
from brain_ai.tools.validate_codec_losses import decoder_configs

OUT = "tests/test_codec_losses.py"

BODY = """SIZES = Sizes(batch=2, steps=8, features=4)
STEPS, MAGNITUDE = SCALES["small"]
BATCH = 2


@pytest.mark.parametrize("encoder", ENCODER_NAMES)
def test_encoder_contract(encoder):
    check_encoder(encoder, SIZES)


@pytest.mark.parametrize("encoder", ENCODER_NAMES)
def test_encoder_reproducible(encoder):
    check_encoder_reproducible(encoder, SIZES)


@pytest.mark.parametrize("decoder", DECODER_LABELS)
def test_decoder_contract(decoder):
    check_decoder(dict(decoder_configs())[decoder], SIZES)


@pytest.mark.parametrize("task_loss", TASK_LOSSES)
def test_loss_composition(task_loss):
    check_loss(task_loss, SIZES)


@pytest.mark.parametrize("preset", PRESET_NAMES)
def test_preset_builds_and_round_trips(preset):
    check_preset(preset, SIZES)


@pytest.mark.parametrize("encoder", ENCODER_NAMES)
@pytest.mark.parametrize("dtype", AMP_DTYPES)
def test_encoder_under_autocast(dtype, encoder):
    encoder_case(encoder, DTYPES[dtype], STEPS, MAGNITUDE, BATCH)


@pytest.mark.parametrize("decoder", DECODER_LABELS)
@pytest.mark.parametrize("dtype", AMP_DTYPES)
def test_decoder_under_autocast(dtype, decoder):
    decoder_case(dict(decoder_configs())[decoder], DTYPES[dtype], STEPS, MAGNITUDE, BATCH)


@pytest.mark.parametrize("task_loss", TASK_LOSSES)
@pytest.mark.parametrize("dtype", AMP_DTYPES)
def test_loss_under_autocast(dtype, task_loss):
    loss_case(TaskLoss(task_loss), DTYPES[dtype], STEPS, MAGNITUDE, BATCH)
"""

IMPORTS = """
import pytest

from brain_ai.config import TaskLoss
from brain_ai.tools.amp_stress_test import DTYPES, SCALES, decoder_case, encoder_case, loss_case
from brain_ai.tools.validate_codec_losses import (
    Sizes, check_decoder, check_encoder, check_encoder_reproducible, check_loss, check_preset, decoder_configs,
)

"""


def render() -> str:
    """The test file's text."""
    return (
        suite_generation.header(
            "Every encoder, decoder, loss term and codec preset against its contract, in fp32 and under autocast.",
            "scripts/gen_codec_tests.py",
            "ENCODERS, DECODERS (validate_codec_losses.decoder_configs), TaskLoss, CODEC_PRESETS and amp_stress_test.DTYPES",
        )
        + IMPORTS
        + suite_generation.table("ENCODER_NAMES", sorted(e.value for e in ENCODERS))
        + suite_generation.table("DECODER_LABELS", [label for label, _ in decoder_configs()])
        + suite_generation.table("TASK_LOSSES", [t.value for t in TaskLoss])
        + suite_generation.table("PRESET_NAMES", sorted(CODEC_PRESETS))
        + suite_generation.table("AMP_DTYPES", list(DTYPES))
        + BODY
    )


def main(argv: Optional[List[str]] = None) -> int:
    """``--out PATH`` (default tests/test_codec_losses.py)."""
    return suite_generation.main(render, OUT, argv)
