"""The kernel case grid of ``brain_ai.tools.kernel_cases`` on a real GPU (marked ``gpu``: skipped without CUDA).

Run on a CUDA machine with ``python -m pytest -m gpu``; ``scripts/gpu_check.py`` runs the same
cases and writes them into its report.
"""

from __future__ import annotations

import pytest

from brain_ai.tools.kernel_cases import (
    case_grid,
    hand_computed_one_step,
    recurrent_grid,
    recurrent_layer_segments,
    run_case,
    run_recurrent_case,
)

pytestmark = pytest.mark.gpu


@pytest.mark.parametrize("case", case_grid("cuda"), ids=lambda c: c.name)
def test_triton_matches_the_eager_loop_on_cuda(case):
    pytest.importorskip("triton")
    run_case(case, "cuda")


def test_hand_computed_one_step_on_cuda():
    pytest.importorskip("triton")
    hand_computed_one_step("cuda")


@pytest.mark.parametrize("case", recurrent_grid("cuda"), ids=lambda c: c.name)
def test_recurrent_kernels_match_the_fused_loop_on_cuda(case):
    pytest.importorskip("triton")
    run_recurrent_case(case, "cuda")


def test_recurrent_layer_segments_on_cuda():
    pytest.importorskip("triton")
    recurrent_layer_segments("cuda")
