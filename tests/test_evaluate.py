"""pipeline.evaluate / evaluate.py on a checkpoint written by a short training run."""

from __future__ import annotations

import json
import struct
import subprocess
import sys

import pytest
from framework_helpers import REPO, compose_config

from brain_ai.app import pipeline

PROBE_KEYS = {"firing_rate", "spike_sparsity", "membrane_mean", "membrane_var", "dead_frac", "saturated_frac"}
EVAL = ["+trainer.limit_test_batches=2", "trainer.enable_progress_bar=false"]


def best_checkpoint(short_run):
    (best,) = (short_run.output_dir / "checkpoints").glob("epoch_*.ckpt")  # save_top_k=1
    return best


def test_evaluate_reports_metrics_and_probes_and_writes_json(short_run, tmp_path, capsys):
    ckpt = best_checkpoint(short_run)
    report = tmp_path / "sub" / "report.json"
    cfg = compose_config(
        [f"ckpt_path={ckpt}", f"output_json={report}", *EVAL], output_dir=tmp_path, config_name="evaluate"
    )
    payload = pipeline.evaluate(cfg)

    assert payload["checkpoint"] == str(ckpt)
    assert {"test/acc", "test/loss"} <= set(payload["metrics"])
    # the same weights on the same test batches as the run's own final test
    assert payload["metrics"]["test/acc"] == pytest.approx(short_run.metrics["test/acc"], abs=1e-6)
    assert set(payload["probes"]) == {"layer0", "layer1"}
    for probes in payload["probes"].values():
        assert set(probes) == PROBE_KEYS
        assert probes["firing_rate"] + probes["spike_sparsity"] == pytest.approx(1.0, abs=1e-6)
    assert json.loads(report.read_text()) == payload

    # raster and firing-rate histogram figures next to the report
    names = ["raster_input", "raster_layer0", "raster_layer1", "rates_layer0", "rates_layer1"]
    assert payload["figures"] == [str(report.parent / f"report_{n}.png") for n in names]
    for path in payload["figures"]:
        data = open(path, "rb").read()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and struct.unpack(">I", data[16:20])[0] >= 600

    printed = capsys.readouterr().out
    assert "test/acc" in printed and "probe report" in printed and "layer0" in printed


def test_evaluate_streamed_in_windows_gives_the_one_pass_metrics(short_run, tmp_path):
    ckpt = best_checkpoint(short_run)
    results = {}
    for window in (None, 3):
        overrides = [f"ckpt_path={ckpt}", *EVAL] + ([] if window is None else [f"stream_window={window}"])
        results[window] = pipeline.evaluate(compose_config(overrides, output_dir=tmp_path, config_name="evaluate"))[
            "metrics"
        ]
    assert results[3]["test/acc"] == results[None]["test/acc"]
    assert results[3]["test/loss"] == pytest.approx(results[None]["test/loss"], rel=1e-5)
    with pytest.raises(ValueError, match=r"stream_window=0 is out of range; allowed: \[1, inf\)"):
        pipeline.evaluate(
            compose_config([f"ckpt_path={ckpt}", "stream_window=0"], output_dir=tmp_path, config_name="evaluate")
        )


def test_missing_checkpoint_names_the_path(tmp_path):
    missing = tmp_path / "nope.ckpt"
    cfg = compose_config([f"ckpt_path={missing}"], output_dir=tmp_path, config_name="evaluate")
    with pytest.raises(FileNotFoundError, match="nope.ckpt"):
        pipeline.evaluate(cfg)


@pytest.mark.slow
def test_evaluate_script(short_run, tmp_path):
    report = tmp_path / "report.json"
    proc = subprocess.run(
        [
            sys.executable,
            "evaluate.py",
            f"ckpt_path={best_checkpoint(short_run)}",
            f"output_json={report}",
            f"hydra.run.dir={tmp_path / 'run'}",
            *EVAL,
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    payload = json.loads(report.read_text())
    assert payload["metrics"]["test/acc"] == pytest.approx(short_run.metrics["test/acc"], abs=1e-6)
    assert "probe report" in proc.stdout
