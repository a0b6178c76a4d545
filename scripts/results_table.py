"""Run the rows of the README's results tables and write the tables: test accuracy over seeds
(mean ± std, min), wall time, and the accuracy / cost table, with the commit, machine and threads.

    python scripts/results_table.py --list                               # the rows and their commands
    python scripts/results_table.py --rows default,ttfs_rate --seeds 42,1,2
    python scripts/results_table.py --seeds 42,1,2 --long --readme README.md   # every row, README too

Each row is one ``python train.py <overrides> seed=<s>`` per seed (a subprocess, its run folder under
``--runs``); its test accuracy is read from the run's ``metrics.json`` (the best validation
checkpoint's test, as the default callbacks run it). Rows with a baseline column (the S-MNIST
tasks: the same command with ``snn=lstm``) run both. Rows marked long (hours on 2 cores) run only
with ``--long``. The cost table measures the first seed's best checkpoint of each row with
``scripts/efficiency_table.py`` over the whole test set.

Writes ``<out>/results_table.{json,md}``; with ``--readme``, also the tables between the README's
``<!-- results-table:start/end -->``, ``<!-- smnist-table:start/end -->`` and
``<!-- online-table:start/end -->`` markers (the rows that are not long),
``<!-- smnist-long-table:start/end -->`` (the long rows) and ``<!-- efficiency-table:start/end -->``
(every row, measured on this call's runs); only tables whose every such row has results (run now or
read with ``--reuse``) are written there, so a partial run cannot leave a README table half old, half
new. Each table's header names the call (commit, machine, threads, runs at a time, seeds) its rows
come from. Results differ between 1 and 2 torch threads: ``--threads`` sets ``OMP_NUM_THREADS`` for
every run. Each run's CPU time (its own, whatever ran beside it) is recorded with its wall time.

    python scripts/results_table.py --rows smnist_pixel --long --baseline-seeds 42   # LSTM on one seed
    python scripts/results_table.py --rows none --long --reuse a.json --reuse b.json --readme README.md
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
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Tuple

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))

import efficiency_table  # noqa: E402


@dataclass(frozen=True)
class Row:
    """One row of a results table: the ``train.py`` overrides and what the table says of them."""

    key: str
    table: str  # "mnist5k", "smnist" or "online"
    overrides: Tuple[str, ...]
    describe: str  # the table's description column (online: the line, shared by the rows of its columns)
    baseline: Tuple[str, ...] = ()  # extra overrides of the baseline column (S-MNIST: snn=lstm)
    long: bool = False
    metric: str = "test/acc"
    column: str = ""  # online: the column this row fills (snn.learning_rule)

    @property
    def command(self) -> str:
        return " ".join(self.overrides) or "(default)"


#: the columns of the online-learning table (``snn.learning_rule``), the first the reference
ONLINE_RULES = ("bptt", "ottt", "sltt")

ROWS: Tuple[Row, ...] = (
    Row("default", "mnist5k", (), "rate_bernoulli -> rate, ProbSpikes + rate/temporal/ISI regularisers"),
    Row("rate_preset", "mnist5k", ("preset=rate_classification",), "same as the default"),
    Row("ttfs_preset", "mnist5k", ("preset=ttfs_classification",), "ttfs -> first_spike, first-spike cross-entropy"),
    Row("ttfs_rate", "mnist5k", ("encoding=ttfs", "loss=rate_classification"), "ttfs -> rate, ProbSpikes"),
    Row(
        "population",
        "mnist5k",
        ("preset=population_classification",),
        "population (8 per pixel: 6,272 inputs) -> population (4 per class), CE",
    ),
    Row("latency", "mnist5k", ("encoding=latency",), "latency (exponential) -> rate"),
    Row(
        "population_encoding",
        "mnist5k",
        ("encoding=population",),
        "population (8 per pixel) -> rate, ProbSpikes + regularisers",
    ),
    Row("direct", "mnist5k", ("encoding=direct",), "the normalised image as a constant current -> rate"),
    Row("poisson", "mnist5k", ("encoding=rate_poisson",), "Poisson rate -> rate"),
    Row("deterministic", "mnist5k", ("encoding=rate_deterministic",), "regular spikes -> rate"),
    Row("no_augment", "mnist5k", ("data.augment_shift=0",), "the default without the 2-pixel shifts"),
    Row("recurrent", "mnist5k", ("snn=recurrent",), "rate -> rate, recurrent LIF hidden layer"),
    Row("adaptive", "mnist5k", ("snn=adaptive",), "rate -> rate, adaptive-threshold LIF"),
    Row(
        "advanced",
        "mnist5k",
        ("snn=advanced",),
        "rate -> rate, AdvancedLIF: learnable per-neuron tau (lognormal); no delays, no adaptation",
    ),
    Row(
        "conv",
        "mnist5k",
        ("experiment=mnist5k_conv",),
        "conv SNN, 3x3 [16, 32] channels -> 128 -> 10, direct current, T = 8, 30 epochs",
    ),
    Row("ensemble", "mnist5k", ("decoding=ensemble",), "rate -> 0.5 rate + 0.5 first-spike"),
    Row(
        "membrane",
        "mnist5k",
        ("snn.readout=membrane", "decoding=membrane", "loss.task_loss=cross_entropy"),
        "rate -> max membrane of a leaky-integrator readout, CE",
    ),
    Row("digits", "mnist5k", ("data=digits",), "8x8 digits, 64-256-10; rate -> rate"),
    Row("digits_mlp", "mnist5k", ("experiment=digits_mlp",), "64-128-10; rate -> rate"),
    Row(
        "edifice",
        "mnist5k",
        ("experiment=edifice_mlp", "snn.neuron.surrogate_normalize=true"),
        "Edifice 784-256-128-10, tau 2, direct current -> rate, ProbSpikes only",
    ),
    Row("adex", "mnist5k", ("snn.neuron.type=adex", "trainer.max_epochs=8"), "AdEx hidden layer, 8 epochs"),
    Row(
        "seed002",
        "mnist5k",
        ("experiment=seed002_recurrent", "trainer.max_epochs=8"),
        "synapse tau 5 -> recurrent LIF tau 20 -> readout tau 10, membrane mean, CE, 8 epochs",
    ),
    Row(
        "regression",
        "mnist5k",
        ("experiment=synthetic_regression",),
        "10 inputs -> 2 targets, population -> population, MSE (test MSE)",
        metric="test/mse",
    ),
    Row("smnist_row", "smnist", ("experiment=smnist_row",), "row-wise, T = 28", baseline=("snn=lstm",)),
    Row(
        "smnist_pixel", "smnist", ("experiment=smnist_pixel",), "pixel-wise, T = 784", baseline=("snn=lstm",), long=True
    ),
    Row("smnist_row_psn", "smnist", ("experiment=smnist_row_psn",), "row-wise, sliding PSN of order 28"),
    Row(
        "smnist_row_masked_psn",
        "smnist",
        ("experiment=smnist_row_psn", "snn.neuron.type=masked_psn"),
        "row-wise, masked PSN",
    ),
    Row(
        "psmnist_pixel",
        "smnist",
        ("experiment=psmnist_pixel",),
        "permuted pixel-wise, T = 784",
        baseline=("snn=lstm",),
        long=True,
    ),
    Row(
        "smnist_pixel_psn",
        "smnist",
        ("experiment=smnist_pixel_psn",),
        "pixel-wise, sliding PSN of order 64",
        long=True,
    ),
    *(
        Row(f"online_{task}_{rule}", "online", (*overrides, f"snn.learning_rule={rule}"), line, column=rule)
        for task, overrides, line in (
            ("mlp", ("trainer.max_epochs=8",), "*(default)* `trainer.max_epochs=8 snn.learning_rule=...`"),
            (
                "row",
                ("experiment=smnist_row", "trainer.max_epochs=8"),
                "`experiment=smnist_row trainer.max_epochs=8 snn.learning_rule=...`",
            ),
        )
        for rule in ONLINE_RULES
    ),
)

MARKERS = {
    "mnist5k": "results-table",
    "smnist": "smnist-table",
    "online": "online-table",
    "efficiency": "efficiency-table",
}
#: the README tables of the long rows (a table of their own: a run without --long leaves it as it is)
LONG_MARKERS = {"smnist": "smnist-long-table"}


@dataclass
class Run:
    """One finished (or failed) ``train.py`` run."""

    seed: int
    value: Optional[float]
    wall_s: float
    folder: Path
    error: str = ""
    cpu_s: Optional[float] = None  # the run's own CPU time (user + system): its cost beside other runs


@dataclass
class RowResult:
    row: Row
    runs: List[Run] = field(default_factory=list)
    baseline_runs: List[Run] = field(default_factory=list)


def run_train(overrides: List[str], seed: int, folder: Path, metric: str, threads: int) -> Run:
    """One ``train.py`` subprocess; the metric from its ``metrics.json``."""
    cmd = [
        sys.executable,
        "train.py",
        *overrides,
        f"seed={seed}",
        "trainer.enable_progress_bar=false",
        f"hydra.run.dir={folder}",
    ]
    env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
    folder.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    with open(folder / "train.log", "w") as log:
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(proc.pid, 0)  # this child's own rusage, whatever else runs
    wall = time.perf_counter() - t0
    code = os.waitstatus_to_exitcode(status)
    cpu = usage.ru_utime + usage.ru_stime
    metrics = folder / "metrics.json"
    if code != 0 or not metrics.is_file():
        return Run(seed, None, wall, folder, f"exit {code}: {(folder / 'train.log').read_text()[-300:]}", cpu)
    value = json.loads(metrics.read_text()).get(metric)
    return Run(seed, value, wall, folder, "" if value is not None else f"{metric} missing from metrics.json", cpu)


def summary(runs: List[Run], metric: str) -> Dict[str, Optional[float]]:
    """Mean, std (n - 1), min and max of the runs' metric, the median wall and CPU times; None where no run
    finished (CPU: where a run has none, as in results written before it was measured)."""
    values = [r.value for r in runs if r.value is not None]
    walls, cpus = [r.wall_s for r in runs], [r.cpu_s for r in runs]
    out: Dict[str, Optional[float]] = {"n": len(values), "wall_s": statistics.median(walls) if walls else None}
    out["cpu_s"] = statistics.median(cpus) if cpus and None not in cpus else None
    out["mean"] = statistics.fmean(values) if values else None
    out["std"] = statistics.stdev(values) if len(values) > 1 else None
    worst = max if metric.endswith("mse") else min
    out["worst"] = worst(values) if values else None
    return out


def format_value(s: Dict[str, Optional[float]], metric: str) -> str:
    """``97.1 % ± 0.2 (min 96.9, 3 seeds)``, or the MSE the same way; ``failed`` without a value."""
    if s["mean"] is None:
        return "failed"
    if metric.endswith("mse"):
        text = f"test MSE {s['mean']:.4f}"
        extra = f" ± {s['std']:.4f} (max {s['worst']:.4f}, {s['n']} seeds)" if s["std"] is not None else ""
        return text + extra
    text = f"{100 * s['mean']:.1f} %"
    if s["std"] is not None:
        text += f" ± {100 * s['std']:.1f} (min {100 * s['worst']:.1f}, {s['n']} seeds)"
    return text


def run_time(s: Dict[str, Optional[float]]) -> str:
    """``4075 (3010)``: the median wall time and, where measured, CPU time of a row's runs (the CPU time
    is the run's own cost, whatever ran beside it)."""
    return f"{s['wall_s']:.0f}" + (f" ({s['cpu_s']:.0f})" if s["cpu_s"] is not None else "")


def table(results: List[RowResult], kind: str) -> str:
    """The markdown table of one kind (``mnist5k``, ``smnist`` or ``online``: a line per task, a column per
    ``snn.learning_rule`` with its wall time against BPTT's)."""
    if kind == "mnist5k":
        lines = [
            "| command (`python train.py ...`) | encoding -> decoding, loss | test acc | wall s |",
            "|---|---|---|---|",
        ]
        for r in results:
            s = summary(r.runs, r.row.metric)
            lines.append(
                f"| `{r.row.command}` | {r.row.describe} | {format_value(s, r.row.metric)} | {s['wall_s']:.0f} |"
            )
    elif kind == "online":
        lines = [
            "| online learning (8 epochs; test acc, wall s per run) | "
            + " | ".join(f"`{r}`" for r in ONLINE_RULES)
            + " |",
            "|---" * (len(ONLINE_RULES) + 1) + "|",
        ]
        cells: Dict[str, Dict[str, Tuple[Dict[str, Optional[float]], str]]] = {}  # line -> column -> summary, metric
        for r in results:
            cells.setdefault(r.row.describe, {})[r.row.column] = (summary(r.runs, r.row.metric), r.row.metric)
        for line, by_rule in cells.items():
            reference = by_rule[ONLINE_RULES[0]][0]["wall_s"] if ONLINE_RULES[0] in by_rule else None
            texts = []
            for rule in ONLINE_RULES:
                if rule not in by_rule:
                    texts.append("")
                    continue
                s, metric = by_rule[rule]
                ratio = f" ({s['wall_s'] / reference:.2f}x)" if reference and rule != ONLINE_RULES[0] else ""
                texts.append(f"{format_value(s, metric)}, {s['wall_s']:.0f} s{ratio}")
            lines.append(f"| {line} | " + " | ".join(texts) + " |")
    else:
        lines = [
            "| task | command (`python train.py ...`) | SNN test acc | LSTM (`snn=lstm`) test acc "
            "| wall s (CPU s) SNN / LSTM |",
            "|---|---|---|---|---|",
        ]
        for r in results:
            s, b = summary(r.runs, r.row.metric), summary(r.baseline_runs, r.row.metric)
            if r.baseline_runs:
                base, base_time = format_value(b, r.row.metric), run_time(b)
            else:  # a row without a baseline column (PSN), or one whose baseline did not run this time
                base, base_time = ("not run", "-") if r.row.baseline else ("", "")
            lines.append(
                f"| {r.row.describe} | `{r.row.command}` | {format_value(s, r.row.metric)} | "
                f"{base} | {run_time(s)}{' / ' + base_time if base_time else ''} |"
            )
    return "\n".join(lines)


def cost_table(results: List[RowResult]) -> str:
    """The accuracy / cost table of the first seed's best checkpoint of every classification run (the
    online-learning rows apart: the same networks as other rows, trained another way)."""
    lines = [efficiency_table.HEADER]
    for r in results:
        if r.row.metric != "test/acc" or r.row.table == "online":
            continue
        for label, runs in ((r.row.command, r.runs), (f"{r.row.command} {' '.join(r.row.baseline)}", r.baseline_runs)):
            if runs and runs[0].value is not None:
                accuracy, report = efficiency_table.measure(efficiency_table.checkpoint_of(runs[0].folder), None)
                lines.append(efficiency_table.table_row(f"`{label}`", accuracy, report))
    return "\n".join(lines)


def write_between(text: str, name: str, body: str) -> str:
    start, end = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
    return efficiency_table.replace_between_markers(text, body, start, end)


def commit() -> str:
    proc = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True)
    dirty = subprocess.run(
        ["git", "status", "--porcelain", "--untracked-files=no"], cwd=ROOT, capture_output=True, text=True
    ).stdout.strip()
    return (proc.stdout.strip() or "unknown") + (" (with uncommitted changes)" if dirty else "")


def select(names: Optional[str], long: bool) -> List[Row]:
    """The rows named (comma-separated keys; an unknown key is an error naming the known ones; ``none``: no
    row), else every row (the long ones only with ``long``)."""
    by_key = {row.key: row for row in ROWS}
    if names is None:
        return [row for row in ROWS if long or not row.long]
    if names == "none":
        return []
    unknown = [n for n in names.split(",") if n not in by_key]
    if unknown:
        raise ValueError(f"--rows names unknown rows {unknown}; known: {', '.join(by_key)}")
    return [by_key[n] for n in names.split(",")]


def reused(
    results: List[RowResult], origin: Dict[str, str], earlier: dict, runs: Path, long: bool
) -> Tuple[List[RowResult], Dict[str, str]]:
    """``results`` plus the rows of the default selection (the long ones with ``long``) that did not run
    now, read from an ``earlier`` results_table.json (a row missing there stays missing), in table order;
    and each row's origin (the header of the run it comes from)."""
    by_key = {r.row.key: r for r in results}
    origin = dict(origin)
    for row in select(None, long):
        entry = earlier["rows"].get(row.key)
        if row.key in by_key or entry is None:
            continue

        def read(items: List[dict], name: str) -> List[Run]:
            return [
                Run(x["seed"], x["value"], x["wall_s"], runs / name / f"seed{x['seed']}", x["error"], x.get("cpu_s"))
                for x in items
            ]

        by_key[row.key] = RowResult(
            row, read(entry["runs"], row.key), read(entry["baseline_runs"], f"{row.key}_baseline")
        )
        origin[row.key] = entry.get("from", earlier["header"])
    order = [row.key for row in ROWS]
    return sorted(by_key.values(), key=lambda r: order.index(r.row.key)), origin


def header_of(keys: List[str], origin: Dict[str, str]) -> str:
    """The header of a table of rows ``keys``: their common origin (the header of the call that ran them), or
    each origin with its rows."""
    groups: Dict[str, List[str]] = {}
    for key in keys:
        groups.setdefault(origin[key], []).append(key)
    if len(groups) == 1:
        return next(iter(groups))
    return "; ".join(f"{text.rstrip('.')} (rows {', '.join(rows)})" for text, rows in groups.items()) + "."


def parse_seeds(text: str, option: str = "--seeds") -> List[int]:
    """``42,1,2`` -> ``[42, 1, 2]`` (distinct, non-negative); ``none`` -> ``[]`` for ``--baseline-seeds``;
    errors name ``option``."""
    if option == "--baseline-seeds" and text == "none":
        return []
    try:
        seeds = [int(s) for s in text.split(",")]
    except ValueError:
        raise ValueError(f"{option} must be comma-separated integers, got {text!r}") from None
    if len(set(seeds)) != len(seeds) or any(s < 0 for s in seeds):
        raise ValueError(f"{option} must be distinct non-negative integers, got {text!r}")
    return seeds


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--rows",
        help="comma-separated row keys (default: every row but the long ones); 'none' runs nothing "
        "(with --reuse: the tables written again from earlier results)",
    )
    parser.add_argument("--seeds", default="42,1,2", help="comma-separated seeds (default 42,1,2)")
    parser.add_argument("--long", action="store_true", help="include the long rows (hours on 2 cores)")
    parser.add_argument(
        "--baseline-seeds",
        help="seeds of the baseline column (S-MNIST: snn=lstm), 'none' for no baseline runs (default: --seeds)",
    )
    parser.add_argument("--threads", type=int, default=1, help="OMP_NUM_THREADS of every run (default 1)")
    parser.add_argument(
        "--jobs", type=int, default=1, help="runs at a time (default 1; e.g. 2 on 2 cores with --threads 1)"
    )
    parser.add_argument(
        "--runs", type=Path, default=ROOT / "outputs" / "results_table", help="run folders (a dated folder per call)"
    )
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results")
    parser.add_argument("--readme", type=Path, help="also write the complete tables into this README")
    parser.add_argument("--list", action="store_true", help="print the rows and their commands, run nothing")
    parser.add_argument(
        "--reuse",
        type=Path,
        action="append",
        help="an earlier results_table.json: the rows that run by default but are not in --rows come from it "
        "(after changing one row's recipe, re-run that row only); repeat it to read several, a row from the "
        "last file that has it",
    )
    args = parser.parse_args(argv)
    try:
        rows, seeds = select(args.rows, args.long), parse_seeds(args.seeds)
        baseline_seeds = seeds if args.baseline_seeds is None else parse_seeds(args.baseline_seeds, "--baseline-seeds")
    except ValueError as err:
        parser.error(str(err))
    if args.jobs < 1 or args.threads < 1:
        parser.error(f"--jobs and --threads must be at least 1, got --jobs {args.jobs} --threads {args.threads}")
    if args.list:
        for row in rows:
            extra = f" (+ {' '.join(row.baseline)})" if row.baseline else ""
            print(f"{row.key:14s} {row.table:8s} {'long ' if row.long else ''}python train.py {row.command}{extra}")
        return 0
    started_at = commit()  # the code the runs use (the tree may change while they run)
    runs_dir = args.runs / datetime.datetime.now().strftime("%Y-%m-%d_%H-%M-%S")  # a fresh folder per invocation
    # every (row, seed, baseline?) run, in table order; --jobs of them at a time (1 thread each by default)
    tasks = [(row, seed, False) for row in rows for seed in seeds]
    tasks += [(row, seed, True) for row in rows if row.baseline for seed in baseline_seeds]
    tasks.sort(key=lambda task: rows.index(task[0]))  # row by row (stable: seeds in order, the baseline after)

    def launch(task: Tuple[Row, int, bool]) -> Run:
        row, seed, base = task
        overrides = [*row.overrides, *row.baseline] if base else list(row.overrides)
        folder = runs_dir / (f"{row.key}_baseline" if base else row.key) / f"seed{seed}"
        run = run_train(overrides, seed, folder, row.metric, args.threads)
        name = f"{row.key}{' baseline' if base else ''}"
        print(f"{name} seed {seed}: {run.value} in {run.wall_s:.0f} s {run.error}", file=sys.stderr, flush=True)
        return run

    with ThreadPoolExecutor(max_workers=args.jobs) as pool:
        finished = list(pool.map(launch, tasks))
    results = [RowResult(row) for row in rows]
    by_key = {r.row.key: r for r in results}
    for (row, _, base), run in zip(tasks, finished):
        (by_key[row.key].baseline_runs if base else by_key[row.key].runs).append(run)
    header = (
        f"Commit {started_at}, {platform.processor() or platform.machine()} with {os.cpu_count()} cores, "
        f"OMP_NUM_THREADS={args.threads}, {args.jobs} run(s) at a time, seeds {args.seeds}"
        f"{'' if args.baseline_seeds is None else f' (baseline: {args.baseline_seeds})'}, "
        f"{datetime.date.today().isoformat()}."
    )
    origin = {r.row.key: header for r in results}  # row -> the header of the run it comes from
    ran_now = list(results)
    for earlier in reversed(args.reuse or []):  # each adds only the rows still missing: the last file wins
        results, origin = reused(results, origin, json.loads(earlier.read_text()), runs_dir, args.long)
    if args.reuse:
        header = header_of([r.row.key for r in results], origin)
    tables = {
        kind: table([r for r in results if r.row.table == kind], kind)
        for kind in ("mnist5k", "smnist", "online")
        if any(r.row.table == kind for r in results)
    }
    tables["efficiency"] = cost_table(ran_now)
    failed = [r.row.key for r in results if any(x.error for x in [*r.runs, *r.baseline_runs])]
    if failed:
        print(header + "\n\n" + "\n\n".join(tables.values()))
        print(
            f"error: runs failed in rows {failed}; their logs are in {runs_dir}; nothing is written",
            file=sys.stderr,
        )
        return 1
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "results_table.md").write_text(header + "\n\n" + "\n\n".join(tables.values()) + "\n")
    (args.out / "results_table.json").write_text(
        json.dumps(
            {
                "header": header,
                "rows": {
                    r.row.key: {
                        "command": r.row.command,
                        "metric": r.row.metric,
                        "from": origin[r.row.key],
                        "runs": [
                            {"seed": x.seed, "value": x.value, "wall_s": x.wall_s, "cpu_s": x.cpu_s, "error": x.error}
                            for x in r.runs
                        ],
                        "baseline_runs": [
                            {"seed": x.seed, "value": x.value, "wall_s": x.wall_s, "cpu_s": x.cpu_s, "error": x.error}
                            for x in r.baseline_runs
                        ],
                    }
                    for r in results
                },
            },
            indent=2,
        )
    )
    print((args.out / "results_table.md").read_text())
    if args.readme is not None:
        text = args.readme.read_text()
        available = {r.row.key for r in results}  # run now or read from --reuse
        # marker -> (the rows its table needs, the rows it has results of, its body)
        writes: Dict[str, Tuple[set, set, str]] = {}
        for kind in tables:
            if kind == "efficiency":  # every classification row's cost, measured on this call's checkpoints
                needed = {row.key for row in ROWS if row.table != "online"}
                writes[MARKERS[kind]] = (needed, {r.row.key for r in ran_now}, tables[kind])
                continue
            for marker, long in ((MARKERS[kind], False), (LONG_MARKERS.get(kind), True)):
                needed = {row.key for row in ROWS if row.table == kind and row.long == long}
                if marker is not None and needed:
                    body = table([r for r in results if r.row.key in needed], kind)
                    writes[marker] = (needed, available, body)
        for marker, (needed, have, body) in writes.items():
            if needed <= have:
                in_order = [row.key for row in ROWS if row.key in needed]
                text = write_between(text, marker, f"{header_of(in_order, origin)}\n\n{body}")
            else:
                print(f"{marker}: not every row ran; the README keeps its table", file=sys.stderr)
        args.readme.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
