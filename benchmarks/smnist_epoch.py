"""Wall time of one whole training epoch of pixel-wise sequential MNIST (T = 784) on mnist5k, every variant side by side.

Runs ``python train.py experiment=smnist_pixel`` once per entry of :data:`VARIANTS` (the recurrent
adaptive SNN with each CPU backend: ``eager``, ``fused``, ``compiled``; ``snn=lstm`` of 128 and of 256; and
``experiment=smnist_pixel_psn``, a sliding PSN layer) for
exactly one epoch over the 3,600 training images at the experiment's batch size (no validation,
test, checkpoints or logger), timing every batch with ``train_throughput.StepTimer``, ``--repeats``
times each, the variants of one repeat back to back. Reported per variant: the median epoch's
wall seconds, its CPU seconds (user + sys of all threads, less sensitive to other processes), the
ratio to the LSTM's epoch, and the noise flags the other benchmarks use: other processes' CPU share
during the run (:mod:`train_throughput`), the spread between repeats, and the calibration kernel of
``worker.calibrate`` timed before and after every run (noisy above ``report.NOISE_LIMIT`` x the run's best).
Targets of issue 26 (CPU, 2 cores): the recurrent SNN epoch at most 1.0x the LSTM's.

    python benchmarks/smnist_epoch.py                          # every variant, 2 repeats
    python benchmarks/smnist_epoch.py --quick                  # 30 batches per run, 1 repeat: ratios in minutes
    python benchmarks/smnist_epoch.py --variants snn_compiled,lstm --repeats 1
    python benchmarks/smnist_epoch.py --device cuda            # trainer=gpu (16-mixed), CUDA synchronised per step

Add a variant with one line in :data:`VARIANTS` (a name and its ``train.py`` overrides). The
compiled backend's first run in a fresh checkout also compiles its loops (logged; about 10 s,
cached on disk for the later runs). Writes ``<out>/smnist_epoch.{json,md}`` and prints the markdown.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import statistics
from pathlib import Path
from typing import Dict, List, Tuple

from report import NOISE_LIMIT
from train_throughput import REPO, measure, spread
from worker import calibrate

#: (name, train.py overrides): every variant reads pixel-wise S-MNIST at the experiment's batch size.
#: One line per variant (e.g. a PSN neuron: ``("psn_sliding", [PIXEL, "snn.neuron.type=sliding_psn"])``).
PIXEL = "experiment=smnist_pixel"
VARIANTS: List[Tuple[str, List[str]]] = [
    ("snn_eager", [PIXEL, "snn.neuron.backend=eager"]),
    ("snn_fused", [PIXEL, "snn.neuron.backend=fused"]),
    ("snn_compiled", [PIXEL, "snn.neuron.backend=compiled"]),
    # snn=lstm: an LSTM of 128 (its group's default), about the recurrent SNN's parameter count (68k against 69k)
    ("lstm", [PIXEL, "snn=lstm"]),
    # the LSTM at the SNN's width, 256 (four times its recurrent weights)
    ("lstm_256", [PIXEL, "snn=lstm", "snn.hidden_sizes=[256]"]),
    # the sliding parallel spiking neuron (order 64, no time loop) with the same recipe
    ("sliding_psn", ["experiment=smnist_pixel_psn"]),
]
#: the variant the others are compared with
BASELINE = "lstm"
#: more batches than an epoch has: train.py's max_epochs=1 then ends the run after one whole epoch
WHOLE_EPOCH = 10**6
#: batches per run of --quick
QUICK_BATCHES = 30


def timed_run(overrides: List[str], run_args: argparse.Namespace) -> dict:
    """One ``train.py`` run between two calibration-kernel timings (ms, added as ``calib_ms``)."""
    before = calibrate()
    run = measure(overrides, "on", run_args)
    run["calib_ms"] = [before, calibrate()]
    return run


def main(argv: List[str] = None) -> int:
    names = [name for name, _ in VARIANTS]
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--variants", default=",".join(names), help=f"comma list of {', '.join(names)}")
    parser.add_argument(
        "--repeats",
        type=int,
        default=None,
        help="epochs timed per variant (separate processes); default 2, 1 with --quick",
    )
    parser.add_argument(
        "--quick", action="store_true", help=f"{QUICK_BATCHES} batches per run and 1 repeat (unless --repeats is given)"
    )
    parser.add_argument(
        "--tolerance", type=float, default=0.10, help="spread between runs above which a result is noisy"
    )
    parser.add_argument(
        "--max-others", type=float, default=0.10, help="other processes' CPU share above which a run is noisy"
    )
    parser.add_argument(
        "--overrides", nargs="*", default=[], help="more train.py overrides (e.g. data.limit_train=64 for a smoke run)"
    )
    parser.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results")
    args = parser.parse_args(argv)
    chosen = args.variants.split(",")
    unknown = sorted(set(chosen) - set(names))
    if unknown:
        parser.error(f"--variants: unknown {', '.join(unknown)}; allowed: {', '.join(names)}")
    repeats = args.repeats if args.repeats is not None else (1 if args.quick else 2)
    steps = QUICK_BATCHES if args.quick else WHOLE_EPOCH
    run_args = argparse.Namespace(warmup=0, steps=steps, device=args.device, reference=None, tcmalloc=None)
    overrides = dict(VARIANTS)
    runs: Dict[str, List[dict]] = {name: [] for name in chosen}
    for _ in range(repeats):  # the variants of one repeat back to back: ratios from the same minutes
        for name in chosen:
            run = timed_run(overrides[name] + args.overrides, run_args)
            if "error" in run:
                raise SystemExit(f"{name}: train.py failed:\n{run['error']}")
            runs[name].append(run)
    best_calib = min(c for per in runs.values() for r in per for c in r["calib_ms"])
    results, rows = {}, []
    for name in chosen:
        per = runs[name]
        epoch_s = [r["timed"]["wall"] for r in per]
        cpu_s = [r["timed"]["user"] + r["timed"]["sys"] for r in per]
        others = max(r["others_cpu_frac"] or 0.0 for r in per)
        calib_slow = max(max(r["calib_ms"]) for r in per) / best_calib
        noisy = spread(epoch_s) > args.tolerance or others > args.max_others or calib_slow > NOISE_LIMIT
        timed = per[0]["timed"]
        results[name] = {
            "overrides": overrides[name] + args.overrides,
            "images": timed["steps"] * timed["batch_size"],
            "batches": timed["steps"],
            "batch_size": timed["batch_size"],
            "epoch_s": epoch_s,
            "cpu_s": cpu_s,
            "others_cpu_frac_max": others,
            "calib_ms": [r["calib_ms"] for r in per],
            "noisy": noisy,
        }
    base = results.get(BASELINE)
    for name, r in results.items():
        wall, cpu = statistics.median(r["epoch_s"]), statistics.median(r["cpu_s"])
        ratio = f"{wall / statistics.median(base['epoch_s']):.2f}x" if base else "-"
        cpu_ratio = f"{cpu / statistics.median(base['cpu_s']):.2f}x" if base else "-"
        r["vs_baseline"] = None if not base else wall / statistics.median(base["epoch_s"])
        rows.append(
            f"| {name} | {' '.join(r['overrides'])} | {r['batches']} x {r['batch_size']} | {wall:.1f} | {cpu:.1f} | {ratio} | {cpu_ratio} | "
            f"{100 * spread(r['epoch_s']):.1f} % | {100 * r['others_cpu_frac_max']:.0f} % | "
            f"{max(max(c) for c in r['calib_ms']) / best_calib:.2f} | {'**noisy**' if r['noisy'] else 'clean'} |"
        )
    date = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    where = f"{platform.machine()}, {os.cpu_count()} cores"
    if args.device == "cuda":
        import torch

        where += f", {torch.cuda.get_device_name()}, trainer=gpu"
    span = (
        f"{QUICK_BATCHES} batches per run (--quick)"
        if args.quick
        else "the whole training split of mnist5k (3,600 images unless data.limit_train is set; the last batch may be smaller)"
    )
    markdown = (
        "\n".join(
            [
                f"# Pixel-wise S-MNIST training epoch, variants side by side ({where})",
                "",
                f"{date}; {span}, T = 784; median of {repeats} run(s) per variant (separate processes, the variants of one "
                f"repeat back to back). `vs {BASELINE}` = wall (CPU) time over the {BASELINE}'s in the same run. `others` = the "
                f"most CPU time other processes took during one run, as a share of all cores; `calib` = the slowest "
                f"calibration kernel (worker.calibrate, before and after each run) over the best; **noisy** = spread between "
                f"runs above {100 * args.tolerance:.0f} %, others above {100 * args.max_others:.0f} % or calib above {NOISE_LIMIT}.",
                "",
                f"| variant | train.py | batches | wall s | CPU s | vs {BASELINE} (wall) | vs {BASELINE} (CPU) | spread | others | calib | noise |",
                "|---|---|---|---|---|---|---|---|---|---|---|",
                *rows,
            ]
        )
        + "\n"
    )
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "smnist_epoch.md").write_text(markdown)
    (args.out / "smnist_epoch.json").write_text(
        json.dumps({"date": date, "repeats": repeats, "quick": args.quick, "results": results}, indent=2)
    )
    print(markdown, flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
