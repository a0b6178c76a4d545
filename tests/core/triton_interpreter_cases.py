"""Triton fused-LIF kernels vs the eager fused loop, run under the Triton interpreter on CPU.

Run as a script (``tests/core/test_fused_triton.py`` starts it in a subprocess, because
``TRITON_INTERPRET=1`` must be set before triton is first imported): prints one JSON object
``{"cases": {case_id: "ok" | error message}, "triton_calls": {"forward": n, "backward": n}}``.
Each case runs :func:`fused_lif_sequence` twice on identical leaves, once through the kernels
(``TRITON_DEVICE_TYPES`` extended to "cpu") and once through the eager loop, and compares the
forward outputs bit for bit and the gradients of a random mixed loss within the tolerances of
``test_fused.py`` (1e-5 fp32, 1e-10 fp64, one ulp for fp16 / bf16).
"""

from __future__ import annotations

import json
import os
import sys
import traceback

os.environ["TRITON_INTERPRET"] = "1"  # before anything imports triton

import torch  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import test_fused as ref  # noqa: E402  (make_inputs, assert_same_forward, assert_close_grads)

import brain_ai.core.fused as fused  # noqa: E402
import brain_ai.core.fused_triton as fused_triton  # noqa: E402
from brain_ai.config import ResetMode  # noqa: E402
from brain_ai.core.surrogates import SURROGATES, get_surrogate  # noqa: E402

CALLS = {"forward": 0, "backward": 0}


def _counting(name, fn):  # noqa: ANN001
    def wrapper(*args, **kwargs):  # noqa: ANN002,ANN003
        CALLS[name] += 1
        return fn(*args, **kwargs)

    return wrapper


fused_triton.lif_forward = _counting("forward", fused_triton.lif_forward)
fused_triton.lif_backward = _counting("backward", fused_triton.lif_backward)


def run(path, shape, dtype, reset, surrogate, *, per_neuron, v0_given, adaptive, membrane, loss="mixed", time_major=False):  # noqa: ANN001
    """Outputs and gradients of one path (``path`` "triton" or "eager") on fixed-seed leaves."""
    x, v0, beta, thr, a0 = ref.make_inputs(shape, dtype, per_neuron=per_neuron, v0_given=v0_given, adaptive=adaptive)
    inp = x.detach().transpose(0, 1).contiguous().transpose(0, 1).requires_grad_() if time_major else x
    kw = dict(ref.ADAPT, a0=a0) if adaptive else {}
    fused.TRITON_DEVICE_TYPES = frozenset({"cpu"}) if path == "triton" else frozenset()
    before = dict(CALLS)
    s, v, a, m = fused.fused_lif_sequence(inp, v0, beta, thr, reset, surrogate, record_membrane=membrane, **kw)
    assert (CALLS["forward"] > before["forward"]) == (path == "triton"), f"{path} path not taken"
    g = torch.Generator().manual_seed(1)
    w = lambda t: torch.randn(t.shape, generator=g, dtype=torch.float64).to(t.dtype)  # noqa: E731
    if loss == "mixed":
        total = (s * w(s)).sum() + (v * w(v)).sum() + ((m * w(m)).sum() if membrane else 0)
        total = total + ((a * w(a)).sum() if adaptive else 0)
    elif loss == "spike_sum":  # expanded (stride-0) spike gradient
        total = s.sum()
    else:  # "final_v": no spike / membrane gradient at all
        total = (v * w(v)).sum()
    leaves = [t for t in (inp, v0, beta, thr, a0) if t is not None]
    return (s, v, a, m), torch.autograd.grad(total, leaves)


def compare(shape, dtype, reset, surrogate, **kw) -> None:  # noqa: ANN003
    fwd, grads = run("triton", shape, dtype, reset, surrogate, **kw)
    ref_fwd, ref_grads = run("eager", shape, dtype, reset, surrogate, **kw)
    assert fwd[0].sum() > 0 and (fwd[0] == 0).any(), "case exercises no spikes or no silence"
    ref.assert_same_forward(fwd, ref_fwd)
    ref.assert_close_grads(grads, ref_grads, rtol=1e-10 if dtype is torch.float64 else 1e-5)


def cases():
    base = dict(per_neuron=True, v0_given=True, membrane=True)
    for name in sorted(SURROGATES):
        for reset in ResetMode:
            for adaptive in (False, True):
                kind = "adaptive" if adaptive else "lif"
                yield f"surrogate-{name}-{reset.value}-{kind}", ((3, 12, 7), torch.float32, reset, get_surrogate(name)), dict(base, adaptive=adaptive)
        # the published scale through the kernel too, with non-default parameters (n = 5 terms, ...)
        params = {p.name: p.default + 3 if p.integer else p.default * 1.3 for p in SURROGATES[name].params}
        raw = get_surrogate(name, normalize=False, **params)
        yield f"raw-{name}", ((3, 12, 7), torch.float32, ResetMode.subtract, raw), dict(base, adaptive=True)
    params = {"scalar-v0none": (False, False), "perneuron-v0": (True, True), "scalar-v0": (False, True)}
    for dtype in (torch.float32, torch.float64, torch.bfloat16, torch.float16):
        for reset in ResetMode:
            for adaptive in (False, True):
                for pname, (per_neuron, v0_given) in params.items():
                    for membrane in (False, True):
                        key = f"dtype-{str(dtype)[6:]}-{reset.value}-{'adaptive' if adaptive else 'lif'}-{pname}-mem{int(membrane)}"
                        kw = dict(per_neuron=per_neuron, v0_given=v0_given, adaptive=adaptive, membrane=membrane)
                        yield key, ((3, 12, 7), dtype, reset, get_surrogate("fast_sigmoid")), kw
    for reset in ResetMode:
        for adaptive in (False, True):
            kind = "adaptive" if adaptive else "lif"
            yield f"conv-{reset.value}-{kind}", ((2, 6, 3, 4, 5), torch.float32, reset, get_surrogate("atan")), dict(base, adaptive=adaptive)
            yield f"blocks-{reset.value}-{kind}", ((2, 5, 150), torch.float64, reset, get_surrogate("atan")), dict(base, adaptive=adaptive)
            for loss in ("spike_sum", "final_v"):
                yield f"loss-{loss}-{reset.value}-{kind}", ((3, 12, 7), torch.float64, reset, get_surrogate("sigmoid")), dict(base, adaptive=adaptive, membrane=False, loss=loss)
    yield "time-major-view", ((3, 12, 7), torch.float32, ResetMode.subtract, get_surrogate("atan")), dict(base, adaptive=False, time_major=True)


def one_step() -> None:
    """T = 1 (Triton specialises an integer argument equal to 1) against the eager path."""
    for path in ("triton", "eager"):
        fused.TRITON_DEVICE_TYPES = frozenset({"cpu"}) if path == "triton" else frozenset()
        x = torch.tensor([[[1.5, 0.2]]], dtype=torch.float64, requires_grad=True)
        s, v, _, m = fused.fused_lif_sequence(x, None, 0.5, 1.0, "subtract", get_surrogate("ste"), record_membrane=True)
        (gx,) = torch.autograd.grad(s.sum() + v.sum(), x)
        assert s.flatten().tolist() == [1.0, 0.0] and m.flatten().tolist() == [0.5, 0.2], (s, m)
        assert gx.flatten().tolist() == [1.0, 1.0], gx  # ste: ds/dh = 1, dv/dh = 1 - thr * 1 = 0


def per_neuron_threshold_module(ntype: str) -> None:
    """A layer with learnable per-neuron thresholds: the Triton path against the generic unroll."""
    from brain_ai.config import NeuronConfig
    from brain_ai.core.neurons import build_neuron

    outs = {}
    for path in ("triton", "generic"):
        fused.TRITON_DEVICE_TYPES = frozenset({"cpu"}) if path == "triton" else frozenset()
        cfg = NeuronConfig(type=ntype, threshold_shape="per_neuron", learnable_threshold=True, learnable_beta=True, fused=path == "triton")
        torch.manual_seed(0)
        n = build_neuron(cfg, 7)
        with torch.no_grad():
            n.threshold.copy_(torch.linspace(0.5, 1.5, 7))
        x = (torch.rand(3, 12, 7, generator=torch.Generator().manual_seed(2)) * 1.5).requires_grad_()
        before = dict(CALLS)
        s, st, _ = n.forward_sequence(x)
        assert (CALLS["forward"] > before["forward"]) == (path == "triton"), f"{path} path not taken"
        w = torch.linspace(0.5, 1.5, 12).view(1, -1, 1)
        grads = torch.autograd.grad((s * w).sum() + st.v.sum(), [x, n.threshold, n.beta_raw])
        outs[path] = (s, st.v, grads)
    (s1, v1, g1), (s2, v2, g2) = outs["triton"], outs["generic"]
    assert torch.equal(s1, s2) and s1.sum() > 0 and (s1 == 0).any()
    torch.testing.assert_close(v1, v2, rtol=0, atol=1e-6)
    for a, b in zip(g1, g2):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)


def main() -> None:
    results = {}
    for key, args, kw in cases():
        try:
            compare(*args, **kw)
            results[key] = "ok"
        except Exception:  # noqa: BLE001 - report every failing case, not only the first
            results[key] = traceback.format_exc(limit=3)
    checks = (
        ("one-step", one_step),
        ("per-neuron-threshold-lif", lambda: per_neuron_threshold_module("lif")),
        ("per-neuron-threshold-adaptive", lambda: per_neuron_threshold_module("adaptive_lif")),
    )
    for key, fn in checks:
        try:
            fn()
            results[key] = "ok"
        except Exception:  # noqa: BLE001
            results[key] = traceback.format_exc(limit=3)
    print(json.dumps({"cases": results, "triton_calls": CALLS}))


if __name__ == "__main__":
    main()
