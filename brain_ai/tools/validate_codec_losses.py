"""Runtime contract checks on every encoder, decoder, loss term and preset; prints a PASS/FAIL table.

Usage: ``python scripts/validate_codec_losses.py [--batch B] [--steps T] [--features N]``.
Exits 1 if any check fails.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import sys
from typing import Callable, List, Optional, Sequence, Tuple

import torch

from brain_ai.config import (
    CODEC_PRESETS,
    CodecPreset,
    DecodingConfig,
    EncodingConfig,
    LossConfig,
    Task,
    TaskLoss,
    from_dict,
    to_dict,
)
from brain_ai.core.decoding import DECODERS, ClassificationOutput, RegressionOutput, build_decoder
from brain_ai.core.encoding import ENCODERS, SpikeBatch, build_encoder
from brain_ai.core.losses import ISIRegularization, LossInputs, build_loss
from brain_ai.core.surrogates import ATan

SEQUENCE_INPUT = ("delta", "identity")


@dataclasses.dataclass
class Sizes:
    batch: int
    steps: int
    features: int
    classes: int = 3


def _static_or_sequence(name: str, shape: Tuple[int, ...], sizes: Sizes, gen: torch.Generator) -> torch.Tensor:
    if name in SEQUENCE_INPUT:
        return (torch.rand((shape[0], sizes.steps) + shape[1:], generator=gen) < 0.3).float()
    return torch.rand(shape, generator=gen)


def check_encoder(name: str, sizes: Sizes) -> None:
    """Batch-first shape = (B, T, *output_shape), binary spikes, all-True (B, T) mask; vectors + images."""
    gen = torch.Generator().manual_seed(0)
    for shape in [(sizes.batch, sizes.features), (sizes.batch, 2, 4, 4)]:
        enc = build_encoder(EncodingConfig(type=name, num_steps=sizes.steps, seed=0))
        x = _static_or_sequence(name, shape, sizes, gen)
        sb = enc(x)
        per_sample = tuple(x.shape[2:]) if name in SEQUENCE_INPUT else tuple(x.shape[1:])
        want = (sizes.batch, sizes.steps) + enc.output_shape(per_sample)
        assert isinstance(sb, SpikeBatch), f"returned {type(sb).__name__}, not SpikeBatch"
        assert tuple(sb.spikes.shape) == want, f"spikes {tuple(sb.spikes.shape)} != {want}"
        assert sb.is_binary() or not enc.emits_spikes, "spikes are not exactly 0/1"
        assert tuple(sb.mask.shape) == want[:2] and bool(sb.mask.all()), "mask must be all-True (B, T)"


def check_encoder_reproducible(name: str, sizes: Sizes) -> None:
    """Same seed -> same spikes; eval mode with deterministic_eval -> identical spikes on every call."""
    x = _static_or_sequence(name, (sizes.batch, sizes.features), sizes, torch.Generator().manual_seed(1))
    cfg = EncodingConfig(type=name, num_steps=sizes.steps, seed=3)
    assert torch.equal(build_encoder(cfg)(x).spikes, build_encoder(cfg)(x).spikes), "same seed gave different spikes"
    enc = build_encoder(dataclasses.replace(cfg, seed=None)).eval()
    assert torch.equal(enc(x).spikes, enc(x).spikes), "eval mode is not deterministic"


def decoder_configs() -> List[Tuple[str, DecodingConfig]]:
    """``(label, config)`` of every decoder (population in both of its modes)."""
    out = [(name, DecodingConfig(type=name, population_size=2)) for name in sorted(d.name for d in DECODERS)]
    out.append(
        ("population/regression", DecodingConfig(type="population", population_mode="regression", population_size=2))
    )
    return out


def check_decoder(cfg: DecodingConfig, sizes: Sizes) -> None:
    """Output type of the decoder's task, shapes, finite fp32 logits / estimates, confidence in
    [0, 1], gradient reaches the output."""
    dec = build_decoder(cfg, sizes.classes)
    raw = torch.rand(sizes.batch, sizes.steps, dec.output_size, requires_grad=True)
    out = dec(raw)
    kind = ClassificationOutput if dec.task is Task.classification else RegressionOutput
    assert type(out) is kind, f"a {dec.task.name} decoder returned {type(out).__name__}"
    values = out.trained
    assert tuple(values.shape) == (sizes.batch, sizes.classes), f"logits / estimate {tuple(values.shape)}"
    assert values.dtype == torch.float32 and bool(torch.isfinite(values).all()), "logits / estimate not finite fp32"
    if isinstance(out, ClassificationOutput):
        assert out.prediction.dtype == torch.int64 and tuple(out.prediction.shape) == (sizes.batch,), (
            "prediction not (B,) int64"
        )
    assert tuple(out.confidence.shape) == (sizes.batch,), f"confidence {tuple(out.confidence.shape)}"
    assert bool(((out.confidence >= 0) & (out.confidence <= 1)).all()), "confidence outside [0, 1]"
    values.sum().backward()
    assert raw.grad is not None and bool(raw.grad.abs().sum() > 0), "no gradient to the output"


def _loss_inputs(task: str, sizes: Sizes, gen: torch.Generator) -> Tuple[LossInputs, torch.Tensor]:
    regression = task == "mse"
    dec_cfg = DecodingConfig(
        type="population" if regression else "rate",
        population_mode="regression" if regression else "classification",
        population_size=2,
    )
    dec = build_decoder(dec_cfg, sizes.classes)
    v = torch.randn(sizes.batch, sizes.steps, dec.output_size, generator=gen).requires_grad_(True)
    spikes = ATan()(v)
    targets = (
        torch.rand(sizes.batch, sizes.classes, generator=gen)
        if regression
        else torch.randint(0, sizes.classes, (sizes.batch,), generator=gen)
    )
    return LossInputs(spikes, dec(spikes), targets, {"layer0": spikes}, {"layer0": v * 3}), v


def check_loss(task: str, sizes: Sizes) -> None:
    """Composer: finite total, exact info keys, total = sum of weighted components, gradient to spikes."""
    cfg = LossConfig(task_loss=task, w_membrane=0.01, temporal_window=2)
    inputs, v = _loss_inputs(task, sizes, torch.Generator().manual_seed(2))
    total, info = build_loss(cfg)(inputs)
    assert set(info) == {"total", "components", "diagnostics", "weights"}, f"info keys {sorted(info)}"
    assert math.isfinite(info["total"]), "total not finite"
    weighted = sum(info["weights"][k] * c for k, c in info["components"].items())
    assert abs(weighted - info["total"]) <= 1e-5 * max(1.0, abs(weighted)), "total != sum of weighted components"
    total.backward()
    assert v.grad is not None and bool(v.grad.abs().sum() > 0), "no gradient to the spikes"


def check_isi_vectorised(sizes: Sizes) -> None:
    """ISI penalty (shifted sums) equals a naive loop over neurons, steps and distances."""
    spikes = (torch.rand(2, sizes.steps, 4, generator=torch.Generator().manual_seed(3)) < 0.4).float()
    term = ISIRegularization(window=3, tau=1.5)
    got = term.layer_penalty(spikes).item()
    s = spikes.tolist()
    naive = sum(
        s[b][t][n] * math.exp(-d / 1.5) * s[b][t - d][n]
        for b in range(2)
        for n in range(4)
        for t in range(sizes.steps)
        for d in range(1, 4)
        if t - d >= 0
    )
    assert abs(got - naive / spikes.numel()) < 1e-6, f"isi {got} != loop {naive / spikes.numel()}"


def check_t_normalisation(sizes: Sizes) -> None:
    """The same spike statistics at T and 4T (each step repeated) give the same task + rate loss."""
    inputs, _ = _loss_inputs("probspikes", sizes, torch.Generator().manual_seed(4))
    composer = build_loss(LossConfig(w_temporal=0.0, w_isi=0.0, w_membrane=0.0))
    out = inputs.output.detach()
    long = out.repeat_interleave(4, dim=1)
    short_total, _ = composer(dataclasses.replace(inputs, output=out, layer_spikes={"layer0": out}))
    long_total, _ = composer(dataclasses.replace(inputs, output=long, layer_spikes={"layer0": long}))
    assert torch.allclose(short_total, long_total, atol=1e-6), (
        f"T={out.shape[1]}: {short_total.item()} vs 4T: {long_total.item()}"
    )


def check_preset(name: str, sizes: Sizes) -> None:
    """The preset validates, builds, and round-trips through plain dicts."""
    preset = CODEC_PRESETS[name]()
    assert from_dict(CodecPreset, to_dict(preset)) == preset, "dict round trip changed the preset"
    build_encoder(preset.encoding), build_decoder(preset.decoding, sizes.classes), build_loss(preset.loss)


def all_checks() -> List[Tuple[str, Callable[[Sizes], None]]]:
    checks: List[Tuple[str, Callable[[Sizes], None]]] = []
    for name in sorted(e.name for e in ENCODERS):
        checks.append((f"encoder/{name}/contract", lambda s, n=name: check_encoder(n, s)))
        checks.append((f"encoder/{name}/reproducible", lambda s, n=name: check_encoder_reproducible(n, s)))
    checks += [(f"decoder/{label}", lambda s, c=cfg: check_decoder(c, s)) for label, cfg in decoder_configs()]
    checks += [(f"loss/{task}", lambda s, t=task: check_loss(t, s)) for task in (t.value for t in TaskLoss)]
    checks += [("loss/isi_vectorised", check_isi_vectorised), ("loss/t_normalisation", check_t_normalisation)]
    checks += [(f"preset/{name}", lambda s, n=name: check_preset(n, s)) for name in sorted(CODEC_PRESETS)]
    return checks


def run_checks(sizes: Sizes) -> List[Tuple[str, Optional[str]]]:
    """(check name, None if it passed else the error message)."""
    rows = []
    for name, check in all_checks():
        try:
            check(sizes)
            rows.append((name, None))
        except Exception as err:  # noqa: BLE001 - every failure becomes a FAIL row
            rows.append((name, f"{type(err).__name__}: {err}"))
    return rows


def format_table(rows: List[Tuple[str, Optional[str]]]) -> str:
    width = max(len(name) for name, _ in rows)
    lines = [f"{'check'.ljust(width)} | result", "-" * (width + 9)]
    lines += [f"{name.ljust(width)} | {'PASS' if err is None else 'FAIL  ' + err}" for name, err in rows]
    return "\n".join(lines)


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=4, help="batch size B")
    parser.add_argument("--steps", type=int, default=12, help="time steps T")
    parser.add_argument("--features", type=int, default=6, help="input features N")
    args = parser.parse_args(argv)
    rows = run_checks(Sizes(args.batch, args.steps, args.features))
    print(format_table(rows))
    failed = sum(err is not None for _, err in rows)
    print(f"{len(rows) - failed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
