"""Triton fused-LIF path: dispatch rules here, kernel correctness under the Triton interpreter.

No GPU is needed: ``triton_interpreter_cases.py`` runs the kernels on CPU tensors with
``TRITON_INTERPRET=1`` in a subprocess (the variable must be set before triton is imported,
and this process may have imported triton already) and reports every case as JSON.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import brain_ai.core.fused as fused
from brain_ai.core.surrogates import SURROGATES, CustomSurrogate, get_surrogate

pytest.importorskip("triton")

CASES_SCRIPT = Path(__file__).with_name("triton_interpreter_cases.py")
CASE_GROUPS = ["surrogate-", "raw-", "dtype-float32-", "dtype-float64-", "dtype-bfloat16-", "dtype-float16-", "conv-", "blocks-", "loss-", "time-major-view", "one-step", "per-neuron-threshold-"]


def custom_grad(x, alpha):  # noqa: ANN001
    return torch.ones_like(x) * alpha


@pytest.fixture(scope="module")
def interpreter_results():
    env = dict(os.environ, TRITON_INTERPRET="1")
    proc = subprocess.run(
        [sys.executable, str(CASES_SCRIPT)], capture_output=True, text=True, timeout=240, env=env,
        cwd=CASES_SCRIPT.parents[2],
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-4000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("group", CASE_GROUPS)
def test_triton_kernels_match_eager_under_interpreter(interpreter_results, group):
    cases = {k: v for k, v in interpreter_results["cases"].items() if k.startswith(group)}
    assert cases, f"no interpreter case starts with {group!r}"
    failed = {k: v for k, v in cases.items() if v != "ok"}
    assert not failed, "\n".join(f"{k}:\n{v}" for k, v in list(failed.items())[:3]) + f"\n({len(failed)}/{len(cases)} failed)"


def test_interpreter_covers_every_surrogate_and_ran_the_kernels(interpreter_results):
    for group in ("surrogate-", "raw-"):
        names = {k.split("-")[1] for k in interpreter_results["cases"] if k.startswith(group)}
        assert names == set(SURROGATES)
    n = len(interpreter_results["cases"])
    # every case runs the kernels once forward and once backward
    assert interpreter_results["triton_calls"] == {"forward": n, "backward": n}


def test_every_built_in_surrogate_has_a_kernel_formula():
    from brain_ai.core.fused_triton import surrogate_supported

    assert all(surrogate_supported(cls()) for cls in SURROGATES.values())


def test_dispatch_eager_on_cpu_triton_on_cuda(monkeypatch):
    atan = get_surrogate("atan")
    assert not fused.use_triton(torch.device("cpu"), atan)  # CPU default: the PyTorch loop
    assert fused.use_triton(torch.device("cuda"), atan)
    assert fused.use_triton("cuda:1", get_surrogate("superspike"))
    assert not fused.use_triton(torch.device("cuda"), CustomSurrogate(custom_grad))  # grad not in the kernel
    monkeypatch.setattr(fused, "USE_TRITON", False)
    assert not fused.use_triton(torch.device("cuda"), atan)


def test_dispatch_falls_back_without_triton(monkeypatch):
    monkeypatch.setattr(fused, "_triton_kernels", lambda: None)
    assert not fused.use_triton(torch.device("cuda"), get_surrogate("atan"))


def test_switch_from_environment():
    code = (
        "import torch, brain_ai.core.fused as f; from brain_ai.core.surrogates import ATan; "
        "print(f.USE_TRITON, f.use_triton(torch.device('cuda'), ATan()))"
    )
    for value, expected in (("0", "False False"), ("1", "True True")):
        out = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
            env=dict(os.environ, BRAIN_AI_TRITON=value), cwd=CASES_SCRIPT.parents[2],
        )  # fmt: skip
        assert out.stdout.split() == expected.split(), out.stderr[-2000:]


def test_cpu_tensors_never_reach_the_kernels(monkeypatch):
    def boom(*args, **kwargs):  # noqa: ANN002,ANN003
        raise AssertionError("Triton kernel called for a CPU tensor")

    kernels = fused._triton_kernels()
    monkeypatch.setattr(kernels, "lif_forward", boom)
    x = torch.randn(2, 5, 3, requires_grad=True)
    s, v, _, _ = fused.fused_lif_sequence(x, None, 0.9, 1.0, "subtract", get_surrogate("atan"))
    (s.sum() + v.sum()).backward()
    assert x.grad is not None


# (kernel, pointer dtypes by argument name (default: the state dtype), constexprs): variants that
# a CUDA run would compile, down to a cubin with the ptxas that ships with triton.
COMPILE_VARIANTS = [
    ("_lif_fwd_kernel", "fp32", {"x_ptr": "bf16", "s_ptr": "bf16"}, dict(RESET=0, ADAPTIVE=True, RECORD=True)),
    ("_lif_fwd_kernel", "fp64", {}, dict(RESET=1, ADAPTIVE=False, RECORD=False)),
    ("_lif_bwd_kernel", "fp32", {"gs_ptr": "fp16", "dx_ptr": "fp16"}, dict(
        RESET=1, ADAPTIVE=True, SURROGATE=3, HAS_GS=True, HAS_GV=True, HAS_GA=True, HAS_GM=True, NEED_X=True,
        NEED_BETA=True, NEED_THR=True)),
    ("_lif_bwd_kernel", "fp64", {}, dict(
        RESET=0, ADAPTIVE=False, SURROGATE=7, HAS_GS=True, HAS_GV=False, HAS_GA=False, HAS_GM=False, NEED_X=True,
        NEED_BETA=False, NEED_THR=True)),
]  # fmt: skip


@pytest.mark.parametrize("kernel,state,ptr_dtypes,constexprs", COMPILE_VARIANTS)
def test_kernels_compile_for_a_gpu_without_one(kernel, state, ptr_dtypes, constexprs, monkeypatch, tmp_path):
    """Compile for sm_90 (H100) with ptxas: catches what the interpreter cannot (typing, lowering);
    the forward must contain no fused multiply-add (bit-identical to the eager ops)."""
    pytest.importorskip("triton.backends.nvidia")
    from triton import compile as triton_compile
    from triton.backends.compiler import GPUTarget
    from triton.compiler import ASTSource

    monkeypatch.setenv("TRITON_CACHE_DIR", str(tmp_path))
    fn = getattr(fused._triton_kernels(), kernel)
    constexprs = dict(constexprs, BLOCK=128)
    signature = {
        name: "constexpr" if name in constexprs
        else "*" + ptr_dtypes.get(name, state) if name.endswith("_ptr")
        else "i64" if name[-2:] in ("_b", "_t") else "i32"
        for name in fn.arg_names
    }  # fmt: skip
    options = dict(num_warps=4, enable_fp_fusion=kernel != "_lif_fwd_kernel")
    compiled = triton_compile(ASTSource(fn, signature, constexprs), target=GPUTarget("cuda", 90, 32), options=options)
    assert compiled.asm["cubin"]
    if kernel == "_lif_fwd_kernel":
        assert "fma." not in compiled.asm["ptx"]
