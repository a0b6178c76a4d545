"""The one switch that picks the implementation of a neuron layer's sequence: :func:`resolve_backend`.

Choices (:class:`~brain_ai.config.Backend`; ``NeuronConfig.backend``, ``forward_sequence(backend=)``,
``fused_lif_sequence(backend=)``):

* ``eager``: the generic per-step unroll (:func:`brain_ai.core.unroll.run_segments` over the neuron's step), any neuron;
* ``fused``: a whole-sequence autograd Function with a PyTorch time loop: :mod:`brain_ai.core.fused`
  (LIF / adaptive LIF) or :mod:`brain_ai.core.fused_recurrent` (recurrent adaptive LIF), without
  synaptic current or refractoriness;
* ``triton``: the fused Function running Triton kernels (:mod:`brain_ai.core.fused_triton` for LIF /
  adaptive LIF, :mod:`brain_ai.core.fused_recurrent_triton` for the recurrent adaptive LIF), on CUDA
  tensors, or on CPU tensors under the Triton interpreter (``TRITON_INTERPRET=1`` set before
  ``triton`` is first imported: that is how the tests run it without a GPU);
* ``auto`` (the default): ``triton`` on CUDA when it can run and the layer's kernel has been
  verified on a GPU (the layer class's ``auto_triton``), else ``fused`` when the layer supports it,
  else ``eager``.

Asking for a backend that cannot run is an error naming the choice and the reason; nothing
falls back silently. Which backends a layer has is declared on its class
(:attr:`~brain_ai.core.neurons.base.LeakyCellBase.backends`, refined by its
``backend_unsupported``); a layer resolves ``NeuronConfig.backend`` once, when it is built and
whenever it is moved (``.to(device)``), stores the result (``layer.backend``, shown in its repr)
and runs every sequence with it.
"""

from __future__ import annotations

import functools
from types import ModuleType
from typing import Optional, Union

import torch

from brain_ai.config import Backend, ConfigError, coerce_enum
from brain_ai.core.surrogates import Surrogate

__all__ = ["recurrent_triton_kernels", "triton_kernels", "triton_unsupported", "resolve_backend"]


@functools.lru_cache(maxsize=None)
def triton_kernels() -> Optional[ModuleType]:
    """:mod:`brain_ai.core.fused_triton`, or None when triton is not importable (checked once)."""
    try:
        from brain_ai.core import fused_triton
    except ImportError:
        return None
    return fused_triton


@functools.lru_cache(maxsize=None)
def recurrent_triton_kernels() -> Optional[ModuleType]:
    """:mod:`brain_ai.core.fused_recurrent_triton`, or None when triton is not importable (checked once)."""
    if triton_kernels() is None:
        return None
    from brain_ai.core import fused_recurrent_triton

    return fused_recurrent_triton


def triton_unsupported(device: Union[torch.device, str], surrogate: Surrogate) -> Optional[str]:
    """None when the Triton kernels can run for tensors on ``device`` with ``surrogate``, else why not."""
    kernels = triton_kernels()
    if kernels is None:
        return "triton is not importable"
    if not kernels.surrogate_supported(surrogate):
        return f"the kernel does not implement the surrogate {type(surrogate).__name__} (built-in surrogates only)"
    kind = torch.device(device).type
    if kind == "cuda" or (kind == "cpu" and kernels.interpreted()):
        return None
    return (
        f"tensors are on {kind}; the kernels run CUDA tensors, or CPU tensors under the Triton "
        "interpreter (TRITON_INTERPRET=1 set before triton is imported)"
    )


def resolve_backend(
    requested: Union[Backend, str],
    device: Union[torch.device, str],
    surrogate: Optional[Surrogate],
    fused_reason: Optional[str],
    *,
    owner: str = "resolve_backend",
    triton_reason: Optional[str] = None,
    auto_triton: bool = True,
) -> Backend:
    """The backend that runs: ``eager``, ``fused`` or ``triton`` (never ``auto``).

    Args:
        requested: the user's choice (a :class:`Backend` or its name).
        device: where the input tensors are.
        surrogate: the layer's surrogate (the Triton kernels implement the built-in ones);
            unused when ``fused_reason`` is set.
        fused_reason: None when the fused Function can run the layer, else why not
            (the layer's ``backend_unsupported(Backend.fused)``).
        owner: named in errors (e.g. ``"LIFNeuron.forward_sequence"``).
        triton_reason: None when the Triton kernels implement the layer, else why not
            (the layer's ``backend_unsupported(Backend.triton)``); ``auto`` then never picks ``triton``.
        auto_triton: False: ``auto`` never picks ``triton`` (a kernel not yet verified on a GPU: the
            layer's ``auto_triton``); ``triton`` itself still runs.

    Raises:
        ConfigError: ``fused`` / ``triton`` asked for where they cannot run (the message names
            the choice and the reason), or an unknown name.
    """
    requested = coerce_enum(owner, "backend", requested, Backend)
    if requested is Backend.eager:
        return Backend.eager
    if requested is Backend.auto:
        if fused_reason is not None:
            return Backend.eager
        on_cuda = torch.device(device).type == "cuda"
        triton_ok = auto_triton and triton_reason is None and triton_unsupported(device, surrogate) is None
        return Backend.triton if on_cuda and triton_ok else Backend.fused
    if fused_reason is not None:
        raise ConfigError(f"{owner}: backend={requested.value!r} cannot run: {fused_reason}; use backend=auto or eager")
    if requested is Backend.triton:
        reason = triton_reason if triton_reason is not None else triton_unsupported(device, surrogate)
        if reason is not None:
            raise ConfigError(f"{owner}: backend='triton' cannot run: {reason}; use backend=auto, fused or eager")
    return requested
