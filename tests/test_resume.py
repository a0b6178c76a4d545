"""Resume does what the user asked: a longer max_epochs re-plans the LR schedule (cosine, onecycle);
a checkpoint trained with other network / codec / loss settings is refused, naming them."""

from __future__ import annotations

import math

import pytest
import torch
from framework_helpers import TINY, compose_config

from brain_ai.app import pipeline
from brain_ai.config import OptimConfig, execution_only_settings
from brain_ai.errors import InputFileError
from brain_ai.training.checkpoints import hparam_changes, renamed_keys
from brain_ai.training.schedules import build_scheduler, replan

#: save_top_k=-1: a checkpoint every epoch, so last.ckpt is the last epoch (Lightning 2.6 refreshes
#: last.ckpt only when it saves a top-k checkpoint, i.e. when val/acc improved)
BASE = [*TINY, "test=false", "+callbacks.model_checkpoint.save_top_k=-1"]


def last(folder):
    return torch.load(folder / "checkpoints" / "last.ckpt", weights_only=True)


@pytest.fixture(scope="module")
def one_epoch(tmp_path_factory):
    """A finished 1-epoch run (cosine schedule over 1 epoch: its LR ends at 0)."""
    folder = tmp_path_factory.mktemp("one_epoch")
    pipeline.train(compose_config(BASE, output_dir=folder))
    return folder


def test_extending_max_epochs_replans_cosine_like_an_uninterrupted_run(one_epoch, tmp_path):
    full = tmp_path / "full"
    pipeline.train(compose_config([*BASE, "trainer.max_epochs=2"], output_dir=full))
    resumed = tmp_path / "resumed"
    pipeline.train(compose_config(BASE, output_dir=resumed))
    start = last(resumed)
    assert start["lr_schedulers"][0]["_last_lr"] == [0.0]  # the 1-epoch plan has ended
    pipeline.train(
        compose_config(
            [*BASE, "trainer.max_epochs=2", f"ckpt_path={resumed}/checkpoints/last.ckpt"], output_dir=resumed
        )
    )
    a, b = last(full), last(resumed)
    assert b["epoch"] == 1 and b["lr_schedulers"][0]["T_max"] == 2
    # epoch 0 has lr = base under any horizon; epoch 1 has base/2 in both runs, so they end equal
    for name, tensor in a["state_dict"].items():
        torch.testing.assert_close(b["state_dict"][name], tensor, rtol=1e-6, atol=1e-7, msg=name)
    changed = any(
        not torch.equal(b["state_dict"][k], v) for k, v in start["state_dict"].items() if v.is_floating_point()
    )
    assert changed  # the extra epoch trained (the unplanned restore kept lr = 0)


#: every training-time random draw in play: encoder sampling (rate_bernoulli), dropout masks, shift offsets
RANDOM = [*BASE, "encoding.seed=7", "snn.dropout=0.3", "data.augment_shift=1"]


def test_resume_with_random_draws_reproduces_an_uninterrupted_run(tmp_path):
    """The module's seed stream is in the checkpoint: 1 epoch + resume for 1 more == 2 epochs,
    weight for weight and metric for metric (and the draws matter: another encoding.seed differs)."""
    full = tmp_path / "full"
    full_metrics = pipeline.train(compose_config([*RANDOM, "trainer.max_epochs=2"], output_dir=full))
    resumed = tmp_path / "resumed"
    pipeline.train(compose_config(RANDOM, output_dir=resumed))
    assert "brain_ai_seed_stream" in last(resumed)
    resumed_metrics = pipeline.train(
        compose_config(
            [*RANDOM, "trainer.max_epochs=2", f"ckpt_path={resumed}/checkpoints/last.ckpt"], output_dir=resumed
        )
    )
    a, b = last(full), last(resumed)
    assert a["epoch"] == b["epoch"] == 1 and a["global_step"] == b["global_step"] == 6  # 2 epochs of 3 batches
    for name, tensor in a["state_dict"].items():
        torch.testing.assert_close(b["state_dict"][name], tensor, rtol=1e-6, atol=1e-7, msg=name)
    assert set(resumed_metrics) == set(full_metrics)
    for key, value in full_metrics.items():
        assert resumed_metrics[key] == pytest.approx(value, rel=1e-5, abs=1e-7), key
    other = tmp_path / "other"
    pipeline.train(compose_config([*RANDOM, "trainer.max_epochs=2", "encoding.seed=8"], output_dir=other))
    assert any(
        not torch.equal(v, last(other)["state_dict"][k]) for k, v in a["state_dict"].items() if v.is_floating_point()
    )


def test_extending_max_epochs_replans_onecycle(tmp_path):
    overrides = [*BASE, "optim.scheduler=onecycle"]
    pipeline.train(compose_config(overrides, output_dir=tmp_path))
    before = last(tmp_path)
    assert before["lr_schedulers"][0]["total_steps"] == 3
    pipeline.train(
        compose_config(
            [*overrides, "trainer.max_epochs=2", f"ckpt_path={tmp_path}/checkpoints/last.ckpt"], output_dir=tmp_path
        )
    )
    after = last(tmp_path)
    assert after["global_step"] == 6 and after["lr_schedulers"][0]["total_steps"] == 6
    assert after["lr_schedulers"][0]["last_epoch"] == 6


@pytest.mark.parametrize("epochs_done, new_horizon", [(1, 2), (3, 10), (5, 5)])
def test_cosine_replan_continues_from_the_closed_form(epochs_done, new_horizon):
    cfg = OptimConfig(lr=0.1)
    opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=cfg.lr)
    sched = build_scheduler(opt, cfg, epochs_done)
    for _ in range(epochs_done):
        opt.step()
        sched.step()
    replan(sched, cfg, new_horizon)
    for e in range(epochs_done, new_horizon + 1):
        expected = 0.1 * (1 + math.cos(math.pi * e / new_horizon)) / 2
        assert opt.param_groups[0]["lr"] == pytest.approx(expected, abs=1e-12), e
        opt.step()
        sched.step()


def test_onecycle_replan_equals_a_fresh_plan_from_the_same_step():
    cfg = OptimConfig(lr=0.1, scheduler="onecycle")
    opt = torch.optim.Adam([torch.zeros(1, requires_grad=True)], lr=cfg.lr)
    sched = build_scheduler(opt, cfg, 4)
    for _ in range(4):
        opt.step()
        sched.step()
    replan(sched, cfg, 10)
    ref_opt = torch.optim.Adam([torch.zeros(1, requires_grad=True)], lr=cfg.lr)
    ref = build_scheduler(ref_opt, cfg, 10)
    for _ in range(4):
        ref_opt.step()
        ref.step()
    for _ in range(6):
        assert opt.param_groups[0]["lr"] == pytest.approx(ref_opt.param_groups[0]["lr"], rel=1e-9)
        assert opt.param_groups[0]["betas"] == pytest.approx(ref_opt.param_groups[0]["betas"])
        opt.step(), sched.step(), ref_opt.step(), ref.step()


@pytest.mark.parametrize(
    "overrides, fields",
    [
        (
            ["preset=ttfs_classification", "snn.neuron.beta=0.5"],
            ["encoding.type", "decoding.type", "loss.task_loss", "snn.neuron.beta"],
        ),
        (["snn.hidden_sizes=[16]"], ["snn.hidden_sizes: [32] -> [16]"]),
        (["loss.w_rate_reg=0.5"], ["loss.w_rate_reg: 0.1 -> 0.5"]),
    ],
    ids=["codec", "architecture", "loss"],
)
def test_resume_with_other_settings_is_refused_listing_them(one_epoch, tmp_path, overrides, fields):
    ckpt = one_epoch / "checkpoints" / "last.ckpt"
    cfg = compose_config([*BASE, "trainer.max_epochs=2", f"ckpt_path={ckpt}", *overrides], output_dir=tmp_path)
    with pytest.raises(InputFileError, match="resume_allow_changes=true") as err:
        pipeline.train(cfg)
    for field in fields:
        assert field in str(err.value)


def test_resume_allow_changes_accepts_same_shape_changes_only(one_epoch, tmp_path):
    ckpt = one_epoch / "checkpoints" / "last.ckpt"
    common = [*BASE, "trainer.max_epochs=2", f"ckpt_path={ckpt}", "resume_allow_changes=true"]
    with pytest.raises(InputFileError, match=r"cannot be resumed into this network: .*net.*\(32, 64\) -> \(16, 64\)"):
        pipeline.train(compose_config([*common, "snn.hidden_sizes=[16]"], output_dir=tmp_path / "a"))
    metrics = pipeline.train(compose_config([*common, "snn.neuron.beta=0.5"], output_dir=tmp_path / "b"))
    assert math.isfinite(metrics["train/loss"])


def test_execution_settings_and_new_fields_are_not_changes():
    stored = {"snn": {"chunk_size": None, "hidden_sizes": [32], "neuron": {"beta": 0.9}}, "optim": {"lr": 1.0}}
    current = {
        "snn": {"chunk_size": 4, "hidden_sizes": [32], "neuron": {"beta": 0.9, "backend": "auto"}},
        "optim": {"lr": 2.0},
    }
    assert hparam_changes(stored, current) == []
    current["snn"]["neuron"]["beta"] = 0.5
    assert hparam_changes(stored, current) == ["snn.neuron.beta: 0.9 -> 0.5"]


def test_a_deprecated_key_of_an_older_checkpoint_is_compared_under_its_new_name():
    stored = {"loss": {"w_rate": 0.1, "w_isi": 0.01}}  # written before loss.w_rate became loss.w_rate_reg
    current = {"loss": {"w_rate_reg": 0.1, "w_isi": 0.01, "w_rate": None}}
    assert hparam_changes(stored, current) == []
    current["loss"]["w_rate_reg"] = 0.5
    assert hparam_changes(stored, current) == ["loss.w_rate_reg: 0.1 -> 0.5"]


def test_renamed_keys_moves_an_old_key_drops_a_none_and_keeps_a_conflict():
    renames = {"num_classes": "num_outputs"}
    assert renamed_keys({"num_classes": 10, "x": 1}, renames) == {"num_outputs": 10, "x": 1}
    assert renamed_keys({"num_classes": None, "num_outputs": 4}, renames) == {"num_outputs": 4}
    assert renamed_keys({"num_classes": 10, "num_outputs": None}, renames) == {"num_outputs": 10}
    both = {"num_classes": 10, "num_outputs": 4}  # neither replaces the other: the reader names the conflict
    assert renamed_keys(both, renames) == both


# --- issue 23, nothing lost on resume: history, configs, copied folders, refused changes ---


def csv_rows(folder):
    import csv

    with open(folder / "csv" / "metrics.csv", newline="") as f:
        return list(csv.DictReader(f))


def test_resume_in_place_keeps_the_earlier_metrics_rows_and_the_first_config(tmp_path):
    overrides = [*BASE, "logger=csv"]
    pipeline.train(compose_config(overrides, output_dir=tmp_path))
    before = csv_rows(tmp_path)
    first_config = (tmp_path / ".hydra" / "config.yaml").read_text()
    assert {r["epoch"] for r in before} == {"0", ""}  # "": rows of the probes callback
    pipeline.train(
        compose_config(
            [*overrides, "trainer.max_epochs=2", f"ckpt_path={tmp_path}/checkpoints/last.ckpt"], output_dir=tmp_path
        )
    )
    after = csv_rows(tmp_path)
    assert [{k: v for k, v in r.items() if v} for r in after[: len(before)]] == [
        {k: v for k, v in r.items() if v} for r in before
    ]
    assert {r["epoch"] for r in after[len(before) :] if r["epoch"]} == {"1"}  # appended, not rewritten
    assert [r["epoch"] for r in after if r.get("val/acc")] == ["0", "1"]  # one validation row per epoch
    assert (tmp_path / ".hydra" / "config.yaml").read_text() == first_config  # the first start's settings
    resumed = (tmp_path / ".hydra" / "config.resume1.yaml").read_text()
    assert "ckpt_path: " + str(tmp_path) in resumed and "max_epochs: 2" in resumed


@pytest.mark.parametrize("how", ["copy", "move"])
def test_a_copied_or_moved_run_folder_resumes_its_own_last_checkpoint(one_epoch, tmp_path, how):
    import shutil

    folder = tmp_path / "run2"
    if how == "copy":
        shutil.copytree(one_epoch, folder)
    else:
        shutil.move(shutil.copytree(one_epoch, tmp_path / "run1"), folder)
    pipeline.train(
        compose_config([*BASE, "trainer.max_epochs=2", f"ckpt_path={folder}/checkpoints/last.ckpt"], output_dir=folder)
    )
    assert sorted(p.name for p in (folder / "checkpoints").iterdir()) == [
        "epoch_000.ckpt",
        "epoch_001.ckpt",
        "last.ckpt",
    ]
    state = last(folder)
    assert state["epoch"] == 1  # not left at epoch 0 beside a last-v1.ckpt
    callback = next(v for k, v in state["callbacks"].items() if "ModelCheckpoint" in k)
    paths = [callback["best_model_path"], callback["last_model_path"], *callback["best_k_models"]]
    assert all(p.startswith(str(folder / "checkpoints")) for p in paths), paths  # nothing points into the old folder


@pytest.mark.parametrize(
    "overrides, message",
    [
        (["data.seed=3"], r"data.seed: 0 -> 3.*resume_allow_changes=true"),
        (["data.val_fraction=0.2"], r"data.val_fraction: 0.1 -> 0.2"),
        (["data.limit_train=64"], r"data.limit_train: 96 -> 64"),
        (["optim=sgd"], r"other optimiser settings.*optim.optimizer: 'adam' -> 'sgd'"),
        (["optim.lr=0.1"], r"other optimiser settings.*optim.lr: 0.002 -> 0.1.*would be ignored"),
        (["optim.lr=0.1", "resume_allow_changes=true"], r"other optimiser settings.*optim.lr"),
        (["trainer.max_epochs=1"], r"trainer.max_epochs=1 leaves nothing to train.*already trained 1 epoch;.*> 1"),
        (["data=synthetic", "encoding=identity"], r"data.name: 'digits' -> 'synthetic'"),
    ],
    ids=[
        "data_seed",
        "val_fraction",
        "limit_train",
        "optimizer",
        "lr",
        "lr_allow_changes",
        "max_epochs_not_above",
        "other_data_set",
    ],
)
def test_resume_that_would_not_continue_the_run_is_refused(one_epoch, tmp_path, overrides, message):
    ckpt = one_epoch / "checkpoints" / "last.ckpt"
    cfg = compose_config([*BASE, "trainer.max_epochs=2", f"ckpt_path={ckpt}", *overrides], output_dir=tmp_path)
    with pytest.raises(InputFileError, match=message) as err:
        pipeline.train(cfg)
    if "max_epochs" not in message:
        assert f"{one_epoch}/.hydra/config.yaml" in str(err.value)  # the file that holds the checkpoint's settings
    assert not (tmp_path / "checkpoints").exists()


def test_stale_execution_keys_are_gone_and_new_ones_are_free_to_change():
    stored = {"snn": {"checkpoint_every": None, "memory_budget_mb": None, "hidden_sizes": [32]}}
    current = {"snn": {"checkpoint_every": 4, "memory_budget_mb": 64.0, "hidden_sizes": [32]}}
    assert hparam_changes(stored, current) == []
    assert not {"snn.checkpoint", "snn.neuron.fused"} & execution_only_settings()


def test_evaluate_and_export_refuse_to_overwrite_the_checkpoint(one_epoch, tmp_path):
    import shutil

    from brain_ai.interop.nir import export_file

    ckpt = tmp_path / "last.ckpt"
    shutil.copy(one_epoch / "checkpoints" / "last.ckpt", ckpt)
    original = ckpt.read_bytes()
    evaluate = compose_config([f"ckpt_path={ckpt}", f"output_json={ckpt}"], output_dir=tmp_path, config_name="evaluate")
    with pytest.raises(InputFileError, match=rf"output_json='{ckpt}' is the input file ckpt_path="):
        pipeline.evaluate(evaluate)
    with pytest.raises(InputFileError, match=rf"output='{tmp_path}/./last.ckpt' is the input file ckpt_path="):
        export_file(ckpt, f"{tmp_path}/./last.ckpt")
    assert ckpt.read_bytes() == original


def test_resume_into_a_new_folder_tests_the_best_checkpoint_where_it_is(one_epoch, tmp_path):
    ckpt = one_epoch / "checkpoints" / "last.ckpt"
    metrics = pipeline.train(
        compose_config([*BASE, "trainer.max_epochs=2", "test=true", f"ckpt_path={ckpt}"], output_dir=tmp_path)
    )
    assert "test/acc" in metrics
    assert (one_epoch / "checkpoints" / "epoch_000.ckpt").is_file()  # the first run's files are left alone
    assert (tmp_path / "checkpoints" / "last.ckpt").is_file() and (tmp_path / ".hydra" / "config.yaml").is_file()
