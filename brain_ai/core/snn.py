"""SNN architectures built from :class:`~brain_ai.config.SNNConfig`.

Both architectures follow one pattern: stateless layers (Linear, Conv2d, BatchNorm, pooling,
dropout) run on all time steps at once over ``x.flatten(0, 1)`` -- one big matmul instead of T
small ones -- and only the neurons step through time, each through
``SpikingNeuronBase.forward_sequence`` (and so through the one ``snn_unroll`` / the fused kernel).

* :class:`SNNCore` (MLP): ``(B, T, *F) -> [Linear -> neuron (-> dropout)] * hidden -> Linear -> readout``
* :class:`ConvSNN`: ``(B, T, C, H, W) -> [Conv -> norm -> neuron -> pool] * blocks -> flatten
  -> [Linear -> neuron] * hidden -> Linear -> readout``

The readout is either spiking (for rate / first-spike / population decoding) or a non-spiking
leaky integrator whose membrane is the output (for membrane decoding). Spiking layers are named
``layer0``, ``layer1``, ... in order; the readout is the last name.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Tuple

import torch
from torch import Tensor, nn

from brain_ai.config import Architecture, Backend, ConfigError, NeuronConfig, NeuronType, NormType, Readout, SNNConfig
from brain_ai.core.neurons import LeakyIntegrator, SpikingNeuronBase, SpikingState, build_neuron
from brain_ai.core.probes import compute_probes


@dataclass
class SNNOutput:
    """What an SNN forward returns (the same type whatever is asked for).

    Attributes:
        output: ``(B, T, C)`` readout spikes (spiking readout) or membrane (membrane readout).
        layer_spikes: name -> ``(B, T, ...)`` spikes of every spiking layer (kept anyway for
            backward, so free to return); used by activity regularisers.
        layer_membranes: name -> ``(B, T, ...)`` post-step membrane, only when recorded.
        probes: name -> probe dict (``brain_ai.core.probes``), only with ``return_details=True``.
        final_states: name -> final :class:`SpikingState` of every neuron layer.
    """

    output: Tensor
    layer_spikes: Dict[str, Tensor] = field(default_factory=dict)
    layer_membranes: Dict[str, Tensor] = field(default_factory=dict)
    probes: Dict[str, Dict[str, Tensor]] = field(default_factory=dict)
    final_states: Dict[str, SpikingState] = field(default_factory=dict)


def over_time(layer: nn.Module, x: Tensor) -> Tensor:
    """Apply a stateless ``layer`` to every time step at once: ``(B, T, ...) -> (B, T, ...)``."""
    b, t = x.shape[:2]
    y = layer(x.flatten(0, 1))  # (B*T, ...)
    return y.reshape(b, t, *y.shape[1:])  # (B, T, ...)


def _hidden_neuron_cfg(cfg: NeuronConfig, recurrent_ok: bool) -> NeuronConfig:
    """Neuron config for a layer: recurrent neurons only where a dense recurrence makes sense."""
    if cfg.type is NeuronType.recurrent_lif and not recurrent_ok:
        return dataclasses.replace(cfg, type=NeuronType.lif)
    return cfg


class _SNNBase(nn.Module):
    """Shared machinery: run the neuron layers in order and collect spikes/membranes/probes."""

    def __init__(self, cfg: SNNConfig) -> None:
        super().__init__()
        if cfg.output_size is None:
            raise ConfigError("snn.output_size is None: set it, or let the pipeline infer it from the data and decoder")
        self.cfg = cfg

    def _run_neuron(
        self,
        name: str,
        neuron: nn.Module,
        current: Tensor,
        out: SNNOutput,
        record_membrane: bool,
        return_details: bool,
        mask: Optional[Tensor] = None,
    ) -> Tensor:
        """Step ``neuron`` over ``current (B, T, ...)``; store its spikes/membrane/probes under ``name``.

        ``mask (B, T)``: valid steps of a ragged batch; the probes count only those.
        """
        record = "membrane" if (record_membrane or return_details) else "none"
        # snn.neuron.backend picks the spiking layers' implementation; the membrane readout
        # (LeakyIntegrator) has only the generic unroll
        backend = Backend.eager if isinstance(neuron, LeakyIntegrator) else self.cfg.neuron.backend
        spikes, state, traces = neuron.forward_sequence(
            current, chunk_size=self.cfg.chunk_size, checkpoint=self.cfg.checkpoint, record=record, backend=backend
        )
        out.final_states[name] = state
        membrane = traces.get("membrane")
        if membrane is not None:
            out.layer_membranes[name] = membrane
        if isinstance(neuron, LeakyIntegrator):
            return spikes  # the readout membrane (B, T, C); not a spiking layer
        out.layer_spikes[name] = spikes
        if return_details:
            out.probes[name] = compute_probes(spikes.detach(), None if membrane is None else membrane.detach(), mask=mask)
        return spikes

    def _readout(self, size: int) -> nn.Module:
        if self.cfg.readout is Readout.membrane:
            neuron = self.cfg.neuron
            return LeakyIntegrator(size, beta=neuron.beta, tau=neuron.tau, dt=neuron.dt)
        return build_neuron(_hidden_neuron_cfg(self.cfg.neuron, recurrent_ok=False), size)

    @property
    def layer_names(self) -> List[str]:
        """Names of the neuron layers in order (``layer0`` ... readout)."""
        return [f"layer{i}" for i in range(len(self.neurons))]

    def _dense_stack(self, in_features: int) -> None:
        """Build ``hidden_sizes`` Linear->neuron layers and the Linear->readout (appends to self)."""
        sizes = [in_features, *self.cfg.hidden_sizes]
        for n_in, n_out in zip(sizes[:-1], sizes[1:]):
            self.linears.append(nn.Linear(n_in, n_out))
            self.neurons.append(build_neuron(_hidden_neuron_cfg(self.cfg.neuron, recurrent_ok=True), n_out))
        self.linears.append(nn.Linear(sizes[-1], self.cfg.output_size))
        self.neurons.append(self._readout(self.cfg.output_size))

    def _forward_dense(
        self, x: Tensor, out: SNNOutput, first: int, record_membrane: bool, details: bool, mask: Optional[Tensor]
    ) -> Tensor:
        """Run the dense stack on ``x (B, T, F)``; layer names start at ``layer{first}``."""
        for j, (linear, neuron) in enumerate(zip(self.linears, self.dense_neurons)):
            is_last = j == len(self.linears) - 1
            current = over_time(linear, x)  # (B, T, N_j)
            x = self._run_neuron(f"layer{first + j}", neuron, current, out, record_membrane, details, mask)
            if not is_last and self.dropout is not None:
                x = over_time(self.dropout, x)
        return x


class SNNCore(_SNNBase):
    """Multi-layer perceptron SNN: ``(B, T, *F) -> SNNOutput`` with ``output (B, T, output_size)``.

    Every hidden layer is ``Linear -> neuron`` (``cfg.neuron``: any variant; ``recurrent_lif``
    adds a recurrent weight inside the neuron), optionally followed by dropout on the spikes.
    """

    def __init__(self, cfg: SNNConfig) -> None:
        super().__init__(cfg)
        if cfg.input_size is None:
            raise ConfigError("snn.input_size is None: set it, or let the pipeline infer it from the data and encoder")
        self.linears = nn.ModuleList()
        self.neurons = nn.ModuleList()
        self._dense_stack(cfg.input_size)
        self.dropout = nn.Dropout(cfg.dropout) if cfg.dropout > 0 else None

    @property
    def dense_neurons(self) -> nn.ModuleList:
        return self.neurons

    def forward(
        self, x: Tensor, *, return_details: bool = False, record_membrane: bool = False, mask: Optional[Tensor] = None
    ) -> SNNOutput:
        """Run the network on ``x (B, T, *F)`` (features flattened to ``input_size``).

        ``return_details`` adds per-layer probes (and records membranes); ``record_membrane``
        records membranes without probes (for membrane regularisation); ``mask (B, T)`` marks the
        valid steps of a ragged batch (probes ignore the rest; the network runs on every step).
        """
        if x.dim() < 3:
            raise ValueError(f"SNNCore expects input (B, T, features...), got shape {tuple(x.shape)}")
        x = x.flatten(2)  # (B, T, F)
        if x.shape[-1] != self.cfg.input_size:
            raise ValueError(
                f"snn.input_size={self.cfg.input_size} but the input has {x.shape[-1]} features per step "
                f"(input shape {tuple(x.shape)})"
            )
        out = SNNOutput(output=x)
        out.output = self._forward_dense(x, out, 0, record_membrane, return_details, mask)
        return out


class ConvSNN(_SNNBase):
    """Convolutional SNN: ``(B, T, C, H, W) -> SNNOutput`` with ``output (B, T, output_size)``.

    Each block is ``Conv2d(k, padding=k//2) -> BatchNorm2d (norm=batch) -> neuron -> AvgPool(pool)``;
    conv and norm run on all ``B*T`` frames at once. Conv-block neurons are never recurrent
    (a dense C*H*W recurrence would be huge): ``recurrent_lif`` applies to the dense layers only.
    """

    def __init__(self, cfg: SNNConfig) -> None:
        super().__init__(cfg)
        if cfg.input_shape is None:
            raise ConfigError("snn.input_shape is None: set it to [C, H, W], or let the pipeline infer it from the data and encoder")
        c, h, w = cfg.input_shape
        self.blocks = nn.ModuleList()
        self.neurons = nn.ModuleList()
        k = cfg.kernel_size
        for c_out in cfg.conv_channels:
            norm = nn.BatchNorm2d(c_out) if cfg.norm is NormType.batch else nn.Identity()
            self.blocks.append(nn.Sequential(nn.Conv2d(c, c_out, k, padding=k // 2, bias=cfg.norm is NormType.none), norm))
            self.neurons.append(build_neuron(_hidden_neuron_cfg(cfg.neuron, recurrent_ok=False), (c_out, h, w)))
            if h < cfg.pool or w < cfg.pool:
                raise ConfigError(
                    f"snn.pool={cfg.pool} cannot pool a {h}x{w} feature map: reduce snn.pool or snn.conv_channels "
                    f"(input_shape={list(cfg.input_shape)})"
                )
            c, h, w = c_out, h // cfg.pool, w // cfg.pool
        self.pool = nn.AvgPool2d(cfg.pool) if cfg.pool > 1 else nn.Identity()
        self.flat_features = c * h * w
        self.linears = nn.ModuleList()
        self._n_conv = len(self.neurons)
        self._dense_stack(self.flat_features)
        self.dropout = nn.Dropout(cfg.dropout) if cfg.dropout > 0 else None

    @property
    def dense_neurons(self) -> List[nn.Module]:
        return list(self.neurons)[self._n_conv :]

    def forward(
        self, x: Tensor, *, return_details: bool = False, record_membrane: bool = False, mask: Optional[Tensor] = None
    ) -> SNNOutput:
        """Run the network on ``x (B, T, C, H, W)`` (``(C, H, W) == snn.input_shape``; ``mask`` as in SNNCore)."""
        expected = tuple(self.cfg.input_shape)
        if x.dim() != 5 or tuple(x.shape[2:]) != expected:
            raise ValueError(f"snn.input_shape={list(expected)} but ConvSNN got input {tuple(x.shape)}; expected (B, T, *input_shape)")
        out = SNNOutput(output=x)
        for i, (block, neuron) in enumerate(zip(self.blocks, self.neurons)):
            current = over_time(block, x)  # (B, T, C_i, H_i, W_i)
            spikes = self._run_neuron(f"layer{i}", neuron, current, out, record_membrane, return_details, mask)
            x = over_time(self.pool, spikes)  # (B, T, C_i, H_i/p, W_i/p)
        x = x.flatten(2)  # (B, T, C*H*W)
        out.output = self._forward_dense(x, out, self._n_conv, record_membrane, return_details, mask)
        return out


def with_io_sizes(cfg: SNNConfig, step_shape: Tuple[int, ...], num_outputs: int) -> SNNConfig:
    """Fill the network's input/output sizes from the data; reject user values that disagree.

    Args:
        cfg: the architecture; ``input_size`` / ``input_shape`` / ``output_size`` may be None.
        step_shape: per-time-step feature shape entering the network, e.g. ``(1, 28, 28)``.
        num_outputs: output neurons the decoder needs (classes, or classes * population_size).

    Raises:
        ConfigError: a size the user set does not match the data, naming the field and both values.
    """
    step_shape = tuple(int(d) for d in step_shape)
    n_in = math.prod(step_shape)
    if cfg.input_size is not None and cfg.architecture is Architecture.mlp and cfg.input_size != n_in:
        raise ConfigError(
            f"snn.input_size={cfg.input_size} does not match the data: the encoder yields {n_in} features per step "
            f"(shape {step_shape}); remove the override or set snn.input_size={n_in}"
        )
    if cfg.output_size is not None and cfg.output_size != num_outputs:
        raise ConfigError(
            f"snn.output_size={cfg.output_size} does not match the decoder, which needs {num_outputs} output neurons; "
            f"remove the override or set snn.output_size={num_outputs}"
        )
    input_shape = cfg.input_shape
    if cfg.architecture is Architecture.conv:
        if len(step_shape) != 3:
            raise ConfigError(f"snn.architecture=conv needs image-like steps (C, H, W), but the data/encoder yield {step_shape}")
        if input_shape is not None and tuple(input_shape) != step_shape:
            raise ConfigError(f"snn.input_shape={list(input_shape)} does not match the data/encoder step shape {list(step_shape)}")
        input_shape = list(step_shape)
    return dataclasses.replace(cfg, input_size=n_in, input_shape=input_shape, output_size=num_outputs)


_ARCHITECTURES = {Architecture.mlp: SNNCore, Architecture.conv: ConvSNN}


def build_snn(cfg: SNNConfig) -> _SNNBase:
    """Build the network named by ``cfg.architecture`` (``mlp`` -> SNNCore, ``conv`` -> ConvSNN)."""
    return _ARCHITECTURES[cfg.architecture](cfg)


def count_parameters(module: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in module.parameters() if p.requires_grad)


__all__ = ["SNNOutput", "SNNCore", "ConvSNN", "build_snn", "with_io_sizes", "over_time", "count_parameters"]
