"""The codec validation and AMP stress tools run clean (small sizes) and report failures by exit code."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from brain_ai.tools import amp_stress_test, validate_codec_losses

ROOT = Path(__file__).resolve().parents[2]


def test_validate_codec_losses_exits_non_zero_on_a_failing_check(monkeypatch, capsys):
    def broken(sizes):
        raise AssertionError("deliberately broken")

    monkeypatch.setattr(validate_codec_losses, "check_isi_vectorised", broken)
    assert validate_codec_losses.main(["--steps", "6"]) == 1
    assert "FAIL  AssertionError: deliberately broken" in capsys.readouterr().out


def test_amp_stress_test_exits_non_zero_when_outside_tolerance(monkeypatch):
    monkeypatch.setattr(amp_stress_test, "REL_TOL", -1.0)  # nothing can be within a negative tolerance
    assert amp_stress_test.main(["--scales", "small", "--batch", "2"]) == 1


def test_script_wrapper_runs_as_a_program():
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run(
        [sys.executable, "scripts/validate_codec_losses.py", "--steps", "6"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "0 failed" in proc.stdout
