r"""Predict BPTT memory; pick ``checkpoint_every`` for a memory budget.

Two estimates live here.

1. *Saved activations of one module* (:func:`fit_bptt_bytes`, below).
2. *Peak memory of a training step* (:func:`fit_network_peak`,
   :func:`checkpoint_every_for_budget`, :func:`resolve_memory_budget`): the peak bytes allocated
   while one step runs, measured by :func:`peak_bytes` (allocation events of ``torch.profiler``,
   exact on CPU) at the real batch size on short probe sequences and extrapolated in T with
   ``peak(T) = a + b T`` (full BPTT) and, with checkpointing every ``k`` steps,
   ``peak(T, k) = a + b T + c k + d ceil(T / k)`` (kept segment outputs and per-step series + one
   segment's activations and gradients + the boundary states and per-segment sums). The step is
   whatever a :data:`StepFactory` builds: ``train.py`` passes the real one (the SNN with the loss
   terms' summaries, the decoder, every loss term, backward, the optimiser step:
   :func:`brain_ai.training.module.training_step_factory`); :func:`network_step` is the bare network's.
   The probes run under :func:`torch.random.fork_rng`: the global RNG is left as it was.

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
import dataclasses
import logging
import math
import os
from dataclasses import dataclass
from typing import Any, Callable, Optional, Sequence, Tuple, Union

import torch
from torch import Tensor

from brain_ai.config import ConfigError, SNNConfig

log = logging.getLogger(__name__)

RunFn = Callable[[Tensor], Any]
#: kineto, torch.profiler's C++ backend, logs every profiler start and stop to stderr and, on a
#: machine without CUDA, a "gpuGetDeviceCount failed" error; it reads this variable when the first
#: profile starts, and 6 silences it (a value the user set is kept)
KINETO_LOG_LEVEL = ("KINETO_LOG_LEVEL", "6")
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
    coef = torch.linalg.lstsq(
        torch.tensor(rows, dtype=torch.float64), torch.tensor(targets, dtype=torch.float64)
    ).solution
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
    """Largest segment length k in [1, T] whose saved activations fit ``budget_bytes``.

    With ``checkpoint_every=k`` only one k-step segment's activations are alive at a time
    (recomputed in backward), about ``bytes(B, k)`` of full BPTT over k steps; the segment inputs
    and boundary states that checkpointing keeps are not counted (see :func:`fit_network_peak`
    for a whole-network peak estimate). Returns ``time_steps`` when full BPTT fits.
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


# --------------------------------------------------------------------------------------------
# Peak memory of a whole network's training step, and checkpoint_every for a budget
# --------------------------------------------------------------------------------------------

#: Probe ``(T, checkpoint_every)`` pairs of :func:`fit_network_peak` (``None``: full BPTT).
#: Segments are shorter than T (one segment holding all of T is not the regime being fitted); a
#: grid of 8 segmented probes for 4 coefficients, so that one probe's noise does not steer the fit.
PEAK_PROBES: Tuple[Tuple[int, Optional[int]], ...] = (
    (128, None),
    (384, None),
    *((steps, every) for steps in (192, 384) for every in (8, 16, 32, 64)),
)


def peak_bytes(fn: Callable[[], Any]) -> int:
    """Peak CPU bytes allocated above the level at the start while ``fn()`` runs.

    Replays the allocator's allocation/free events recorded by ``torch.profiler``
    (``profile_memory=True``), so it counts every tensor allocation exactly, independent of the
    process RSS and of what other processes do. CPU tensors only. Kineto's console lines are
    silenced (:data:`KINETO_LOG_LEVEL`).
    """
    from torch._C._profiler import _EventType
    from torch.profiler import ProfilerActivity, profile

    os.environ.setdefault(*KINETO_LOG_LEVEL)
    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        fn()
    events, stack = [], list(prof.profiler.kineto_results.experimental_event_tree())
    while stack:
        event = stack.pop()
        if event.tag == _EventType.Allocation:
            events.append((event.start_time_ns, event.extra_fields.alloc_size))
        stack.extend(event.children)
    level = peak = 0
    for _, size in sorted(events):
        level += size
        peak = max(peak, level)
    return peak


@dataclass(frozen=True)
class NetworkPeakModel:
    """Peak bytes of a training step at one batch size: ``full = (a, b)`` gives ``a + b T``;
    ``segmented = (a, b, c, d)`` gives ``a + b T + c k + d ceil(T / k)`` with checkpointing every k."""

    batch_size: int
    full: Tuple[float, float]
    segmented: Tuple[float, float, float, float]

    def predict(self, time_steps: int, checkpoint_every: Optional[int] = None) -> int:
        """Predicted peak bytes of one forward + backward over ``time_steps`` steps."""
        if checkpoint_every is None:
            a, b = self.full
            return int(round(a + b * time_steps))
        a, b, c, d = self.segmented
        return int(round(a + b * time_steps + c * checkpoint_every + d * math.ceil(time_steps / checkpoint_every)))


def probe_loss(output: Tensor) -> Tensor:
    """The loss of a probe step: a time-weighted sum of ``output (B, T, C)``, whose gradient is a
    full ``(B, T, C)`` tensor like a real decoder's (``output.sum()`` would give a broadcast one)."""
    weights = torch.linspace(0.5, 1.5, output.shape[1], device=output.device)[None, :, None]  # (1, T, 1)
    return (output * weights).sum()


#: ``(snn config, batch_size, time_steps) -> step``: builds a model and its input, and returns the
#: training step to measure (run by :func:`peak_bytes`)
StepFactory = Callable[[SNNConfig, int, int], Callable[[], None]]


def probe_spikes(cfg: SNNConfig, batch_size: int, time_steps: int, generator: torch.Generator) -> Tensor:
    """Random input spikes ``(batch_size, time_steps, *input)`` (10 % ones) for ``cfg``'s network."""
    shape = (cfg.input_size,) if cfg.architecture.value == "mlp" else tuple(cfg.input_shape)
    return (torch.rand(batch_size, time_steps, *shape, generator=generator) < 0.1).float()


def network_step(cfg: SNNConfig, batch_size: int, time_steps: int, seed: int = 0) -> Callable[[], None]:
    """One step of the bare network (forward, :func:`probe_loss`, backward) of ``build_snn(cfg)``
    on random spikes ``(batch_size, time_steps, *input)``; the network and input are made before
    the call (the network's initial weights from the global RNG)."""
    from brain_ai.core.snn import build_snn  # snn imports nothing from here; keep the dependency one-way at import

    net = build_snn(cfg)
    x = probe_spikes(cfg, batch_size, time_steps, torch.Generator().manual_seed(seed))  # (B, T, ...)

    def step() -> None:
        probe_loss(net(x, keep_spikes=False).output).backward()

    return step


def _lstsq(rows: Sequence[Sequence[float]], targets: Sequence[float]) -> Tuple[float, ...]:
    a = torch.tensor(rows, dtype=torch.float64)
    b = torch.tensor(targets, dtype=torch.float64).unsqueeze(1)
    return tuple(torch.linalg.lstsq(a, b).solution.flatten().tolist())


def fit_network_peak(
    cfg: SNNConfig,
    batch_size: int,
    probes: Sequence[Tuple[int, Optional[int]]] = PEAK_PROBES,
    make_step: StepFactory = network_step,
) -> NetworkPeakModel:
    """Measure :func:`peak_bytes` of the steps ``make_step`` builds at ``batch_size`` on short
    ``probes`` ``(T, checkpoint_every)`` and fit :class:`NetworkPeakModel` (fp32, CPU). The
    global RNG (which the probe models' initialisation draws from) is restored afterwards."""
    full_rows, full_y, seg_rows, seg_y = [], [], [], []
    for steps, every in probes:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(0)
            step = make_step(dataclasses.replace(cfg, checkpoint_every=every, memory_budget_mb=None), batch_size, steps)
            measured = float(peak_bytes(step))
        if every is None:
            full_rows.append([1.0, steps])
            full_y.append(measured)
        else:
            seg_rows.append([1.0, steps, every, math.ceil(steps / every)])
            seg_y.append(measured)
    return NetworkPeakModel(batch_size, _lstsq(full_rows, full_y), _lstsq(seg_rows, seg_y))


def checkpoint_every_for_budget(model: NetworkPeakModel, time_steps: int, budget_bytes: int) -> Optional[int]:
    """``None`` when full BPTT fits ``budget_bytes``, else the largest ``checkpoint_every`` in
    [1, T] whose predicted peak fits. Raises ``ConfigError`` when none does."""
    if model.predict(time_steps) <= budget_bytes:
        return None
    fits = [k for k in range(time_steps, 0, -1) if model.predict(time_steps, k) <= budget_bytes]
    if fits:
        return fits[0]
    best = min(model.predict(time_steps, k) for k in range(1, time_steps + 1))
    raise ConfigError(
        f"snn.memory_budget_mb={budget_bytes / 2**20:g} is below the smallest predicted peak of a training step, "
        f"{best / 2**20:.1f} MB (batch size {model.batch_size}, T={time_steps}); allowed: a larger budget, "
        f"or a smaller data.batch_size"
    )


def resolve_memory_budget(
    cfg: SNNConfig, batch_size: int, time_steps: int, make_step: StepFactory = network_step
) -> SNNConfig:
    """Check ``cfg.checkpoint_every`` against ``time_steps`` and turn ``cfg.memory_budget_mb`` into
    ``checkpoint_every`` (logged) for the step ``make_step`` builds (``train.py``: the real training
    step); the returned config has ``memory_budget_mb=None``.

    Raises ``ConfigError`` naming the field when ``checkpoint_every > time_steps`` or no
    ``checkpoint_every`` fits the budget.
    """
    if cfg.checkpoint_every is not None and cfg.checkpoint_every > time_steps:
        raise ConfigError(
            f"snn.checkpoint_every={cfg.checkpoint_every} is larger than the sequence (T={time_steps} steps); "
            f"allowed: 1 <= checkpoint_every <= {time_steps}, or null (no checkpointing)"
        )
    if cfg.memory_budget_mb is None:
        return cfg
    model = fit_network_peak(cfg, batch_size, make_step=make_step)
    every = checkpoint_every_for_budget(model, time_steps, int(cfg.memory_budget_mb * 2**20))
    log.info(
        "snn.memory_budget_mb=%g -> snn.checkpoint_every=%s (predicted peak of a training step %.1f MB; full BPTT %.1f MB; "
        "batch size %d, T=%d, fp32)",
        cfg.memory_budget_mb,
        every,
        model.predict(time_steps, every) / 2**20,
        model.predict(time_steps) / 2**20,
        batch_size,
        time_steps,
    )
    return dataclasses.replace(cfg, checkpoint_every=every, memory_budget_mb=None)
