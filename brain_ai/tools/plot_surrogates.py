"""Figure of every built-in surrogate: its gradient and its smooth forward, at default parameters.

``python scripts/plot_surrogates.py [--out docs/images/surrogates.png]`` draws one panel per name of
:data:`brain_ai.core.surrogates.SURROGATES` (the registry, so a new surrogate appears by itself):
the gradient ``grad(x)`` the backward uses (peak-normalised, solid) and the smooth forward whose
derivative it is (dashed): ``fun(x)`` where the surrogate defines ``surrogate_fun``, else the
integral of ``grad`` from the left edge of the plot (dotted, "integrated"). Each title gives the
published peak (what ``normalize=False`` keeps) and the full width at half maximum (FWHM),
both in units of ``x = v - v_th``.
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path
from typing import List, Optional

import torch

from brain_ai.core.surrogates import SURROGATES, Surrogate

#: x = v - v_th range drawn, and points per curve
X_RANGE, N_POINTS = 2.0, 2001
COLUMNS = 5
DEFAULT_OUT = Path(__file__).resolve().parents[2] / "docs" / "images" / "surrogates.png"


def full_width_half_max(sg: Surrogate, x: torch.Tensor) -> float:
    """Full width of ``x`` where the normalised gradient is >= 1/2 (inf if it never falls below)."""
    above = x[sg.grad(x) >= 0.5]
    return math.inf if above.numel() == 0 or above.max() >= x.max() else float(above.max() - above.min())


def smooth_forward(sg: Surrogate, x: torch.Tensor) -> "tuple[torch.Tensor, bool]":
    """``(sg.fun(x), True)`` when it has a closed form, else the trapezoid integral of ``grad``, False."""
    if sg.has_surrogate_fun():
        return sg.fun(x), True
    g = sg.grad(x)
    steps = (g[1:] + g[:-1]) * (x[1:] - x[:-1]) / 2.0
    return torch.cat([g.new_zeros(1), steps.cumsum(0)]), False


def draw(out: Path) -> List[str]:
    """Write the figure to ``out`` (PNG); returns the surrogate names in panel order."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    names = sorted(SURROGATES)
    rows = math.ceil(len(names) / COLUMNS)
    fig = Figure(figsize=(3.0 * COLUMNS, 2.3 * rows), dpi=90)
    FigureCanvasAgg(fig)
    x = torch.linspace(-X_RANGE, X_RANGE, N_POINTS, dtype=torch.float64)
    for i, name in enumerate(names):
        sg = SURROGATES[name]()
        ax = fig.add_subplot(rows, COLUMNS, i + 1)
        forward, closed = smooth_forward(sg, x)
        ax.plot(x, sg.grad(x), color="tab:blue", label="grad (normalised)")
        ax.plot(x, forward, "--" if closed else ":", color="tab:orange", label="fun" if closed else "integrated")
        ax.set_ylim(-0.1, 2.1)
        ax.axvline(0.0, color="grey", lw=0.5)
        width = full_width_half_max(sg, x)
        width_text = f"{width:.2g}" if math.isfinite(width) else f"> {2 * X_RANGE:g}"
        ax.set_title(f"{name}\npublished peak {sg.peak():.3g}, FWHM {width_text}", fontsize=9)
        ax.tick_params(labelsize=7)
        if i == 0:
            ax.legend(fontsize=7, loc="upper left")
    fig.suptitle("brain_ai surrogates at default parameters: x = v - v_th", fontsize=12)
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out)
    return names


def main(argv: Optional[List[str]] = None) -> int:
    """Command line: ``--out PATH`` (default ``docs/images/surrogates.png``)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="PNG file to write")
    args = parser.parse_args(argv)
    names = draw(args.out)
    print(f"wrote {args.out} ({len(names)} surrogates)")
    return 0
