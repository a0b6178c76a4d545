r"""Online learning rules: ``ottt`` and ``sltt`` (``snn.learning_rule``), memory constant in T.

Both run the network one step at a time through :func:`brain_ai.core.unroll.run_segments` (its
``online`` mode): at every step ``t`` the network's output gives a loss ``L_t`` (the *per-step
form* of the decoder and of every loss term, :class:`StepObjective`), its gradients are taken at
once and accumulated, and the state carried to step ``t + 1`` (membrane, synaptic current,
adaptation, previous spikes) is detached, so no graph outlives its step.

* ``sltt`` (spatial learning through time, Meng et al., ICCV 2023): the gradient of ``L_t``
  flows through step ``t``'s spatial path only (layer to layer, through the surrogate), none
  through the membrane into earlier steps. ``sltt_steps = K`` backpropagates only at ``K`` steps
  drawn at random per batch (from the batch's generator); the other steps run without a graph.
* ``ottt`` (online training through time, Xiao et al., NeurIPS 2022): as sltt, but the weight
  gradient of every layer that feeds a neuron layer (Linear, Conv) uses the presynaptic trace
  ``a_t = lambda a_{t-1} + x_t`` (``x_t`` the layer's input, ``lambda`` the membrane decay
  ``beta`` of the neurons it feeds, its mean when per neuron) in place of ``x_t``:
  ``dL_t/dW = dL_t/dI_t a_t^T``, which carries the leaky membrane's memory of earlier inputs.
  Recurrent weights (``W_rec``) see the previous step's spikes, without a trace.

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

from collections import deque
from typing import Any, Deque, Dict, List, Optional, Sequence, Tuple

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
)
from brain_ai.core.decoding import Decoder
from brain_ai.core.losses import CrossEntropyLoss, ISIRegularization, LossInputs, SNNLossComposer, TemporalConsistency

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


class StepObjective:
    """The per-step form of a decoder and loss (module docstring): ``objective(outputs, t)`` ->
    term name -> that step's unweighted contribution (0-d), for a sequence of ``time_steps`` steps.

    ``outputs`` is one step of the network: ``{"output": (B, 1, C), "spikes": {layer: (B, 1, ...)},
    "membranes": {layer: (B, 1, ...)}}``. Terms that look back (temporal, isi) keep the last steps
    they need, detached: memory bounded by their window, not by T.
    """

    def __init__(self, decoder: Decoder, criterion: SNNLossComposer, targets: Tensor, time_steps: int) -> None:
        self.decoder, self.criterion, self.targets, self.time_steps = decoder, criterion, targets, time_steps
        self._history: Dict[Tuple[str, str], Deque[Tensor]] = {}
        if TemporalConsistency.name in criterion.terms:
            criterion.terms[TemporalConsistency.name].check_length(time_steps)

    def __call__(self, outputs: Dict[str, Any], t: int) -> Dict[str, Tensor]:
        output = outputs["output"]
        # only the cross_entropy term reads the decoded step; the others skip the decoder's cost
        decoded = self.decoder(output) if CrossEntropyLoss.name in self.criterion.terms else None
        inputs = LossInputs(
            output=output,
            decoded=decoded,
            targets=self.targets,
            layer_spikes=outputs["spikes"],
            layer_membranes=outputs["membranes"],
        )
        parts = {}
        for name, term in self.criterion.terms.items():
            if isinstance(term, TemporalConsistency):
                parts[name] = self._temporal(term, inputs.layer_spikes)
            elif isinstance(term, ISIRegularization):
                parts[name] = self._isi(term, inputs.layer_spikes)
            else:  # the term on this step alone, a 1/T share of the mean over steps
                parts[name] = term(inputs)[0].float() / self.time_steps
        return parts

    def _recent(self, key: Tuple[str, str], length: int) -> Deque[Tensor]:
        return self._history.setdefault(key, deque(maxlen=length))

    def _temporal(self, term: TemporalConsistency, spikes: Dict[str, Tensor]) -> Tensor:
        """Mean over layers of the penalty of the window that ends at this step, over the number of windows."""
        span = term.span
        values = []
        for name, s in spikes.items():
            flat = s.float().flatten(1)
            q = flat.sum(dim=-1) / flat.shape[-1]  # (B,) population rate, as TemporalConsistency computes it
            past = self._recent((term.name, name), span - 1)
            if len(past) == span - 1:
                values.append(term.layer_penalty(torch.stack([*past, q], dim=1).unsqueeze(-1)))
            past.append(q.detach())
        if not values:  # no full window yet
            return torch.zeros((), device=self.targets.device)
        return torch.stack(values).sum() / (len(spikes) * (self.time_steps - span + 1))

    def _isi(self, term: ISIRegularization, spikes: Dict[str, Tensor]) -> Tensor:
        """Mean over layers of ``sum s_t sum_d k_d s_{t-d} / (B T N)``, earlier steps as constants."""
        values = []
        for name, s in spikes.items():
            flat = s.float().flatten(1)  # (B, N)
            past = self._recent((term.name, name), len(term.weights))  # newest last
            lagged = sum((k * p for k, p in zip(term.weights, reversed(past))), torch.zeros_like(flat))
            values.append((flat * lagged).sum() / (flat.numel() * self.time_steps))
            past.append(flat.detach())
        return torch.stack(values).mean()


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
        sltt_steps: Optional[int] = None,
        generator: Optional[torch.Generator] = None,
    ) -> None:
        if rule is LearningRule.bptt:
            raise ValueError("OnlineLearner: learning_rule=bptt is not an online rule; allowed: ottt, sltt")
        if sltt_steps is not None and (rule is not LearningRule.sltt or generator is None):
            raise ValueError(
                f"OnlineLearner: sltt_steps={sltt_steps} needs rule=sltt and a generator to draw the steps from"
            )
        self.rule, self.params = rule, [p for p in parameters if p.requires_grad]
        self.decoder, self.criterion, self.targets = decoder, criterion, targets
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
        graph (a learnable encoder) that every step's backward goes through."""
        self._objective = StepObjective(self.decoder, self.criterion, self.targets, time_steps)
        self._keep_input_graph = input_has_graph
        if self.sltt_steps is not None:
            check_sltt_steps(self.sltt_steps, time_steps)
            device = self.generator.device
            chosen = torch.randperm(time_steps, generator=self.generator, device=device)[: self.sltt_steps]
            self._learn_at = torch.zeros(time_steps, dtype=torch.bool).index_fill_(0, chosen.cpu(), True)

    def learns_at(self, t: int) -> bool:
        """Whether step ``t`` is backpropagated (its forward then records a graph)."""
        return self._learn_at is None or bool(self._learn_at[t])

    def after_step(self, outputs: Dict[str, Any], t: int) -> Dict[str, Any]:
        """Loss of step ``t`` and its gradients (accumulated); returns nothing to keep: an empty
        ``(B, 0, C)`` output and every other entry (layer spikes, membranes, summaries) an empty dict
        (the output enters :meth:`mean_output`)."""
        parts = self._objective(outputs, t)
        weights = self.criterion.weights
        loss = torch.stack([weights[n] * v for n, v in parts.items()]).sum()
        if loss.requires_grad:
            grads = torch.autograd.grad(loss, self.params, allow_unused=True, retain_graph=self._keep_input_graph)
            self._grads = [g if a is None else a if g is None else a.add_(g) for a, g in zip(self._grads, grads)]
        for name, value in parts.items():
            self._parts[name] = self._parts.get(name, 0.0) + value.detach()
        output = outputs["output"].detach()  # (B, 1, C)
        self._output_sum = output.sum(1) if self._output_sum is None else self._output_sum.add_(output.sum(1))
        # a new empty tensor: a view (output[:, :0]) would keep the step's output alive
        empty = output.new_empty((output.shape[0], 0, *output.shape[2:]))
        return {**{key: {} for key in outputs}, "output": empty}

    def mean_output(self) -> Tensor:
        """The output's mean over the steps, ``(B, 1, C)`` detached: what the decoders with a per-step
        form (rate, population classification, membrane mean) read of the whole sequence."""
        return (self._output_sum / self._objective.time_steps).unsqueeze(1)

    def trace(self, name: str, x: Tensor, decay: Tensor) -> Tensor:
        """ottt: layer ``name``'s presynaptic trace ``a_t = decay a_{t-1} + x_t`` (detached), for
        its input ``x (B, 1, ...)``; ``decay`` the membrane decay of the neurons it feeds (its mean)."""
        previous = self._traces.get(name)
        a = x.detach() if previous is None else previous * decay.detach().float().mean() + x.detach()
        self._traces[name] = a
        return a

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
