"""Smoke test of benchmarks/run_benchmarks.py (--quick, brain_ai + ANN floor): a script test, not a timing test."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from framework_helpers import compose_config

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "benchmarks" / "run_benchmarks.py"


@pytest.mark.timeout(240)
def test_quick_run_prints_table_with_expected_rows(tmp_path: Path) -> None:
    cmd = [
        sys.executable,
        str(SCRIPT),
        "--quick",
        "--libs",
        "ann,brain_ai",
        "--workloads",
        "W1,W2",
        "--threads",
        "1",
        "--out",
        str(tmp_path),
    ]
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


def _train_throughput():
    spec = importlib.util.spec_from_file_location("train_throughput", ROOT / "benchmarks" / "train_throughput.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _run(rate: float, step_spread: float = 0.01, others: float = 0.0) -> dict:
    return {"samples_per_s": rate, "step_spread": step_spread, "others_cpu_frac": others}


def test_train_throughput_noise_flags_and_median_run() -> None:
    """The report uses the median of the last --repeats runs; spread, step IQR and other processes' load flag noise."""
    tt = _train_throughput()
    clean = tt.summarise([_run(50.0), _run(100.0), _run(102.0), _run(98.0)], repeats=3, tolerance=0.1, max_others=0.1)
    assert clean["samples_per_s"] == 100.0 and clean["samples_per_s_runs"] == [100.0, 102.0, 98.0]
    assert not clean["noisy"] and clean["run_spread"] == pytest.approx(0.04) and clean["runs"] == 4
    assert tt.summarise([_run(100.0), _run(130.0), _run(99.0)], 3, 0.1, 0.1)["noisy"]  # runs disagree
    assert tt.summarise([_run(101.0), _run(100.0, step_spread=0.3), _run(99.0)], 3, 0.1, 0.1)[
        "noisy"
    ]  # median run's steps disagree
    assert tt.summarise([_run(100.0), _run(100.0), _run(99.0, others=0.5)], 3, 0.1, 0.1)[
        "noisy"
    ]  # a busy machine slows all alike
    assert tt.summarise([_run(100.0)], 3, 0.1, 0.1)["noisy"]  # fewer runs than asked for
    assert "error" in tt.summarise([_run(100.0), {"error": "boom"}], 1, 0.1, 0.1)
    assert tt.step_spread([1.0, 1.0, 1.0, 1.0, 2.0]) == pytest.approx(0.5)


def test_train_throughput_config_list_follows_the_checkout() -> None:
    """A config whose group files a checkout lacks (an experiment not merged yet) is named, not run."""
    tt = _train_throughput()
    assert tt.missing_configs(tt.CONFIGS["conv"], ROOT) == []
    assert tt.missing_configs(["experiment=no_such_experiment"], ROOT) == ["configs/experiment/no_such_experiment.yaml"]
    with pytest.raises(SystemExit):
        tt.main(["--configs", "no_such_config"])


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_train_throughput_measures_a_real_train_run(tmp_path: Path) -> None:
    """benchmarks/train_throughput.py: one real train.py run of the default MLP, allocator reuse on."""
    cmd = [
        sys.executable,
        str(ROOT / "benchmarks" / "train_throughput.py"),
        "--configs",
        "mlp",
        "--settings",
        "on",
        "--steps",
        "2",
        "--warmup",
        "1",
        "--repeats",
        "1",
        "--max-rounds",
        "1",
        "--out",
        str(tmp_path),
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, timeout=280)
    assert proc.returncode == 0, proc.stderr[-2000:] + proc.stdout[-2000:]
    run = json.loads((tmp_path / "train_throughput.json").read_text())
    (result,) = run["results"]
    assert result["config"] == "mlp" and result["setting"] == "on" and result["runs"] == 1
    assert result["timed"]["steps"] == 2 and result["timed"]["batch_size"] > 0 and len(result["timed"]["step_s"]) == 2
    assert result["samples_per_s"] > 0 and result["process"]["peak_rss_mib"] > 100
    assert "| mlp | on |" in (tmp_path / "train_throughput.md").read_text()


@pytest.mark.timeout(200)
def test_recurrent_kernel_benchmark_runs_both_backends(tmp_path: Path) -> None:
    """benchmarks/recurrent_kernel.py on a tiny shape: every (what, N, backend) row, JSON == markdown rows."""
    cmd = [
        sys.executable,
        str(ROOT / "benchmarks" / "recurrent_kernel.py"),
        "--batch",
        "2",
        "--steps",
        "6",
        "--hidden",
        "4",
        "--repeats",
        "1",
        "--threads",
        "1",
        "--out",
        str(tmp_path),
    ]
    proc = subprocess.run(
        cmd, capture_output=True, text=True, cwd=ROOT, timeout=180, env={**os.environ, "PYTHONPATH": str(ROOT)}
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    run = json.loads((tmp_path / "recurrent_kernel.json").read_text())
    rows = {(r["what"], r["backend"]) for r in run["rows"]}
    assert rows == {("layer", "fused"), ("layer", "eager"), ("net", "fused"), ("net", "eager")}
    assert all(r["median_s"] > 0 and r["cpu_s"] >= 0 for r in run["rows"])
    assert "| layer | 4 | fused |" in (tmp_path / "recurrent_kernel.md").read_text()


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_smnist_epoch_benchmark_times_one_whole_epoch(tmp_path: Path) -> None:
    """benchmarks/smnist_epoch.py on a 32-image training split: every batch of the epoch is timed, variants side by side."""
    cmd = [
        sys.executable,
        str(ROOT / "benchmarks" / "smnist_epoch.py"),
        "--repeats",
        "1",
        "--variants",
        "snn_compiled,lstm,sliding_psn",
        "--overrides",
        "data.limit_train=32",
        "--out",
        str(tmp_path),
    ]
    proc = subprocess.run(
        cmd, capture_output=True, text=True, cwd=ROOT, timeout=280, env={**os.environ, "PYTHONPATH": str(ROOT)}
    )
    assert proc.returncode == 0, proc.stderr[-2000:] + proc.stdout[-2000:]
    run = json.loads((tmp_path / "smnist_epoch.json").read_text())
    batch = compose_config(["experiment=smnist_pixel"]).data.batch_size  # the benchmark times the experiment's batches
    batches = -(-32 // batch)
    assert list(run["results"]) == ["snn_compiled", "lstm", "sliding_psn"]
    for result in run["results"].values():
        assert result["images"] == 32 and result["batches"] == batches and result["batch_size"] == batch
        assert result["epoch_s"][0] > 0 and result["cpu_s"][0] > 0 and len(result["calib_ms"][0]) == 2
    assert run["results"]["lstm"]["vs_baseline"] == 1.0
    text = (tmp_path / "smnist_epoch.md").read_text()
    assert (
        f"| snn_compiled | experiment=smnist_pixel snn.neuron.backend=compiled data.limit_train=32 | {batches} x {batch} |"
        in text
    )


def _efficiency_overhead():
    sys.path.insert(0, str(ROOT / "benchmarks"))
    spec = importlib.util.spec_from_file_location("efficiency_overhead", ROOT / "benchmarks" / "efficiency_overhead.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_efficiency_overhead_ratio_and_noise_flags() -> None:
    """The overhead is median(with) / median(without) - 1; a spread or a busy machine flags it noisy."""
    bench = _efficiency_overhead()
    run = lambda wall, others=0.0: {"wall_s": wall, "cpu_s": wall * 0.9, "others_cpu_frac": others}  # noqa: E731
    clean = {
        "with": bench.summarise([run(102), run(103), run(101)], 0.05, 0.1),
        "without": bench.summarise([run(100), run(99), run(100.5)], 0.05, 0.1),
    }
    result = bench.overhead(clean)
    assert result["wall"] == pytest.approx(102 / 100 - 1) and result["cpu"] == pytest.approx(102 / 100 - 1)
    assert not result["noisy"]
    busy = dict(clean, without=bench.summarise([run(100), run(100, others=0.4)], 0.05, 0.1))
    assert bench.overhead(busy)["noisy"]
    spread = dict(clean, **{"with": bench.summarise([run(90), run(110)], 0.05, 0.1)})
    assert bench.overhead(spread)["noisy"]
    failed = dict(clean, without={"error": "boom"})
    assert bench.overhead(failed) == {"wall": None, "cpu": None, "noisy": True}
    report = {
        "overrides": [],
        "repeats": 3,
        "tolerance": 0.05,
        "max_others": 0.1,
        "target": 0.05,
        "results": clean,
        "overhead": result,
        "machine": "m",
        "threads": "1",
        "date": "d",
    }
    text = bench.render(report)
    assert "Overhead: wall +2.0%, CPU +2.0% (target <= 5%: met)." in text and "noisy" not in text.split("Overhead")[1]


def test_checkpoint_memory_train_step_mode_segments_the_real_step() -> None:
    """benchmarks/checkpoint_memory.py --train-step: train.py's composed config and training step,
    small sizes; checkpointing the step lowers its measured peak (a script test, not a timing test)."""
    spec = importlib.util.spec_from_file_location("checkpoint_memory", ROOT / "benchmarks" / "checkpoint_memory.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    overrides = [
        "data=smnist",
        "data.mode=row",
        "encoding=direct",
        "data.limit_train=16",
        "data.augment_shift=0",
        "snn.hidden_sizes=[32]",
    ]
    full, segmented = (bench.peak_bytes(bench.train_step(overrides, every, 8, 120)) for every in (None, 10))
    assert 0 < segmented < 0.5 * full
