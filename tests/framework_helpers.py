"""Helpers of the framework tests (imported by the test modules; fixtures live in conftest.py).

``compose_config`` composes ``configs/`` with Hydra's compose API, the schemas registered first
and ``GlobalHydra`` cleared around it. ``TINY`` overrides make a run take a few seconds on one CPU
core. (Kept out of conftest.py: tests/data has its own conftest, so ``from conftest import`` would
be ambiguous.)
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import List, Optional, Sequence

import torch
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from omegaconf import DictConfig

from brain_ai.config.hydra_store import register_configs

REPO = Path(__file__).resolve().parents[1]
CONFIG_DIR = REPO / "configs"

#: digits (8x8 images, 10 classes): 96 training samples in 3 batches, 1 val and 2 test batches,
#: a 32-neuron hidden layer over 8 steps, step metrics logged every step, no progress bar.
TINY: List[str] = [
    "data=digits",
    "data.limit_train=96",
    "data.batch_size=32",
    "snn.hidden_sizes=[32]",
    "encoding.num_steps=8",
    "trainer.max_epochs=1",
    "trainer.log_every_n_steps=1",
    "+trainer.limit_val_batches=1",
    "+trainer.limit_test_batches=2",
    "trainer.enable_progress_bar=false",
    "+trainer.enable_model_summary=false",
]

#: the command-line form of a tiny run for ``train.py -m`` sweeps (digits, 2 training batches, 1 epoch)
TINY_CLI: List[str] = [
    "data=digits",
    "data.limit_train=64",
    "data.batch_size=32",
    "snn.hidden_sizes=[32]",
    "trainer.max_epochs=1",
    "+trainer.limit_train_batches=2",
    "+trainer.limit_val_batches=1",
    "+trainer.limit_test_batches=1",
    "trainer.enable_progress_bar=false",
]


def run_train(*args: str) -> subprocess.CompletedProcess:
    """``python train.py -m <args>`` in the repository; asserts it succeeded."""
    proc = subprocess.run(
        [sys.executable, "train.py", "-m", *args], cwd=REPO, capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc


def compose_config(
    overrides: Sequence[str] = (), output_dir: Optional[Path] = None, config_name: str = "train"
) -> DictConfig:
    """Compose ``configs/<config_name>.yaml`` with ``overrides`` (outputs written under ``output_dir``)."""
    register_configs()
    extra = [f"paths.output_dir={output_dir}"] if output_dir is not None else []
    GlobalHydra.instance().clear()
    try:
        with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
            return compose(config_name, overrides=[*overrides, *extra], return_hydra_config=True)
    finally:
        GlobalHydra.instance().clear()


def dyadic_weights_(net) -> None:
    """Set a network's Linear/Conv weights and biases to multiples of 1/64 in [-0.375, 0.625), in place.

    With 0/1 spike inputs every matmul/conv sum is then exact in fp32 and bf16, so a result cannot
    depend on how a time split changes the GEMM blocking (M = B*t rows); neuron dynamics are untouched.
    """
    import torch

    with torch.no_grad():
        for name, p in net.named_parameters():
            if name.startswith(("linears", "blocks")):
                p.copy_(torch.randint(-24, 40, p.shape).float() / 64)


def saved_bytes(fn) -> int:
    """Bytes of the tensors autograd saves for backward while ``fn()`` runs."""
    total = [0]

    def pack(t):
        total[0] += t.numel() * t.element_size()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        fn()
    return total[0]


def untrained_checkpoint(path: Path, overrides: Sequence[str] = (), data: Optional[dict] = None) -> Path:
    """Write a brain_ai checkpoint of the untrained ``TINY`` model (with ``overrides``) to ``path``
    (weights and hyper-parameters, as ``load_from_checkpoint`` reads them); ``data`` updates its data settings."""
    import lightning

    from brain_ai.app import pipeline

    model, _ = pipeline.build_model(compose_config([*TINY, *overrides]))
    hparams = dict(model.hparams)
    hparams["data"] = {**hparams["data"], **(data or {})}
    torch.save(
        {
            "state_dict": model.state_dict(),
            "hyper_parameters": hparams,
            "pytorch-lightning_version": lightning.__version__,
        },
        path,
    )
    return path
