"""Whole-run training throughput of real ``train.py`` configurations, allocator reuse on vs off.

Each measurement is one ``python train.py <config> ...`` subprocess training for ``--warmup`` +
``--steps`` batches (one epoch, no validation, no test, no checkpoints, no logger). A
``StepTimer`` callback (added through a Hydra ``+callbacks.timer`` override) times the last
``--steps`` batches; the process's own resource usage covers the whole run.

Reported per (configuration, allocator setting):

* ``samples/s`` and ``ms/step`` over the timed steps (steady state, start-up excluded);
* ``sys %``: kernel time as a share of wall time over the timed steps (page faults show here);
* ``faults/step``: minor page faults per timed step;
* whole process: wall, user and sys seconds, minor faults and peak RSS (MiB).

    python benchmarks/train_throughput.py                        # mlp, conv, recurrent; on and off
    python benchmarks/train_throughput.py --configs conv --steps 10 --allocator on
    python benchmarks/train_throughput.py --device cuda          # trainer=gpu (16-mixed)

Writes ``<out>/train_throughput.{json,md}`` and prints the markdown. Run it on an otherwise idle
machine: other processes show up directly in the wall-clock numbers.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Dict, List

import lightning as L

REPO = Path(__file__).resolve().parents[1]

#: configuration name -> train.py overrides (the temporal experiment joins once it exists)
CONFIGS: Dict[str, List[str]] = {
    "mlp": [],
    "conv": ["snn=conv"],
    "recurrent": ["snn=recurrent"],
}
ALLOCATOR = {"on": "true", "off": "false"}
RESULT_TAG = "THROUGHPUT "


class StepTimer(L.Callback):
    """Times training batches ``warmup`` .. end; prints one ``THROUGHPUT <json>`` line at the end."""

    def __init__(self, warmup: int) -> None:
        self.warmup = warmup
        self.start = None

    @staticmethod
    def _now() -> Dict[str, float]:
        ru = resource.getrusage(resource.RUSAGE_SELF)
        return {"wall": time.perf_counter(), "user": ru.ru_utime, "sys": ru.ru_stime, "faults": ru.ru_minflt}

    def on_train_batch_start(self, trainer: L.Trainer, pl_module: L.LightningModule, batch, batch_idx: int) -> None:  # noqa: ANN001
        if batch_idx == self.warmup:
            self.start = self._now()
            self.batch_size = int(batch[0].shape[0])

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if self.start is None:
            raise RuntimeError(f"StepTimer: training ended before batch {self.warmup}; raise --steps or lower --warmup")
        end = self._now()
        steps = trainer.global_step - self.warmup
        delta = {k: end[k] - self.start[k] for k in end}
        print(RESULT_TAG + json.dumps({"steps": steps, "batch_size": self.batch_size, **delta}), flush=True)


def measure(config: str, allocator: str, steps: int, warmup: int, device: str) -> dict:
    """One ``train.py`` subprocess; returns the timed-steps numbers and whole-process usage."""
    with tempfile.TemporaryDirectory() as run_dir:
        cmd = [
            sys.executable, "train.py", *CONFIGS[config],
            f"allocator_reuse={ALLOCATOR[allocator]}",
            *(["trainer=gpu"] if device == "cuda" else []),
            "trainer.max_epochs=1", f"+trainer.limit_train_batches={warmup + steps}", "+trainer.limit_val_batches=0",
            "test=false", "optimized_metric=null", "callbacks=none", "~logger",
            "trainer.enable_progress_bar=false", "+trainer.enable_model_summary=false",
            "+callbacks.timer._target_=benchmarks.train_throughput.StepTimer",
            f"+callbacks.timer.warmup={warmup}", f"hydra.run.dir={run_dir}",
        ]
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
        out_path, err_path = Path(run_dir) / "stdout.txt", Path(run_dir) / "stderr.txt"
        t0 = time.perf_counter()
        with open(out_path, "w") as out, open(err_path, "w") as err:
            proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=out, stderr=err, text=True)
            _, status, usage = os.wait4(proc.pid, 0)  # this child's own resource usage
        wall = time.perf_counter() - t0
        returncode = os.waitstatus_to_exitcode(status)
        stdout, stderr = out_path.read_text(), err_path.read_text()
    lines = [ln for ln in stdout.splitlines() if ln.startswith(RESULT_TAG)]
    if returncode != 0 or not lines:
        return {"error": (stderr or stdout)[-1500:]}
    timed = json.loads(lines[-1][len(RESULT_TAG):])
    return {
        "timed": timed,
        "samples_per_s": timed["steps"] * timed["batch_size"] / timed["wall"],
        "ms_per_step": 1000 * timed["wall"] / timed["steps"],
        "sys_frac": timed["sys"] / timed["wall"],
        "faults_per_step": timed["faults"] / timed["steps"],
        "process": {
            "wall_s": wall,
            "user_s": usage.ru_utime,
            "sys_s": usage.ru_stime,
            "minor_faults": usage.ru_minflt,
            "peak_rss_mib": usage.ru_maxrss / 1024,  # Linux: KiB
        },
    }


def render(run: dict) -> str:
    """Markdown: one row per (configuration, allocator), then the on/off ratios."""
    lines = [
        f"# Training throughput ({run['device']}, {run['machine']})",
        "",
        f"{run['date']}; torch {run['torch']}; {run['warmup']} warm-up + {run['steps']} timed steps per run; "
        "`sys %` and `faults/step` over the timed steps; wall/user/sys/peak RSS of the whole process.",
        "",
        "| config | allocator reuse | samples/s | ms/step | sys % | faults/step | wall s | user s | sys s | peak RSS MiB |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for (config, alloc), r in run["results"].items():
        if "error" in r:
            lines.append(f"| {config} | {alloc} | error: {r['error'].splitlines()[-1] if r['error'] else '?'} |||||||||")
            continue
        p = r["process"]
        lines.append(
            f"| {config} | {alloc} | {r['samples_per_s']:.0f} | {r['ms_per_step']:.0f} | {100 * r['sys_frac']:.1f} | "
            f"{r['faults_per_step']:.0f} | {p['wall_s']:.1f} | {p['user_s']:.1f} | {p['sys_s']:.1f} | {p['peak_rss_mib']:.0f} |"
        )
    pairs = [c for c in run["configs"] if all(k in run["results"] and "error" not in run["results"][k] for k in ((c, "on"), (c, "off")))]
    if pairs:
        lines += ["", "| config | samples/s on/off | peak RSS on/off |", "|---|---|---|"]
        for c in pairs:
            on, off = run["results"][(c, "on")], run["results"][(c, "off")]
            lines.append(
                f"| {c} | {on['samples_per_s'] / off['samples_per_s']:.2f}x | "
                f"{on['process']['peak_rss_mib'] / off['process']['peak_rss_mib']:.2f}x |"
            )
    return "\n".join(lines) + "\n"


def main(argv: List[str] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--configs", default=",".join(CONFIGS), help=f"comma list of {', '.join(CONFIGS)}")
    parser.add_argument("--allocator", choices=["both", "on", "off"], default="both")
    parser.add_argument("--steps", type=int, default=20, help="timed training steps per run")
    parser.add_argument("--warmup", type=int, default=3, help="untimed first steps per run")
    parser.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results")
    args = parser.parse_args(argv)
    configs = [c for c in args.configs.split(",") if c]
    unknown = sorted(set(configs) - set(CONFIGS))
    if unknown:
        parser.error(f"--configs: unknown {unknown}; allowed: {', '.join(CONFIGS)}")
    if args.steps < 1 or args.warmup < 1:
        parser.error("--steps and --warmup must be >= 1")
    settings = ["on", "off"] if args.allocator == "both" else [args.allocator]
    import torch

    results = {}
    for config in configs:
        for alloc in settings:
            print(f"[train_throughput] {config}, allocator reuse {alloc} ...", file=sys.stderr, flush=True)
            results[(config, alloc)] = measure(config, alloc, args.steps, args.warmup, args.device)
    run = {
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores",
        "device": args.device, "torch": torch.__version__, "steps": args.steps, "warmup": args.warmup,
        "configs": configs, "results": results,
    }
    markdown = render(run)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "train_throughput.md").write_text(markdown)
    serialisable = {**run, "results": [{"config": c, "allocator": a, **r} for (c, a), r in results.items()]}
    (args.out / "train_throughput.json").write_text(json.dumps(serialisable, indent=2))
    print(markdown)
    return 1 if any("error" in r for r in results.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
