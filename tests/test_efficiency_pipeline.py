"""Where users see the efficiency estimate: TensorBoard at validation, the HParams metrics and
evaluate.py's table / JSON report (on the session's short run)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from framework_helpers import REPO, compose_config
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from brain_ai.app import pipeline
from brain_ai.config import DataConfig, from_dict
from brain_ai.data import build_datamodule
from brain_ai.data.ragged import split_batch
from brain_ai.metrics.efficiency import EfficiencyMeter
from brain_ai.training.dashboards import HPARAM_EFFICIENCY
from brain_ai.training.module import SNNLitModule

EVAL = ["+trainer.limit_test_batches=2", "trainer.enable_progress_bar=false"]


def _events(folder: Path) -> EventAccumulator:
    ea = EventAccumulator(str(folder), size_guidance={"scalars": 0})
    ea.Reload()
    return ea


def test_validation_logs_the_efficiency_of_its_own_forwards(short_run):
    """efficiency/<layer>/synops and efficiency/total/* once per validation epoch: the counts of
    that epoch's weights on the validation batch."""
    events = _events(short_run.output_dir / "tensorboard")
    tags = set(events.Tags()["scalars"])
    totals = {
        "synops",
        "dense_ops",
        "effective_acs",
        "effective_macs",
        "activation_sparsity",
        "connection_sparsity",
        "parameter_count",
        "footprint_bytes",
        "membrane_updates",
        "energy_pj",
        "dense_ann_energy_pj",
        "energy_ratio",
    }
    expected = {"efficiency/layer0/synops", "efficiency/layer1/synops"} | {f"efficiency/total/{k}" for k in totals}
    assert expected <= tags, expected - tags
    assert len(events.Scalars("efficiency/total/synops")) == 2  # two validation epochs, no sanity-check entry

    (ckpt,) = (short_run.output_dir / "checkpoints").glob("epoch_*.ckpt")
    epoch = torch.load(ckpt, map_location="cpu", weights_only=True)["epoch"]
    model = SNNLitModule.load_from_checkpoint(str(ckpt), map_location="cpu", weights_only=True)
    dm = build_datamodule(from_dict(DataConfig, model.hparams.data))
    dm.setup("fit")
    x, _, mask = split_batch(next(iter(dm.val_dataloader())))  # limit_val_batches=1
    meter = EfficiencyMeter(model.net)
    meter.update(model.probe(x, mask), mask)
    expected_total = meter.compute().total
    for key in ("synops", "energy_ratio", "activation_sparsity", "membrane_updates"):
        logged = events.Scalars(f"efficiency/total/{key}")[epoch].value  # the validation of the checkpoint's epoch
        assert logged == pytest.approx(expected_total[key], rel=1e-5), key


def test_hparams_metrics_include_total_synops_and_energy_ratio(short_run):
    """The HParams metric columns name the efficiency totals, which the run logs in its own folder."""
    from tensorboard.backend.event_processing.event_file_loader import EventFileLoader
    from tensorboard.plugins.hparams import metadata

    folder = short_run.output_dir / "tensorboard"
    (content,) = [
        value.metadata.plugin_data.content
        for path in folder.glob("events.out.tfevents.*")
        for event in EventFileLoader(str(path)).Load()
        for value in event.summary.value
        if value.tag == metadata.EXPERIMENT_TAG
    ]
    columns = {info.name.tag for info in metadata.parse_experiment_plugin_data(content).metric_infos}
    assert set(HPARAM_EFFICIENCY) <= columns and "val/acc" in columns
    assert set(HPARAM_EFFICIENCY) <= set(_events(folder).Tags()["scalars"])


def test_evaluate_prints_and_saves_the_efficiency_estimate(short_run, tmp_path, capsys):
    (ckpt,) = (short_run.output_dir / "checkpoints").glob("epoch_*.ckpt")
    overrides = [f"ckpt_path={ckpt}", f"output_json={tmp_path / 'r.json'}", *EVAL]
    payload = pipeline.evaluate(compose_config(overrides, output_dir=tmp_path, config_name="evaluate"))
    efficiency = payload["efficiency"]
    assert set(efficiency["layers"]) == {"layer0", "layer1"} and (efficiency["e_ac_pj"], efficiency["e_mac_pj"]) == (
        0.9,
        4.6,
    )
    total = efficiency["total"]
    assert 0 < total["energy_ratio"] < 1 and total["effective_macs"] == 0  # rate-coded input: accumulates only
    assert "estimate" in efficiency["note"]
    printed = capsys.readouterr().out
    assert "efficiency per sample" in printed and "energy estimate" in printed and "dense ANN" in printed

    cheap_ac = pipeline.evaluate(
        compose_config([*overrides, "efficiency.e_ac_pj=0.1"], output_dir=tmp_path, config_name="evaluate")
    )
    assert cheap_ac["efficiency"]["total"]["energy_pj"] == pytest.approx(0.1 * total["effective_acs"])


def _table_script():
    import importlib.util

    spec = importlib.util.spec_from_file_location("efficiency_table", REPO / "scripts" / "efficiency_table.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_table_script_writes_between_the_readme_markers(short_run, tmp_path, capsys):
    script = _table_script()
    readme = tmp_path / "README.md"
    readme.write_text(f"# title\n\n{script.START}\nold table\n{script.END}\n\nafter\n")
    assert (
        script.main(["--row", f"data=digits={short_run.output_dir}", "--readme", str(readme), "--max-batches", "1"])
        == 0
    )
    text = readme.read_text()
    assert "old table" not in text and text.startswith("# title") and text.endswith("after\n")
    (row,) = [line for line in text.splitlines() if line.startswith("| `data=digits`")]
    cells = [c.strip() for c in row.strip("|").split("|")]
    assert cells[1].endswith("%") and cells[4].endswith("nJ") and 0 < float(cells[6]) < 1

    readme.write_text("no markers\n")
    with pytest.raises(
        SystemExit, match="no <!-- efficiency-table:start --> ... <!-- efficiency-table:end --> markers"
    ):
        script.main(["--row", f"x={short_run.output_dir}", "--readme", str(readme), "--max-batches", "1"])


def test_table_script_update_replaces_only_the_named_rows():
    script = _table_script()
    old = "\n".join([script.HEADER, "| `a` | 1 % |", "| `b` | 2 % |", "| `c` | 3 % |"])
    assert script.updated_rows(old, ["| `b` | 20 % |", "| `d` | 4 % |"]) == [
        "| `a` | 1 % |",
        "| `b` | 20 % |",
        "| `c` | 3 % |",
        "| `d` | 4 % |",
    ]
