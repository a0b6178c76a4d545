r"""What a network spends per sample: synaptic operations, sparsity, footprint and an energy
*estimate*, per layer and in total, with the definitions of NeuroBench 2.3 (Yik et al., "The
NeuroBench framework for benchmarking neuromorphic computing algorithms and systems", Nature
Communications 2025). Nothing here is measured on hardware: the energy is an estimate computed
from the operation counts.

The counts are taken from what one forward recorded: the input the network read (the encoder's
output), every spiking layer's spikes and every neuron layer's membrane, i.e. a forward with
:meth:`EfficiencyMeter.forward_kwargs` (``keep_spikes=True, record_membrane=True``: no probes) or
with ``return_details=True`` (which adds the probes and ``out.inputs``); :func:`measure_efficiency`
runs that forward, :class:`EfficiencyMeter` adds up batches.

Rows (named like the probes):

* ``layer<i>``: the connection into neuron layer ``i`` (``Linear``, or ``Conv2d`` -> ``BatchNorm2d``)
  with that neuron layer (the readout is the last one);
* ``layer<i>.recurrent``: the recurrent weight of a ``recurrent_lif`` / ``recurrent_adaptive_lif``
  layer, ``W_rec s_{t-1}``, a layer of its own;
* ``layer<i>.temporal``: the time map of a parallel spiking neuron layer (``psn``, ``masked_psn``,
  ``sliding_psn``; :mod:`brain_ai.core.neurons.psn`), ``H = M X``, a layer of its own;
* LSTM / GRU baselines: ``layer<i>`` (one ``torch.nn.LSTM`` / ``GRU`` layer) and ``readout``.

Definitions, per sample: sums over every sample ``b`` and its valid steps ``t`` (the masked steps of
a ragged batch are not counted), divided by the batch size ``B``:

=======================  ========================================================================
``dense_ops``            synaptic operations if every input and every weight were non-zero (bias
                         additions are not counted): Linear ``N_in * N_out`` per step; Conv2d
                         ``C_out * C_in * `` the in-bounds kernel taps summed over the output
                         positions (``k^2 H W`` minus the taps that fall into the zero padding) per
                         step; recurrent weight ``N^2`` per step; PSN time map ``N * taps(t)`` at
                         step ``t``, ``taps(t)`` = the entries of row ``t`` of ``M (T, T)`` that the
                         type has: ``T`` (psn; masked_psn while its mask ramps), ``min(t + 1, k)``
                         (masked_psn once banded, sliding_psn from the zero state); LSTM ``4 H (I + H)``, GRU
                         ``3 H (I + H)`` per step; ``dense_ann_energy_pj`` counts them all as MACs
``effective_acs``,       operations a non-zero input triggers: ``sum_{b,t,i} [x_{b,t,i} != 0] *
``effective_macs``       nnz(W[:, i])`` (every non-zero input times its non-zero fan-out weights;
                         Conv2d: the same over the kernel taps). A step's input to a layer is an
                         accumulate (AC) when all its values over the batch are in {-1, 0, 1}
                         (spikes), else a multiply-accumulate (MAC): the first layer under direct
                         (current) input or event frames with counts > 1, and every layer after an
                         average pooling (its outputs are fractions of spikes). LSTM / GRU
                         baselines: every dense op is a MAC (their activations are real-valued).
                         PSN time map: MACs, ``N * nnz(M[t, :])`` per valid step (its inputs are
                         the real-valued currents of the connection before it, non-zero with its
                         bias: every non-zero weight counts)
``synops``               ``effective_acs + effective_macs``
``activation_sparsity``  zero outputs / outputs of the spiking layers, over neurons, valid steps
                         and samples (total: pooled over every spiking layer)
``connection_sparsity``  zero weights / weights of the connections (Linear and Conv2d weights,
                         ``W_rec``; LSTM / GRU weights and biases; the PSN time map: the effective
                         ``M (T, T)`` of psn / masked_psn, the ``k`` taps of sliding_psn)
``parameter_count``      parameters; ``footprint_bytes``: parameters + buffers, in bytes
``membrane_updates``     per neuron layer: every neuron at a sample's first step, then the neurons
                         whose membrane changed, ``sum_{b, t >= 1} [v_{b,t} != v_{b,t-1}]``
``energy_pj``            ``E_AC * effective_acs + E_MAC * effective_macs`` (estimate)
``dense_ann_energy_pj``  ``E_MAC * dense_ops``: the same network as a dense ANN (estimate)
``energy_ratio``         ``energy_pj / dense_ann_energy_pj`` (< 1: cheaper than the dense ANN)
=======================  ========================================================================

``E_AC`` and ``E_MAC`` are :class:`~brain_ai.config.EfficiencyConfig`'s ``e_ac_pj`` / ``e_mac_pj``:
by default 0.9 pJ per 32-bit float accumulate and 4.6 pJ per multiply-accumulate in 45 nm CMOS
(M. Horowitz, "Computing's energy problem (and what we can do about it)", ISSCC 2014).

What is not a synaptic operation: BatchNorm is folded into the conv before it (in eval mode a
per-channel scale and shift of its weights and bias; its parameters and running statistics are in
the footprint); average pooling is a fixed linear map on the way (its effect is the MACs it makes
of the next layer's inputs); the neurons' own arithmetic (leak, adaptation, synaptic filter,
``advanced_lif``'s delay interpolation, the membrane readout's leak) is what ``membrane_updates``
counts; the encoder is not part of the network (its work and parameters are not counted). The
recurrent weight reads ``s_{t-1}``, zeros at the first step (a forward from ``state=None``).
"""

from __future__ import annotations

import dataclasses
import functools
from dataclasses import dataclass, field
from typing import Callable, Dict, List, Optional

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from brain_ai.config import EfficiencyConfig
from brain_ai.core.ann import RecurrentANN
from brain_ai.core.masking import check_mask
from brain_ai.core.neurons import NEURONS, LeakyIntegrator, ParallelSpikingNeuron, RecurrentLIFNeuron
from brain_ai.core.snn import ConvSNN, SNNCore, SNNOutput, over_time
from brain_ai.core.spike_input import as_compute

#: the network types whose layers this module knows how to count
NETWORKS = (SNNCore, ConvSNN, RecurrentANN)
#: module types a counted network may contain (exact types: a subclass may compute something else)
KNOWN_LAYERS = (
    nn.Linear,
    nn.Conv2d,
    nn.BatchNorm2d,
    nn.AvgPool2d,
    nn.Identity,
    nn.LSTM,
    nn.GRU,
    LeakyIntegrator,
    *NEURONS.values(),
)
#: gate blocks of one recurrent-ANN layer (each a dense matmul of the input and of the hidden state)
_GATES = {nn.LSTM: 4, nn.GRU: 3}
#: per-sample sums kept per row (ops, activation zeros / entries, membrane updates)
_SUMS = ("dense_ops", "effective_acs", "effective_macs", "zeros", "entries", "membrane_updates")
#: the label every printed or saved energy carries
ESTIMATE_NOTE = "energy: an estimate from the operation counts (E_AC * ACs + E_MAC * MACs), not a measurement"


class EfficiencyError(ValueError):
    """The network or the recorded forward cannot be counted; the message says what to change."""


#: ``op(inputs (T, *in), weight) -> (T, *out)``: the layer's linear map on per-step input counts
LinearMap = Callable[[Tensor, Tensor], Tensor]


@dataclass
class _Synapse:
    """One connection of a forward: ``op`` applied with ``weight`` to ``inputs (B, T, *in)``;
    ``spikes``: the inputs are a spiking layer's recorded output (0 / 1 by construction)."""

    row: str
    op: LinearMap
    weight: Tensor
    inputs: Tensor
    spikes: bool = False


@dataclass
class _Row:
    """A report row's tensors: its parameters, buffers and connection weights (for sparsity)."""

    params: List[Tensor] = field(default_factory=list)
    buffers: List[Tensor] = field(default_factory=list)
    connections: List[Tensor] = field(default_factory=list)


def check_countable(net: nn.Module) -> None:
    """Raise :class:`EfficiencyError` naming the module type unless every layer of ``net`` is one
    this module counts (never count an unknown layer as zero)."""
    if not isinstance(net, NETWORKS):
        known = ", ".join(t.__name__ for t in NETWORKS)
        raise EfficiencyError(
            f"efficiency: cannot count a {type(net).__module__}.{type(net).__qualname__}; known networks: {known}"
        )
    for name, module in net.named_modules():
        if next(module.children(), None) is None and type(module) not in KNOWN_LAYERS:
            known = ", ".join(sorted({t.__name__ for t in KNOWN_LAYERS}))
            raise EfficiencyError(
                f"efficiency: cannot count the operations of {name!r}, a {type(module).__module__}.{type(module).__qualname__}; "
                f"known layer types: {known}"
            )


def _conv_map(conv: nn.Conv2d) -> LinearMap:
    return functools.partial(
        F.conv2d, stride=conv.stride, padding=conv.padding, dilation=conv.dilation, groups=conv.groups
    )


def _recorded(out: SNNOutput, kind: str, name: str = "") -> Tensor:
    """``out.layer_<kind>[name]`` (``out.inputs`` for ``kind="inputs"``), or an error naming the flag that records it."""
    found = out.inputs if kind == "inputs" else getattr(out, f"layer_{kind}").get(name)
    if found is None:
        what = f"{kind} of {name!r}" if name else kind
        flags = "return_details=True" if kind == "inputs" else "keep_spikes=True, record_membrane=True"
        hint = (
            " (or pass the network's input to EfficiencyMeter.update(out, mask, inputs=x))" if kind == "inputs" else ""
        )
        raise EfficiencyError(
            f"efficiency: the forward recorded no {what}; run the network with {flags} "
            f"(EfficiencyMeter.forward_kwargs()){hint} to count its operations"
        )
    return found.detach()


def _recurrent_rows(net: nn.Module, out: SNNOutput) -> List[_Synapse]:
    """``W_rec s_{t-1}`` of every recurrent neuron layer (zeros before the first step)."""
    synapses = []
    for name, neuron in zip(net.layer_names, net.neurons):
        if isinstance(neuron, RecurrentLIFNeuron):
            s = _recorded(out, "spikes", name)
            prev = torch.cat([torch.zeros_like(s[:, :1]), s[:, :-1]], dim=1)  # (B, T, N)
            synapses.append(_Synapse(f"{name}.recurrent", F.linear, neuron.w_rec, prev, spikes=True))
    return synapses


def _synapses(net: nn.Module, out: SNNOutput, x: Tensor) -> List[_Synapse]:
    """Every connection of an SNN forward with the input ``x (B, T, ...)`` it read (hidden ones from the
    recorded spikes)."""
    synapses = []
    first = 0
    if isinstance(net, ConvSNN):
        for i, block in enumerate(net.blocks):
            synapses.append(_Synapse(f"layer{i}", _conv_map(block[0]), block[0].weight, x))
            x = over_time(net.pool, _recorded(out, "spikes", f"layer{i}"))  # (B, T, C, H/p, W/p)
        first = len(net.blocks)
    x = x.flatten(2)  # (B, T, F)
    for j, linear in enumerate(net.linears):
        name = f"layer{first + j}"
        synapses.append(_Synapse(name, F.linear, linear.weight, x, spikes=j > 0))
        if j + 1 < len(net.linears):
            x = _recorded(out, "spikes", name)
    return synapses + _recurrent_rows(net, out)


def _time_mixing_ops(neuron: ParallelSpikingNeuron, steps: int, batch: int, mask: Optional[Tensor]) -> Dict[str, float]:
    """Dense and effective MACs of a PSN layer's time map over a batch (sums over samples and valid steps)."""
    valid = torch.full((steps,), float(batch)) if mask is None else mask.sum(0).double().cpu()  # (T,) samples per step
    neurons = float(torch.Size(neuron.size).numel())
    taps = neuron.time_taps(steps).sum(1).double().cpu()  # (T,)
    nonzero = (neuron.time_matrix(steps).detach() != 0).sum(1).double().cpu()  # (T,)
    macs = neurons * float((valid * nonzero).sum())
    return {"dense_ops": neurons * float((valid * taps).sum()), "effective_macs": macs}


def _module_row(module: nn.Module, connections: List[Tensor]) -> _Row:
    return _Row(params=list(module.parameters()), buffers=list(module.buffers()), connections=connections)


def _rows(net: nn.Module) -> Dict[str, _Row]:
    """Report rows in order, each with the tensors it owns (every parameter and buffer of ``net`` once)."""
    if isinstance(net, RecurrentANN):
        rows = {name: _module_row(layer, list(layer.parameters())) for name, layer in zip(net.layer_names, net.layers)}
        rows["readout"] = _module_row(net.readout, [net.readout.weight])
        return rows
    rows = {}
    convs = list(net.blocks) if isinstance(net, ConvSNN) else []
    for i, (name, neuron) in enumerate(zip(net.layer_names, net.neurons)):
        connection = convs[i] if i < len(convs) else net.linears[i - len(convs)]
        rows[name] = _module_row(connection, [connection[0].weight if i < len(convs) else connection.weight])
        own = {}  # parameter name -> (its row, the weights its connection sparsity reads)
        if isinstance(neuron, RecurrentLIFNeuron):
            own = {"w_rec": ("recurrent", neuron.w_rec)}
        elif isinstance(neuron, ParallelSpikingNeuron):
            own = {"weight": ("temporal", neuron.mixing_weights().detach())}
        rows[name].params += [p for key, p in neuron.named_parameters() if key not in own]
        rows[name].buffers += list(neuron.buffers())
        for key, (row, weights) in own.items():
            rows[f"{name}.{row}"] = _Row(params=[getattr(neuron, key)], connections=[weights])
    return rows


def _masked(x: Tensor, mask: Optional[Tensor]) -> Tensor:
    """``x (B, T, ...)`` with its masked steps zeroed (``x`` itself without a mask)."""
    return x if mask is None else x * mask.view(*mask.shape, *(1,) * (x.dim() - 2)).to(x.dtype)


def _valid_steps(mask: Optional[Tensor], like: Tensor) -> float:
    """Valid (sample, step) pairs of a batch shaped like ``like (B, T, ...)``."""
    return float(like.shape[0] * like.shape[1]) if mask is None else float(mask.sum())


def _spiking_steps(x: Tensor, counts: Tensor) -> Tensor:
    """``(T,)`` bool: the steps of ``x (B, T, ...)`` whose values are all in {-1, 0, 1}, given the
    non-zero ``counts (T, ...)``. With ``|x| <= 1`` a step is such exactly when ``sum |x|`` equals
    its non-zero count: reductions only, no per-element temporaries (this runs every validation)."""
    lo, hi = torch.aminmax(x)
    size = x.abs() if bool(lo < 0) else x
    dims = [0, *range(2, x.dim())]  # all but time
    exact = torch.float64 if x[:, 0].numel() >= 2**24 else None  # float32 sums of ones are exact below 2^24
    ones = size.sum(dim=dims, dtype=exact).double() == counts.flatten(1).sum(1)
    return ones if bool(hi <= 1) and bool(lo >= -1) else ones & (size.amax(dim=dims) <= 1)


def _ops(syn: _Synapse, mask: Optional[Tensor]) -> Dict[str, float]:
    """Dense, AC and MAC operations of one connection over a batch (sums over samples and valid steps)."""
    x = _masked(syn.inputs.detach(), mask)
    counts = (x.sum(0) if syn.spikes else torch.count_nonzero(x, dim=0)).double()  # (T, *in) non-zero inputs
    spiking = torch.ones(x.shape[1], dtype=torch.bool, device=x.device) if syn.spikes else _spiking_steps(x, counts)
    w = syn.weight.detach().double()
    effective = syn.op(counts, (w != 0).double()).flatten(1).sum(1)  # (T,)
    per_step = float(syn.op(torch.ones_like(counts[:1]), torch.ones_like(w)).sum())
    return {
        "dense_ops": per_step * _valid_steps(mask, x),
        "effective_acs": float(effective[spiking].sum()),
        "effective_macs": float(effective[~spiking].sum()),
    }


def _membrane_updates(v: Tensor, mask: Optional[Tensor]) -> float:
    """Every neuron at each sample's first valid step, then those whose membrane changed."""
    changed = v[:, 1:] != v[:, :-1]  # (B, T - 1, *N)
    if mask is not None:
        changed &= mask[:, 1:].view(*changed.shape[:2], *(1,) * (v.dim() - 2))
    first = v.shape[0] if mask is None else float(mask[:, 0].sum())
    return float(first) * v[0, 0].numel() + float(torch.count_nonzero(changed))


def _ann_ops(net: RecurrentANN, steps: float) -> Dict[str, Dict[str, float]]:
    """LSTM / GRU layers and the readout: every dense operation a MAC."""
    sizes = [net.cfg.input_size, *net.cfg.hidden_sizes]
    dense = {
        name: _GATES[type(layer)] * layer.hidden_size * (n_in + layer.hidden_size)
        for name, layer, n_in in zip(net.layer_names, net.layers, sizes)
    }
    dense["readout"] = net.readout.in_features * net.readout.out_features
    return {name: {"dense_ops": d * steps, "effective_macs": d * steps} for name, d in dense.items()}


class EfficiencyMeter:
    """Sum the operation counts of forwards of one network; :meth:`compute` makes the report.

    ``update(out, mask, inputs)`` per batch: ``out`` the ``SNNOutput`` of a forward with
    :meth:`forward_kwargs` (or ``return_details=True``), ``mask (B, T)`` the valid steps (None: all),
    ``inputs`` what the network read.
    """

    def __init__(self, net: nn.Module) -> None:
        check_countable(net)
        self.net = net
        self.rows = _rows(net)
        self.samples = 0
        self.sums: Dict[str, Dict[str, float]] = {row: dict.fromkeys(_SUMS, 0.0) for row in self.rows}

    def _add(self, row: str, values: Dict[str, float]) -> None:
        for key, value in values.items():
            self.sums[row][key] += value

    def forward_kwargs(self) -> Dict[str, bool]:
        """What a forward of the meter's network must record for :meth:`update`: every spiking layer's
        spikes and every neuron layer's membrane (no probes: lighter than ``return_details=True``);
        nothing for LSTM / GRU, whose operations follow from the shapes."""
        return {"keep_spikes": True, "record_membrane": True} if self.net.spiking else {}

    @torch.no_grad()
    def update(self, out: SNNOutput, mask: Optional[Tensor] = None, inputs: Optional[Tensor] = None) -> None:
        """Add one batch's counts: ``out`` a forward of the meter's network with :meth:`forward_kwargs`
        (or ``return_details=True``), ``mask (B, T)`` its valid steps, ``inputs (B, T, ...)`` the input
        it read (None: ``out.inputs``, kept by ``return_details=True``)."""
        b, t = out.output.shape[:2]
        mask = check_mask(mask, b, t, "efficiency")
        if isinstance(self.net, RecurrentANN):
            for row, values in _ann_ops(self.net, _valid_steps(mask, out.output)).items():
                self._add(row, values)
        else:
            x = _recorded(out, "inputs") if inputs is None else inputs.detach()
            for syn in _synapses(self.net, out, as_compute(x, self.net.compute_dtype)):
                self._add(syn.row, _ops(syn, mask))
            for name, neuron in zip(self.net.layer_names, self.net.neurons):
                self._add(name, {"membrane_updates": _membrane_updates(_recorded(out, "membranes", name), mask)})
                if isinstance(neuron, ParallelSpikingNeuron):
                    self._add(f"{name}.temporal", _time_mixing_ops(neuron, t, b, mask))
                if neuron.spiking:
                    s = _recorded(out, "spikes", name)
                    entries = _valid_steps(mask, s) * s[0, 0].numel()
                    self._add(
                        name, {"zeros": entries - float(_masked(s, mask).sum()), "entries": entries}
                    )  # 0 / 1 spikes
        self.samples += b

    def compute(self, energy: Optional[EfficiencyConfig] = None) -> "EfficiencyReport":
        """The per-sample report of every batch so far (``energy``: the constants; None = defaults)."""
        if self.samples == 0:
            raise EfficiencyError(
                "efficiency: no batch was counted; call update(out, mask) with at least one batch first"
            )
        energy = energy or EfficiencyConfig()
        layers = {row: self._row_values(row, self.sums[row], self.rows[row], energy) for row in self.rows}
        total_sums = {key: sum(s[key] for s in self.sums.values()) for key in _SUMS}
        total = self._row_values(
            "total",
            total_sums,
            _Row(
                params=list(self.net.parameters()),
                buffers=list(self.net.buffers()),
                connections=[w for r in self.rows.values() for w in r.connections],
            ),
            energy,
        )
        return EfficiencyReport(layers=layers, total=total, samples=self.samples, energy=energy)

    def _row_values(
        self, row: str, sums: Dict[str, float], tensors: _Row, energy: EfficiencyConfig
    ) -> Dict[str, float]:
        n = self.samples
        acs, macs, dense = sums["effective_acs"] / n, sums["effective_macs"] / n, sums["dense_ops"] / n
        values = {"dense_ops": dense, "effective_acs": acs, "effective_macs": macs, "synops": acs + macs}
        if sums["entries"]:
            values["activation_sparsity"] = sums["zeros"] / sums["entries"]
        if tensors.connections:
            weights = sum(w.numel() for w in tensors.connections)
            values["connection_sparsity"] = sum(int((w == 0).sum()) for w in tensors.connections) / weights
        values["parameter_count"] = float(sum(p.numel() for p in tensors.params))
        values["footprint_bytes"] = float(sum(t.numel() * t.element_size() for t in tensors.params + tensors.buffers))
        if row == "total" or not row.endswith((".recurrent", ".temporal")) and row != "readout":
            values["membrane_updates"] = sums["membrane_updates"] / n
        values["energy_pj"] = energy.e_ac_pj * acs + energy.e_mac_pj * macs
        values["dense_ann_energy_pj"] = energy.e_mac_pj * dense
        values["energy_ratio"] = values["energy_pj"] / values["dense_ann_energy_pj"] if dense else 0.0
        return values


@dataclass
class EfficiencyReport:
    """Per-sample efficiency: ``layers`` (row -> values) and ``total`` (the keys of the module
    docstring), over ``samples`` samples, with the ``energy`` constants used."""

    layers: Dict[str, Dict[str, float]]
    total: Dict[str, float]
    samples: int
    energy: EfficiencyConfig

    def to_dict(self) -> Dict[str, object]:
        """Plain JSON-ready dict (the ``efficiency`` entry of evaluate.py's report)."""
        return {
            "note": ESTIMATE_NOTE,
            "samples": self.samples,
            **dataclasses.asdict(self.energy),
            "layers": self.layers,
            "total": self.total,
        }

    def table(self) -> str:
        """The report as a text table: one line per layer and the total, then the energy estimate."""
        columns = [
            ("dense_ops", "dense ops", ".4g"),
            ("effective_acs", "ACs", ".4g"),
            ("effective_macs", "MACs", ".4g"),
            ("activation_sparsity", "act. sparsity", ".3f"),
            ("connection_sparsity", "conn. sparsity", ".3f"),
            ("parameter_count", "params", ".0f"),
        ]
        width = max(len(name) for name in [*self.layers, "total"])
        cell = lambda values, key, fmt: format(values[key], fmt) if key in values else "-"  # noqa: E731
        lines = [
            f"efficiency per sample ({self.samples} samples)",
            f"{'layer':<{width}}" + "".join(f"{h:>16}" for _, h, _ in columns),
        ]
        for name, values in [*self.layers.items(), ("total", self.total)]:
            lines.append(f"{name:<{width}}" + "".join(f"{cell(values, k, f):>16}" for k, _, f in columns))
        t = self.total
        lines.append(
            f"energy estimate: {t['energy_pj'] / 1e3:.4g} nJ per sample vs {t['dense_ann_energy_pj'] / 1e3:.4g} nJ for the same "
            f"network as a dense ANN (ratio {t['energy_ratio']:.4g}; E_AC {self.energy.e_ac_pj:g} pJ, E_MAC {self.energy.e_mac_pj:g} pJ)"
        )
        lines.append(ESTIMATE_NOTE)
        return "\n".join(lines)


def measure_efficiency(
    net: nn.Module, x: Tensor, mask: Optional[Tensor] = None, energy: Optional[EfficiencyConfig] = None
) -> EfficiencyReport:
    """Run ``net`` on ``x (B, T, ...)`` (eval mode, no gradients, recording
    :meth:`EfficiencyMeter.forward_kwargs`) and report its efficiency per sample; ``mask (B, T)``:
    the valid steps of a ragged batch."""
    meter = EfficiencyMeter(net)
    was_training = net.training
    net.eval()
    try:
        with torch.no_grad():
            masked = {"mask": mask} if net.spiking else {}  # LSTM / GRU take no mask: the meter skips its steps
            out = net(x, **meter.forward_kwargs(), **masked)
    finally:
        net.train(was_training)
    meter.update(out, mask, inputs=x)
    return meter.compute(energy)


__all__ = [
    "EfficiencyError",
    "EfficiencyMeter",
    "EfficiencyReport",
    "ESTIMATE_NOTE",
    "check_countable",
    "measure_efficiency",
]
