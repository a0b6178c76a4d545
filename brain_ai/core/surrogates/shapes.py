r"""brain_ai's own surrogate names: peer defaults of catalogue shapes, and two extra shapes.

``atan``, ``fast_sigmoid``, ``superspike`` and ``triangle`` are catalogue classes under the name
and default a peer library uses (so ``normalize=False`` gives that peer's scale too); ``ste``,
``parabola`` and ``gaussian`` are shapes of their own, already peak 1 (``normalize`` changes
nothing for them).
"""

from __future__ import annotations

import torch
from torch import Tensor

from brain_ai.core.surrogates.base import Param, Surrogate
from brain_ai.core.surrogates.catalogue import Arctan, InvSquareGrad, PiecewiseQuadratic


class ATan(Arctan):
    """SpikingJelly's ATan: braintools' ``arctan`` with SpikingJelly's default ``alpha = 2``."""

    name = "atan"
    params = (Param("alpha", 2.0),)


class FastSigmoid(InvSquareGrad):
    """snnTorch's fast sigmoid ``1 / (1 + slope |x|)^2`` (= ``inv_square_grad``), slope 25."""

    name = "fast_sigmoid"
    params = (Param("alpha", 25.0),)


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


class Parabola(Surrogate):
    """``max(0, 1 - (alpha x)^2)`` (brain_ai's former ``piecewise_quadratic``)."""

    name = "parabola"

    def surrogate_grad(self, x: Tensor) -> Tensor:
        return torch.clamp(1.0 - (self.alpha * x) ** 2, min=0.0)


class Gaussian(Surrogate):
    """``exp(-x^2 / (2 alpha^2))``: ``alpha`` is the width sigma (= normalised ``gaussian_grad``)."""

    name = "gaussian"
    params = (Param("alpha", 0.5),)

    def surrogate_grad(self, x: Tensor) -> Tensor:
        return torch.exp(-(x**2) / (2.0 * self.alpha**2))


#: brain_ai's own names, registered next to the catalogue.
SHAPES = (ATan, FastSigmoid, SuperSpike, Triangle, STE, Parabola, Gaussian)
