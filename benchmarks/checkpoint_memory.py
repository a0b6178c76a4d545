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
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import time
from typing import Dict, List, Optional

import torch

from brain_ai.config import SNNConfig
from brain_ai.core.memory import fit_network_peak, peak_bytes, probe_loss
from brain_ai.core.snn import build_snn

W3 = SNNConfig(input_size=700, hidden_sizes=[256], output_size=20)


def _step(net: torch.nn.Module, x: torch.Tensor) -> None:
    net.zero_grad(set_to_none=True)
    probe_loss(net(x, keep_spikes=False).output).backward()  # output (B, T, 20)


def build(every: Optional[int], state: Dict[str, torch.Tensor]) -> torch.nn.Module:
    net = build_snn(dataclasses.replace(W3, checkpoint_every=every))
    net.load_state_dict(state)
    return net


def measure(modes: List[Optional[int]], x: torch.Tensor, state: Dict[str, torch.Tensor], repeats: int) -> List[Dict[str, object]]:
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
        runs.append({"every": every, "peak": peak, "time": statistics.median(t), "min": min(t), "times": t, "grads": grads})
    return runs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--time-steps", type=int, default=2000)
    parser.add_argument("--every", type=int, nargs="+", default=[50, 200])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument(
        "--threads", type=int, default=1,
        help="torch.set_num_threads (0: leave as is). Default 1: on a shared 2-core machine, 2-thread "
        "OpenMP GEMMs of one segment's size (3200 x 256 x 20) stall behind other processes' threads",
    )
    parser.add_argument("--predict", action="store_true", help="also print the fitted peak estimate")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    state = build_snn(W3).state_dict()
    x = (torch.rand(args.batch, args.time_steps, 700) < 0.05).float()  # (B, T, 700) sparse input spikes
    model = fit_network_peak(W3, args.batch) if args.predict else None
    runs = measure([None, *args.every], x, state, args.repeats)
    full = runs[0]
    print(f"W3 700-256-20, B={args.batch}, T={args.time_steps}, fp32, CPU, {torch.get_num_threads()} threads, torch {torch.__version__}")
    header = "| mode | peak MB | peak / full | step s: median (all) | time / full: median, min | max rel. grad diff |"
    if model:
        header += " predicted peak MB |"
    print(header)
    print("|" + "---|" * (header.count("|") - 1))
    for run in runs:
        diff = max(
            float((run["grads"][n] - g).norm() / g.norm().clamp_min(1e-30)) for n, g in full["grads"].items()
        )
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
