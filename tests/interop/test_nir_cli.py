"""export.py / export_file on a trained checkpoint, and evaluate.py on the exported .nir file."""

from __future__ import annotations

import subprocess
import sys

import pytest
from framework_helpers import REPO, TINY, compose_config

from brain_ai.app import pipeline
from brain_ai.interop.nir import NIRExportError, export_file, lit_module_from_nir, load, write_graph

EVAL = ["+trainer.limit_test_batches=2", "trainer.enable_progress_bar=false"]


@pytest.fixture(scope="module")
def zero_reset_run(tmp_path_factory):
    """A 1-epoch TINY run with reset=zero (exactly exportable); returns (checkpoint, metrics)."""
    out = tmp_path_factory.mktemp("nir_run")
    metrics = pipeline.train(compose_config([*TINY, "snn.neuron.reset=zero"], output_dir=out))
    (ckpt,) = (out / "checkpoints").glob("epoch_*.ckpt")
    return ckpt, metrics


def test_evaluate_accepts_an_exported_nir_file_with_the_checkpoints_accuracy(zero_reset_run, tmp_path):
    ckpt, metrics = zero_reset_run
    nir_path = export_file(ckpt, tmp_path / "model.nir")
    cfg = compose_config([f"ckpt_path={nir_path}", *EVAL], output_dir=tmp_path, config_name="evaluate")
    payload = pipeline.evaluate(cfg)
    assert payload["metrics"]["test/acc"] == pytest.approx(metrics["test/acc"], abs=1e-6)
    assert set(payload["probes"]) == {"layer0", "layer1"}


def test_export_file_refuses_the_default_subtract_reset_and_writes_nothing(short_run, tmp_path):
    (ckpt,) = (short_run.output_dir / "checkpoints").glob("epoch_*.ckpt")
    with pytest.raises(NIRExportError, match="layer0: reset=subtract"):
        export_file(ckpt, tmp_path / "m.nir")
    assert not list(tmp_path.iterdir())
    with pytest.warns(UserWarning, match="layer1: reset=subtract"):
        assert load(export_file(ckpt, tmp_path / "m.nir", approximate=True)).layer_names == ["layer0", "layer1"]


def test_evaluate_rejects_a_nir_file_without_brain_ai_metadata(zero_reset_run, tmp_path):
    net = load(export_file(zero_reset_run[0], tmp_path / "a.nir"))
    from brain_ai.interop.nir import export

    bare = write_graph(export(net), tmp_path / "bare.nir")  # exported from a bare network: no hparams
    with pytest.raises(ValueError, match="bare.nir: this NIR graph carries no brain_ai training metadata"):
        lit_module_from_nir(bare)


@pytest.mark.slow
def test_export_script(zero_reset_run, tmp_path):
    out = tmp_path / "cli.nir"
    proc = subprocess.run(
        [
            sys.executable,
            "export.py",
            f"ckpt_path={zero_reset_run[0]}",
            f"output={out}",
            "dt=0.001",
            f"hydra.run.dir={tmp_path / 'run'}",
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert f"wrote {out}" in proc.stdout
    assert float(load(out).neurons[0].beta) == pytest.approx(0.9, rel=1e-6)
