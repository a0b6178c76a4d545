"""Runtime contract checks on every spiking neuron variant; prints a PASS/FAIL table.

Usage: ``brain-ai-validate-spiking [--size N] [--steps T] [--batch B]`` (or
``python scripts/validate_spiking.py``). Exits 1 if any check fails.
"""

from __future__ import annotations

import argparse
import sys
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import torch
from torch import nn

from brain_ai.config import BETA_MAX, FIXED_STEP_PSN_TYPES, PSN_TYPES, NeuronConfig, NeuronType, ResetMode
from brain_ai.core.neurons import SpikingNeuronBase, build_neuron

Check = Callable[[SpikingNeuronBase, torch.Tensor], None]


def variants() -> Dict[str, NeuronConfig]:
    """Every neuron type (every reset mode for LIF), learnable beta and threshold where allowed."""
    common = dict(learnable_beta=True, learnable_threshold=True, beta=0.8, threshold=0.5)
    out = {f"lif/{r.name}": NeuronConfig(type=NeuronType.lif, reset=r, **common) for r in ResetMode}
    out["lif/synaptic+refractory"] = NeuronConfig(type=NeuronType.lif, synaptic=True, refractory_steps=2, **common)
    out["adaptive_lif"] = NeuronConfig(type=NeuronType.adaptive_lif, **common)
    out["recurrent_lif"] = NeuronConfig(type=NeuronType.recurrent_lif, **common)
    out["recurrent_adaptive_lif"] = NeuronConfig(
        type=NeuronType.recurrent_adaptive_lif, per_neuron_beta=True, learnable_adaptation=True, **common
    )
    out["advanced_lif"] = NeuronConfig(
        type=NeuronType.advanced_lif, max_delay=2, learnable_threshold=True, threshold=0.5
    )
    return out


def check_binary_spikes(neuron: SpikingNeuronBase, x: torch.Tensor) -> None:
    spikes, _, _ = neuron.forward_sequence(x)
    assert spikes.dtype == x.dtype, f"spike dtype {spikes.dtype} != input dtype {x.dtype}"
    assert bool(((spikes == 0) | (spikes == 1)).all()), "spikes are not exactly 0/1"


def check_state_shapes(neuron: SpikingNeuronBase, x: torch.Tensor) -> None:
    _, final, _ = neuron.forward_sequence(x)
    for name, shape in neuron.state_shapes(x.shape[0]).items():
        got = getattr(final, name)
        assert got is not None and tuple(got.shape) == shape, (
            f"state.{name} shape {None if got is None else tuple(got.shape)} != {shape}"
        )


def check_no_hidden_state(neuron: SpikingNeuronBase, x: torch.Tensor) -> None:
    a, _, _ = neuron.forward_sequence(x)
    b, _, _ = neuron.forward_sequence(x)
    assert torch.equal(a, b), "the same input twice gave different outputs (state leaked)"


def check_detach_state(neuron: SpikingNeuronBase, x: torch.Tensor) -> None:
    _, final, _ = neuron.forward_sequence(x.clone().requires_grad_())
    det = neuron.detach_state(final)
    assert det.v.grad_fn is None and torch.equal(det.v, final.v), "detach_state must keep values and cut the graph"


def check_beta_range(neuron: SpikingNeuronBase, x: torch.Tensor) -> None:
    beta = neuron.beta
    assert bool(((beta >= 0) & (beta <= BETA_MAX)).all()), f"beta outside [0, {BETA_MAX}]"


def check_gradients(neuron: SpikingNeuronBase, x: torch.Tensor) -> None:
    x = x.clone().requires_grad_()
    spikes, _, _ = neuron.forward_sequence(x)
    spikes.sum().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0, "no finite input gradient"
    thr = neuron.threshold
    assert thr.grad is not None and torch.isfinite(thr.grad).all() and thr.grad.abs().sum() > 0, (
        "threshold gets no gradient"
    )


def check_truncated_bptt_forward(neuron: SpikingNeuronBase, x: torch.Tensor) -> None:
    full, _, _ = neuron.forward_sequence(x)
    chunked, _, _ = neuron.forward_sequence(x, chunk_size=3, checkpoint_every=2)
    assert torch.equal(full, chunked), "truncated/checkpointed BPTT changed the forward output"


def check_amp_state_fp32(neuron: SpikingNeuronBase, x: torch.Tensor) -> None:
    with torch.autocast(device_type=x.device.type, dtype=torch.bfloat16):
        spikes, final, _ = neuron.forward_sequence(x.to(torch.bfloat16))
    assert final.v.dtype == torch.float32, f"state dtype under autocast is {final.v.dtype}, want float32"
    assert spikes.dtype == torch.bfloat16, f"spike dtype under autocast is {spikes.dtype}, want bfloat16"


def check_state_mismatch_raises(neuron: SpikingNeuronBase, x: torch.Tensor) -> None:
    state = neuron.reset_state(x.shape[0] + 1, x.device)
    try:
        neuron(x[:, 0], state)
    except ValueError as err:
        assert "state.v" in str(err), f"error does not name the field: {err}"
        return
    raise AssertionError("a state with the wrong batch size was accepted")


def check_time_map_gradients(neuron: nn.Module, x: torch.Tensor) -> None:
    """A parallel spiking neuron: finite, non-zero gradients of the input, the time map's weight and the bias."""
    x = x.clone().requires_grad_()
    spikes, _, _ = neuron.forward_sequence(x)
    spikes.sum().backward()
    for name, t in (("input", x), ("weight", neuron.weight), ("bias", neuron.bias)):
        finite = t.grad is not None and torch.isfinite(t.grad).all()
        assert finite and t.grad.abs().sum() > 0, f"no finite {name} gradient"


CHECKS: Dict[str, Check] = {
    "binary_spikes": check_binary_spikes,
    "state_shapes": check_state_shapes,
    "no_hidden_state": check_no_hidden_state,
    "detach_state": check_detach_state,
    "beta_range": check_beta_range,
    "gradients": check_gradients,
    "tbptt_forward": check_truncated_bptt_forward,
    "amp_state_fp32": check_amp_state_fp32,
    "state_mismatch": check_state_mismatch_raises,
}


#: the checks of the parallel spiking neurons (no membrane decay, threshold or single step; psn / masked_psn: fixed T)
PSN_CHECKS: Dict[str, Check] = {
    **{name: CHECKS[name] for name in ("binary_spikes", "state_shapes", "no_hidden_state", "detach_state")},
    "amp_state_fp32": check_amp_state_fp32,
    "time_map_gradients": check_time_map_gradients,
}

#: Input dtypes every neuron type runs in (the module cast to the same dtype; bf16 under autocast is ``amp_state_fp32``).
DTYPES: Dict[str, torch.dtype] = {"float32": torch.float32, "float64": torch.float64}


def case_config(ntype: str, reset: str = "subtract", surrogate: str = "atan") -> NeuronConfig:
    """A ``ntype`` neuron with a learnable threshold 0.5 (so ``gradients`` sees a threshold gradient;
    AdEx's rheobase, which must lie below the threshold, at 0.4)."""
    adex = {"adex_v_rheobase": 0.4} if NeuronType(ntype) is NeuronType.adex else {}
    return NeuronConfig(
        type=NeuronType(ntype),
        reset=ResetMode(reset),
        surrogate=surrogate,
        learnable_threshold=True,
        threshold=0.5,
        **adex,
    )


def psn_case_config(ntype: str, steps: int = 8) -> NeuronConfig:
    """A parallel spiking neuron of ``steps`` steps (order 3 where the type has one)."""
    kind = NeuronType(ntype)
    steps_or_none = steps if kind in FIXED_STEP_PSN_TYPES else None
    return NeuronConfig(type=kind, psn_steps=steps_or_none, psn_order=None if kind is NeuronType.psn else 3)


def run_case(
    cfg: NeuronConfig,
    check: str,
    size: int = 16,
    steps: int = 8,
    batch: int = 4,
    device: str = "cpu",
    dtype: str = "float32",
) -> None:
    """Build ``cfg`` (seed 0) and run ``CHECKS[check]`` (``PSN_CHECKS[check]`` for the PSN family) on a
    (B, T, N) input current; raises on failure."""
    torch.manual_seed(0)
    neuron = build_neuron(cfg, size).to(device=device, dtype=DTYPES[dtype])
    x = 1.5 * torch.rand(batch, steps, size, device=device, dtype=DTYPES[dtype])  # (B, T, N) input current
    (PSN_CHECKS if cfg.type in PSN_TYPES else CHECKS)[check](neuron, x)


def run_checks(
    size: int = 16, steps: int = 8, batch: int = 4, device: str = "cpu"
) -> List[Tuple[str, str, Optional[str]]]:
    """Run every check on every variant; returns ``(variant, check, error or None)`` rows."""
    rows = []
    parallel = {t.value: psn_case_config(t.value, steps) for t in NeuronType if t in PSN_TYPES}
    for vname, cfg in {**variants(), **parallel}.items():
        for cname in PSN_CHECKS if cfg.type in PSN_TYPES else CHECKS:
            try:
                run_case(cfg, cname, size, steps, batch, device)
                rows.append((vname, cname, None))
            except Exception as err:  # noqa: BLE001 - every failure becomes a FAIL row
                rows.append((vname, cname, f"{type(err).__name__}: {err}"))
    return rows


def _cell(result: Dict[Tuple[str, str], Optional[str]], variant: str, check: str) -> str:
    """PASS / FAIL, or "-" for a check that does not apply to the variant."""
    if (variant, check) not in result:
        return "-"
    return "PASS" if result[(variant, check)] is None else "FAIL"


def format_table(rows: Sequence[Tuple[str, str, Optional[str]]]) -> str:
    """Variants as rows, checks as columns, PASS/FAIL cells ("-": not applicable), failures listed below."""
    variants = list(dict.fromkeys(r[0] for r in rows))
    checks = list(dict.fromkeys(r[1] for r in rows))
    result = {(v, c): err for v, c, err in rows}
    width = max(len(v) for v in variants)
    lines = [" " * width + " | " + " | ".join(checks)]
    for v in variants:
        cells = [_cell(result, v, c).center(len(c)) for c in checks]
        lines.append(v.ljust(width) + " | " + " | ".join(cells))
    lines += [f"FAIL {v} / {c}: {err}" for v, c, err in rows if err is not None]
    return "\n".join(lines)


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=16, help="neurons per layer")
    parser.add_argument("--steps", type=int, default=8, help="time steps T")
    parser.add_argument("--batch", type=int, default=4, help="batch size B")
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args(argv)
    rows = run_checks(args.size, args.steps, args.batch, args.device)
    print(format_table(rows))
    failed = sum(err is not None for _, _, err in rows)
    print(f"{len(rows) - failed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
