"""Triton kernels vs the PyTorch time loops of the same Functions: the launch-shape case grid.

Every case runs :func:`~brain_ai.core.fused.fused_lif_sequence` twice on identical leaves, once
with ``backend="triton"`` and once with ``backend="fused"`` (the eager loop), and compares the
forward outputs bit for bit and the gradients within ``1e-10`` (fp64) / ``1e-5`` (fp32) of the
largest reference gradient (one unit in the last place for fp16 / bf16 gradients).

The grid covers every launch shape of the kernels: feature rank 1, 2, 3 x every non-empty set of
outputs that receive a gradient (spikes, final v, final a, membrane record; the others' gradients
are None) x LIF / adaptive x every reset mode; time-major, strided and channels-last inputs, a
stride-0 (expanded) spike gradient, T = 1, inputs or parameters alone needing a gradient, every
surrogate, every dtype, several program blocks; on CUDA also large sequences.

The ``recurrent-`` cases do the same for the recurrent adaptive LIF
(:func:`~brain_ai.core.fused_recurrent.fused_recurrent_sequence`, :class:`RecurrentCase`): every
reset, every output's gradient alone and all together, T = 1, inputs or parameters alone, layer-wide
parameters, time-major and strided inputs, fp32 over two programs and two matmul blocks, bf16
input, every surrogate, and a layer run with truncation and checkpoint segments. Their spikes must
be equal and the states within rounding (the kernel's matmul sums in another order than BLAS).

On CPU the kernels run under the Triton interpreter: ``main`` sets ``TRITON_INTERPRET=1`` before
triton is imported (``python -m brain_ai.tools.kernel_cases --device cpu``). On a GPU:
``--device cuda``. ``scripts/gpu_check.py`` and ``tests/core/test_fused_triton.py`` use it.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import traceback
from dataclasses import dataclass
from itertools import combinations
from typing import Dict, Iterable, List, Optional, Sequence, Tuple

import torch
from torch import Tensor

from brain_ai.config import ResetMode
from brain_ai.core.surrogates import SURROGATES, get_surrogate

#: adaptation constants of every adaptive case (and of ``tests/core/test_fused.py``)
ADAPT = {"adaptation_alpha": 0.5, "adaptation_decay": 0.9}
#: feature shapes by rank (tiny: the interpreter runs every step in Python)
FEATURES = {1: (7,), 2: (3, 4), 3: (3, 2, 3)}


def make_inputs(shape, dtype, *, per_neuron, v0_given, adaptive, seed=0, device="cpu"):  # noqa: ANN001,ANN201
    """Fixed-seed leaves ``x (B, T, *F), v0, beta, thr, a0`` (v0 / a0 None unless given), all requiring grad.

    ``x = 0.3 + 0.6 randn`` (so some neurons fire, some stay silent); beta in [0.6, 0.95],
    threshold in [0.7, 1.3], per channel (``(F0, 1, ...)``) or scalars. Drawn on the CPU in
    float64, then moved to ``device`` and ``dtype`` (the state dtype for fp16 / bf16 inputs).
    """
    g = torch.Generator().manual_seed(seed)
    sd = torch.float32 if dtype in (torch.float16, torch.bfloat16) else dtype

    def leaf(t: Tensor, dt: torch.dtype) -> Tensor:
        return t.to(device=device, dtype=dt).requires_grad_()

    x = leaf(0.3 + 0.6 * torch.randn(shape, generator=g, dtype=torch.float64), dtype)
    feat = shape[2:]
    pshape = (feat[0],) + (1,) * (len(feat) - 1) if per_neuron else ()
    beta = leaf(0.6 + 0.35 * torch.rand(pshape, generator=g, dtype=torch.float64), sd)
    thr = leaf(0.7 + 0.6 * torch.rand(pshape, generator=g, dtype=torch.float64), sd)
    state_shape = (shape[0], *feat)
    v0 = leaf(0.5 * torch.randn(state_shape, generator=g, dtype=torch.float64), sd) if v0_given else None
    a0 = leaf(0.3 * torch.rand(state_shape, generator=g, dtype=torch.float64), sd) if adaptive and v0_given else None
    return x, v0, beta, thr, a0


def assert_same_forward(got_out: Sequence[Optional[Tensor]], want_out: Sequence[Optional[Tensor]]) -> None:
    """Same dtype, shape and values (bit for bit) of every output; None where the reference has None."""
    for got, want in zip(got_out, want_out):
        if want is None:
            assert got is None
            continue
        assert got.dtype == want.dtype and got.shape == want.shape
        assert torch.equal(got, want), (got - want).abs().max()


def assert_close_grads(got_grads: Sequence[Tensor], want_grads: Sequence[Tensor], rtol: float) -> None:
    """Max abs difference <= rtol * max(|ref|, 1); half-precision gradients (of a half input,
    computed in fp32 by both paths and rounded once) may differ by one unit in the last place."""
    for got, want in zip(got_grads, want_grads):
        assert got.dtype == want.dtype and got.shape == want.shape
        tol = max(rtol, torch.finfo(got.dtype).eps) if got.dtype in (torch.float16, torch.bfloat16) else rtol
        scale = want.abs().max().float().clamp_min(1.0)
        assert (got - want).abs().max() <= tol * scale, ((got - want).abs().max(), scale)


@dataclass(frozen=True)
class KernelCase:
    """One comparison. ``grads``: outputs whose gradient is not None ("s" spikes, "v" final v,
    "a" final a, "m" membrane record); ``("spike_sum",)`` is ``spikes.sum()`` (a stride-0
    gradient). ``layout``: how ``x`` is laid out ("batch" contiguous, "time_major" a (B, T, ...)
    view of (T, B, ...) data, "strided" every other feature of a wider tensor, "channels_last"
    rank-3 features stored (H, W, C)). ``needs``: leaves that require grad ("x", "params", "all").
    ``normalize`` / ``surrogate_params``: the surrogate's scale and non-default parameters.
    ``v_rest`` / ``v_reset``: resting potential and reset value (reset=zero) of the neurons."""

    name: str
    shape: Tuple[int, ...]
    dtype: torch.dtype = torch.float64
    reset: ResetMode = ResetMode.subtract
    surrogate: str = "atan"
    adaptive: bool = False
    grads: Tuple[str, ...] = ("s", "v", "a", "m")
    membrane: bool = True
    per_neuron: bool = True
    v0_given: bool = True
    layout: str = "batch"
    needs: str = "all"
    normalize: bool = True
    surrogate_params: Tuple[Tuple[str, float], ...] = ()
    v_rest: float = 0.0
    v_reset: float = 0.0


def _kind(adaptive: bool) -> str:
    return "adaptive" if adaptive else "lif"


def _grad_sets(adaptive: bool) -> Iterable[Tuple[str, ...]]:
    outputs = ("s", "v", "a", "m") if adaptive else ("s", "v", "m")
    for k in range(1, len(outputs) + 1):
        yield from combinations(outputs, k)


def case_grid(device: str = "cpu") -> List[KernelCase]:
    """Every case for ``device`` (CUDA adds large sequences); names are unique."""
    out: List[KernelCase] = []
    for rank, feat in FEATURES.items():
        for adaptive in (False, True):
            for reset in ResetMode:
                for grads in _grad_sets(adaptive):
                    name = f"grid-rank{rank}-{_kind(adaptive)}-{reset.value}-grad_{''.join(grads)}"
                    out.append(KernelCase(name, (2, 6, *feat), reset=reset, adaptive=adaptive, grads=grads))
    for rank in (1, 3):
        feat = FEATURES[rank]
        for adaptive in (False, True):
            kind = _kind(adaptive)
            out.append(
                KernelCase(
                    f"layout-time_major-rank{rank}-{kind}", (3, 6, *feat), adaptive=adaptive, layout="time_major"
                )
            )
            out.append(
                KernelCase(f"layout-strided-rank{rank}-{kind}", (3, 6, *feat), adaptive=adaptive, layout="strided")
            )
            out.append(
                KernelCase(
                    f"layout-spike_sum-rank{rank}-{kind}",
                    (3, 6, *feat),
                    adaptive=adaptive,
                    grads=("spike_sum",),
                    membrane=False,
                )
            )
            for reset in ResetMode:
                out.append(
                    KernelCase(f"t1-rank{rank}-{kind}-{reset.value}", (4, 1, *feat), reset=reset, adaptive=adaptive)
                )
            for needs in ("x", "params"):
                out.append(
                    KernelCase(f"needs-{needs}-rank{rank}-{kind}", (2, 6, *feat), adaptive=adaptive, needs=needs)
                )
    for adaptive in (False, True):
        out.append(
            KernelCase(
                f"layout-channels_last-rank3-{_kind(adaptive)}",
                (2, 6, 3, 2, 3),
                adaptive=adaptive,
                layout="channels_last",
            )
        )
    for name in sorted(SURROGATES):
        for reset in ResetMode:
            for adaptive in (False, True):
                out.append(
                    KernelCase(
                        f"surrogate-{name}-{reset.value}-{_kind(adaptive)}",
                        (3, 12, 7),
                        torch.float32,
                        reset,
                        name,
                        adaptive,
                    )
                )
        # the published scale through the kernel too, with non-default parameters (n = 5 terms, ...)
        params = tuple((p.name, p.default + 3 if p.integer else p.default * 1.3) for p in SURROGATES[name].params)
        out.append(
            KernelCase(
                f"raw-{name}",
                (3, 12, 7),
                torch.float32,
                surrogate=name,
                adaptive=True,
                normalize=False,
                surrogate_params=params,
            )
        )
    params = {"scalar-v0none": (False, False), "perneuron-v0": (True, True), "scalar-v0": (False, True)}
    for dtype in (torch.float32, torch.float64, torch.bfloat16, torch.float16):
        for reset in ResetMode:
            for adaptive in (False, True):
                for pname, (per_neuron, v0_given) in params.items():
                    for membrane in (False, True):
                        out.append(
                            KernelCase(
                                f"dtype-{str(dtype)[6:]}-{reset.value}-{_kind(adaptive)}-{pname}-mem{int(membrane)}",
                                (3, 12, 7),
                                dtype,
                                reset,
                                "fast_sigmoid",
                                adaptive,
                                membrane=membrane,
                                per_neuron=per_neuron,
                                v0_given=v0_given,
                            )
                        )
    for adaptive in (False, True):  # a resting potential, and a reset value other than 0
        for reset in ResetMode:
            out.append(
                KernelCase(
                    f"rest-{reset.value}-{_kind(adaptive)}", (3, 12, 7), reset=reset, adaptive=adaptive, v_rest=0.3
                )
            )
        for v_reset in (-0.4, 0.25):
            out.append(
                KernelCase(
                    f"v_reset{v_reset:+g}-{_kind(adaptive)}",
                    (3, 12, 7),
                    reset=ResetMode.zero,
                    adaptive=adaptive,
                    v_rest=-0.1,
                    v_reset=v_reset,
                )
            )
    for reset in ResetMode:
        for adaptive in (False, True):  # 300 neurons: three program blocks of 128, the last one partial
            out.append(
                KernelCase(f"blocks-{reset.value}-{_kind(adaptive)}", (2, 5, 150), reset=reset, adaptive=adaptive)
            )
    if torch.device(device).type == "cuda":
        for dtype in (torch.float32, torch.bfloat16):
            out.append(
                KernelCase(f"large-16x500x4096-{str(dtype)[6:]}", (16, 500, 4096), dtype, surrogate="fast_sigmoid")
            )
        out.append(
            KernelCase("large-7x123x1001-adaptive-zero", (7, 123, 1001), torch.float32, ResetMode.zero, adaptive=True)
        )
        out.append(
            KernelCase("large-conv-8x50x16x16x16", (8, 50, 16, 16, 16), torch.float32, grads=("v",), membrane=False)
        )
    return out


@dataclass(frozen=True)
class RecurrentCase:
    """One recurrent adaptive LIF comparison (``fused_recurrent_sequence``, backend triton vs fused).
    ``grads``: outputs whose gradient is not None ("s" spikes, "v" / "a" / "p" final membrane,
    adaptation and previous spikes, "m" membrane record). The other fields as in :class:`KernelCase`."""

    name: str
    shape: Tuple[int, int, int]
    dtype: torch.dtype = torch.float64
    reset: ResetMode = ResetMode.subtract
    surrogate: str = "atan"
    grads: Tuple[str, ...] = ("s", "v", "a", "p", "m")
    per_neuron: bool = True
    v0_given: bool = True
    layout: str = "batch"
    needs: str = "all"


def recurrent_grid(device: str = "cpu") -> List[RecurrentCase]:
    """The recurrent kernel's cases (CUDA adds the pixel-wise S-MNIST shape); small: the interpreter runs every step."""
    out = [RecurrentCase(f"recurrent-{reset.value}-grad_svapm", (3, 6, 7), reset=reset) for reset in ResetMode]
    out += [RecurrentCase(f"recurrent-subtract-grad_{g}", (3, 6, 7), grads=(g,)) for g in "svapm"]
    out += [RecurrentCase(f"recurrent-t1-{reset.value}", (3, 1, 7), reset=reset) for reset in ResetMode]
    out += [RecurrentCase(f"recurrent-needs-{needs}", (3, 6, 7), needs=needs) for needs in ("x", "params")]
    out.append(RecurrentCase("recurrent-layer_params-v0none", (3, 6, 7), per_neuron=False, v0_given=False))
    out += [
        RecurrentCase(f"recurrent-layout-{layout}", (3, 6, 7), layout=layout) for layout in ("time_major", "strided")
    ]
    out.append(
        RecurrentCase("recurrent-float32-blocks", (20, 5, 40), torch.float32, ResetMode.zero)
    )  # 2 programs, 2 K blocks
    out.append(RecurrentCase("recurrent-bfloat16-input", (3, 6, 7), torch.bfloat16, surrogate="fast_sigmoid"))
    out += [
        RecurrentCase(f"recurrent-surrogate-{name}", (2, 4, 5), torch.float32, surrogate=name)
        for name in sorted(SURROGATES)
    ]
    if torch.device(device).type == "cuda":  # fp64: no spike flips from the summation order over 784 steps
        out.append(RecurrentCase("recurrent-large-32x784x256-float64", (32, 784, 256), surrogate="fast_sigmoid"))
        out.append(
            RecurrentCase("recurrent-large-32x100x256-float32", (32, 100, 256), torch.float32, surrogate="fast_sigmoid")
        )
        out.append(RecurrentCase("recurrent-large-50x30x512-zero", (50, 30, 512), reset=ResetMode.zero))
    return out


def make_recurrent_inputs(case: RecurrentCase, device: str = "cpu") -> List[Optional[Tensor]]:
    """Fixed-seed leaves ``x (B, T, N), v0, a0, s0, W_rec, beta, rho, thr`` (states None unless given).

    ``x = 0.2 + 0.8 rand``, W_rec ``2 randn / sqrt(N)`` (a recurrence that matters), beta in [0.6, 0.95],
    rho in [0.7, 0.98], threshold in [0.6, 1.1], per neuron or scalars; drawn in float64 on the CPU.
    """
    g = torch.Generator().manual_seed(0)
    batch, _, n = case.shape
    sd = torch.float32 if case.dtype in (torch.float16, torch.bfloat16) else case.dtype
    pshape = (n,) if case.per_neuron else ()
    draw = lambda shape, low, width: low + width * torch.rand(shape, generator=g, dtype=torch.float64)  # noqa: E731
    values = [
        (draw(case.shape, 0.2, 0.8), case.dtype),
        (draw((batch, n), 0.0, 0.5), sd),
        (draw((batch, n), 0.0, 0.3), sd),
        ((torch.rand(batch, n, generator=g) > 0.5).double(), sd),
        (2.0 * torch.randn(n, n, generator=g, dtype=torch.float64) / n**0.5, sd),
        (draw(pshape, 0.6, 0.35), sd),
        (draw(pshape, 0.7, 0.28), sd),
        (draw(pshape, 0.6, 0.5), sd),
    ]
    leaves = [t.to(device=device, dtype=dt).requires_grad_() for t, dt in values]
    if not case.v0_given:
        leaves[1:4] = [None, None, None]
    return leaves


def _run_recurrent(case: RecurrentCase, backend: str, device: str):  # noqa: ANN202
    """Outputs and gradients of one backend on the case's fixed-seed leaves."""
    from brain_ai.core.fused_recurrent import fused_recurrent_sequence

    x, v0, a0, s0, w, beta, rho, thr = make_recurrent_inputs(case, device)
    x = _layout(x, case.layout)
    leaves = [t for t in (x, v0, a0, s0, w, beta, rho, thr) if t is not None]
    if case.needs != "all":
        frozen, leaves = (leaves[1:], leaves[:1]) if case.needs == "x" else (leaves[:1], leaves[1:])
        for t in frozen:
            t.requires_grad_(False)
    outs = fused_recurrent_sequence(
        x,
        v0,
        a0,
        s0,
        w,
        beta,
        rho,
        thr,
        0.4,
        case.reset,
        get_surrogate(case.surrogate),
        record_membrane=True,
        backend=backend,
    )
    g = torch.Generator().manual_seed(1)
    named = dict(zip("svapm", outs))
    total = sum(
        (named[k] * torch.randn(named[k].shape, generator=g, dtype=torch.float64).to(named[k])).sum()
        for k in case.grads
    )
    return outs, torch.autograd.grad(total, leaves)


def run_recurrent_case(case: RecurrentCase, device: str = "cpu") -> None:
    """Raise AssertionError unless the recurrent kernels match the fused PyTorch loops."""
    fwd, grads = _run_recurrent(case, "triton", device)
    ref_fwd, ref_grads = _run_recurrent(case, "fused", device)
    assert fwd[0].sum() > 0 and (fwd[0] == 0).any(), "case exercises no spikes or no silence"
    assert_close_forward(fwd, ref_fwd)
    assert_close_grads(grads, ref_grads, rtol=1e-10 if case.dtype is torch.float64 else 1e-5)


def assert_close_forward(got_out: Sequence[Tensor], want_out: Sequence[Tensor]) -> None:
    """Equal spikes (the first output); the others' dtype, shape and values within rounding of the state dtype."""
    assert_same_forward(got_out[:1], want_out[:1])
    for got, want in zip(got_out[1:], want_out[1:]):
        assert got.dtype == want.dtype and got.shape == want.shape
        tol = 1e-12 if got.dtype is torch.float64 else 1e-5
        assert (got - want).abs().max() <= tol * want.abs().max().clamp_min(1.0), (got - want).abs().max()


def recurrent_layer_segments(device: str = "cpu") -> None:
    """A learnable ``RecurrentAdaptiveLIFNeuron`` with truncation and checkpoint segments: triton vs eager."""
    from brain_ai.config import NeuronConfig
    from brain_ai.core.neurons import build_neuron

    outs = {}
    for backend in ("triton", "eager"):
        cfg = NeuronConfig(
            type="recurrent_adaptive_lif",
            learnable_beta=True,
            per_neuron_beta=True,
            learnable_adaptation=True,
            learnable_threshold=True,
            threshold_shape="per_neuron",
            adaptation_alpha=0.4,
            threshold=0.8,
        )
        torch.manual_seed(0)
        layer = build_neuron(cfg, 6).double().to(device)
        x = (0.2 + 0.8 * torch.rand(2, 7, 6, generator=torch.Generator().manual_seed(2), dtype=torch.float64)).to(
            device
        )
        x.requires_grad_()
        s, state, tr = layer.forward_sequence(x, backend=backend, chunk_size=5, checkpoint_every=2, record="membrane")
        w = torch.linspace(0.5, 1.5, 7, device=device, dtype=torch.float64).view(1, -1, 1)
        loss = (s * w).sum() + state.v.sum() + state.a.sum() + (tr["membrane"] * w).sum()
        outs[backend] = (s, torch.autograd.grad(loss, [x, *layer.parameters()]))
    (s1, g1), (s2, g2) = outs["triton"], outs["eager"]
    assert torch.equal(s1, s2) and s1.sum() > 0 and (s1 == 0).any()
    assert len(g1) == 5  # x, beta, threshold, W_rec, rho
    assert_close_grads(g1, g2, rtol=1e-10)


def _layout(x: Tensor, layout: str) -> Tensor:
    """The same values as ``x (B, T, *F)`` in the case's memory layout (a leaf requiring grad)."""
    data = x.detach()
    if layout == "time_major":
        data = data.transpose(0, 1).contiguous().transpose(0, 1)
    elif layout == "strided":
        wide = torch.zeros(*data.shape[:-1], 2 * data.shape[-1], dtype=data.dtype, device=data.device)
        wide[..., ::2] = data
        data = wide[..., ::2]
    elif layout == "channels_last":
        data = data.permute(0, 1, 3, 4, 2).contiguous().permute(0, 1, 4, 2, 3)
    return data.requires_grad_()


def _run(case: KernelCase, backend: str, device: str):  # noqa: ANN202
    """Outputs and gradients of one backend on the case's fixed-seed leaves."""
    from brain_ai.core.fused import fused_lif_sequence

    x, v0, beta, thr, a0 = make_inputs(
        case.shape,
        case.dtype,
        per_neuron=case.per_neuron,
        v0_given=case.v0_given,
        adaptive=case.adaptive,
        device=device,
    )
    x = _layout(x, case.layout)
    leaves = [t for t in (x, v0, beta, thr, a0) if t is not None]
    if case.needs != "all":  # only the input, or only the state and parameters, need a gradient
        frozen = leaves[1:] if case.needs == "x" else leaves[:1]
        leaves = leaves[:1] if case.needs == "x" else leaves[1:]
        for t in frozen:
            t.requires_grad_(False)
    kw = dict(ADAPT, a0=a0) if case.adaptive else {}
    surrogate = get_surrogate(case.surrogate, normalize=case.normalize, **dict(case.surrogate_params))
    s, v, a, m = fused_lif_sequence(
        x,
        v0,
        beta,
        thr,
        case.reset,
        surrogate,
        record_membrane=case.membrane,
        backend=backend,
        v_rest=case.v_rest,
        v_reset=case.v_reset,
        **kw,
    )
    g = torch.Generator().manual_seed(1)
    if case.grads == ("spike_sum",):
        total = s.sum()
    else:
        named = {"s": s, "v": v, "a": a, "m": m}
        outs = [named[k] for k in case.grads if named[k] is not None]
        total = sum((t * torch.randn(t.shape, generator=g, dtype=torch.float64).to(t)).sum() for t in outs)
    return (s, v, a, m), torch.autograd.grad(total, leaves)


def run_case(case: KernelCase, device: str = "cpu") -> None:
    """Raise AssertionError (or the kernel's error) unless the Triton path matches the eager loop."""
    fwd, grads = _run(case, "triton", device)
    ref_fwd, ref_grads = _run(case, "fused", device)
    assert fwd[0].sum() > 0 and (fwd[0] == 0).any(), "case exercises no spikes or no silence"
    assert_same_forward(fwd, ref_fwd)
    assert_close_grads(grads, ref_grads, rtol=1e-10 if case.dtype is torch.float64 else 1e-5)


def hand_computed_one_step(device: str = "cpu") -> None:
    """T = 1 (Triton specialises an integer argument equal to 1) against numbers worked out by hand."""
    from brain_ai.core.fused import fused_lif_sequence

    x = torch.tensor([[[1.5, 0.2]]], dtype=torch.float64, device=device, requires_grad=True)
    s, v, _, m = fused_lif_sequence(
        x, None, 0.5, 1.0, "subtract", get_surrogate("ste"), record_membrane=True, backend="triton"
    )
    (gx,) = torch.autograd.grad(s.sum() + v.sum(), x)
    assert s.flatten().tolist() == [1.0, 0.0] and m.flatten().tolist() == [0.5, 0.2], (s, m)
    assert gx.flatten().tolist() == [1.0, 1.0], gx  # ste: ds/dh = 1, dv/dh = 1 - thr * 1 = 0


def per_neuron_threshold_layer(neuron_type: str, device: str = "cpu") -> None:
    """A layer with learnable per-neuron thresholds: ``backend="triton"`` against ``"eager"``."""
    from brain_ai.config import NeuronConfig
    from brain_ai.core.neurons import build_neuron

    outs = {}
    for backend in ("triton", "eager"):
        cfg = NeuronConfig(
            type=neuron_type, threshold_shape="per_neuron", learnable_threshold=True, learnable_beta=True
        )
        torch.manual_seed(0)
        layer = build_neuron(cfg, 7).to(device)
        with torch.no_grad():
            layer.threshold.copy_(torch.linspace(0.5, 1.5, 7))
        x = (torch.rand(3, 12, 7, generator=torch.Generator().manual_seed(2)) * 1.5).to(device).requires_grad_()
        s, state, _ = layer.forward_sequence(x, backend=backend)
        w = torch.linspace(0.5, 1.5, 12, device=device).view(1, -1, 1)
        grads = torch.autograd.grad((s * w).sum() + state.v.sum(), [x, layer.threshold, layer.beta_raw])
        outs[backend] = (s, state.v, grads)
    (s1, v1, g1), (s2, v2, g2) = outs["triton"], outs["eager"]
    assert torch.equal(s1, s2) and s1.sum() > 0 and (s1 == 0).any()
    torch.testing.assert_close(v1, v2, rtol=0, atol=1e-6)
    for a, b in zip(g1, g2):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)


def run_cases(device: str = "cpu", prefix: str = "", shard: Tuple[int, int] = (0, 1)) -> Dict[str, str]:
    """``{case name: "ok" | the error}`` for every case whose name starts with ``prefix``;
    ``shard=(k, n)`` keeps every n-th of those, starting at the k-th (for parallel processes)."""
    results: Dict[str, str] = {}
    named = [(c.name, lambda c=c: run_case(c, device)) for c in case_grid(device)]
    named += [(c.name, lambda c=c: run_recurrent_case(c, device)) for c in recurrent_grid(device)]
    named.append(("recurrent-layer-segments", lambda: recurrent_layer_segments(device)))
    named.append(("one-step-hand-computed", lambda: hand_computed_one_step(device)))
    for neuron_type in ("lif", "adaptive_lif"):
        named.append(
            (f"per-neuron-threshold-{neuron_type}", lambda t=neuron_type: per_neuron_threshold_layer(t, device))
        )
    named = [(name, fn) for name, fn in named if name.startswith(prefix)][shard[0] :: shard[1]]
    for name, fn in named:
        try:
            fn()
            results[name] = "ok"
        except Exception:  # noqa: BLE001 - report every failing case, not only the first
            results[name] = traceback.format_exc(limit=4)
    return results


def main(argv: Optional[List[str]] = None) -> int:
    """CLI: run the grid; print a summary (or ``--json``); exit 1 when a case fails."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--device", default="cuda", choices=("cpu", "cuda"), help="cpu runs the Triton interpreter")
    p.add_argument("--prefix", default="", help="only cases whose name starts with this")
    p.add_argument("--shard", default="0/1", help="K/N: run every N-th selected case, starting at the K-th")
    p.add_argument("--json", action="store_true", help="print {case: 'ok' | error} as one JSON line")
    args = p.parse_args(argv)
    k, _, n = args.shard.partition("/")
    if not (k.isdigit() and n.isdigit() and 0 <= int(k) < int(n)):
        p.error(f"--shard={args.shard!r} must be K/N with 0 <= K < N")
    if args.device == "cpu":
        os.environ.setdefault("TRITON_INTERPRET", "1")  # before anything imports triton
    results = run_cases(args.device, args.prefix, (int(k), int(n)))
    failed = {k: v for k, v in results.items() if v != "ok"}
    if args.json:
        print(json.dumps(results))
    else:
        for name, err in failed.items():
            print(f"FAIL {name}\n{err}")
        print(f"{len(results) - len(failed)}/{len(results)} kernel cases ok on {args.device}")
    return 1 if failed or not results else 0


if __name__ == "__main__":
    sys.exit(main())
