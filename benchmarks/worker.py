"""One benchmark measurement in a fresh process (started by run_benchmarks.py).

Usage: ``python worker.py '<json spec>'``; prints one line ``RESULT <json>`` on stdout.

spec keys: ``mode`` ("time" | "check"), ``entry`` (name in entries.ENTRIES), ``threads``;
for "time" also ``workload``, ``size``, ``device``, ``warmup``, ``iters``, ``min_time``.
"""

from __future__ import annotations

import json
import os
import resource
import statistics
import sys
import time
import traceback
from typing import Callable, Dict, List

import numpy as np
import torch
from entries import ENTRIES, THRESHOLD, Entry
from reference import (
    CHECK_SHAPE,
    REGIMES,
    check_input,
    check_weights,
    compare_spikes,
    grad_rel_error,
    lif_reference,
    lif_reference_grad,
)
from workloads import BUILDERS, to_layout

GRAD_TOLERANCE = 1e-4  # max abs error / max |reference gradient|
MAX_ITERS = 200


def calibrate() -> float:
    """Milliseconds for a fixed CPU kernel (20 matmuls 256x256), median of 5: the noise gauge."""
    gen = torch.Generator().manual_seed(0)
    a = torch.randn(256, 256, generator=gen)
    times = []
    for _ in range(5):
        t0 = time.perf_counter()
        for _ in range(20):
            b = a @ a
        times.append(time.perf_counter() - t0)
    del b
    return 1e3 * statistics.median(times)


def quartiles(values: List[float]) -> Dict[str, float]:
    q1, med, q3 = np.percentile(values, [25, 50, 75])
    return {"median": float(med), "q1": float(q1), "q3": float(q3)}


def rss_now_mib() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # Linux: KiB


def run_time(entry: Entry, spec: dict) -> dict:
    device = torch.device(spec["device"])
    workload = BUILDERS[spec["workload"]](entry, spec["size"], device)
    sync: Callable[[], None] = (lambda: torch.cuda.synchronize(device)) if device.type == "cuda" else (lambda: None)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    rss_built = rss_now_mib()
    calib_before = calibrate()
    for _ in range(spec["warmup"]):
        workload.step()
    sync()
    faults0 = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    times: List[float] = []
    phases: Dict[str, List[float]] = {"fwd_s": [], "bwd_s": []}
    start = time.perf_counter()
    while len(times) < MAX_ITERS and (len(times) < spec["iters"] or time.perf_counter() - start < spec["min_time"]):
        t0 = time.perf_counter()
        out = workload.step()
        sync()
        times.append(time.perf_counter() - t0)
        for key in phases:
            if key in out:
                phases[key].append(float(out[key]))
    faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - faults0
    calib_after = calibrate()
    result = {
        "status": "ok",
        "iters": len(times),
        "time_ms": {k: 1e3 * v for k, v in quartiles(times).items()},
        "peak_rss_mib": peak_rss_mib(),
        "rss_after_build_mib": rss_built,
        "minor_faults_per_iter": faults / len(times),
        "calib_ms": [calib_before, calib_after],
        "activity": {k: float(out[k].float().mean()) for k in workload.activity},
    }
    for key, values in phases.items():
        if values:
            result[key.replace("_s", "_ms")] = {k: 1e3 * v for k, v in quartiles(values).items()}
    if device.type == "cuda":
        result["peak_gpu_mib"] = torch.cuda.max_memory_allocated(device) / 2**20
    return result


def run_check(entry: Entry) -> dict:
    """Spikes vs the numpy reference and input gradient vs float64 BPTT, per input regime."""
    regimes = {}
    n = CHECK_SHAPE[2]
    for regime in REGIMES:
        x_np, w_np = check_input(regime), check_weights()
        ref_spikes, v_pre = lif_reference(x_np)
        layer = entry.build(n)
        x = to_layout(torch.from_numpy(x_np), entry.layout).requires_grad_()
        out = layer(x)
        spikes = to_layout(out.detach(), entry.layout).numpy()  # back to (B, T, N)
        counts = compare_spikes(spikes, ref_spikes)
        (out * to_layout(torch.from_numpy(w_np), entry.layout)).sum().backward()
        z = torch.from_numpy(v_pre - THRESHOLD).float().requires_grad_()
        entry.probe(z).sum().backward()  # the library's own surrogate at the reference membranes
        ref_grad = lif_reference_grad(w_np, z.grad.double().numpy())
        grad = to_layout(x.grad, entry.layout).double().numpy()
        # a gradient comparison is only meaningful when the spike trains agree
        rel = grad_rel_error(grad, ref_grad) if counts["mismatches"] == 0 else None
        regimes[regime] = {
            **counts,
            "v_above_2thr": int((v_pre > 2 * THRESHOLD).sum()),
            "grad_rel_err": rel,
            "ok": counts["mismatches"] == 0 and rel is not None and rel <= GRAD_TOLERANCE,
        }
    return {"status": "ok", "regimes": regimes}


def main() -> None:
    spec = json.loads(sys.argv[1])
    torch.set_num_threads(spec["threads"])
    entry = ENTRIES[spec["entry"]]
    try:
        reason = entry.unavailable_reason()
        if reason is not None:
            result = {"status": "skipped", "reason": reason}
        elif spec.get("device", "cpu").startswith("cuda") and not torch.cuda.is_available():
            result = {"status": "skipped", "reason": "no CUDA GPU (torch.cuda.is_available() is False)"}
        elif spec["mode"] == "check":
            result = run_check(entry)
        else:
            result = run_time(entry, spec)
        result["version"] = entry.version()
    except Exception as err:  # noqa: BLE001 - reported as a failed entry, the run goes on
        result = {"status": "error", "reason": f"{type(err).__name__}: {err}", "traceback": traceback.format_exc()}
    result["env"] = {
        "torch": torch.__version__,
        "cuda": torch.cuda.is_available(),
        "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else "none",
    }
    print("RESULT " + json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
