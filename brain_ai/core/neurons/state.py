"""Explicit, batch-aligned neuron state: :class:`SpikingState` and its shape/dtype checks."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Dict, List, Optional, Tuple

import torch
import torch.utils._pytree as pytree
from torch import Tensor

from brain_ai.config import DtypePolicy

#: Names of the state fields, in pytree order.
STATE_FIELDS: Tuple[str, ...] = ("v", "i", "i_rise", "a", "prev_spk", "spike_history", "ref")


@dataclass
class SpikingState:
    """State of one neuron population; every tensor is batch-first.

    Fields (``N...`` is the neuron layer's feature shape, ``D`` its ``max_delay``):
        v:             ``(B, *N)`` membrane potential (threshold units).
        i:             ``(B, *N)`` synaptic current (only with ``synaptic=True``).
        i_rise:        ``(B, *N)`` rise stage of the alpha-kernel synaptic current
                       (``synaptic_kernel="alpha"``).
        a:             ``(B, *N)`` adaptation variable (AdaptiveLIF).
        prev_spk:      ``(B, *N)`` spikes of the previous step (RecurrentLIF).
        spike_history: ``(B, D + 1, *N)`` last ``D + 1`` input currents, newest first (AdvancedLIF
                       with delays).
        ref:           ``(B, *N)`` refractory steps left (integer values, stored as floats).
    """

    v: Tensor
    i: Optional[Tensor] = None
    i_rise: Optional[Tensor] = None
    a: Optional[Tensor] = None
    prev_spk: Optional[Tensor] = None
    spike_history: Optional[Tensor] = None
    ref: Optional[Tensor] = None

    def detach(self) -> "SpikingState":
        """Same values, graph cut (for truncated BPTT / carrying state across batches)."""
        return SpikingState(**{k: None if t is None else t.detach() for k, t in self.items()})

    def items(self) -> List[Tuple[str, Optional[Tensor]]]:
        """``(name, tensor or None)`` for every field, in :data:`STATE_FIELDS` order."""
        return [(k, getattr(self, k)) for k in STATE_FIELDS]

    def replace(self, **changes: Optional[Tensor]) -> "SpikingState":
        """A copy with some fields replaced (never mutates ``self``)."""
        return dataclasses.replace(self, **changes)


def _flatten(state: SpikingState) -> Tuple[List[Tensor], List[str]]:
    present = [(k, t) for k, t in state.items() if t is not None]
    return [t for _, t in present], [k for k, _ in present]


def _unflatten(values: List[Tensor], names: List[str]) -> SpikingState:
    return SpikingState(**dict(zip(names, values)))


pytree.register_pytree_node(
    SpikingState,
    _flatten,
    _unflatten,
    serialized_type_name="brain_ai.core.neurons.SpikingState",
)


def carry(owner: str, state: SpikingState, carry_state: Optional[bool]) -> Optional[SpikingState]:
    """The final state a sequence call returns for ``carry_state``.

    ``None`` (default): ``state`` as computed, still attached to the autograd graph (gradients
    reach the initial state through it). ``True``: detached (same values, graph cut), ready to
    pass as ``state=`` of the next call for streaming. ``False``: ``None``, no reference kept.
    """
    if carry_state is not None and not isinstance(carry_state, bool):
        raise TypeError(f"{owner}: carry_state={carry_state!r} must be True, False or None")
    if carry_state is None:
        return state
    return state.detach() if carry_state else None


def state_dtype_for(compute_dtype: torch.dtype, policy: DtypePolicy = DtypePolicy.fp32_state) -> torch.dtype:
    """State dtype for inputs of ``compute_dtype`` under ``policy``: ``fp32_state`` gives float32
    for fp16/bf16 (AMP) and ``compute_dtype`` otherwise; ``input_dtype`` always ``compute_dtype``."""
    if policy is DtypePolicy.fp32_state and compute_dtype in (torch.float16, torch.bfloat16):
        return torch.float32
    return compute_dtype


def check_finite(owner: str, x: Tensor) -> None:
    """Raise ``ValueError`` naming ``owner`` if ``x`` holds NaN or Inf (a NaN would stay in a
    membrane forever). One ``aminmax`` reduction (NaN and +-Inf reach the min or the max; no
    input-sized temporary) and one host sync per call: call it once per input, never inside a
    time loop. ``x`` is read detached, so nothing is saved for backward."""
    if not x.is_floating_point() or x.numel() == 0:
        return
    low, high = torch.aminmax(x.detach())
    if not bool(torch.isfinite(low) & torch.isfinite(high)):
        raise ValueError(f"{owner}: input contains NaN or Inf; allowed: finite values")


def check_state(
    owner: str,
    state: SpikingState,
    expected_shapes: Dict[str, Tuple[int, ...]],
    device: Optional[torch.device] = None,
    dtype: Optional[torch.dtype] = None,
) -> None:
    """Raise ``ValueError`` unless every field in ``expected_shapes`` is present and matches.

    The message names the field and shows the state's and the expected shape/device/dtype
    (``device`` / ``dtype`` None: not checked). A mismatching state is never re-zeroed silently.
    """
    if not isinstance(state, SpikingState):
        raise TypeError(f"{owner}: state must be a SpikingState or None, got {type(state).__name__}")
    for name, shape in expected_shapes.items():
        t = getattr(state, name)
        if t is None:
            raise ValueError(f"{owner}: state.{name} is None but this neuron needs it with shape {shape}")
        if tuple(t.shape) != tuple(shape):
            raise ValueError(
                f"{owner}: state.{name} has shape {tuple(t.shape)} but the input needs {tuple(shape)} "
                "(batch size or feature shape changed? call reset_state or pass state=None)"
            )
        if device is not None and t.device != device:
            raise ValueError(f"{owner}: state.{name} is on {t.device} but the input is on {device}")
        if dtype is not None and t.dtype != dtype:
            raise ValueError(
                f"{owner}: state.{name} has dtype {t.dtype} but inputs of this dtype need state dtype {dtype}"
            )
