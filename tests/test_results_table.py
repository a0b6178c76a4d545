"""scripts/results_table.py: row selection, seed parsing, the summary over seeds and the tables."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _script():
    sys.path.insert(0, str(ROOT / "scripts"))
    spec = importlib.util.spec_from_file_location("results_table", ROOT / "scripts" / "results_table.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["results_table"] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def test_rows_seeds_and_summary() -> None:
    rt = _script()
    assert [r.key for r in rt.select("ttfs_rate,default", long=False)] == ["ttfs_rate", "default"]
    assert all(not r.long for r in rt.select(None, long=False))
    assert any(r.long for r in rt.select(None, long=True))
    with pytest.raises(ValueError, match="unknown rows \\['nope'\\]; known: default"):
        rt.select("nope", long=False)
    assert rt.parse_seeds("42,1,2") == [42, 1, 2]
    for bad in ("1,x", "1,1", "-3"):
        with pytest.raises(ValueError, match="--seeds"):
            rt.parse_seeds(bad)
    runs = [rt.Run(s, v, w, Path("/x")) for s, v, w in ((42, 0.97, 80.0), (1, 0.95, 90.0), (2, 0.96, 70.0))]
    s = rt.summary(runs + [rt.Run(3, None, 5.0, Path("/x"), "exit 1")], "test/acc")
    assert s["n"] == 3 and s["mean"] == pytest.approx(0.96) and s["std"] == pytest.approx(0.01) and s["worst"] == 0.95
    assert rt.format_value(s, "test/acc") == "96.0 % ± 1.0 (min 95.0, 3 seeds)"
    assert rt.format_value(rt.summary(runs[:1], "test/acc"), "test/acc") == "97.0 %"
    mse = rt.summary([rt.Run(1, 0.002, 1.0, Path("/x")), rt.Run(2, 0.004, 1.0, Path("/x"))], "test/mse")
    assert mse["worst"] == 0.004 and rt.format_value(mse, "test/mse").startswith("test MSE 0.0030 ± 0.0014 (max 0.0040")
    row = rt.RowResult(rt.select("default", long=False)[0], runs)
    assert "| `(default)` | rate_bernoulli -> rate" in rt.table([row], "mnist5k")
    assert (
        rt.format_value(rt.summary([runs[0].__class__(1, None, 1.0, Path("/x"), "boom")], "test/acc"), "test/acc")
        == "failed"
    )


def test_the_online_table_has_a_line_per_task_and_a_column_per_rule() -> None:
    """The online rows of one task fill one line; each rule's wall time is set against BPTT's."""
    rt = _script()
    rows = rt.select("online_mlp_bptt,online_mlp_ottt,online_mlp_sltt,online_row_ottt", long=False)
    assert [r.column for r in rows] == ["bptt", "ottt", "sltt", "ottt"]
    assert rows[1].overrides == ("trainer.max_epochs=8", "snn.learning_rule=ottt")
    results = [
        rt.RowResult(row, [rt.Run(42, value, wall, Path("/x"))])
        for row, value, wall in zip(rows, (0.943, 0.941, 0.933, 0.912), (20.0, 25.0, 22.0, 17.0))
    ]
    lines = rt.table(results, "online").splitlines()
    assert lines[0].endswith("| `bptt` | `ottt` | `sltt` |") and len(lines) == 4
    assert lines[2] == (
        "| *(default)* `trainer.max_epochs=8 snn.learning_rule=...` | 94.3 %, 20 s | 94.1 %, 25 s (1.25x) | "
        "93.3 %, 22 s (1.10x) |"
    )
    assert lines[3].startswith(
        "| `experiment=smnist_row trainer.max_epochs=8 snn.learning_rule=...` |  | 91.2 %, 17 s |"
    )
    # the cost table leaves the online rows out (the same networks as other rows), and does not wait for them
    assert rt.cost_table(results) == rt.efficiency_table.HEADER


@pytest.mark.slow
def test_one_tiny_run_is_read_from_its_metrics(tmp_path: Path) -> None:
    rt = _script()
    tiny = [
        "data=digits",
        "data.limit_train=64",
        "snn.hidden_sizes=[16]",
        "encoding.num_steps=4",
        "trainer.max_epochs=1",
        "logger=csv",
    ]
    run = rt.run_train(tiny, 7, tmp_path / "run", "test/acc", threads=1)
    assert run.error == "" and run.value == json.loads((tmp_path / "run" / "metrics.json").read_text())["test/acc"]
    cost = rt.cost_table([rt.RowResult(rt.Row("tiny", "mnist5k", tuple(tiny), "tiny"), [run])])
    assert cost.splitlines()[2].startswith(f"| `{' '.join(tiny)}` | {100 * run.value:.1f} % |")
    failed = rt.run_train([*tiny, "snn.hidden_sizes=[0]"], 7, tmp_path / "bad", "test/acc", threads=1)
    assert failed.value is None and failed.error.startswith("exit 2")


def test_parallel_runs_land_in_their_rows_in_table_order(tmp_path: Path, monkeypatch) -> None:
    """--jobs 2: runs finish out of order, each lands in its row (baseline apart) in seed order."""
    import time

    rt = _script()
    started = []

    def fake_run(overrides, seed, folder, metric, threads):
        started.append(folder)
        time.sleep(0.05 if seed == 42 else 0.0)  # the first seed finishes last
        value = 0.5 + 0.01 * seed + (0.2 if "snn=lstm" in overrides else 0.0)
        return rt.Run(seed, value, 1.0, folder)

    monkeypatch.setattr(rt, "run_train", fake_run)
    monkeypatch.setattr(rt, "cost_table", lambda results: "cost")
    readme = tmp_path / "README.md"
    readme.write_text(
        "".join(
            f"<!-- {m}:start -->\nold {m}\n<!-- {m}:end -->\n"
            for m in ("results-table", "smnist-table", "efficiency-table")
        )
    )
    code = rt.main(
        [
            "--rows",
            "default,smnist_row,smnist_row_psn,smnist_row_masked_psn",
            "--seeds",
            "42,1",
            "--jobs",
            "2",
            "--out",
            str(tmp_path),
            "--runs",
            str(tmp_path / "r"),
            "--readme",
            str(readme),
        ]
    )
    assert code == 0 and len(started) == 10
    # every default (not long) S-MNIST row ran: that table is written; the mnist5k and cost tables are not
    text = readme.read_text()
    assert "old smnist-table" not in text and "`experiment=smnist_row` | 71.5 % ± 29.0" in text
    assert "| row-wise, masked PSN | `experiment=smnist_row_psn snn.neuron.type=masked_psn` | 71.5 % ± 29.0" in text
    assert text.count(" |  | 1 |") == 2  # the PSN rows have no baseline column
    assert "old results-table" in text and "old efficiency-table" in text
    # --reuse: re-run one row, read the others from the earlier JSON (the S-MNIST row keeps its values)
    earlier = tmp_path / "earlier.json"
    earlier.write_text((tmp_path / "results_table.json").read_text())
    started.clear()
    args = ["--rows", "default", "--seeds", "42,1", "--out", str(tmp_path), "--runs", str(tmp_path / "r")]
    assert rt.main([*args, "--reuse", str(earlier)]) == 0 and len(started) == 2
    merged = json.loads((tmp_path / "results_table.json").read_text())
    assert list(merged["rows"]) == ["default", "smnist_row", "smnist_row_psn", "smnist_row_masked_psn"]
    assert [r["value"] for r in merged["rows"]["smnist_row"]["runs"]] == pytest.approx([0.92, 0.51])
    assert merged["rows"]["smnist_row"]["from"] == json.loads(earlier.read_text())["header"]
    assert "(rows default); Commit" in merged["header"] and "(rows smnist_row, smnist_row_psn" in merged["header"]
    rows = json.loads((tmp_path / "results_table.json").read_text())["rows"]
    assert [r["seed"] for r in rows["default"]["runs"]] == [42, 1]
    assert [r["value"] for r in rows["smnist_row"]["runs"]] == pytest.approx([0.92, 0.51])
    assert [r["value"] for r in rows["smnist_row"]["baseline_runs"]] == pytest.approx([1.12, 0.71])
    assert "2 run(s) at a time" in (tmp_path / "results_table.md").read_text()
    with pytest.raises(SystemExit):
        rt.main(["--rows", "default", "--jobs", "0"])


def test_a_failed_run_writes_no_table(tmp_path: Path, monkeypatch) -> None:
    """A row whose run failed leaves the README and the results files as they were."""
    rt = _script()
    monkeypatch.setattr(rt, "run_train", lambda o, seed, folder, m, t: rt.Run(seed, None, 1.0, folder, "exit 2: boom"))
    monkeypatch.setattr(rt, "cost_table", lambda results: "cost")
    readme = tmp_path / "README.md"
    readme.write_text("<!-- smnist-table:start -->\nold\n<!-- smnist-table:end -->\n")
    args = ["--rows", "smnist_row", "--seeds", "1", "--out", str(tmp_path / "out"), "--readme", str(readme)]
    assert rt.main([*args, "--runs", str(tmp_path / "r")]) == 1
    assert not (tmp_path / "out").exists() and "old" in readme.read_text()


def test_long_rows_baseline_seeds_and_rewriting_from_earlier_results(tmp_path: Path, monkeypatch) -> None:
    """--baseline-seeds runs the LSTM column on fewer seeds; the long rows fill their own README table once
    each has results (from several --reuse files, the last winning); --rows none only writes; the cost table
    is never rewritten from reused rows; CPU times appear where measured."""
    rt = _script()
    started = []

    def fake_run(overrides, seed, folder, metric, threads):
        started.append((tuple(overrides), seed))
        return rt.Run(seed, 0.9 if "snn=lstm" not in overrides else 0.8, 100.0, folder, cpu_s=60.0)

    monkeypatch.setattr(rt, "run_train", fake_run)
    monkeypatch.setattr(rt, "cost_table", lambda results: f"cost of {len(results)} rows")
    markers = ("smnist-table", "smnist-long-table", "efficiency-table")
    readme = tmp_path / "README.md"
    readme.write_text("".join(f"<!-- {m}:start -->\nold {m}\n<!-- {m}:end -->\n" for m in markers))
    common = ["--runs", str(tmp_path / "r"), "--readme", str(readme)]
    first, second = tmp_path / "a", tmp_path / "b"
    args = ["--rows", "smnist_pixel", "--long", "--seeds", "42,1", "--baseline-seeds", "42", "--out", str(first)]
    assert rt.main([*args, *common]) == 0
    assert started == [(("experiment=smnist_pixel",), 42), (("experiment=smnist_pixel",), 1)] + [
        (("experiment=smnist_pixel", "snn=lstm"), 42)
    ]
    assert "(baseline: 42)" in (first / "results_table.md").read_text()
    assert "old smnist-long-table" in readme.read_text()  # psmnist_pixel and smnist_pixel_psn have no results
    started.clear()
    args = ["--rows", "psmnist_pixel,smnist_pixel_psn", "--long", "--seeds", "7", "--baseline-seeds", "none"]
    assert rt.main([*args, "--out", str(second), *common]) == 0 and len(started) == 2
    # a later file wins: rewrite smnist_pixel's seeds in a copy read last
    later = json.loads((first / "results_table.json").read_text())
    later["rows"]["smnist_pixel"]["runs"][0]["value"] = 0.5
    (tmp_path / "later.json").write_text(json.dumps(later))
    started.clear()
    reuse = ["--reuse", str(first / "results_table.json"), "--reuse", str(second / "results_table.json")]
    reuse += ["--reuse", str(tmp_path / "later.json")]
    assert rt.main(["--rows", "none", "--long", *reuse, "--out", str(tmp_path / "c"), *common]) == 0
    assert started == []
    text = readme.read_text()
    long_table = text.split("<!-- smnist-long-table:start -->")[1].split("<!-- smnist-long-table:end -->")[0]
    assert (
        "| pixel-wise, T = 784 | `experiment=smnist_pixel` | 70.0 % ± 28.3 (min 50.0, 2 seeds) | 80.0 % |" in long_table
    )
    assert "| 100 (60) / 100 (60) |" in long_table
    assert "`experiment=psmnist_pixel` | 90.0 % | not run | 100 (60) / - |" in long_table
    assert "`experiment=smnist_pixel_psn` | 90.0 % |  | 100 (60) |" in long_table
    assert "(baseline: none)" in long_table and "(rows psmnist_pixel, smnist_pixel_psn)" in long_table
    assert long_table.index("(rows smnist_pixel)") < long_table.index("(rows psmnist_pixel")  # table order
    assert "old smnist-table" in text and "old efficiency-table" in text  # no row-wise rows; nothing measured
    assert rt.select("none", long=True) == []
    assert rt.parse_seeds("none", "--baseline-seeds") == []
    with pytest.raises(ValueError, match="--baseline-seeds must be comma-separated integers, got 'x'"):
        rt.parse_seeds("x", "--baseline-seeds")
    with pytest.raises(ValueError, match="--seeds must be comma-separated"):
        rt.parse_seeds("none")
