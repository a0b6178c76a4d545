"""Wall-time overhead of the efficiency logger on a whole ``train.py`` run (issue target: at most 5 %).

Each measurement is one ``python train.py <overrides>`` subprocess, run twice per round: as
configured (``with``: the default callbacks log ``efficiency/*`` at every validation) and with
``~callbacks.efficiency`` (``without``). The two run back to back, round after round
(``--repeats`` rounds, the order alternating so that a drift in the machine's speed hits both
alike). Reported per setting: the median wall time and CPU time (user + sys) of the whole
process; the overhead is ``median(with) / median(without) - 1``, for wall and for CPU time.

Noise: a setting is flagged **noisy** when its wall times spread by more than ``--tolerance``
(``(max - min) / median``) or when other processes used more than ``--max-others`` of all
cores' time during one of its runs (``/proc/stat``); the overhead is flagged when either side
is. A noisy result is not a result: re-run on a quiet machine.

    python benchmarks/efficiency_overhead.py                       # the default run, 3 rounds
    python benchmarks/efficiency_overhead.py --repeats 5 -- data=digits trainer.max_epochs=5

Writes ``<out>/efficiency_overhead.{json,md}`` and prints the markdown.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Dict, List

sys.path.insert(0, str(Path(__file__).resolve().parent))

from train_throughput import REPO, busy_cpu_s, spread  # noqa: E402

#: setting -> extra ``train.py`` overrides
SETTINGS: Dict[str, List[str]] = {"with": [], "without": ["~callbacks.efficiency"]}


def measure(overrides: List[str], setting: str) -> dict:
    """One whole ``train.py`` run; wall and CPU seconds of the process, other processes' CPU share."""
    with tempfile.TemporaryDirectory() as run_dir:
        cmd = [
            sys.executable,
            "train.py",
            *overrides,
            *SETTINGS[setting],
            "trainer.enable_progress_bar=false",
            f"hydra.run.dir={run_dir}",
        ]
        busy0, t0 = busy_cpu_s(), time.perf_counter()
        with open(Path(run_dir) / "log.txt", "w") as log:
            proc = subprocess.Popen(cmd, cwd=REPO, stdout=log, stderr=subprocess.STDOUT)
            _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - t0
        busy1 = busy_cpu_s()
        if os.waitstatus_to_exitcode(status) != 0:
            return {"error": (Path(run_dir) / "log.txt").read_text()[-1500:]}
    cpu = usage.ru_utime + usage.ru_stime
    others = None if busy0 is None else max(0.0, (busy1 - busy0 - cpu) / (wall * os.cpu_count()))
    return {"wall_s": wall, "cpu_s": cpu, "others_cpu_frac": others}


def summarise(runs: List[dict], tolerance: float, max_others: float) -> dict:
    """Medians of one setting's runs, their spread and the noise flag."""
    errors = [r for r in runs if "error" in r]
    if errors:
        return {"error": errors[-1]["error"]}
    walls = [r["wall_s"] for r in runs]
    others = max((r["others_cpu_frac"] or 0.0) for r in runs)
    return {
        "wall_s": statistics.median(walls),
        "cpu_s": statistics.median(r["cpu_s"] for r in runs),
        "wall_s_runs": walls,
        "wall_spread": spread(walls),
        "others_cpu_frac_max": others,
        "noisy": spread(walls) > tolerance or others > max_others,
    }


def overhead(results: Dict[str, dict]) -> dict:
    """``with / without - 1`` for wall and CPU time; noisy when either side is (None after an error)."""
    on, off = results["with"], results["without"]
    if "error" in on or "error" in off:
        return {"wall": None, "cpu": None, "noisy": True}
    return {
        "wall": on["wall_s"] / off["wall_s"] - 1,
        "cpu": on["cpu_s"] / off["cpu_s"] - 1,
        "noisy": on["noisy"] or off["noisy"],
    }


def render(report: dict) -> str:
    """The markdown report."""
    lines = [
        "# Efficiency logger overhead",
        "",
        f"`{' '.join(['python train.py', *report['overrides']])}` with the efficiency logger (default callbacks) and with "
        f"`~callbacks.efficiency`, {report['repeats']} rounds each, alternating; {report['machine']}, "
        f"OMP_NUM_THREADS={report['threads']}, {report['date']}. Noisy: wall times spread > {report['tolerance']:.0%} "
        f"or other processes > {report['max_others']:.0%} of the cores.",
        "",
        "| setting | median wall s | median CPU s | wall s per run | other processes' CPU share (max) | noisy |",
        "|---|---|---|---|---|---|",
    ]
    for name, r in report["results"].items():
        if "error" in r:
            lines.append(f"| {name} | error | | | | |")
            continue
        runs = ", ".join(f"{w:.1f}" for w in r["wall_s_runs"])
        lines.append(
            f"| {name} | {r['wall_s']:.1f} | {r['cpu_s']:.1f} | {runs} | {r['others_cpu_frac_max']:.0%} | "
            f"{'noisy' if r['noisy'] else 'clean'} |"
        )
    o = report["overhead"]
    if o["wall"] is None:
        lines += ["", "Overhead: not measured (a run failed)."]
    else:
        flag = " (noisy: not a result)" if o["noisy"] else ""
        verdict = "met" if max(o["wall"], o["cpu"]) <= report["target"] else "not met"
        lines += [
            "",
            f"Overhead: wall {o['wall']:+.1%}, CPU {o['cpu']:+.1%} (target <= {report['target']:.0%}: "
            f"{verdict}){flag}.",
        ]
    return "\n".join(lines) + "\n"


def main(argv: List[str] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("overrides", nargs="*", help="train.py overrides (after --); default: the default run")
    parser.add_argument("--repeats", type=int, default=3, help="rounds (one run per setting each)")
    parser.add_argument(
        "--tolerance", type=float, default=0.05, help="largest clean spread of one setting's wall times"
    )
    parser.add_argument("--max-others", type=float, default=0.1, help="largest clean CPU share of other processes")
    parser.add_argument("--target", type=float, default=0.05, help="overhead target (fraction of the wall time)")
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results")
    args = parser.parse_args(argv)
    if args.repeats < 1:
        parser.error(f"--repeats must be >= 1, got {args.repeats}")
    runs: Dict[str, List[dict]] = {name: [] for name in SETTINGS}
    for round_ in range(args.repeats):
        order = list(SETTINGS) if round_ % 2 == 0 else list(reversed(SETTINGS))
        for name in order:
            runs[name].append(measure(args.overrides, name))
            print(f"round {round_ + 1}/{args.repeats} {name}: {runs[name][-1]}", file=sys.stderr, flush=True)
    results = {name: summarise(r, args.tolerance, args.max_others) for name, r in runs.items()}
    report = {
        "overrides": args.overrides,
        "repeats": args.repeats,
        "tolerance": args.tolerance,
        "max_others": args.max_others,
        "target": args.target,
        "results": results,
        "overhead": overhead(results),
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores",
        "threads": os.environ.get("OMP_NUM_THREADS", "unset"),
        "date": datetime.date.today().isoformat(),
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "efficiency_overhead.json").write_text(json.dumps(report, indent=2))
    text = render(report)
    (args.out / "efficiency_overhead.md").write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
