"""The validate_spiking and spiking_debug_report tools run and report."""

import subprocess
import sys
from pathlib import Path

import torch

from brain_ai.config import NeuronConfig
from brain_ai.tools import spiking_debug_report, validate_spiking

ROOT = Path(__file__).resolve().parents[2]


def test_validate_spiking_reports_failures():
    rows = [("lif", "binary_spikes", None), ("lif", "gradients", "AssertionError: boom")]
    table = validate_spiking.format_table(rows)
    assert "FAIL" in table and "PASS" in table and "boom" in table


def test_validate_script_wrapper_exits_zero():
    res = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "validate_spiking.py"), "--size", "4", "--steps", "4", "--batch", "2"],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
    )
    assert res.returncode == 0, res.stdout + res.stderr


def test_debug_report_on_small_model():
    torch.manual_seed(0)
    model = spiking_debug_report.DemoSNN(12, 16, 3, NeuronConfig(threshold=0.3))
    batch = (torch.rand(4, 10, 12) < 0.3).float()
    report = spiking_debug_report.debug_report(model, batch)
    assert set(report["layers"]) == {"lif1", "readout"}
    lif = report["layers"]["lif1"]
    assert 0 <= lif["firing_rate"] <= 1 and "dead_frac" in lif and isinstance(lif["issues"], list)
    assert report["grads"]["fc1.weight"]["norm"] > 0
    text = spiking_debug_report.format_report(report)
    assert "fc2.weight" in text and "lif1" in text
    # the model's own forward_sequence is restored afterwards
    assert "forward_sequence" not in vars(model.lif1)


def test_debug_report_main_runs(capsys):
    assert spiking_debug_report.main(["--batch", "2", "--steps", "5", "--hidden", "8"]) == 0
    assert "gradients" in capsys.readouterr().out
