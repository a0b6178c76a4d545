"""Raster and firing-rate figures (brain_ai.training.plots): content against numpy, size, and the bad inputs
(silent layer, one neuron, T = 1, a layer wider than max_neurons, nothing to draw)."""

from __future__ import annotations

import io
import struct

import numpy as np
import pytest
import torch

from brain_ai.config import ConfigError
from brain_ai.training.plots import DEFAULT_MAX_NEURONS, per_neuron_rates, raster_figure, rate_histogram_figure


def png_size(data: bytes) -> tuple:
    """(width, height) from a PNG's IHDR chunk."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", data[16:24])


def render(fig) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()


def title(fig) -> str:
    return fig._suptitle.get_text() if fig._suptitle is not None else ""


def image(fig) -> np.ndarray:
    """The (drawn neurons, T) array of the raster panel."""
    return np.asarray(fig.axes[0].images[0].get_array())


def test_raster_is_time_by_neuron_with_labels_and_readable_size():
    spikes = torch.zeros(5, 2, 3)  # (T, C, N) -> 6 neurons
    spikes[1, 0, 2] = 1.0
    spikes[4, 1, 0] = 1.0
    fig = raster_figure(spikes, "layer0", label=torch.tensor(7), prediction=torch.tensor(3))
    expected = spikes.reshape(5, 6).t().numpy()  # (N, T)
    np.testing.assert_array_equal(image(fig), expected)
    ax = fig.axes[0]
    assert ax.get_xlabel() == "time step" and ax.get_ylabel() == "neuron index"
    assert "layer0: label 7, prediction 3" in title(fig)
    assert "6 neurons x 5 steps" in title(fig) and "silent" not in title(fig)
    width, height = png_size(render(fig))
    assert width >= 600 and height >= 300
    # the side panel: per-neuron rate, same order as the rows
    (bars,) = fig.axes[1].patches
    np.testing.assert_allclose(bars.get_data().values, expected.mean(axis=1))


def test_sorted_raster_orders_rows_by_rate_and_keeps_neuron_indices():
    spikes = torch.zeros(4, 3)  # (T, N): rates 0.25, 0.0, 1.0
    spikes[0, 0] = 1.0
    spikes[:, 2] = 1.0
    fig = raster_figure(spikes, "layer1", sort_by_rate=True)
    np.testing.assert_array_equal(image(fig), spikes.t().numpy()[[2, 0, 1]])
    assert "sorted by firing rate" in fig.axes[0].get_ylabel()
    formatter = fig.axes[0].yaxis.get_major_formatter()
    assert [formatter(pos, None) for pos in (0, 1, 2)] == ["2", "0", "1"]


def test_silent_layer_renders_labelled_silent():
    fig = raster_figure(torch.zeros(8, 16), "layer0")
    assert "silent: no spikes" in title(fig)
    assert any(t.get_text() == "silent" for t in fig.axes[0].texts)
    assert png_size(render(fig))[0] >= 600


@pytest.mark.parametrize("shape, neurons, steps", [((6, 1), 1, 6), ((1, 10), 10, 1), ((1, 1), 1, 1)])
def test_one_neuron_and_one_step(shape, neurons, steps):
    spikes = torch.ones(shape)
    fig = raster_figure(spikes, "layer0")
    assert image(fig).shape == (neurons, steps)
    assert list(fig.axes[0].get_xticks()) == list(range(steps))  # integer steps, even for T = 1
    yticks = list(fig.axes[0].get_yticks())
    assert (
        yticks[0] == 0
        and yticks[-1] == neurons - 1
        and len(yticks) <= 11
        and all(float(v).is_integer() for v in yticks)
    )
    assert f"{neurons} neuron{'s' if neurons > 1 else ''} x {steps} step{'s' if steps > 1 else ''}" in title(fig)
    render(fig)


def test_wide_layer_is_subsampled_evenly_and_says_so():
    n = 5000
    spikes = torch.zeros(3, n)
    spikes[1, ::2] = 1.0  # even neurons fire at t=1
    fig = raster_figure(spikes, "layer0", max_neurons=100)
    kept = np.linspace(0, n - 1, 100).round().astype(int)
    np.testing.assert_array_equal(image(fig), spikes.t().numpy()[kept])
    assert "showing 100 of 5000 neurons" in title(fig) and "max_neurons=100" in title(fig)
    formatter = fig.axes[0].yaxis.get_major_formatter()
    assert formatter(99, None) == str(n - 1)  # tick labels name the original neuron index
    assert image(raster_figure(spikes, "layer0")).shape == (DEFAULT_MAX_NEURONS, 3)


def test_nothing_to_draw_is_a_message_not_a_crash(caplog):
    fig = raster_figure(torch.zeros(4, 0), "layer0")
    assert any("nothing to draw: 0 neurons x 4 time steps" in t.get_text() for t in fig.texts)
    assert "nothing to draw" in caplog.text
    render(fig)


def test_bad_max_neurons_names_the_field():
    with pytest.raises(ConfigError, match=r"raster.max_neurons=0 is out of range"):
        raster_figure(torch.zeros(2, 2), "layer0", max_neurons=0)


def test_regression_label_and_prediction_are_shown_as_vectors():
    fig = raster_figure(torch.ones(2, 2), "layer0", label=torch.tensor([0.5, -1.25]), prediction=torch.arange(6.0) / 4)
    assert "label [0.5, -1.25], prediction [0, 0.25, 0.5, 0.75, ...]" in title(fig)
    assert title(raster_figure(torch.ones(2, 2), "layer0")).startswith("layer0\n")  # nothing unknown is shown


def test_per_neuron_rates_match_numpy():
    spikes = (torch.rand(3, 5, 2, 4, generator=torch.Generator().manual_seed(0)) > 0.6).float()  # (B, T, C, N)
    expected = spikes.numpy().mean(axis=(0, 1)).reshape(-1)
    np.testing.assert_allclose(per_neuron_rates(spikes).numpy(), expected, rtol=1e-6)


def test_rate_histogram_counts_neurons_and_silent_ones():
    rates = torch.tensor([0.0, 0.0, 0.1, 0.5, 1.0])
    fig = rate_histogram_figure(rates, "layer0", bins=10)
    ax = fig.axes[0]
    assert sum(p.get_height() for p in ax.patches) == 5
    assert ax.get_title() == "layer0: firing rate of 5 neurons; 2 silent"
    assert ax.get_xlabel() == "firing rate (spikes per step)" and ax.get_ylabel() == "neurons"
    assert png_size(render(fig))[0] >= 600
    empty = rate_histogram_figure(torch.zeros(0), "layer0")
    assert "nothing to draw (0 neurons)" in empty.axes[0].texts[0].get_text()


def test_batch_activity_draws_the_same_input_spikes_every_time_and_keeps_the_mode(tmp_path):
    from framework_helpers import TINY, compose_config

    from brain_ai.app import pipeline
    from brain_ai.training.plots import batch_activity, first_sample

    model, _ = pipeline.build_model(compose_config(TINY, output_dir=tmp_path))  # Bernoulli rate coding
    model.train()
    x = torch.rand(3, 64, generator=torch.Generator().manual_seed(1))
    encoded, layers, prediction = batch_activity(model, x)
    again, _, _ = batch_activity(model, x)
    assert torch.equal(encoded, again) and encoded.shape == (3, 8, 64)  # (B, T, F)
    assert model.training  # eval mode only inside
    assert set(layers) == {"layer0", "layer1"} and layers["layer0"].shape == (3, 8, 32)
    assert prediction.shape == (3,)
    sample = first_sample(encoded, layers, prediction, torch.tensor([4, 5, 6]))
    assert (
        int(sample.label) == 4 and torch.equal(sample.inputs, encoded[0]) and sample.layers["layer1"].shape == (8, 10)
    )


def test_surrogate_figure_draws_every_registered_surrogate(tmp_path):
    from brain_ai.core.surrogates import SURROGATES, get_surrogate
    from brain_ai.tools.plot_surrogates import draw, full_width_half_max, main, smooth_forward

    out = tmp_path / "surrogates.png"
    assert draw(out) == sorted(SURROGATES)
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert main(["--out", str(tmp_path / "again.png")]) == 0 and (tmp_path / "again.png").exists()
    x = torch.linspace(-2.0, 2.0, 2001, dtype=torch.float64)
    assert full_width_half_max(get_surrogate("triangle"), x) == pytest.approx(1.0, abs=1e-2)  # 1 - |x| >= 1/2
    assert full_width_half_max(get_surrogate("ste"), x) == float("inf")
    # the integrated forward of a surrogate without a closed form matches the closed form where one exists
    sigmoid = get_surrogate("sigmoid")
    integrated, closed = smooth_forward(get_surrogate("multi_gaussian_grad"), x)
    assert not closed and integrated[0] == 0.0
    exact, closed = smooth_forward(sigmoid, x)
    assert closed
    steps = (sigmoid.grad(x)[1:] + sigmoid.grad(x)[:-1]) * (x[1] - x[0]) / 2
    torch.testing.assert_close(exact - exact[0], torch.cat([x.new_zeros(1), steps.cumsum(0)]), atol=1e-5, rtol=0)
