"""TensorBoard itself, started on real training output, serves what a user looks at: scalars,
raster images at a readable size, histograms, the Custom Scalars layout and one HParams row per
run (checked through TensorBoard's HTTP data API, as its web pages read it)."""

from __future__ import annotations

import struct
import time
import urllib.parse
from typing import Any, Callable

import pytest
from framework_helpers import TINY_CLI, run_train

from brain_ai.tools.tensorboard_screenshots import main as screenshots_main
from brain_ai.tools.tensorboard_server import event_dirs, get_bytes, get_json, post_json, serve
from brain_ai.training.dashboards import HPARAM_COLUMNS, HPARAM_EFFICIENCY

SESSION_GROUPS = {
    "experimentName": "",
    "allowedStatuses": ["STATUS_UNKNOWN", "STATUS_SUCCESS", "STATUS_FAILURE", "STATUS_RUNNING"],
    "colParams": [],
    "startIndex": 0,
    "sliceSize": 100,
}


def poll(read: Callable[[], Any], ready: Callable[[Any], bool], timeout: float = 60.0) -> Any:
    """``read()`` until ``ready(result)`` (TensorBoard loads event files in the background)."""
    deadline = time.monotonic() + timeout
    while True:
        result = read()
        if ready(result) or time.monotonic() > deadline:
            return result
        time.sleep(0.5)


def png_width(data: bytes) -> int:
    assert data[:8] == b"\x89PNG\r\n\x1a\n", data[:16]
    return struct.unpack(">I", data[16:20])[0]


def metric_values(group: dict) -> dict:
    return {m["name"]["tag"]: m["value"] for m in group["sessions"][0]["metricValues"]}


@pytest.fixture(scope="module")
def tensorboard(short_run):
    with serve(short_run.output_dir / "tensorboard") as base:
        yield base


def test_the_run_is_one_tensorboard_run(short_run):
    """The HParams session is written into the run's own event folder: listed once, curves not doubled."""
    assert event_dirs(short_run.output_dir / "tensorboard") == [short_run.output_dir / "tensorboard"]


def test_scalars_and_probe_tags_are_served(tensorboard):
    tags = poll(lambda: get_json(tensorboard, "/data/plugin/scalars/tags"), lambda t: "test/acc" in t.get(".", {}))["."]
    expected = {"train/loss", "val/loss", "train/acc", "val/acc", "test/acc", "train/loss/probspikes"}
    expected |= {f"probes/layer{i}/{p}" for i in (0, 1) for p in ("firing_rate", "dead_frac", "saturated_frac")}
    assert expected <= set(tags), expected - set(tags)
    series = get_json(
        tensorboard, "/data/plugin/scalars/scalars?" + urllib.parse.urlencode({"run": ".", "tag": "train/loss"})
    )
    assert [step for _, step, _ in series] == [0, 1, 2, 3, 4, 5]


def test_raster_images_are_served_at_a_readable_width(tensorboard):
    tags = poll(lambda: get_json(tensorboard, "/data/plugin/images/tags"), lambda t: len(t.get(".", {})) >= 3)["."]
    assert {"raster/input", "raster/layer0", "raster/layer1"} <= set(tags)
    for tag in ("raster/input", "raster/layer0", "raster/layer1"):
        shots = get_json(tensorboard, "/data/plugin/images/images?" + urllib.parse.urlencode({"run": ".", "tag": tag}))
        assert len(shots) == 2  # once per validation epoch
        assert png_width(get_bytes(tensorboard, "/data/plugin/images/individualImage?" + shots[-1]["query"])) >= 600


def test_firing_rate_histograms_are_served(tensorboard):
    tags = poll(lambda: get_json(tensorboard, "/data/plugin/histograms/tags"), lambda t: bool(t.get(".")))["."]
    assert {"probes/layer0/firing_rate_hist", "probes/layer1/firing_rate_hist"} <= set(tags)


def test_custom_scalars_layout_groups_probes_per_layer(tensorboard):
    layout = poll(lambda: get_json(tensorboard, "/data/plugin/custom_scalars/layout"), lambda d: bool(d))
    categories = {c["title"]: c["chart"] for c in layout["category"]}
    assert list(categories) == ["layer0 health", "layer1 health", "losses", "metrics"]
    titles = [chart["title"] for chart in categories["layer0 health"]]
    assert any("dead and saturated" in t and "healthy below 0.05" in t for t in titles), titles
    assert any("firing rate" in t and "healthy 0.01 to 0.5" in t for t in titles), titles
    # the charts' tag patterns match real scalars
    charted = get_json(
        tensorboard,
        "/data/plugin/custom_scalars/scalars?"
        + urllib.parse.urlencode({"run": ".", "tag": "^probes/layer0/(dead|saturated)_frac$"}),
    )
    assert charted["regex_valid"] and set(charted["tag_to_events"]) == {
        "probes/layer0/dead_frac",
        "probes/layer0/saturated_frac",
    }


def test_hparams_row_holds_the_short_column_list_and_final_metrics(tensorboard, short_run):
    experiment = post_json(tensorboard, "/data/plugin/hparams/experiment", {"experimentName": ""})
    names = {h["name"] for h in experiment["hparamInfos"]}
    assert names == set(HPARAM_COLUMNS) - {"snn.neuron.beta"}  # beta is unset (None) by default: no cell
    metrics = {m["name"]["tag"] for m in experiment["metricInfos"]}
    assert metrics == {"val/acc", "val/loss", "test/acc", "test/loss", *HPARAM_EFFICIENCY}
    groups = poll(
        lambda: post_json(tensorboard, "/data/plugin/hparams/session_groups", SESSION_GROUPS)["sessionGroups"],
        lambda g: len(g) == 1 and len(g[0]["sessions"][0]["metricValues"]) == 6,
    )
    assert len(groups) == 1
    assert groups[0]["hparams"]["encoding.num_steps"] == 8 and groups[0]["hparams"]["snn.hidden_sizes"] == "[32]"
    values = metric_values(groups[0])
    for tag in ("val/acc", "test/acc", "test/loss"):
        assert values[tag] == pytest.approx(short_run.metrics[tag], rel=1e-6)


def test_a_directory_without_event_files_is_a_clear_error(tmp_path, capsys):
    (tmp_path / "checkpoints").mkdir()
    with pytest.raises(FileNotFoundError, match="holds no TensorBoard event files"):
        event_dirs(tmp_path)
    with pytest.raises(FileNotFoundError, match="is not a directory"):
        with serve(tmp_path / "missing"):
            pass
    assert screenshots_main(["--logdir", str(tmp_path), "--out", str(tmp_path / "shots")]) == 2
    assert "holds no TensorBoard event files" in capsys.readouterr().err
    assert not (tmp_path / "shots").exists()


@pytest.mark.slow
def test_a_two_job_sweep_is_two_hparams_rows(tmp_path):
    run_train("optim.lr=0.001,0.003", "snn.neuron.tau=5.0", *TINY_CLI, f"hydra.sweep.dir={tmp_path}")
    assert len(event_dirs(tmp_path)) == 2  # one TensorBoard run per job
    with serve(tmp_path, min_runs=2) as base:
        groups = poll(
            lambda: post_json(base, "/data/plugin/hparams/session_groups", SESSION_GROUPS)["sessionGroups"],
            lambda g: len(g) == 2 and all(len(x["sessions"][0]["metricValues"]) == 6 for x in g),
        )
        assert sorted(g["name"] for g in groups) == ["0/tensorboard", "1/tensorboard"]
        assert sorted(g["hparams"]["optim.lr"] for g in groups) == [0.001, 0.003]
        experiment = post_json(base, "/data/plugin/hparams/experiment", {"experimentName": ""})
        names = [h["name"] for h in experiment["hparamInfos"]]
        assert "snn.neuron.tau" in names and "data.limit_train" in names  # set on the command line: columns too
        assert len(names) < 25 and "data.root" not in names
        for group in groups:
            assert 0.0 <= metric_values(group)["test/acc"] <= 1.0
        layout = get_json(base, "/data/plugin/custom_scalars/layout")  # the jobs' layouts, merged
        assert [c["title"] for c in layout["category"]][:2] == ["layer0 health", "layer1 health"]
        assert len(layout["category"][0]["chart"]) == 2  # the same charts once, not once per job
