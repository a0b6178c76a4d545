"""Benchmark brain_ai against snnTorch, SpikingJelly, Norse, Sinabs and the ANN floor.

Every (entry, workload) runs in a fresh subprocess of the interpreter that runs this script
(``sys.executable``), so running it with the bench virtualenv's python measures every library
under the same torch. Before timing, each LIF entry is checked against a numpy reference LIF
(spikes and input gradient); entries that fail the moderate regime are not timed (``--force``
times them anyway), entries that fail only the strong regime are timed and labelled.

    python benchmarks/run_benchmarks.py                       # full run (< 6 min on 2 cores; ON and LIF need CUDA)
    python benchmarks/run_benchmarks.py --check               # dynamics check only
    python benchmarks/run_benchmarks.py --quick --libs ann,brain_ai --workloads W1,W2

Writes ``<out>/bench.json`` and ``<out>/bench.md`` (``check.*`` with --check, ``quick.*`` with
--quick) and prints the markdown to stdout. See benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path
from typing import Dict, List, Optional

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from entries import ENTRIES  # noqa: E402
from report import check_verdict, is_noisy, render  # noqa: E402
from workloads import CUDA_WORKLOADS, FULL_SIZES, QUICK_SIZES, variants  # noqa: E402

ALL_WORKLOADS = ("W1", "W2", "W3", "ON", "LIF")
WORKER_TIMEOUT_S = 300


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--workloads", default=",".join(ALL_WORKLOADS), help=f"comma list from {','.join(ALL_WORKLOADS)}")
    default_libs = ",".join(name for name, e in ENTRIES.items() if e.default)
    p.add_argument("--libs", default=default_libs, help=f"comma list from {','.join(ENTRIES)} (default {default_libs})")
    p.add_argument("--iters", type=int, default=10, help="minimum timed iterations per measurement (default 10)")
    p.add_argument("--warmup", type=int, default=3, help="untimed warm-up iterations (default 3)")
    p.add_argument(
        "--min-time", type=float, default=None, help="minimum timed seconds per measurement (default 1, quick 0)"
    )
    p.add_argument(
        "--threads", type=int, default=len(os.sched_getaffinity(0)), help="torch.set_num_threads in every worker"
    )
    p.add_argument("--retries", type=int, default=1, help="re-runs of a measurement whose calibration kernel was slow")
    p.add_argument("--quick", action="store_true", help="tiny sizes, 1 warm-up, 3 iterations, no re-runs: a smoke run")
    p.add_argument("--check", action="store_true", help="only run the dynamics check of every entry")
    p.add_argument("--no-check", action="store_true", help="time without the dynamics check first")
    p.add_argument("--force", action="store_true", help="also time entries that fail the moderate-regime check")
    p.add_argument(
        "--on-device",
        default="cuda",
        help="device of the ON and LIF workloads (default cuda; 'cpu' only to test the code path)",
    )
    p.add_argument("--out", type=Path, default=HERE / "results", help="directory for the JSON and markdown results")
    args = p.parse_args(argv)
    args.workloads = _split(args.workloads, ALL_WORKLOADS, "--workloads")
    args.libs = _split(args.libs, tuple(ENTRIES), "--libs")
    for name in ("iters", "threads"):
        if getattr(args, name) < 1:
            p.error(f"--{name}={getattr(args, name)} must be >= 1")
    if args.quick:
        args.warmup, args.iters, args.retries = min(args.warmup, 1), min(args.iters, 3), 0
    if args.min_time is None:
        args.min_time = 0.0 if args.quick else 1.0
    return args


def _split(value: str, allowed: tuple, flag: str) -> List[str]:
    items = [v.strip() for v in value.split(",") if v.strip()]
    bad = [v for v in items if v not in allowed]
    if bad or not items:
        raise SystemExit(f"{flag}={value!r}: unknown {bad}; allowed: {','.join(allowed)}")
    return items


def machine_info() -> dict:
    """CPU, memory and Python facts; torch/GPU facts are added from the first worker's report."""
    cpu_model = "unknown"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu_model = line.split(":", 1)[1].strip()
                break
    with open("/proc/meminfo") as f:
        mem_kib = int(f.readline().split()[1])
    return {
        "cpu_model": cpu_model,
        "loadavg_start": _loadavg(),
        "cpu_count": os.cpu_count(),
        "cores_available": len(os.sched_getaffinity(0)),
        "mem_total_gib": mem_kib / 2**20,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "torch": "?",
        "gpu": "?",
    }


def _loadavg() -> str:
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


def run_worker(spec: dict) -> dict:
    """Run worker.py in a fresh process of this interpreter; its RESULT line as a dict."""
    env = {**os.environ, "OMP_NUM_THREADS": str(spec["threads"]), "MKL_NUM_THREADS": str(spec["threads"])}
    cmd = [sys.executable, str(HERE / "worker.py"), json.dumps(spec)]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=HERE, timeout=WORKER_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        return {"status": "error", "reason": f"worker timed out after {WORKER_TIMEOUT_S} s"}
    for line in proc.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[len("RESULT ") :])
    tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
    return {"status": "error", "reason": f"worker exit {proc.returncode}: {' | '.join(tail)}"}


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def run_checks(args: argparse.Namespace) -> Dict[str, dict]:
    checks = {}
    for name in args.libs:
        if ENTRIES[name].build is None:
            continue
        checks[name] = run_worker({"mode": "check", "entry": name, "threads": args.threads})
        log(f"check {name}: {check_verdict(checks[name])}")
    return checks


def measure(args: argparse.Namespace, spec: dict, best: List[float]) -> dict:
    """One measurement; re-run (up to --retries) while its calibration shows a slow machine."""
    result = run_worker(spec)
    for _ in range(args.retries):
        if result.get("status") != "ok":
            break
        best[0] = min(best[0], *result["calib_ms"])
        if not is_noisy(result, best[0]):
            break
        log(f"  noisy (calibration {max(result['calib_ms']):.2f} ms vs best {best[0]:.2f} ms): re-running")
        again = run_worker(spec)
        if again.get("status") == "ok" and max(again["calib_ms"]) < max(result["calib_ms"]):
            result = again
    if result.get("status") == "ok":
        best[0] = min(best[0], *result["calib_ms"])
    return result


def timed_runs(args: argparse.Namespace, sizes: dict, refused: Dict[str, dict]) -> Dict[str, dict]:
    results: Dict[str, dict] = {}
    best = [float("inf")]
    base = {
        "mode": "time",
        "threads": args.threads,
        "warmup": args.warmup,
        "iters": args.iters,
        "min_time": args.min_time,
    }
    for workload in args.workloads:
        if workload in CUDA_WORKLOADS:
            results[workload] = cuda_runs(args, workload, sizes[workload], refused, base, best)
            continue
        results[workload] = {}
        for name in args.libs:
            if name in refused:
                results[workload][name] = refused[name]
                continue
            spec = {**base, "entry": name, "workload": workload, "size": sizes[workload], "device": "cpu"}
            results[workload][name] = r = measure(args, spec, best)
            log(
                f"{workload} {name}: "
                + (f"{r['time_ms']['median']:.2f} ms" if r["status"] == "ok" else f"{r['status']}: {r['reason']}")
            )
    results["_best_calib_ms"] = best[0]
    return results


def cuda_runs(
    args: argparse.Namespace, workload: str, size: dict, refused: Dict[str, dict], base: dict, best: List[float]
) -> dict:
    """``{variant: {entry: result}}`` of a CUDA workload (ON, LIF), or ``{"skipped": why}`` without CUDA."""
    out: Dict[str, dict] = {}
    for key, one in variants(size).items():
        out[key] = {}
        for name in args.libs:
            if name in refused:
                out[key][name] = refused[name]
                continue
            spec = {**base, "entry": name, "workload": workload, "size": one, "device": args.on_device}
            out[key][name] = r = measure(args, spec, best)
            if not r.get("env", {}).get("cuda", True) and args.on_device.startswith("cuda"):
                log(f"{workload} workload skipped: no CUDA GPU (torch.cuda.is_available() is False)")
                return {"skipped": "no CUDA GPU (torch.cuda.is_available() is False)"}
            log(
                f"{workload} {key} {name}: "
                + (f"{r['time_ms']['median']:.2f} ms" if r["status"] == "ok" else f"{r['status']}: {r['reason']}")
            )
    return out


def refused_entries(args: argparse.Namespace, checks: Dict[str, dict]) -> Dict[str, dict]:
    """Entries not to time, as results: unavailable/broken ("skipped"/"error"), or (without
    --force) failing the moderate-regime check ("refused")."""
    refused = {}
    for name, check in checks.items():
        if check["status"] != "ok":
            refused[name] = {"status": "skipped", "reason": f"check {check['status']}: {check['reason']}"}
        elif not check["regimes"]["moderate"]["ok"] and not args.force:
            refused[name] = {
                "status": "refused",
                "reason": "fails the moderate-regime dynamics check (--force times it)",
            }
    return refused


def main(argv: Optional[List[str]] = None) -> int:
    args = parse_args(argv)
    started = time.time()
    sizes = QUICK_SIZES if args.quick else FULL_SIZES
    run = {
        "date": datetime.datetime.now().isoformat(timespec="seconds"),
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "machine": machine_info(),
        "threads": args.threads,
        "warmup": args.warmup,
        "iters": args.iters,
        "min_time": args.min_time,
        "retries": args.retries,
        "libs": args.libs,
        "workloads": [] if args.check else args.workloads,
        "sizes": {w: sizes[w] for w in args.workloads} if not args.check else {},
        "checks": {} if args.no_check else run_checks(args),
        "results": {},
    }
    run["check_verdicts"] = {name: check_verdict(c) for name, c in run["checks"].items()}
    if not args.check:
        results = timed_runs(args, sizes, refused_entries(args, run["checks"]))
        run["best_calib_ms"] = results.pop("_best_calib_ms")
        run["results"] = results
    else:
        run["best_calib_ms"] = float("nan")
    run["versions"] = {
        name: next((r["version"] for r in _all_results(run, name) if "version" in r), "-") for name in args.libs
    }
    env = next((r["env"] for name in args.libs for r in _all_results(run, name) if "env" in r), {})
    run["machine"].update({k: env[k] for k in ("torch", "gpu") if k in env})
    run["wall_s"] = time.time() - started
    run["machine"]["loadavg_end"] = _loadavg()
    markdown = render(run)
    print(markdown)
    args.out.mkdir(parents=True, exist_ok=True)
    stem = "check" if args.check else "quick" if args.quick else "bench"
    (args.out / f"{stem}.json").write_text(json.dumps(run, indent=1) + "\n")
    (args.out / f"{stem}.md").write_text(markdown + "\n")
    log(f"wrote {args.out / (stem + '.json')} and {stem}.md in {run['wall_s']:.0f} s")
    return 0


def _all_results(run: dict, name: str) -> List[dict]:
    found = [run["checks"][name]] if name in run["checks"] else []
    for workload, per_lib in run["results"].items():
        if workload in CUDA_WORKLOADS and "skipped" not in per_lib:
            found += [d[name] for d in per_lib.values() if name in d]
        elif name in per_lib:
            found.append(per_lib[name])
    return found


if __name__ == "__main__":
    sys.exit(main())
