r"""Spike functions: exact Heaviside forward, surrogate-gradient backward.

A surrogate is a small picklable object; calling it applies the spike to ``x = v - v_th``:

>>> sg = get_surrogate("sigmoid")           # or Sigmoid(alpha=4.0), or sigmoid(x, alpha=4.0)
>>> spikes = sg(v - v_th)                   # forward: (v - v_th > 0) as 0.0 / 1.0 in v's dtype
>>> # backward: d spikes / d v = sg.grad(v - v_th);  d spikes / d v_th = -sg.grad(v - v_th)

Every built-in exists two ways: peak-normalised to 1 (``normalize=True``, the default: the
SpikingJelly convention, so the learning rate does not depend on the surrogate) and at the scale
its source publishes (``normalize=False``). The catalogue follows braintools >= 0.2.0
(names in lower snake case, same parameters and defaults; peak = the divisor of ``normalize``):

=============================  =====================================================================  =================================  ========================
name (braintools class)        surrogate_grad(x) (``normalize=False``)                                parameters (defaults)              peak
=============================  =====================================================================  =================================  ========================
``sigmoid`` (Sigmoid)          alpha s(alpha x)(1 - s(alpha x))                                       alpha=4                            alpha/4
``piecewise_quadratic``        alpha - alpha^2 abs(x) on abs(x) <= 1/alpha, else 0                    alpha=1                            alpha
``piecewise_exp``              alpha/2 exp(-alpha abs(x))                                             alpha=1                            alpha/2
``soft_sign`` (SoftSign)       alpha/2 / (1 + abs(alpha x))^2                                         alpha=1                            alpha/2
``arctan`` (Arctan)            alpha/2 / (1 + (pi/2 alpha x)^2)                                       alpha=1                            alpha/2
``nonzero_sign_log``           1 / (1/alpha + abs(x))                                                 alpha=1                            alpha
``erf`` (ERF)                  alpha/sqrt(pi) exp(-alpha^2 x^2)                                       alpha=1                            alpha/sqrt(pi)
``piecewise_leaky_relu``       1/(2w) on abs(x) <= w, c outside                                       c=0.01, w=1                        max(c, 1/(2w))
``squarewave_fourier_series``  4/T sum_{i=1..n} cos((2i-1) 2 pi x / T)                                n=2, t_period=8                    4n/T
``s2nn`` (S2NN)                alpha s(alpha x)(1 - s(alpha x)) (x<0), beta/(x+1) (x>=0)              alpha=4, beta=1                    max(alpha/4, beta)
``q_pseudo_spike``             (1 + 2 abs(x)/(alpha+1))^-alpha                                        alpha=2                            1
``leaky_relu`` (LeakyRelu)     alpha (x<0), beta (x>=0)                                               alpha=0.1, beta=1                  max(alpha, beta)
``log_tailed_relu``            alpha (x<=0), 1 (0<x<=1), 1/x (x>1)                                    alpha=0                            max(1, alpha)
``relu_grad`` (ReluGrad)       max(0, alpha (width - abs(x)))                                         alpha=0.3, width=1                 alpha width
``gaussian_grad``              alpha exp(-x^2/(2 sigma^2)) / (sqrt(2 pi) sigma)                       sigma=0.5, alpha=0.5               alpha/(sqrt(2 pi) sigma)
``inv_square_grad``            1 / (alpha abs(x) + 1)^2                                               alpha=100                          1
``multi_gaussian_grad``        scale((1+h)N(x;0,sigma) - hN(x;sigma,s sigma) - hN(x;-sigma,s sigma))  h=0.15, s=6, sigma=0.5, scale=0.5  value at 0
``slayer_grad`` (SlayerGrad)   exp(-alpha abs(x))                                                     alpha=1                            1
=============================  =====================================================================  =================================  ========================

``s`` is the logistic sigmoid, ``N(x; m, sd)`` the normal density. brain_ai's own names (all
peak 1 when normalised; how they map to the catalogue and to names brain_ai used before):

================  ==============================================  =====  ============================================
name              normalised grad(x)                              alpha  relation
================  ==============================================  =====  ============================================
``atan``          1 / (1 + (pi/2 alpha x)^2)                      2.0    ``arctan`` with SpikingJelly's default
``fast_sigmoid``  1 / (1 + alpha abs(x))^2                        25.0   snnTorch's; ``normalize=False``: Edifice's
``superspike``    1 / (1 + alpha abs(x))^2                        10.0   ``inv_square_grad``, Zenke & Ganguli
``triangle``      max(0, 1 - alpha abs(x))                        1.0    ``piecewise_quadratic`` (braintools >= 0.2)
``parabola``      max(0, 1 - (alpha x)^2)                         1.0    brain_ai's former ``piecewise_quadratic``
``gaussian``      exp(-x^2 / (2 alpha^2))                         0.5    ``gaussian_grad`` with sigma = alpha
``ste``           1                                               --     straight-through
================  ==============================================  =====  ============================================

The forward is ``x > 0`` (braintools fires at ``x >= 0``; the two differ only at exactly x = 0).

Functional API: one function per built-in, generated from its class, e.g.
``sigmoid(x, alpha=4.0, normalize=True)`` == ``Sigmoid(alpha=4.0)(x)``. A custom surrogate is a
subclass that sets ``name`` and ``params`` and implements ``surrogate_grad`` (and ``peak``, and
optionally ``surrogate_fun``, the smooth forward for analysis, as braintools does), passed to a neuron
as an instance; or wrap module-level functions with :class:`CustomSurrogate` (module-level so
that it pickles). ``sg.fun(x)`` evaluates the smooth forward on the backward's scale; the
built-ins with a closed form define it (``has_surrogate_fun()``). ``scripts/plot_surrogates.py``
draws every built-in into ``docs/images/surrogates.png``. ``neuron.surrogate`` in a config names
one of :data:`SURROGATES`, which holds exactly the :class:`~brain_ai.config.SurrogateType` members.
"""

from __future__ import annotations

import inspect
from typing import Any, Callable, Dict, Optional, Type

from torch import Tensor

from brain_ai.core.surrogates.base import CustomSurrogate, Param, SpikeFunction, Surrogate
from brain_ai.core.surrogates.catalogue import (
    CATALOGUE,
    ERF,
    S2NN,
    Arctan,
    GaussianGrad,
    InvSquareGrad,
    LeakyRelu,
    LogTailedRelu,
    MultiGaussianGrad,
    NonzeroSignLog,
    PiecewiseExp,
    PiecewiseLeakyRelu,
    PiecewiseQuadratic,
    QPseudoSpike,
    ReluGrad,
    Sigmoid,
    SlayerGrad,
    SoftSign,
    SquarewaveFourierSeries,
)
from brain_ai.core.surrogates.shapes import SHAPES, STE, ATan, FastSigmoid, Gaussian, Parabola, SuperSpike, Triangle

#: Built-in surrogates by lower-case name (= the :class:`~brain_ai.config.SurrogateType` values).
SURROGATES: Dict[str, Type[Surrogate]] = {cls.name: cls for cls in (*CATALOGUE, *SHAPES)}


def get_surrogate(
    name: "str | Surrogate", alpha: Optional[float] = None, *, normalize: bool = True, **params: Any
) -> Surrogate:
    """A surrogate instance by registry name (an instance passes through unchanged).

    ``alpha`` is shorthand for ``params["alpha"]``; ``params`` are the surrogate's other
    parameters by name (see the table above); ``None`` values mean the default.
    """
    if isinstance(name, Surrogate):
        return name
    key = getattr(name, "value", name)
    if not isinstance(key, str) or key.lower() not in SURROGATES:
        raise ValueError(f"unknown surrogate {name!r}; allowed: {', '.join(sorted(SURROGATES))}")
    cls = SURROGATES[key.lower()]
    if alpha is not None:
        if "alpha" in params:
            raise TypeError(f"get_surrogate({key!r}): alpha given twice (argument and params)")
        params["alpha"] = alpha
    known = {p.name for p in cls.params}
    unknown = sorted(set(params) - known)
    if unknown:
        raise ValueError(
            f"surrogate {key!r} has no parameter(s) {unknown}; its parameters: {', '.join(sorted(known)) or 'none'}"
        )
    return cls(normalize=normalize, **{k: v for k, v in params.items() if v is not None})


def _functional(cls: Type[Surrogate]) -> Callable[..., Tensor]:
    """``name(x, *params, normalize=True)`` == ``cls(*params, normalize=normalize)(x)``."""

    def spike(x: Tensor, *args: Any, normalize: bool = True, **kwargs: Any) -> Tensor:
        return cls(*args, normalize=normalize, **kwargs)(x)

    spike.__name__ = spike.__qualname__ = cls.name
    spike.__module__ = __name__
    spike.__doc__ = f"Spike of ``x = v - v_th`` with the :class:`{cls.__name__}` surrogate gradient (see its class)."
    kind = inspect.Parameter.POSITIONAL_OR_KEYWORD
    spike.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
        [inspect.Parameter("x", kind, annotation=Tensor)]
        + [inspect.Parameter(p.name, kind, default=p.default) for p in cls.params]
        + [inspect.Parameter("normalize", inspect.Parameter.KEYWORD_ONLY, default=True)],
        return_annotation=Tensor,
    )
    return spike


#: The functional API: ``FUNCTIONAL[name]`` is also the module attribute ``name`` (e.g. ``sigmoid``).
FUNCTIONAL: Dict[str, Callable[..., Tensor]] = {name: _functional(cls) for name, cls in SURROGATES.items()}
globals().update(FUNCTIONAL)

__all__ = [
    "SpikeFunction",
    "Surrogate",
    "Param",
    "CustomSurrogate",
    "SURROGATES",
    "FUNCTIONAL",
    "get_surrogate",
    *(cls.__name__ for cls in SURROGATES.values()),
    *FUNCTIONAL,
]
