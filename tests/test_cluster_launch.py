"""Cluster launch through hydra-submitit-launcher: the launcher presets in configs/hydra/launcher/.

The local preset runs a real 2-job sweep end to end (submitit's local executor: each job is its own
process, started and collected by submitit); the SLURM presets are composed and checked, since no
SLURM cluster is reachable from a test.
"""

from __future__ import annotations

import pytest
import yaml
from framework_helpers import TINY_CLI, compose_config, run_train
from omegaconf import OmegaConf

pytest.importorskip("hydra_plugins.hydra_submitit_launcher", reason="needs the cluster extra")

SLURM_LAUNCHER = "hydra_plugins.hydra_submitit_launcher.submitit_launcher.SlurmLauncher"


@pytest.mark.slow
def test_local_submitit_sweep_runs_two_jobs(tmp_path):
    run_train("hydra/launcher=local", "encoding=rate_bernoulli,ttfs", *TINY_CLI, f"hydra.sweep.dir={tmp_path}")
    jobs = sorted(p for p in tmp_path.iterdir() if p.is_dir() and not p.name.startswith("."))
    assert [p.name for p in jobs] == ["0", "1"]
    encoders = []
    for job in jobs:
        config = yaml.safe_load((job / ".hydra" / "config.yaml").read_text())
        encoders.append(config["encoding"]["type"])
        assert (job / "checkpoints" / "last.ckpt").is_file()
    assert encoders == ["rate_bernoulli", "ttfs"]
    # submitit, not Hydra's basic launcher, ran them: one folder per job with its result pickle
    results = sorted((tmp_path / ".submitit").glob("*/*_result.pkl"))
    assert len(results) == 2


def test_slurm_preset_exposes_the_usual_settings():
    launcher = compose_config(
        [
            "hydra/launcher=slurm",
            "hydra.launcher.partition=gpu",
            "hydra.launcher.timeout_min=240",
            "hydra.launcher.array_parallelism=4",
        ]
    ).hydra.launcher
    assert launcher._target_ == SLURM_LAUNCHER
    assert (launcher.partition, launcher.timeout_min, launcher.array_parallelism) == ("gpu", 240, 4)
    assert (launcher.gpus_per_node, launcher.tasks_per_node, launcher.nodes) == (1, 1, 1)


@pytest.mark.parametrize("nodes_override, nodes", [([], 1), (["+trainer.num_nodes=3"], 3)])
def test_slurm_ddp_preset_sizes_the_allocation_from_the_trainer(nodes_override, nodes):
    cfg = compose_config(["hydra/launcher=slurm_ddp", "trainer=ddp", "trainer.devices=4", *nodes_override])
    launcher = OmegaConf.to_container(cfg.hydra.launcher, resolve=False)
    resolved = {
        key: OmegaConf.select(cfg, f"hydra.launcher.{key}") for key in ("gpus_per_node", "tasks_per_node", "nodes")
    }
    assert launcher["_target_"] == SLURM_LAUNCHER
    # one process per GPU on every node: what Lightning's SLURMEnvironment checks against devices x num_nodes
    assert resolved == {"gpus_per_node": 4, "tasks_per_node": 4, "nodes": nodes}
