"""pipeline.train / train.py: metrics, run-dir outputs, reproducibility, kill-and-resume, DDP."""

from __future__ import annotations

import math
import subprocess
import sys

import lightning as L
import pytest
import torch
from framework_helpers import REPO, TINY, compose_config

from brain_ai.app import pipeline


class StopAfterEpoch(L.Callback):
    """Simulates a killed job: stop cleanly at the end of training epoch ``epoch`` (0-based)."""

    def __init__(self, epoch: int) -> None:
        self.epoch = epoch

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.current_epoch == self.epoch:
            trainer.should_stop = True


STOP_AFTER_EPOCH_1 = [f"+callbacks.stop._target_={__name__}.StopAfterEpoch", "+callbacks.stop.epoch=1"]


def test_train_returns_finite_metrics(short_run):
    metrics = short_run.metrics
    expected = {"train/loss", "train/acc", "val/loss", "val/acc", "test/loss", "test/acc", "train/loss/probspikes"}
    assert expected <= set(metrics)
    assert all(isinstance(v, float) and math.isfinite(v) for v in metrics.values())
    assert 0.0 <= metrics["test/acc"] <= 1.0


def test_train_writes_checkpoints_and_tensorboard_under_the_run_dir(short_run):
    out = short_run.output_dir
    ckpts = sorted(p.name for p in (out / "checkpoints").glob("*.ckpt"))
    assert "last.ckpt" in ckpts and any(name.startswith("epoch_") for name in ckpts)
    assert list((out / "tensorboard").glob("events.out.tfevents.*"))
    last = torch.load(out / "checkpoints" / "last.ckpt", weights_only=True)
    # Lightning 2.6: last.ckpt is a copy of the newest top-k (best val/acc so far) checkpoint
    saved = [torch.load(p, weights_only=True) for p in (out / "checkpoints").glob("epoch_*.ckpt")]
    assert last["global_step"] == max(c["global_step"] for c in saved) and last["epoch"] in (0, 1)  # max_epochs=2
    assert last["hyper_parameters"]["seed"] == short_run.cfg.seed


def test_optimized_value_is_the_named_metric(short_run):
    cfg, metrics = short_run.cfg, short_run.metrics
    assert cfg.optimized_metric == "val/acc"
    assert pipeline.optimized_value(cfg, metrics) == metrics["val/acc"]
    cfg_missing = compose_config(["optimized_metric=val/nope"])
    with pytest.raises(KeyError, match=r"val/nope.*val/acc"):
        pipeline.optimized_value(cfg_missing, metrics)
    assert pipeline.optimized_value(compose_config(["optimized_metric=null"]), metrics) is None


def test_same_seed_same_run(tmp_path):
    runs = [
        pipeline.train(
            compose_config([*TINY, "seed=123", "callbacks.probes.every_n_steps=1"], output_dir=tmp_path / name)
        )
        for name in ("a", "b")
    ]
    assert runs[0] == runs[1]


def test_kill_and_resume_ends_like_an_uninterrupted_run(tmp_path):
    # save_top_k=-1: last.ckpt refreshed every epoch (Lightning 2.6 copies only the newest top-k save into it)
    base = [*TINY, "trainer.max_epochs=3", "+callbacks.model_checkpoint.save_top_k=-1"]
    full = pipeline.train(compose_config(base, output_dir=tmp_path / "full"))

    resumed_dir = tmp_path / "resumed"
    pipeline.train(compose_config([*base, *STOP_AFTER_EPOCH_1, "test=false"], output_dir=resumed_dir))
    last = resumed_dir / "checkpoints" / "last.ckpt"
    interrupted = torch.load(last, weights_only=True)
    assert interrupted["epoch"] == 1  # epochs 0 and 1 done, 2 to go
    assert interrupted["global_step"] == 2 * 3  # 3 batches per epoch

    resumed = pipeline.train(compose_config([*base, f"ckpt_path={last}"], output_dir=resumed_dir))
    assert resumed.keys() == full.keys()
    for key in full:
        assert resumed[key] == pytest.approx(full[key], rel=1e-6, abs=1e-7), key

    a = torch.load(tmp_path / "full" / "checkpoints" / "last.ckpt", weights_only=True)
    b = torch.load(last, weights_only=True)
    assert b["epoch"] == a["epoch"] == 2
    for name, tensor in a["state_dict"].items():
        torch.testing.assert_close(b["state_dict"][name], tensor, rtol=1e-6, atol=1e-7, msg=name)


SYNTHETIC = [
    "experiment=synthetic_smoke",
    "data.num_samples=200",
    "data.n_time_bins=8",
    "snn.hidden_sizes=[16]",
    "trainer.max_epochs=1",
    "+trainer.limit_val_batches=1",
    "+trainer.limit_test_batches=2",
    "trainer.enable_progress_bar=false",
]
DEBUG = [
    "debug=default",
    "data.limit_train=64",
    "snn.hidden_sizes=[16]",
    "encoding.num_steps=8",
    "trainer.enable_progress_bar=false",
]


@pytest.mark.parametrize(
    "overrides",
    [
        [*TINY, "preset=ttfs_classification"],
        [*TINY, "preset=population_classification"],
        [*TINY, "decoding=membrane", "snn.readout=membrane"],
        [*TINY, "decoding=ensemble"],
        [*TINY, "snn=conv"],
        [*TINY, "snn=recurrent", "snn.hidden_sizes=[16]"],
        [*TINY, "snn=adaptive", "snn.hidden_sizes=[16]"],
        [*TINY, "snn=advanced", "snn.hidden_sizes=[16]"],
        [*TINY, "encoding=latency", "loss.w_membrane=0.01"],
        [*TINY, "optim=sgd", "optim.scheduler=onecycle", "snn.chunk_size=3", "snn.checkpoint_every=2"],
        [*TINY, "logger=csv", "callbacks=none"],
        SYNTHETIC,
        DEBUG,
    ],
    ids=[
        "ttfs",
        "population",
        "membrane_readout",
        "ensemble",
        "conv",
        "recurrent",
        "adaptive",
        "advanced",
        "latency_membrane_reg",
        "sgd_onecycle_tbptt_ckpt",
        "csv_no_callbacks",
        "synthetic_smoke",
        "debug_default",
    ],
)
def test_component_combinations_train_end_to_end(overrides, tmp_path):
    metrics = pipeline.train(compose_config(overrides, output_dir=tmp_path))
    assert {"train/loss", "val/acc", "test/acc"} <= set(metrics)
    assert all(math.isfinite(v) for v in metrics.values()), metrics


@pytest.mark.slow
def test_ddp_fork_two_cpu_processes(tmp_path):
    cfg = compose_config(
        [*TINY, "+trainer.strategy=ddp_fork", "trainer.devices=2", "trainer.accelerator=cpu"], output_dir=tmp_path
    )
    metrics = pipeline.train(cfg)
    assert {"train/loss", "val/acc", "test/acc"} <= set(metrics)
    assert all(math.isfinite(v) for v in metrics.values())
    assert (tmp_path / "checkpoints" / "last.ckpt").is_file()


@pytest.mark.slow
def test_train_script_fast_dev_run(tmp_path):
    proc = subprocess.run(
        [sys.executable, "train.py", "debug=fdr", f"hydra.run.dir={tmp_path}", "trainer.enable_progress_bar=false"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "final metrics" in proc.stdout and "test/acc" in proc.stdout
    assert (tmp_path / ".hydra" / "config.yaml").is_file()
