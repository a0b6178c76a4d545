"""data=smnist through the whole pipeline: an LSTM baseline trained by train.py's body, its
permutation reproduced by evaluate / a checkpoint reload, and SNNs fed the sequence as current."""

from __future__ import annotations

import pytest
import torch
from framework_helpers import compose_config

from brain_ai.app import pipeline
from brain_ai.config import DataConfig, from_dict
from brain_ai.data import build_datamodule
from brain_ai.data.sequential import pixel_order
from brain_ai.training.module import SNNLitModule

SMNIST_LSTM = [
    "data=smnist",
    "data.mode=row",
    "data.permute=true",
    "data.permutation_seed=5",
    "data.batch_size=32",
    "snn=lstm",
    "snn.hidden_sizes=[16]",
    "encoding=direct",
    "decoding=membrane",
    "loss=cross_entropy",
    "trainer.max_epochs=1",
    "+trainer.limit_train_batches=3",
    "+trainer.limit_val_batches=1",
    "+trainer.limit_test_batches=2",
    "trainer.log_every_n_steps=1",
    "callbacks.probes.every_n_steps=1",
    "callbacks.health.every_n_steps=1",
    "trainer.enable_progress_bar=false",
    "+trainer.enable_model_summary=false",
]


def test_lstm_trains_on_permuted_smnist_and_evaluate_reuses_the_permutation(tmp_path):
    """Default callbacks (probes, health, raster, TensorBoard layout) run on a network without spikes."""
    metrics = pipeline.train(compose_config(SMNIST_LSTM, output_dir=tmp_path / "run"))
    assert {"train/loss", "val/acc", "test/acc"} <= set(metrics)
    (ckpt,) = (tmp_path / "run" / "checkpoints").glob("epoch_*.ckpt")

    model = SNNLitModule.load_from_checkpoint(str(ckpt), map_location="cpu", weights_only=True)
    assert model.hparams.value_sequence is True and model.encoder.sequence_input
    saved = from_dict(DataConfig, dict(model.hparams.data))
    assert (saved.permute, saved.permutation_seed, saved.mode.name) == (True, 5, "row")
    # the shift augmentation's pixel order: the data module's, a buffer that is not saved
    shift = build_datamodule(from_dict(DataConfig, {**model.hparams.data, "augment_shift": 1})).train_batch_transform()
    assert torch.equal(shift.order, torch.as_tensor(pixel_order(saved))) and not shift.state_dict()
    assert model.batch_transform is None  # training only: a loaded module has none
    reloaded, fresh = (
        build_datamodule(saved),
        build_datamodule(DataConfig(name="smnist", permute=True, permutation_seed=5)),
    )
    other = build_datamodule(DataConfig(name="smnist", permute=True, permutation_seed=6))
    for dm in (reloaded, fresh, other):
        dm.setup()
    first = lambda dm: torch.stack([dm.test_set[i][0] for i in range(64)])  # noqa: E731
    assert torch.equal(first(reloaded), first(fresh)) and not torch.equal(first(reloaded), first(other))

    payload = pipeline.evaluate(
        compose_config(
            [f"ckpt_path={ckpt}", "+trainer.limit_test_batches=2", "trainer.enable_progress_bar=false"],
            output_dir=tmp_path / "eval",
            config_name="evaluate",
        )
    )
    assert payload["metrics"]["test/loss"] == pytest.approx(metrics["test/loss"], rel=1e-6)
    assert payload["probes"] == {}


@pytest.mark.parametrize("encoding, step_features", [("direct", 28), ("delta", 56)])
def test_snn_reads_the_sequence_with_its_own_length(encoding, step_features):
    """An SNN on smnist: direct feeds each row as input current (no num_steps repetition), delta its ON/OFF spikes."""
    cfg = compose_config(
        [
            "data=smnist",
            "data.mode=row",
            f"encoding={encoding}",
            "decoding=membrane",
            "snn.readout=membrane",
            "loss=cross_entropy",
            "snn.hidden_sizes=[8]",
        ]
    )
    model, dm = pipeline.build_model(cfg)
    assert model.hparams.value_sequence and getattr(model.encoder, "sequence_input", False) is (encoding == "direct")
    assert model.snn_cfg.input_size == step_features
    dm.setup()
    x = torch.stack([dm.test_set[i][0] for i in range(4)])  # (4, 28, 28)
    encoded = model.encoder(x)
    assert encoded.spikes.shape == (4, 28, step_features)
    if encoding == "direct":  # minmax per sample: the rows, scaled to span [0, 1]
        lo, hi = x.amin((1, 2), keepdim=True), x.amax((1, 2), keepdim=True)
        torch.testing.assert_close(encoded.spikes, (x - lo) / (hi - lo))
    decoded, out = model(x)
    assert out.output.shape == (4, 28, 10) and decoded.logits_proxy.shape == (4, 10)
