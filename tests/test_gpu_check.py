"""scripts/gpu_check.py without a GPU: its pieces on the CPU (the GPU run itself needs CUDA)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))
import gpu_check  # noqa: E402

from brain_ai.config import CODEC_PRESETS  # noqa: E402

SCRIPT = ROOT / "scripts" / "gpu_check.py"


def test_smoke_list_is_generated_from_the_configs_folder_and_the_presets(tmp_path):
    names = {s.name for s in gpu_check.smoke_runs("cuda")}
    snn = {f"snn={p.stem}" for p in (ROOT / "configs" / "snn").glob("*.yaml")}
    presets = {f"preset={name}" for name in CODEC_PRESETS}
    experiments = {f"experiment={name}" for name in gpu_check.EXPERIMENT_SMOKES}
    assert names == snn | presets | experiments | {"snn=conv 16-mixed", "snn=conv bf16-mixed"}
    assert {"experiment=smnist_row", "experiment=smnist_pixel"} <= names
    assert {"snn=mlp", "snn=conv", "preset=ttfs_classification"} <= names
    by_name = {s.name: s.overrides for s in gpu_check.smoke_runs("cuda")}
    assert by_name["snn=conv bf16-mixed"] == ["trainer=gpu", "snn=conv", "trainer.precision=bf16-mixed"]
    assert by_name["snn=lstm"] == ["trainer=gpu", "snn=lstm", "decoding=membrane", "loss=cross_entropy"]
    assert by_name["preset=regression"] == ["trainer=gpu", "preset=regression", "data=synthetic_regression"]
    # CPU: trainer=cpu and no fp16 autocast run
    cpu = {s.name: s.overrides for s in gpu_check.smoke_runs("cpu")}
    assert "snn=conv 16-mixed" not in cpu and cpu["snn=mlp"] == ["trainer=cpu", "snn=mlp"]
    # a new snn option in configs/ is a new smoke
    (tmp_path / "snn").mkdir()
    (tmp_path / "snn" / "spiky.yaml").write_text("{}\n")
    assert [s.name for s in gpu_check.smoke_runs("cuda", tmp_path)][:2] == [
        "snn=spiky",
        f"preset={sorted(CODEC_PRESETS)[0]}",
    ]


def test_parse_metrics_reads_the_final_table():
    out = "noise\nfinal metrics (train)\n-------\ntest/acc   0.875\ntrain/loss   1.5e-01\n[log] done\n"
    assert gpu_check.parse_metrics(out) == {"test/acc": 0.875, "train/loss": 0.15}
    assert gpu_check.parse_metrics("crashed") == {}


def test_report_and_exit_status():
    env = {"device": "cuda", "gpu": "H200", "python": "3.12", "torch": "2.11", "triton": "3.6", "commit": "abc"}
    kernels = {"grid-a": "ok", "grid-b": "Traceback\nAssertionError: spikes differ", "grid-c": "ok"}
    smokes = [
        gpu_check.Smoke("snn=mlp", ["trainer=gpu", "snn=mlp"], "ok", 12.0, {"test/acc": 0.9}),
        gpu_check.Smoke("snn=conv", ["trainer=gpu", "snn=conv"], "FAIL", 3.0, {}, "TypeError: boom"),
    ]
    report = gpu_check.render(env, kernels, smokes, "# brain_ai benchmarks\n\n## LIF layer alone\n| a |", 61.0)
    assert "**2 / 3 cases ok**" in report and "- FAIL `grid-b`: AssertionError: spikes differ" in report
    assert "| snn=mlp | `trainer=gpu snn=mlp` | ok | 12 | test/acc 0.9 |" in report
    assert "| snn=conv | `trainer=gpu snn=conv` | FAIL: TypeError: boom | 3 | - |" in report
    assert "### LIF layer alone" in report  # the benchmark report nests under its own section
    assert gpu_check.failed(kernels, None) and gpu_check.failed(None, smokes)
    assert not gpu_check.failed({"grid-a": "ok"}, smokes[:1]) and gpu_check.failed({}, None)
    assert "## Training smokes" not in gpu_check.render(env, kernels, None, None, 1.0)
    tests = "exit 1: 1 failed, 3 passed in 2.0s\nFAILED tests/core/test_x.py::test_y - AssertionError"
    report = gpu_check.render(env, None, None, None, 1.0, tests)
    assert "## Tests marked gpu" in report and "FAILED tests/core/test_x.py::test_y" in report
    assert gpu_check.failed(None, None, tests) and not gpu_check.failed(None, None, "exit 0: 4 passed in 2.0s")


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the no-GPU exit")
def test_without_cuda_it_says_so_and_exits_3(tmp_path):
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), "--out", str(tmp_path / "r.md")],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
    )
    assert proc.returncode == gpu_check.EXIT_NO_CUDA == 3
    assert "no CUDA GPU" in proc.stderr and not (tmp_path / "r.md").exists()


def test_cpu_mode_runs_kernel_cases_under_the_interpreter_and_writes_the_report(tmp_path):
    pytest.importorskip("triton")
    out = tmp_path / "nested" / "gpu_check.md"
    cmd = [
        sys.executable,
        str(SCRIPT),
        "--device",
        "cpu",
        "--parts",
        "kernels",
        "--kernel-prefix",
        "grid-rank3-lif-subtract",
        "--jobs",
        "1",
        "--out",
        str(out),
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, timeout=240)
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = out.read_text()
    assert "**7 / 7 cases ok**" in report and "- device: cpu" in report  # 7 gradient subsets of (s, v, m)


@pytest.mark.slow
def test_cpu_mode_training_smoke(tmp_path):
    out = tmp_path / "gpu_check.md"
    cmd = [
        sys.executable,
        str(SCRIPT),
        "--device",
        "cpu",
        "--parts",
        "smoke",
        "--smoke-filter",
        "snn=mlp",
        "--out",
        str(out),
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, timeout=400)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "| snn=mlp | `trainer=cpu snn=mlp` | ok |" in out.read_text()


def test_recurrent_kernel_section_and_its_exit_status():
    env = {"device": "cuda", "gpu": "H100", "python": "3.12", "torch": "2.11", "triton": "3.6", "commit": "abc"}
    ok = "exit 0\n| SNN, backend=triton | 3.10 | 1.90x |\n- gradient check (...): ok"
    report = gpu_check.render(env, None, None, None, 1.0, None, ok)
    assert "## Recurrent adaptive LIF: Triton kernel, fused loop, LSTM (benchmarks/recurrent_gpu.py, exit 0)" in report
    assert "| SNN, backend=triton | 3.10 | 1.90x |" in report and not gpu_check.failed(None, None, None, ok)
    assert gpu_check.failed(None, None, None, "exit 1\n- gradient check (...): FAIL")
    assert "## Recurrent adaptive LIF" not in gpu_check.render(env, None, None, None, 1.0)


@pytest.mark.slow
def test_cpu_mode_times_the_recurrent_kernel_under_the_interpreter(tmp_path):
    pytest.importorskip("triton")
    out = tmp_path / "gpu_check.md"
    cmd = [sys.executable, str(SCRIPT), "--device", "cpu", "--parts", "recurrent", "--out", str(out)]
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = out.read_text()
    assert "benchmarks/recurrent_gpu.py, exit 0)" in report and "| SNN, backend=triton |" in report
    assert "gradient check (triton vs fused, 16x6x32 fp32): ok; 0 of 3072 spikes differ" in report
