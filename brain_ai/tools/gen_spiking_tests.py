"""Generate tests/core/test_spiking_generated.py: every spiking neuron against the runtime contract.

Tables from the registries: the :data:`~brain_ai.tools.validate_spiking.CHECKS` on every
:func:`~brain_ai.tools.validate_spiking.variants` entry; every step-by-step :class:`~brain_ai.config.NeuronType`
with every :class:`~brain_ai.config.ResetMode`, every surrogate of
:data:`~brain_ai.core.surrogates.SURROGATES` and every dtype of
:data:`~brain_ai.tools.validate_spiking.DTYPES`; the parallel spiking neurons (no reset, threshold or
single step) with :data:`~brain_ai.tools.validate_spiking.PSN_CHECKS` in every dtype.
Usage: ``python scripts/gen_spiking_tests.py [--out PATH]``.
"""

from __future__ import annotations

from typing import List, Optional

from brain_ai.config import PSN_TYPES, NeuronType, ResetMode
from brain_ai.core.surrogates import SURROGATES
from brain_ai.tools import suite_generation
from brain_ai.tools.validate_spiking import CHECKS, DTYPES, PSN_CHECKS, variants

OUT = "tests/core/test_spiking_generated.py"

BODY = """
@pytest.mark.parametrize("check", CHECK_NAMES)
@pytest.mark.parametrize("variant", VARIANTS)
def test_variant_meets_contract(variant, check):
    run_case(variants()[variant], check)


@pytest.mark.parametrize("reset", RESET_MODES)
@pytest.mark.parametrize("ntype", NEURON_TYPES)
def test_reset_mode_gives_binary_spikes_and_gradients(ntype, reset):
    for check in ("binary_spikes", "gradients"):
        run_case(case_config(ntype, reset=reset), check)


@pytest.mark.parametrize("surrogate", SURROGATE_NAMES)
@pytest.mark.parametrize("ntype", NEURON_TYPES)
def test_surrogate_gives_finite_input_and_threshold_gradients(ntype, surrogate):
    run_case(case_config(ntype, surrogate=surrogate), "gradients")


@pytest.mark.parametrize("dtype", DTYPE_NAMES)
@pytest.mark.parametrize("ntype", NEURON_TYPES)
def test_dtype_keeps_spikes_state_and_gradients(ntype, dtype):
    for check in ("binary_spikes", "state_shapes", "gradients"):
        run_case(case_config(ntype), check, dtype=dtype)


@pytest.mark.parametrize("dtype", DTYPE_NAMES)
@pytest.mark.parametrize("check", PSN_CHECK_NAMES)
@pytest.mark.parametrize("ntype", PSN_TYPE_NAMES)
def test_parallel_neuron_meets_contract(ntype, check, dtype):
    run_case(psn_case_config(ntype), check, dtype=dtype)
"""


def render() -> str:
    """The test file's text."""
    return (
        suite_generation.header(
            "Every spiking neuron against the runtime contract of brain_ai.tools.validate_spiking.",
            "scripts/gen_spiking_tests.py",
            "NeuronType, ResetMode, SURROGATES and validate_spiking's variants / CHECKS / PSN_CHECKS / DTYPES",
        )
        + "\nimport pytest\n\n"
        + "from brain_ai.tools.validate_spiking import case_config, psn_case_config, run_case, variants\n\n"
        + suite_generation.table("VARIANTS", list(variants()))
        + suite_generation.table("CHECK_NAMES", list(CHECKS))
        + suite_generation.table("NEURON_TYPES", [t.value for t in NeuronType if t not in PSN_TYPES])
        + suite_generation.table("PSN_TYPE_NAMES", [t.value for t in NeuronType if t in PSN_TYPES])
        + suite_generation.table("PSN_CHECK_NAMES", list(PSN_CHECKS))
        + suite_generation.table("RESET_MODES", [r.value for r in ResetMode])
        + suite_generation.table("SURROGATE_NAMES", sorted(SURROGATES))
        + suite_generation.table("DTYPE_NAMES", list(DTYPES))
        + BODY
    )


def main(argv: Optional[List[str]] = None) -> int:
    """``--out PATH`` (default tests/core/test_spiking_generated.py)."""
    return suite_generation.main(render, OUT, argv)
