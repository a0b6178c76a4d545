"""SNNLitModule: primitive hparams, weights_only checkpoints, bf16 on CPU, NaN guard, metrics."""

from __future__ import annotations

import math

import lightning as L
import pytest
import torch
from framework_helpers import TINY, compose_config
from lightning.pytorch.callbacks import ModelCheckpoint

from brain_ai.app import pipeline
from brain_ai.config import Task
from brain_ai.training.module import SNNLitModule


def tiny_model(*overrides: str):
    torch.manual_seed(0)
    return pipeline.build_model(compose_config([*TINY, *overrides]))


def trainer(**kw) -> L.Trainer:
    defaults = dict(
        accelerator="cpu",
        devices=1,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        max_epochs=1,
        limit_train_batches=2,
        limit_val_batches=1,
        limit_test_batches=2,
    )
    return L.Trainer(**{**defaults, **kw})


def _is_primitive(value) -> bool:
    if isinstance(value, dict):
        return all(isinstance(k, str) and _is_primitive(v) for k, v in value.items())
    if isinstance(value, list):
        return all(_is_primitive(v) for v in value)
    return value is None or type(value) in (str, int, float, bool)


def test_hparams_are_plain_primitives():
    model, _ = tiny_model("snn=adaptive", "snn.hidden_sizes=[8]")
    hparams = dict(model.hparams)
    assert set(hparams) == {
        "snn",
        "encoding",
        "decoding",
        "loss",
        "optim",
        "num_outputs",
        "task",
        "seed",
        "data",
        "value_sequence",
    }
    assert _is_primitive(hparams), hparams
    assert hparams["snn"]["neuron"]["type"] == "adaptive_lif"
    assert hparams["snn"]["input_size"] == 64 and hparams["snn"]["output_size"] == 10


def test_checkpoint_loads_with_weights_only_and_gives_identical_logits(tmp_path):
    model, dm = tiny_model()
    t = trainer()
    t.fit(model, datamodule=dm)
    path = tmp_path / "model.ckpt"
    t.save_checkpoint(path)

    raw = torch.load(path, weights_only=True)
    assert raw["hyper_parameters"] == dict(model.hparams)

    loaded = SNNLitModule.load_from_checkpoint(path, weights_only=True)
    x, _ = next(iter(dm.test_dataloader()))
    model.eval()
    loaded.eval()
    with torch.no_grad():
        expected = model(x)[0].logits_proxy
        got = loaded(x)[0].logits_proxy
    assert torch.equal(got, expected)
    for name, tensor in model.state_dict().items():
        assert torch.equal(loaded.state_dict()[name], tensor), name


def test_bf16_mixed_on_cpu_trains_with_fp32_neuron_state():
    model, dm = tiny_model()
    t = trainer(fast_dev_run=True, precision="bf16-mixed")
    t.fit(model, datamodule=dm)
    loss = t.callback_metrics["train/loss"]
    assert math.isfinite(float(loss))

    x, _ = next(iter(dm.train_dataloader()))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        _, out = model(x)
    assert out.output.dtype == torch.bfloat16
    assert {name: state.v.dtype for name, state in out.final_states.items()} == {
        "layer0": torch.float32,
        "layer1": torch.float32,
    }
    assert all(s.dtype == torch.bfloat16 for s in out.layer_spikes.values())


def test_nan_loss_stops_training_without_a_nan_checkpoint(tmp_path, monkeypatch):
    model, dm = tiny_model()
    real_forward = model.criterion.forward

    def nan_from_epoch_1(inputs):
        total, info = real_forward(inputs)
        if model.training and model.current_epoch >= 1:
            total = total * float("nan")
        return total, info

    monkeypatch.setattr(model.criterion, "forward", nan_from_epoch_1)
    ckpt = ModelCheckpoint(dirpath=tmp_path, save_top_k=-1, save_last=True, filename="{epoch}")
    t = trainer(max_epochs=3, enable_checkpointing=True, callbacks=[ckpt])
    with pytest.raises(FloatingPointError, match=r"train loss is nan at epoch 1.*lower optim\.lr"):
        t.fit(model, datamodule=dm)
    files = sorted(p.name for p in tmp_path.glob("*.ckpt"))
    assert files == ["epoch=0.ckpt", "last.ckpt"]  # only the healthy epoch 0 was saved
    for name in files:
        saved = torch.load(tmp_path / name, weights_only=True)
        assert saved["epoch"] == 0
        assert all(torch.isfinite(v).all() for v in saved["state_dict"].values() if v.is_floating_point())


def test_accuracy_is_logged_per_stage_and_matches_the_predictions():
    model, dm = tiny_model()
    t = trainer()
    t.fit(model, datamodule=dm)
    assert {"train/acc", "val/acc", "train/loss", "val/loss"} <= set(t.callback_metrics)
    (result,) = t.test(model, datamodule=dm, verbose=False)
    assert {"test/acc", "test/loss"} <= set(result)

    model.eval()
    correct = total = 0
    with torch.no_grad():
        for i, (x, y) in enumerate(dm.test_dataloader()):
            if i == 2:  # limit_test_batches=2
                break
            correct += int((model(x)[0].prediction == y).sum())
            total += len(y)
    assert result["test/acc"] == pytest.approx(correct / total, abs=1e-6)


def test_loss_components_are_logged_per_stage():
    model, dm = tiny_model()
    t = trainer()
    t.fit(model, datamodule=dm)
    components = {k for k in t.callback_metrics if k.startswith("train/loss/")}
    assert components == {"train/loss/probspikes", "train/loss/rate_reg", "train/loss/temporal", "train/loss/isi"}
    assert {"val/loss/probspikes", "val/loss/rate_reg"} <= set(t.callback_metrics)


@pytest.mark.parametrize("scheduler", ["none", "step", "onecycle"])
def test_optimizer_and_schedulers(scheduler):
    model, dm = tiny_model("optim=sgd", f"optim.scheduler={scheduler}")
    t = trainer(max_epochs=2)
    t.fit(model, datamodule=dm)
    (opt,) = t.optimizers
    assert isinstance(opt, torch.optim.SGD) and opt.defaults["momentum"] == 0.9
    assert len(t.lr_scheduler_configs) == (0 if scheduler == "none" else 1)


def test_ragged_batch_loss_prediction_and_probes_ignore_padding():
    """A (x, y, mask) batch padded with silent steps gives the unpadded batch's loss, prediction and probes."""
    from brain_ai.data.ragged import pad_collate

    model, _ = tiny_model(
        "data=synthetic", "encoding=identity", "data.num_inputs=12", "data.n_time_bins=10", "snn.hidden_sizes=[8]"
    )
    model.eval()
    g = torch.Generator().manual_seed(0)
    samples = [((torch.rand(t, 12, generator=g) < 0.5).float(), k % 10) for k, t in enumerate((10, 6, 8))]
    x, y, mask = pad_collate(samples)
    assert x.shape == (3, 10, 12) and mask.sum(1).tolist() == [10, 6, 8]
    x_more, _, mask_more = pad_collate(samples + [(torch.zeros(15, 12), 0)])  # a longer sample pads all others
    x_more, mask_more = x_more[:3], mask_more[:3]
    assert x_more.shape == (3, 15, 12)
    with torch.no_grad():
        loss = model._shared_step((x, y, mask), "val", 0)
        loss_more = model._shared_step((x_more, y, mask_more), "val", 0)
        dec, out = model(x, mask=mask)
        dec_more, out_more = model(x_more, mask=mask_more)
    torch.testing.assert_close(loss_more, loss)
    assert torch.equal(dec_more.prediction, dec.prediction)
    torch.testing.assert_close(dec_more.logits_proxy, dec.logits_proxy)
    probes, probes_more = model.probe(x, mask).probes, model.probe(x_more, mask_more).probes
    for layer in probes:
        for key in probes[layer]:
            torch.testing.assert_close(probes_more[layer][key], probes[layer][key], rtol=1e-6, atol=1e-7)
    for b, (xi, _yi) in enumerate(samples):  # each sample alone (no padding at all) decodes the same
        with torch.no_grad():
            alone, _ = model(xi.unsqueeze(0))
        torch.testing.assert_close(alone.logits_proxy, dec.logits_proxy[b : b + 1])


def test_predict_step_streams_in_windows_with_the_one_pass_predictions():
    model, _ = tiny_model("encoding=rate_poisson", "encoding.num_steps=20", "snn=adaptive")
    model.eval()
    x = torch.rand(6, 1, 8, 8)
    torch.manual_seed(3)
    whole = model.predict_step((x, None), 0)
    model.stream_window = 6  # windows of 6, 6, 6, 2 steps of the encoded (stochastic) spikes
    torch.manual_seed(3)
    streamed = model.predict_step((x, None), 0)
    assert torch.equal(streamed.prediction, whole.prediction)
    torch.testing.assert_close(streamed.logits_proxy, whole.logits_proxy, rtol=0, atol=1e-6)
    assert whole.logits_proxy.abs().sum() > 0


def test_training_step_checkpointed_matches_full_bptt_with_a_stochastic_encoder():
    grads = []
    for overrides in ([], ["snn.checkpoint_every=3"]):
        model, _ = tiny_model("encoding=rate_poisson", "snn.dropout=0.2", *overrides)
        model.train()
        torch.manual_seed(5)  # same encoder spikes and dropout masks in both runs
        out = model(torch.rand(4, 1, 8, 8))[1].output
        out.sum().backward()
        grads.append({n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None})
    for name in grads[0]:
        torch.testing.assert_close(grads[1][name], grads[0][name], rtol=1e-5, atol=1e-7, msg=name)


def test_build_model_turns_a_memory_budget_into_checkpoint_every_and_checks_T(caplog):
    with caplog.at_level("INFO", logger="brain_ai.core.memory"):
        model, _ = tiny_model("encoding.num_steps=40", "snn.memory_budget_mb=0.5")
    every = model.snn_cfg.checkpoint_every
    assert model.snn_cfg.memory_budget_mb is None and 1 < every < 40  # full BPTT needs ~1.4 MB here
    assert f"snn.memory_budget_mb=0.5 -> snn.checkpoint_every={every}" in caplog.text
    with pytest.raises(
        pipeline.ConfigError, match=r"snn\.checkpoint_every=9 is larger than the sequence \(T=8 steps\)"
    ):
        tiny_model("snn.checkpoint_every=9")


class _GlobalRngWatch(L.Callback):
    """Records the global CPU RNG state around every training batch (step, backward, optimiser)."""

    def __init__(self) -> None:
        self.pairs = []

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        self.before = torch.get_rng_state()

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        self.pairs.append((self.before, torch.get_rng_state()))


def test_training_batches_leave_the_global_rng_alone_and_draw_from_the_seed_stream():
    model, dm = tiny_model("snn.dropout=0.3", "data.augment_shift=1")  # encoder sampling, dropout, shift: all random
    start = model.seed_stream.get_state()
    watch = _GlobalRngWatch()
    trainer(callbacks=[watch]).fit(model, datamodule=dm)
    assert len(watch.pairs) == 2
    for before, after in watch.pairs:
        assert torch.equal(before, after)
    advanced = torch.Generator()
    advanced.set_state(start)
    torch.randint(0, 2**62, (2,), generator=advanced)  # one batch seed per training batch
    assert torch.equal(model.seed_stream.get_state(), advanced.get_state())


def test_batch_generator_draws_differ_per_training_batch_and_repeat_per_evaluation_batch():
    model, _ = tiny_model("encoding.seed=11")
    assert model.stream_seed == 11
    draw = lambda stage, i: torch.rand(4, generator=model.batch_generator(torch.device("cpu"), stage, i))  # noqa: E731
    assert not torch.equal(draw("train", 0), draw("train", 0))  # the stream moved on
    assert torch.equal(draw("val", 3), draw("val", 3)) and not torch.equal(draw("val", 3), draw("val", 4))
    torch.testing.assert_close(draw("val", 3), torch.rand(4, generator=torch.Generator().manual_seed(11 + 3)))
    assert tiny_model("seed=5")[0].stream_seed == 5  # encoding.seed null: the run's seed


def test_checkpoint_carries_the_seed_stream(tmp_path):
    model, dm = tiny_model()
    t = trainer()
    t.fit(model, datamodule=dm)
    t.save_checkpoint(tmp_path / "a.ckpt")
    stored = torch.load(tmp_path / "a.ckpt", weights_only=True)["brain_ai_seed_stream"]
    assert torch.equal(stored, model.seed_stream.get_state())
    fresh, _ = tiny_model()
    fresh.on_load_checkpoint({"brain_ai_seed_stream": stored})
    assert torch.equal(fresh.seed_stream.get_state(), stored)


def test_num_classes_is_a_deprecated_alias_of_num_outputs(tmp_path):
    model, _ = tiny_model()
    hparams = {k: v for k, v in model.hparams.items() if k != "num_outputs"}
    with pytest.warns(FutureWarning, match="num_classes is deprecated .*; use num_outputs"):
        old = SNNLitModule(**hparams, num_classes=10)
    assert old.hparams.num_outputs == 10 and "num_classes" not in old.hparams and old.decoder.num_outputs == 10
    path = tmp_path / "old.ckpt"  # a checkpoint of the last release: hyper-parameter num_classes
    torch.save(
        {
            "state_dict": model.state_dict(),
            "hyper_parameters": {**hparams, "num_classes": 10},
            "pytorch-lightning_version": L.__version__,
        },
        path,
    )
    with pytest.warns(FutureWarning, match="use num_outputs"):
        loaded = SNNLitModule.load_from_checkpoint(path, weights_only=True)
    assert loaded.hparams.num_outputs == 10
    with pytest.raises(pipeline.ConfigError, match="num_classes=10 \\(deprecated\\) and num_outputs=10 are both set"):
        SNNLitModule(**hparams, num_outputs=10, num_classes=10)


def test_task_must_match_the_decoder():
    model, _ = tiny_model()
    hparams = dict(model.hparams)
    assert model.task is Task.classification and hparams["task"] == "classification"
    with pytest.raises(pipeline.ConfigError, match="decodes classification, but task=regression"):
        SNNLitModule(**{**hparams, "task": "regression"})
    with pytest.raises(
        pipeline.ConfigError,
        match=r"SNNLitModule\.task='ranking' is not a valid choice; allowed: classification, regression",
    ):
        SNNLitModule(**{**hparams, "task": "ranking"})
