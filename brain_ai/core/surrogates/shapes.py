r"""brain_ai's own surrogate names: peer defaults of catalogue shapes, and two extra shapes.

``atan``, ``superspike`` and ``triangle`` are catalogue classes under the name and default a peer
library uses (so ``normalize=False`` gives that peer's scale too); ``fast_sigmoid`` is the
``inv_square_grad`` shape at Edifice's scale (the derivative of the fast sigmoid itself);
``ste``, ``parabola`` and ``gaussian`` are shapes of their own, already peak 1 (``normalize``
changes nothing for them).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from brain_ai.core.surrogates.base import Param, Surrogate
from brain_ai.core.surrogates.catalogue import Arctan, InvSquareGrad, PiecewiseQuadratic


class ATan(Arctan):
    """SpikingJelly's ATan: braintools' ``arctan`` with SpikingJelly's default ``alpha = 2``."""

    name = "atan"
    params = (Param("alpha", 2.0),)


class FastSigmoid(Surrogate):
    """The derivative of the fast sigmoid ``alpha x / (1 + alpha |x|)``: ``alpha / (1 + alpha |x|)^2``, slope 25.

    Peak ``alpha``. ``normalize=False`` is Edifice's surrogate exactly; normalised
    it is snnTorch's ``fast_sigmoid(slope)`` and ``inv_square_grad``: ``1 / (1 + alpha |x|)^2``.
    """

    name = "fast_sigmoid"
    params = (Param("alpha", 25.0),)

    def surrogate_grad(self, x: Tensor) -> Tensor:
        return self.alpha / (self.alpha * x.abs() + 1.0) ** 2

    def surrogate_fun(self, x: Tensor) -> Tensor:
        return 1.0 + self.alpha * x / (self.alpha * x.abs() + 1.0)

    def peak(self) -> float:
        return self.alpha


class SuperSpike(InvSquareGrad):
    """SuperSpike (Zenke & Ganguli) ``1 / (1 + beta |x|)^2`` (= ``inv_square_grad``), beta 10."""

    name = "superspike"
    params = (Param("alpha", 10.0),)


class Triangle(PiecewiseQuadratic):
    """``max(0, 1 - alpha |x|)`` normalised: braintools' ``piecewise_quadratic`` under its shape's name."""

    name = "triangle"


class STE(Surrogate):
    """Straight-through estimator: gradient 1 everywhere."""

    name = "ste"
    params = ()

    def surrogate_grad(self, x: Tensor) -> Tensor:
        return torch.ones_like(x)

    def surrogate_fun(self, x: Tensor) -> Tensor:
        return x.clone()


class Parabola(Surrogate):
    """``max(0, 1 - (alpha x)^2)`` (brain_ai's former ``piecewise_quadratic``)."""

    name = "parabola"

    def surrogate_grad(self, x: Tensor) -> Tensor:
        return torch.clamp(1.0 - (self.alpha * x) ** 2, min=0.0)

    def surrogate_fun(self, x: Tensor) -> Tensor:
        u = torch.clamp(self.alpha * x, -1.0, 1.0)  # flat 0 / 4/(3 alpha) outside |x| <= 1/alpha
        return (u - u**3 / 3.0 + 2.0 / 3.0) / self.alpha


class Gaussian(Surrogate):
    """``exp(-x^2 / (2 alpha^2))``: ``alpha`` is the width sigma (= normalised ``gaussian_grad``)."""

    name = "gaussian"
    params = (Param("alpha", 0.5),)

    def surrogate_grad(self, x: Tensor) -> Tensor:
        return torch.exp(-(x**2) / (2.0 * self.alpha**2))

    def surrogate_fun(self, x: Tensor) -> Tensor:
        return math.sqrt(math.pi / 2.0) * self.alpha * torch.erfc(-x / (math.sqrt(2.0) * self.alpha))


#: brain_ai's own names, registered next to the catalogue.
SHAPES = (ATan, FastSigmoid, SuperSpike, Triangle, STE, Parabola, Gaussian)
