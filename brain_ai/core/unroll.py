"""The one time loop of brain_ai: :func:`run_segments` (truncation, checkpointing) and
:func:`snn_unroll` (a per-step cell on top of it, with recording).

Every architecture (a single neuron layer, an MLP or a conv SNN, the fused kernel) splits time
here, so truncated BPTT and exact gradient checkpointing behave the same everywhere:

* ``chunk_size = k``: truncated BPTT; the state is detached every ``k`` steps, so no gradient
  crosses a chunk boundary. Forward values are those of full BPTT.
* ``checkpoint_every = c``: exact BPTT with bounded memory; time is cut into segments of ``c``
  steps, the state flows from segment to segment *without* being detached, and each segment is
  recomputed in backward (``torch.utils.checkpoint``, ``use_reentrant=False``). Only the segment
  inputs, the boundary states and the segment outputs stay alive between forward and backward;
  gradients equal full BPTT.

Both together cut time at the union of both boundaries and detach only at multiples of ``k``.

* ``online = learner`` (``snn.learning_rule = ottt | sltt``, :mod:`brain_ai.core.learning_rules`):
  segments of ``learner.window`` steps inside which the network detaches its state at every step
  (no gradient flows through time); after each segment the learner takes its steps' losses and
  gradients, so no graph outlives its segment (memory constant in T, set by the window).
"""

from __future__ import annotations

from typing import Any, Callable, Dict, List, Literal, Optional, Protocol, Sequence, Tuple

import torch
import torch.utils._pytree as pytree
from torch import Tensor
from torch.utils.checkpoint import checkpoint as _checkpoint

from brain_ai.config import ConfigError, check_range

Record = Literal["none", "spikes", "membrane"]
#: Allowed ``record`` values: nothing, the outputs, the outputs and the post-step membrane.
RECORD_MODES: Tuple[str, ...] = ("none", "spikes", "membrane")

CellFn = Callable[[Tensor, Any], Tuple[Any, Any]]
#: ``(inputs, state) -> (outputs, new_state)`` over one time segment: ``inputs`` and ``outputs``
#: are pytrees of ``(B, t, ...)`` tensors (the segment's ``t`` steps), ``state`` any pytree.
SegmentFn = Callable[[Any, Any], Tuple[Any, Any]]


class OnlineRule(Protocol):
    """What :func:`run_segments` asks of an online learner (:class:`~brain_ai.core.learning_rules.OnlineLearner`)."""

    #: steps per segment: the steps whose losses are backpropagated together
    window: int

    def begin(self, time_steps: int, input_has_graph: bool) -> None:
        """Start a sequence of ``time_steps`` steps (``input_has_graph``: the inputs carry an autograd graph)."""

    def learns_in(self, start: int, stop: int) -> bool:
        """Whether a step of ``[start, stop)`` is backpropagated (the segment then records a graph)."""

    def after_segment(self, outputs: Any, start: int, stop: int) -> Any:
        """Take the losses and gradients of steps ``[start, stop)`` from their ``outputs``; return what to keep."""


def detach_tree(state: Any) -> Any:
    """Detach a state: a tensor, anything with ``.detach()`` (SpikingState), or dict/list/tuple of them."""
    if state is None:
        return None
    if isinstance(state, dict):
        return {k: detach_tree(v) for k, v in state.items()}
    if isinstance(state, (list, tuple)):
        return type(state)(detach_tree(v) for v in state)
    return state.detach()


def membrane_of(state: Any) -> Any:
    """The membrane ``.v`` of a state, or the same dict/list/tuple structure of membranes."""
    if isinstance(state, dict):
        return {k: membrane_of(v) for k, v in state.items()}
    if isinstance(state, (list, tuple)):
        return type(state)(membrane_of(v) for v in state)
    return state.v


def _join_time(parts: Sequence[Any], op: Callable[..., Tensor]) -> Any:
    """Join equally structured pytrees leaf by leaf along dim 1 (``torch.stack`` or ``torch.cat``)."""
    leaves0, spec = pytree.tree_flatten(parts[0])
    columns = [pytree.tree_flatten(p)[0] for p in parts]
    return pytree.tree_unflatten([op([col[j] for col in columns], dim=1) for j in range(len(leaves0))], spec)


def time_steps_of(inputs: Any) -> int:
    """``T`` of a pytree of ``(B, T, ...)`` tensors (every leaf must agree)."""
    leaves = pytree.tree_leaves(inputs)
    if not leaves or not all(isinstance(t, Tensor) for t in leaves):
        raise TypeError(f"inputs must be a Tensor (B, T, ...) or a pytree of them, got {type(inputs).__name__}")
    for t in leaves:
        if t.dim() < 2 or t.shape[1] == 0:
            raise ValueError(f"inputs must have shape (B, T, ...) with T >= 1, got {tuple(t.shape)}")
    steps = {t.shape[1] for t in leaves}
    if len(steps) != 1:
        raise ValueError(f"inputs disagree on T (dim 1): {sorted(steps)}")
    return steps.pop()


def segment_bounds(
    time_steps: int, chunk_size: Optional[int] = None, checkpoint_every: Optional[int] = None
) -> List[Tuple[int, int]]:
    """``[(start, stop), ...]`` covering ``[0, time_steps)``, cut at every multiple of ``chunk_size``
    and of ``checkpoint_every`` (``None`` = no cut)."""
    cuts = {0, time_steps}
    for every in (chunk_size, checkpoint_every):
        if every is not None:
            cuts.update(range(every, time_steps, every))
    edges = sorted(cuts)
    return list(zip(edges[:-1], edges[1:]))


def check_segmenting(owner: str, time_steps: int, chunk_size: Optional[int], checkpoint_every: Optional[int]) -> None:
    """Raise unless ``chunk_size`` is None or an int >= 1 and ``checkpoint_every`` is None or in [1, T]."""
    if chunk_size is not None:  # None = full BPTT
        check_range(owner, "chunk_size", chunk_size, low=1, integer=True)
    if checkpoint_every is not None:  # None = no checkpointing
        check_range(owner, "checkpoint_every", checkpoint_every, low=1, integer=True)
        if checkpoint_every > time_steps:
            raise ConfigError(
                f"{owner}.checkpoint_every={checkpoint_every} is larger than the sequence (T={time_steps} steps); "
                f"allowed: 1 <= checkpoint_every <= {time_steps}, or None (no checkpointing)"
            )


def run_segments(
    segment_fn: SegmentFn,
    inputs: Any,
    initial_state: Any,
    *,
    chunk_size: Optional[int] = None,
    checkpoint_every: Optional[int] = None,
    online: Optional[OnlineRule] = None,
) -> Tuple[Any, Any]:
    """Run ``segment_fn`` over time segments of ``inputs``, carrying the state; the one chunked loop.

    Args:
        segment_fn: ``(inputs (B, t, ...) pytree, state) -> (outputs (B, t, ...) pytree, state)``;
            it must be deterministic given its arguments (it runs again in backward when
            checkpointing; the CPU/CUDA RNG state is restored before that rerun).
        inputs: a ``(B, T, ...)`` tensor or a pytree of them (sliced with ``narrow`` along dim 1).
        initial_state: state before step 0 (any pytree; ``None`` leaves are allowed).
        chunk_size: truncated BPTT window (state detached at its multiples); None = full BPTT.
        checkpoint_every: segment length of exact checkpointed BPTT (see the module docstring);
            None = no checkpointing. Must be <= T. Without autograd recording the segments just
            run one after the other (bounded memory, nothing to recompute).
        online: an online learner (module docstring): segments of ``online.window`` steps, each
            followed by ``online.after_segment`` and a detached state; not combined with the two above.
    Returns:
        ``(outputs (B, T, ...) pytree, final_state)``; outputs are the segments' joined along dim 1.
    """
    steps = time_steps_of(inputs)
    check_segmenting("run_segments", steps, chunk_size, checkpoint_every)
    if online is not None and (chunk_size is not None or checkpoint_every is not None):
        raise ValueError(
            f"run_segments: online learning cuts time itself (online.window); chunk_size={chunk_size} and "
            f"checkpoint_every={checkpoint_every} must be None with it"
        )
    bounds = segment_bounds(steps, online.window if online is not None else chunk_size, checkpoint_every)
    state = initial_state
    if len(bounds) == 1 and checkpoint_every is None and online is None:
        return segment_fn(inputs, state)
    if online is not None:
        online.begin(steps, any(t.requires_grad for t in pytree.tree_leaves(inputs)))
    outs: List[Any] = []
    for start, stop in bounds:
        if start and (online is not None or (chunk_size is not None and start % chunk_size == 0)):
            state = detach_tree(state)  # truncated BPTT, online learning: cut the graph here
        seg = pytree.tree_map(lambda t: t.narrow(1, start, stop - start), inputs)  # (B, t, ...) views
        if checkpoint_every is not None and torch.is_grad_enabled():
            out, state = _checkpoint(segment_fn, seg, state, use_reentrant=False)
        elif online is not None:
            with torch.set_grad_enabled(torch.is_grad_enabled() and online.learns_in(start, stop)):
                out, state = segment_fn(seg, state)
                out = online.after_segment(out, start, stop)
        else:
            out, state = segment_fn(seg, state)
        outs.append(out)
    if online is not None:
        state = detach_tree(state)  # the last segment's graph is gone (its gradients were taken)
    return _join_time(outs, torch.cat), state


def step_segment(cell_fn: CellFn, keep_membrane: bool, detach_steps: bool = False) -> SegmentFn:
    """The :data:`SegmentFn` that steps ``cell_fn`` through a segment: outputs ``{"out": ...}``
    (and ``{"membrane": post-step state.v}`` when ``keep_membrane``), stacked to ``(B, t, ...)``.
    ``detach_steps``: every step starts from the detached state, so gradients take the spatial path
    only (online learning, :mod:`brain_ai.core.learning_rules`)."""

    def run(x: Tensor, state: Any) -> Tuple[Dict[str, Any], Any]:
        outs, mems = [], []
        for x_t in x.unbind(1):  # x_t (B, ...)
            out, state = cell_fn(x_t, detach_tree(state) if detach_steps else state)
            outs.append(out)
            if keep_membrane:
                mems.append(membrane_of(state))
        result = {"out": _join_time(outs, torch.stack)}
        if keep_membrane:
            result["membrane"] = _join_time(mems, torch.stack)
        return result, state

    return run


def check_record(owner: str, record: str) -> None:
    """Raise unless ``record`` is one of :data:`RECORD_MODES`."""
    if record not in RECORD_MODES:
        raise ValueError(f"{owner}: record={record!r} is not valid; allowed: {', '.join(RECORD_MODES)}")


def traces_of(outputs: Dict[str, Any], record: str) -> Dict[str, Any]:
    """The ``traces`` dict for ``record`` from segment outputs ``{"out": ..., ["membrane": ...]}``."""
    traces: Dict[str, Any] = {}
    if record != "none":
        traces["spikes"] = outputs["out"]
    if record == "membrane":
        traces["membrane"] = outputs["membrane"]
    return traces


def snn_unroll(
    cell_fn: CellFn,
    inputs: Tensor,
    initial_state: Any,
    chunk_size: Optional[int] = None,
    *,
    checkpoint_every: Optional[int] = None,
    record: Record = "none",
) -> Tuple[Any, Any, Dict[str, Any]]:
    """Step ``cell_fn`` through time over ``inputs (B, T, ...)`` (via :func:`run_segments`).

    Args:
        cell_fn: ``(x_t (B, ...), state) -> (out_t, new_state)``; ``out_t`` is a tensor or a
            pytree (tuple/dict) of tensors, ``state`` anything with ``.v`` / ``.detach()`` or a
            dict/list/tuple of those.
        inputs: ``(B, T, ...)``, iterated with ``unbind(1)`` inside each segment.
        initial_state: state before step 0.
        chunk_size: truncated BPTT window (see :func:`run_segments`); None = full BPTT.
        checkpoint_every: exact checkpointed BPTT segment length; None = no checkpointing.
        record: "none" -> ``{}``; "spikes" -> ``{"spikes": outputs}``; "membrane" -> also
            ``{"membrane": (B, T, ...)}``, the post-step (post-reset) ``state.v``.
    Returns:
        ``(outputs (B, T, ...), final_state, traces)``.
    """
    check_record("snn_unroll", record)
    if not isinstance(inputs, Tensor):
        raise TypeError(f"snn_unroll: inputs must be a Tensor (B, T, ...), got {type(inputs).__name__}")
    outputs, state = run_segments(
        step_segment(cell_fn, record == "membrane"),
        inputs,
        initial_state,
        chunk_size=chunk_size,
        checkpoint_every=checkpoint_every,
    )
    return outputs["out"], state, traces_of(outputs, record)
