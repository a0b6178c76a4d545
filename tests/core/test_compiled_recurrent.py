"""backend=compiled: the numba loops of the recurrent adaptive LIF give the fused Function's gradients."""

from __future__ import annotations

import logging
import os
import subprocess
import sys

import pytest
import torch
from test_fused_recurrent import assert_match, initial_state, make_neuron, run

import brain_ai.core
from brain_ai.config import ConfigError, NeuronConfig
from brain_ai.core import backend as backend_module
from brain_ai.core import compiled_recurrent
from brain_ai.core.neurons import build_neuron
from brain_ai.core.surrogates import SURROGATES

pytest.importorskip("numba")


@pytest.mark.parametrize("steps", [1, 13])
@pytest.mark.parametrize("per_neuron", [True, False], ids=["per_neuron", "layer"])
@pytest.mark.parametrize("reset", ["subtract", "zero", "none"])
def test_compiled_gradients_equal_fused_float64(reset, per_neuron, steps):
    neuron = make_neuron(reset, "atan", per_neuron)
    x = 0.2 + 0.8 * torch.rand(3, steps, 5, dtype=torch.float64)
    state = initial_state(neuron, 3, torch.float64)
    compiled, fused = run(neuron, x, state, "compiled"), run(neuron, x, state, "fused")
    assert fused[0][0].sum() > 0
    assert_match(compiled, fused, rtol=1e-10)


@pytest.mark.parametrize("name", sorted(SURROGATES))
def test_every_surrogate_float64(name):
    neuron = make_neuron("zero", name)
    x = 0.2 + 0.8 * torch.rand(2, 9, 5, dtype=torch.float64)
    state = initial_state(neuron, 2, torch.float64)
    assert_match(
        run(neuron, x, state, "compiled", record="none"), run(neuron, x, state, "fused", record="none"), rtol=1e-10
    )


@pytest.mark.parametrize("reset", ["subtract", "zero"])
def test_compiled_gradients_equal_eager_float32(reset):
    neuron = make_neuron(reset, dtype=torch.float32)
    x = 0.2 + 0.8 * torch.rand(4, 30, 5)
    state = initial_state(neuron, 4, torch.float32)
    assert_match(run(neuron, x, state, "compiled"), run(neuron, x, state, "eager"), rtol=1e-5)


def test_backward_spans_several_chunks_and_checkpointing_segments(monkeypatch):
    monkeypatch.setattr(compiled_recurrent, "_CHUNK_ELEMENTS", 40)  # 3 x 5 neurons per step -> chunks of 2 steps
    neuron = make_neuron()
    x = 0.2 + 0.8 * torch.rand(3, 14, 5, dtype=torch.float64)
    state = initial_state(neuron, 3, torch.float64)
    for kw in ({}, dict(chunk_size=4), dict(checkpoint_every=5), dict(chunk_size=6, checkpoint_every=4)):
        assert_match(run(neuron, x, state, "compiled", **kw), run(neuron, x, state, "eager", **kw), rtol=1e-10)


def test_split_run_with_carried_state_equals_one_run():
    neuron = make_neuron()
    x = 0.2 + 0.8 * torch.rand(2, 17, 5, dtype=torch.float64)
    whole, final, _ = neuron.forward_sequence(x, backend="compiled")
    first, mid, _ = neuron.forward_sequence(x[:, :6], backend="compiled")
    second, end, _ = neuron.forward_sequence(x[:, 6:], mid, backend="compiled")
    assert torch.equal(torch.cat([first, second], 1), whole)
    for k in ("v", "a", "prev_spk"):
        assert torch.equal(getattr(end, k), getattr(final, k))


def test_autocast_integrates_in_fp32_like_the_fused_loop():
    neuron = make_neuron(dtype=torch.float32)
    x = 0.2 + 0.8 * torch.rand(3, 10, 5)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        s, st, tr = neuron.forward_sequence(x.bfloat16(), record="membrane", backend="compiled")
        ref, ref_st, ref_tr = neuron.forward_sequence(x.bfloat16(), record="membrane", backend="fused")
    assert s.dtype == torch.bfloat16 and st.v.dtype == torch.float32
    assert torch.equal(s, ref)
    torch.testing.assert_close(tr["membrane"], ref_tr["membrane"], rtol=0, atol=1e-6)


def spy_loops(monkeypatch) -> list:
    """Record every call of the compiled forward loop."""
    calls = []
    real = compiled_recurrent.forward_loop
    monkeypatch.setattr(compiled_recurrent, "forward_loop", lambda *a: calls.append(1) or real(*a))
    return calls


def test_auto_picks_the_compiled_loop_on_cpu_for_float32_and_float64(monkeypatch):
    calls = spy_loops(monkeypatch)
    for dtype in (torch.float32, torch.float64):
        neuron = make_neuron(dtype=dtype)
        neuron.forward_sequence(torch.rand(2, 4, 5, dtype=dtype))
    assert len(calls) == 2
    neuron.forward_sequence(torch.rand(2, 4, 5, dtype=torch.float64), backend="fused")
    assert len(calls) == 2


def test_unsupported_dtype_layer_or_device_is_a_clear_error_and_auto_runs_fused(monkeypatch):
    calls = spy_loops(monkeypatch)
    half = make_neuron(dtype=torch.float32, dtype_policy="input_dtype").to(torch.bfloat16)  # bf16 state
    x = torch.rand(2, 4, 5, dtype=torch.bfloat16)
    with pytest.raises(
        ConfigError,
        match=r"RecurrentAdaptiveLIFNeuron.forward_sequence: backend='compiled' cannot run: "
        r"the state dtype is bfloat16; allowed: float32, float64; use backend=auto, fused or eager",
    ):
        half.forward_sequence(x, backend="compiled")
    half.forward_sequence(x)  # auto: the fused loop
    assert not calls
    lif = build_neuron(NeuronConfig(type="lif"), 5)
    with pytest.raises(
        ConfigError,
        match=r"backend='compiled' cannot run: LIFNeuron has no compiled kernel \(its backends: eager, fused, triton\)",
    ):
        lif.forward_sequence(torch.rand(2, 4, 5), backend="compiled")
    reason = backend_module.compiled_unsupported("RecurrentAdaptiveLIFNeuron", half.params.type, "cuda", torch.float32)
    assert reason == "tensors are on cuda; the compiled loop runs CPU tensors"


def test_without_numba_auto_logs_once_and_runs_fused_and_compiled_is_an_error(monkeypatch, caplog):
    monkeypatch.setitem(sys.modules, "numba", None)  # import numba -> ImportError
    monkeypatch.delitem(sys.modules, "brain_ai.core.compiled_recurrent_loops", raising=False)
    monkeypatch.delattr(brain_ai.core, "compiled_recurrent_loops", raising=False)
    backend_module.compiled_loops.cache_clear()
    try:
        calls = spy_loops(monkeypatch)
        neuron = make_neuron(dtype=torch.float32)
        x = torch.rand(2, 4, 5)
        with caplog.at_level(logging.WARNING, logger="brain_ai.core.backend"):
            neuron.forward_sequence(x)
            neuron.forward_sequence(x)
        assert not calls
        lines = [r.getMessage() for r in caplog.records if "numba is not importable" in r.getMessage()]
        assert len(lines) == 1 and "runs its PyTorch time loop (fused)" in lines[0]
        with pytest.raises(
            ConfigError, match=r"backend='compiled' cannot run: numba is not importable \(pip install numba\)"
        ):
            neuron.forward_sequence(x, backend="compiled")
    finally:
        backend_module.compiled_loops.cache_clear()


def test_first_call_logs_the_compile_or_cache_load_time(caplog):
    with caplog.at_level(logging.INFO, logger="brain_ai.core.compiled_recurrent"):
        seconds = compiled_recurrent._ready.__wrapped__(torch.float64)
    (line,) = [r.getMessage() for r in caplog.records]
    assert seconds > 0
    assert line.startswith("backend=compiled: the recurrent LIF loops for float64 were ") and line.endswith(
        f"in {seconds:.2f} s"
    )


@pytest.mark.skipif((os.cpu_count() or 1) < 2, reason="needs 2 cores for NUMBA_NUM_THREADS=2")
def test_the_compiled_loops_keep_torchs_thread_count():
    """numba's OpenMP pool (NUMBA_NUM_THREADS=2) must not raise the thread count of a process started
    with OMP_NUM_THREADS=1 (it did, through the shared OpenMP runtime: torch's products then ran on
    2 threads and results changed with NUMBA_NUM_THREADS)."""
    code = (
        "import torch\n"
        "from brain_ai.core import compiled_recurrent\n"
        "compiled_recurrent._ready(torch.float32)\n"
        "print(torch.get_num_threads())\n"
    )
    env = {**os.environ, "OMP_NUM_THREADS": "1", "NUMBA_NUM_THREADS": "2"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert out.returncode == 0 and out.stdout.split() == ["1"], out.stdout + out.stderr
