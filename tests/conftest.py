"""Shared fixtures of the framework tests: Hydra composition and one short training run.

``compose_train`` composes ``configs/`` with Hydra's compose API (the schemas registered first,
``GlobalHydra`` cleared before and after every test). ``TINY`` overrides make a run take a few
seconds on one CPU core; ``short_run`` trains once per session and is shared by the TensorBoard,
evaluate and checkpoint tests.
"""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Callable, List, Optional, Sequence

import pytest
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from omegaconf import DictConfig

from brain_ai.hydra_store import register_configs

REPO = Path(__file__).resolve().parents[1]
CONFIG_DIR = REPO / "configs"

#: digits (8x8 images, 10 classes): 96 training samples in 3 batches, 1 val and 2 test batches,
#: a 32-neuron hidden layer over 8 steps, no progress bar.
TINY: List[str] = [
    "data=digits",
    "data.limit_train=96",
    "data.batch_size=32",
    "snn.hidden_sizes=[32]",
    "encoding.num_steps=8",
    "trainer.max_epochs=1",
    "+trainer.limit_val_batches=1",
    "+trainer.limit_test_batches=2",
    "trainer.enable_progress_bar=false",
    "+trainer.enable_model_summary=false",
]


def compose_config(overrides: Sequence[str] = (), output_dir: Optional[Path] = None, config_name: str = "train") -> DictConfig:
    """Compose ``configs/<config_name>.yaml`` with ``overrides`` (outputs written under ``output_dir``)."""
    register_configs()
    extra = [f"paths.output_dir={output_dir}"] if output_dir is not None else []
    GlobalHydra.instance().clear()
    try:
        with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
            return compose(config_name, overrides=[*overrides, *extra], return_hydra_config=True)
    finally:
        GlobalHydra.instance().clear()


@pytest.fixture(autouse=True)
def clean_global_hydra():
    """No test leaks an initialised Hydra into the next one."""
    GlobalHydra.instance().clear()
    yield
    GlobalHydra.instance().clear()


@pytest.fixture
def compose_train() -> Callable[..., DictConfig]:
    return compose_config


@pytest.fixture(scope="session")
def short_run(tmp_path_factory) -> SimpleNamespace:
    """One 2-epoch run of TINY with probes and health checks every step (trained once per session).

    Attributes: ``cfg``, ``metrics`` (what ``pipeline.train`` returned), ``output_dir``.
    """
    from brain_ai import pipeline

    out = tmp_path_factory.mktemp("short_run")
    overrides = [
        *TINY, "trainer.max_epochs=2", "trainer.log_every_n_steps=1",
        "callbacks.probes.every_n_steps=1", "callbacks.health.every_n_steps=1",
    ]
    cfg = compose_config(overrides, output_dir=out)
    metrics = pipeline.train(cfg)
    return SimpleNamespace(cfg=cfg, metrics=metrics, output_dir=out)
