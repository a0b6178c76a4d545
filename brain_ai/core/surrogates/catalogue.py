r"""The braintools surrogate catalogue, formulas of braintools >= 0.2.0.

Each class implements ``surrogate_grad`` exactly as braintools defines it (same parameters, same
defaults, same scale) and ``peak`` (its largest value), so that ``normalize=True`` divides the
gradient to peak 1; those with a closed-form antiderivative also implement ``surrogate_fun``
(braintools' smooth forward where it defines one). ``x = v - v_th``; ``s(u) = sigmoid(u)``.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from brain_ai.core.surrogates.base import Param, Surrogate

_SQRT_PI = math.sqrt(math.pi)
_SQRT_2PI = math.sqrt(2.0 * math.pi)


def _const(x: Tensor, value: float) -> Tensor:
    """A tensor like ``x`` filled with ``value`` (torch.where with two floats would give float32)."""
    return torch.full_like(x, value)


class Sigmoid(Surrogate):
    """``alpha s(alpha x) (1 - s(alpha x))``; peak ``alpha / 4``."""

    name = "sigmoid"
    params = (Param("alpha", 4.0),)

    def surrogate_grad(self, x: Tensor) -> Tensor:
        s = torch.sigmoid(self.alpha * x)
        return self.alpha * s * (1.0 - s)

    def surrogate_fun(self, x: Tensor) -> Tensor:
        return torch.sigmoid(self.alpha * x)

    def peak(self) -> float:
        return self.alpha / 4.0


class PiecewiseQuadratic(Surrogate):
    """Triangle ``alpha - alpha^2 |x|`` on ``|x| <= 1/alpha``, else 0; peak ``alpha``."""

    name = "piecewise_quadratic"
    params = (Param("alpha", 1.0),)

    def surrogate_grad(self, x: Tensor) -> Tensor:
        ax = x.abs()
        return torch.where(ax > 1.0 / self.alpha, torch.zeros_like(x), self.alpha - self.alpha**2 * ax)

    def surrogate_fun(self, x: Tensor) -> Tensor:
        inner = 0.5 + self.alpha * x - 0.5 * self.alpha**2 * x * x.abs()
        return torch.where(x.abs() > 1.0 / self.alpha, (x > 0).to(x.dtype), inner)

    def peak(self) -> float:
        return self.alpha


class PiecewiseExp(Surrogate):
    """``alpha/2 exp(-alpha |x|)``; peak ``alpha / 2``."""

    name = "piecewise_exp"
    params = (Param("alpha", 1.0),)

    def surrogate_grad(self, x: Tensor) -> Tensor:
        return (self.alpha / 2.0) * torch.exp(-self.alpha * x.abs())

    def surrogate_fun(self, x: Tensor) -> Tensor:
        half = 0.5 * torch.exp(-self.alpha * x.abs())
        return torch.where(x < 0, half, 1.0 - half)

    def peak(self) -> float:
        return self.alpha / 2.0


class SoftSign(Surrogate):
    """``alpha/2 / (1 + |alpha x|)^2``; peak ``alpha / 2``."""

    name = "soft_sign"
    params = (Param("alpha", 1.0),)

    def surrogate_grad(self, x: Tensor) -> Tensor:
        return (self.alpha / 2.0) / (1.0 + (self.alpha * x).abs()) ** 2

    def surrogate_fun(self, x: Tensor) -> Tensor:
        return 0.5 + 0.5 * (self.alpha * x) / (1.0 + (self.alpha * x).abs())

    def peak(self) -> float:
        return self.alpha / 2.0


class Arctan(Surrogate):
    """``alpha/2 / (1 + (pi/2 alpha x)^2)``; peak ``alpha / 2``."""

    name = "arctan"
    params = (Param("alpha", 1.0),)

    def surrogate_grad(self, x: Tensor) -> Tensor:
        return (self.alpha / 2.0) / self._denominator(x)

    def _denominator(self, x: Tensor) -> Tensor:
        scaled = (math.pi / 2.0 * self.alpha) * x
        return torch.addcmul(x.new_ones(()), scaled, scaled)  # 1 + (pi/2 alpha x)^2, SpikingJelly's roundings

    def grad(self, x: Tensor) -> Tensor:
        # normalised, the numerator alpha/2 is the peak and cancels: three passes instead of five
        g = torch.reciprocal(self._denominator(x))
        return g if self.normalize else g * (self.alpha / 2.0)

    def grad_times(self, x: Tensor, grad_output: Tensor) -> Tensor:
        return self.grad(x).to(grad_output.dtype) * grad_output  # grad has no normalisation pass to fold

    def surrogate_fun(self, x: Tensor) -> Tensor:
        return 0.5 + torch.atan((math.pi / 2.0 * self.alpha) * x) / math.pi

    def peak(self) -> float:
        return self.alpha / 2.0


class NonzeroSignLog(Surrogate):
    """``1 / (1/alpha + |x|)``; peak ``alpha``."""

    name = "nonzero_sign_log"
    params = (Param("alpha", 1.0),)

    def surrogate_grad(self, x: Tensor) -> Tensor:
        return 1.0 / (1.0 / self.alpha + x.abs())

    def surrogate_fun(self, x: Tensor) -> Tensor:
        return torch.sign(x) * torch.log1p((self.alpha * x).abs())

    def peak(self) -> float:
        return 1.0 / (1.0 / self.alpha)


class ERF(Surrogate):
    """``alpha/sqrt(pi) exp(-alpha^2 x^2)`` (derivative of ``erfc(-alpha x)/2``); peak ``alpha/sqrt(pi)``."""

    name = "erf"
    params = (Param("alpha", 1.0),)

    def surrogate_grad(self, x: Tensor) -> Tensor:
        return (self.alpha / _SQRT_PI) * torch.exp(-(self.alpha**2) * x * x)

    def surrogate_fun(self, x: Tensor) -> Tensor:
        return 0.5 * torch.erfc(-self.alpha * x)

    def peak(self) -> float:
        return self.alpha / _SQRT_PI


class PiecewiseLeakyRelu(Surrogate):
    """``1/(2w)`` on ``|x| <= w``, ``c`` outside; peak ``max(c, 1/(2w))``."""

    name = "piecewise_leaky_relu"
    params = (Param("c", 0.01, low_inclusive=True), Param("w", 1.0))

    def surrogate_grad(self, x: Tensor) -> Tensor:
        return torch.where(x.abs() > self.w, _const(x, self.c), _const(x, 1.0 / (2.0 * self.w)))

    def peak(self) -> float:
        return max(self.c, 1.0 / (2.0 * self.w))


class SquarewaveFourierSeries(Surrogate):
    """``4/T sum_{i=1..n} cos((2i-1) 2 pi x / T)``; peak ``4 n / T`` (at x = 0; periodic in x)."""

    name = "squarewave_fourier_series"
    params = (Param("n", 2, low=1, low_inclusive=True, integer=True), Param("t_period", 8.0))

    def surrogate_grad(self, x: Tensor) -> Tensor:
        w = 2.0 * math.pi / self.t_period
        total = torch.cos(w * x)
        for i in range(2, self.n + 1):
            total = total + torch.cos((2 * i - 1.0) * w * x)
        return total * (4.0 / self.t_period)

    def peak(self) -> float:
        return self.n * (4.0 / self.t_period)


class S2NN(Surrogate):
    """``alpha s(alpha x)(1 - s(alpha x))`` for x < 0, ``beta / (x + 1)`` for x >= 0; peak ``max(alpha/4, beta)``.

    braintools' ``epsilon`` only enters its forward-analysis function, not the gradient, so it is
    not a parameter here.
    """

    name = "s2nn"
    params = (Param("alpha", 4.0), Param("beta", 1.0))

    def surrogate_grad(self, x: Tensor) -> Tensor:
        s = torch.sigmoid(self.alpha * x)
        neg = x < 0
        x_safe = torch.where(neg, torch.ones_like(x), x)  # the dead branch stays finite at x <= -1
        return torch.where(neg, self.alpha * s * (1.0 - s), self.beta / (x_safe + 1.0))

    def peak(self) -> float:
        return max(self.alpha / 4.0, self.beta)


class QPseudoSpike(Surrogate):
    """``(1 + 2|x|/(alpha + 1))^(-alpha)`` (tail fatness ``alpha``); peak 1."""

    name = "q_pseudo_spike"
    params = (Param("alpha", 2.0),)

    def surrogate_grad(self, x: Tensor) -> Tensor:
        return torch.pow(1.0 + (2.0 / (self.alpha + 1.0)) * x.abs(), -self.alpha)


class LeakyRelu(Surrogate):
    """``alpha`` for x < 0, ``beta`` for x >= 0; peak ``max(alpha, beta)``."""

    name = "leaky_relu"
    params = (Param("alpha", 0.1, low_inclusive=True), Param("beta", 1.0, low_inclusive=True))

    def surrogate_grad(self, x: Tensor) -> Tensor:
        return torch.where(x < 0, _const(x, self.alpha), _const(x, self.beta))

    def surrogate_fun(self, x: Tensor) -> Tensor:
        return torch.where(x < 0, self.alpha * x, self.beta * x)

    def peak(self) -> float:
        return max(self.alpha, self.beta)


class LogTailedRelu(Surrogate):
    """``alpha`` for x <= 0, 1 on (0, 1], ``1/x`` for x > 1; peak ``max(1, alpha)``."""

    name = "log_tailed_relu"
    params = (Param("alpha", 0.0, low_inclusive=True),)

    def surrogate_grad(self, x: Tensor) -> Tensor:
        tail = x > 1
        x_safe = torch.where(tail, x, torch.ones_like(x))  # 1/x stays finite in the dead branch
        return torch.where(tail, 1.0 / x_safe, torch.where(x > 0, torch.ones_like(x), _const(x, self.alpha)))

    def peak(self) -> float:
        return max(1.0, self.alpha)


class ReluGrad(Surrogate):
    """``max(0, alpha (width - |x|))``; peak ``alpha * width``."""

    name = "relu_grad"
    params = (Param("alpha", 0.3), Param("width", 1.0))

    def surrogate_grad(self, x: Tensor) -> Tensor:
        return torch.clamp(self.alpha * self.width - x.abs() * self.alpha, min=0.0)

    def peak(self) -> float:
        return self.alpha * self.width


class GaussianGrad(Surrogate):
    """``alpha N(x; 0, sigma^2) = alpha exp(-x^2/(2 sigma^2)) / (sqrt(2 pi) sigma)``; peak ``alpha/(sqrt(2 pi) sigma)``."""

    name = "gaussian_grad"
    params = (Param("sigma", 0.5), Param("alpha", 0.5))

    def surrogate_grad(self, x: Tensor) -> Tensor:
        return self.peak() * torch.exp(-(x**2) / (2.0 * self.sigma**2))

    def surrogate_fun(self, x: Tensor) -> Tensor:
        return 0.5 * self.alpha * torch.erfc(-x / (math.sqrt(2.0) * self.sigma))

    def peak(self) -> float:
        return self.alpha / (_SQRT_2PI * self.sigma)


class InvSquareGrad(Surrogate):
    """``1 / (alpha |x| + 1)^2``; peak 1."""

    name = "inv_square_grad"
    params = (Param("alpha", 100.0),)

    def surrogate_grad(self, x: Tensor) -> Tensor:
        return 1.0 / (self.alpha * x.abs() + 1.0) ** 2

    def surrogate_fun(self, x: Tensor) -> Tensor:
        return 1.0 / self.alpha + x / (self.alpha * x.abs() + 1.0)


def _normal(x, mean: float, std: float):  # noqa: ANN001 - Tensor or float
    """Gaussian density N(x; mean, std^2) (``x`` a tensor or a float)."""
    exp = torch.exp if isinstance(x, Tensor) else math.exp
    return exp(-((x - mean) ** 2) / (2.0 * std**2)) / (_SQRT_2PI * std)


class MultiGaussianGrad(Surrogate):
    """``scale [(1 + h) N(x; 0, sigma^2) - h N(x; sigma, (s sigma)^2) - h N(x; -sigma, (s sigma)^2)]``.

    Normalised by its value at ``x = 0`` (its maximum for the defaults); parameters that make that
    value <= 0 cannot be normalised (use ``normalize=False``).
    """

    name = "multi_gaussian_grad"
    params = (Param("h", 0.15, low_inclusive=True), Param("s", 6.0), Param("sigma", 0.5), Param("scale", 0.5))

    def _value(self, x):  # noqa: ANN001 - Tensor or float
        wide = self.s * self.sigma
        return self.scale * (
            _normal(x, 0.0, self.sigma) * (1.0 + self.h)
            - _normal(x, self.sigma, wide) * self.h
            - _normal(x, -self.sigma, wide) * self.h
        )

    def surrogate_grad(self, x: Tensor) -> Tensor:
        return self._value(x)

    def peak(self) -> float:
        return self._value(0.0)


class SlayerGrad(Surrogate):
    """``exp(-alpha |x|)``; peak 1."""

    name = "slayer_grad"
    params = (Param("alpha", 1.0),)

    def surrogate_grad(self, x: Tensor) -> Tensor:
        return torch.exp(-self.alpha * x.abs())

    def surrogate_fun(self, x: Tensor) -> Tensor:
        tail = torch.exp(-self.alpha * x.abs()) / self.alpha
        return torch.where(x < 0, tail, 2.0 / self.alpha - tail)


#: The 18 classes of braintools' catalogue, in its order.
CATALOGUE = (
    Sigmoid,
    PiecewiseQuadratic,
    PiecewiseExp,
    SoftSign,
    Arctan,
    NonzeroSignLog,
    ERF,
    PiecewiseLeakyRelu,
    SquarewaveFourierSeries,
    S2NN,
    QPseudoSpike,
    LeakyRelu,
    LogTailedRelu,
    ReluGrad,
    GaussianGrad,
    InvSquareGrad,
    MultiGaussianGrad,
    SlayerGrad,
)
