"""Compact spikes (``encoding.spike_dtype``): memory of the encoded batch and of a training step.

The default run (``configs/train.yaml``: mnist5k images (1, 28, 28), rate_bernoulli, MLP
784-256-10 LIF, rate decoding, B = 128, T = 25) and the same network at T = 784 (one step per
pixel), for ``spike_dtype`` float, uint8 and bool: the bytes of the encoded batch ``(B, T, 784)``
and the peak CPU bytes allocated above the start during one ``training_step`` of the real
:class:`~brain_ai.training.module.SNNLitModule` (encode, forward, loss, backward;
:func:`brain_ai.core.memory.peak_bytes`, an exact replay of the allocations, independent of other
processes). Every dtype starts from the same weights and draws the same spikes; the script checks
that the output sequence is bit for bit the one of float spikes. No data set is read: the images
are uniform random pixels (the memory does not depend on their values).

    python benchmarks/spike_dtype_memory.py                    # T = 25 and 784 (a minute or two)
    python benchmarks/spike_dtype_memory.py --time-steps 25    # the default run only
"""

from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path
from typing import Dict, List

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))  # compose_config: configs/ + the schemas
from framework_helpers import compose_config  # noqa: E402

from brain_ai.app import pipeline  # noqa: E402
from brain_ai.core.memory import peak_bytes  # noqa: E402

DTYPES = ("float", "uint8", "bool")
MIB = 2**20


def build(spike_dtype: str, num_steps: int):  # noqa: ANN201
    """The default run's SNNLitModule with ``encoding.spike_dtype`` and ``num_steps`` (fixed weights)."""
    torch.manual_seed(0)
    cfg = compose_config([f"encoding.spike_dtype={spike_dtype}", f"encoding.num_steps={num_steps}"])
    model, _ = pipeline.build_model(cfg)
    return model.train(), cfg.data.batch_size


def measure(num_steps: int) -> List[Dict[str, object]]:
    rows = []
    reference = None
    for spike_dtype in DTYPES:
        model, batch_size = build(spike_dtype, num_steps)
        images = torch.rand(batch_size, 1, 28, 28, generator=torch.Generator().manual_seed(1))
        labels = torch.randint(0, 10, (batch_size,), generator=torch.Generator().manual_seed(2))
        spikes = model.encoder(images, generator=torch.Generator().manual_seed(3)).spikes  # (B, T, 1, 28, 28)
        with torch.no_grad():
            output = model.net(spikes).output
        reference = output if reference is None else reference
        model.zero_grad(set_to_none=True)
        peak = peak_bytes(lambda: model.training_step((images, labels), 0).backward())
        rows.append(
            {
                "T": num_steps,
                "spike_dtype": spike_dtype,
                "encoded": spikes.numel() * spikes.element_size(),
                "peak": peak,
                "same_output": torch.equal(output, reference),
            }
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--time-steps", type=int, nargs="+", default=[25, 784], help="encoding.num_steps values (default: 25 784)"
    )
    args = parser.parse_args()
    warnings.filterwarnings("ignore", message=".*self.log.*")  # training_step outside a Trainer: nothing to log to
    print("| T | spike_dtype | encoded batch (MiB) | training-step peak (MiB) | peak vs float | output = float's |")
    print("|---|---|---|---|---|---|")
    for num_steps in args.time_steps:
        rows = measure(num_steps)
        base = rows[0]["peak"]
        for r in rows:
            print(
                f"| {r['T']} | {r['spike_dtype']} | {r['encoded'] / MIB:.1f} | {r['peak'] / MIB:.1f} | "
                f"{100 * (r['peak'] / base - 1):+.0f}% | {'bit for bit' if r['same_output'] else 'DIFFERS'} |"
            )


if __name__ == "__main__":
    main()
