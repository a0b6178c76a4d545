"""Wall time of one whole training epoch of pixel-wise sequential MNIST (T = 784) on mnist5k.

Runs ``python train.py experiment=smnist_pixel`` (the recurrent adaptive SNN), the same with
``snn=lstm`` and ``experiment=smnist_pixel_psn`` (a sliding PSN layer) for exactly one epoch
over the 3,600 training images (no validation, test,
checkpoints or logger), timing every batch with ``train_throughput.StepTimer``, ``--repeats``
times each. Reported per network: the median epoch's wall seconds, its CPU seconds (user + sys of
all threads, less sensitive to other processes), and the noise flags of
:mod:`train_throughput` (other processes' CPU share during the run, spread between runs). The
target of issue 14: the SNN epoch under 60 s on 2 cores.

    python benchmarks/smnist_epoch.py                 # every network, 2 repeats
    python benchmarks/smnist_epoch.py --nets snn --repeats 1
    python benchmarks/smnist_epoch.py --device cuda   # trainer=gpu (16-mixed), CUDA synchronised per step

Writes ``<out>/smnist_epoch.{json,md}`` and prints the markdown.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import statistics
from pathlib import Path
from typing import Dict, List

from train_throughput import REPO, measure, spread

#: network -> train.py overrides (both read pixel-wise S-MNIST with the experiment's batch size)
NETS: Dict[str, List[str]] = {
    "snn": ["experiment=smnist_pixel"],
    "lstm": ["experiment=smnist_pixel", "snn=lstm"],
    # the sliding parallel spiking neuron (order 64, no time loop) with the same recipe
    "sliding_psn": ["experiment=smnist_pixel_psn"],
}
#: more batches than an epoch has: train.py's max_epochs=1 then ends the run after one whole epoch
WHOLE_EPOCH = 10**6


def main(argv: List[str] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--nets", default=",".join(NETS), help=f"comma list of {', '.join(NETS)}")
    parser.add_argument("--repeats", type=int, default=2, help="epochs timed per network (separate processes)")
    parser.add_argument("--tolerance", type=float, default=0.10, help="spread between runs above which a result is noisy")
    parser.add_argument("--max-others", type=float, default=0.10, help="other processes' CPU share above which a run is noisy")
    parser.add_argument("--overrides", nargs="*", default=[], help="more train.py overrides (e.g. data.limit_train=64 for a smoke run)")
    parser.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results")
    args = parser.parse_args(argv)
    run_args = argparse.Namespace(warmup=0, steps=WHOLE_EPOCH, device=args.device, reference=None, tcmalloc=None)
    rows, results = [], {}
    for net in args.nets.split(","):
        runs = [measure(NETS[net] + args.overrides, "on", run_args) for _ in range(args.repeats)]
        errors = [r["error"] for r in runs if "error" in r]
        if errors:
            raise SystemExit(f"{net}: train.py failed:\n{errors[-1]}")
        epoch_s = [r["timed"]["wall"] for r in runs]
        cpu_s = [r["timed"]["user"] + r["timed"]["sys"] for r in runs]
        others = max(r["others_cpu_frac"] or 0.0 for r in runs)
        noisy = spread(epoch_s) > args.tolerance or others > args.max_others
        timed = runs[0]["timed"]
        results[net] = {"images": timed["steps"] * timed["batch_size"], "batches": timed["steps"], "batch_size": timed["batch_size"], "epoch_s": epoch_s, "cpu_s": cpu_s, "others_cpu_frac_max": others, "noisy": noisy}
        rows.append(f"| {net} | {' '.join(NETS[net] + args.overrides)} | {timed['steps']} x {timed['batch_size']} | {statistics.median(epoch_s):.1f} | {statistics.median(cpu_s):.1f} | "
                    f"{100 * spread(epoch_s):.1f} % | {100 * others:.0f} % | {'**noisy**' if noisy else 'clean'} |")
    date = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    where = f"{platform.machine()}, {os.cpu_count()} cores"
    if args.device == "cuda":
        import torch

        where += f", {torch.cuda.get_device_name()}, trainer=gpu"
    markdown = "\n".join([
        f"# One pixel-wise S-MNIST training epoch ({where})",
        "",
        f"{date}; the whole training split of mnist5k (3,600 images unless data.limit_train is set; the last batch may be smaller), T = 784; median of {args.repeats} epochs "
        f"(separate processes). `others` = the most CPU time other processes took during one epoch, as a share of all "
        f"cores; **noisy** = spread between epochs above {100 * args.tolerance:.0f} % or others above {100 * args.max_others:.0f} %.",
        "",
        "| network | train.py | batches | epoch wall s | epoch CPU s | spread | others | noise |",
        "|---|---|---|---|---|---|---|---|",
        *rows,
    ]) + "\n"
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "smnist_epoch.md").write_text(markdown)
    (args.out / "smnist_epoch.json").write_text(json.dumps({"date": date, "results": results}, indent=2))
    print(markdown, flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
