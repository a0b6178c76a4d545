"""Smoke test of benchmarks/run_benchmarks.py (--quick, brain_ai + ANN floor): a script test, not a timing test."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "benchmarks" / "run_benchmarks.py"


@pytest.mark.timeout(240)
def test_quick_run_prints_table_with_expected_rows(tmp_path: Path) -> None:
    cmd = [sys.executable, str(SCRIPT), "--quick", "--libs", "ann,brain_ai", "--workloads", "W1,W2", "--threads", "1", "--out", str(tmp_path)]
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, timeout=220)
    assert proc.returncode == 0, proc.stderr[-2000:]
    table = proc.stdout

    assert "| entry | version | check | W1 ms (median [IQR]) | W1 / ANN |" in table
    ann_rows = [line for line in table.splitlines() if line.startswith("| ANN floor (ReLU, whole sequence) |")]
    assert len(ann_rows) == 1
    assert "| 1.00 |" in ann_rows[0]  # the floor's ratio to itself

    run = json.loads((tmp_path / "quick.json").read_text())
    assert (tmp_path / "quick.md").read_text().strip() == table.strip()
    assert run["libs"] == ["ann", "brain_ai"] and run["workloads"] == ["W1", "W2"]
    for workload in ("W1", "W2"):
        ann = run["results"][workload]["ann"]
        assert ann["status"] == "ok" and ann["iters"] >= 3 and ann["time_ms"]["median"] > 0 and ann["peak_rss_mib"] > 0
        assert run["results"][workload]["brain_ai"]["status"] in ("ok", "skipped")

    brain = run["results"]["W1"]["brain_ai"]
    if brain["status"] == "ok":  # brain_ai importable: it is checked against the reference and timed
        assert "| brain_ai LIFNeuron (default path) |" in table
        assert run["check_verdicts"]["brain_ai"] == "ok"
        assert 0.0 < brain["activity"]["out"] < 1.0
    else:
        assert "not timed: brain_ai" in table


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_train_throughput_measures_a_real_train_run(tmp_path: Path) -> None:
    """benchmarks/train_throughput.py: one real train.py run of the default MLP, allocator reuse on."""
    cmd = [sys.executable, str(ROOT / "benchmarks" / "train_throughput.py"), "--configs", "mlp", "--allocator", "on",
           "--steps", "2", "--warmup", "1", "--out", str(tmp_path)]
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, timeout=280)
    assert proc.returncode == 0, proc.stderr[-2000:] + proc.stdout[-2000:]
    run = json.loads((tmp_path / "train_throughput.json").read_text())
    (result,) = run["results"]
    assert result["config"] == "mlp" and result["allocator"] == "on"
    assert result["timed"]["steps"] == 2 and result["timed"]["batch_size"] > 0
    assert result["samples_per_s"] > 0 and result["process"]["peak_rss_mib"] > 100
    assert "| mlp | on |" in (tmp_path / "train_throughput.md").read_text()


@pytest.mark.timeout(200)
def test_recurrent_kernel_benchmark_runs_both_backends(tmp_path: Path) -> None:
    """benchmarks/recurrent_kernel.py on a tiny shape: every (what, N, backend) row, JSON == markdown rows."""
    cmd = [sys.executable, str(ROOT / "benchmarks" / "recurrent_kernel.py"), "--batch", "2", "--steps", "6", "--hidden", "4",
           "--repeats", "1", "--threads", "1", "--out", str(tmp_path)]
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, timeout=180, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert proc.returncode == 0, proc.stderr[-2000:]
    run = json.loads((tmp_path / "recurrent_kernel.json").read_text())
    rows = {(r["what"], r["backend"]) for r in run["rows"]}
    assert rows == {("layer", "fused"), ("layer", "eager"), ("net", "fused"), ("net", "eager")}
    assert all(r["median_s"] > 0 and r["cpu_s"] >= 0 for r in run["rows"])
    assert "| layer | 4 | fused |" in (tmp_path / "recurrent_kernel.md").read_text()
