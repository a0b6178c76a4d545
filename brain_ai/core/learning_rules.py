r"""Online learning rules: ``ottt`` and ``sltt`` (``snn.learning_rule``), memory constant in T.

Both run the network through :func:`brain_ai.core.unroll.run_segments` (its ``online`` mode) in
windows of ``snn.online_window`` steps: at every step ``t`` the network's output gives a loss
``L_t`` (the *per-step form* of the decoder and of every loss term, :class:`StepObjective`), and
the state carried to step ``t + 1`` (membrane, synaptic current, adaptation, previous spikes) is
detached, so no gradient flows through time. The losses of a window's steps are backpropagated
together at its end (one autograd call, the synapses' matmuls over the whole window) and the
gradients accumulated; no graph outlives its window. Since no gradient crosses a step, the
gradient does not depend on the window (up to rounding): it trades memory (the window's
activations) for speed (fewer, larger operations).

* ``sltt`` (spatial learning through time, Meng et al., ICCV 2023): the gradient of ``L_t``
  flows through step ``t``'s spatial path only (layer to layer, through the surrogate), none
  through the membrane into earlier steps. ``sltt_steps = K`` backpropagates only at ``K`` steps
  drawn at random per batch (from the batch's generator); the other steps run without a graph.
* ``ottt`` (online training through time, Xiao et al., NeurIPS 2022): as sltt, but the weight
  gradient of every layer that feeds a neuron layer (Linear, Conv) uses the presynaptic trace
  ``a_t = lambda a_{t-1} + x_t`` (``x_t`` the layer's input, ``lambda`` the membrane decay
  ``beta`` of the neurons it feeds, its mean when per neuron) in place of ``x_t``:
  ``dL_t/dW = dL_t/dI_t a_t^T``, which carries the leaky membrane's memory of earlier inputs.
  A recurrent layer's ``W_rec`` reads the trace of its own previous spikes the same way,
  ``r_t = lambda r_{t-1} + s_{t-1}`` (:func:`traced_recurrence`).

The per-step objective is ``sum_t sum_i w_i l_{i,t}`` with, for the terms that have a per-step form:
``probspikes`` / ``cross_entropy`` / ``rate_reg`` / ``membrane``: the term on step ``t`` alone,
divided by T; ``temporal``: the window ending at ``t``, earlier steps as constants, divided by the
number of windows; ``isi``: ``s_t sum_d k_d s_{t-d}`` with earlier steps as constants. At T = 1
it is the full loss, so both rules give BPTT's gradient exactly. Decoders with a per-step form:
rate, population (classification), membrane with ``membrane_reduce=mean``.

Lightning calls ``backward`` on what ``training_step`` returns: :meth:`OnlineLearner.carrier` is
a scalar whose value is the objective and whose gradient is the accumulated one.
"""

from __future__ import annotations

from typing import Any, Dict, List, Optional, Sequence, Tuple

import torch
from torch import Tensor, nn

from brain_ai.config import (
    ConfigError,
    DecoderType,
    DecodingConfig,
    LearningRule,
    LossConfig,
    MembraneReduce,
    PopulationMode,
    SNNConfig,
    TaskLoss,
    check_range,
)
from brain_ai.core.decoding import Decoder
from brain_ai.core.fused_integrator import leaky_integrate
from brain_ai.core.losses import (
    CrossEntropyLoss,
    ISIRegularization,
    LossInputs,
    RateRegularization,
    SNNLossComposer,
    TemporalConsistency,
)

#: task losses with a per-step form (the loss of one step's decoded output)
STEP_TASK_LOSSES = (TaskLoss.probspikes, TaskLoss.cross_entropy)


def step_form_problem(snn: SNNConfig, dec: DecodingConfig, loss: LossConfig) -> Optional[str]:
    """Why ``snn.learning_rule`` cannot train with this decoder and loss (None: it can).

    An online rule needs the per-step form of the decoder and of every loss term with weight > 0
    (module docstring); a decoder that reads the whole sequence (first spike, max / final
    membrane, a population estimate, an ensemble) or a first-spike / mse loss has none."""
    rule = f"snn.learning_rule={snn.learning_rule.name}"
    reads_steps = (
        dec.type is DecoderType.rate
        or (dec.type is DecoderType.population and dec.population_mode is PopulationMode.classification)
        or (dec.type is DecoderType.membrane and dec.membrane_reduce is MembraneReduce.mean)
    )
    if not reads_steps:
        what = f"decoding={dec.type.name}"
        if dec.type is DecoderType.membrane:
            what += f" with decoding.membrane_reduce={dec.membrane_reduce.name}"
        elif dec.type is DecoderType.population:
            what += f" with decoding.population_mode={dec.population_mode.name}"
        return (
            f"{rule} needs a loss at every step, but {what} has no per-step form (it reads the whole sequence); "
            f"allowed: decoding=rate, decoding=population (classification), decoding=membrane with "
            f"decoding.membrane_reduce=mean, or snn.learning_rule=bptt"
        )
    if loss.task_loss not in STEP_TASK_LOSSES:
        allowed = ", ".join(t.name for t in STEP_TASK_LOSSES)
        return (
            f"{rule} needs a loss at every step, but loss.task_loss={loss.task_loss.name} has no per-step form; "
            f"allowed: {allowed}, or snn.learning_rule=bptt"
        )
    return None


def check_step_forms(snn: SNNConfig, dec: DecodingConfig, loss: LossConfig, time_steps: int) -> None:
    """Raise :class:`ConfigError` before training unless the online rule can serve this config:
    decoder and loss have per-step forms, ``snn.sltt_steps`` is at most ``time_steps`` (T)."""
    if snn.learning_rule is LearningRule.bptt:
        return
    problem = step_form_problem(snn, dec, loss)
    if problem:
        raise ConfigError(problem)
    check_sltt_steps(snn.sltt_steps, time_steps)


def check_sltt_steps(sltt_steps: Optional[int], time_steps: int) -> None:
    """Raise unless ``sltt_steps`` is None or at most the sequence length ``time_steps``."""
    if sltt_steps is not None and sltt_steps > time_steps:
        raise ConfigError(
            f"snn.sltt_steps={sltt_steps} is more than the sequence has (T={time_steps} steps); "
            f"allowed: 1 <= snn.sltt_steps <= {time_steps}, or null (every step)"
        )


class _TracedLinear(torch.autograd.Function):
    """``y = x W^T + b`` whose weight gradient uses the trace: ``dW = g^T a`` (one matmul forward)."""

    @staticmethod
    def forward(ctx, x: Tensor, trace: Tensor, weight: Tensor, bias: Optional[Tensor]) -> Tensor:  # noqa: ANN001
        ctx.save_for_backward(trace, weight)
        ctx.has_bias = bias is not None
        return nn.functional.linear(x, weight, bias)

    @staticmethod
    def backward(ctx, grad: Tensor) -> Tuple[Optional[Tensor], None, Tensor, Optional[Tensor]]:  # noqa: ANN001
        trace, weight = ctx.saved_tensors
        flat_g, flat_a = grad.reshape(-1, grad.shape[-1]), trace.reshape(-1, trace.shape[-1])
        grad_bias = flat_g.sum(0).to(weight.dtype) if ctx.has_bias else None
        grad_x = grad @ weight.to(grad.dtype) if ctx.needs_input_grad[0] else None  # none for the data entering layer 0
        # under autocast grad may be half precision: the weight gradient is in the weight's dtype
        grad_weight = (flat_g.t() @ flat_a.to(flat_g.dtype)).to(weight.dtype)
        return grad_x, None, grad_weight, grad_bias


def traced_current(layer: nn.Module, x: Tensor, trace: Tensor) -> Tensor:
    """``layer(x)`` for an affine ``layer`` (Linear, or a Conv without batch norm) on ``x (M, ...)``
    whose parameter gradients are those of ``layer(trace)``; the input gradient is ``layer``'s own."""
    if isinstance(layer, nn.Linear):
        return _TracedLinear.apply(x, trace, layer.weight, layer.bias)
    with torch.no_grad():  # affine: layer(x) - layer(trace) carries no parameter gradient
        delta = layer(x) - layer(trace)
    return layer(x - (x - trace).detach()) + delta  # the input holds trace's value, its gradient goes to x


class _RecurrentTraceTap(torch.autograd.Function):
    """Identity on a recurrent layer's input current ``x (B, K, N)`` whose backward adds
    ``sum_t g_t^T gap_t`` to ``W_rec``'s gradient, ``g`` the current's gradient and ``gap``
    (``pending["gap"]``, ``(B, K, N)``) filled in after the layer's forward, before any backward."""

    @staticmethod
    def forward(ctx, x: Tensor, w_rec: Tensor, pending: Dict[str, Tensor]) -> Tensor:  # noqa: ANN001
        ctx.pending, ctx.w_dtype = pending, w_rec.dtype
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad: Tensor) -> Tuple[Tensor, Tensor, None]:  # noqa: ANN001
        flat_g, flat_gap = grad.flatten(0, -2), ctx.pending["gap"].flatten(0, -2)
        # as _TracedLinear: the product in the gradient's dtype, the result in the weight's
        grad_w = (flat_g.t() @ flat_gap.to(flat_g.dtype)).to(ctx.w_dtype)  # (N_out, N_in)
        return grad, grad_w, None


def traced_recurrence(current: Tensor, w_rec: Tensor) -> Tuple[Tensor, Dict[str, Tensor]]:
    """ottt's recurrent weight gradient: ``current (B, K, N)`` (the input current of a layer with
    ``I_t = current_t + W_rec s_{t-1}``) passed through unchanged, and the dict whose ``"gap"``
    ``(B, K, N)`` the caller sets after the layer's forward to ``r_t - s_{t-1}`` (``r`` the trace of the
    previous spikes, :meth:`OnlineLearner.trace`).

    Under the spatial path the gradient of ``I_t`` is that of ``current_t``, so the layer's own
    ``dW_rec = sum_t g_t^T s_{t-1}`` plus the ``sum_t g_t^T (r_t - s_{t-1})`` added here is
    ``sum_t g_t^T r_t``: the presynaptic trace of the feed-forward weights, for the recurrent ones."""
    pending: Dict[str, Tensor] = {}
    return _RecurrentTraceTap.apply(current, w_rec, pending), pending


class StepObjective:
    """The per-step form of a decoder and loss (module docstring), over a segment of steps at a time.

    ``objective(outputs, learned)`` takes steps ``[start, stop)`` of the network, ``{"output": (B, K, C),
    "spikes": {layer: (B, K, ...)}, "membranes": {layer: (B, K, ...)}}``, and returns two dicts,
    term name -> unweighted 0-d value: the sum of the term's per-step values over the steps marked
    in ``learned (K,)`` bool (None: every step), and that over the other steps (detached). Segments
    must come in order: the terms that look back (temporal, isi) keep the last steps they need,
    detached, so memory is bounded by their window, not by T.

    Terms whose value on a batch is the mean of its samples' (``LossTerm.sample_mean``: probspikes,
    cross_entropy, membrane) take all of a segment's steps at once, folded into the batch; rate_reg,
    temporal and isi have their own per-step forms, vectorised over the segment; any other term is
    refused (``check_step_forms`` names the allowed ones before training).
    """

    def __init__(self, decoder: Decoder, criterion: SNNLossComposer, targets: Tensor, time_steps: int) -> None:
        self.decoder, self.criterion, self.targets, self.time_steps = decoder, criterion, targets, time_steps
        self._history: Dict[Tuple[str, str], Tensor] = {}
        if TemporalConsistency.name in criterion.terms:
            criterion.terms[TemporalConsistency.name].check_length(time_steps)

    def __call__(
        self, outputs: Dict[str, Any], learned: Optional[Tensor] = None
    ) -> Tuple[Dict[str, Tensor], Dict[str, Tensor]]:
        steps = outputs["output"].shape[1]
        if learned is None or bool(learned.all()):
            groups = [(None, True)]
        else:
            groups = [(learned.nonzero().flatten(), True), ((~learned).nonzero().flatten(), False)]
        parts: Tuple[Dict[str, Tensor], Dict[str, Tensor]] = ({}, {})
        for name, term in self.criterion.terms.items():
            per_step = None  # (K,): the term's value at every step of the segment
            if isinstance(term, TemporalConsistency):
                per_step = self._temporal(term, outputs["spikes"], steps)
            elif isinstance(term, ISIRegularization):
                per_step = self._isi(term, outputs["spikes"])
            elif isinstance(term, RateRegularization):
                per_step = self._rate(term, outputs["spikes"])
            elif not term.sample_mean:
                raise TypeError(f"StepObjective: loss term {name!r} has no per-step form")
            for index, learn in groups:
                if index is not None and index.numel() == 0:
                    continue
                with torch.set_grad_enabled(learn and torch.is_grad_enabled()):
                    if per_step is not None:
                        value = (per_step if index is None else per_step[index]).sum()
                    else:
                        value = self._folded(term, outputs, index)
                parts[0 if learn else 1][name] = value if learn else value.detach()
        return parts

    def _folded(self, term: nn.Module, outputs: Dict[str, Any], index: Optional[Tensor]) -> Tensor:
        """Sum over the steps ``index`` (None: all) of a ``sample_mean`` term on each step alone, divided
        by T: the steps folded into the batch, ``(B, K, ...) -> (B K, 1, ...)``."""
        steps = outputs["output"].shape[1] if index is None else index.numel()

        def fold(t: Tensor) -> Tensor:
            picked = t if index is None else t.index_select(1, index)
            return picked.reshape(t.shape[0] * steps, 1, *t.shape[2:])

        output = fold(outputs["output"])
        inputs = LossInputs(
            output=output,
            # only the cross_entropy term reads the decoded output; the others skip the decoder's cost
            decoded=self.decoder(output) if isinstance(term, CrossEntropyLoss) else None,
            targets=self.targets.repeat_interleave(steps),
            layer_spikes={k: fold(v) for k, v in outputs["spikes"].items()},
            layer_membranes={k: fold(v) for k, v in outputs["membranes"].items()},
        )
        return term(inputs)[0].float() * (steps / self.time_steps)

    def _with_history(self, key: Tuple[str, str], values: Tensor, keep: int) -> Tensor:
        """``values (B, K, ...)`` after the last ``keep`` steps seen before (detached), ``(B, <= keep + K, ...)``;
        remembers the last ``keep`` steps of the result (detached)."""
        past = self._history.get(key)
        joined = values if past is None else torch.cat([past, values], dim=1)
        self._history[key] = joined[:, max(0, joined.shape[1] - keep) :].detach().clone()
        return joined

    def _temporal(self, term: TemporalConsistency, spikes: Dict[str, Tensor], steps: int) -> Tensor:
        """``(K,)``: at each step, the mean over layers of the penalty of the window that ends there (the
        window's earlier steps as constants), over the number of windows; 0 before the first full window."""
        span = term.span
        values = []
        for name, s in spikes.items():
            flat = s.float().flatten(2)
            q = flat.sum(dim=-1) / flat.shape[-1]  # (B, K) population rate, as TemporalConsistency computes it
            joined = self._with_history((term.name, name), q.detach(), span - 1)
            full = joined.shape[1] - span + 1  # windows that end in this segment (its last steps)
            per_step = q.new_zeros(steps)
            if full > 0:
                past = joined.unfold(1, span, 1)[..., :-1]  # (B, full, span - 1), detached
                windows = torch.cat([past, q[:, steps - full :].unsqueeze(-1)], dim=-1)  # the last step live
                per_step = torch.cat([per_step[: steps - full], term.window_penalty(windows).mean(dim=0)])
            values.append(per_step)
        return torch.stack(values).sum(0) / (len(spikes) * (self.time_steps - span + 1))

    def _rate(self, term: RateRegularization, spikes: Dict[str, Tensor]) -> Tensor:
        """``(K,)``: at each step, the mean over layers of the rate penalty of that step alone (rates = its spikes), over T."""
        values = [term.penalty(s.float().flatten(2).transpose(0, 1), name) for name, s in spikes.items()]  # (K,) each
        return torch.stack(values).mean(0) / self.time_steps

    def _isi(self, term: ISIRegularization, spikes: Dict[str, Tensor]) -> Tensor:
        """``(K,)``: at each step, the mean over layers of ``sum s_t sum_d k_d s_{t-d} / (B T N)``, earlier steps as constants."""
        window = len(term.weights)
        values = []
        for name, s in spikes.items():
            flat = s.float().flatten(2)  # (B, K, N)
            steps = flat.shape[1]
            joined = self._with_history((term.name, name), flat.detach(), window)
            offset = joined.shape[1] - steps
            lagged = torch.zeros_like(flat)
            for d, k in enumerate(term.weights, start=1):
                first = max(0, d - offset)  # the first step of the segment whose step t - d exists
                if first < steps:
                    lagged[:, first:] += k * joined[:, offset + first - d : offset + steps - d]
            values.append((flat * lagged).sum(dim=(0, 2)) / (flat.shape[0] * flat.shape[2] * self.time_steps))
        return torch.stack(values).mean(0)


class OnlineLearner:
    """One training batch under ``ottt`` / ``sltt``: the hooks :func:`~brain_ai.core.unroll.run_segments`
    calls step by step, and the gradient it accumulated (:meth:`carrier`).

    Args:
        rule: ``LearningRule.ottt`` or ``LearningRule.sltt``.
        parameters: the trainable parameters whose gradients are accumulated.
        decoder, criterion, targets: the per-step objective's parts (:class:`StepObjective`).
        sltt_steps: sltt: backpropagate at this many random steps (None: every step).
        generator: draws the sltt steps (the batch's generator; never the global RNG).
    """

    def __init__(
        self,
        rule: LearningRule,
        parameters: Sequence[nn.Parameter],
        decoder: Decoder,
        criterion: SNNLossComposer,
        targets: Tensor,
        *,
        window: int = 1,
        sltt_steps: Optional[int] = None,
        generator: Optional[torch.Generator] = None,
    ) -> None:
        if rule is LearningRule.bptt:
            raise ValueError("OnlineLearner: learning_rule=bptt is not an online rule; allowed: ottt, sltt")
        if sltt_steps is not None and (rule is not LearningRule.sltt or generator is None):
            raise ValueError(
                f"OnlineLearner: sltt_steps={sltt_steps} needs rule=sltt and a generator to draw the steps from"
            )
        check_range("OnlineLearner", "window", window, low=1, integer=True)
        self.rule, self.params = rule, [p for p in parameters if p.requires_grad]
        self.decoder, self.criterion, self.targets = decoder, criterion, targets
        #: steps per segment (run and backpropagated together; ``snn.online_window``)
        self.window = window
        self.sltt_steps, self.generator = sltt_steps, generator
        #: ottt: the layers' input currents read presynaptic traces
        self.traces = rule is LearningRule.ottt
        self._traces: Dict[str, Tensor] = {}
        self._grads: List[Optional[Tensor]] = [None] * len(self.params)
        self._parts: Dict[str, Tensor] = {}
        self._learn_at: Optional[Tensor] = None
        self._output_sum: Optional[Tensor] = None  # (B, C): sum over the steps so far of the output
        self._objective: Optional[StepObjective] = None
        self._keep_input_graph = False

    # ---- the hooks of run_segments ---------------------------------------------------------
    def begin(self, time_steps: int, input_has_graph: bool) -> None:
        """Start a sequence of ``time_steps`` steps; ``input_has_graph``: the input came out of a
        graph (a learnable encoder) that every segment's backward goes through."""
        self._objective = StepObjective(self.decoder, self.criterion, self.targets, time_steps)
        self._keep_input_graph = input_has_graph
        if self.sltt_steps is not None:
            check_sltt_steps(self.sltt_steps, time_steps)
            device = self.generator.device
            chosen = torch.randperm(time_steps, generator=self.generator, device=device)[: self.sltt_steps]
            self._learn_at = torch.zeros(time_steps, dtype=torch.bool).index_fill_(0, chosen.cpu(), True)

    def learns_in(self, start: int, stop: int) -> bool:
        """Whether a step of ``[start, stop)`` is backpropagated (the segment's forward then records a graph)."""
        return self._learn_at is None or bool(self._learn_at[start:stop].any())

    def after_segment(self, outputs: Dict[str, Any], start: int, stop: int) -> Dict[str, Any]:
        """Loss of steps ``[start, stop)`` and its gradients (accumulated); returns nothing to keep: an
        empty ``(B, 0, C)`` output and every other entry (layer spikes, membranes, summaries) an empty
        dict (the output enters :meth:`mean_output`)."""
        learned = None if self._learn_at is None else self._learn_at[start:stop]
        learned_parts, other_parts = self._objective(outputs, learned)
        weights = self.criterion.weights
        if learned_parts:
            loss = torch.stack([weights[n] * v for n, v in learned_parts.items()]).sum()
            if loss.requires_grad:
                grads = torch.autograd.grad(loss, self.params, allow_unused=True, retain_graph=self._keep_input_graph)
                self._grads = [g if a is None else a if g is None else a.add_(g) for a, g in zip(self._grads, grads)]
        for parts in (learned_parts, other_parts):
            for name, value in parts.items():
                self._parts[name] = self._parts.get(name, 0.0) + value.detach()
        output = outputs["output"].detach()  # (B, K, C)
        self._output_sum = output.sum(1) if self._output_sum is None else self._output_sum.add_(output.sum(1))
        # a new empty tensor: a view (output[:, :0]) would keep the segment's output alive
        empty = output.new_empty((output.shape[0], 0, *output.shape[2:]))
        return {**{key: {} for key in outputs}, "output": empty}

    def mean_output(self) -> Tensor:
        """The output's mean over the steps, ``(B, 1, C)`` detached: what the decoders with a per-step
        form (rate, population classification, membrane mean) read of the whole sequence."""
        return (self._output_sum / self._objective.time_steps).unsqueeze(1)

    def trace(self, name: str, x: Tensor, decay: Tensor) -> Tensor:
        """ottt: layer ``name``'s presynaptic trace ``a_t = decay a_{t-1} + x_t`` (detached) at every step
        of its input ``x (B, K, ...)``, ``(B, K, ...)``; ``decay`` the membrane decay of the neurons it
        feeds (its mean). The last step's trace carries over to the next segment."""
        x = x.detach()
        start = self._traces.get(name)
        with torch.no_grad():  # one scan over the segment (compiled on CPU), not a Python loop per step
            traces = leaky_integrate(
                x, torch.zeros_like(x[:, 0]) if start is None else start, decay.detach().float().mean()
            )
        self._traces[name] = traces[:, -1]
        return traces

    # ---- the result ------------------------------------------------------------------------
    def carrier(self) -> Tensor:
        """0-d: value = the per-step objective summed over steps; gradient w.r.t. each parameter =
        the gradient accumulated over the steps (what Lightning's ``backward`` then writes)."""
        total = torch.stack([self.criterion.weights[n] * v for n, v in self._parts.items()]).sum()
        dot = sum(((p * g).sum() for p, g in zip(self.params, self._grads) if g is not None), torch.zeros_like(total))
        return total + dot - dot.detach()

    def info(self) -> Dict[str, Any]:
        """The loss composer's ``info`` for the objective: total and unweighted components as detached
        0-d tensors (no host sync; :class:`~brain_ai.core.losses.SNNLossComposer`'s form)."""
        components = {n: v.float() for n, v in self._parts.items()}
        total = torch.stack([self.criterion.weights[n] * v for n, v in components.items()]).sum()
        return {
            "total": total,
            "components": components,
            "diagnostics": {n: {} for n in components},
            "weights": dict(self.criterion.weights),
        }
