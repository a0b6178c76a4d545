"""Markdown tables for a benchmark run (the JSON written by run_benchmarks.py is the input)."""

from __future__ import annotations

from typing import Dict, List, Optional

from entries import ENTRIES

CPU_WORKLOADS = ("W1", "W2", "W3")
#: CUDA workloads: results per variant ("4096", "4096 float32", ...) and their section titles
CUDA_TITLES = {
    "ON": "Open Neuromorphic workload (Linear(n, n) + LIF, forward and backward)",
    "LIF": "LIF layer alone (forward + backward of a random upstream gradient; n and input dtype)",
}
NOISE_LIMIT = 1.25  # a run whose calibration kernel is this much slower than the run's best is noisy


def _table(header: List[str], rows: List[List[str]]) -> List[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return lines + ["| " + " | ".join(row) + " |" for row in rows]


def _fmt_ms(t: Optional[dict]) -> str:
    if not t:
        return "-"
    digits = 1 if t["median"] >= 10 else 2
    return f"{t['median']:.{digits}f} [{t['q1']:.{digits}f}-{t['q3']:.{digits}f}]"


def _ratio(a: Optional[float], b: Optional[float]) -> str:
    return "-" if a is None or b is None or b == 0 else f"{a / b:.2f}"


def is_noisy(result: dict, best_calib: float) -> bool:
    return result.get("status") == "ok" and max(result["calib_ms"]) > NOISE_LIMIT * best_calib


def check_verdict(check: Optional[dict]) -> str:
    """'ok', 'fails strong regime', 'FAILS moderate regime', 'n/a' or the skip/error reason."""
    if check is None:
        return "not checked"
    if check["status"] != "ok":
        return f"{check['status']}: {check['reason']}"
    failed = [name for name, r in check["regimes"].items() if not r["ok"]]
    if not failed:
        return "ok"
    return "FAILS " + ", ".join(failed) + " regime" + ("s" if len(failed) > 1 else "")


def check_table(checks: Dict[str, dict]) -> List[str]:
    header = [
        "entry",
        "version",
        "regime",
        "spikes lib / ref",
        "mismatches",
        "steps with v > 2 thr",
        "input-grad rel. err",
        "verdict",
    ]
    rows = []
    for name, check in checks.items():
        if check["status"] != "ok":
            rows.append([name, check.get("version", "-"), "-", "-", "-", "-", "-", check_verdict(check)])
            continue
        for regime, r in check["regimes"].items():
            err = "n/a (spikes differ)" if r["grad_rel_err"] is None else f"{r['grad_rel_err']:.1e}"
            rows.append(
                [
                    name,
                    check["version"],
                    regime,
                    f"{r['lib_spikes']} / {r['ref_spikes']}",
                    str(r["mismatches"]),
                    str(r["v_above_2thr"]),
                    err,
                    "ok" if r["ok"] else "FAIL",
                ]
            )
    return _table(header, rows)


def _median(result: Optional[dict], key: str = "time_ms") -> Optional[float]:
    if not result or result.get("status") != "ok" or key not in result:
        return None
    return result[key]["median"]


def _not_timed(run: dict) -> Dict[str, str]:
    """Entries with no measurement at all (skipped, unavailable, refused by the check) and why."""
    reasons = {}
    for name in run["libs"]:
        found = [r for per_lib in _workload_results(run).values() for n, r in per_lib.items() if n == name]
        if found and all(r["status"] in ("skipped", "refused") for r in found):
            reasons[name] = found[0]["reason"]
    return reasons


def _workload_results(run: dict) -> Dict[str, Dict[str, dict]]:
    """{"W1": {entry: result}, ..., "ON 4096": {...}, "LIF 4096 float32": {...}} for every workload that ran."""
    flat = {w: run["results"][w] for w in CPU_WORKLOADS if w in run["results"]}
    for workload in CUDA_TITLES:
        per_variant = run["results"].get(workload, {})
        if "skipped" not in per_variant:
            flat.update({f"{workload} {key}": per_lib for key, per_lib in per_variant.items()})
    return flat


def _cell_error(r: Optional[dict]) -> str:
    if r is None:
        return "-"
    reason = r["reason"] if len(r["reason"]) <= 80 else r["reason"][:77] + "..."
    return f"{r['status']}: {reason}"


def cpu_tables(run: dict) -> List[str]:
    """Times (median [IQR] ms), ratio to the ANN floor, peak RSS per workload; activity; ratios."""
    results, best = run["results"], run["best_calib_ms"]
    workloads = [w for w in CPU_WORKLOADS if w in results]
    skipped = _not_timed(run)
    timed = [n for n in run["libs"] if n not in skipped]
    header = ["entry", "version", "check"]
    for w in workloads:
        header += [f"{w} ms (median [IQR])", f"{w} / ANN", f"{w} peak RSS MiB"]
    rows = []
    for name in timed:
        row = [ENTRIES[name].label, run["versions"].get(name, "-"), run["check_verdicts"].get(name, "n/a")]
        for w in workloads:
            r = results[w].get(name)
            if r is None or r["status"] != "ok":
                row += [_cell_error(r), "-", "-"]
                continue
            mark = " (noisy)" if is_noisy(r, best) else ""
            ann = _median(results[w].get("ann"))
            row += [_fmt_ms(r["time_ms"]) + mark, _ratio(r["time_ms"]["median"], ann), f"{r['peak_rss_mib']:.0f}"]
        rows.append(row)
    lines = _table(header, rows)
    lines += [f"- not timed: {name}: {reason}" for name, reason in skipped.items()]
    lines += ["", "Spike activity (mean spike rate per LIF layer, last timed iteration; equal rates = equal work):", ""]
    act_rows = []
    for name in timed:
        if ENTRIES[name].build is None:
            continue
        cells = []
        for w in workloads:
            r = results[w].get(name)
            act = r.get("activity") if r and r.get("status") == "ok" else None
            cells.append(" / ".join(f"{v:.4f}" for v in act.values()) if act else "-")
        act_rows.append([name] + cells)
    lines += _table(["entry"] + [f"{w} rate(s)" for w in workloads], act_rows)
    return lines


def peer_ratio_table(run: dict) -> List[str]:
    """brain_ai time divided by each other entry's time in the same run (< 1: brain_ai is faster)."""
    per_workload = _workload_results(run)
    skipped = _not_timed(run)
    ours = [n for n in run["libs"] if n.startswith("brain_ai") and n not in skipped]
    others = [n for n in run["libs"] if not n.startswith("brain_ai") and n not in skipped]
    rows = []
    for w, per_lib in per_workload.items():
        for mine in ours:
            t = _median(per_lib.get(mine))
            if t is not None:
                rows.append([w, mine] + [_ratio(t, _median(per_lib.get(o))) for o in others])
    if not rows or not others:
        return []
    return [
        "## brain_ai time / other entry's time (same run; < 1 means brain_ai is faster)",
        "",
        *_table(["workload", "brain_ai entry"] + [f"/ {o}" for o in others], rows),
    ]


def cuda_tables(run: dict, workload: str) -> List[str]:
    """One row per (variant, entry) of a CUDA workload: times, ratio to the ANN floor, peak GPU memory."""
    on = run["results"][workload]
    if "skipped" in on:
        return [f"Skipped: {on['skipped']}"]
    skipped = _not_timed(run)
    header = ["entry", "variant", "forward ms", "backward ms", "fwd+bwd ms", "/ ANN", "peak GPU MiB"]
    rows = []
    for n, per_lib in on.items():
        ann = _median(per_lib.get("ann"))
        for name in run["libs"]:
            r = per_lib.get(name)
            if name in skipped or r is None:
                continue
            if r["status"] != "ok":
                rows.append([ENTRIES[name].label, n, _cell_error(r), "-", "-", "-", "-"])
                continue
            gpu = f"{r['peak_gpu_mib']:.0f}" if "peak_gpu_mib" in r else "-"
            rows.append(
                [
                    ENTRIES[name].label,
                    n,
                    _fmt_ms(r.get("fwd_ms")),
                    _fmt_ms(r.get("bwd_ms")),
                    _fmt_ms(r["time_ms"]),
                    _ratio(r["time_ms"]["median"], ann),
                    gpu,
                ]
            )
    return _table(header, rows)


def render(run: dict) -> str:
    m = run["machine"]
    lines = [
        "# brain_ai benchmarks",
        "",
        f"- date: {run['date']}; command: `{run['command']}`; wall time {run.get('wall_s', 0):.0f} s",
        f"- machine: {m['cpu_model']}, {m['cores_available']} cores available ({m['cpu_count']} logical), "
        f"{m['mem_total_gib']:.0f} GiB RAM; GPU: {m['gpu']}",
        f"- load average (1/5/15 min) at start {m['loadavg_start']}, at end {m.get('loadavg_end', '?')}",
        f"- software: Python {m['python']}, torch {m['torch']}, torch threads {run['threads']}",
    ]
    if run["results"]:
        lines += [
            f"- method: one fresh process per (entry, workload); {run['warmup']} warm-ups; >= {run['iters']} timed "
            f"iterations and >= {run['min_time']} s; median [IQR]; peak RSS = ru_maxrss of that process; calibration "
            f"kernel before/after each measurement, best {run['best_calib_ms']:.2f} ms; '(noisy)' = its calibration "
            f"was > {NOISE_LIMIT}x the best even after {run['retries']} re-run(s)",
            f"- sizes: {run['sizes']}",
        ]
    lines.append("")
    if run.get("checks"):
        lines += ["## Dynamics check (T=20, B=2, N=8 vs numpy reference LIF)", "", *check_table(run["checks"]), ""]
    if any(w in run["results"] for w in CPU_WORKLOADS):
        lines += ["## CPU workloads", "", *cpu_tables(run), ""]
    for workload, title in CUDA_TITLES.items():
        if workload in run["results"]:
            lines += [f"## {title}", "", *cuda_tables(run, workload), ""]
    if run["results"]:
        lines += [*peer_ratio_table(run), ""]
    return "\n".join(lines)
