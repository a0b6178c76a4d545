r"""Spike functions: exact Heaviside forward, surrogate-gradient backward.

A surrogate is a small picklable object with a width/slope parameter ``alpha`` and a method
``grad(x)`` giving the pseudo-derivative :math:`\sigma'(x)` used in the backward pass, where
``x = v - v_th`` is the distance of the membrane to threshold. Calling it applies the spike:

>>> sg = ATan()
>>> spikes = sg(v - v_th)          # forward: (v - v_th > 0) as 0.0 / 1.0 in v's dtype
>>> # backward: d spikes / d v = sg.grad(v - v_th);  d spikes / d v_th = -sg.grad(v - v_th)

Every built-in is normalised so that its peak gradient, at ``x = 0``, is exactly 1.0
(the SpikingJelly convention), whatever ``alpha`` is:

==========================  ======================================  ==========  ===============
name                        grad(x)                                 alpha dflt  note
==========================  ======================================  ==========  ===============
``atan``                    1 / (1 + (pi/2 * alpha * x)^2)          2.0         SpikingJelly ATan
``fast_sigmoid``            1 / (1 + alpha * |x|)^2                 25.0        snnTorch slope
``superspike``              1 / (1 + alpha * |x|)^2                 10.0        Zenke & Ganguli
``softsign``                1 / (1 + alpha * |x|)^2                 2.0         SpikingJelly SoftSign
``ste``                     1                                       --          straight-through
``sigmoid``                 4 * s * (1 - s),  s = sigmoid(alpha x)  4.0
``triangle``                max(0, 1 - alpha * |x|)                 1.0         ReLU-shaped
``piecewise_quadratic``     max(0, 1 - (alpha * x)^2)               1.0
``gaussian``                exp(-x^2 / (2 alpha^2))                 0.5         alpha = sigma
``erf``                     exp(-(alpha * x)^2)                     2.0         d/dx erfc(-alpha x)/2
==========================  ======================================  ==========  ===============

``fast_sigmoid``, ``superspike`` and ``softsign`` have the same normalised shape; they differ
by their customary default slope only. A custom surrogate is a subclass that sets ``name`` and
``default_alpha`` and implements ``grad``; or wrap a module-level function with
:class:`CustomSurrogate` (module-level so that it pickles).
"""

from __future__ import annotations

import abc
import math
from typing import Callable, Dict, Optional, Type

import torch
from torch import Tensor

from brain_ai.core.registry import register


class SpikeFunction(torch.autograd.Function):
    """Heaviside forward (``x > 0`` in x's dtype); backward ``grad_out * surrogate.grad(x)``."""

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
        return grad_output * ctx.surrogate.grad(x).to(grad_output.dtype), None


class Surrogate(abc.ABC):
    """Base class: Heaviside forward, ``grad(x)`` backward; peak of ``grad`` at 0 is 1.0."""

    name: str = ""
    default_alpha: Optional[float] = 1.0

    def __init__(self, alpha: Optional[float] = None) -> None:
        alpha = self.default_alpha if alpha is None else alpha
        if alpha is not None and (not isinstance(alpha, (int, float)) or not math.isfinite(alpha) or alpha <= 0):
            raise ValueError(f"{type(self).__name__}: alpha={alpha!r} must be a finite number > 0")
        self.alpha = None if alpha is None else float(alpha)

    @abc.abstractmethod
    def grad(self, x: Tensor) -> Tensor:
        """Pseudo-derivative d spike / d x at ``x = v - v_th`` (same shape and dtype as ``x``)."""

    def __call__(self, x: Tensor) -> Tensor:
        """Spike of ``x = v - v_th``: 1.0 where x > 0 else 0.0, surrogate gradient in backward."""
        return SpikeFunction.apply(x, self)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(alpha={self.alpha})"

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and other.__dict__ == self.__dict__

    def __hash__(self) -> int:
        return hash((type(self).__name__, self.alpha))


class ATan(Surrogate):
    name = "atan"
    default_alpha = 2.0

    def grad(self, x: Tensor) -> Tensor:
        return 1.0 / (1.0 + (0.5 * math.pi * self.alpha * x) ** 2)


class FastSigmoid(Surrogate):
    name = "fast_sigmoid"
    default_alpha = 25.0

    def grad(self, x: Tensor) -> Tensor:
        return 1.0 / (1.0 + self.alpha * x.abs()) ** 2


class SuperSpike(FastSigmoid):
    name = "superspike"
    default_alpha = 10.0


class SoftSign(FastSigmoid):
    name = "softsign"
    default_alpha = 2.0


class STE(Surrogate):
    name = "ste"
    default_alpha = None

    def grad(self, x: Tensor) -> Tensor:
        return torch.ones_like(x)


class Sigmoid(Surrogate):
    name = "sigmoid"
    default_alpha = 4.0

    def grad(self, x: Tensor) -> Tensor:
        s = torch.sigmoid(self.alpha * x)
        return 4.0 * s * (1.0 - s)


class Triangle(Surrogate):
    name = "triangle"
    default_alpha = 1.0

    def grad(self, x: Tensor) -> Tensor:
        return torch.clamp(1.0 - self.alpha * x.abs(), min=0.0)


class PiecewiseQuadratic(Surrogate):
    name = "piecewise_quadratic"
    default_alpha = 1.0

    def grad(self, x: Tensor) -> Tensor:
        return torch.clamp(1.0 - (self.alpha * x) ** 2, min=0.0)


class Gaussian(Surrogate):
    name = "gaussian"
    default_alpha = 0.5

    def grad(self, x: Tensor) -> Tensor:
        return torch.exp(-(x**2) / (2.0 * self.alpha**2))


class Erf(Surrogate):
    name = "erf"
    default_alpha = 2.0

    def grad(self, x: Tensor) -> Tensor:
        return torch.exp(-((self.alpha * x) ** 2))


class CustomSurrogate(Surrogate):
    """Wrap a user function ``grad_fn(x, alpha) -> Tensor`` as a surrogate.

    ``grad_fn`` must be a module-level function (not a lambda or closure) for the surrogate to
    pickle. Its peak is not normalised for you: document what you choose.
    """

    name = "custom"
    default_alpha = 1.0

    def __init__(self, grad_fn: Callable[[Tensor, float], Tensor], alpha: Optional[float] = None) -> None:
        if not callable(grad_fn):
            raise TypeError(f"CustomSurrogate: grad_fn must be callable, got {type(grad_fn).__name__}")
        super().__init__(alpha)
        self.grad_fn = grad_fn

    def grad(self, x: Tensor) -> Tensor:
        return self.grad_fn(x, self.alpha)

    def __repr__(self) -> str:
        return f"CustomSurrogate({getattr(self.grad_fn, '__qualname__', self.grad_fn)!r}, alpha={self.alpha})"

    def __hash__(self) -> int:
        return hash(("custom", id(self.grad_fn), self.alpha))


#: Built-in surrogates by lower-case name. Add yours with :func:`register_surrogate`.
SURROGATES: Dict[str, Type[Surrogate]] = {
    cls.name: cls
    for cls in (ATan, FastSigmoid, SuperSpike, SoftSign, STE, Sigmoid, Triangle, PiecewiseQuadratic, Gaussian, Erf)
}


def register_surrogate(cls: Type[Surrogate]) -> Type[Surrogate]:
    """Add a :class:`Surrogate` subclass to :data:`SURROGATES` under ``cls.name`` (usable as a decorator)."""
    return register(SURROGATES, cls, Surrogate, "surrogate")


def get_surrogate(name: "str | Surrogate", alpha: Optional[float] = None) -> Surrogate:
    """Return a surrogate instance by registry name (or pass an instance through unchanged)."""
    if isinstance(name, Surrogate):
        return name
    key = getattr(name, "value", name)
    if not isinstance(key, str) or key.lower() not in SURROGATES:
        raise ValueError(f"unknown surrogate {name!r}; allowed: {', '.join(sorted(SURROGATES))}")
    return SURROGATES[key.lower()](alpha)
