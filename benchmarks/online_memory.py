"""Online learning rules (snn.learning_rule = ottt | sltt) against BPTT: memory and time of the real training step.

The model is the one ``python train.py`` builds from the composed config (the default MLP of LIF
neurons with 256 hidden neurons, rate decoder, the default loss with the rate, temporal and ISI
regularisers) on synthetic spikes, ``data=synthetic encoding=identity`` with 700 inputs, 20
classes and ``data.n_time_bins = T`` (the W3 shape of ``checkpoint_memory.py``). For every rule and T:
the peak bytes allocated during one ``training_step`` and its ``backward`` on the same batch,
above what was allocated before it (:func:`brain_ai.core.memory.peak_bytes`, exact allocation
replay; CPU), and the median wall time of ``--repeats`` steps after a warm-up. The batch is encoded
once before (the encoder then returns that ``SpikeBatch``): the encoded input ``(B, T, 700)`` is
data, the same for every rule, and the identity encoder's input check alone peaks at about 1.4x
its size, more than BPTT's whole graph here; its own peak is printed beside.

    python benchmarks/online_memory.py                           # T = 100 and 2000, B = 64
    python benchmarks/online_memory.py --time-steps 25 100       # quick
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path
from typing import List

import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))  # framework_helpers.compose_config: the composed train.py config

from framework_helpers import compose_config  # noqa: E402

from brain_ai.app import pipeline  # noqa: E402
from brain_ai.core.memory import peak_bytes  # noqa: E402


def measure(rule: str, steps: int, batch_size: int, repeats: int) -> dict:
    """Peak bytes of the step and of the encoder alone, and median step time, of ``rule`` at ``steps`` time steps."""
    torch.manual_seed(0)
    overrides = [
        f"snn.learning_rule={rule}",
        "data=synthetic",
        "encoding=identity",
        f"data.n_time_bins={steps}",
        "data.num_inputs=700",
        "data.num_classes=20",
        f"data.num_samples={4 * batch_size}",
        f"data.batch_size={batch_size}",
        "logger=csv",
    ]
    model, dm = pipeline.build_model(compose_config(overrides))
    dm.setup("fit")
    batch = next(iter(dm.train_dataloader()))
    encoder = peak_bytes(lambda: model.encoder(batch[0]))
    encoded = model.encoder(batch[0])
    model.encoder.forward = lambda x, generator=None: encoded  # the data, encoded once (docstring)

    def step() -> None:
        model.seed_stream.manual_seed(model.stream_seed)  # the same encoder draws every time
        model.zero_grad(set_to_none=True)
        model.training_step(batch, 0).backward()

    step()  # warm-up
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        step()
        times.append(time.perf_counter() - t0)
    return {
        "rule": rule,
        "steps": steps,
        "peak": peak_bytes(step),
        "encoder": encoder,
        "time": statistics.median(times or [float("nan")]),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--time-steps", type=int, nargs=2, default=[100, 2000], metavar=("SHORT", "LONG"))
    parser.add_argument("--rules", nargs="+", default=["bptt", "ottt", "sltt"])
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--threads", type=int, default=1, help="torch.set_num_threads (0: leave as is)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    print(
        f"train.py's training step, 700-256-20 LIF MLP, default loss, synthetic spikes, B={args.batch}, fp32, CPU, "
        f"{torch.get_num_threads()} threads, torch {torch.__version__}"
    )
    print("| rule | T | step peak MB | peak / the rule's at the short T | encoder alone MB | step s |")
    print("|---|---|---|---|---|---|")
    for rule in args.rules:
        runs: List[dict] = [measure(rule, t, args.batch, args.repeats) for t in args.time_steps]
        for run in runs:
            print(
                f"| {rule} | {run['steps']} | {run['peak'] / 2**20:.1f} | {run['peak'] / runs[0]['peak']:.2f} | "
                f"{run['encoder'] / 2**20:.1f} | {run['time']:.2f} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
