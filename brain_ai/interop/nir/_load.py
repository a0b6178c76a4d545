"""``load``: a NIR graph (or ``.nir`` file) -> :class:`SNNCore` / :class:`ConvSNN` with the same spikes."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from pathlib import Path
from typing import List, Optional, Tuple, Union

import nir
import numpy as np
import torch
from torch import nn

from brain_ai.config import Architecture, NeuronConfig, NeuronType, NormType, Readout, ResetMode, SNNConfig
from brain_ai.core.snn import ConvSNN, SNNCore, build_snn
from brain_ai.interop.nir._files import check_finite_parameters, read_graph
from brain_ai.interop.nir._graph import NEURON_TYPES, to_chain
from brain_ai.interop.nir._mapping import DEFAULT_DT, NIRImportError, input_gain, tau_to_decay

_SUPPORTED = "Input, Output, Affine, Linear, Conv2d, AvgPool2d, Flatten, LIF, CubaLIF, LI (readout only)"


@dataclass
class _Neuron:
    """One neuron layer read from NIR: brain_ai decays/threshold and the input gain to fold into its weights."""

    name: str
    kind: str  # "lif" | "cuba" | "li"
    beta: np.ndarray  # (*size) float64
    gain: np.ndarray  # (*size) float64
    threshold: Optional[np.ndarray] = None
    syn_beta: Optional[np.ndarray] = None
    w_rec: Optional[np.ndarray] = None
    #: bias of a recurrent Affine: a constant input, folded into the preceding layer's bias
    rec_bias: Optional[np.ndarray] = None
    #: LIF / CubaLIF ``v_leak`` and ``v_reset`` (one value per layer)
    v_rest: float = 0.0
    v_reset: float = 0.0


def _param(node: nir.NIRNode, field: str, size: Tuple[int, ...], name: str) -> np.ndarray:
    value = np.asarray(getattr(node, field), dtype=np.float64)
    try:
        return np.broadcast_to(value, size).copy()
    except ValueError:
        raise NIRImportError(
            f"shapes do not chain: {name}.{field} has shape {value.shape} but the layer receives {size}"
        ) from None


def _neuron(name: str, node: nir.NIRNode, size: Tuple[int, ...], dt: float, rec: Optional[nir.NIRNode]) -> _Neuron:
    p = lambda field: _param(node, field, size, name)  # noqa: E731
    if isinstance(node, nir.LI):
        if np.any(p("v_leak") != 0):
            raise NIRImportError(
                f"{name}: LI readout with v_leak != 0 is not supported; brain_ai's leaky readout leaks to 0"
            )
        if rec is not None:
            raise NIRImportError(f"{name}: a recurrent LI readout is not supported")
        tau = p("tau")
        return _Neuron(name, "li", tau_to_decay(tau, dt, f"{name}.tau"), input_gain(p("r"), tau, dt))
    thr = p("v_threshold")
    if np.any(thr <= 0):
        raise NIRImportError(f"{name}: v_threshold must be > 0, got values down to {thr.min()}")
    v_rest, v_reset = (_layer_value(name, field, p(field)) for field in ("v_leak", "v_reset"))
    if np.any(v_reset >= thr):
        raise NIRImportError(
            f"{name}: v_reset={v_reset!r} is at or above v_threshold (down to {thr.min()}); allowed: v_reset < v_threshold"
        )
    tau = p("tau_mem" if isinstance(node, nir.CubaLIF) else "tau")
    out = _Neuron(
        name,
        "lif",
        tau_to_decay(tau, dt, f"{name}.tau"),
        input_gain(p("r"), tau, dt),
        threshold=thr,
        v_rest=v_rest,
        v_reset=v_reset,
    )
    if isinstance(node, nir.CubaLIF):
        tau_syn = p("tau_syn")
        out.kind = "cuba"
        out.syn_beta = tau_to_decay(tau_syn, dt, f"{name}.tau_syn")
        out.gain = out.gain * input_gain(p("w_in"), tau_syn, dt)
    if rec is not None:
        w = np.asarray(rec.weight, dtype=np.float64)
        n = math.prod(size)
        if len(size) != 1 or w.shape != (n, n):
            raise NIRImportError(
                f"shapes do not chain: recurrent weight of {name} has shape {w.shape}, needs ({n}, {n})"
            )
        out.w_rec = w
        if isinstance(rec, nir.Affine) and np.any(np.asarray(rec.bias) != 0):
            out.rec_bias = np.asarray(rec.bias, dtype=np.float64)
    return out


def _layer_value(name: str, field: str, values: np.ndarray) -> float:
    """The one value of a per-neuron NIR field that brain_ai holds per network (``v_leak``, ``v_reset``)."""
    if np.unique(values).size > 1:
        raise NIRImportError(f"{name}: per-neuron {field} is not supported (one {field} for every neuron)")
    return float(values.flat[0])


@dataclass
class _Spec:
    """What the chain says about the architecture, before anything is built."""

    input_shape: Tuple[int, ...]
    convs: List[nir.Conv2d]
    dense: List[Union[nir.Affine, nir.Linear]]
    neurons: List[_Neuron]
    pool: int = 1


def _conv_kernel(name: str, node: nir.Conv2d) -> int:
    k = node.weight.shape[-1]
    pad = (
        (k // 2, k // 2)
        if isinstance(node.padding, str) and node.padding == "same"
        else tuple(np.broadcast_to(node.padding, 2))
    )
    ok = (
        node.weight.shape[-2] == k
        and k % 2 == 1
        and pad == (k // 2, k // 2)
        and node.groups == 1
        and tuple(np.broadcast_to(node.stride, 2)) == (1, 1)
        and tuple(np.broadcast_to(node.dilation, 2)) == (1, 1)
    )
    if not ok:
        raise NIRImportError(
            f"{name}: Conv2d kernel {tuple(node.weight.shape[-2:])}, stride {node.stride}, padding {node.padding}, "
            f"dilation {node.dilation}, groups {node.groups}; brain_ai's ConvSNN uses square odd kernels k with "
            "stride 1, padding k//2, dilation 1, groups 1"
        )
    return k


def _pool_size(name: str, node: nir.AvgPool2d, shape: Tuple[int, ...]) -> int:
    k, s, pad = (
        tuple(int(v) for v in np.broadcast_to(getattr(node, f), 2)) for f in ("kernel_size", "stride", "padding")
    )
    if k[0] != k[1] or s != k or pad != (0, 0) or shape[1] < k[0] or shape[2] < k[0]:
        raise NIRImportError(
            f"{name}: AvgPool2d kernel {k}, stride {s}, padding {pad} on {shape}; brain_ai pools p x p with stride p, no padding"
        )
    return k[0]


class _Reader:
    """Walks the chain's steps in order, filling a :class:`_Spec` and tracking the feature shape."""

    def __init__(self, graph: nir.NIRGraph, dt: float) -> None:
        chain = to_chain(graph)
        for name, node in chain.steps:
            if not isinstance(node, (nir.Affine, nir.Linear, nir.Conv2d, nir.AvgPool2d, nir.Flatten, *NEURON_TYPES)):
                raise NIRImportError(
                    f"node {name!r} has type {type(node).__name__}, which brain_ai cannot load; supported: {_SUPPORTED}"
                )
        self.steps, self.recurrent, self.dt, self.i = chain.steps, chain.recurrent, dt, 0
        self.shape = tuple(int(d) for d in np.asarray(chain.input.input_type["input"]).reshape(-1))
        self.spec = _Spec(input_shape=self.shape, convs=[], dense=[], neurons=[])

    def peek(self, *types: type) -> bool:
        return self.i < len(self.steps) and isinstance(self.steps[self.i][1], types)

    def neuron_after(self, name: str, types: Tuple[type, ...], what: str) -> None:
        if not self.peek(*types):
            raise NIRImportError(f"{name} must be followed by {what}")
        n_name, node = self.steps[self.i]
        self.spec.neurons.append(_neuron(n_name, node, self.shape, self.dt, self.recurrent.get(n_name)))
        self.i += 1

    def conv_blocks(self) -> None:
        """``[Conv2d -> LIF|CubaLIF -> AvgPool2d?]*`` then ``Flatten``."""
        pools = []
        while self.peek(nir.Conv2d):
            name, conv = self.steps[self.i]
            if len(self.shape) != 3 or conv.weight.shape[1] != self.shape[0]:
                raise NIRImportError(
                    f"shapes do not chain: {name} expects {conv.weight.shape[1]} input channels, receives {self.shape}"
                )
            k = _conv_kernel(name, conv)
            if self.spec.convs and k != self.spec.convs[0].weight.shape[-1]:
                raise NIRImportError(
                    f"{name}: kernel size differs from the first conv's; brain_ai uses one kernel_size for every block"
                )
            self.spec.convs.append(conv)
            self.shape = (conv.weight.shape[0], *self.shape[1:])
            self.i += 1
            self.neuron_after(name, (nir.LIF, nir.CubaLIF), "a LIF or CubaLIF neuron layer")
            p = 1
            if self.peek(nir.AvgPool2d):
                p = _pool_size(*self.steps[self.i], self.shape)
                self.shape = (self.shape[0], self.shape[1] // p, self.shape[2] // p)
                self.i += 1
            pools.append(p)
        if len(set(pools)) > 1:
            raise NIRImportError(
                f"pooling differs between conv blocks ({pools}); brain_ai pools after every block with one size"
            )
        self.spec.pool = pools[0] if pools else 1
        if self.peek(nir.Flatten) or not self.spec.convs:  # an MLP may flatten its input first (SNNCore does anyway)
            self.i += int(self.peek(nir.Flatten))
            self.shape = (math.prod(self.shape),)
        else:
            found = self.steps[self.i][0] if self.i < len(self.steps) else "the output"
            raise NIRImportError(f"the conv blocks must be followed by a Flatten node, found {found}")

    def dense_layers(self) -> None:
        """``[Affine|Linear -> LIF|CubaLIF]* -> Affine|Linear -> readout`` up to the output."""
        while self.i < len(self.steps):
            name, lin = self.steps[self.i]
            if not isinstance(lin, (nir.Affine, nir.Linear)):
                raise NIRImportError(
                    f"node {name!r} ({type(lin).__name__}) found where brain_ai expects an Affine or Linear layer"
                )
            if lin.weight.ndim != 2 or lin.weight.shape[1] != self.shape[0]:
                raise NIRImportError(
                    f"shapes do not chain: {name} has weight {tuple(lin.weight.shape)} but receives {self.shape[0]} features"
                )
            self.spec.dense.append(lin)
            self.shape = (lin.weight.shape[0],)
            self.i += 1
            self.neuron_after(name, NEURON_TYPES, "a neuron layer (LIF, CubaLIF, or LI as the readout)")
        if not self.spec.dense:
            raise NIRImportError(
                "the graph has no Affine/Linear layer before the output; brain_ai networks end in Linear -> readout"
            )


def _parse(graph: nir.NIRGraph, dt: float) -> _Spec:
    reader = _Reader(graph, dt)
    reader.conv_blocks()
    reader.dense_layers()
    return reader.spec


def _config(spec: _Spec) -> SNNConfig:
    """The SNNConfig of the parsed graph; per-layer values are set on the modules afterwards."""
    spiking, readout = spec.neurons[:-1], spec.neurons[-1]
    kinds = {n.kind for n in spiking} | ({readout.kind} - {"li"})
    if len(kinds) > 1 or "li" in kinds:
        raise NIRImportError(
            f"neuron layers mix {sorted(kinds)}; brain_ai uses one neuron model (LIF or CubaLIF) for every spiking layer, LI only as the readout"
        )
    hidden_dense = spiking[len(spec.convs) :]
    rec = [n.w_rec is not None for n in hidden_dense]
    bad_rec = [n.name for n in [*spiking[: len(spec.convs)], readout] if n.w_rec is not None]
    if bad_rec or (any(rec) and not all(rec)):
        raise NIRImportError(
            f"recurrent weights on {bad_rec or [n.name for n, r in zip(hidden_dense, rec) if r]}: brain_ai's recurrent_lif "
            "puts a recurrence on every hidden dense layer and on none of the conv or readout layers"
        )
    lif_layers = spiking + ([readout] if readout.kind != "li" else [])
    for field in ("v_rest", "v_reset"):
        values = {getattr(n, field) for n in lif_layers}
        if len(values) > 1:
            nir_field = "v_leak" if field == "v_rest" else field
            raise NIRImportError(
                f"{nir_field} differs between neuron layers ({sorted(values)}); brain_ai uses one {nir_field} for every spiking layer"
            )
    for n in lif_layers:
        if np.unique(n.threshold).size > 1:
            raise NIRImportError(f"{n.name}: per-neuron thresholds are not supported (one v_threshold per layer)")
        if n.syn_beta is not None and np.unique(n.syn_beta).size > 1:
            raise NIRImportError(
                f"{n.name}: per-neuron synaptic time constants are not supported (one tau_syn per layer)"
            )
    if readout.kind == "li" and np.unique(readout.beta).size > 1:
        raise NIRImportError(f"{readout.name}: a LI readout with per-neuron tau is not supported")
    first = spec.neurons[0]
    neuron = NeuronConfig(
        type=NeuronType.recurrent_lif if any(rec) else NeuronType.lif,
        beta=float(first.beta.flat[0]),
        threshold=float(first.threshold.flat[0]) if first.threshold is not None else 1.0,
        reset=ResetMode.zero,
        v_rest=lif_layers[0].v_rest,
        v_reset=lif_layers[0].v_reset,
        synaptic=first.kind == "cuba",
        synaptic_beta=float(first.syn_beta.flat[0]) if first.syn_beta is not None else 0.8,
        per_neuron_beta=any(np.unique(n.beta).size > 1 for n in spiking + [readout]),
    )
    li_beta = float(readout.beta.flat[0]) if readout.kind == "li" else None
    own_readout_tau = (
        li_beta is not None and 0 < li_beta != neuron.beta
    )  # an LI tau of its own: snn.readout_tau (dt = 1)
    common = dict(
        hidden_sizes=[int(lin.weight.shape[0]) for lin in spec.dense[:-1]],
        output_size=int(spec.dense[-1].weight.shape[0]),
        neuron=neuron,
        readout=Readout.membrane if readout.kind == "li" else Readout.spiking,
        readout_tau=-1.0 / math.log(li_beta) if own_readout_tau else None,
    )
    if spec.convs:
        return SNNConfig(
            architecture=Architecture.conv,
            input_shape=list(spec.input_shape),
            conv_channels=[int(c.weight.shape[0]) for c in spec.convs],
            kernel_size=int(spec.convs[0].weight.shape[-1]),
            pool=spec.pool,
            norm=NormType.none,
            **common,
        )
    return SNNConfig(architecture=Architecture.mlp, input_size=math.prod(spec.input_shape), **common)


def _f32(a: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.asarray(a, dtype=np.float64)).to(torch.float32)


def _set_weights(module: nn.Module, weight: np.ndarray, bias: Optional[np.ndarray], n: _Neuron) -> None:
    """Copy ``gain * weight`` (rows = output units) and ``gain * (bias + rec_bias)`` into a Linear / Conv2d."""
    w = np.asarray(weight, dtype=np.float64)
    b = np.zeros(w.shape[0]) if bias is None else np.asarray(bias, dtype=np.float64)
    if n.rec_bias is not None:
        b = b + n.rec_bias
    gain, name = n.gain, n.name
    if np.any(gain != 1.0):
        g = gain.reshape(gain.shape[0], -1)  # (C_out, H*W) or (N, 1)
        if np.any(g != g[:, :1]):
            raise NIRImportError(
                f"{name}: the input gain r*dt/tau varies within a channel; brain_ai cannot fold it into the conv"
            )
        g = g[:, 0]
        w = w * g.reshape(-1, *([1] * (w.ndim - 1)))
        b = b * g
    with torch.no_grad():
        module.weight.copy_(_f32(w))
        module.bias.copy_(_f32(b))


def _set_neuron(cell: nn.Module, n: _Neuron) -> None:
    beta = n.beta if cell.beta_fixed.dim() else n.beta.flat[0]
    with torch.no_grad():
        cell.beta_fixed.copy_(_f32(beta).reshape(cell.beta_fixed.shape))
        if n.threshold is not None:
            cell.threshold_fixed.fill_(float(np.float32(n.threshold.flat[0])))
        if n.w_rec is not None:
            cell.w_rec.copy_(_f32(n.w_rec * n.gain.reshape(-1, 1)))
    if n.syn_beta is not None:
        cell.params = dataclasses.replace(cell.params, synaptic_beta=float(np.float32(n.syn_beta.flat[0])))


def load(graph_or_path: Union[nir.NIRGraph, str, Path], *, dt: Optional[float] = None) -> Union[SNNCore, ConvSNN]:
    """Build a brain_ai network from a NIR graph or ``.nir`` file (mapping: :mod:`brain_ai.interop.nir`).

    Args:
        graph_or_path: a ``nir.NIRGraph`` or the path of a ``.nir`` file.
        dt: seconds per brain_ai time step; ``None`` uses ``graph.metadata["dt"]`` (written by
            :func:`export`) or else :data:`DEFAULT_DT` (snnTorch's convention).

    Returns:
        An :class:`SNNCore` (or :class:`ConvSNN` when the graph has Conv2d layers) in eval mode,
        with fixed (non-learnable) decays and thresholds, ``reset=zero`` and ``norm=none``.

    Raises:
        FileNotFoundError / ValueError: a missing or unreadable file, or a NaN / Inf node parameter.
        NIRImportError: an unsupported node type (named), shapes that do not chain, or a
            parameter brain_ai cannot represent (named with its node).
    """
    if isinstance(graph_or_path, (str, Path)):
        graph = read_graph(graph_or_path)  # checks its parameters, naming the file
    elif isinstance(graph_or_path, nir.NIRGraph):
        graph = graph_or_path
        check_finite_parameters(graph, "load: the graph")
    else:
        raise TypeError(f"load: expected a nir.NIRGraph or a path, got {type(graph_or_path).__name__}")
    if dt is None:
        dt = float(graph.metadata.get("dt", DEFAULT_DT)) if isinstance(graph.metadata, dict) else DEFAULT_DT
    if isinstance(dt, bool) or not isinstance(dt, (int, float)) or not math.isfinite(dt) or dt <= 0:
        raise ValueError(f"load: dt={dt!r} must be a finite number > 0 (seconds per brain_ai time step)")
    spec = _parse(graph, float(dt))
    net = build_snn(_config(spec))
    convs = list(net.blocks) if isinstance(net, ConvSNN) else []
    for block, node, n in zip(convs, spec.convs, spec.neurons):
        _set_weights(block[0], node.weight, node.bias, n)
    for linear, node, n in zip(net.linears, spec.dense, spec.neurons[len(convs) :]):
        _set_weights(linear, node.weight, getattr(node, "bias", None), n)
    for cell, n in zip(net.neurons, spec.neurons):
        _set_neuron(cell, n)
    return net.eval()
