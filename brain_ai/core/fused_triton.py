r"""Triton kernels for the fused LIF / adaptive LIF sequence (the CUDA path of :mod:`brain_ai.core.fused`).

One program handles ``BLOCK`` neurons and loops over all T steps inside the kernel (the
SpikingJelly / EXODUS scheme: one thread per neuron, nothing but the pre-reset membrane ``h``
written for backward). The arithmetic is the eager path's, op for op:

* forward: ``h = v * beta``; ``h = h + x_t``; ``z = h - thr`` (``thr + a * alpha`` for
  AdaptiveLIF); ``s = z > 0``; reset ``where(s, z, h)`` (subtract), ``where(s, 0, h)`` (zero),
  ``h`` (none); ``a = a * decay + s``. Launched with ``enable_fp_fusion=False`` so that no
  multiply-add is contracted into an FMA: every op rounds like the separate PyTorch ops.
* backward, t = T-1 .. 0, with ``dv`` / ``da`` the gradients reaching ``v_t`` / ``a_t``:
  ``ds = g_s + da - thr_t dv`` (subtract) / ``- h dv`` (zero); ``dz = ds * sg(z)``;
  ``dh = dz + dv`` (``dz + dv (1 - s)`` for zero); ``-dthr_t = dz`` (``+ s dv`` for subtract);
  ``da <- decay da - alpha (-dthr_t)``; ``dbeta += dh_t v_{t-1}``; ``dv <- beta dh``. For
  LIFNeuron (no adaptation) this is :func:`brain_ai.core.fused._lif_backward` written per step.

The surrogate derivative is evaluated inside the kernel at the surrogate's published scale and
divided by its peak when it normalises; every built-in surrogate is selected by a compile-time id
(:data:`SURROGATE_KIND`) and reads up to four constants (:func:`_surrogate_constant`). Tensors are indexed as ``(B, T, F)`` through their
strides (``F`` = the flattened feature dims), so time-major views need no copy.

Everything here runs unchanged under the Triton interpreter (``TRITON_INTERPRET=1`` set before
``triton`` is imported) on CPU tensors, which is how ``tests/core/test_fused_triton.py`` checks it
(:func:`interpreted` says whether this process runs it so). The kernels are launched with every
argument by name and every tensor's shape checked, so no argument can bind to the wrong slot.
"""

from __future__ import annotations

import contextlib
import math
from typing import Dict, Optional, Tuple

import torch
import triton
import triton.language as tl
from torch import Tensor

from brain_ai.config import ResetMode
from brain_ai.core.surrogates import (
    ERF,
    S2NN,
    STE,
    Arctan,
    ATan,
    FastSigmoid,
    Gaussian,
    GaussianGrad,
    InvSquareGrad,
    LeakyRelu,
    LogTailedRelu,
    MultiGaussianGrad,
    NonzeroSignLog,
    Parabola,
    PiecewiseExp,
    PiecewiseLeakyRelu,
    PiecewiseQuadratic,
    QPseudoSpike,
    ReluGrad,
    Sigmoid,
    SlayerGrad,
    SoftSign,
    SquarewaveFourierSeries,
    SuperSpike,
    Surrogate,
    Triangle,
)

__all__ = ["SURROGATE_KIND", "surrogate_supported", "interpreted", "lif_forward", "lif_backward"]

#: Kernel id of each built-in surrogate class (exact class: a subclass may override ``surrogate_grad``).
SURROGATE_KIND = {
    Arctan: 0,
    ATan: 0,
    InvSquareGrad: 1,
    FastSigmoid: 1,
    SuperSpike: 1,
    STE: 2,
    Sigmoid: 3,
    PiecewiseQuadratic: 4,
    Triangle: 4,
    Parabola: 5,
    Gaussian: 6,
    ERF: 7,
    PiecewiseExp: 8,
    SoftSign: 9,
    NonzeroSignLog: 10,
    PiecewiseLeakyRelu: 11,
    SquarewaveFourierSeries: 12,
    S2NN: 13,
    QPseudoSpike: 14,
    LeakyRelu: 15,
    LogTailedRelu: 16,
    ReluGrad: 17,
    GaussianGrad: 18,
    MultiGaussianGrad: 19,
    SlayerGrad: 20,
}

#: Per kernel id: the constants ``(k0, k1, k2, k3)`` its formula in :func:`surrogate_grad` reads.
_SURROGATE_CONSTANTS = {
    0: lambda s: (math.pi / 2.0 * s.alpha, s.alpha / 2.0),
    1: lambda s: (s.alpha, s.peak()),
    2: lambda s: (),
    3: lambda s: (s.alpha,),
    4: lambda s: (s.alpha, 1.0 / s.alpha, s.alpha**2),
    5: lambda s: (s.alpha,),
    6: lambda s: (2.0 * s.alpha**2,),
    7: lambda s: (s.alpha**2, s.peak()),
    8: lambda s: (s.alpha, s.alpha / 2.0),
    9: lambda s: (s.alpha, s.alpha / 2.0),
    10: lambda s: (1.0 / s.alpha,),
    11: lambda s: (s.w, s.c, 1.0 / (2.0 * s.w)),
    12: lambda s: (2.0 * math.pi / s.t_period, s.n, 4.0 / s.t_period),
    13: lambda s: (s.alpha, s.beta),
    14: lambda s: (2.0 / (s.alpha + 1.0), s.alpha),
    15: lambda s: (s.alpha, s.beta),
    16: lambda s: (s.alpha,),
    17: lambda s: (s.alpha, s.alpha * s.width),
    18: lambda s: (2.0 * s.sigma**2, s.peak()),
    19: lambda s: (s.sigma, s.s * s.sigma, s.h, s.scale),
    20: lambda s: (s.alpha,),
}

RESET_ID = {ResetMode.subtract: 0, ResetMode.zero: 1, ResetMode.none: 2}

#: Neurons per program (one thread each on a GPU with 4 warps); not tuned on a GPU.
_BLOCK = 128
_NUM_WARPS = 4


def surrogate_supported(surrogate: Surrogate) -> bool:
    """True when the kernel implements ``surrogate.grad`` (built-in classes only)."""
    return type(surrogate) in SURROGATE_KIND


def _surrogate_constant(surrogate: Surrogate) -> Tuple[float, float, float, float, float]:
    """``(k0, k1, k2, k3, divisor)``: the numbers the kernel's formula needs, and the normaliser.

    ``divisor`` is ``surrogate.peak()`` when it normalises, else 1.0 (``grad = formula / divisor``).
    """
    ks = tuple(float(k) for k in _SURROGATE_CONSTANTS[SURROGATE_KIND[type(surrogate)]](surrogate))
    ks = ks + (0.0,) * (4 - len(ks))
    return (*ks, surrogate.peak() if surrogate.normalize else 1.0)


@triton.jit
def surrogate_grad(z, k0, k1, k2, k3, KIND: tl.constexpr):
    """Published-scale pseudo-derivative at ``z = h - thr``; ``k*`` from :func:`_surrogate_constant`."""
    az = tl.abs(z)
    if KIND == 0:  # arctan / atan: alpha/2 / (1 + (pi/2 alpha z)^2)
        u = k0 * z
        g = k1 / (1.0 + u * u)
    elif KIND == 1:  # inv_square_grad / superspike (k1 = 1), fast_sigmoid (k1 = alpha): k1 / (alpha |z| + 1)^2
        u = k0 * az + 1.0
        g = k1 / (u * u)
    elif KIND == 2:  # ste
        g = tl.full(z.shape, 1.0, z.dtype)
    elif KIND == 3:  # sigmoid: alpha s (1 - s), s = sigmoid(alpha z)
        s = 1.0 / (1.0 + tl.exp(-(k0 * z)))
        g = k0 * s * (1.0 - s)
    elif KIND == 4:  # piecewise_quadratic / triangle: alpha - alpha^2 |z| on |z| <= 1/alpha
        g = tl.where(az > k1, 0.0, k0 - k2 * az)
    elif KIND == 5:  # parabola: max(0, 1 - (alpha z)^2)
        u = k0 * z
        g = tl.maximum(1.0 - u * u, 0.0)
    elif KIND == 6:  # gaussian: exp(-z^2 / (2 alpha^2))
        g = tl.exp(-(z * z) / k0)
    elif KIND == 7:  # erf: alpha/sqrt(pi) exp(-alpha^2 z^2)
        g = k1 * tl.exp(-k0 * z * z)
    elif KIND == 8:  # piecewise_exp: alpha/2 exp(-alpha |z|)
        g = k1 * tl.exp(-k0 * az)
    elif KIND == 9:  # soft_sign: alpha/2 / (1 + |alpha z|)^2
        u = 1.0 + tl.abs(k0 * z)
        g = k1 / (u * u)
    elif KIND == 10:  # nonzero_sign_log: 1 / (1/alpha + |z|)
        g = 1.0 / (k0 + az)
    elif KIND == 11:  # piecewise_leaky_relu: 1/(2w) on |z| <= w, else c
        g = tl.where(az > k0, k1, k2)
    elif KIND == 12:  # squarewave_fourier_series: 4/T sum_{i=1..n} cos((2i-1) w z)
        g = tl.cos(k0 * z)
        c = k0 * 3.0  # (2i - 1) w for i = 2, 3, ...
        for _ in range(1, k1.to(tl.int32)):
            g = g + tl.cos(c * z)
            c = c + 2.0 * k0
        g = g * k2
    elif KIND == 13:  # s2nn: alpha s (1 - s) for z < 0, beta / (z + 1) for z >= 0
        s = 1.0 / (1.0 + tl.exp(-(k0 * z)))
        g = tl.where(z < 0, k0 * s * (1.0 - s), k1 / (tl.where(z < 0, 1.0, z) + 1.0))
    elif KIND == 14:  # q_pseudo_spike: (1 + 2|z|/(alpha+1))^-alpha
        g = tl.exp(-k1 * tl.log(1.0 + k0 * az))
    elif KIND == 15:  # leaky_relu: alpha for z < 0, beta for z >= 0
        g = tl.where(z < 0, k0, k1) + tl.zeros_like(z)
    elif KIND == 16:  # log_tailed_relu: alpha (z <= 0), 1 (0 < z <= 1), 1/z (z > 1)
        g = tl.where(z > 1.0, 1.0 / tl.where(z > 1.0, z, 1.0), tl.where(z > 0, 1.0, k0))
    elif KIND == 17:  # relu_grad: max(0, alpha width - alpha |z|)
        g = tl.maximum(k1 - az * k0, 0.0)
    elif KIND == 18:  # gaussian_grad: alpha/(sqrt(2 pi) sigma) exp(-z^2 / (2 sigma^2))
        g = k1 * tl.exp(-(z * z) / k0)
    elif KIND == 19:  # multi_gaussian_grad (k0 = sigma, k1 = s sigma, k2 = h, k3 = scale)
        g1 = tl.exp(-(z * z) / (2.0 * k0 * k0)) / (2.5066282746310002 * k0)
        zm = z - k0
        zp = z + k0
        g2 = tl.exp(-(zm * zm) / (2.0 * k1 * k1)) / (2.5066282746310002 * k1)
        g3 = tl.exp(-(zp * zp) / (2.0 * k1 * k1)) / (2.5066282746310002 * k1)
        g = k3 * (g1 * (1.0 + k2) - g2 * k2 - g3 * k2)
    else:  # slayer_grad: exp(-alpha |z|)
        g = tl.exp(-k0 * az)
    return g


@triton.jit
def post_reset(h, z, spk, RESET: tl.constexpr):
    if RESET == 0:
        v = tl.where(spk, z, h)  # == h - s * thr bit for bit
    elif RESET == 1:
        v = tl.where(spk, 0.0, h)  # == h - h * s (+0.0 where spiking)
    else:
        v = h
    return v


@triton.jit
def _lif_fwd_kernel(
    x_ptr,
    v0_ptr,
    a0_ptr,
    beta_ptr,
    thr_ptr,
    const_ptr,
    s_ptr,
    h_ptr,
    m_ptr,
    thr_eff_ptr,
    v_out_ptr,
    a_out_ptr,
    T,
    F,
    M,
    sx_b,
    sx_t,
    sx_f,
    RESET: tl.constexpr,
    ADAPTIVE: tl.constexpr,
    RECORD: tl.constexpr,
    BLOCK: tl.constexpr,
):
    n = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    mask = n < M
    b = (n // F).to(tl.int64)
    f = (n % F).to(tl.int64)
    x_off = b * sx_b + f * sx_f
    o_off = b * T * F + f  # outputs are contiguous (B, T, F)
    v = tl.load(v0_ptr + n, mask=mask, other=0.0)
    beta = tl.load(beta_ptr + n, mask=mask, other=0.0)
    thr = tl.load(thr_ptr + n, mask=mask, other=0.0)
    if ADAPTIVE:
        a = tl.load(a0_ptr + n, mask=mask, other=0.0)
        alpha = tl.load(const_ptr + 1)
        decay = tl.load(const_ptr + 2)
    for _ in range(T):
        h = v * beta
        h = h + tl.load(x_ptr + x_off, mask=mask, other=0.0).to(v.dtype)
        if ADAPTIVE:
            thr_t = thr + a * alpha
            tl.store(thr_eff_ptr + o_off, thr_t, mask=mask)
        else:
            thr_t = thr
        z = h - thr_t
        spk = z > 0
        tl.store(h_ptr + o_off, h, mask=mask)
        # bool -> float32 -> spike dtype (the interpreter cannot cast bool to bfloat16 directly)
        tl.store(s_ptr + o_off, spk.to(tl.float32).to(s_ptr.dtype.element_ty), mask=mask)
        v = post_reset(h, z, spk, RESET)
        if RECORD:
            tl.store(m_ptr + o_off, v, mask=mask)
        if ADAPTIVE:
            a = a * decay + spk.to(a.dtype)
        x_off += sx_t
        o_off += F
    tl.store(v_out_ptr + n, v, mask=mask)
    if ADAPTIVE:
        tl.store(a_out_ptr + n, a, mask=mask)


@triton.jit
def _lif_bwd_kernel(
    h_ptr,
    thr_eff_ptr,
    v0_ptr,
    beta_ptr,
    thr_ptr,
    const_ptr,
    gs_ptr,
    gv_ptr,
    ga_ptr,
    gm_ptr,
    dx_ptr,
    dv0_ptr,
    da0_ptr,
    dbeta_ptr,
    dthr_ptr,
    T,
    F,
    M,
    sgs_b,
    sgs_t,
    sgs_f,
    sgm_b,
    sgm_t,
    sgm_f,
    RESET: tl.constexpr,
    ADAPTIVE: tl.constexpr,
    SURROGATE: tl.constexpr,
    HAS_GS: tl.constexpr,
    HAS_GV: tl.constexpr,
    HAS_GA: tl.constexpr,
    HAS_GM: tl.constexpr,
    NEED_X: tl.constexpr,
    NEED_BETA: tl.constexpr,
    NEED_THR: tl.constexpr,
    BLOCK: tl.constexpr,
):
    n = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    mask = n < M
    b = (n // F).to(tl.int64)
    f = (n % F).to(tl.int64)
    last = b * 0 + (T - 1)  # int64, so no offset below is computed in int32
    h_off = (b * T + last) * F + f  # h, thr_eff, dx: contiguous (B, T, F); start at t = T-1
    gs_off = b * sgs_b + f * sgs_f + last * sgs_t
    gm_off = b * sgm_b + f * sgm_f + last * sgm_t
    v0 = tl.load(v0_ptr + n, mask=mask, other=0.0)
    beta = tl.load(beta_ptr + n, mask=mask, other=0.0)
    thr = tl.load(thr_ptr + n, mask=mask, other=0.0)
    k0 = tl.load(const_ptr)  # surrogate constants: k0 at 0, k1..k3 and the normaliser at 3..6
    k1 = tl.load(const_ptr + 3)
    k2 = tl.load(const_ptr + 4)
    k3 = tl.load(const_ptr + 5)
    k_norm = tl.load(const_ptr + 6)
    zero = tl.zeros_like(v0)
    dv = tl.load(gv_ptr + n, mask=mask, other=0.0).to(v0.dtype) if HAS_GV else zero
    if ADAPTIVE:
        alpha = tl.load(const_ptr + 1)
        decay = tl.load(const_ptr + 2)
        da = tl.load(ga_ptr + n, mask=mask, other=0.0).to(v0.dtype) if HAS_GA else zero
    dbeta = zero
    dthr = zero
    dh_next = zero  # dh_{t+1}, for dbeta += dh_{t+1} * v_t
    for _ in range(T):
        h = tl.load(h_ptr + h_off, mask=mask, other=0.0)
        if ADAPTIVE:
            thr_t = tl.load(thr_eff_ptr + h_off, mask=mask, other=0.0)
        else:
            thr_t = thr
        z = h - thr_t
        spk = z > 0
        if NEED_BETA:
            dbeta += dh_next * post_reset(h, z, spk, RESET)
        sg = surrogate_grad(z, k0, k1, k2, k3, SURROGATE) / k_norm
        if HAS_GM:
            dv = dv + tl.load(gm_ptr + gm_off, mask=mask, other=0.0).to(v0.dtype)
        if HAS_GS:
            ds = tl.load(gs_ptr + gs_off, mask=mask, other=0.0).to(v0.dtype)
        else:
            ds = zero
        if ADAPTIVE:
            ds = ds + da
        if RESET == 0:
            ds = ds - thr_t * dv
        elif RESET == 1:
            ds = ds - h * dv
        dz = ds * sg
        if RESET == 1:
            dh = tl.where(spk, dz, dz + dv)  # dz + dv * (1 - s)
        else:
            dh = dz + dv
        if NEED_X:
            tl.store(dx_ptr + h_off, dh.to(dx_ptr.dtype.element_ty), mask=mask)
        if RESET == 0:
            neg_dthr = tl.where(spk, dz + dv, dz)  # dz + s * dv
        else:
            neg_dthr = dz
        if NEED_THR:
            dthr -= neg_dthr
        if ADAPTIVE:
            da = da * decay - neg_dthr * alpha
        dv = dh * beta
        dh_next = dh
        h_off -= F
        gs_off -= sgs_t
        gm_off -= sgm_t
    tl.store(dv0_ptr + n, dv, mask=mask)
    if ADAPTIVE:
        tl.store(da0_ptr + n, da, mask=mask)
    if NEED_BETA:
        tl.store(dbeta_ptr + n, dbeta + dh_next * v0, mask=mask)
    if NEED_THR:
        tl.store(dthr_ptr + n, dthr, mask=mask)


def interpreted() -> bool:
    """True when triton was imported under its interpreter (``TRITON_INTERPRET=1``): the kernels
    then run on CPU tensors (the tests' way to check them without a GPU)."""
    from triton.runtime.interpreter import InterpretedFunction

    return isinstance(_lif_fwd_kernel, InterpretedFunction)


def per_neuron_values(value: Tensor, state_shape: Tuple[int, ...]) -> Tensor:
    """``(B * prod(F),)`` contiguous copy of a state ``(B, *F)`` or a parameter broadcastable to F."""
    return torch.broadcast_to(value, state_shape).contiguous().view(-1)


def _as_btf(t: Tensor) -> Tensor:
    """``(B, T, *F)`` -> ``(B, T, prod(F))``, a view where the strides allow (any strides)."""
    return t.reshape(t.shape[0], t.shape[1], -1)


def _btf_strides(prefix: str, t: Tensor, btf: Tuple[int, int, int]) -> Dict[str, int]:
    """Keyword strides ``{prefix_b, prefix_t, prefix_f}`` of a ``(B, T, F)`` tensor (shape checked)."""
    expect_shape(prefix, t, btf)
    sb, st, sf = t.stride()
    return {f"{prefix}_b": sb, f"{prefix}_t": st, f"{prefix}_f": sf}


def expect_shape(name: str, t: Tensor, shape: Tuple[int, ...], *, contiguous: bool = False) -> Tensor:
    """``t`` itself after checking the shape (and contiguity) a kernel indexes it with."""
    if tuple(t.shape) != tuple(shape):
        raise RuntimeError(f"fused_triton: {name} has shape {tuple(t.shape)}, the kernel expects {tuple(shape)}")
    if contiguous and not t.is_contiguous():
        raise RuntimeError(f"fused_triton: {name} {tuple(t.shape)} must be contiguous (the kernel indexes it densely)")
    return t


#: Length of the constants vector of :func:`kernel_constants`.
N_CONSTANTS = 7


def kernel_constants(surrogate: Optional[Surrogate], adapt_alpha, adapt_decay, dtype, device) -> Tensor:  # noqa: ANN001
    """Kernel scalars in the state dtype, rounded like PyTorch rounds a Python scalar operand.

    Layout: ``[k0, adapt_alpha, adapt_decay, k1, k2, k3, surrogate divisor]``.
    """
    k0, k1, k2, k3, k_norm = _surrogate_constant(surrogate) if surrogate is not None else (0.0,) * 4 + (1.0,)
    return torch.tensor([k0, adapt_alpha or 0.0, adapt_decay or 0.0, k1, k2, k3, k_norm], dtype=dtype, device=device)


def _grid(m: int) -> Tuple[int]:
    return (triton.cdiv(m, _BLOCK),)


def on_device(device: torch.device) -> contextlib.AbstractContextManager:
    """Launch on the tensors' GPU (Triton launches on the current CUDA device)."""
    return torch.cuda.device(device) if device.type == "cuda" else contextlib.nullcontext()


def lif_forward(x, v0, beta, thr, a0, reset, adapt_alpha, adapt_decay, record_membrane):  # noqa: ANN001
    """Same contract as :func:`brain_ai.core.fused._forward` (x ``(B, T, *F)``, states ``(B, *F)``).

    Returns ``spikes, v_T, a_T, membrane, h, thr_eff`` (``a_T`` / ``thr_eff`` None without
    adaptation, ``membrane`` None unless ``record_membrane``). Every kernel argument is passed
    by name, and every tensor's shape is checked against what the kernel indexes.
    """
    state_shape, dtype = tuple(v0.shape), v0.dtype
    batch, steps, m = x.shape[0], x.shape[1], v0.numel()
    btf = (batch, steps, m // batch)
    flat = (m,)
    adaptive = a0 is not None
    spikes = torch.empty(x.shape, dtype=x.dtype, device=x.device)
    h = torch.empty(x.shape, dtype=dtype, device=x.device)
    membrane = torch.empty_like(h) if record_membrane else None
    thr_eff = torch.empty_like(h) if adaptive else None
    v_out = torch.empty(state_shape, dtype=dtype, device=x.device)
    a_out = torch.empty_like(v_out) if adaptive else None
    dense = lambda name, t: expect_shape(name, _as_btf(t), btf, contiguous=True)  # noqa: E731  (B, T, F) outputs
    vec = lambda name, t: expect_shape(name, t.contiguous().view(-1), flat)  # noqa: E731  (B * F,) per neuron
    x3 = _as_btf(x)  # (B, T, F), any strides
    h3 = dense("h", h)
    with on_device(x.device):
        _lif_fwd_kernel[_grid(m)](
            x_ptr=x3,
            v0_ptr=vec("v0", v0),
            a0_ptr=vec("a0", a0 if adaptive else v0),
            beta_ptr=vec("beta", per_neuron_values(beta, state_shape)),
            thr_ptr=vec("threshold", per_neuron_values(thr, state_shape)),
            const_ptr=expect_shape(
                "constants", kernel_constants(None, adapt_alpha, adapt_decay, dtype, x.device), (N_CONSTANTS,)
            ),
            s_ptr=dense("spikes", spikes),
            h_ptr=h3,
            m_ptr=dense("membrane", membrane) if record_membrane else h3,
            thr_eff_ptr=dense("thr_eff", thr_eff) if adaptive else h3,
            v_out_ptr=vec("v_out", v_out),
            a_out_ptr=vec("a_out", a_out if adaptive else v_out),
            T=steps,
            F=btf[2],
            M=m,
            **_btf_strides("sx", x3, btf),
            RESET=RESET_ID[reset],
            ADAPTIVE=adaptive,
            RECORD=bool(record_membrane),
            BLOCK=_BLOCK,
            num_warps=_NUM_WARPS,
            enable_fp_fusion=False,
        )
    return spikes, v_out, a_out, membrane, h, thr_eff


def lif_backward(
    h,
    thr_eff,
    v0,
    beta,
    thr,
    reset,
    surrogate,
    adapt_alpha,
    adapt_decay,
    g_s,
    g_v,
    g_a,
    g_m,
    x_dtype,
    need_x,
    need_beta,
    need_thr,
):  # noqa: ANN001,E501
    """Reverse-time kernel; returns ``(dx in x_dtype or None, dv0, dbeta, dthr, da0)``.

    ``h`` / ``thr_eff`` are the forward's contiguous ``(B, T, *F)`` records, ``g_s`` / ``g_m``
    the gradients of spikes / membrane ``(B, T, *F)`` (any strides), ``g_v`` / ``g_a`` of the
    final state ``(B, *F)``; each ``g_*`` may be None (no gradient). ``dbeta`` / ``dthr`` are
    per neuron ``(B, *F)`` (None unless needed), to be summed to the parameter's shape; ``da0``
    is None without adaptation. Every kernel argument is passed by name, and every tensor's
    shape is checked against what the kernel indexes.
    """
    state_shape, dtype = tuple(v0.shape), v0.dtype
    batch, steps, m = h.shape[0], h.shape[1], v0.numel()
    btf = (batch, steps, m // batch)
    flat = (m,)
    adaptive = thr_eff is not None
    dx = torch.empty(h.shape, dtype=x_dtype, device=h.device) if need_x else None
    dv0 = torch.empty(state_shape, dtype=dtype, device=h.device)
    da0 = torch.empty_like(dv0) if adaptive else None
    dbeta = torch.empty_like(dv0) if need_beta else None
    dthr = torch.empty_like(dv0) if need_thr else None
    dense = lambda name, t: expect_shape(name, _as_btf(t), btf, contiguous=True)  # noqa: E731  (B, T, F)
    vec = lambda name, t: expect_shape(name, t.contiguous().view(-1), flat)  # noqa: E731  (B * F,) per neuron
    h3 = dense("h", h)
    # an absent gradient is never read (HAS_GS / HAS_GM False): h3 stands in, with h3's strides
    gs3 = _as_btf(g_s) if g_s is not None else h3  # (B, T, F), any strides
    gm3 = _as_btf(g_m) if g_m is not None else h3
    dv0_flat = vec("dv0", dv0)
    with on_device(h.device):
        _lif_bwd_kernel[_grid(m)](
            h_ptr=h3,
            thr_eff_ptr=dense("thr_eff", thr_eff) if adaptive else h3,
            v0_ptr=vec("v0", v0),
            beta_ptr=vec("beta", per_neuron_values(beta, state_shape)),
            thr_ptr=vec("threshold", per_neuron_values(thr, state_shape)),
            const_ptr=expect_shape(
                "constants", kernel_constants(surrogate, adapt_alpha, adapt_decay, dtype, h.device), (N_CONSTANTS,)
            ),
            gs_ptr=gs3,
            gv_ptr=vec("g_v", per_neuron_values(g_v, state_shape)) if g_v is not None else dv0_flat,
            ga_ptr=vec("g_a", per_neuron_values(g_a, state_shape)) if g_a is not None else dv0_flat,
            gm_ptr=gm3,
            dx_ptr=dense("dx", dx) if need_x else h3,
            dv0_ptr=dv0_flat,
            da0_ptr=vec("da0", da0) if adaptive else dv0_flat,
            dbeta_ptr=vec("dbeta", dbeta) if need_beta else dv0_flat,
            dthr_ptr=vec("dthr", dthr) if need_thr else dv0_flat,
            T=steps,
            F=btf[2],
            M=m,
            **_btf_strides("sgs", gs3, btf),
            **_btf_strides("sgm", gm3, btf),
            RESET=RESET_ID[reset],
            ADAPTIVE=adaptive,
            SURROGATE=SURROGATE_KIND[type(surrogate)],
            HAS_GS=g_s is not None,
            HAS_GV=g_v is not None,
            HAS_GA=g_a is not None,
            HAS_GM=g_m is not None,
            NEED_X=bool(need_x),
            NEED_BETA=bool(need_beta),
            NEED_THR=bool(need_thr),
            BLOCK=_BLOCK,
            num_warps=_NUM_WARPS,
        )
    return dx, dv0, dbeta, dthr, da0
