"""SNN architectures built from :class:`~brain_ai.config.SNNConfig`.

Both architectures follow one pattern: stateless layers (Linear, Conv2d, BatchNorm, pooling,
dropout) run on all time steps of a segment at once over ``x.flatten(0, 1)`` -- one big matmul
instead of T small ones -- and only the neurons step through time, each through
``SpikingNeuronBase.forward_sequence`` (per-step cell or the fused kernel). The whole network runs
segment by segment through :func:`~brain_ai.core.unroll.run_segments` (one segment = all of T
unless ``chunk_size`` / ``checkpoint_every`` cut time), carrying every layer's state -- the same
state that ``forward(x, state=...)`` accepts to continue a stream.

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
from typing import Any, ClassVar, Dict, List, Optional, Sequence, Tuple

import torch
from torch import Tensor, nn

from brain_ai.config import (
    NON_SPIKING_ARCHITECTURES,
    PSN_TYPES,
    Architecture,
    Backend,
    ConfigError,
    EncodingConfig,
    NeuronConfig,
    NeuronType,
    NormType,
    Readout,
    SNNConfig,
    check_range,
)
from brain_ai.core.ann import RecurrentANN
from brain_ai.core.encoding import ENCODERS
from brain_ai.core.learning_rules import OnlineLearner, traced_current, traced_recurrence
from brain_ai.core.masking import valid_steps
from brain_ai.core.network_output import NetState, SNNOutput, dropout_masks, dropout_seeds, over_time
from brain_ai.core.neurons import LeakyIntegrator, ParallelSpikingNeuron, RecurrentLIFNeuron, SpikingState, build_neuron
from brain_ai.core.neurons.state import carry, check_finite, check_state
from brain_ai.core.probes import ProbeSummary, neuron_rates, probes_from_summary
from brain_ai.core.spike_input import as_compute, spike_linear
from brain_ai.core.summaries import LayerSummary, Summary, Undetached
from brain_ai.core.unroll import check_segmenting, run_segments

#: The non-recurrent neuron a recurrent type builds where a dense recurrence makes no sense
#: (conv blocks, the spiking readout).
_NON_RECURRENT = {NeuronType.recurrent_lif: NeuronType.lif, NeuronType.recurrent_adaptive_lif: NeuronType.adaptive_lif}


def _hidden_neuron_cfg(cfg: NeuronConfig, recurrent_ok: bool) -> NeuronConfig:
    """Neuron config for a layer: recurrent neurons only where a dense recurrence makes sense
    (adaptive_lif keeps a fixed adaptation_decay: learnable_adaptation is the recurrent type's;
    backend=compiled is the recurrent layers' loop, the others run their fused one)."""
    if cfg.type in _NON_RECURRENT and not recurrent_ok:
        backend = Backend.fused if cfg.backend is Backend.compiled else cfg.backend
        return dataclasses.replace(cfg, type=_NON_RECURRENT[cfg.type], learnable_adaptation=False, backend=backend)
    return cfg


@dataclass
class _Segment:
    """Bookkeeping of one time segment of a network forward (a fresh one per segment run):
    ``carries`` summary key -> layer -> what a summary passes to the next segment."""

    states: NetState
    record_membrane: bool
    keep_membranes: bool
    keep_spikes: bool
    summaries: Sequence[LayerSummary] = ()
    carries: Dict[str, Dict[str, Any]] = field(default_factory=dict)
    mask: Optional[Tensor] = None
    spikes: Dict[str, Tensor] = field(default_factory=dict)
    membranes: Dict[str, Tensor] = field(default_factory=dict)
    stats: Dict[str, Dict[str, Summary]] = field(default_factory=dict)
    #: the online learner of ``snn.learning_rule = ottt | sltt`` (None: bptt)
    online: Optional[OnlineLearner] = None

    @property
    def record(self) -> str:
        """What the layers record (``record=`` of their sequence run)."""
        return "membrane" if self.record_membrane else "none"

    def summarize(self, name: str, spikes: Tensor, membrane: Optional[Tensor], spiking: bool) -> None:
        """Add every summary of layer ``name``'s segment (spike summaries: spiking layers only)."""
        for summary in self.summaries:
            if summary.needs_spikes and not spiking:
                continue
            carried = self.carries.setdefault(summary.key, {})
            self.stats.setdefault(summary.key, {})[name], carried[name] = summary.segment(
                spikes if summary.needs_spikes else None,
                membrane if summary.needs_membrane else None,
                self.mask,
                carried.get(name),
            )


class _SNNBase(nn.Module):
    """Shared machinery: run the whole network segment by segment through
    :func:`~brain_ai.core.unroll.run_segments` (truncation ``cfg.chunk_size``, exact checkpointing
    ``cfg.checkpoint_every``), carrying every layer's state, and collect spikes/membranes/probes.

    Subclasses implement ``_check_input(x) -> x`` and ``_layers(x, masks, seg) -> output``, the
    network over one segment ``(B, t, ...)``. ``spiking = True``: ``forward`` takes the spike
    recording arguments ``record_membrane``, ``keep_spikes`` and ``mask``.
    """

    spiking: ClassVar[bool] = True

    def __init__(self, cfg: SNNConfig) -> None:
        super().__init__()
        if cfg.output_size is None:
            raise ConfigError("snn.output_size is None: set it, or let the pipeline infer it from the data and decoder")
        self.cfg = cfg

    def forward(
        self,
        x: Tensor,
        state: Optional[NetState] = None,
        *,
        return_details: bool = False,
        record_membrane: bool = False,
        keep_spikes: bool = True,
        mask: Optional[Tensor] = None,
        generator: Optional[torch.Generator] = None,
        carry_state: Optional[bool] = None,
        summaries: Sequence[LayerSummary] = (),
        probes: bool = False,
        online: Optional[OnlineLearner] = None,
    ) -> SNNOutput:
        """Run the network on ``x (B, T, ...)``, starting from ``state`` (None = zeros).

        Args:
            x: the input sequence (see the subclass for its shape).
            state: ``final_states`` of a previous call (layer name -> :class:`SpikingState`):
                the run continues that sequence, so ``x[:, :k]`` then ``x[:, k:]`` with the
                carried state equals ``x`` in one call. A state whose layer names, batch size or
                shapes do not match raises ``ValueError`` naming the layer and both shapes.
            return_details: add per-layer probes, record membranes and keep the input (``inputs``).
            probes: add per-layer probes and neuron rates only, from running sums accumulated
                segment by segment (:class:`~brain_ai.core.probes.ProbeSummary`): no layer's
                whole spike train is kept.
            record_membrane: record membranes without probes (membrane regularisation).
            keep_spikes: return the hidden layers' spikes in ``layer_spikes``; False saves their
                ``(B, T, N)`` memory under checkpointing (where they are not kept for backward).
            mask: ``(B, T)`` bool, the valid steps of a ragged batch; the probes count only those
                (the network runs on every step).
            generator: draws the dropout masks (training mode with ``cfg.dropout > 0``; on
                ``x``'s device); None = the global RNG.
            carry_state: what ``final_states`` holds (:func:`~brain_ai.core.neurons.state.carry`):
                None the final states attached to the autograd graph; True detached, to feed
                back as ``state=`` (streaming inference, truncated BPTT across calls); False
                nothing (``final_states == {}``), so no reference to them outlives the call.
            summaries: :class:`~brain_ai.core.summaries.LayerSummary` objects to accumulate over
                every layer, segment by segment (``SNNOutput.summaries``): what the loss terms
                read instead of whole layer tensors.
            online: an :class:`~brain_ai.core.learning_rules.OnlineLearner` (``snn.learning_rule``
                ottt / sltt): the network runs one step at a time, the learner takes each step's
                loss and gradients; ``output`` comes back empty, ``(B, 0, C)`` (its mean over time:
                ``online.mean_output()``), and so do ``layer_spikes`` / ``layer_membranes``.

        ``cfg.checkpoint_every`` cuts time while autograd records (training), and at inference
        when nothing whole is kept (only summaries / probes: segments of at most
        ``checkpoint_every`` steps, bounded memory); otherwise inference runs one pass per call.
        """
        x = self._check_input(x)
        check_finite(type(self).__name__, x)
        states = self._check_state(state, x.shape[0])
        keep_membranes = record_membrane or return_details
        if online is not None and (return_details or probes or summaries):
            raise ValueError(
                "snn forward: return_details, probes and summaries are not available with online learning "
                "(they read the whole sequence; the online learner reads each step)"
            )
        keep = keep_spikes or return_details
        summaries = [*summaries, ProbeSummary()] if probes or return_details else list(summaries)
        checkpoint_every = self.cfg.checkpoint_every if online is None else None  # online: one step at a time
        if checkpoint_every is not None and not torch.is_grad_enabled():
            checkpoint_every = None if keep or keep_membranes else min(checkpoint_every, x.shape[1])
        check_segmenting("snn", x.shape[1], self.cfg.chunk_size, checkpoint_every)
        record = keep_membranes or any(s.needs_membrane for s in summaries)

        def segment(inputs: Dict[str, Any], seg_state: Tuple[NetState, Undetached]) -> Tuple[Dict[str, Any], Any]:
            # never mutate the arguments (the segment reruns in backward)
            carries = {key: dict(layers) for key, layers in seg_state[1].value.items()}
            seg = _Segment(
                dict(seg_state[0]), record, keep_membranes, keep, summaries, carries, inputs.get("mask"), online=online
            )
            output = self._layers(inputs["x"], self._dropout_masks(inputs), seg)
            outputs = {"output": output, "spikes": seg.spikes, "membranes": seg.membranes, "summaries": seg.stats}
            return outputs, (seg.states, Undetached(seg.carries))

        inputs = {"x": x, **({} if mask is None else {"mask": mask})}
        seeds = dropout_seeds(x, self.cfg.dropout, generator) if self.training else None
        if seeds is not None:  # (1, T): a segment draws its steps' masks from their seeds
            inputs["dropout_seeds"] = seeds
        chunk_size = self.cfg.chunk_size if online is None else None
        outputs, (final, _) = run_segments(
            segment,
            inputs,
            (states, Undetached({})),
            chunk_size=chunk_size,
            checkpoint_every=checkpoint_every,
            online=online,
        )
        owner = f"{type(self).__name__}.forward"
        final = {name: carry(owner, s, carry_state) for name, s in final.items()} if carry_state is not False else {}
        out = SNNOutput(
            output=outputs["output"],
            layer_spikes=outputs["spikes"],
            layer_membranes=outputs["membranes"],
            summaries=outputs["summaries"],
            final_states=final,
        )
        if return_details:
            out.inputs = as_compute(x, self.compute_dtype)
        if ProbeSummary.key in out.summaries:
            entries = valid_steps(mask, x).sum()  # valid (b, t) pairs
            layers = out.summaries.pop(ProbeSummary.key)
            out.probes = {name: probes_from_summary(summary, entries) for name, summary in layers.items()}
            out.neuron_rates = {name: neuron_rates(summary, entries) for name, summary in layers.items()}
        return out

    def reset_state(
        self, batch_size: int, device: Optional[torch.device] = None, dtype: torch.dtype = torch.float32
    ) -> Dict[str, SpikingState]:
        """All-zero state of every layer for ``batch_size`` samples (the same as ``state=None``)."""
        return {name: n.reset_state(batch_size, device, dtype) for name, n in zip(self.layer_names, self.neurons)}

    def _check_state(self, state: Optional[NetState], batch_size: int) -> NetState:
        """``state`` checked against the layers (names, every field's shape) or all-None."""
        if state is None:
            return {name: None for name in self.layer_names}
        owner = type(self).__name__
        if not isinstance(state, dict) or list(state) != self.layer_names:
            got = list(state) if isinstance(state, dict) else type(state).__name__
            raise ValueError(
                f"{owner}: state must be a dict with the layers {self.layer_names} (final_states of a previous call), got {got}"
            )
        for name, neuron in zip(self.layer_names, self.neurons):
            if state[name] is not None:
                check_state(f"{owner} layer {name!r}", state[name], neuron.state_shapes(batch_size))
        return dict(state)

    @property
    def compute_dtype(self) -> torch.dtype:
        """The parameters' dtype: compact (uint8 / bool) input spikes are converted to it."""
        return next(self.parameters()).dtype

    def _dropout_masks(self, inputs: Dict[str, Tensor]) -> List[Tensor]:
        """The hidden layers' dropout masks ``(B, t, N_j)`` of a segment's ``inputs`` (:func:`dropout_masks`
        from its ``dropout_seeds``); empty without them (eval mode, ``dropout = 0``)."""
        seeds = inputs.get("dropout_seeds")
        if seeds is None:
            return []
        x = inputs["x"]
        return dropout_masks(seeds, x.shape[0], self.cfg.hidden_sizes, self.cfg.dropout, x.device, self.compute_dtype)

    def _run_neuron(self, name: str, neuron: nn.Module, current: Tensor, seg: _Segment) -> Tensor:
        """Step ``neuron`` over ``current (B, t, ...)`` from ``seg.states[name]``; record into ``seg``."""
        # each layer runs the backend it decided when built or moved (neuron.backend); online learning
        # steps with the state detached at every step (the spatial path only).
        # The network checked its input for NaN/Inf once (forward): no scan per layer and segment
        online = seg.online is not None
        recurrent_trace = online and seg.online.traces and isinstance(neuron, RecurrentLIFNeuron)
        if recurrent_trace:
            state = seg.states[name]
            first = (
                current.new_zeros(current.shape[0], 1, *current.shape[2:])
                if state is None
                else state.prev_spk[:, None].detach()
            )
            current, pending = traced_recurrence(current, neuron.w_rec)
        result = neuron._run_sequence(
            current, seg.states[name], None, None, seg.record, None, check_values=False, spatial=online
        )
        if recurrent_trace:  # ottt: W_rec reads the trace of the previous spikes s_{t-1}
            previous = torch.cat([first.to(result[0].dtype), result[0][:, :-1].detach()], dim=1)  # (B, t, N)
            pending["gap"] = seg.online.trace(f"{name}.w_rec", previous, neuron.beta) - previous
        return self._recorded(name, neuron, result, seg)

    def _recorded(
        self, name: str, neuron: nn.Module, result: Tuple[Tensor, SpikingState, Dict[str, Tensor]], seg: _Segment
    ) -> Tensor:
        """Keep a layer's ``(spikes, final_state, traces)`` in ``seg`` (state, spikes, membrane, summaries); the spikes."""
        spikes, seg.states[name], traces = result
        membrane = traces.get("membrane")
        if seg.keep_membranes:
            seg.membranes[name] = membrane
        spiking = neuron.spiking  # the membrane readout is not a spiking layer
        if seg.keep_spikes and spiking:
            seg.spikes[name] = spikes
        seg.summarize(name, spikes, membrane, spiking)
        return spikes

    def _readout(self, size: int) -> nn.Module:
        if self.cfg.readout is Readout.membrane:
            neuron = self.cfg.neuron
            own_tau = self.cfg.readout_tau is not None
            return LeakyIntegrator(
                size,
                NeuronConfig(
                    beta=None if own_tau else neuron.beta,
                    tau=self.cfg.readout_tau if own_tau else neuron.tau,
                    dt=neuron.dt,
                    learnable_beta=neuron.learnable_beta,
                    per_neuron_beta=neuron.per_neuron_beta,
                ),
            )
        return build_neuron(_hidden_neuron_cfg(self.cfg.neuron, recurrent_ok=False), size)

    @property
    def layer_names(self) -> List[str]:
        """Names of the neuron layers in order (``layer0`` ... readout)."""
        return [f"layer{i}" for i in range(len(self.neurons))]

    def backend_summary(self) -> str:
        """``"layer0=fused, layer1=fused, layer2=eager"``: the implementation each neuron layer decided
        when it was built or last moved (``snn.neuron.backend``; the membrane readout's is its own ``auto``: fused)."""
        layers = zip(self.layer_names, self.neurons)
        return ", ".join(f"{name}={neuron.backend_description()}" for name, neuron in layers)

    def _dense_stack(self, in_features: int) -> None:
        """Build ``hidden_sizes`` Linear->neuron layers and the Linear->readout (appends to self)."""
        sizes = [in_features, *self.cfg.hidden_sizes]
        for n_in, n_out in zip(sizes[:-1], sizes[1:]):
            self.linears.append(nn.Linear(n_in, n_out))
            self.neurons.append(build_neuron(_hidden_neuron_cfg(self.cfg.neuron, recurrent_ok=True), n_out))
        self.linears.append(nn.Linear(sizes[-1], self.cfg.output_size))
        self.neurons.append(self._readout(self.cfg.output_size))

    def _current(self, name: str, layer: nn.Module, neuron: nn.Module, x: Tensor, seg: _Segment) -> Tensor:
        """Input current ``(B, t, ...)`` of neuron layer ``name``: the affine ``layer`` over time on ``x``.
        Under ottt its parameter gradients read the presynaptic trace (:mod:`brain_ai.core.learning_rules`)."""
        if seg.online is not None and seg.online.traces:
            x = as_compute(x, self.compute_dtype)
            trace = seg.online.trace(name, x, neuron.beta)  # (B, t, ...)
            current = traced_current(layer, x.flatten(0, 1), trace.flatten(0, 1))  # batch-major rows, both
            return current.reshape(*x.shape[:2], *current.shape[1:])
        # compact (uint8 / bool) spikes reach only the first layer; kept compact for its backward
        if not x.is_floating_point():
            return spike_linear(layer, x)
        # a time-major layer's current is made time-major here when its steps are wider than the
        # input's (S-MNIST: 256 from 1 pixel): the narrower tensor is the one copied
        wider = isinstance(layer, nn.Linear) and layer.out_features >= x.shape[2:].numel()
        return over_time(layer, x, time_major=neuron.time_major and wider)

    @staticmethod
    def _mixes_before_synapses(name: str, layer: nn.Module, neuron: nn.Module, x: Tensor, seg: _Segment) -> bool:
        """Whether a parallel spiking neuron layer maps time on its Linear's input rather than on the
        current (:meth:`ParallelSpikingNeuron.run_after_linear`): a float input narrower than the
        layer, at the start of the sequence (the zero state), outside online learning."""
        return (
            isinstance(neuron, ParallelSpikingNeuron)
            and isinstance(layer, nn.Linear)
            and layer.in_features < layer.out_features
            and x.is_floating_point()
            and seg.states[name] is None
            and seg.online is None
        )

    def _forward_dense(self, x: Tensor, masks: List[Tensor], seg: _Segment, first: int) -> Tensor:
        """Run the dense stack on ``x (B, t, F)``; layer names start at ``layer{first}``."""
        for j, (linear, neuron) in enumerate(zip(self.linears, self.dense_neurons)):
            name = f"layer{first + j}"
            if self._mixes_before_synapses(name, linear, neuron, x, seg):
                x = self._recorded(name, neuron, neuron.run_after_linear(x, linear, seg.record), seg)
            else:
                x = self._run_neuron(name, neuron, self._current(name, linear, neuron, x, seg), seg)  # (B, t, N_j)
            if j < len(masks):
                x = x * masks[j]  # dropout on the spikes of hidden layer j
        return x


class SNNCore(_SNNBase):
    """Multi-layer perceptron SNN: ``(B, T, *F) -> SNNOutput`` with ``output (B, T, output_size)``.

    Every hidden layer is ``Linear -> neuron`` (``cfg.neuron``: any variant; ``recurrent_lif`` and
    ``recurrent_adaptive_lif`` add a recurrent weight inside the neuron), optionally followed by
    dropout on the spikes.
    ``forward(x (B, T, *F), state=None)``: features are flattened to ``input_size``.
    """

    def __init__(self, cfg: SNNConfig) -> None:
        super().__init__(cfg)
        if cfg.input_size is None:
            raise ConfigError("snn.input_size is None: set it, or let the pipeline infer it from the data and encoder")
        self.linears = nn.ModuleList()
        self.neurons = nn.ModuleList()
        self._dense_stack(cfg.input_size)

    @property
    def dense_neurons(self) -> nn.ModuleList:
        return self.neurons

    def _check_input(self, x: Tensor) -> Tensor:
        if x.dim() < 3:
            raise ValueError(f"SNNCore expects input (B, T, features...), got shape {tuple(x.shape)}")
        x = x.flatten(2)  # (B, T, F)
        if x.shape[-1] != self.cfg.input_size:
            raise ValueError(
                f"snn.input_size={self.cfg.input_size} but the input has {x.shape[-1]} features per step "
                f"(input shape {tuple(x.shape)})"
            )
        return x

    def _layers(self, x: Tensor, masks: List[Tensor], seg: _Segment) -> Tensor:
        return self._forward_dense(x, masks, seg, 0)


class ConvSNN(_SNNBase):
    """Convolutional SNN: ``(B, T, C, H, W) -> SNNOutput`` with ``output (B, T, output_size)``.

    Each block is ``Conv2d(k, padding=k//2) -> BatchNorm2d (norm=batch) -> neuron -> AvgPool(pool)``;
    conv and norm run on all ``B*T`` frames of a call (or time segment) at once. Conv-block
    neurons are never recurrent (a dense C*H*W recurrence would be huge): ``recurrent_lif`` /
    ``recurrent_adaptive_lif`` apply to the dense layers only (conv blocks get lif / adaptive_lif). ``forward(x (B, T, C, H, W), state=None)``.
    """

    def __init__(self, cfg: SNNConfig) -> None:
        super().__init__(cfg)
        if cfg.input_shape is None:
            raise ConfigError(
                "snn.input_shape is None: set it to [C, H, W], or let the pipeline infer it from the data and encoder"
            )
        c, h, w = cfg.input_shape
        self.blocks = nn.ModuleList()
        self.neurons = nn.ModuleList()
        k = cfg.kernel_size
        for c_out in cfg.conv_channels:
            norm = nn.BatchNorm2d(c_out) if cfg.norm is NormType.batch else nn.Identity()
            self.blocks.append(
                nn.Sequential(nn.Conv2d(c, c_out, k, padding=k // 2, bias=cfg.norm is NormType.none), norm)
            )
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

    @property
    def dense_neurons(self) -> List[nn.Module]:
        return list(self.neurons)[self._n_conv :]

    def _check_input(self, x: Tensor) -> Tensor:
        expected = tuple(self.cfg.input_shape)
        if x.dim() != 5 or tuple(x.shape[2:]) != expected:
            raise ValueError(
                f"snn.input_shape={list(expected)} but ConvSNN got input {tuple(x.shape)}; expected (B, T, *input_shape)"
            )
        return x

    def _layers(self, x: Tensor, masks: List[Tensor], seg: _Segment) -> Tensor:
        x = as_compute(x, self.compute_dtype)  # the conv keeps its float input for backward anyway
        for i, (block, neuron) in enumerate(zip(self.blocks, self.neurons)):
            current = self._current(f"layer{i}", block, neuron, x, seg)  # (B, t, C_i, H_i, W_i)
            spikes = self._run_neuron(f"layer{i}", neuron, current, seg)
            x = over_time(self.pool, spikes)  # (B, t, C_i, H_i/p, W_i/p)
        x = x.flatten(2)  # (B, t, C*H*W)
        return self._forward_dense(x, masks, seg, self._n_conv)


def run_streaming(
    net: _SNNBase, x: Tensor, window: int, state: Optional[NetState] = None, **forward_kwargs: Any
) -> SNNOutput:
    """Run ``net`` over ``x (B, T, ...)`` in windows of ``window`` steps, carrying the state from
    window to window: the same result as ``net(x, state)`` in one call, with the activations of
    one window alive at a time (for inference on long recordings: under ``torch.no_grad()``).

    ``forward_kwargs`` go to every call (``record_membrane``, ``keep_spikes``); the outputs,
    spikes and membranes of the windows are joined along time; probes are not available.
    """
    check_range("run_streaming", "window", window, low=1, integer=True)
    if forward_kwargs.get("return_details"):
        raise ValueError("run_streaming: return_details=True is not available (probes need the whole sequence at once)")
    parts: List[SNNOutput] = []
    for chunk in x.split(window, dim=1):  # (B, <=window, ...)
        parts.append(net(chunk, state, **forward_kwargs))
        state = parts[-1].final_states
    if len(parts) == 1:
        return parts[0]
    join = lambda get: {k: torch.cat([get(p)[k] for p in parts], dim=1) for k in get(parts[0])}  # noqa: E731
    return SNNOutput(
        output=torch.cat([p.output for p in parts], dim=1),
        layer_spikes=join(lambda p: p.layer_spikes),
        layer_membranes=join(lambda p: p.layer_membranes),
        final_states=parts[-1].final_states,
    )


def with_io_sizes(cfg: SNNConfig, step_shape: Tuple[int, ...], output_size: int) -> SNNConfig:
    """Fill the network's input/output sizes from the data; reject user values that disagree.

    Args:
        cfg: the architecture; ``input_size`` / ``input_shape`` / ``output_size`` may be None.
        step_shape: per-time-step feature shape entering the network, e.g. ``(1, 28, 28)``.
        output_size: output neurons the decoder needs (``Decoder.output_size``: classes or
            regressed values, times population_size for the population decoder).

    Raises:
        ConfigError: a size the user set does not match the data, naming the field and both values.
    """
    step_shape = tuple(int(d) for d in step_shape)
    n_in = math.prod(step_shape)
    if cfg.input_size is not None and cfg.architecture is not Architecture.conv and cfg.input_size != n_in:
        raise ConfigError(
            f"snn.input_size={cfg.input_size} does not match the data: the encoder yields {n_in} features per step "
            f"(shape {step_shape}); remove the override or set snn.input_size={n_in}"
        )
    if cfg.output_size is not None and cfg.output_size != output_size:
        raise ConfigError(
            f"snn.output_size={cfg.output_size} does not match the decoder, which needs {output_size} output neurons; "
            f"remove the override or set snn.output_size={output_size}"
        )
    input_shape = cfg.input_shape
    if cfg.architecture is Architecture.conv:
        if len(step_shape) != 3:
            raise ConfigError(
                f"snn.architecture=conv needs image-like steps (C, H, W), but the data/encoder yield {step_shape}"
            )
        if input_shape is not None and tuple(input_shape) != step_shape:
            raise ConfigError(
                f"snn.input_shape={list(input_shape)} does not match the data/encoder step shape {list(step_shape)}"
            )
        input_shape = list(step_shape)
    return dataclasses.replace(cfg, input_size=n_in, input_shape=input_shape, output_size=output_size)


#: neuron backends that run a synaptic current (the fused / Triton / compiled kernels have none)
SYNAPTIC_BACKENDS = frozenset({Backend.auto, Backend.eager})


def with_synaptic_default(cfg: SNNConfig, encoding: EncodingConfig) -> SNNConfig:
    """Resolve ``neuron.synaptic=None`` (the default) for the network's input, coded by ``encoding``;
    an explicit true / false is kept.

    A time code (``Encoder.time_coded``: encoding=latency / ttfs) delivers each input once, at the
    step its value sets; without a synaptic current that kick leaks away within a few steps, the
    layers fall silent and a rate decoder has few spikes to count (the measurements:
    docs/codecs-losses.md#time-codes). So the current ``i <- synaptic_beta * i + x`` is on for a
    time code, and off for every other encoder, for the neuron types without one (the PSN family),
    for a kernel backend that has none (``backend`` fused / triton / compiled, chosen explicitly)
    and for the non-spiking networks (lstm, gru).
    """
    neuron = cfg.neuron
    if neuron.synaptic is not None:
        return cfg
    synaptic = (
        ENCODERS[encoding.type].time_coded
        and cfg.architecture not in NON_SPIKING_ARCHITECTURES
        and neuron.type not in PSN_TYPES
        and neuron.backend in SYNAPTIC_BACKENDS
    )
    return dataclasses.replace(cfg, neuron=dataclasses.replace(neuron, synaptic=synaptic))


_ARCHITECTURES = {Architecture.mlp: SNNCore, Architecture.conv: ConvSNN}


def build_snn(cfg: SNNConfig) -> nn.Module:
    """Build the network named by ``cfg.architecture`` (``mlp`` -> SNNCore, ``conv`` -> ConvSNN,
    ``lstm`` / ``gru`` -> the non-spiking :class:`~brain_ai.core.ann.RecurrentANN`)."""
    if cfg.architecture in NON_SPIKING_ARCHITECTURES:
        return RecurrentANN(cfg)
    return _ARCHITECTURES[cfg.architecture](cfg)


__all__ = [
    "SNNOutput",
    "NetState",
    "dropout_masks",
    "dropout_seeds",
    "run_streaming",
    "SNNCore",
    "ConvSNN",
    "build_snn",
    "with_io_sizes",
    "with_synaptic_default",
    "over_time",
]
