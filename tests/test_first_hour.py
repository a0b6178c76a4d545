"""A newcomer's first hour: a clean console (each log line once, no adverts, no profiler chatter),
the final metrics in the run folder, reports and exports written with the user's umask."""

from __future__ import annotations

import concurrent.futures
import json
import logging
import os
import re
import stat
import subprocess
import sys
from typing import Dict

import pytest
from framework_helpers import REPO

from brain_ai.app.cli import route_lightning_logs
from brain_ai.app.pipeline import METRICS_FILE
from brain_ai.app.safe_files import write_json_atomic
from brain_ai.interop.nir import write_graph
from brain_ai.training.callbacks import LayerSummary

#: a tiny run (3 epochs of 3 batches); no trainer.* key, so Lightning is imported after Hydra set up
#: logging, as in a plain ``python train.py``
QUIET_RUN = ["experiment=synthetic_smoke", "data.num_samples=96", "snn.hidden_sizes=[16]"]
#: Lightning lines every run prints; each must appear once
LIGHTNING_LINES = ("Seed set to 42", "GPU available: False", "`Trainer.fit` stopped")
#: console noise that must not appear
NOISE = ("Tip:", "litlogger", "FLOPs")


@pytest.fixture(scope="module")
def console(tmp_path_factory) -> Dict[str, tuple]:
    """Two tiny ``train.py`` runs in subprocesses (umask 022): one without trainer overrides, one with
    (whose key check imports Lightning before Hydra configures logging); ``{name: (output, run dir)}``."""
    root = tmp_path_factory.mktemp("console")
    runs = {
        "late_lightning_import": QUIET_RUN,
        "early_lightning_import": [*QUIET_RUN, "trainer.enable_progress_bar=false"],
    }

    def run(name: str) -> tuple:
        out = root / name
        proc = subprocess.run(
            [sys.executable, "train.py", *runs[name], f"hydra.run.dir={out}"],
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=300,
            preexec_fn=lambda: os.umask(0o022),
        )
        assert proc.returncode == 0, proc.stderr[-3000:]
        return proc.stdout + proc.stderr, out

    with concurrent.futures.ThreadPoolExecutor(max_workers=2) as pool:
        return dict(zip(runs, pool.map(run, runs)))


@pytest.mark.slow
@pytest.mark.parametrize("name", ["late_lightning_import", "early_lightning_import"])
def test_each_lightning_line_once_in_the_console_and_in_the_log_file(console, name):
    output, run_dir = console[name]
    log_file = (run_dir / "train.log").read_text()
    for line in LIGHTNING_LINES:
        assert output.count(line) == 1, (line, output[-3000:])
        assert log_file.count(line) == 1, (line, log_file)
    assert "Total params" in output  # the layer summary is kept


@pytest.mark.slow
@pytest.mark.parametrize("name", ["late_lightning_import", "early_lightning_import"])
def test_no_adverts_flops_or_profiler_lines(console, name):
    output, _ = console[name]
    assert [noise for noise in NOISE if noise in output] == []


@pytest.mark.slow
def test_final_metrics_file_has_the_users_umask(console):
    output, run_dir = console["late_lightning_import"]
    path = run_dir / METRICS_FILE
    metrics = json.loads(path.read_text())
    assert re.search(rf"^test/acc +{metrics['test/acc']:.6g}$", output, re.M)  # the printed table's value
    assert stat.S_IMODE(path.stat().st_mode) == 0o644


def test_memory_probes_print_no_profiler_lines():
    """Kineto (torch.profiler) logs profiler starts and, without CUDA, a gpuGetDeviceCount error."""
    code = "from brain_ai.core.memory import peak_bytes; import torch; print(peak_bytes(lambda: torch.ones(1000).sum()) > 0)"
    env = {k: v for k, v in os.environ.items() if k != "KINETO_LOG_LEVEL"}
    proc = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120, env=env)
    assert proc.returncode == 0 and proc.stdout == "True\n" and proc.stderr == "", proc.stderr


def test_metrics_file_holds_what_train_returned(short_run):
    assert json.loads((short_run.output_dir / METRICS_FILE).read_text()) == pytest.approx(short_run.metrics)


@pytest.mark.parametrize("umask, mode", [(0o022, 0o644), (0o002, 0o664), (0o077, 0o600)])
def test_reports_and_nir_exports_follow_the_umask(tmp_path, umask, mode):
    import nir
    import numpy as np

    graph = nir.NIRGraph.from_list(nir.Input(input_type=np.array([2])), nir.Output(output_type=np.array([2])))
    previous = os.umask(umask)
    try:
        write_json_atomic(tmp_path / "report.json", {"a": 1})
        write_graph(graph, tmp_path / "model.nir")
    finally:
        os.umask(previous)
    assert {p.name: stat.S_IMODE(p.stat().st_mode) for p in tmp_path.iterdir()} == {
        "report.json": mode,
        "model.nir": mode,
    }
    assert isinstance(nir.read(str(tmp_path / "model.nir")), nir.NIRGraph)


def test_layer_summary_has_no_flops(caplog):
    data = [
        (" ", ["0"]),
        ("Name", ["net"]),
        ("Type", ["SNNCore"]),
        ("Params", ["1.2 K"]),
        ("Mode", ["train"]),
        ("FLOPs", ["0"]),
    ]
    with caplog.at_level(logging.INFO, logger="brain_ai.training.callbacks"):
        LayerSummary.summarize(data, 1200, 1200, 0.005, {"train": 1, "eval": 0}, 0)
    assert "SNNCore" in caplog.text and "Total params" in caplog.text
    assert "FLOPs" not in caplog.text and "Flops" not in caplog.text


def test_route_lightning_logs_leaves_one_path_to_the_console():
    import lightning  # noqa: F401

    loggers = [logging.getLogger(name) for name in ("lightning", "lightning.pytorch", "lightning.fabric")]
    saved = [(logger.handlers[:], logger.propagate) for logger in loggers]
    rank_zero = logging.getLogger("lightning.pytorch.utilities.rank_zero")
    saved_filters = rank_zero.filters[:]
    try:
        route_lightning_logs()
        route_lightning_logs()  # idempotent
        assert all(logger.handlers == [] and logger.propagate for logger in loggers)
        assert len(rank_zero.filters) == len(saved_filters) + 1
        advert = logging.LogRecord(
            rank_zero.name, logging.INFO, "", 0, "💡 Tip: For seamless cloud logging ...", (), None
        )
        plain = logging.LogRecord(rank_zero.name, logging.INFO, "", 0, "GPU available: False", (), None)
        assert not rank_zero.filter(advert) and rank_zero.filter(plain)
    finally:
        for logger, (handlers, propagate) in zip(loggers, saved):
            logger.handlers[:] = handlers
            logger.propagate = propagate
        rank_zero.filters[:] = saved_filters
