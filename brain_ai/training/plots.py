"""Figures of spiking activity: spike rasters and per-neuron firing-rate histograms.

One place draws them for every caller: :class:`brain_ai.training.callbacks.SpikeRasterLogger` logs them to
TensorBoard (``SummaryWriter.add_figure``) and :func:`brain_ai.app.pipeline.evaluate` saves them as PNG
files next to its JSON report. Figures are plain ``matplotlib.figure.Figure`` objects on an Agg
canvas, made inside the functions (no pyplot state, no backend chosen at import time).

A raster shows one sample: time step on the x axis, neuron index on the y axis (black = spike),
the per-neuron firing rate in a side panel, and in the title the layer, the sample's label and the
model's prediction. Layers wider than ``max_neurons`` are subsampled to evenly spaced neurons, and
the title says so; a layer without any spike is drawn and labelled "silent".
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

import numpy as np
import torch
from torch import Tensor

from brain_ai.config import check_range
from brain_ai.core.decoding import ClassificationOutput
from brain_ai.training.module import eval_mode

log = logging.getLogger(__name__)

#: default cap on the neurons drawn in one raster (wider layers are subsampled evenly)
DEFAULT_MAX_NEURONS = 256
#: figure size in pixels and font size in points: TensorBoard shrinks images to its card width
#: (about 300 to 450 px at its default zoom), so the figure is not much wider and the text is large
FIGURE_WIDTH_PX, FIGURE_HEIGHT_PX, FIGURE_DPI, FONT_SIZE = 640, 420, 100, 12


@dataclass
class SampleActivity:
    """What one sample did in the network.

    Attributes:
        inputs: ``(T, *F)`` the encoded input spikes the network saw.
        layers: layer name -> ``(T, *N)`` spikes of that layer.
        label: the sample's target (class index, or a regression vector), or None.
        prediction: the model's prediction for the sample (class index or vector).
    """

    inputs: Tensor
    layers: Dict[str, Tensor] = field(default_factory=dict)
    label: Optional[Tensor] = None
    prediction: Optional[Tensor] = None


def per_neuron_rates(spikes: Tensor) -> Tensor:
    """``(B, T, *N)`` spikes -> ``(N,)`` float32 firing rate of each neuron (spikes per step)."""
    return spikes.detach().float().mean(dim=(0, 1)).flatten()


def batch_activity(model: Any, x: Tensor) -> Tuple[Tensor, Dict[str, Tensor], Tensor]:
    """Encode ``x (B, ...)``, run the SNN and decode, in eval mode without gradients.

    The encoder draws from a generator seeded with the model's seed, so the same sample gives the
    same input spikes every time it is drawn (a fixed raster sample stays comparable across epochs).

    Returns ``(encoded (B, T, *F), layer_spikes {name: (B, T, *N)}, prediction)``: the predicted
    classes ``(B,)`` of a classification decoder, the estimates ``(B, D)`` of a regression one.
    """
    generator = torch.Generator(device=x.device).manual_seed(int(model.hparams.get("seed", 0)))
    with eval_mode(model):
        encoded = model.encoder(x, generator=generator).spikes  # (B, T, *F)
        out = model.net(encoded)
        decoded = model.decoder(out.output)
    prediction = decoded.prediction if isinstance(decoded, ClassificationOutput) else decoded.estimate
    return encoded, out.layer_spikes, prediction


def first_sample(
    encoded: Tensor, layers: Dict[str, Tensor], prediction: Tensor, labels: Optional[Tensor]
) -> SampleActivity:
    """The :class:`SampleActivity` of sample 0 of :func:`batch_activity`'s output and ``labels (B, ...)``."""
    return SampleActivity(
        inputs=encoded[0],
        layers={name: s[0] for name, s in layers.items()},
        label=None if labels is None else labels[0],
        prediction=prediction[0],
    )


def _heading(name: str, label: Optional[Tensor], prediction: Optional[Tensor]) -> str:
    """``layer0: label 7, prediction 3`` (the parts that are known)."""
    parts = [f"{what} {_describe(v)}" for what, v in (("label", label), ("prediction", prediction)) if v is not None]
    return f"{name}: {', '.join(parts)}" if parts else name


def _describe(value: Tensor) -> str:
    """A class index as ``7``; a regression vector as ``[0.12, -0.5, ...]`` (at most 4 values)."""
    v = torch.as_tensor(value).detach().cpu().flatten()
    if v.numel() == 1:
        item = v.item()
        return str(int(item)) if float(item).is_integer() else f"{item:.3g}"
    shown = ", ".join(f"{float(e):.3g}" for e in v[:4])
    return f"[{shown}{', ...' if v.numel() > 4 else ''}]"


def _fonts() -> Any:
    """Context in which new figure text gets ``FONT_SIZE`` (matplotlib's rc settings, restored after)."""
    import matplotlib

    return matplotlib.rc_context({"font.size": FONT_SIZE, "axes.titlesize": FONT_SIZE, "figure.titlesize": FONT_SIZE})


def _new_figure(title_lines: int, height_px: int = FIGURE_HEIGHT_PX) -> Any:
    """An empty Figure on its own Agg canvas, ``FIGURE_WIDTH_PX`` wide, with room at the top for
    ``title_lines`` lines of title (fixed margins: a layout engine costs more than the drawing)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(FIGURE_WIDTH_PX / FIGURE_DPI, height_px / FIGURE_DPI), dpi=FIGURE_DPI)
    line_px = FONT_SIZE * 1.4 * FIGURE_DPI / 72
    fig.subplots_adjust(
        left=0.13, right=0.97, bottom=0.14, top=1.0 - (title_lines * line_px + 12) / height_px, wspace=0.04
    )
    FigureCanvasAgg(fig)
    return fig


def _integer_ticks(count: int, most: int = 11) -> np.ndarray:
    """Tick positions ``0, step, 2 step, ... < count`` with a round step (1, 2, 5, 10, 20, ...)
    chosen so that there are at most ``most`` of them."""
    raw = max(1.0, count / most)
    exponent = 10 ** math.floor(math.log10(raw))
    step = next(m * exponent for m in (1, 2, 5, 10) if m * exponent >= raw)
    return np.arange(0, count, int(step))


def _shown_rows(rates: np.ndarray, max_neurons: int, sort_by_rate: bool) -> np.ndarray:
    """Indices of the neurons to draw, in drawing order (bottom to top)."""
    rows = np.arange(rates.shape[0])
    if sort_by_rate:
        rows = rows[np.argsort(-rates, kind="stable")]  # most active at the bottom
    if rows.shape[0] > max_neurons:
        rows = rows[np.linspace(0, rows.shape[0] - 1, max_neurons).round().astype(int)]
    return rows


def raster_figure(
    spikes: Tensor,
    name: str,
    label: Optional[Tensor] = None,
    prediction: Optional[Tensor] = None,
    max_neurons: int = DEFAULT_MAX_NEURONS,
    sort_by_rate: bool = False,
) -> Any:
    """Spike raster of one sample as a matplotlib Figure.

    Args:
        spikes: ``(T, *N)`` spikes (or event counts) of one sample; ``*N`` is flattened.
        name: what is drawn (``input``, ``layer0``, ...), first word of the title.
        label, prediction: the sample's target and the model's prediction (shown in the title).
        max_neurons: draw at most this many neurons (evenly spaced over the layer; the title says
            how many of how many are shown).
        sort_by_rate: order the neurons by firing rate (most active at the bottom) instead of
            by index; the y tick labels still give each neuron's index.
    """
    check_range("raster", "max_neurons", max_neurons, low=1, integer=True)
    if spikes.dim() < 1:
        raise ValueError(f"raster_figure({name}): spikes must be (T, *N), got a 0-d tensor")
    with _fonts():
        return _draw_raster(spikes, name, label, prediction, max_neurons, sort_by_rate)


def _draw_raster(
    spikes: Tensor,
    name: str,
    label: Optional[Tensor],
    prediction: Optional[Tensor],
    max_neurons: int,
    sort_by_rate: bool,
) -> Any:
    from matplotlib.ticker import FuncFormatter

    grid = spikes.detach().float().cpu().reshape(spikes.shape[0], -1).t().numpy()  # (N, T)
    n, t = grid.shape
    head = _heading(name, label, prediction)
    if n == 0 or t == 0:
        fig = _new_figure(title_lines=1)
        fig.suptitle(head)
        message = f"nothing to draw: {n} neurons x {t} time steps"
        fig.text(0.5, 0.5, message, ha="center", va="center")
        log.warning("raster %s: %s", name, message)
        return fig
    rates = grid.mean(axis=1)  # (N,)
    rows = _shown_rows(rates, max_neurons, sort_by_rate)
    shown = grid[rows]  # (rows, T)
    detail = f"{n} neuron{'s' if n != 1 else ''} x {t} step{'s' if t != 1 else ''}, mean rate {rates.mean():.3f}"
    silent = not grid.any()
    if silent:
        detail += "; silent: no spikes"
    if rows.shape[0] < n:
        detail += f"\nshowing {rows.shape[0]} of {n} neurons (evenly spaced; max_neurons={max_neurons})"
    fig = _new_figure(title_lines=2 + detail.count("\n"))
    fig.suptitle(f"{head}\n{detail}")

    ax, side = fig.subplots(1, 2, sharey=True, gridspec_kw={"width_ratios": [5, 1]})
    extent = (-0.5, t - 0.5, -0.5, rows.shape[0] - 0.5)
    vmax = max(1.0, float(shown.max()))  # event counts may exceed 1
    ax.imshow(
        shown, aspect="auto", interpolation="nearest", cmap="Greys", vmin=0.0, vmax=vmax, origin="lower", extent=extent
    )
    ax.set_xlabel("time step")
    ax.set_ylabel("neuron index" + (" (sorted by firing rate)" if sort_by_rate else ""))
    ax.set_xticks(_integer_ticks(t))
    ax.set_yticks(_integer_ticks(rows.shape[0]))
    ax.yaxis.set_major_formatter(
        FuncFormatter(lambda pos, _: str(rows[int(round(pos))]) if 0 <= round(pos) < rows.shape[0] else "")
    )
    if silent:
        ax.text(
            0.5,
            0.5,
            "silent",
            transform=ax.transAxes,
            ha="center",
            va="center",
            fontsize=2 * FONT_SIZE,
            color="tab:red",
        )
    side.stairs(rates[rows], np.arange(rows.shape[0] + 1) - 0.5, orientation="horizontal", fill=True, color="tab:blue")
    side.set_xlim(0.0, max(1.0, float(rates.max())))
    side.set_xticks([0.0, side.get_xlim()[1]])
    side.set_xlabel("rate")
    side.tick_params(labelleft=False)
    return fig


def rate_histogram_figure(rates: Tensor, name: str, bins: int = 20) -> Any:
    """Histogram of per-neuron firing rates ``(N,)`` (spikes per step, in [0, 1]) as a Figure."""
    check_range("rate_histogram", "bins", bins, low=1, integer=True)
    with _fonts():
        return _draw_rate_histogram(rates.detach().float().cpu().flatten().numpy(), name, bins)


def _draw_rate_histogram(values: np.ndarray, name: str, bins: int) -> Any:
    fig = _new_figure(title_lines=1, height_px=360)
    ax = fig.subplots()
    if values.size == 0:
        ax.set_axis_off()
        ax.text(0.5, 0.5, f"{name}: nothing to draw (0 neurons)", ha="center", va="center")
        return fig
    silent = int((values == 0).sum())
    ax.hist(values, bins=np.linspace(0.0, max(1.0, float(values.max())), bins + 1), color="tab:blue", edgecolor="white")
    ax.axvline(float(values.mean()), color="tab:red", linestyle="--", label=f"mean {values.mean():.3f}")
    ax.set_xlabel("firing rate (spikes per step)")
    ax.set_ylabel("neurons")
    ax.legend(loc="upper right")
    ax.set_title(f"{name}: firing rate of {values.size} neurons; {silent} silent")
    return fig


def activity_figures(
    activity: SampleActivity, max_neurons: int = DEFAULT_MAX_NEURONS, sort_by_rate: bool = False
) -> Dict[str, Any]:
    """Raster figures of one sample: ``{"input": fig, "layer0": fig, ...}``."""
    drawn = {"input": activity.inputs, **activity.layers}
    return {
        name: raster_figure(
            spikes, name, activity.label, activity.prediction, max_neurons=max_neurons, sort_by_rate=sort_by_rate
        )
        for name, spikes in drawn.items()
    }


def save_activity_pngs(
    model: Any,
    batch: Any,
    directory: Path,
    prefix: str,
    max_neurons: int = DEFAULT_MAX_NEURONS,
    sort_by_rate: bool = False,
) -> List[str]:
    """Write rasters of the batch's first sample and per-layer firing-rate histograms over the batch.

    Files: ``<prefix>_raster_<name>.png`` (``input`` and every layer) and ``<prefix>_rates_<layer>.png``
    in ``directory``. Returns the file paths written.
    """
    x, y = (batch[0], batch[1]) if isinstance(batch, (tuple, list)) else (batch, None)
    encoded, layers, prediction = batch_activity(model, x.to(model.device))
    activity = first_sample(encoded, layers, prediction, y)
    figures = {f"raster_{k}": fig for k, fig in activity_figures(activity, max_neurons, sort_by_rate).items()}
    figures.update({f"rates_{k}": rate_histogram_figure(per_neuron_rates(s), k) for k, s in layers.items()})
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for key, fig in figures.items():
        path = directory / f"{prefix}_{key}.png"
        fig.savefig(path)
        paths.append(str(path))
    return paths
