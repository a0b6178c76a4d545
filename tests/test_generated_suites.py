"""The generated test suites are current: each generator, run into a temporary directory, writes
exactly the committed file (a registry that grew, or a changed generator, fails here until the
file is regenerated)."""

from __future__ import annotations

import difflib
import subprocess
import sys
from pathlib import Path

import pytest

from brain_ai.tools import gen_codec_tests, gen_spiking_tests, suite_generation

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("generator", [gen_spiking_tests, gen_codec_tests], ids=lambda g: g.__name__.rsplit(".", 1)[1])
def test_generated_file_is_up_to_date(generator, tmp_path):
    script = ROOT / "scripts" / f"{generator.__name__.rsplit('.', 1)[1]}.py"
    fresh = tmp_path / Path(generator.OUT).name
    proc = subprocess.run(
        [sys.executable, str(script), "--out", str(fresh)], capture_output=True, text=True, timeout=120, cwd=ROOT
    )
    assert proc.returncode == 0, proc.stderr
    committed = (ROOT / generator.OUT).read_text().splitlines(keepends=True)
    diff = "".join(
        difflib.unified_diff(committed, fresh.read_text().splitlines(keepends=True), generator.OUT, "regenerated")
    )
    assert not diff, f"{generator.OUT} is out of date: run `python {script.relative_to(ROOT)}`\n{diff}"


def test_a_stale_file_is_detected(monkeypatch, tmp_path):
    """The check above can fail: a registry with one more surrogate renders a different file."""
    import brain_ai.core.surrogates as surrogates

    before = gen_spiking_tests.render()
    monkeypatch.setattr(gen_spiking_tests, "SURROGATES", {**surrogates.SURROGATES, "new_shape": surrogates.STE})
    assert '"new_shape"' in gen_spiking_tests.render() and gen_spiking_tests.render() != before


def test_codec_suite_has_the_cases_seed_001_asks_for():
    """Seed 001: gen_codec_tests writes tests/test_codec_losses.py with 70+ cases."""
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", gen_codec_tests.OUT],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )
    collected = [line for line in proc.stdout.splitlines() if "::" in line]
    assert len(collected) >= 70, proc.stdout[-2000:]


def test_table_wraps_at_the_line_width():
    text = suite_generation.table("NAMES", [f"name_{i:03d}" for i in range(40)])
    assert all(len(line) <= suite_generation.LINE_WIDTH for line in text.splitlines())
    assert text.startswith("NAMES = [\n") and text.count('"name_') == 40
