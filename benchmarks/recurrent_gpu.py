"""Recurrent adaptive LIF on a GPU: the persistent Triton kernel vs the fused PyTorch loop vs cuDNN's LSTM.

The workload is one training step of pixel-wise sequential MNIST's recurrent layer: ``B = 32``
sequences of ``T = 784`` steps with one input per step, ``Linear(1, N) -> RecurrentAdaptiveLIFNeuron(N)``
(learnable per-neuron beta and adaptation decay, learnable threshold; ``N = 256``), loss on the
spikes; the LSTM row is ``nn.LSTM(1, N)`` on the same input. Reported: the median milliseconds of
one forward + backward over ``--repeats`` runs after a warm-up (which compiles the kernels), and
the gradient check of the Triton kernel against the fused loop at this shape (fp32: equal spikes
expected; a spike can flip where ``h - th`` is within rounding of 0, since the kernel's matmul sums
in another order than cuBLAS).

    python benchmarks/recurrent_gpu.py                        # CUDA, B=32 T=784 N=256
    python benchmarks/recurrent_gpu.py --device cpu --quick   # the Triton interpreter, tiny shape (tests this script)

Prints a markdown section; exits 1 when the gradient check fails (spikes differ or a gradient is
off by more than ``--rtol`` of its largest entry).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from typing import Callable, Dict, List, Optional, Tuple

BACKENDS = ("triton", "fused")


def _sync(device: str) -> None:
    import torch

    if device == "cuda":
        torch.cuda.synchronize()


def median_ms(fn: Callable[[], None], device: str, repeats: int) -> float:
    """Median wall milliseconds of ``fn`` over ``repeats`` runs, after one warm-up."""
    fn()
    _sync(device)
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        _sync(device)
        times.append(1e3 * (time.perf_counter() - t0))
    return statistics.median(times)


def snn_layer(backend: str, shape: Tuple[int, int, int], device: str):  # noqa: ANN201
    """``(step, leaves)``: one forward + backward of ``Linear(1, N) -> RecurrentAdaptiveLIFNeuron`` and
    the tensors whose gradients it fills (the same fixed-seed values for every backend)."""
    import torch

    from brain_ai.config import NeuronConfig
    from brain_ai.core.neurons import build_neuron

    batch, steps, hidden = shape
    torch.manual_seed(0)
    fc = torch.nn.Linear(1, hidden).to(device)
    cfg = NeuronConfig(
        type="recurrent_adaptive_lif",
        beta=0.95,
        adaptation_decay=0.99,
        adaptation_alpha=0.2,
        learnable_beta=True,
        per_neuron_beta=True,
        learnable_adaptation=True,
        learnable_threshold=True,
        threshold=0.5,
    )
    neuron = build_neuron(cfg, hidden).to(device)
    x = torch.rand(batch, steps, 1, generator=torch.Generator().manual_seed(1)).to(device)
    leaves = [*fc.parameters(), *neuron.parameters()]
    out: Dict[str, torch.Tensor] = {}

    def step() -> None:
        for p in leaves:
            p.grad = None
        spikes, _, _ = neuron.forward_sequence(fc(x), backend=backend)
        spikes.mean().backward()
        out["spikes"] = spikes.detach()

    return step, leaves, out


def lstm_layer(shape: Tuple[int, int, int], device: str) -> Callable[[], None]:
    """One forward + backward of ``nn.LSTM(1, N)`` (cuDNN on CUDA) on the same input shape."""
    import torch

    batch, steps, hidden = shape
    lstm = torch.nn.LSTM(1, hidden, batch_first=True).to(device)
    x = torch.rand(batch, steps, 1, device=device)

    def step() -> None:
        out, _ = lstm(x)
        out.mean().backward()

    return step


def gradient_check(shape: Tuple[int, int, int], device: str, rtol: float) -> Tuple[bool, str]:
    """Triton kernel vs fused loop at ``shape``: ``(ok, one markdown line)``."""
    runs = {}
    for backend in BACKENDS:
        step, leaves, out = snn_layer(backend, shape, device)
        step()
        runs[backend] = (out["spikes"], [p.grad.clone() for p in leaves])
    (s_k, g_k), (s_f, g_f) = runs["triton"], runs["fused"]
    flips = int((s_k != s_f).sum())
    worst = max(float((a - b).abs().max() / b.abs().max().clamp_min(1e-30)) for a, b in zip(g_k, g_f))
    ok = flips == 0 and worst <= rtol
    line = (
        f"- gradient check (triton vs fused, {shape[0]}x{shape[1]}x{shape[2]} fp32): {'ok' if ok else 'FAIL'}; "
        f"{flips} of {s_f.numel()} spikes differ ({int(s_f.sum())} spikes); largest gradient difference "
        f"{worst:.2e} of the largest entry (tolerance {rtol:g})"
    )
    return ok, line


def main(argv: Optional[List[str]] = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument(
        "--device", default="cuda", choices=("cuda", "cpu"), help="cpu: the Triton interpreter (tests this script)"
    )
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--steps", type=int, default=784)
    p.add_argument("--hidden", type=int, default=256)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--rtol", type=float, default=1e-4, help="gradient check tolerance, relative to the largest entry")
    p.add_argument("--quick", action="store_true", help="B=16 T=6 N=32, one repeat")
    args = p.parse_args(argv)
    if args.device == "cpu":
        os.environ.setdefault("TRITON_INTERPRET", "1")  # before anything imports triton
    import torch

    if args.device == "cuda" and not torch.cuda.is_available():
        print("recurrent_gpu: no CUDA GPU here; use --device cpu --quick to test the script", file=sys.stderr)
        return 3
    shape = (16, 6, 32) if args.quick else (args.batch, args.steps, args.hidden)
    repeats = 1 if args.quick else args.repeats
    rows = [
        (f"SNN, backend={b}", median_ms(snn_layer(b, shape, args.device)[0], args.device, repeats)) for b in BACKENDS
    ]
    rows.append(("LSTM (cuDNN on CUDA)", median_ms(lstm_layer(shape, args.device), args.device, repeats)))
    ok, check = gradient_check(shape, args.device, args.rtol)
    lstm_ms = rows[-1][1]
    lines = [
        f"Recurrent layer, one forward + backward, B={shape[0]} T={shape[1]} N={shape[2]}, {args.device} "
        f"({torch.cuda.get_device_name(0) if args.device == 'cuda' else 'Triton interpreter'}), median of {repeats}:",
        "",
        "| layer | ms | / LSTM |",
        "|---|---|---|",
        *[f"| {name} | {ms:.2f} | {ms / lstm_ms:.2f}x |" for name, ms in rows],
        "",
        check,
    ]
    print("\n".join(lines))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
