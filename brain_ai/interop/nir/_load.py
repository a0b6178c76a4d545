"""``load``: a NIR graph (or ``.nir`` file) -> :class:`SNNCore` / :class:`ConvSNN` with the same spikes."""

from __future__ import annotations

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
from brain_ai.interop.nir._files import read_graph
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


def _param(node: nir.NIRNode, field: str, size: Tuple[int, ...], name: str) -> np.ndarray:
    value = np.asarray(getattr(node, field), dtype=np.float64)
    try:
        return np.broadcast_to(value, size).copy()
    except ValueError:
        raise NIRImportError(f"shapes do not chain: {name}.{field} has shape {value.shape} but the layer receives {size}") from None


def _neuron(name: str, node: nir.NIRNode, size: Tuple[int, ...], dt: float, rec: Optional[nir.NIRNode]) -> _Neuron:
    p = lambda field: _param(node, field, size, name)  # noqa: E731
    if np.any(p("v_leak") != 0):
        raise NIRImportError(f"{name}: v_leak != 0 (a constant drive) is not supported; brain_ai neurons leak to 0")
    if isinstance(node, nir.LI):
        if rec is not None:
            raise NIRImportError(f"{name}: a recurrent LI readout is not supported")
        tau = p("tau")
        return _Neuron(name, "li", tau_to_decay(tau, dt, f"{name}.tau"), input_gain(p("r"), tau, dt))
    if np.any(p("v_reset") != 0):
        raise NIRImportError(f"{name}: v_reset != 0 is not supported; brain_ai resets the membrane to 0")
    thr = p("v_threshold")
    if np.any(thr <= 0):
        raise NIRImportError(f"{name}: v_threshold must be > 0, got values down to {thr.min()}")
    tau = p("tau_mem" if isinstance(node, nir.CubaLIF) else "tau")
    out = _Neuron(name, "lif", tau_to_decay(tau, dt, f"{name}.tau"), input_gain(p("r"), tau, dt), threshold=thr)
    if isinstance(node, nir.CubaLIF):
        tau_syn = p("tau_syn")
        out.kind = "cuba"
        out.syn_beta = tau_to_decay(tau_syn, dt, f"{name}.tau_syn")
        out.gain = out.gain * input_gain(p("w_in"), tau_syn, dt)
    if rec is not None:
        w = np.asarray(rec.weight, dtype=np.float64)
        n = math.prod(size)
        if len(size) != 1 or w.shape != (n, n):
            raise NIRImportError(f"shapes do not chain: recurrent weight of {name} has shape {w.shape}, needs ({n}, {n})")
        out.w_rec = w
        if isinstance(rec, nir.Affine) and np.any(np.asarray(rec.bias) != 0):
            out.rec_bias = np.asarray(rec.bias, dtype=np.float64)
    return out


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
    pad = (k // 2, k // 2) if isinstance(node.padding, str) and node.padding == "same" else tuple(np.broadcast_to(node.padding, 2))
    ok = (
        node.weight.shape[-2] == k and k % 2 == 1 and pad == (k // 2, k // 2) and node.groups == 1
        and tuple(np.broadcast_to(node.stride, 2)) == (1, 1) and tuple(np.broadcast_to(node.dilation, 2)) == (1, 1)
    )
    if not ok:
        raise NIRImportError(
            f"{name}: Conv2d kernel {tuple(node.weight.shape[-2:])}, stride {node.stride}, padding {node.padding}, "
            f"dilation {node.dilation}, groups {node.groups}; brain_ai's ConvSNN uses square odd kernels k with "
            "stride 1, padding k//2, dilation 1, groups 1"
        )
    return k


def _parse(graph: nir.NIRGraph, dt: float) -> _Spec:
    chain = to_chain(graph)
    shape = tuple(int(d) for d in np.asarray(chain.input.input_type["input"]).reshape(-1))
    spec = _Spec(input_shape=shape, convs=[], dense=[], neurons=[])
    steps, i, pools = chain.steps, 0, []
    for name, node in steps:
        if not isinstance(node, (nir.Affine, nir.Linear, nir.Conv2d, nir.AvgPool2d, nir.Flatten, *NEURON_TYPES)):
            raise NIRImportError(f"node {name!r} has type {type(node).__name__}, which brain_ai cannot load; supported: {_SUPPORTED}")
    while i < len(steps) and isinstance(steps[i][1], nir.Conv2d):
        name, conv = steps[i]
        if len(shape) != 3 or conv.weight.shape[1] != shape[0]:
            raise NIRImportError(f"shapes do not chain: {name} expects {conv.weight.shape[1]} input channels, receives {shape}")
        if spec.convs and _conv_kernel(name, conv) != spec.convs[0].weight.shape[-1]:
            raise NIRImportError(f"{name}: kernel size differs from conv0's; brain_ai uses one kernel_size for every block")
        _conv_kernel(name, conv)
        spec.convs.append(conv)
        shape = (conv.weight.shape[0], *shape[1:])
        i += 1
        if i >= len(steps) or not isinstance(steps[i][1], (nir.LIF, nir.CubaLIF)):
            raise NIRImportError(f"{name} must be followed by a LIF or CubaLIF neuron layer")
        spec.neurons.append(_neuron(steps[i][0], steps[i][1], shape, dt, chain.recurrent.get(steps[i][0])))
        i += 1
        if i < len(steps) and isinstance(steps[i][1], nir.AvgPool2d):
            pname, pnode = steps[i]
            k, s, pad = (tuple(int(v) for v in np.broadcast_to(getattr(pnode, f), 2)) for f in ("kernel_size", "stride", "padding"))
            if k[0] != k[1] or s != k or pad != (0, 0) or shape[1] < k[0] or shape[2] < k[0]:
                raise NIRImportError(f"{pname}: AvgPool2d kernel {k}, stride {s}, padding {pad} on {shape}; brain_ai pools p x p with stride p, no padding")
            pools.append(k[0])
            shape = (shape[0], shape[1] // k[0], shape[2] // k[0])
            i += 1
        else:
            pools.append(1)
    if len(set(pools)) > 1:
        raise NIRImportError(f"pooling differs between conv blocks ({pools}); brain_ai pools after every block with one size")
    spec.pool = pools[0] if pools else 1
    if i < len(steps) and isinstance(steps[i][1], nir.Flatten):
        shape = (math.prod(shape),)
        i += 1
    elif spec.convs:
        raise NIRImportError(f"the conv blocks must be followed by a Flatten node, found {steps[i][0] if i < len(steps) else 'the output'}")
    if not spec.convs and len(shape) != 1:
        shape = (math.prod(shape),)  # SNNCore flattens its input features
    while i < len(steps):
        name, lin = steps[i]
        if not isinstance(lin, (nir.Affine, nir.Linear)):
            raise NIRImportError(f"node {name!r} ({type(lin).__name__}) found where brain_ai expects an Affine or Linear layer")
        if lin.weight.ndim != 2 or lin.weight.shape[1] != shape[0]:
            raise NIRImportError(f"shapes do not chain: {name} has weight {tuple(lin.weight.shape)} but receives {shape[0]} features")
        spec.dense.append(lin)
        shape = (lin.weight.shape[0],)
        i += 1
        if i >= len(steps) or not isinstance(steps[i][1], NEURON_TYPES):
            raise NIRImportError(f"{name} must be followed by a neuron layer (LIF, CubaLIF, or LI as the readout)")
        spec.neurons.append(_neuron(steps[i][0], steps[i][1], shape, dt, chain.recurrent.get(steps[i][0])))
        i += 1
    if not spec.dense:
        raise NIRImportError("the graph has no Affine/Linear layer before the output; brain_ai networks end in Linear -> readout")
    return spec


def _config(spec: _Spec) -> SNNConfig:
    """The SNNConfig of the parsed graph; per-layer values are set on the modules afterwards."""
    spiking, readout = spec.neurons[:-1], spec.neurons[-1]
    kinds = {n.kind for n in spiking} | ({readout.kind} if readout.kind != "li" else set())
    if "li" in {n.kind for n in spiking} or len(kinds) > 1:
        raise NIRImportError(f"neuron layers mix {sorted(kinds | {n.kind for n in spiking})}; brain_ai uses one neuron model for every spiking layer (LI only as the readout)")
    hidden_dense = spiking[len(spec.convs):]
    rec = [n.w_rec is not None for n in hidden_dense]
    bad_rec = [n.name for n in [*spiking[: len(spec.convs)], readout] if n.w_rec is not None]
    if bad_rec or (any(rec) and not all(rec)):
        raise NIRImportError(
            f"recurrent weights on {bad_rec or [n.name for n, r in zip(hidden_dense, rec) if r]}: brain_ai's recurrent_lif "
            "puts a recurrence on every hidden dense layer and on none of the conv or readout layers"
        )
    for n in spiking + ([readout] if readout.kind != "li" else []):
        if np.unique(n.threshold).size > 1:
            raise NIRImportError(f"{n.name}: per-neuron thresholds are not supported (one v_threshold per layer)")
        if n.syn_beta is not None and np.unique(n.syn_beta).size > 1:
            raise NIRImportError(f"{n.name}: per-neuron synaptic time constants are not supported (one tau_syn per layer)")
    if readout.kind == "li" and np.unique(readout.beta).size > 1:
        raise NIRImportError(f"{readout.name}: a LI readout with per-neuron tau is not supported")
    first = spec.neurons[0]
    neuron = NeuronConfig(
        type=NeuronType.recurrent_lif if any(rec) else NeuronType.lif,
        beta=float(first.beta.flat[0]),
        threshold=float(first.threshold.flat[0]) if first.threshold is not None else 1.0,
        reset=ResetMode.zero,
        synaptic=first.kind == "cuba",
        synaptic_beta=float(first.syn_beta.flat[0]) if first.syn_beta is not None else 0.8,
        per_neuron_beta=any(np.unique(n.beta).size > 1 for n in spiking + [readout]),
    )
    common = dict(
        hidden_sizes=[int(lin.weight.shape[0]) for lin in spec.dense[:-1]],
        output_size=int(spec.dense[-1].weight.shape[0]),
        neuron=neuron,
        readout=Readout.membrane if readout.kind == "li" else Readout.spiking,
    )
    if spec.convs:
        return SNNConfig(
            architecture=Architecture.conv, input_shape=list(spec.input_shape), conv_channels=[int(c.weight.shape[0]) for c in spec.convs],
            kernel_size=int(spec.convs[0].weight.shape[-1]), pool=spec.pool, norm=NormType.none, **common,
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
            raise NIRImportError(f"{name}: the input gain r*dt/tau varies within a channel; brain_ai cannot fold it into the conv")
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
        cell.synaptic_beta = float(np.float32(n.syn_beta.flat[0]))


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
        FileNotFoundError / ValueError: a missing or unreadable file.
        NIRImportError: an unsupported node type (named), shapes that do not chain, or a
            parameter brain_ai cannot represent (named with its node).
    """
    graph = read_graph(graph_or_path) if isinstance(graph_or_path, (str, Path)) else graph_or_path
    if not isinstance(graph, nir.NIRGraph):
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
    for linear, node, n in zip(net.linears, spec.dense, spec.neurons[len(convs):]):
        _set_weights(linear, node.weight, getattr(node, "bias", None), n)
    for cell, n in zip(net.neurons, spec.neurons):
        _set_neuron(cell, n)
    return net.eval()
