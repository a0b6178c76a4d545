"""Numpy reference LIF (the brain_ai contract dynamics) and the dynamics-check inputs.

Reference, one step, batch-first ``(B, T, N)`` arrays, float64::

    v   = beta * v + x           # charge (v starts at 0)
    s   = (v - thr > 0)          # strict spike test
    v   = v - s * thr            # subtractive reset, gradient flows through s

The backward pass (:func:`lif_reference_grad`) is plain BPTT of ``loss = sum(w * s)`` with the
surrogate derivative ``g(v - thr)`` supplied by the caller, so each library is checked against
its *own* surrogate and only the structure of its BPTT (reset path included) is compared.
"""

from __future__ import annotations

from typing import Dict, Tuple

import numpy as np

BETA = 0.9
THRESHOLD = 1.0
#: T, B, N of the dynamics check (small on purpose: it runs in every timed run)
CHECK_SHAPE = (20, 2, 8)
#: input ranges: "moderate" keeps v < 2*thr, "strong" lets v exceed 2*thr (v stays above
#: threshold after one soft reset, which is where reset conventions differ)
REGIMES: Dict[str, Tuple[float, float]] = {"moderate": (-0.3, 0.6), "strong": (0.0, 2.5)}
#: every pre-reset membrane keeps at least this distance from 1, 2, 3 thresholds, so float
#: rounding or ``>`` versus ``>=`` cannot flip a spike
MARGIN = 1e-3


def lif_reference(x: np.ndarray, beta: float = BETA, thr: float = THRESHOLD) -> Tuple[np.ndarray, np.ndarray]:
    """Spikes and pre-reset membranes of the reference LIF.

    Args:
        x: input current ``(B, T, N)``.
    Returns:
        ``(spikes, v_pre)``, both ``(B, T, N)`` float64; ``v_pre`` is the membrane after the
        charge and before the reset (the value the spike test sees).
    """
    x = np.asarray(x, dtype=np.float64)
    v = np.zeros((x.shape[0],) + x.shape[2:])
    spikes = np.zeros_like(x)
    v_pre = np.zeros_like(x)
    for t in range(x.shape[1]):
        v = beta * v + x[:, t]
        s = (v - thr > 0).astype(np.float64)
        v_pre[:, t] = v
        spikes[:, t] = s
        v = v - s * thr
    return spikes, v_pre


def lif_reference_grad(
    w: np.ndarray, surrogate_grad: np.ndarray, beta: float = BETA, thr: float = THRESHOLD
) -> np.ndarray:
    """d(sum(w * spikes)) / dx by BPTT through charge, spike and (non-detached) reset.

    Args:
        w: loss weights ``(B, T, N)``.
        surrogate_grad: ``g(v_pre - thr)`` ``(B, T, N)``: the library's pseudo-derivative at the
            pre-reset membranes of :func:`lif_reference`.
    Returns:
        gradient w.r.t. the input current, ``(B, T, N)`` float64.
    """
    grad_x = np.zeros_like(w, dtype=np.float64)
    grad_v_post = np.zeros(w.shape[:1] + w.shape[2:])  # dL/dv after the reset of step t
    for t in reversed(range(w.shape[1])):
        # v_post = v_pre - s * thr,  s = H(v_pre - thr):  dL/dv_pre = (w - thr*gv_post)*g + gv_post
        grad_v_pre = (w[:, t] - thr * grad_v_post) * surrogate_grad[:, t] + grad_v_post
        grad_x[:, t] = grad_v_pre
        grad_v_post = beta * grad_v_pre
    return grad_x


def check_input(regime: str, shape: Tuple[int, int, int] = CHECK_SHAPE, seed: int = 0) -> np.ndarray:
    """Input current ``(B, T, N)`` float32 drawn uniformly from ``REGIMES[regime]``.

    Draws with successive seeds until every pre-reset membrane (computed in float64 on the
    float32 values) is at least ``MARGIN`` away from 1, 2 and 3 thresholds.
    """
    if regime not in REGIMES:
        raise ValueError(f"regime={regime!r}; allowed: {sorted(REGIMES)}")
    low, high = REGIMES[regime]
    t_steps, batch, n = shape
    for attempt in range(1000):
        rng = np.random.default_rng(seed + attempt)
        x = rng.uniform(low, high, size=(batch, t_steps, n)).astype(np.float32)
        _, v_pre = lif_reference(x)
        distance = np.min(np.abs(v_pre[..., None] - THRESHOLD * np.arange(1, 4)), axis=-1)
        if distance.min() > MARGIN:
            return x
    raise RuntimeError(f"no {regime} input with margin {MARGIN} found in 1000 draws")


def check_weights(shape: Tuple[int, int, int] = CHECK_SHAPE, seed: int = 1) -> np.ndarray:
    """Loss weights ``(B, T, N)`` float32 in [0.5, 1.5] so every spike's gradient path counts."""
    t_steps, batch, n = shape
    return np.random.default_rng(seed).uniform(0.5, 1.5, size=(batch, t_steps, n)).astype(np.float32)


def compare_spikes(spikes: np.ndarray, reference: np.ndarray) -> Dict[str, int]:
    """Counts for the report: spikes emitted by the library, by the reference, and mismatches."""
    return {
        "lib_spikes": int(np.asarray(spikes).sum()),
        "ref_spikes": int(reference.sum()),
        "mismatches": int((np.asarray(spikes) != reference).sum()),
    }


def grad_rel_error(grad: np.ndarray, reference: np.ndarray) -> float:
    """max |grad - ref| / max(max |ref|, 1e-12)."""
    return float(np.max(np.abs(grad - reference)) / max(float(np.max(np.abs(reference))), 1e-12))
