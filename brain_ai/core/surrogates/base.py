r"""The spike function and the :class:`Surrogate` base: parameters, domain checks, normalisation.

A surrogate declares its parameters (:class:`Param`: name, default, domain) and implements
``surrogate_grad(x)``, the pseudo-derivative at its own (published) scale. ``grad(x)`` is what the
backward pass uses: ``surrogate_grad(x) / peak()`` when ``normalize=True`` (the default: peak
gradient 1.0), ``surrogate_grad(x)`` itself when ``normalize=False``. It may also define
``surrogate_fun(x)`` (as braintools does), the smooth forward whose derivative is ``surrogate_grad``: for
analysis and plots only (``fun(x)``, scaled like ``grad``); training always fires the Heaviside.
"""

from __future__ import annotations

import abc
import math
from dataclasses import dataclass
from typing import Any, Callable, Dict, Optional, Tuple

import torch
from torch import Tensor

from brain_ai.config import check_range


class SpikeFunction(torch.autograd.Function):
    """Heaviside forward (``x > 0`` in x's dtype); backward ``grad_out * surrogate.grad(x)``.

    Written in the ``setup_context`` style with ``generate_vmap_rule = True``, so it works under
    ``torch.func.vmap`` / ``torch.func.grad`` as well as plain autograd.
    """

    generate_vmap_rule = True

    @staticmethod
    def forward(x: Tensor, surrogate: "Surrogate") -> Tensor:  # type: ignore[override]
        return (x > 0).to(x.dtype)

    @staticmethod
    def setup_context(ctx, inputs, output) -> None:  # noqa: ANN001
        x, surrogate = inputs
        ctx.save_for_backward(x)
        ctx.surrogate = surrogate

    @staticmethod
    def backward(ctx, grad_output: Tensor):  # noqa: ANN001
        (x,) = ctx.saved_tensors
        return ctx.surrogate.grad_times(x, grad_output), None


@dataclass(frozen=True)
class Param:
    """One surrogate parameter: its default and its domain ``low (<)<= value`` (integer if asked)."""

    name: str
    default: float
    low: float = 0.0
    low_inclusive: bool = False
    integer: bool = False

    def check(self, owner: str, value: Any) -> Any:
        """``value`` validated (a float, or an int for integer parameters); ConfigError naming it if not."""
        if self.integer and isinstance(value, float) and value.is_integer():
            value = int(value)  # YAML / Hydra give 4.0 for 4
        check_range(owner, self.name, value, low=self.low, low_inclusive=self.low_inclusive, integer=self.integer)
        return int(value) if self.integer else float(value)


class Surrogate(abc.ABC):
    """Base class: Heaviside forward, ``grad(x)`` backward, ``x = v - v_th``.

    Subclasses set ``name`` (registry key), ``params`` (a tuple of :class:`Param`), implement
    :meth:`surrogate_grad` and, when that is not already peak 1, :meth:`peak`. Parameters are
    passed by position (in ``params`` order) or by name and become attributes of the instance.
    """

    name: str = ""
    params: Tuple[Param, ...] = (Param("alpha", 1.0),)

    def __init__(self, *args: Any, normalize: bool = True, **kwargs: Any) -> None:
        owner = type(self).__name__
        names = [p.name for p in self.params]
        if len(args) > len(names):
            raise TypeError(f"{owner}: takes {len(names)} parameter(s) ({', '.join(names) or 'none'}), got {len(args)}")
        given: Dict[str, Any] = dict(zip(names, args))
        for key, value in kwargs.items():
            if key not in names:
                raise TypeError(f"{owner}: unknown parameter {key!r}; allowed: {', '.join(names) or 'none'}")
            if key in given:
                raise TypeError(f"{owner}: parameter {key!r} given twice")
            given[key] = value
        for p in self.params:
            value = given.get(p.name)
            setattr(self, p.name, p.check(owner, p.default if value is None else value))
        if not isinstance(normalize, bool):
            raise TypeError(f"{owner}: normalize={normalize!r} must be a bool")
        self.normalize = normalize
        if normalize:
            peak = self.peak()
            if not (math.isfinite(peak) and peak > 0):
                raise ValueError(f"{owner}: cannot normalise, peak gradient {peak!r} <= 0 for {self._param_text()}")

    @abc.abstractmethod
    def surrogate_grad(self, x: Tensor) -> Tensor:
        """Pseudo-derivative at the surrogate's own scale (same shape and dtype as ``x``)."""

    def surrogate_fun(self, x: Tensor) -> Tensor:
        """The smooth forward at the surrogate's own scale: ``d/dx surrogate_fun = surrogate_grad``.

        Optional (analysis only): braintools' form where it has one, else the antiderivative that
        is 0 at -inf; built-ins with a closed form define it, the others raise.
        """
        raise NotImplementedError(
            f"{type(self).__name__} defines no surrogate_fun (smooth forward), only surrogate_grad"
        )

    def peak(self) -> float:
        """Largest value of :meth:`surrogate_grad` (the normaliser); 1.0 for shapes already peak 1."""
        return 1.0

    def has_surrogate_fun(self) -> bool:
        """True when this surrogate defines :meth:`surrogate_fun` (its class or a ``fun_fn``)."""
        return type(self).surrogate_fun is not Surrogate.surrogate_fun

    def grad(self, x: Tensor) -> Tensor:
        """The backward's d spike / d x at ``x = v - v_th``: peak 1 if ``normalize`` else the raw scale."""
        g = self.surrogate_grad(x)
        return g * (1.0 / self.peak()) if self.normalize else g

    def grad_times(self, x: Tensor, grad_output: Tensor) -> Tensor:
        """``grad_output * grad(x)`` in ``grad_output``'s dtype (the spike's backward), with the
        normalisation folded into the product: one pass over the tensor instead of two."""
        scale = 1.0 / self.peak() if self.normalize else 1.0
        g = self.surrogate_grad(x).to(grad_output.dtype)
        return torch.addcmul(grad_output.new_zeros(()), g, grad_output, value=scale)  # (scale g) go: grad(x) go

    def fun(self, x: Tensor) -> Tensor:
        """:meth:`surrogate_fun` on the backward's scale (divided by the peak when ``normalize``)."""
        f = self.surrogate_fun(x)
        return f / self.peak() if self.normalize else f

    def __call__(self, x: Tensor) -> Tensor:
        """Spike of ``x = v - v_th``: 1.0 where x > 0 else 0.0, surrogate gradient in backward."""
        return SpikeFunction.apply(x, self)

    def _param_text(self) -> str:
        return ", ".join(f"{p.name}={getattr(self, p.name)!r}" for p in self.params)

    def __repr__(self) -> str:
        extra = "" if self.normalize else (", " if self.params else "") + "normalize=False"
        return f"{type(self).__name__}({self._param_text()}{extra})"

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and other.__dict__ == self.__dict__

    def __hash__(self) -> int:
        return hash((type(self).__name__, tuple(getattr(self, p.name) for p in self.params), self.normalize))


class CustomSurrogate(Surrogate):
    """Wrap a user function ``grad_fn(x, alpha) -> Tensor`` (and optionally ``fun_fn``) as a surrogate.

    ``grad_fn`` (and ``fun_fn``, the smooth forward whose derivative is ``grad_fn``, for analysis)
    must be module-level functions (not lambdas or closures) for the surrogate to pickle. Its peak
    is not normalised for you (``peak()`` is 1): document what you choose.
    """

    name = "custom"

    def __init__(
        self,
        grad_fn: Callable[[Tensor, float], Tensor],
        alpha: Optional[float] = None,
        fun_fn: Optional[Callable[[Tensor, float], Tensor]] = None,
    ) -> None:
        for arg, fn in (("grad_fn", grad_fn), ("fun_fn", fun_fn)):
            if not (callable(fn) or (arg == "fun_fn" and fn is None)):
                raise TypeError(f"CustomSurrogate: {arg} must be callable, got {type(fn).__name__}")
        super().__init__(alpha)
        self.grad_fn = grad_fn
        self.fun_fn = fun_fn

    def surrogate_grad(self, x: Tensor) -> Tensor:
        return self.grad_fn(x, self.alpha)

    def surrogate_fun(self, x: Tensor) -> Tensor:
        if self.fun_fn is None:
            return super().surrogate_fun(x)
        return self.fun_fn(x, self.alpha)

    def has_surrogate_fun(self) -> bool:
        return self.fun_fn is not None

    def __repr__(self) -> str:
        return f"CustomSurrogate({getattr(self.grad_fn, '__qualname__', self.grad_fn)!r}, alpha={self.alpha})"

    def __hash__(self) -> int:
        return hash(("custom", id(self.grad_fn), self.alpha))
