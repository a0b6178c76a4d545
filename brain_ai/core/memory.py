r"""Predict BPTT activation memory and choose a truncated/checkpointed chunk size for a budget.

Method: the activation memory of backprop-through-time is the bytes autograd saves for backward.
:func:`saved_tensor_bytes` measures them exactly with ``torch.autograd.graph.saved_tensors_hooks``
(distinct storages, so a tensor saved by two ops counts once). For a fixed model they are a
bilinear function of batch size B and steps T::

    bytes(B, T) = c0 + cB * B + cT * T + cBT * B * T

(c0: parameters; cB: initial state; cT: per-step parameter transforms; cBT: per-step
activations). :func:`fit_bptt_bytes` runs four tiny probes, (B, T) in {1, 2} x {2, 4}, solves
for the four coefficients and extrapolates. It counts activations only -- not parameters'
gradients, optimiser state, or the allocator's fragmentation.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Any, Callable, Sequence, Tuple, Union

import torch
from torch import Tensor

RunFn = Callable[[Tensor], Any]
PROBE_SIZES: Tuple[Tuple[int, int], ...] = ((1, 2), (2, 2), (1, 4), (2, 4))


def saved_tensor_bytes(fn: Callable[[], Any]) -> int:
    """Bytes of the distinct tensor storages autograd saves for backward while ``fn()`` runs.

    Tensors saved inside a non-reentrant ``torch.utils.checkpoint`` region are recomputed in
    backward and so are (correctly) not counted.
    """
    storages = {}

    def pack(t: Tensor) -> Tensor:
        st = t.untyped_storage()
        storages[(t.device, st.data_ptr())] = st.nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        out = fn()  # keep the graph (and so every saved tensor) alive while counting
    total = sum(storages.values())
    del out
    return total


@dataclass(frozen=True)
class BPTTMemoryModel:
    """``bytes(B, T) = c0 + cB B + cT T + cBT B T`` fitted by :func:`fit_bptt_bytes`."""

    c0: float
    cB: float
    cT: float
    cBT: float

    def predict(self, batch_size: int, time_steps: int) -> int:
        """Predicted saved-activation bytes of full BPTT over ``time_steps`` steps."""
        b, t = batch_size, time_steps
        return int(round(self.c0 + self.cB * b + self.cT * t + self.cBT * b * t))


def _probe_context(dtype: torch.dtype, device: torch.device) -> Any:
    if dtype in (torch.float16, torch.bfloat16):
        return torch.autocast(device_type=device.type, dtype=dtype)
    return contextlib.nullcontext()


def fit_bptt_bytes(
    run: RunFn,
    feature_shape: Sequence[int],
    dtype: torch.dtype = torch.float32,
    device: Union[str, torch.device] = "cpu",
    probe_sizes: Sequence[Tuple[int, int]] = PROBE_SIZES,
) -> BPTTMemoryModel:
    """Fit :class:`BPTTMemoryModel` for ``run(x (B, T, *feature_shape))`` (full BPTT, no checkpoint).

    fp32/fp64 probes use inputs of that dtype; fp16/bf16 probes run under
    ``torch.autocast(dtype=...)`` with fp32 inputs (mixed-precision training). Inputs require
    grad, as the output of a preceding layer would.
    """
    device = torch.device(device)
    in_dtype = torch.float32 if dtype in (torch.float16, torch.bfloat16) else dtype
    rows, targets = [], []
    for b, t in probe_sizes:
        x = (2 * torch.rand(b, t, *feature_shape, device=device, dtype=in_dtype)).requires_grad_()
        with _probe_context(dtype, device):
            measured = saved_tensor_bytes(lambda: run(x))
        rows.append([1.0, b, t, b * t])
        targets.append([float(measured)])
    coef = torch.linalg.lstsq(torch.tensor(rows, dtype=torch.float64), torch.tensor(targets, dtype=torch.float64)).solution
    return BPTTMemoryModel(*coef.flatten().tolist())


def estimate_bptt_bytes(
    run: RunFn,
    feature_shape: Sequence[int],
    batch_size: int,
    time_steps: int,
    dtype: torch.dtype = torch.float32,
    device: Union[str, torch.device] = "cpu",
) -> int:
    """Predicted saved-activation bytes of full BPTT of ``run`` at ``(batch_size, time_steps)``.

    Example::

        lif, fc = LIFNeuron(256), nn.Linear(100, 256)
        run = lambda x: lif.forward_sequence(fc(x))[0]
        estimate_bptt_bytes(run, (100,), batch_size=128, time_steps=500)
    """
    return fit_bptt_bytes(run, feature_shape, dtype, device).predict(batch_size, time_steps)


def chunk_size_for_budget(
    run: RunFn,
    feature_shape: Sequence[int],
    batch_size: int,
    time_steps: int,
    budget_bytes: int,
    dtype: torch.dtype = torch.float32,
    device: Union[str, torch.device] = "cpu",
) -> int:
    """Largest ``chunk_size`` k in [1, T] whose activations fit ``budget_bytes`` with checkpointing.

    With ``checkpoint=True`` only one chunk's activations are alive at a time (recomputed in
    backward), about ``bytes(B, k)`` of full BPTT over k steps; the chunk inputs and boundary
    states that checkpointing keeps are not counted. Returns ``time_steps`` when full BPTT fits.
    Raises ``ValueError`` when even k = 1 does not fit.
    """
    if budget_bytes <= 0:
        raise ValueError(f"chunk_size_for_budget: budget_bytes={budget_bytes!r} must be > 0")
    model = fit_bptt_bytes(run, feature_shape, dtype, device)
    for k in range(time_steps, 0, -1):
        if model.predict(batch_size, k) <= budget_bytes:
            return k
    raise ValueError(
        f"chunk_size_for_budget: budget_bytes={budget_bytes} is below the {model.predict(batch_size, 1)} bytes "
        f"one step needs at batch_size={batch_size}; lower the batch size or raise the budget"
    )
