"""Recurrent adaptive LIF Triton kernels: which layers ``auto`` sends to them, and their limits.

The kernels' values and gradients are compared with the fused PyTorch loops under the Triton
interpreter by the ``recurrent-`` cases of ``brain_ai.tools.kernel_cases``
(``tests/core/test_fused_triton.py`` runs them; ``tests/core/test_gpu_kernels.py`` on CUDA).
"""

from __future__ import annotations

import pytest
import torch

from brain_ai.config import NeuronConfig
from brain_ai.core.neurons import base as neuron_base
from brain_ai.core.neurons import build_neuron

pytest.importorskip("triton")


@pytest.mark.parametrize(
    "neuron_type,auto_triton", [("lif", True), ("adaptive_lif", True), ("recurrent_adaptive_lif", False)]
)
def test_auto_picks_only_kernels_verified_on_a_gpu(monkeypatch, neuron_type, auto_triton):
    seen = []
    real = neuron_base.resolve_backend
    monkeypatch.setattr(neuron_base, "resolve_backend", lambda *a, **k: seen.append(k["auto_triton"]) or real(*a, **k))
    build_neuron(NeuronConfig(type=neuron_type), 4).forward_sequence(torch.rand(2, 3, 4))
    assert seen == [auto_triton]


def test_limits_name_the_value_and_what_runs():
    from brain_ai.core.fused_recurrent_triton import MAX_NEURONS, recurrent_unsupported

    assert recurrent_unsupported(MAX_NEURONS, torch.float32) is None and recurrent_unsupported(3, torch.float64) is None
    assert f"N={MAX_NEURONS + 1} neurons" in recurrent_unsupported(MAX_NEURONS + 1, torch.float32)
    assert "state dtype is bfloat16; the recurrent kernel runs float32, float64" in recurrent_unsupported(
        8, torch.bfloat16
    )
