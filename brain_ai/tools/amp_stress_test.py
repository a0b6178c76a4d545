"""AMP stress test: every encoder, decoder and loss under fp16 and bf16 CPU autocast, at several scales.

Each case runs once in fp32 and once with low-precision inputs inside ``torch.autocast("cpu",
dtype)``; it passes when the low-precision result has no NaN/Inf and lies within tolerance of
fp32. A scale sets ``T`` and the magnitude of raw inputs and membranes (large ``T`` catches
fp16 count accumulation: fp16 cannot count past 2048).

Usage: ``python scripts/amp_stress_test.py [--scales small medium large] [--batch B]``. Exits 1 on
any failure.
"""

from __future__ import annotations

import argparse
import sys
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import torch

from brain_ai.config import DecodingConfig, EncodingConfig, LossConfig, TaskLoss
from brain_ai.core.decoding import build_decoder
from brain_ai.core.encoding import ENCODERS, build_encoder
from brain_ai.core.losses import LossInputs, build_loss
from brain_ai.core.surrogates import ATan
from brain_ai.tools.validate_codec_losses import decoder_configs

#: scale name -> (time steps T, magnitude of raw inputs / membranes)
SCALES: Dict[str, Tuple[int, float]] = {"small": (16, 1.0), "medium": (256, 100.0), "large": (4096, 1e4)}
DTYPES = {"fp16": torch.float16, "bf16": torch.bfloat16}
#: mean |per-neuron rate difference| allowed for encoders (input quantisation flips a few spikes)
RATE_TOL = 0.05
#: relative tolerance of decoder logits and loss totals
REL_TOL = 2e-2


def _finite(x: torch.Tensor, what: str) -> None:
    assert bool(torch.isfinite(x.float()).all()), f"{what} has NaN/Inf"


def _close(low: torch.Tensor, ref: torch.Tensor, what: str) -> None:
    err = float((low.detach().float() - ref.detach().float()).abs().max())
    bound = REL_TOL * max(1.0, float(ref.detach().float().abs().max()))
    assert err <= bound, f"{what}: max |low - fp32| = {err:.3g} > {bound:.3g}"


def encoder_case(name: str, dtype: torch.dtype, steps: int, magnitude: float, batch: int) -> None:
    gen = torch.Generator().manual_seed(0)
    if name in ("delta", "identity"):
        x = torch.rand(batch, steps, 8, generator=gen)
        x = (x < 0.3).float() if name == "identity" else torch.cumsum(x - 0.5, dim=1) * magnitude / steps
    else:
        x = torch.rand(batch, 8, generator=gen) * magnitude
    cfg = EncodingConfig(type=name, num_steps=steps, seed=1)
    encoder = build_encoder(cfg)
    ref = encoder(x).spikes
    with torch.autocast("cpu", dtype=dtype):
        low = build_encoder(cfg)(x.to(dtype)).spikes
    _finite(low, "spikes")
    assert low.dtype == dtype, f"spikes dtype {low.dtype} != input dtype {dtype}"
    assert bool(((low == 0) | (low == 1)).all()) or not encoder.emits_spikes, "spikes not 0/1"
    err = float((low.float().mean(1) - ref.mean(1)).abs().mean())
    assert err <= RATE_TOL, f"rate differs from fp32 by {err:.3g} > {RATE_TOL}"


def decoder_case(cfg: DecodingConfig, dtype: torch.dtype, steps: int, magnitude: float, batch: int) -> None:
    dec = build_decoder(cfg, 3)
    gen = torch.Generator().manual_seed(2)
    if cfg.type.name == "membrane":
        out = torch.randn(batch, steps, dec.output_size, generator=gen) * magnitude
    else:
        out = (torch.rand(batch, steps, dec.output_size, generator=gen) < 0.3).float()
    ref = dec(out)
    with torch.autocast("cpu", dtype=dtype):
        low = dec(out.to(dtype))
    _finite(low.trained, "logits / estimate")
    assert low.trained.dtype == torch.float32, (
        f"logits / estimate dtype {low.trained.dtype} (statistics must accumulate in fp32)"
    )
    _close(low.trained, ref.trained, "logits / estimate")


def loss_case(task: TaskLoss, dtype: torch.dtype, steps: int, magnitude: float, batch: int) -> None:
    regression = task is TaskLoss.mse
    dec = build_decoder(
        DecodingConfig(
            type="population" if regression else "rate",
            population_size=2,
            population_mode="regression" if regression else "classification",
        ),
        3,
    )
    gen = torch.Generator().manual_seed(3)
    v = torch.randn(batch, steps, dec.output_size, generator=gen).requires_grad_(True)
    targets = torch.rand(batch, 3, generator=gen) if regression else torch.randint(0, 3, (batch,), generator=gen)
    composer = build_loss(LossConfig(task_loss=task, w_membrane=0.01, max_membrane=magnitude / 2, temporal_window=2))

    def run(cast: Optional[torch.dtype]) -> torch.Tensor:
        x = v if cast is None else v.to(cast)
        spikes = ATan()(x)
        return composer(LossInputs(spikes, dec(spikes), targets, {"layer0": spikes}, {"layer0": x * magnitude}))[0]

    ref = run(None)
    with torch.autocast("cpu", dtype=dtype):
        low = run(dtype)
    _finite(low, "loss")
    _close(low, ref, "loss")
    low.backward()
    _finite(v.grad, "gradient")


def all_cases(scales: Sequence[str], batch: int) -> List[Tuple[str, Callable[[], None]]]:
    cases: List[Tuple[str, Callable[[], None]]] = []
    for scale in scales:
        steps, mag = SCALES[scale]
        for dname, dtype in DTYPES.items():
            tag = f"{dname}/{scale}"
            cases += [
                (f"{tag}/encoder/{n}", lambda n=n, d=dtype, t=steps, m=mag: encoder_case(n, d, t, m, batch))
                for n in sorted(e.name for e in ENCODERS)
            ]
            cases += [
                (f"{tag}/decoder/{label}", lambda c=c, d=dtype, t=steps, m=mag: decoder_case(c, d, t, m, batch))
                for label, c in decoder_configs()
            ]
            cases += [
                (f"{tag}/loss/{task.name}", lambda k=task, d=dtype, t=steps, m=mag: loss_case(k, d, t, m, batch))
                for task in TaskLoss
            ]
    return cases


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--scales", nargs="+", choices=sorted(SCALES), default=list(SCALES), help="T / magnitude presets"
    )
    parser.add_argument("--batch", type=int, default=4, help="batch size B")
    args = parser.parse_args(argv)
    failures = 0
    cases = all_cases(args.scales, args.batch)
    width = max(len(name) for name, _ in cases)
    for name, case in cases:
        try:
            case()
            print(f"{name.ljust(width)} | PASS")
        except Exception as err:  # noqa: BLE001 - every failure becomes a FAIL row
            failures += 1
            print(f"{name.ljust(width)} | FAIL  {type(err).__name__}: {err}")
    print(f"{len(cases) - failures} passed, {failures} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
