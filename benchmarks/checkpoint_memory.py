"""Exact checkpointed BPTT on the W3 network: peak memory and step time vs full BPTT.

The W3 network (SNNCore 700-256-20, LIF, fused kernel) at B=64, T=2000, fp32, CPU. For full BPTT
and for every ``--every`` value: the peak bytes allocated during one training step (forward,
a time-weighted sum of the output as the loss (``probe_loss``), backward; :func:`brain_ai.core.memory.peak_bytes`, exact
allocation replay), the median (and min) wall time of ``--repeats`` steps (after one warm-up step, run
without the profiler, the modes interleaved), and the largest relative gradient difference to full BPTT over all
parameters (``||g - g_full|| / ||g_full||``). Also prints the peak that
:func:`brain_ai.core.memory.fit_network_peak` predicts (with ``--predict``).

    python benchmarks/checkpoint_memory.py                     # T=2000, every in {50, 200}
    python benchmarks/checkpoint_memory.py --time-steps 200    # quick
    python benchmarks/checkpoint_memory.py --predict           # also the fitted peak estimate

``--train-step``: the REAL training step of ``train.py`` instead of the bare network: the config
composed by Hydra (``data=smnist data.mode=pixel encoding=direct``, the default network and loss:
task term + rate / temporal / ISI regularisers), ``pipeline.build_model``, then the
LightningModule's ``training_step`` + backward + optimiser step, on (1) one batch of pixel-wise
S-MNIST (T = 784, mnist5k as the source) at ``--batch`` and (2) synthetic spikes at
``--time-steps`` (T = 2000) through the same network. The peak is reported as measured and above
the baseline: the same step at T = 28 (``data.mode=row``; synthetic: 28 steps).

    python benchmarks/checkpoint_memory.py --train-step --batch 256 --time-steps 2000 --synthetic-batch 64
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import time
from pathlib import Path
from typing import Callable, Dict, List, Optional, Tuple

import torch
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra

from brain_ai.app import pipeline
from brain_ai.config import SNNConfig
from brain_ai.config.hydra_store import register_configs
from brain_ai.core.memory import fit_network_peak, peak_bytes, probe_loss
from brain_ai.core.snn import build_snn

CONFIGS = Path(__file__).resolve().parent.parent / "configs"
#: the command line of issue 25: pixel-wise S-MNIST as input current, the default network and loss
SMNIST_PIXEL = ["data=smnist", "data.mode=pixel", "encoding=direct"]
#: the baseline's sequence length (data.mode=row)
BASELINE_STEPS = 28

W3 = SNNConfig(input_size=700, hidden_sizes=[256], output_size=20)


def _step(net: torch.nn.Module, x: torch.Tensor) -> None:
    net.zero_grad(set_to_none=True)
    probe_loss(net(x, keep_spikes=False).output).backward()  # output (B, T, 20)


def build(every: Optional[int], state: Dict[str, torch.Tensor]) -> torch.nn.Module:
    net = build_snn(dataclasses.replace(W3, checkpoint_every=every))
    net.load_state_dict(state)
    return net


def measure(
    modes: List[Optional[int]], x: torch.Tensor, state: Dict[str, torch.Tensor], repeats: int
) -> List[Dict[str, object]]:
    """Time every mode ``repeats`` times, interleaved (A B C A B C ...) so that a change of the
    machine's load hits all modes alike; then the gradients and the peak of one more step each."""
    nets = [build(every, state) for every in modes]
    for net in nets:
        _step(net, x)  # warm-up
    times: List[List[float]] = [[] for _ in modes]
    for _ in range(repeats):
        for net, t in zip(nets, times):
            t0 = time.perf_counter()
            _step(net, x)
            t.append(time.perf_counter() - t0)
    runs = []
    for every, net, t in zip(modes, nets, times):
        grads = {n: p.grad.clone() for n, p in net.named_parameters()}
        peak = peak_bytes(lambda: _step(net, x))
        runs.append(
            {"every": every, "peak": peak, "time": statistics.median(t), "min": min(t), "times": t, "grads": grads}
        )
    return runs


def compose_train(overrides: List[str]):
    """``configs/train.yaml`` composed with ``overrides`` (what ``python train.py <overrides>`` runs)."""
    register_configs()
    GlobalHydra.instance().clear()
    try:
        with initialize_config_dir(config_dir=str(CONFIGS), version_base="1.3"):
            return compose("train", overrides=overrides)
    finally:
        GlobalHydra.instance().clear()


def train_step(
    overrides: List[str], every: Optional[int], batch: int, synthetic_steps: Optional[int]
) -> Callable[[], None]:
    """The training step of ``train.py <overrides> snn.checkpoint_every=<every>`` on one batch:
    ``training_step`` (encode, SNN, decode, every loss term) + backward + optimiser step. The batch
    is the data's first training batch, or synthetic 10 % spikes ``(batch, synthetic_steps, F)``."""
    cfg = compose_train([*overrides, f"data.batch_size={batch}", f"snn.checkpoint_every={every or 'null'}"])
    torch.manual_seed(0)
    model, dm = pipeline.build_model(cfg)
    model.train()
    if synthetic_steps is None:
        dm.prepare_data()
        dm.setup("fit")
        x, y = next(iter(dm.train_dataloader()))[:2]
    else:
        x = (torch.rand(batch, synthetic_steps, model.snn_cfg.input_size) < 0.1).float()
        y = torch.randint(0, model.decoder.num_outputs, (batch,))
    optimizer = model.build_optimizer()

    def step() -> None:
        optimizer.zero_grad(set_to_none=True)
        model.training_step((x, y), 0).backward()
        optimizer.step()

    return step


def time_steps_interleaved(steps: List[Callable[[], None]], repeats: int) -> List[List[float]]:
    """Wall seconds of ``repeats`` calls of every step, interleaved (after one warm-up call each)."""
    for step in steps:
        step()
    times: List[List[float]] = [[] for _ in steps]
    for _ in range(repeats):
        for step, t in zip(steps, times):
            t0 = time.perf_counter()
            step()
            t.append(time.perf_counter() - t0)
    return times


def train_step_table(
    name: str,
    overrides: List[str],
    modes: List[Optional[int]],
    batch: int,
    synthetic: Optional[int],
    baseline: Tuple[List[str], Optional[int]],
    repeats: int,
) -> List[str]:
    """Markdown rows: peak MB, above the baseline, ratio to full BPTT, median step seconds, ratio."""
    base_overrides, base_synthetic = baseline
    base = peak_bytes(train_step(base_overrides, None, batch, base_synthetic))
    steps = [train_step(overrides, every, batch, synthetic) for every in modes]
    times = time_steps_interleaved(steps, repeats)
    peaks = [peak_bytes(step) for step in steps]
    rows = []
    for every, peak, t in zip(modes, peaks, times):
        mode = "full BPTT" if every is None else f"checkpoint_every={every}"
        above, full_above = peak - base, peaks[0] - base
        rows.append(
            f"| {name} | {mode} | {peak / 2**20:.1f} | {above / 2**20:.1f} | {above / full_above:.3f} | "
            f"{statistics.median(t):.2f} ({', '.join(f'{x:.2f}' for x in t)}) | {statistics.median(t) / statistics.median(times[0]):.2f} |"
        )
    return [f"baseline of {name}: the same step at T = {BASELINE_STEPS}, full BPTT: peak {base / 2**20:.1f} MB", *rows]


def main_train_step(args: argparse.Namespace) -> None:
    modes = [None, *args.every]
    row = [*SMNIST_PIXEL[:1], "data.mode=row", *SMNIST_PIXEL[2:]]
    # synthetic sequences are not S-MNIST images: no pixel-order shift augmentation
    synthetic = [*SMNIST_PIXEL, "data.augment_shift=0"]
    lines = [
        f"train.py {' '.join(SMNIST_PIXEL)} (default network and loss), fp32, CPU, {torch.get_num_threads()} threads, torch {torch.__version__}",
        "| data | mode | peak MB | above baseline MB | above baseline / full | step s: median (all) | time / full |",
        "|---|---|---|---|---|---|---|",
    ]
    tables = [
        train_step_table(
            f"S-MNIST pixel, B={args.batch}, T=784", SMNIST_PIXEL, modes, args.batch, None, (row, None), args.repeats
        ),
        train_step_table(
            f"synthetic, B={args.synthetic_batch}, T={args.time_steps}",
            synthetic,
            modes,
            args.synthetic_batch,
            args.time_steps,
            (synthetic, BASELINE_STEPS),
            args.repeats,
        ),
    ]
    notes = [t[0] for t in tables]
    print("\n".join([*lines, *(r for t in tables for r in t[1:]), "", *notes]), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--time-steps", type=int, default=2000)
    parser.add_argument("--every", type=int, nargs="+", default=[50, 200])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch.set_num_threads (0: leave as is). Default 1: on a shared 2-core machine, 2-thread "
        "OpenMP GEMMs of one segment's size (3200 x 256 x 20) stall behind other processes' threads",
    )
    parser.add_argument("--predict", action="store_true", help="also print the fitted peak estimate")
    parser.add_argument("--train-step", action="store_true", help="the real training step of train.py (see above)")
    parser.add_argument("--synthetic-batch", type=int, default=64, help="--train-step: batch of the synthetic T run")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.train_step:
        return main_train_step(args)
    torch.manual_seed(0)
    state = build_snn(W3).state_dict()
    x = (torch.rand(args.batch, args.time_steps, 700) < 0.05).float()  # (B, T, 700) sparse input spikes
    model = fit_network_peak(W3, args.batch) if args.predict else None
    runs = measure([None, *args.every], x, state, args.repeats)
    full = runs[0]
    print(
        f"W3 700-256-20, B={args.batch}, T={args.time_steps}, fp32, CPU, {torch.get_num_threads()} threads, torch {torch.__version__}"
    )
    header = "| mode | peak MB | peak / full | step s: median (all) | time / full: median, min | max rel. grad diff |"
    if model:
        header += " predicted peak MB |"
    print(header)
    print("|" + "---|" * (header.count("|") - 1))
    for run in runs:
        diff = max(float((run["grads"][n] - g).norm() / g.norm().clamp_min(1e-30)) for n, g in full["grads"].items())
        name = "full BPTT" if run["every"] is None else f"checkpoint_every={run['every']}"
        row = (
            f"| {name} | {run['peak'] / 2**20:.1f} | {run['peak'] / full['peak']:.3f} | {run['time']:.2f} "
            f"({', '.join(f'{t:.2f}' for t in run['times'])}) | {run['time'] / full['time']:.2f}, {run['min'] / full['min']:.2f} | {diff:.1e} |"
        )
        if model:
            row += f" {model.predict(args.time_steps, run['every']) / 2**20:.1f} |"
        print(row)


if __name__ == "__main__":
    main()
