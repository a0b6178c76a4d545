"""Surrogate spike functions: Heaviside forward, backward against numpy transcriptions of the
braintools (>= 0.2.0) formulas at both scales, functional API, torch.func, dtype, pickling."""

import inspect
import math
import pickle

import numpy as np
import pytest
import torch

import brain_ai.core.surrogates as S
from brain_ai.config import ConfigError
from brain_ai.core.surrogates import FUNCTIONAL, SURROGATES, CustomSurrogate, get_surrogate


def _sig(z):
    return 1.0 / (1.0 + np.exp(-z))


def _normal(x, m, sd):
    return np.exp(-((x - m) ** 2) / (2 * sd**2)) / (np.sqrt(2 * np.pi) * sd)


def _mgg(x, h, s, sigma, scale):
    return scale * (
        (1 + h) * _normal(x, 0, sigma) - h * _normal(x, sigma, s * sigma) - h * _normal(x, -sigma, s * sigma)
    )


def _sfs(x, n, t_period):
    w = 2 * np.pi / t_period
    return 4.0 / t_period * sum(np.cos((2 * i - 1) * w * x) for i in range(1, n + 1))


#: name -> (published gradient g(x, **p), its peak(**p)): the seed's / braintools' formulas.
REFERENCE = {
    "sigmoid": (lambda x, alpha: alpha * _sig(alpha * x) * (1 - _sig(alpha * x)), lambda alpha: alpha / 4),
    "piecewise_quadratic": (
        lambda x, alpha: np.where(np.abs(x) > 1 / alpha, 0.0, alpha - alpha**2 * np.abs(x)),
        lambda alpha: alpha,
    ),
    "piecewise_exp": (lambda x, alpha: alpha / 2 * np.exp(-alpha * np.abs(x)), lambda alpha: alpha / 2),
    "soft_sign": (lambda x, alpha: alpha * 0.5 / (1 + np.abs(alpha * x)) ** 2, lambda alpha: alpha / 2),
    "arctan": (lambda x, alpha: alpha * 0.5 / (1 + (np.pi / 2 * alpha * x) ** 2), lambda alpha: alpha / 2),
    "nonzero_sign_log": (lambda x, alpha: 1.0 / (1 / alpha + np.abs(x)), lambda alpha: alpha),
    "erf": (
        lambda x, alpha: alpha / np.sqrt(np.pi) * np.exp(-(alpha**2) * x * x),
        lambda alpha: alpha / np.sqrt(np.pi),
    ),
    "piecewise_leaky_relu": (lambda x, c, w: np.where(np.abs(x) > w, c, 1 / (2 * w)), lambda c, w: max(c, 1 / (2 * w))),
    "squarewave_fourier_series": (_sfs, lambda n, t_period: 4 * n / t_period),
    "s2nn": (
        lambda x, alpha, beta: np.where(
            x < 0, alpha * _sig(alpha * x) * (1 - _sig(alpha * x)), beta / (np.where(x < 0, 1.0, x) + 1)
        ),
        lambda alpha, beta: max(alpha / 4, beta),
    ),
    "q_pseudo_spike": (lambda x, alpha: (1 + 2 / (alpha + 1) * np.abs(x)) ** (-alpha), lambda alpha: 1.0),
    "leaky_relu": (lambda x, alpha, beta: np.where(x < 0, alpha, beta), lambda alpha, beta: max(alpha, beta)),
    "log_tailed_relu": (
        lambda x, alpha: np.where(x > 1, 1 / np.where(x > 1, x, 1.0), np.where(x > 0, 1.0, alpha)),
        lambda alpha: max(1.0, alpha),
    ),
    "relu_grad": (
        lambda x, alpha, width: np.maximum(alpha * width - np.abs(x) * alpha, 0),
        lambda alpha, width: alpha * width,
    ),
    "gaussian_grad": (
        lambda x, sigma, alpha: alpha * _normal(x, 0, sigma),
        lambda sigma, alpha: alpha / (np.sqrt(2 * np.pi) * sigma),
    ),
    "inv_square_grad": (lambda x, alpha: 1.0 / (alpha * np.abs(x) + 1) ** 2, lambda alpha: 1.0),
    "multi_gaussian_grad": (_mgg, lambda h, s, sigma, scale: _mgg(0.0, h, s, sigma, scale)),
    "slayer_grad": (lambda x, alpha: np.exp(-alpha * np.abs(x)), lambda alpha: 1.0),
    # brain_ai's own names (already peak 1 except the catalogue subclasses' raw scale)
    "atan": (lambda x, alpha: alpha * 0.5 / (1 + (np.pi / 2 * alpha * x) ** 2), lambda alpha: alpha / 2),
    "fast_sigmoid": (lambda x, alpha: alpha / (1 + alpha * np.abs(x)) ** 2, lambda alpha: alpha),  # seed 003
    "superspike": (lambda x, alpha: 1.0 / (1 + alpha * np.abs(x)) ** 2, lambda alpha: 1.0),
    "triangle": (lambda x, alpha: np.maximum(0.0, alpha - alpha**2 * np.abs(x)), lambda alpha: alpha),
    "parabola": (lambda x, alpha: np.maximum(0.0, 1 - (alpha * x) ** 2), lambda alpha: 1.0),
    "gaussian": (lambda x, alpha: np.exp(-(x**2) / (2 * alpha**2)), lambda alpha: 1.0),
    "ste": (lambda x: np.ones_like(x), lambda: 1.0),
}
#: braintools' defaults (seed 004), and one other in-domain setting per surrogate.
DEFAULTS = {
    "sigmoid": dict(alpha=4.0),
    "piecewise_quadratic": dict(alpha=1.0),
    "piecewise_exp": dict(alpha=1.0),
    "soft_sign": dict(alpha=1.0),
    "arctan": dict(alpha=1.0),
    "nonzero_sign_log": dict(alpha=1.0),
    "erf": dict(alpha=1.0),
    "piecewise_leaky_relu": dict(c=0.01, w=1.0),
    "squarewave_fourier_series": dict(n=2, t_period=8.0),
    "s2nn": dict(alpha=4.0, beta=1.0),
    "q_pseudo_spike": dict(alpha=2.0),
    "leaky_relu": dict(alpha=0.1, beta=1.0),
    "log_tailed_relu": dict(alpha=0.0),
    "relu_grad": dict(alpha=0.3, width=1.0),
    "gaussian_grad": dict(sigma=0.5, alpha=0.5),
    "inv_square_grad": dict(alpha=100.0),
    "multi_gaussian_grad": dict(h=0.15, s=6.0, sigma=0.5, scale=0.5),
    "slayer_grad": dict(alpha=1.0),
    "atan": dict(alpha=2.0),
    "fast_sigmoid": dict(alpha=25.0),
    "superspike": dict(alpha=10.0),
    "triangle": dict(alpha=1.0),
    "parabola": dict(alpha=1.0),
    "gaussian": dict(alpha=0.5),
    "ste": {},
}
OTHER = {
    "piecewise_leaky_relu": dict(c=0.7, w=0.4),
    "squarewave_fourier_series": dict(n=5, t_period=3.0),
    "s2nn": dict(alpha=10.0, beta=0.5),
    "leaky_relu": dict(alpha=0.3, beta=0.6),
    "log_tailed_relu": dict(alpha=1.5),
    "relu_grad": dict(alpha=2.0, width=0.4),
    "gaussian_grad": dict(sigma=1.3, alpha=0.2),
    "multi_gaussian_grad": dict(h=0.4, s=2.0, sigma=0.8, scale=2.0),
    "ste": {},
}
NAMES = sorted(SURROGATES)
SEED_004 = [
    "Sigmoid",
    "PiecewiseQuadratic",
    "PiecewiseExp",
    "SoftSign",
    "Arctan",
    "NonzeroSignLog",
    "ERF",
    "PiecewiseLeakyRelu",
    "SquarewaveFourierSeries",
    "S2NN",
    "QPseudoSpike",
    "LeakyRelu",
    "LogTailedRelu",
    "ReluGrad",
    "GaussianGrad",
    "InvSquareGrad",
    "MultiGaussianGrad",
    "SlayerGrad",
]
GRID = np.linspace(-3.0, 3.0, 601) + 1e-3  # off the break points (|x| = 1/alpha, w, 1, 0)


def test_every_seed_004_surrogate_is_registered_under_its_lower_snake_name():
    names = [
        "sigmoid",
        "piecewise_quadratic",
        "piecewise_exp",
        "soft_sign",
        "arctan",
        "nonzero_sign_log",
        "erf",
        "piecewise_leaky_relu",
        "squarewave_fourier_series",
        "s2nn",
        "q_pseudo_spike",
        "leaky_relu",
        "log_tailed_relu",
        "relu_grad",
        "gaussian_grad",
        "inv_square_grad",
        "multi_gaussian_grad",
        "slayer_grad",
    ]
    for cls_name, key in zip(SEED_004, names):
        assert type(get_surrogate(key)).__name__ == cls_name and hasattr(S, cls_name)


def test_reference_covers_registry():
    assert set(REFERENCE) == set(SURROGATES) == set(DEFAULTS)


@pytest.mark.parametrize("name", NAMES)
def test_defaults_are_braintools_defaults(name):
    sg = get_surrogate(name)
    assert {p.name: getattr(sg, p.name) for p in sg.params} == DEFAULTS[name]
    assert sg.normalize is True


@pytest.mark.parametrize("name", NAMES)
def test_forward_is_strict_heaviside(name):
    x = torch.tensor([-2.0, -1e-7, 0.0, 1e-7, 3.0])
    for normalize in (True, False):
        assert get_surrogate(name, normalize=normalize)(x).tolist() == [0.0, 0.0, 0.0, 1.0, 1.0]


@pytest.mark.parametrize("setting", ["default", "other"])
@pytest.mark.parametrize("normalize", [False, True])
@pytest.mark.parametrize("name", NAMES)
def test_backward_equals_published_formula(name, normalize, setting):
    params = (
        DEFAULTS[name] if setting == "default" else OTHER.get(name, {k: v * 1.7 for k, v in DEFAULTS[name].items()})
    )
    sg = get_surrogate(name, normalize=normalize, **params)
    x = torch.tensor(GRID, dtype=torch.float64, requires_grad=True)
    sg(x).sum().backward()
    fn, peak = REFERENCE[name]
    expected = fn(GRID, **params) / (peak(**params) if normalize else 1.0)
    np.testing.assert_allclose(x.grad.numpy(), expected, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("name", NAMES)
def test_normalised_peak_gradient_is_one(name):
    g = get_surrogate(name).grad(torch.tensor(np.linspace(-3, 3, 60001), dtype=torch.float64))
    assert g.max().item() == pytest.approx(1.0, abs=1e-3) and g.max().item() <= 1.0 + 1e-12


@pytest.mark.parametrize("name", NAMES)
def test_functional_api_matches_class(name):
    fn = getattr(S, name)
    assert fn is FUNCTIONAL[name]
    assert list(inspect.signature(fn).parameters) == ["x", *DEFAULTS[name], "normalize"]
    params = OTHER.get(name, {k: v * 1.7 for k, v in DEFAULTS[name].items()})
    x1 = torch.tensor(GRID, requires_grad=True)
    x2 = torch.tensor(GRID, requires_grad=True)
    y1 = fn(x1, **params, normalize=False)
    y2 = SURROGATES[name](**params, normalize=False)(x2)
    assert torch.equal(y1, y2)
    y1.sum().backward()
    y2.sum().backward()
    assert torch.equal(x1.grad, x2.grad)


def test_functional_example_of_the_seed():
    x = torch.tensor([-1.0, 0.5, 1.0], dtype=torch.float64, requires_grad=True)
    S.sigmoid(x, alpha=4.0).sum().backward()
    s = _sig(4.0 * np.array([-1.0, 0.5, 1.0]))
    np.testing.assert_allclose(x.grad.numpy(), 4 * s * (1 - s), rtol=1e-12)  # normalised: alpha s(1-s) / (alpha/4)


@pytest.mark.parametrize("name", NAMES)
def test_torch_func_grad_and_vmap(name):
    sg = get_surrogate(name)
    xs = torch.tensor(GRID, dtype=torch.float64)
    per_sample = torch.func.vmap(torch.func.grad(lambda xi: sg(xi)))(xs)
    torch.testing.assert_close(per_sample, sg.grad(xs), rtol=0, atol=0)
    rows = xs[:600].view(20, 30)  # (20, 30): vmap over rows of a batched call
    assert torch.equal(torch.func.vmap(sg)(rows), (rows > 0).double())
    row_grads = torch.func.vmap(torch.func.grad(lambda row: sg(row).sum()))(rows)
    torch.testing.assert_close(row_grads, sg.grad(rows), rtol=0, atol=0)


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
    fn, peak = REFERENCE[name]
    ref = fn(GRID - 0.4, **DEFAULTS[name]) / peak(**DEFAULTS[name])
    thr = torch.tensor(0.4, dtype=torch.float64, requires_grad=True)
    v_in = torch.tensor(GRID, dtype=torch.float64, requires_grad=True)
    sg(v_in - thr).sum().backward()
    assert thr.grad.item() == pytest.approx(-ref.sum(), rel=1e-12, abs=1e-12)
    np.testing.assert_allclose(v_in.grad.numpy(), ref, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("name", NAMES)
def test_pickle_round_trip(name):
    params = OTHER.get(name, {k: v * 1.7 for k, v in DEFAULTS[name].items()})
    sg = get_surrogate(name, normalize=False, **params)
    back = pickle.loads(pickle.dumps(sg))
    assert back == sg and type(back) is type(sg) and hash(back) == hash(sg)
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


def test_unknown_name_lists_the_allowed_names():
    with pytest.raises(ValueError, match="allowed: .*multi_gaussian_grad.*slayer_grad"):
        get_surrogate("nope")


@pytest.mark.parametrize(
    "name, params, field",
    [
        ("atan", dict(alpha=-1.0), "alpha"),
        ("relu_grad", dict(width=-0.5), "width"),
        ("squarewave_fourier_series", dict(n=0), "n"),
        ("squarewave_fourier_series", dict(n=2.5), "n"),
        ("piecewise_leaky_relu", dict(c=-0.1), "c"),
        ("multi_gaussian_grad", dict(sigma=0.0), "sigma"),
        ("gaussian_grad", dict(sigma=math.inf), "sigma"),
    ],
)
def test_parameter_out_of_domain_names_it(name, params, field):
    with pytest.raises(ConfigError, match=rf"\b{field}="):
        get_surrogate(name, **params)


def test_bad_parameter_names_and_unnormalisable_settings():
    with pytest.raises(ValueError, match="no parameter.*'alpha'.*its parameters: c, w"):
        get_surrogate("piecewise_leaky_relu", alpha=2.0)
    with pytest.raises(TypeError, match="unknown parameter 'sigma'"):
        S.Sigmoid(sigma=1.0)
    with pytest.raises(ValueError, match="cannot normalise.*h=10"):
        get_surrogate("multi_gaussian_grad", h=10.0, s=1.0)
    get_surrogate("multi_gaussian_grad", h=10.0, s=1.0, normalize=False)  # fine at the raw scale
    with pytest.raises(ValueError, match="cannot normalise.*alpha=0.0, beta=0.0"):
        get_surrogate("leaky_relu", alpha=0.0, beta=0.0)


def test_integer_valued_float_is_accepted_for_n():
    assert get_surrogate("squarewave_fourier_series", n=4.0).n == 4


def test_fast_sigmoid_at_the_seed_scale_is_seed_003_and_passes_gradcheck():
    """Seed 003 (Edifice): backward ``slope / (1 + slope |x|)^2``, slope 25 (``normalize=False``)."""
    sg = get_surrogate("fast_sigmoid", normalize=False)
    x = torch.tensor(GRID / 10, dtype=torch.float64, requires_grad=True)
    sg(x).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), 25.0 / (1.0 + 25.0 * np.abs(GRID / 10)) ** 2, rtol=1e-12)
    normalised = get_surrogate("fast_sigmoid").grad(x.detach())  # snnTorch's / inv_square_grad's scale
    torch.testing.assert_close(normalised, get_surrogate("inv_square_grad", alpha=25.0).grad(x.detach()))
    # gradcheck of the analysis forward: its autograd derivative is the surrogate gradient
    assert torch.autograd.gradcheck(
        sg.surrogate_fun, (torch.tensor(GRID / 10, dtype=torch.float64, requires_grad=True),)
    )


FUN_NAMES = [name for name in NAMES if SURROGATES[name]().has_surrogate_fun()]


def test_closed_form_smooth_forwards_cover_the_common_shapes():
    assert {"sigmoid", "arctan", "atan", "fast_sigmoid", "erf", "soft_sign", "triangle", "gaussian"} <= set(FUN_NAMES)
    with pytest.raises(NotImplementedError, match="MultiGaussianGrad defines no surrogate_fun"):
        get_surrogate("multi_gaussian_grad").fun(torch.zeros(3))


@pytest.mark.parametrize("normalize", [False, True])
@pytest.mark.parametrize("name", FUN_NAMES)
def test_surrogate_fun_derivative_is_surrogate_grad(name, normalize):
    params = OTHER.get(name, {k: v * 1.7 for k, v in DEFAULTS[name].items()})
    sg = get_surrogate(name, normalize=normalize, **params)
    x = torch.tensor(GRID, dtype=torch.float64, requires_grad=True)
    (derivative,) = torch.autograd.grad(sg.fun(x).sum(), x)
    fn, peak = REFERENCE[name]
    expected = fn(GRID, **params) / (peak(**params) if normalize else 1.0)
    np.testing.assert_allclose(derivative.numpy(), expected, rtol=1e-10, atol=1e-12)


def tanh_fun(x, alpha):
    """Seed 004's custom surrogate: smooth forward ``tanh(alpha x) / 2 + 1/2`` ..."""
    return torch.tanh(alpha * x) * 0.5 + 0.5


def tanh_grad(x, alpha):
    """... and its gradient ``alpha (1 - tanh(alpha x)^2) / 2``."""
    return alpha * (1 - torch.tanh(alpha * x) ** 2) * 0.5


class TanhSurrogate(S.Surrogate):
    """Seed 004's ``MySurrogate`` as a subclass: ``surrogate_fun`` beside ``surrogate_grad``."""

    name = "tanh"

    def surrogate_fun(self, x):
        return tanh_fun(x, self.alpha)

    def surrogate_grad(self, x):
        return tanh_grad(x, self.alpha)


@pytest.mark.parametrize(
    "sg", [TanhSurrogate(alpha=2.0, normalize=False), CustomSurrogate(tanh_grad, 2.0, fun_fn=tanh_fun)]
)
def test_custom_surrogate_defines_surrogate_fun_beside_surrogate_grad(sg):
    x = torch.tensor([0.0, 1.0, -1.0], dtype=torch.float64, requires_grad=True)
    spikes = sg(x)  # the seed's example: forward is still the Heaviside
    assert spikes.tolist() == [0.0, 1.0, 0.0] and sg.has_surrogate_fun()
    spikes.sum().backward()
    torch.testing.assert_close(x.grad, tanh_grad(x.detach(), 2.0))
    torch.testing.assert_close(sg.fun(x.detach()), tanh_fun(x.detach(), 2.0))
    assert pickle.loads(pickle.dumps(sg)).fun(x.detach()).tolist() == sg.fun(x.detach()).tolist()
    assert not CustomSurrogate(tanh_grad, 2.0).has_surrogate_fun()
    with pytest.raises(TypeError, match="fun_fn must be callable, got str"):
        CustomSurrogate(tanh_grad, 2.0, fun_fn="tanh")


@pytest.mark.parametrize("normalize", [True, False])
@pytest.mark.parametrize("name", NAMES)
def test_spike_backward_is_the_incoming_gradient_times_the_surrogate(name, normalize):
    """``grad_times`` (the backward, with the normalisation folded in, and atan's two-pass form)
    equals ``grad_output * grad(x)`` for a non-unit incoming gradient."""
    sg = get_surrogate(name, normalize=normalize)
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(500, generator=gen, dtype=torch.float64, requires_grad=True)
    grad_output = torch.randn(500, generator=gen, dtype=torch.float64) * 3
    sg(x).backward(grad_output)
    torch.testing.assert_close(x.grad, grad_output * sg.grad(x.detach()), rtol=1e-12, atol=1e-15)
