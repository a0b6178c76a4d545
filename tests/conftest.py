"""Shared fixtures of the framework tests (helpers in framework_helpers.py).

``GlobalHydra`` is cleared before and after every test; ``short_run`` trains once per session and
is shared by the TensorBoard, evaluate and train-output tests.
"""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from framework_helpers import TINY, compose_config
from hydra.core.global_hydra import GlobalHydra


def pytest_collection_modifyitems(config, items):  # noqa: ANN001
    """Tests marked ``gpu`` need CUDA: skipped (with the reason) where there is none."""
    import torch

    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA GPU (torch.cuda.is_available() is False)")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(autouse=True)
def clean_global_hydra():
    """No test leaks an initialised Hydra into the next one."""
    GlobalHydra.instance().clear()
    yield
    GlobalHydra.instance().clear()


@pytest.fixture(scope="session")
def short_run(tmp_path_factory) -> SimpleNamespace:
    """One 2-epoch run of TINY with probes and health checks every step (trained once per session).

    Attributes: ``cfg``, ``metrics`` (what ``pipeline.train`` returned), ``output_dir``.
    """
    from brain_ai.app import pipeline

    out = tmp_path_factory.mktemp("short_run")
    overrides = [*TINY, "trainer.max_epochs=2", "callbacks.probes.every_n_steps=1", "callbacks.health.every_n_steps=1"]
    cfg = compose_config(overrides, output_dir=out)
    metrics = pipeline.train(cfg)
    return SimpleNamespace(cfg=cfg, metrics=metrics, output_dir=out)
