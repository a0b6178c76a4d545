"""One-command GPU check: kernel case grid, training smokes, kernel benchmarks -> one markdown report.

    python scripts/gpu_check.py [--out benchmarks/results/gpu_check.md]

On a CUDA machine it runs (on an H200 with ``--jobs 12``: parts 1-3 in about 1 minute, part 4 about 6):

1. the Triton-vs-eager kernel case grid (``brain_ai.tools.kernel_cases``) on CUDA, in parallel
   shards (each kernel variant compiles once per process);
2. a short ``train.py trainer=gpu`` smoke (1 epoch, a few batches) of every ``configs/snn/*.yaml``
   and every ``preset`` (``brain_ai.config.CODEC_PRESETS``), plus ``snn=conv`` in 16-mixed
   (trainer=gpu's precision) and bf16-mixed, and the sequential-MNIST experiments
   (:data:`EXPERIMENT_SMOKES`: the recurrent adaptive LIF's fused PyTorch loop on CUDA); the list
   is generated from the configs/ folder and the presets;
3. the tests marked ``gpu`` other than the kernel grid (``pytest -m gpu``: the recurrent adaptive
   LIF's fused Function against the generic path on CUDA);
4. the recurrent adaptive LIF's persistent Triton kernel timed against its fused PyTorch loop and
   cuDNN's LSTM at the pixel-wise S-MNIST shape (B = 32, T = 784, N = 256, fwd + bwd), with its
   gradients checked against the fused loop at that shape (``benchmarks/recurrent_gpu.py``);
5. the Open Neuromorphic workload and the LIF-alone kernel benchmark of ``benchmarks/`` (workloads
   ON and LIF: B=32, T=500, n = 4096 / 16384, fp32 / bf16, fwd + bwd) for the ANN floor, brain_ai
   and SpikingJelly (reported as skipped when it is not installed).

It writes one markdown report and exits 0 when every kernel case, training smoke, ``gpu``
test and the recurrent kernel's gradient check passed, 1 when one failed, 3 when there is no CUDA GPU (``--device cpu`` runs the same pieces on
the CPU instead: the kernels under the Triton interpreter, ``trainer=cpu`` smokes without the
16-mixed one, quick-size benchmarks; for testing this script). ``--parts`` picks pieces
(``kernels,smoke,tests,recurrent,bench``), ``--kernel-prefix`` / ``--smoke-filter`` subsets.

It needs nothing beyond the project's dependencies (SpikingJelly optional). On the H200
machine of /work/shared/notes/gpu.md (Python 3.12, torch, triton, lightning; no hydra-core,
omegaconf, antlr4, mlxtend, nir and no package index), bring the pure-Python wheels along and run::

    SITE=$(mktemp -d)
    pip install --no-index --no-deps --target "$SITE" wheels/*.whl   # hydra-core omegaconf antlr4 mlxtend nir (+ spikingjelly loguru)
    PYTHONPATH="$PWD:$SITE" python scripts/gpu_check.py
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Sequence

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUT = ROOT / "benchmarks" / "results" / "gpu_check.md"
EXIT_FAILED, EXIT_NO_CUDA = 1, 3
#: presets whose decoder needs regression targets train on the regression data set
PRESET_DATA = {"regression": "data=synthetic_regression"}
#: a smoke is one epoch of a few batches
SMOKE_ARGS = [
    "trainer.max_epochs=1",
    "+trainer.limit_train_batches=8",
    "+trainer.limit_val_batches=2",
    "+trainer.limit_test_batches=2",
    "trainer.enable_progress_bar=false",
    "+trainer.enable_model_summary=false",
    "logger=csv",
]
#: a non-spiking baseline (lstm, gru) is read like a membrane, without activity regularisers
NON_SPIKING_READOUT = ["decoding=membrane", "loss=cross_entropy"]
#: experiments on the embedded data that run a path no snn option reaches (T = 28 and T = 784)
EXPERIMENT_SMOKES = ("smnist_row", "smnist_pixel")
#: the kernel grid runs as its own part (in shards); the other gpu-marked tests run under pytest
GPU_TESTS = ["-m", "gpu", "tests", "--ignore=tests/core/test_gpu_kernels.py"]
BENCH_LIBS = "ann,brain_ai,spikingjelly"
PARTS = ("kernels", "smoke", "tests", "recurrent", "bench")
KERNEL_SHARDS = 8
JOB_TIMEOUT_S = 420


@dataclass
class Smoke:
    """One ``train.py`` run: a name for the report and its Hydra overrides."""

    name: str
    overrides: List[str]
    status: str = "not run"
    wall_s: float = 0.0
    metrics: Dict[str, float] = field(default_factory=dict)
    error: str = ""


def smoke_runs(device: str, configs: Path = ROOT / "configs") -> List[Smoke]:
    """Every ``snn`` option of ``configs/`` (the non-spiking ones with :data:`NON_SPIKING_READOUT`)
    and every preset, conv in 16-mixed and bf16-mixed, and the :data:`EXPERIMENT_SMOKES`.

    ``device`` "cuda" uses ``trainer=gpu`` (16-mixed); "cpu" uses ``trainer=cpu`` and has no
    16-mixed run (Lightning's CPU accelerator has no fp16 autocast).
    """
    from omegaconf import OmegaConf

    from brain_ai.config import CODEC_PRESETS, NON_SPIKING_ARCHITECTURES

    trainer = "trainer=gpu" if device == "cuda" else "trainer=cpu"
    non_spiking = {a.value for a in NON_SPIKING_ARCHITECTURES}
    runs = []
    for p in sorted((configs / "snn").glob("*.yaml")):
        baseline = OmegaConf.load(p).get("architecture") in non_spiking
        runs.append(Smoke(f"snn={p.stem}", [trainer, f"snn={p.stem}", *(NON_SPIKING_READOUT if baseline else [])]))

    for name in sorted(CODEC_PRESETS):
        runs.append(
            Smoke(f"preset={name}", [trainer, f"preset={name}", *([PRESET_DATA[name]] if name in PRESET_DATA else [])])
        )
    precisions = ["16-mixed", "bf16-mixed"] if device == "cuda" else ["bf16-mixed"]
    runs += [Smoke(f"snn=conv {p}", [trainer, "snn=conv", f"trainer.precision={p}"]) for p in precisions]
    runs += [Smoke(f"experiment={name}", [trainer, f"experiment={name}"]) for name in EXPERIMENT_SMOKES]
    return runs


def parse_metrics(stdout: str) -> Dict[str, float]:
    """The ``final metrics`` table that ``train.py`` prints, as ``{name: value}``."""
    metrics: Dict[str, float] = {}
    lines = stdout.splitlines()
    starts = [i for i, line in enumerate(lines) if line.startswith("final metrics")]
    for line in lines[starts[-1] + 2 :] if starts else []:
        m = re.fullmatch(r"(\S+)\s+(\S+)", line.strip())
        if not m:
            break
        try:
            metrics[m.group(1)] = float(m.group(2))
        except ValueError:
            break
    return metrics


def _run(cmd: Sequence[str], timeout: float) -> subprocess.CompletedProcess:
    """``cmd`` in the checkout, with the checkout first on PYTHONPATH (the benchmark workers run elsewhere)."""
    path = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p)
    try:
        return subprocess.run(
            list(cmd), capture_output=True, text=True, cwd=ROOT, timeout=timeout, env={**os.environ, "PYTHONPATH": path}
        )
    except subprocess.TimeoutExpired as err:
        return subprocess.CompletedProcess(cmd, 124, err.stdout or "", f"timed out after {timeout:.0f} s")


def run_smoke(smoke: Smoke, workdir: Path) -> Smoke:
    run_dir = workdir / re.sub(r"[^A-Za-z0-9_.-]+", "_", smoke.name)
    cmd = [sys.executable, "train.py", *smoke.overrides, *SMOKE_ARGS, f"hydra.run.dir={run_dir}"]
    t0 = time.perf_counter()
    proc = _run(cmd, JOB_TIMEOUT_S)
    smoke.wall_s = time.perf_counter() - t0
    smoke.metrics = parse_metrics(proc.stdout if isinstance(proc.stdout, str) else "")
    smoke.status = "ok" if proc.returncode == 0 else "FAIL"
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout or "").strip().splitlines()[-1:] or [f"exit {proc.returncode}"]
        smoke.error = tail[0][:300]
    return smoke


def run_kernel_shard(device: str, prefix: str, shard: int, shards: int) -> Dict[str, str]:
    """One subprocess of ``brain_ai.tools.kernel_cases`` (the interpreter is set there for cpu)."""
    cmd = [
        sys.executable,
        "-m",
        "brain_ai.tools.kernel_cases",
        "--device",
        device,
        "--json",
        "--prefix",
        prefix,
        "--shard",
        f"{shard}/{shards}",
    ]
    proc = _run(cmd, JOB_TIMEOUT_S)
    lines = (proc.stdout or "").strip().splitlines()
    if proc.returncode in (0, 1) and lines:
        return json.loads(lines[-1])
    return {f"shard {shard}/{shards}": f"kernel_cases exited {proc.returncode}: {(proc.stderr or '').strip()[-1500:]}"}


def run_gpu_tests() -> str:
    """The pytest summary line of the gpu-marked tests (:data:`GPU_TESTS`), with failures' names."""
    proc = _run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *GPU_TESTS], JOB_TIMEOUT_S)
    lines = [line for line in (proc.stdout or "").splitlines() if line.startswith(("FAILED", "ERROR"))]
    summary = (proc.stdout or proc.stderr or "").strip().splitlines()[-1:] or [f"exit {proc.returncode}"]
    return "\n".join([f"exit {proc.returncode}: {summary[0]}", *lines])


def run_recurrent(device: str) -> str:
    """``benchmarks/recurrent_gpu.py``'s markdown (quick, under the interpreter, for cpu), headed by its exit status."""
    cmd = [sys.executable, "benchmarks/recurrent_gpu.py", "--device", device, *(["--quick"] if device == "cpu" else [])]
    proc = _run(cmd, JOB_TIMEOUT_S)
    body = (proc.stdout or "").strip() or (proc.stderr or "").strip()[-1500:]
    return f"exit {proc.returncode}\n{body}"


def run_bench(device: str, out_dir: Path) -> Optional[str]:
    """ON + LIF workloads through benchmarks/run_benchmarks.py; the markdown it wrote (None if none)."""
    cmd = [
        sys.executable,
        "benchmarks/run_benchmarks.py",
        "--workloads",
        "ON,LIF",
        "--libs",
        BENCH_LIBS,
        "--out",
        str(out_dir),
    ]
    if device == "cpu":
        cmd += ["--quick", "--on-device", "cpu", "--threads", "1"]
    proc = _run(cmd, 2 * JOB_TIMEOUT_S)
    written = sorted(out_dir.glob("*.md"))
    if written:
        return written[0].read_text()
    return f"benchmark run failed (exit {proc.returncode}): {(proc.stderr or '').strip()[-800:]}"


def environment(device: str) -> Dict[str, str]:
    import torch

    info = {"python": platform.python_version(), "torch": torch.__version__, "device": device}
    info["gpu"] = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "none"
    try:
        import triton

        info["triton"] = triton.__version__
    except ImportError:
        info["triton"] = "not installed"
    commit = _run(["git", "rev-parse", "--short", "HEAD"], 10)
    info["commit"] = commit.stdout.strip() if commit.returncode == 0 else "?"
    return info


def render(
    env: Dict[str, str],
    kernels: Optional[Dict[str, str]],
    smokes: Optional[List[Smoke]],
    bench: Optional[str],
    wall_s: float,
    tests: Optional[str] = None,
    recurrent: Optional[str] = None,
) -> str:
    """The markdown report; ``None`` for a part that did not run."""
    lines = [
        "# brain_ai GPU check",
        "",
        f"- date: {datetime.datetime.now().isoformat(timespec='seconds')}; wall time {wall_s:.0f} s; commit {env.get('commit', '?')}",
        f"- device: {env['device']} ({env['gpu']}); Python {env['python']}, torch {env['torch']}, triton {env['triton']}",
        "",
    ]
    if kernels is not None:
        failed = {k: v for k, v in kernels.items() if v != "ok"}
        lines += [
            "## Triton kernels vs the eager fused loop (brain_ai.tools.kernel_cases)",
            "",
            f"**{len(kernels) - len(failed)} / {len(kernels)} cases ok**" + (" (none ran)" if not kernels else ""),
            "",
        ]
        for name, err in failed.items():
            last = err.strip().splitlines()[-1] if err.strip() else "?"
            lines.append(f"- FAIL `{name}`: {last[:300]}")
        lines.append("")
    if smokes is not None:
        lines += [
            "## Training smokes (train.py, 1 epoch of a few batches)",
            "",
            "| run | overrides | status | wall s | test metric |",
            "|---|---|---|---|---|",
        ]
        for s in smokes:
            metric = next((f"{k} {v:.4g}" for k, v in s.metrics.items() if k in ("test/acc", "test/mse")), "-")
            status = s.status if s.status != "FAIL" else f"FAIL: {s.error}"
            lines.append(f"| {s.name} | `{' '.join(s.overrides)}` | {status} | {s.wall_s:.0f} | {metric} |")
        lines.append("")
    if tests is not None:
        lines += [f"## Tests marked gpu (pytest {' '.join(GPU_TESTS)})", "", "```", tests, "```", ""]
    if recurrent is not None:
        status, _, body = recurrent.partition("\n")
        lines += [
            f"## Recurrent adaptive LIF: Triton kernel, fused loop, LSTM (benchmarks/recurrent_gpu.py, {status})",
            "",
            body,
            "",
        ]
    if bench is not None:
        lines += ["## Kernel benchmarks (benchmarks/run_benchmarks.py --workloads ON,LIF)", ""]
        lines += [("#" + line if line.startswith("#") else line) for line in bench.strip().splitlines()]
        lines.append("")
    return "\n".join(lines)


def failed(
    kernels: Optional[Dict[str, str]],
    smokes: Optional[List[Smoke]],
    tests: Optional[str] = None,
    recurrent: Optional[str] = None,
) -> bool:
    bad_kernels = kernels is not None and (not kernels or any(v != "ok" for v in kernels.values()))
    bad_tests = tests is not None and not tests.startswith("exit 0:")
    bad_recurrent = recurrent is not None and not recurrent.startswith("exit 0\n")
    return bad_kernels or bad_tests or bad_recurrent or (smokes is not None and any(s.status != "ok" for s in smokes))


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument(
        "--out", type=Path, default=DEFAULT_OUT, help=f"markdown report (default {DEFAULT_OUT.relative_to(ROOT)})"
    )
    p.add_argument("--device", default="cuda", choices=("cuda", "cpu"), help="cpu: test this script without a GPU")
    p.add_argument("--parts", default=",".join(PARTS), help=f"comma list from {','.join(PARTS)}")
    p.add_argument("--kernel-prefix", default="", help="only kernel cases whose name starts with this")
    p.add_argument("--smoke-filter", default="", help="only training smokes whose name contains this")
    p.add_argument(
        "--jobs", type=int, default=KERNEL_SHARDS, help=f"parallel kernel shards and smokes (default {KERNEL_SHARDS})"
    )
    args = p.parse_args(argv)
    args.parts = {x.strip() for x in args.parts.split(",") if x.strip()}
    unknown = args.parts - set(PARTS)
    if unknown or not args.parts:
        p.error(f"--parts={','.join(sorted(args.parts))}: unknown {sorted(unknown)}; allowed: {','.join(PARTS)}")
    if args.jobs < 1:
        p.error(f"--jobs={args.jobs} must be >= 1")
    return args


def main(argv: Optional[List[str]] = None) -> int:
    args = parse_args(argv)
    import torch

    if args.device == "cuda" and not torch.cuda.is_available():
        print(
            "gpu_check: no CUDA GPU here (torch.cuda.is_available() is False); nothing was run. "
            "Use --device cpu to exercise the script on the CPU.",
            file=sys.stderr,
        )
        return EXIT_NO_CUDA
    started = time.perf_counter()
    env = environment(args.device)
    kernels: Optional[Dict[str, str]] = None
    smokes: Optional[List[Smoke]] = None
    tests: Optional[str] = None
    recurrent: Optional[str] = None
    bench: Optional[str] = None
    args.out.parent.mkdir(parents=True, exist_ok=True)

    def write() -> None:
        """The report of the parts finished so far (a run stopped from outside keeps them)."""
        args.out.write_text(render(env, kernels, smokes, bench, time.perf_counter() - started, tests, recurrent) + "\n")

    with tempfile.TemporaryDirectory(prefix="gpu_check_") as tmp, ThreadPoolExecutor(args.jobs) as pool:
        shard_jobs = []
        if "kernels" in args.parts:
            shard_jobs = [
                pool.submit(run_kernel_shard, args.device, args.kernel_prefix, i, args.jobs) for i in range(args.jobs)
            ]
        smoke_jobs = []
        if "smoke" in args.parts:
            chosen = [s for s in smoke_runs(args.device) if args.smoke_filter in s.name]
            smoke_jobs = [pool.submit(run_smoke, s, Path(tmp)) for s in chosen]
        if shard_jobs:
            kernels = {}
            for job in shard_jobs:
                kernels.update(job.result())
            print(f"kernels: {sum(v == 'ok' for v in kernels.values())}/{len(kernels)} ok", file=sys.stderr)
            write()
        if "smoke" in args.parts:
            smokes = [job.result() for job in smoke_jobs]
            print(f"smokes: {sum(s.status == 'ok' for s in smokes)}/{len(smokes)} ok", file=sys.stderr)
            write()
        if "tests" in args.parts:
            tests = run_gpu_tests()
            print(f"gpu tests: {tests.splitlines()[0]}", file=sys.stderr)
            write()
        # timings last, alone on the machine
        if "recurrent" in args.parts:
            recurrent = run_recurrent(args.device)
            print(f"recurrent kernel: {recurrent.splitlines()[0]}", file=sys.stderr)
            write()
        bench = run_bench(args.device, Path(tmp) / "bench") if "bench" in args.parts else None
    write()
    print(f"gpu_check: wrote {args.out}", file=sys.stderr)
    return EXIT_FAILED if failed(kernels, smokes, tests, recurrent) else 0


if __name__ == "__main__":
    sys.exit(main())
