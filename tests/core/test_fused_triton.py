"""Triton fused-LIF path: the backend switch here, kernel correctness under the Triton interpreter.

No GPU is needed: ``python -m brain_ai.tools.kernel_cases --device cpu --json`` runs the whole
launch-shape grid on CPU tensors with ``TRITON_INTERPRET=1`` in a subprocess (the variable must
be set before triton is imported, and this process may have imported triton already) and
reports every case as JSON. ``tests/core/test_gpu_kernels.py`` runs the same grid on CUDA.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from itertools import combinations
from pathlib import Path

import pytest
import torch

from brain_ai.config import Backend, ConfigError, ResetMode
from brain_ai.core import backend as backend_mod
from brain_ai.core.backend import recurrent_triton_kernels, resolve_backend, triton_kernels
from brain_ai.core.fused import fused_lif_sequence
from brain_ai.core.neurons import LIFNeuron, RecurrentAdaptiveLIFNeuron, RecurrentLIFNeuron
from brain_ai.core.surrogates import SURROGATES, CustomSurrogate, get_surrogate
from brain_ai.tools.kernel_cases import FEATURES, case_grid, recurrent_grid

pytest.importorskip("triton")

ROOT = Path(__file__).resolve().parents[2]
CASE_GROUPS = [
    "grid-rank1-",
    "grid-rank2-",
    "grid-rank3-",
    "layout-time_major",
    "layout-strided",
    "layout-spike_sum",
    "layout-channels_last",
    "t1-",
    "needs-x",
    "needs-params",
    "surrogate-",
    "dtype-float32-",
    "dtype-float64-",
    "dtype-bfloat16-",
    "dtype-float16-",
    "blocks-",
    "one-step",
    "raw-",
    "per-neuron-threshold-",
    "rest-",
    "v_reset",
    "recurrent-subtract-",
    "recurrent-zero-",
    "recurrent-none-",
    "recurrent-t1-",
    "recurrent-needs-",
    "recurrent-layer_params",
    "recurrent-layout-",
    "recurrent-float32-",
    "recurrent-bfloat16-",
    "recurrent-surrogate-",
    "recurrent-layer-segments",
]


def custom_grad(x, alpha):  # noqa: ANN001
    return torch.ones_like(x) * alpha


@pytest.fixture(scope="module")
def interpreter_results():
    proc = subprocess.run(
        [sys.executable, "-m", "brain_ai.tools.kernel_cases", "--device", "cpu", "--json"],
        capture_output=True,
        text=True,
        timeout=300,
        env=dict(os.environ, TRITON_INTERPRET="1"),
        cwd=ROOT,
    )
    assert proc.returncode in (0, 1), proc.stderr[-4000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("group", CASE_GROUPS)
def test_triton_kernels_match_eager_under_interpreter(interpreter_results, group):
    cases = {k: v for k, v in interpreter_results.items() if k.startswith(group)}
    assert cases, f"no interpreter case starts with {group!r}"
    failed = {k: v for k, v in cases.items() if v != "ok"}
    assert not failed, (
        "\n".join(f"{k}:\n{v}" for k, v in list(failed.items())[:3]) + f"\n({len(failed)}/{len(cases)} failed)"
    )


def test_rank3_features_without_a_spike_gradient_regression(interpreter_results):
    """`train.py trainer=gpu snn=conv` crashed in lif_backward: with no gradient reaching the
    spikes (or the membrane record) of a conv layer, the 5-D ``h`` stood in for the absent
    gradient and its five strides shifted every later kernel argument."""
    for kind in ("lif", "adaptive"):
        for grads in ("v", "m", "s", "vm"):
            assert interpreter_results[f"grid-rank3-{kind}-subtract-grad_{grads}"] == "ok"


def test_grid_covers_every_launch_shape():
    names = {c.name for c in case_grid("cpu")}
    assert len(names) == len(case_grid("cpu"))  # unique
    for rank in FEATURES:
        for kind, outputs in (("lif", "svm"), ("adaptive", "svam")):
            for reset in ResetMode:
                for k in range(1, len(outputs) + 1):
                    for grads in combinations(outputs, k):
                        assert f"grid-rank{rank}-{kind}-{reset.value}-grad_{''.join(grads)}" in names
    assert {n.split("-")[1] for n in names if n.startswith("surrogate-")} == set(SURROGATES)
    assert not any(n.startswith("large-") for n in names)  # large sequences only on CUDA
    assert any(n.startswith("large-") for n in (c.name for c in case_grid("cuda")))
    recurrent = {c.name for c in recurrent_grid("cpu")}
    assert len(recurrent) == len(recurrent_grid("cpu")) and not recurrent & names
    assert {f"recurrent-surrogate-{name}" for name in SURROGATES} <= recurrent
    assert {f"recurrent-{r.value}-grad_svapm" for r in ResetMode} | {
        f"recurrent-t1-{r.value}" for r in ResetMode
    } <= recurrent
    assert {f"recurrent-subtract-grad_{g}" for g in "svapm"} <= recurrent
    assert not any("large" in n for n in recurrent) and "recurrent-large-32x784x256-float64" in {
        c.name for c in recurrent_grid("cuda")
    }


def test_every_built_in_surrogate_has_a_kernel_formula():
    from brain_ai.core.fused_triton import surrogate_supported

    assert all(surrogate_supported(cls()) for cls in SURROGATES.values())
    names = {c.name for c in case_grid("cpu")}
    assert {f"raw-{name}" for name in SURROGATES} <= names  # the published scale with other parameters


# ---- the backend switch (no kernel runs here) ----------------------------------------------------
def test_auto_picks_triton_on_cuda_fused_on_cpu_eager_when_unfusable():
    atan = get_surrogate("atan")
    assert resolve_backend("auto", torch.device("cpu"), atan, None) is Backend.fused
    assert resolve_backend("auto", torch.device("cuda"), atan, None) is Backend.triton
    assert resolve_backend(Backend.auto, "cuda:1", get_surrogate("superspike"), None) is Backend.triton
    assert (
        resolve_backend("auto", "cuda", CustomSurrogate(custom_grad), None) is Backend.fused
    )  # grad not in the kernel
    assert resolve_backend("auto", "cuda", atan, "no fused kernel") is Backend.eager
    for device in ("cpu", "cuda"):
        assert resolve_backend("eager", device, atan, None) is Backend.eager
        assert resolve_backend("fused", device, atan, None) is Backend.fused


def test_auto_without_triton_is_the_fused_loop_and_triton_is_an_error(monkeypatch):
    monkeypatch.setattr(backend_mod, "triton_kernels", lambda: None)
    assert resolve_backend("auto", "cuda", get_surrogate("atan"), None) is Backend.fused
    with pytest.raises(ConfigError, match="backend='triton' cannot run: triton is not importable"):
        resolve_backend("triton", "cuda", get_surrogate("atan"), None, owner="LIFNeuron.forward_sequence")


def test_triton_errors_name_the_reason():
    with pytest.raises(ConfigError, match="backend='triton' cannot run: .*CustomSurrogate"):
        resolve_backend("triton", "cuda", CustomSurrogate(custom_grad), None)
    with pytest.raises(ConfigError, match="tensors are on cpu.*TRITON_INTERPRET=1"):
        resolve_backend("triton", "cpu", get_surrogate("atan"), None)  # this process is not interpreted
    with pytest.raises(ConfigError, match="tensors are on cpu"):
        fused_lif_sequence(torch.rand(2, 3, 4), None, 0.9, 1.0, "subtract", get_surrogate("atan"), backend="triton")
    with pytest.raises(ConfigError, match="backend=.fused. cannot run: LIFNeuron has a synaptic current"):
        LIFNeuron(4, synaptic=True, backend="fused")  # refused when the layer is built
    with pytest.raises(ConfigError, match=r"backend='cuda' is not a valid choice; allowed: auto, eager, fused, triton"):
        resolve_backend("cuda", "cpu", get_surrogate("atan"), None)


def test_a_layer_without_triton_kernel_runs_the_fused_loop_on_cuda_and_refuses_triton():
    atan = get_surrogate("atan")
    reason = RecurrentLIFNeuron(2).backend_unsupported(Backend.triton)
    assert (
        LIFNeuron(2).backend_unsupported(Backend.triton) is None and "RecurrentLIFNeuron has no triton kernel" in reason
    )
    assert RecurrentAdaptiveLIFNeuron(2).backend_unsupported(Backend.triton) is None
    assert resolve_backend("auto", "cuda", atan, None, triton_reason=reason) is Backend.fused
    with pytest.raises(
        ConfigError,
        match=r"X.forward_sequence: backend='triton' cannot run: RecurrentLIFNeuron has no triton kernel \(its backends: eager\)",
    ):
        resolve_backend("triton", "cuda", atan, None, owner="X.forward_sequence", triton_reason=reason)


def test_auto_leaves_a_kernel_not_verified_on_a_gpu_to_the_fused_loop():
    atan = get_surrogate("atan")
    assert resolve_backend("auto", "cuda", atan, None, auto_triton=False) is Backend.fused
    assert resolve_backend("triton", "cuda", atan, None, auto_triton=False) is Backend.triton


def test_cpu_tensors_never_reach_the_kernels(monkeypatch):
    def boom(*args, **kwargs):  # noqa: ANN002,ANN003
        raise AssertionError("Triton kernel called for a CPU tensor")

    monkeypatch.setattr(triton_kernels(), "lif_forward", boom)
    x = torch.randn(2, 5, 3, requires_grad=True)
    s, v, _, _ = fused_lif_sequence(x, None, 0.9, 1.0, "subtract", get_surrogate("atan"))
    (s.sum() + v.sum()).backward()
    assert x.grad is not None


# (kernel, pointer dtypes by argument name (default: the state dtype), constexprs): variants that
# a CUDA run would compile, down to a cubin with the ptxas that ships with triton.
COMPILE_VARIANTS = [
    ("_lif_fwd_kernel", "fp32", {"x_ptr": "bf16", "s_ptr": "bf16"}, dict(RESET=0, ADAPTIVE=True, RECORD=True)),
    ("_lif_fwd_kernel", "fp64", {}, dict(RESET=1, ADAPTIVE=False, RECORD=False)),
    (
        "_lif_bwd_kernel",
        "fp32",
        {"gs_ptr": "fp16", "dx_ptr": "fp16"},
        dict(
            RESET=1,
            ADAPTIVE=True,
            SURROGATE=3,
            HAS_GS=True,
            HAS_GV=True,
            HAS_GA=True,
            HAS_GM=True,
            NEED_X=True,
            NEED_BETA=True,
            NEED_THR=True,
        ),
    ),
    (
        "_lif_bwd_kernel",
        "fp64",
        {},
        dict(
            RESET=0,
            ADAPTIVE=False,
            SURROGATE=7,
            HAS_GS=True,
            HAS_GV=False,
            HAS_GA=False,
            HAS_GM=False,
            NEED_X=True,
            NEED_BETA=False,
            NEED_THR=True,
        ),
    ),
    # the recurrent kernels at the pixel-wise S-MNIST width (N = 256 in BLOCK_N = 256)
    ("_rec_fwd_kernel", "fp32", {"x_ptr": "bf16"}, dict(RESET=0, RECORD=True, BLOCK_B=16, BLOCK_N=256, BLOCK_K=32)),
    (
        "_rec_bwd_kernel",
        "fp32",
        {"gs_ptr": "bf16"},
        dict(
            RESET=1,
            SURROGATE=1,
            HAS_GS=True,
            HAS_GV=True,
            HAS_GA=True,
            HAS_GP=True,
            HAS_GM=True,
            BLOCK_B=16,
            BLOCK_N=256,
            BLOCK_K=32,
        ),
    ),
    ("_rec_fwd_kernel", "fp64", {}, dict(RESET=1, RECORD=False, BLOCK_B=16, BLOCK_N=16, BLOCK_K=32)),
]


@pytest.mark.parametrize("kernel,state,ptr_dtypes,constexprs", COMPILE_VARIANTS)
def test_kernels_compile_for_a_gpu_without_one(kernel, state, ptr_dtypes, constexprs, monkeypatch, tmp_path):
    """Compile for sm_90 (H100) with ptxas: catches what the interpreter cannot (typing, lowering);
    the forward must contain no fused multiply-add (bit-identical to the eager ops)."""
    pytest.importorskip("triton.backends.nvidia")
    from triton import compile as triton_compile
    from triton.backends.compiler import GPUTarget
    from triton.compiler import ASTSource

    monkeypatch.setenv("TRITON_CACHE_DIR", str(tmp_path))
    recurrent = kernel.startswith("_rec_")
    fn = getattr(recurrent_triton_kernels() if recurrent else triton_kernels(), kernel)
    constexprs = constexprs if recurrent else dict(constexprs, BLOCK=128)
    signature = {
        name: "constexpr"
        if name in constexprs
        else "*" + ptr_dtypes.get(name, state)
        if name.endswith("_ptr")
        else "i64"
        if name[-2:] in ("_b", "_t", "_n")
        else "i32"
        for name in fn.arg_names
    }
    options = dict(
        num_warps=8 if recurrent else 4, enable_fp_fusion=kernel not in ("_lif_fwd_kernel", "_rec_fwd_kernel")
    )
    compiled = triton_compile(ASTSource(fn, signature, constexprs), target=GPUTarget("cuda", 90, 32), options=options)
    assert compiled.asm["cubin"]
    if kernel == "_lif_fwd_kernel":
        assert "fma." not in compiled.asm["ptx"]
