"""Forward + backward time of the recurrent adaptive LIF layer: fused whole-sequence Function vs eager.

The workload is pixel-wise sequential MNIST: ``B`` sequences of ``T = 784`` steps with one input
per step, a ``Linear(1, N)`` input current into ``RecurrentAdaptiveLIFNeuron(N)`` (learnable
per-neuron beta and adaptation decay, learnable threshold). Reported per (N, backend): the median
seconds of one forward + backward over ``--repeats`` runs (after one warm-up), for

* ``layer``: ``Linear -> recurrent adaptive LIF`` (loss on the spikes);
* ``net``: the whole ``SNNCore`` (same layer, then ``Linear(N, 10) -> LeakyIntegrator`` readout
  with learnable per-neuron decay, loss on the readout membrane).

    python benchmarks/recurrent_kernel.py                            # N = 128, 256; 2 threads
    python benchmarks/recurrent_kernel.py --hidden 128 --backends fused --repeats 5

It runs under :func:`brain_ai.app.allocator.reuse_large_blocks` like ``train.py`` (``--allocator off``
to compare). Besides the wall-clock median it reports the process CPU seconds per run (user +
sys, all threads), which a busy machine inflates less. Writes ``<out>/recurrent_kernel.{json,md}``
and prints the markdown. Run it on an otherwise idle machine: other processes show up directly in
the wall-clock numbers.
"""

from __future__ import annotations

import argparse
import datetime
import json
import platform
import statistics
import time
from pathlib import Path
from typing import Callable, Dict, List

import torch

from brain_ai.app.allocator import reuse_large_blocks
from brain_ai.config import NeuronConfig, SNNConfig
from brain_ai.core.neurons import RecurrentAdaptiveLIFNeuron, build_neuron
from brain_ai.core.snn import SNNCore

REPO = Path(__file__).resolve().parents[1]


def neuron_cfg(backend: str) -> NeuronConfig:
    """The anchors' recipe: per-neuron learnable membrane and adaptation decays, learnable threshold."""
    return NeuronConfig(
        type="recurrent_adaptive_lif",
        beta=0.95,
        adaptation_decay=0.99,
        adaptation_alpha=0.2,
        learnable_beta=True,
        per_neuron_beta=True,
        learnable_adaptation=True,
        learnable_threshold=True,
        threshold=0.5,
        backend=backend,
    )


def layer_step(batch: int, steps: int, hidden: int, backend: str) -> Callable[[], None]:
    """One forward + backward of ``Linear(1, N) -> RecurrentAdaptiveLIFNeuron`` on a random pixel sequence."""
    torch.manual_seed(0)
    fc = torch.nn.Linear(1, hidden)
    neuron = build_neuron(neuron_cfg(backend), hidden)
    assert isinstance(neuron, RecurrentAdaptiveLIFNeuron)
    x = torch.rand(batch, steps, 1)

    def run() -> None:
        spikes, _, _ = neuron.forward_sequence(fc(x), backend=backend)
        spikes.mean().backward()

    return run


def net_step(batch: int, steps: int, hidden: int, backend: str) -> Callable[[], None]:
    """One forward + backward of the whole SNNCore (membrane readout) on a random pixel sequence."""
    torch.manual_seed(0)
    cfg = SNNConfig(input_size=1, hidden_sizes=[hidden], output_size=10, readout="membrane", neuron=neuron_cfg(backend))
    net = SNNCore(cfg)
    x = torch.rand(batch, steps, 1)
    target = torch.randint(0, 10, (batch,))

    def run() -> None:
        out = net(x).output  # (B, T, 10)
        torch.nn.functional.cross_entropy(out.mean(1), target).backward()

    return run


def measure(run: Callable[[], None], repeats: int) -> Dict[str, float]:
    run()  # warm-up
    times, cpu = [], []
    for _ in range(repeats):
        start, start_cpu = time.perf_counter(), time.process_time()
        run()
        times.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
    return {
        "median_s": statistics.median(times),
        "min_s": min(times),
        "cpu_s": statistics.median(cpu),
        "repeats": repeats,
    }


def main(argv: List[str] = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--steps", type=int, default=784)
    parser.add_argument("--hidden", type=int, nargs="+", default=[128, 256])
    parser.add_argument("--backends", nargs="+", default=["fused", "eager"], choices=["compiled", "fused", "eager"])
    parser.add_argument("--what", nargs="+", default=["layer", "net"], choices=["layer", "net"])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--eager-repeats", type=int, default=1, help="repeats of the (slow) eager runs")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--allocator", choices=["on", "off"], default="on", help="glibc large-block reuse, as train.py")
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    rows = []
    with reuse_large_blocks(args.allocator == "on"):
        for what in args.what:
            make = layer_step if what == "layer" else net_step
            for hidden in args.hidden:
                for backend in args.backends:
                    repeats = args.eager_repeats if backend == "eager" else args.repeats
                    res = measure(make(args.batch, args.steps, hidden, backend), repeats)
                    rows.append({"what": what, "hidden": hidden, "backend": backend, **res})
                    print(
                        f"{what} N={hidden} {backend}: {res['median_s']:.3f} s wall, {res['cpu_s']:.3f} s CPU",
                        flush=True,
                    )
    meta = {
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "torch": torch.__version__,
        "threads": args.threads,
        "machine": platform.machine(),
        "batch": args.batch,
        "steps": args.steps,
        "allocator_reuse": args.allocator,
    }
    lines = [
        f"# Recurrent adaptive LIF: forward + backward, B={args.batch}, T={args.steps}, {args.threads} threads",
        "",
        f"torch {meta['torch']}, {meta['date']}, allocator reuse {args.allocator}",
        "",
        "| what | N | backend | median s | min s | CPU s | repeats | speed-up vs eager |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        eager = next(
            (e for e in rows if e["what"] == r["what"] and e["hidden"] == r["hidden"] and e["backend"] == "eager"), None
        )
        speedup = f"{eager['median_s'] / r['median_s']:.1f}x" if eager else "-"
        lines.append(
            f"| {r['what']} | {r['hidden']} | {r['backend']} | {r['median_s']:.3f} | {r['min_s']:.3f} | {r['cpu_s']:.3f} "
            f"| {r['repeats']} | {speedup} |"
        )
    md = "\n".join(lines) + "\n"
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "recurrent_kernel.json").write_text(json.dumps({"meta": meta, "rows": rows}, indent=2) + "\n")
    (args.out / "recurrent_kernel.md").write_text(md)
    print(md)


if __name__ == "__main__":
    main()
