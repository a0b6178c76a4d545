"""``export``: a trained SNNCore / ConvSNN (or a checkpoint of one) -> ``nir.NIRGraph``.

Node names: ``input``, ``fc{j}`` / ``conv{i}`` (weights), ``layer{k}`` (neurons, the same names as
brain_ai's layers), ``layer{k}_rec`` (recurrent weights, an edge ``layer{k} -> layer{k}_rec ->
layer{k}``), ``pool{i}``, ``flatten``, ``output``. The mapping is the table in
:mod:`brain_ai.interop.nir`.
"""

from __future__ import annotations

import json
import math
import warnings
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

import nir
import numpy as np
import torch
from torch import Tensor, nn

from brain_ai.config import ResetMode
from brain_ai.core.ann import RecurrentANN
from brain_ai.core.neurons import (
    AdaptiveLIFNeuron,
    AdExNeuron,
    AdvancedLIFNeuron,
    LIFNeuron,
    ParallelSpikingNeuron,
    RecurrentAdaptiveLIFNeuron,
    RecurrentLIFNeuron,
    SpikingNeuronBase,
)
from brain_ai.core.snn import ConvSNN, SNNCore
from brain_ai.interop.nir._files import load_checkpoint
from brain_ai.interop.nir._mapping import DEFAULT_DT, HPARAMS_KEY, NIRExportError, decay_to_tau

#: neuron classes whose forward pass is exactly ``lif_step`` (plus the features checked below)
_LIF_FAMILY = (LIFNeuron, RecurrentLIFNeuron, RecurrentAdaptiveLIFNeuron, AdaptiveLIFNeuron, AdvancedLIFNeuron)

ModelLike = Union[SNNCore, ConvSNN, nn.Module, str, Path]


def _np(t: Tensor, shape: Optional[Tuple[int, ...]] = None, dtype: Any = np.float32) -> np.ndarray:
    """A detached CPU copy as a numpy array (broadcast to ``shape`` when given)."""
    a = t.detach().cpu().to(torch.float64 if dtype is np.float64 else torch.float32).numpy()
    return np.array(np.broadcast_to(a, shape), dtype=dtype) if shape is not None else np.array(a, dtype=dtype)


def _resolve(model: ModelLike) -> Tuple[Union[SNNCore, ConvSNN], Optional[Dict[str, Any]]]:
    """The network and, for a LightningModule or checkpoint, its saved hyper-parameters."""
    if isinstance(model, (str, Path)):
        net, hparams = load_checkpoint(model)
    elif isinstance(model, (SNNCore, ConvSNN, RecurrentANN)):
        net, hparams = model, None
    else:  # SNNLitModule (duck-typed: no lightning import here)
        net, hparams = getattr(model, "net", None), dict(getattr(model, "hparams", {}) or {})
    if isinstance(net, RecurrentANN):
        arch = net.cfg.architecture.name
        raise NIRExportError(
            f"export: snn.architecture={arch} is a non-spiking baseline (torch.nn.{arch.upper()}); NIR has no "
            "LSTM / GRU node. Only spiking networks (snn.architecture=mlp or conv) export to NIR"
        )
    if not isinstance(net, (SNNCore, ConvSNN)):
        raise TypeError(
            f"export: expected an SNNCore, ConvSNN, SNNLitModule or a checkpoint path, got {type(model).__name__}"
        )
    return net, hparams


class _Builder:
    """Collects nodes, edges and the approximations made on the way."""

    def __init__(self, dt: float) -> None:
        self.dt = dt
        self.nodes: Dict[str, nir.NIRNode] = {}
        self.edges: List[Tuple[str, str]] = []
        self.last = "input"
        self.approximations: List[str] = []

    def add(self, name: str, node: nir.NIRNode) -> None:
        self.nodes[name] = node
        self.edges.append((self.last, name))
        self.last = name

    def note(self, layer: str, what: str) -> None:
        self.approximations.append(f"{layer}: {what}")

    # ---- stateless layers ---------------------------------------------------------------
    def linear(self, name: str, linear: nn.Linear) -> None:
        bias = linear.bias if linear.bias is not None else torch.zeros(linear.out_features)
        self.add(name, nir.Affine(weight=_np(linear.weight), bias=_np(bias)))

    def conv(self, name: str, block: nn.Sequential, hw: Tuple[int, int], layer: str) -> None:
        conv, norm = block[0], block[1]
        if not isinstance(norm, (nn.BatchNorm2d, nn.Identity)):
            raise NIRExportError(
                f"{layer}: normalisation {type(norm).__name__} has no NIR equivalent in brain_ai's exporter"
            )
        weight = conv.weight.detach().double()  # (C_out, C_in, k, k)
        bias = (
            conv.bias.detach().double()
            if conv.bias is not None
            else torch.zeros(conv.out_channels, dtype=torch.float64)
        )
        if isinstance(norm, nn.BatchNorm2d):
            scale = norm.weight.detach().double() / torch.sqrt(norm.running_var.double() + norm.eps)  # (C_out,)
            weight = weight * scale[:, None, None, None]
            bias = (bias - norm.running_mean.double()) * scale + norm.bias.detach().double()
            self.note(
                layer,
                "BatchNorm2d folded into the conv weights and bias (running statistics); the same function up to "
                "float32 rounding, so spikes can flip where the membrane is within rounding of the threshold",
            )
        self.add(
            name,
            nir.Conv2d(
                input_shape=tuple(hw),
                weight=_np(weight),
                stride=tuple(conv.stride),
                padding=tuple(conv.padding),
                dilation=tuple(conv.dilation),
                groups=conv.groups,
                bias=_np(bias),
            ),
        )

    # ---- neurons ------------------------------------------------------------------------
    def neuron(self, name: str, cell: nn.Module) -> None:
        if isinstance(cell, ParallelSpikingNeuron):
            raise NIRExportError(
                f"{name}: parallel spiking neurons (snn.neuron.type=psn | masked_psn | sliding_psn) cannot be "
                "exported: NIR's neurons are step-by-step state machines (LIF, CubaLIF, LI, IF, I) with no node for a "
                "learnable map over time steps; allowed: a LIF-family snn.neuron.type"
            )
        size = tuple(cell.size)
        beta = _np(cell.beta, size, np.float64)
        tau, r = decay_to_tau(beta, self.dt)
        if not cell.spiking:  # the membrane readout (LeakyIntegrator)
            self.add(name, nir.LI(tau=tau, r=r, v_leak=np.zeros(size)))
            return
        if isinstance(cell, AdExNeuron):
            raise NIRExportError(
                f"{name}: AdEx neurons (snn.neuron.type=adex) cannot be exported: NIR has no adaptive exponential "
                "integrate-and-fire node (its neurons are LIF, CubaLIF, LI, IF, I); train with a LIF-family type to export"
            )
        if type(cell) not in _LIF_FAMILY:  # a subclass may change the step: refuse rather than guess
            raise NIRExportError(
                f"{name}: neuron type {type(cell).__name__} has no NIR equivalent in brain_ai's exporter"
            )
        self._check_features(name, cell)
        thr = _np(cell.threshold, size, np.float64)
        v_leak, v_reset = np.full(size, cell.v_rest), np.full(size, cell.v_reset)
        if cell.synaptic_beta is not None:
            tau_syn, w_in = decay_to_tau(np.full(size, cell.synaptic_beta), self.dt)
            node = nir.CubaLIF(
                tau_syn=tau_syn, tau_mem=tau, r=r, v_leak=v_leak, v_threshold=thr, v_reset=v_reset, w_in=w_in
            )
        else:
            node = nir.LIF(tau=tau, r=r, v_leak=v_leak, v_threshold=thr, v_reset=v_reset)
        self.add(name, node)
        if isinstance(cell, RecurrentLIFNeuron):
            rec = f"{name}_rec"
            self.nodes[rec] = nir.Linear(weight=_np(cell.w_rec))
            self.edges += [(name, rec), (rec, name)]

    def _check_features(self, name: str, cell: SpikingNeuronBase) -> None:
        """Note every forward-pass feature of ``cell`` that NIR's LIF / CubaLIF cannot express."""
        if cell.reset is not ResetMode.zero:
            self.note(
                name,
                f"reset={cell.reset.name}: NIR's LIF resets to v_reset after a spike, so it is exported as reset=zero "
                f"(v_reset=0); spikes differ after any spike whose membrane overshoots the threshold",
            )
        if cell.refractory_steps:
            self.note(name, f"refractory_steps={cell.refractory_steps}: NIR has no refractory period; dropped")
        if getattr(cell, "adaptation_alpha", 0) != 0:  # AdaptiveLIF, RecurrentAdaptiveLIF
            rho = torch.as_tensor(cell.adaptation_decay).detach()
            decay = (
                f"{rho.item():.4g}"
                if rho.numel() == 1
                else f"per neuron in [{rho.min().item():.4g}, {rho.max().item():.4g}]"
            )
            self.note(
                name,
                f"adaptive threshold (adaptation_alpha={cell.adaptation_alpha}, adaptation_decay {decay}): "
                "NIR has no adaptive-threshold neuron; exported as a LIF with the base threshold",
            )
        if isinstance(cell, AdvancedLIFNeuron) and cell.max_delay > 0:
            d = cell.delay.detach()
            self.note(
                name,
                f"learnable input delays (max_delay={cell.max_delay}, delays in [{d.min().item():.3g}, {d.max().item():.3g}] "
                "steps, linearly interpolated): NIR's Delay node holds fixed delays that brain_ai cannot load back; dropped",
            )


def _build(net: Union[SNNCore, ConvSNN], b: _Builder) -> Tuple[Tuple[int, ...], Tuple[int, ...]]:
    """Add every layer of ``net``; returns the input and output shapes (no batch, no time)."""
    cfg = net.cfg
    first = 0
    if isinstance(net, ConvSNN):
        c, h, w = cfg.input_shape
        in_shape: Tuple[int, ...] = (c, h, w)
        for i, (block, cell) in enumerate(zip(net.blocks, net.neurons)):
            b.conv(f"conv{i}", block, (h, w), f"layer{i}")
            b.neuron(f"layer{i}", cell)
            c = block[0].out_channels
            if cfg.pool > 1:
                p = np.array([cfg.pool, cfg.pool])
                b.add(f"pool{i}", nir.AvgPool2d(kernel_size=p, stride=p.copy(), padding=np.zeros(2, dtype=np.int64)))
            h, w = h // cfg.pool, w // cfg.pool
        b.add("flatten", nir.Flatten(input_type={"input": np.array([c, h, w])}, start_dim=0, end_dim=-1))
        first = len(net.blocks)
    else:
        in_shape = (cfg.input_size,)
    for j, (linear, cell) in enumerate(zip(net.linears, net.dense_neurons)):
        b.linear(f"fc{j}", linear)
        b.neuron(f"layer{first + j}", cell)
    return in_shape, (cfg.output_size,)


def not_exact_message(approximations: Sequence[str], flag: str) -> str:
    """The refusal of an inexact export: every approximation, and ``flag`` (the keyword, or the
    command-line form) that exports the nearest graph instead."""
    listing = "\n  - ".join(approximations)
    return (
        f"NIR cannot express this network exactly:\n  - {listing}\n"
        f"Retrain without these features for an exact export, or pass {flag} to export the nearest graph."
    )


def export(model_or_checkpoint: ModelLike, *, dt: float = DEFAULT_DT, approximate: bool = False) -> nir.NIRGraph:
    """Export a brain_ai network to a NIR graph (parameter mapping: :mod:`brain_ai.interop.nir`).

    Args:
        model_or_checkpoint: an :class:`SNNCore` / :class:`ConvSNN`, an ``SNNLitModule``, or the
            path of a training checkpoint (read with ``torch.load(weights_only=True)``).
        dt: the length of one brain_ai time step in seconds; sets NIR's time constants
            (``tau = dt / (1 - beta)``). It is recorded in ``graph.metadata["dt"]``.
        approximate: export features NIR cannot express (reset=subtract/none, refractory period,
            adaptive threshold, learnable delays, BatchNorm) as the nearest NIR graph, listing
            every approximation in one ``UserWarning``; ``False`` refuses them.

    Raises:
        NIRExportError: a feature NIR cannot express (unless ``approximate``), naming the layer and feature.
    """
    if isinstance(dt, bool) or not isinstance(dt, (int, float)) or not math.isfinite(dt) or dt <= 0:
        raise ValueError(f"export: dt={dt!r} must be a finite number > 0 (seconds per brain_ai time step)")
    net, hparams = _resolve(model_or_checkpoint)
    b = _Builder(float(dt))
    in_shape, out_shape = _build(net, b)
    if b.approximations and not approximate:
        raise NIRExportError(not_exact_message(b.approximations, "approximate=True"), b.approximations)
    if b.approximations:
        warnings.warn("NIR export approximations:\n  - " + "\n  - ".join(b.approximations), UserWarning, stacklevel=2)
    b.nodes = {"input": nir.Input(input_type={"input": np.array(in_shape)}), **b.nodes}
    b.nodes["output"] = nir.Output(output_type={"output": np.array(out_shape)})
    b.edges.append((b.last, "output"))
    metadata: Dict[str, Any] = {"dt": float(dt), "generator": "brain_ai"}
    if hparams:
        metadata[HPARAMS_KEY] = json.dumps(hparams)
    return nir.NIRGraph(nodes=b.nodes, edges=b.edges, metadata=metadata)
