"""Whole-run training throughput of real ``train.py`` configurations under several allocator settings.

Each measurement is one ``python train.py <config> ...`` subprocess training for ``--warmup`` +
``--steps`` batches (one epoch, no validation, no test, no checkpoints, no logger). A
``StepTimer`` callback (added through a Hydra ``+callbacks.timer`` override) times every one of
the last ``--steps`` batches; the process's own resource usage covers the whole run.

Settings (``--settings``, any of):

* ``on``: ``allocator_reuse=true`` (glibc ``mallopt``, :mod:`brain_ai.app.allocator`; the default);
* ``off``: ``allocator_reuse=false`` (glibc as it comes);
* ``tcmalloc``: ``allocator_reuse=false`` with tcmalloc preloaded (``LD_PRELOAD``, ``--tcmalloc``);
* ``ref``: the same configuration run by another checkout (``--reference DIR``, e.g. the code
  before a change, exported with ``git archive``) with that code's own defaults.

Noise: the settings of one configuration run back to back, round after round (``--repeats``
rounds). A setting is flagged **noisy** when its samples/s over the last ``--repeats`` runs
spread by more than ``--tolerance`` (``(max - min) / median``), when the median run's step times
do (interquartile range / median), or when other processes used more than ``--max-others`` of all
cores' time during one of those runs (``/proc/stat``; a machine that is busy throughout slows
every run alike, which no spread shows); while any setting of a configuration is noisy, further
rounds run (at most ``--max-rounds``). A ratio is flagged when either side is. Reported per setting (median
run): ``samples/s`` and ``ms/step`` over the timed steps, ``sys %`` (kernel time / wall time over
the timed steps: page faults show here), ``faults/step``; whole process: wall, user and sys
seconds, peak RSS.

    python benchmarks/train_throughput.py                     # every available config; on, off, tcmalloc
    python benchmarks/train_throughput.py --configs conv --settings on,ref --reference /tmp/before
    python benchmarks/train_throughput.py --device cuda       # trainer=gpu (16-mixed)

``--device cuda`` synchronises the device at every step boundary and adds the peak CUDA memory;
that path has not been run on a GPU yet (none was available when it was written). Writes
``<out>/train_throughput.{json,md}`` and prints the markdown.
"""

from __future__ import annotations

import argparse
import ctypes.util
import datetime
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Dict, List, Optional

import lightning as L

REPO = Path(__file__).resolve().parents[1]

#: configuration name -> train.py overrides. A config whose ``group=option`` files are missing from
#: a checkout (e.g. an experiment not merged yet) is left out of the default list for that checkout.
CONFIGS: Dict[str, List[str]] = {
    "mlp": [],
    "conv": ["snn=conv"],
    "recurrent": ["snn=recurrent"],
    "smnist_row": ["experiment=smnist_row"],  # the temporal experiment: sequential MNIST, one row per step
}
SETTINGS = ("on", "off", "tcmalloc", "ref")
#: settings compared in the ratio table: (name, numerator, denominator)
RATIOS = (("on / off", "on", "off"), ("on / ref", "on", "ref"), ("tcmalloc / on", "tcmalloc", "on"))
RESULT_TAG = "THROUGHPUT "


class StepTimer(L.Callback):
    """Times every training batch from ``warmup`` on; prints one ``THROUGHPUT <json>`` line at the end."""

    def __init__(self, warmup: int) -> None:
        self.warmup = warmup
        self.marks: List[Dict[str, float]] = []
        self.batch_size = 0

    @staticmethod
    def _now(trainer: L.Trainer) -> Dict[str, float]:
        if trainer.strategy.root_device.type == "cuda":
            import torch

            torch.cuda.synchronize()  # the step's kernels have finished
        ru = resource.getrusage(resource.RUSAGE_SELF)
        return {"wall": time.perf_counter(), "user": ru.ru_utime, "sys": ru.ru_stime, "faults": ru.ru_minflt}

    def on_train_batch_start(self, trainer: L.Trainer, pl_module: L.LightningModule, batch, batch_idx: int) -> None:  # noqa: ANN001
        if batch_idx == self.warmup:
            self.batch_size = int(batch[0].shape[0])
        if batch_idx >= self.warmup:
            self.marks.append(self._now(trainer))

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if not self.marks:
            raise RuntimeError(f"StepTimer: training ended before batch {self.warmup}; raise --steps or lower --warmup")
        self.marks.append(self._now(trainer))
        first, last = self.marks[0], self.marks[-1]
        result = {
            "steps": len(self.marks) - 1,
            "batch_size": self.batch_size,
            "step_s": [b["wall"] - a["wall"] for a, b in zip(self.marks, self.marks[1:])],
            **{k: last[k] - first[k] for k in first},
        }
        if trainer.strategy.root_device.type == "cuda":
            import torch

            result["cuda_peak_mib"] = torch.cuda.max_memory_allocated() / 2**20
        print(RESULT_TAG + json.dumps(result), flush=True)


def busy_cpu_s() -> Optional[float]:
    """CPU seconds all processes have spent so far, from ``/proc/stat`` (None where it is missing)."""
    try:
        fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    except (OSError, ValueError):
        return None
    user, nice, system, _idle, _iowait, irq, softirq, steal = (fields + [0] * 8)[:8]
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def missing_configs(overrides: List[str], tree: Path) -> List[str]:
    """The ``configs/<group>/<option>.yaml`` files that ``overrides`` name and ``tree`` lacks."""
    files = [tree / "configs" / group / f"{option}.yaml" for group, option in (o.split("=", 1) for o in overrides)]
    return [str(f.relative_to(tree)) for f in files if not f.is_file()]


def find_tcmalloc() -> Optional[str]:
    """Path or soname of an installed tcmalloc (full or minimal), or None."""
    return ctypes.util.find_library("tcmalloc") or ctypes.util.find_library("tcmalloc_minimal")


def spread(values: List[float]) -> float:
    """``(max - min) / median`` (0 for fewer than two values)."""
    return (max(values) - min(values)) / statistics.median(values) if len(values) > 1 else 0.0


def step_spread(step_s: List[float]) -> float:
    """Interquartile range / median of one run's step times."""
    if len(step_s) < 4:
        return spread(step_s)
    q1, _, q3 = statistics.quantiles(step_s, n=4)
    return (q3 - q1) / statistics.median(step_s)


def measure(overrides: List[str], setting: str, args: argparse.Namespace) -> dict:
    """One ``train.py <overrides>`` subprocess (``args.warmup`` + ``args.steps`` batches); returns
    the timed-steps numbers and whole-process usage."""
    tree = args.reference if setting == "ref" else REPO
    allocator = {
        "on": ["allocator_reuse=true"],
        "off": ["allocator_reuse=false"],
        "tcmalloc": ["allocator_reuse=false"],
        "ref": [],
    }
    with tempfile.TemporaryDirectory() as run_dir:
        cmd = [
            sys.executable,
            "train.py",
            *overrides,
            *allocator[setting],
            *(["trainer=gpu"] if args.device == "cuda" else []),
            "trainer.max_epochs=1",
            f"+trainer.limit_train_batches={args.warmup + args.steps}",
            "+trainer.limit_val_batches=0",
            "test=false",
            "optimized_metric=null",
            "callbacks=none",
            "~logger",
            "trainer.enable_progress_bar=false",
            "+trainer.enable_model_summary=false",
            "+callbacks.timer._target_=train_throughput.StepTimer",
            f"+callbacks.timer.warmup={args.warmup}",
            f"hydra.run.dir={run_dir}",
        ]
        path = [str(tree), str(REPO / "benchmarks"), os.environ.get("PYTHONPATH")]  # tree's brain_ai first
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, path))}
        if setting == "tcmalloc":
            env["LD_PRELOAD"] = args.tcmalloc
        out_path, err_path = Path(run_dir) / "stdout.txt", Path(run_dir) / "stderr.txt"
        load, busy0 = os.getloadavg()[0], busy_cpu_s()
        t0 = time.perf_counter()
        with open(out_path, "w") as out, open(err_path, "w") as err:
            proc = subprocess.Popen(cmd, cwd=tree, env=env, stdout=out, stderr=err, text=True)
            _, status, usage = os.wait4(proc.pid, 0)  # this child's own resource usage
        wall = time.perf_counter() - t0
        busy1 = busy_cpu_s()
        returncode = os.waitstatus_to_exitcode(status)
        stdout, stderr = out_path.read_text(), err_path.read_text()
    lines = [ln for ln in stdout.splitlines() if ln.startswith(RESULT_TAG)]
    if returncode != 0 or not lines:
        return {"error": (stderr or stdout)[-1500:]}
    timed = json.loads(lines[-1][len(RESULT_TAG) :])
    return {
        "timed": timed,
        "samples_per_s": timed["steps"] * timed["batch_size"] / timed["wall"],
        "ms_per_step": 1000 * timed["wall"] / timed["steps"],
        "cpu_ms_per_step": 1000 * (timed["user"] + timed["sys"]) / timed["steps"],
        "step_spread": step_spread(timed["step_s"]),
        "sys_frac": timed["sys"] / timed["wall"],
        "faults_per_step": timed["faults"] / timed["steps"],
        "load_avg_1min_before": load,
        # CPU time of every other process during the run, as a share of all cores' time
        "others_cpu_frac": None
        if busy0 is None
        else max(0.0, (busy1 - busy0 - usage.ru_utime - usage.ru_stime) / (wall * os.cpu_count())),
        "process": {
            "wall_s": wall,
            "user_s": usage.ru_utime,
            "sys_s": usage.ru_stime,
            "minor_faults": usage.ru_minflt,
            "peak_rss_mib": usage.ru_maxrss / 1024,  # Linux: KiB
        },
    }


def summarise(runs: List[dict], repeats: int, tolerance: float, max_others: float) -> dict:
    """The median run of the last ``repeats`` runs, with the spreads and the noise flag."""
    errors = [r for r in runs if "error" in r]
    if errors:
        return {"error": errors[-1]["error"], "runs": len(runs)}
    window = runs[-repeats:]
    rates = [r["samples_per_s"] for r in window]
    median_run = sorted(window, key=lambda r: r["samples_per_s"])[(len(window) - 1) // 2]
    between = spread(rates)
    within = median_run["step_spread"]
    others = max((r["others_cpu_frac"] or 0.0) for r in window)
    return {
        **median_run,
        "samples_per_s_runs": rates,
        "run_spread": between,
        "others_cpu_frac_max": others,
        "noisy": len(window) < repeats or between > tolerance or within > tolerance or others > max_others,
        "runs": len(runs),
    }


def render(run: dict) -> str:
    """Markdown: one row per (configuration, setting), then the ratios between settings."""
    tol = 100 * run["tolerance"]
    lines = [
        f"# Training throughput ({run['device']}, {run['machine']})",
        "",
        f"{run['date']}; torch {run['torch']}; {run['warmup']} warm-up + {run['steps']} timed steps per run; "
        f"median of the last {run['repeats']} runs per setting (settings of a config run back to back, round by round); "
        f"`spread` = (max - min) / median samples/s over those runs, `step IQR` = the median run's step-time "
        f"interquartile range / median, `others` = the most CPU time other processes took during one of those runs, as a "
        f"share of all cores; **noisy** = spread or step IQR above {tol:.0f} % or others above "
        f"{100 * run['max_others']:.0f} %. `CPU ms/step` = user + sys time of all the process's threads per timed step "
        "(less sensitive to other processes than wall time). `sys %` and `faults/step` over the timed "
        "steps; wall/user/sys/peak RSS of the whole process. " + run["settings_note"],
        "",
        "| config | setting | samples/s | spread | step IQR | others | noise | rounds | ms/step | CPU ms/step | sys % | faults/step | wall s | user s | sys s | peak RSS MiB |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for (config, setting), r in run["results"].items():
        if "error" in r:
            lines.append(
                f"| {config} | {setting} | error: {r['error'].strip().splitlines()[-1] if r['error'].strip() else '?'} ||||||||||||||"
            )
            continue
        p = r["process"]
        lines.append(
            f"| {config} | {setting} | {r['samples_per_s']:.0f} | {100 * r['run_spread']:.1f} % | {100 * r['step_spread']:.1f} % | "
            f"{100 * r['others_cpu_frac_max']:.0f} % | {'**noisy**' if r['noisy'] else 'clean'} | {r['runs']} | "
            f"{r['ms_per_step']:.0f} | {r['cpu_ms_per_step']:.0f} | {100 * r['sys_frac']:.1f} | "
            f"{r['faults_per_step']:.0f} | {p['wall_s']:.1f} | {p['user_s']:.1f} | {p['sys_s']:.1f} | {p['peak_rss_mib']:.0f} |"
        )
    ok = lambda c, s: "error" not in run["results"].get((c, s), {"error": ""})  # noqa: E731
    rows = []
    for config in run["configs"]:
        for label, a, b in RATIOS:
            if ok(config, a) and ok(config, b):
                ra, rb = run["results"][(config, a)], run["results"][(config, b)]
                flag = " (noisy)" if ra["noisy"] or rb["noisy"] else ""
                rows.append(
                    f"| {config} | {label} | {ra['samples_per_s'] / rb['samples_per_s']:.2f}x{flag} | "
                    f"{rb['cpu_ms_per_step'] / ra['cpu_ms_per_step']:.2f}x | "
                    f"{ra['process']['peak_rss_mib'] / rb['process']['peak_rss_mib']:.2f}x |"
                )
    if rows:
        lines += [
            "",
            "| config | settings | samples/s ratio | CPU time per step, inverse ratio | peak RSS ratio |",
            "|---|---|---|---|---|",
            *rows,
        ]
    return "\n".join(lines) + "\n"


def write_report(
    args: argparse.Namespace, settings: List[str], configs: List[str], skipped: List[str], results: dict
) -> None:
    """Write ``<out>/train_throughput.{json,md}`` for the configurations measured so far; print the markdown."""
    import torch

    notes = [
        f"`ref` = {args.reference} with its own defaults" if "ref" in settings else "",
        f"`tcmalloc` = allocator_reuse=false, LD_PRELOAD={args.tcmalloc}" if "tcmalloc" in settings else "",
        f"not in the reference checkout: {', '.join(skipped)}" if skipped else "",
    ]
    loads = [r["load_avg_1min_before"] for r in results.values() if "error" not in r]
    run = {
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores"
        + (f", {torch.cuda.get_device_name()}" if args.device == "cuda" else "")
        + (f", 1-min load {min(loads):.1f}-{max(loads):.1f} before the reported runs" if loads else ""),
        "device": args.device,
        "torch": torch.__version__,
        "steps": args.steps,
        "warmup": args.warmup,
        "repeats": args.repeats,
        "tolerance": args.tolerance,
        "max_others": args.max_others,
        "configs": configs,
        "settings_note": "; ".join(n for n in notes if n) + ("." if any(notes) else ""),
        "results": results,
    }
    markdown = render(run)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "train_throughput.md").write_text(markdown)
    serialisable = {
        **run,
        "reference": str(args.reference),
        "results": [{"config": c, "setting": s, **r} for (c, s), r in results.items()],
    }
    (args.out / "train_throughput.json").write_text(json.dumps(serialisable, indent=2))
    print(markdown, flush=True)


def main(argv: List[str] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--configs", default=None, help=f"comma list of {', '.join(CONFIGS)} (default: those this checkout has)"
    )
    parser.add_argument("--settings", default="on,off,tcmalloc", help=f"comma list of {', '.join(SETTINGS)}")
    parser.add_argument("--reference", type=Path, default=None, help="checkout run by the 'ref' setting")
    parser.add_argument(
        "--tcmalloc",
        default=find_tcmalloc(),
        help="library preloaded by the 'tcmalloc' setting (default: found by ctypes)",
    )
    parser.add_argument("--steps", type=int, default=15, help="timed training steps per run")
    parser.add_argument("--warmup", type=int, default=3, help="untimed first steps per run")
    parser.add_argument("--repeats", type=int, default=3, help="runs per setting that the report uses (the last ones)")
    parser.add_argument("--max-rounds", type=int, default=5, help="most runs per setting while a config is noisy")
    parser.add_argument("--tolerance", type=float, default=0.10, help="spread above which a setting is noisy")
    parser.add_argument(
        "--max-others",
        type=float,
        default=0.10,
        help="share of all cores' time that other processes may use during a run before it is noisy",
    )
    parser.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results")
    args = parser.parse_args(argv)
    settings = [s for s in args.settings.split(",") if s]
    if not settings or set(settings) - set(SETTINGS):
        parser.error(f"--settings={args.settings}: allowed: comma list of {', '.join(SETTINGS)}")
    if "ref" in settings and (args.reference is None or not (args.reference / "train.py").is_file()):
        parser.error(f"--settings includes ref: --reference must be a checkout with train.py, got {args.reference}")
    if "tcmalloc" in settings and not args.tcmalloc:
        parser.error(
            "--settings includes tcmalloc but no tcmalloc library was found: install one "
            "(Debian: apt-get install libtcmalloc-minimal4) or pass --tcmalloc PATH"
        )
    if args.configs is None:
        configs = [c for c in CONFIGS if not missing_configs(CONFIGS[c], REPO)]
    else:
        configs = [c for c in args.configs.split(",") if c]
        unknown = [c for c in configs if c not in CONFIGS]
        if unknown:
            parser.error(f"--configs: unknown {unknown}; allowed: {', '.join(CONFIGS)}")
        absent = {c: missing_configs(CONFIGS[c], REPO) for c in configs if missing_configs(CONFIGS[c], REPO)}
        if absent:
            parser.error(f"--configs: this checkout lacks {absent}")
    if (
        args.steps < 1
        or args.warmup < 1
        or args.repeats < 1
        or args.max_rounds < args.repeats
        or args.tolerance <= 0
        or args.max_others <= 0
    ):
        parser.error(
            "need --steps, --warmup, --repeats >= 1, --max-rounds >= --repeats, --tolerance > 0 and --max-others > 0"
        )
    results, skipped = {}, []
    for config in configs:
        here = [s for s in settings if s != "ref" or not missing_configs(CONFIGS[config], args.reference)]
        skipped += [f"{config}/ref" for s in settings if s not in here]
        runs: Dict[str, List[dict]] = {s: [] for s in here}
        for round_ in range(1, args.max_rounds + 1):
            for setting in here:
                print(f"[train_throughput] {config}, {setting}, round {round_} ...", file=sys.stderr, flush=True)
                runs[setting].append(measure(CONFIGS[config], setting, args))
            summary = {s: summarise(runs[s], args.repeats, args.tolerance, args.max_others) for s in here}
            if round_ >= args.repeats and not any(r.get("noisy", False) for r in summary.values()):
                break
        results.update({(config, s): summary[s] for s in here})
        write_report(args, settings, configs, skipped, results)  # after every config: a stopped run keeps its part
    return 1 if any("error" in r for r in results.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
