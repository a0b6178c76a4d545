"""The one time loop of brain_ai: ``snn_unroll`` (truncated BPTT, checkpointing, recording).

Every architecture (a single neuron layer, an MLP or a conv SNN) steps through time here, so
truncated BPTT, gradient checkpointing and trace recording behave the same everywhere.
"""

from __future__ import annotations

from typing import Any, Callable, Dict, List, Literal, Optional, Sequence, Tuple

import torch
import torch.utils._pytree as pytree
from torch import Tensor
from torch.utils.checkpoint import checkpoint as _checkpoint

from brain_ai.config import check_range

Record = Literal["none", "spikes", "membrane"]
#: Allowed ``record`` values: nothing, the outputs, the outputs and the post-step membrane.
RECORD_MODES: Tuple[str, ...] = ("none", "spikes", "membrane")

CellFn = Callable[[Tensor, Any], Tuple[Any, Any]]


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


def _stack_time(per_step: List[Any]) -> Any:
    """Stack a list (length T) of equally structured ``(B, ...)`` outputs into ``(B, T, ...)``."""
    leaves0, spec = pytree.tree_flatten(per_step[0])
    columns = [pytree.tree_flatten(o)[0] for o in per_step]
    stacked = [torch.stack([col[j] for col in columns], dim=1) for j in range(len(leaves0))]
    return pytree.tree_unflatten(stacked, spec)


def _run_chunk(cell_fn: CellFn, steps: Sequence[Tensor], state: Any, keep_membrane: bool) -> Tuple[List[Any], List[Any], Any]:
    outs, mems = [], []
    for x_t in steps:  # x_t (B, ...)
        out, state = cell_fn(x_t, state)
        outs.append(out)
        if keep_membrane:
            mems.append(membrane_of(state))
    return outs, mems, state


def _validate(inputs: Any, chunk_size: Optional[int], checkpoint: bool, record: str) -> None:
    if record not in RECORD_MODES:
        raise ValueError(f"snn_unroll: record={record!r} is not valid; allowed: {', '.join(RECORD_MODES)}")
    if chunk_size is not None:  # None = full BPTT
        check_range("snn_unroll", "chunk_size", chunk_size, low=1, integer=True)
    if not isinstance(checkpoint, bool):
        raise TypeError(f"snn_unroll: checkpoint={checkpoint!r} must be a bool")
    if not isinstance(inputs, Tensor):
        raise TypeError(f"snn_unroll: inputs must be a Tensor (B, T, ...), got {type(inputs).__name__}")
    if inputs.dim() < 2 or inputs.shape[1] == 0:
        raise ValueError(f"snn_unroll: inputs must have shape (B, T, ...) with T >= 1, got {tuple(inputs.shape)}")


def snn_unroll(
    cell_fn: CellFn,
    inputs: Tensor,
    initial_state: Any,
    chunk_size: Optional[int] = None,
    *,
    checkpoint: bool = False,
    record: Record = "none",
) -> Tuple[Any, Any, Dict[str, Any]]:
    """Step ``cell_fn`` through time over ``inputs (B, T, ...)``.

    Args:
        cell_fn: ``(x_t (B, ...), state) -> (out_t, new_state)``; ``out_t`` is a tensor or a
            pytree (tuple/dict) of tensors, ``state`` anything with ``.v`` / ``.detach()`` or a
            dict/list/tuple of those.
        inputs: ``(B, T, ...)``, iterated with ``inputs.unbind(1)``.
        initial_state: state before step 0.
        chunk_size: truncated BPTT window ``k``: the state is detached every ``k`` steps, so no
            gradient crosses a chunk boundary. Forward values are identical to full BPTT
            (``None``). With ``k >= T`` nothing is cut.
        checkpoint: recompute each chunk in backward (``torch.utils.checkpoint``,
            ``use_reentrant=False``): identical outputs and gradients, saved activations of only
            one chunk at a time (plus chunk inputs/boundary states).
        record: "none" -> ``{}``; "spikes" -> ``{"spikes": outputs}``; "membrane" -> also
            ``{"membrane": (B, T, ...)}``, the post-step (post-reset) ``state.v``.
    Returns:
        ``(outputs (B, T, ...), final_state, traces)``.
    """
    _validate(inputs, chunk_size, checkpoint, record)
    steps = inputs.unbind(1)  # T tensors (B, ...)
    window = len(steps) if chunk_size is None else chunk_size
    keep_membrane = record == "membrane"
    state = initial_state
    outs: List[Any] = []
    mems: List[Any] = []
    for start in range(0, len(steps), window):
        if start > 0:
            state = detach_tree(state)  # truncated BPTT: cut the graph between chunks
        chunk = steps[start : start + window]
        if checkpoint:
            o, m, state = _checkpoint(_run_chunk, cell_fn, chunk, state, keep_membrane, use_reentrant=False)
        else:
            o, m, state = _run_chunk(cell_fn, chunk, state, keep_membrane)
        outs.extend(o)
        mems.extend(m)
    outputs = _stack_time(outs)
    traces: Dict[str, Any] = {}
    if record != "none":
        traces["spikes"] = outputs
    if keep_membrane:
        traces["membrane"] = _stack_time(mems)
    return outputs, state, traces
