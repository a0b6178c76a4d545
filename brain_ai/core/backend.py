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
* ``compiled``: the recurrent adaptive LIF Function with its time loops compiled by numba
  (:mod:`brain_ai.core.compiled_recurrent`): CPU tensors, float32 / float64 state;
* ``auto`` (the default): ``triton`` on CUDA when it can run and the layer's kernel has been
  verified on a GPU (the layer class's ``auto_triton``), else ``compiled`` when the layer has it and it
  can run (:func:`compiled_unsupported`), else ``fused`` when the layer supports it, else ``eager``.
  Where only numba is missing, ``auto`` logs that once and runs ``fused``.

Asking for a backend that cannot run is an error naming the choice and the reason; nothing
falls back silently. Which backends a layer has is declared on its class
(:attr:`~brain_ai.core.neurons.base.LeakyCellBase.backends`, refined by its
``backend_unsupported``); a layer resolves ``NeuronConfig.backend`` once, when it is built and
whenever it is moved (``.to(device)``), stores the result (``layer.backend``, shown in its repr)
and runs every sequence with it.
"""

from __future__ import annotations

import functools
import logging
from types import ModuleType
from typing import Optional, Union

import torch

from brain_ai.config import COMPILED_NEURON_TYPES, Backend, ConfigError, NeuronType, coerce_enum
from brain_ai.core.surrogates import Surrogate

__all__ = [
    "COMPILED_DTYPES",
    "compiled_loops",
    "compiled_unsupported",
    "recurrent_triton_kernels",
    "triton_kernels",
    "triton_unsupported",
    "resolve_backend",
]

log = logging.getLogger(__name__)

#: State dtypes the compiled loops run (``backend=compiled``).
COMPILED_DTYPES = (torch.float32, torch.float64)


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


@functools.lru_cache(maxsize=None)
def compiled_loops() -> Optional[ModuleType]:
    """:mod:`brain_ai.core.compiled_recurrent_loops` (imports numba), or None without numba: checked
    once, and logged then, because ``auto`` falls back to the fused PyTorch loop."""
    try:
        from brain_ai.core import compiled_recurrent_loops
    except ImportError as err:
        log.warning(
            "backend=auto: numba is not importable (%s); the recurrent LIF runs its PyTorch time loop (fused)", err
        )
        return None
    return compiled_recurrent_loops


def compiled_unsupported(
    owner: str, neuron_type: Optional[NeuronType], device: Union[torch.device, str], dtype: Optional[torch.dtype]
) -> Optional[str]:
    """None when the compiled loops run ``owner`` (a layer of ``neuron_type``) for a state of ``dtype``
    on ``device``, else why not (``dtype`` None: not checked, as when a layer is built)."""
    if neuron_type not in COMPILED_NEURON_TYPES:
        allowed = ", ".join(sorted(t.value for t in COMPILED_NEURON_TYPES))
        return f"{owner} has no compiled loop (compiled neuron types: {allowed})"
    kind = torch.device(device).type
    if kind != "cpu":
        return f"tensors are on {kind}; the compiled loop runs CPU tensors"
    if dtype is not None and dtype not in COMPILED_DTYPES:
        allowed = ", ".join(str(d).replace("torch.", "") for d in COMPILED_DTYPES)
        return f"the state dtype is {str(dtype).replace('torch.', '')}; allowed: {allowed}"
    if compiled_loops() is None:
        return "numba is not importable (pip install numba)"
    return None


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
    compiled_reason: Optional[str] = "the layer has no compiled loop",
) -> Backend:
    """The backend that runs: ``eager``, ``fused``, ``triton`` or ``compiled`` (never ``auto``).

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
        compiled_reason: None when the compiled loops run the layer here, else why not
            (the layer's ``backend_unsupported(Backend.compiled)``, :func:`compiled_unsupported`);
            ``auto`` then never picks ``compiled``.

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
        if on_cuda and triton_ok:
            return Backend.triton
        return Backend.compiled if compiled_reason is None else Backend.fused
    if fused_reason is not None:
        raise ConfigError(f"{owner}: backend={requested.value!r} cannot run: {fused_reason}; use backend=auto or eager")
    if requested is Backend.compiled and compiled_reason is not None:
        raise ConfigError(
            f"{owner}: backend='compiled' cannot run: {compiled_reason}; use backend=auto, fused or eager"
        )
    if requested is Backend.triton:
        reason = triton_reason if triton_reason is not None else triton_unsupported(device, surrogate)
        if reason is not None:
            raise ConfigError(f"{owner}: backend='triton' cannot run: {reason}; use backend=auto, fused or eager")
    return requested
