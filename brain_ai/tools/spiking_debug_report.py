"""Debug report of a spiking model on one batch: per-layer firing rates, sparsity, dead and
saturated fractions, membrane stats, health advice, and per-parameter gradient norms/sparsity.

Every neuron layer (``LeakyCellBase``, ``ParallelSpikingNeuron``) that the model steps with ``forward_sequence`` is
recorded. ``python scripts/spiking_debug_report.py`` runs it on a small demo MLP SNN.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
from typing import Any, Callable, Dict, Iterator, Optional, Sequence

import torch
from torch import Tensor, nn

from brain_ai.config import NeuronConfig, NeuronType, SNNConfig
from brain_ai.core.neurons import LeakyCellBase, LeakyIntegrator, ParallelSpikingNeuron, build_neuron
from brain_ai.core.neurons.psn import with_time_steps
from brain_ai.core.probes import check_health, compute_probes

LossFn = Callable[[Any], Tensor]


def _first_tensor(out: Any) -> Tensor:
    if isinstance(out, Tensor):
        return out
    items = out.values() if isinstance(out, dict) else out if isinstance(out, (list, tuple)) else vars(out).values()
    return next(_first_tensor(v) for v in items if isinstance(v, (Tensor, dict, list, tuple)))


@contextlib.contextmanager
def _record_layers(model: nn.Module, records: Dict[str, Dict[str, Tensor]]) -> Iterator[None]:
    """Temporarily wrap each neuron layer's ``forward_sequence`` to keep spikes and membrane."""
    patched = []
    for name, module in model.named_modules():
        if not isinstance(module, (LeakyCellBase, ParallelSpikingNeuron)):
            continue
        original = module.forward_sequence

        def wrapper(x, state=None, *, _orig=original, _name=name or "neuron", **kwargs):  # noqa: ANN001
            asked = kwargs.pop("record", "none")
            out, final, traces = _orig(x, state, record="membrane", **kwargs)
            records[_name] = {"spikes": out.detach(), "membrane": traces["membrane"].detach()}
            keep = {"none": (), "spikes": ("spikes",), "membrane": ("spikes", "membrane")}[asked]
            return out, final, {k: traces[k] for k in keep}

        module.forward_sequence = wrapper
        patched.append(module)
    try:
        yield
    finally:
        for module in patched:
            del module.forward_sequence  # back to the class method


def debug_report(model: nn.Module, batch: Tensor, loss_fn: Optional[LossFn] = None) -> Dict[str, Any]:
    """Run ``model(batch)`` forward and backward and collect diagnostics.

    Args:
        model: any module whose neuron layers run through ``forward_sequence``.
        batch: its input, e.g. ``(B, T, ...)``.
        loss_fn: ``output -> scalar``; default: mean of the first tensor in the output.
    Returns:
        ``{"layers": {name: probes (floats) + "issues"}, "grads": {param: {"norm", "sparsity"}}}``
        (sparsity = fraction of exactly-zero gradient entries; ``None`` when no gradient).
    """
    records: Dict[str, Dict[str, Tensor]] = {}
    model.zero_grad(set_to_none=True)
    with _record_layers(model, records):
        out = model(batch)
    loss = loss_fn(out) if loss_fn is not None else _first_tensor(out).float().mean()
    loss.backward()
    layers = {}
    for name, rec in records.items():
        module = model.get_submodule(name) if name != "neuron" else model
        if not module.spiking:  # non-spiking readout: membrane stats only
            m = rec["membrane"].float()
            probes = {"membrane_mean": m.mean(), "membrane_var": m.var(unbiased=False)}
        else:
            probes = compute_probes(rec["spikes"], rec["membrane"])
        layers[name] = {**{k: float(v) for k, v in probes.items()}, "issues": check_health(probes, layer=name)}
    grads = {}
    for pname, p in model.named_parameters():
        g = p.grad
        grads[pname] = {
            "norm": None if g is None else float(g.norm()),
            "sparsity": None if g is None else float((g == 0).float().mean()),
        }
    return {"loss": loss.item(), "layers": layers, "grads": grads}


def format_report(report: Dict[str, Any]) -> str:
    """Plain-text rendering of :func:`debug_report`."""
    lines = [f"loss = {report['loss']:.6g}", "", "layer probes:"]
    for name, probes in report["layers"].items():
        stats = ", ".join(f"{k}={v:.4g}" for k, v in probes.items() if k != "issues")
        lines.append(f"  {name}: {stats}")
        lines += [f"    ! {msg}" for msg in probes["issues"]]
    lines += ["", "gradients (norm, fraction of zero entries):"]
    for pname, g in report["grads"].items():
        lines.append(
            f"  {pname}: "
            + ("no gradient" if g["norm"] is None else f"norm={g['norm']:.4g} sparsity={g['sparsity']:.3f}")
        )
    return "\n".join(lines)


class DemoSNN(nn.Module):
    """``(B, T, n_in) -> (B, T, n_out)``: Linear -> neuron -> Linear -> LeakyIntegrator readout."""

    def __init__(self, n_in: int, n_hidden: int, n_out: int, cfg: NeuronConfig) -> None:
        super().__init__()
        self.fc1, self.lif1 = nn.Linear(n_in, n_hidden), build_neuron(cfg, n_hidden)
        self.fc2, self.readout = (
            nn.Linear(n_hidden, n_out),
            LeakyIntegrator(n_out, beta=cfg.beta, tau=cfg.tau, dt=cfg.dt),
        )

    def forward(self, x: Tensor) -> Tensor:
        spikes, _, _ = self.lif1.forward_sequence(self.fc1(x))  # (B, T, H)
        out, _, _ = self.readout.forward_sequence(self.fc2(spikes))  # (B, T, n_out)
        return out


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(description="Spiking debug report on a demo SNN and a random spike batch")
    parser.add_argument("--neuron", default="lif", choices=[t.name for t in NeuronType])
    parser.add_argument("--inputs", type=int, default=40)
    parser.add_argument("--hidden", type=int, default=64)
    parser.add_argument("--outputs", type=int, default=10)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--steps", type=int, default=25)
    parser.add_argument("--rate", type=float, default=0.2, help="input spike probability per step")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    torch.manual_seed(args.seed)
    neuron = with_time_steps(SNNConfig(neuron=NeuronConfig(type=args.neuron)), args.steps).neuron  # the PSN family's T
    model = DemoSNN(args.inputs, args.hidden, args.outputs, neuron)
    batch = (torch.rand(args.batch, args.steps, args.inputs) < args.rate).float()  # (B, T, n_in)
    print(format_report(debug_report(model, batch)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
