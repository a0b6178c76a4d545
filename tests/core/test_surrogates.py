"""Surrogate spike functions: Heaviside forward, analytic backward, dtype, pickling."""

import math
import pickle

import numpy as np
import pytest
import torch

from brain_ai.core.surrogates import SURROGATES, CustomSurrogate, get_surrogate


def _sig(z):
    return 1.0 / (1.0 + np.exp(-z))


#: Hand-written pseudo-derivatives d spike / d x, x = v - v_th (the docstring table).
REFERENCE = {
    "atan": lambda x, a: 1.0 / (1.0 + (math.pi / 2 * a * x) ** 2),
    "fast_sigmoid": lambda x, a: 1.0 / (1.0 + a * np.abs(x)) ** 2,
    "superspike": lambda x, a: 1.0 / (1.0 + a * np.abs(x)) ** 2,
    "softsign": lambda x, a: 1.0 / (1.0 + a * np.abs(x)) ** 2,
    "ste": lambda x, a: np.ones_like(x),
    "sigmoid": lambda x, a: 4.0 * _sig(a * x) * (1.0 - _sig(a * x)),
    "triangle": lambda x, a: np.maximum(0.0, 1.0 - a * np.abs(x)),
    "piecewise_quadratic": lambda x, a: np.maximum(0.0, 1.0 - (a * x) ** 2),
    "gaussian": lambda x, a: np.exp(-(x**2) / (2 * a**2)),
    "erf": lambda x, a: np.exp(-((a * x) ** 2)),
}
NAMES = sorted(SURROGATES)
GRID = np.linspace(-3.0, 3.0, 601)


def test_reference_covers_registry():
    assert set(REFERENCE) == set(SURROGATES)


@pytest.mark.parametrize("name", NAMES)
def test_forward_is_strict_heaviside(name):
    sg = get_surrogate(name)
    x = torch.tensor([-2.0, -1e-7, 0.0, 1e-7, 3.0])
    assert sg(x).tolist() == [0.0, 0.0, 0.0, 1.0, 1.0]


@pytest.mark.parametrize("alpha", [None, 0.7, 3.0])
@pytest.mark.parametrize("name", NAMES)
def test_backward_equals_analytic_derivative(name, alpha):
    sg = get_surrogate(name, alpha)
    x = torch.tensor(GRID, dtype=torch.float64, requires_grad=True)
    sg(x).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), REFERENCE[name](GRID, sg.alpha), rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("name", NAMES)
def test_peak_gradient_is_one_at_zero(name):
    sg = get_surrogate(name)
    g = sg.grad(torch.tensor(GRID, dtype=torch.float64))
    assert sg.grad(torch.zeros((), dtype=torch.float64)).item() == 1.0
    assert g.max().item() <= 1.0


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16, torch.bfloat16, torch.float64])
@pytest.mark.parametrize("name", NAMES)
def test_dtype_preserved(name, dtype):
    x = torch.linspace(-1, 1, 11, dtype=dtype, requires_grad=True)
    s = get_surrogate(name)(x)
    assert s.dtype == dtype
    s.sum().backward()
    assert x.grad.dtype == dtype and torch.isfinite(x.grad).all()


@pytest.mark.parametrize("name", NAMES)
def test_threshold_gradient_is_negative_surrogate(name):
    sg = get_surrogate(name)
    v = torch.tensor(GRID, dtype=torch.float64)
    thr = torch.tensor(0.4, dtype=torch.float64, requires_grad=True)
    v_in = v.clone().requires_grad_()
    sg(v_in - thr).sum().backward()
    expected = -REFERENCE[name](GRID - 0.4, sg.alpha).sum()
    assert thr.grad.item() == pytest.approx(expected, rel=1e-12)
    np.testing.assert_allclose(v_in.grad.numpy(), REFERENCE[name](GRID - 0.4, sg.alpha), rtol=1e-12)


@pytest.mark.parametrize("name", NAMES)
def test_pickle_round_trip(name):
    sg = get_surrogate(name, 1.5 if name != "ste" else None)
    back = pickle.loads(pickle.dumps(sg))
    assert back == sg and type(back) is type(sg)
    x = torch.tensor(GRID)
    assert torch.equal(back.grad(x), sg.grad(x))


def cauchy_grad(x, alpha):
    """Module-level custom pseudo-derivative (picklable)."""
    return 1.0 / (1.0 + (alpha * x) ** 2)


def test_custom_surrogate_pickles_and_backprops():
    sg = CustomSurrogate(cauchy_grad, alpha=2.0)
    back = pickle.loads(pickle.dumps(sg))
    assert back == sg
    x = torch.tensor(GRID, requires_grad=True, dtype=torch.float64)
    back(x).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), 1.0 / (1.0 + (2.0 * GRID) ** 2), rtol=1e-12)


def test_custom_surrogate_with_lambda_does_not_pickle():
    with pytest.raises((pickle.PicklingError, AttributeError)):
        pickle.dumps(CustomSurrogate(lambda x, a: torch.ones_like(x)))


def test_bad_alpha_and_unknown_name_raise():
    with pytest.raises(ValueError, match="alpha"):
        get_surrogate("atan", -1.0)
    with pytest.raises(ValueError, match="allowed"):
        get_surrogate("nope")
