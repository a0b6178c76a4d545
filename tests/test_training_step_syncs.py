"""A training step reads nothing back from the device for its own bookkeeping, and the probe
callbacks share one extra forward per probe step.

Host syncs are counted on CPU by patching the tensor methods that read a value back
(``item``, ``__float__``, ``__bool__``, ``__int__``, ``tolist``), on GPU (when there is one) with
``torch.cuda.set_sync_debug_mode("warn")``. The only syncs left in a step between two reads are
the input checks (:data:`INPUT_CHECKS`: finite encoder and network inputs, class targets in range),
one each per batch.
"""

from __future__ import annotations

import collections
import os
import sys
import warnings
from typing import Counter, Dict, List

import lightning as L
import pytest
import torch
from framework_helpers import TINY, compose_config

import brain_ai
from brain_ai.app import pipeline
from brain_ai.training.callbacks import HealthMonitor, ProbeLogger

#: the functions whose host sync a training step keeps, one call each per batch: bad input gets a
#: clear error (the encoder's and the network's finite-input checks, the loss's class-target range)
INPUT_CHECKS = {"check_finite": 2, "_class_targets": 1}
#: tensor methods that copy a value to the host
READS = ("item", "__float__", "__bool__", "__int__", "tolist")
#: the package's own source folder: a read counts when the calling frame's file lies under it (a
#: virtual environment whose path happens to contain "brain_ai" is not brain_ai code)
PACKAGE_DIR = os.path.dirname(os.path.abspath(brain_ai.__file__)) + os.sep
#: training batches of the counted run; the read steps (the first, the last) are left out of the count
STEPS = 6


def tiny_run(*callbacks: L.Callback, steps: int = STEPS, logger: object = False):
    torch.manual_seed(0)
    model, dm = pipeline.build_model(
        compose_config([*TINY, "data.batch_size=16", "snn.hidden_sizes=[16]", "encoding.num_steps=4"])
    )
    trainer = L.Trainer(
        accelerator="auto",
        devices=1,
        logger=logger,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        max_epochs=1,
        limit_train_batches=steps,
        limit_val_batches=0,
        callbacks=list(callbacks),
    )
    return model, dm, trainer


def quiet_callbacks() -> List[L.Callback]:
    """The probe and health callbacks with nothing due between the first and the last step."""
    return [
        ProbeLogger(every_n_steps=1000),
        HealthMonitor(every_n_steps=1000, warmup_steps=0, dead_steps=0, stuck_epochs=0),
    ]


class HostReads(L.Callback):
    """Counts, per training step, the host reads made by brain_ai code (the calling frame's function)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.per_step: Dict[int, Counter[str]] = collections.defaultdict(collections.Counter)
        self.step = None
        for name in READS:
            monkeypatch.setattr(torch.Tensor, name, self._counted(getattr(torch.Tensor, name)))

    def _counted(self, read):
        def counted(tensor, *args, **kwargs):
            caller = sys._getframe(1)
            # batch_generator draws a seed from the module's CPU generator: a host tensor, no sync
            if (
                self.step is not None
                and os.path.abspath(caller.f_code.co_filename).startswith(PACKAGE_DIR)
                and caller.f_code.co_name != "batch_generator"
            ):
                self.per_step[self.step][caller.f_code.co_name] += 1
            return read(tensor, *args, **kwargs)

        return counted

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        self.step = batch_idx

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        self.step = None


def test_a_training_step_reads_back_only_its_input_checks(monkeypatch):
    reads = HostReads(monkeypatch)
    model, dm, trainer = tiny_run(*quiet_callbacks(), reads)
    model.check_finite_every_n_steps = 1000
    trainer.fit(model, datamodule=dm)
    assert sorted(reads.per_step) == list(range(STEPS))
    for step in range(1, STEPS - 1):
        assert dict(reads.per_step[step]) == INPUT_CHECKS, f"step {step}"
    # the last batch reads the loss check (module) and the weights and divergence checks (health) once each
    last = reads.per_step[STEPS - 1]
    assert last["read"] == 3 and sum(last.values()) == sum(INPUT_CHECKS.values()) + 3


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_a_training_step_on_gpu_syncs_only_for_its_input_checks():
    per_step: Dict[int, int] = {}

    class SyncWarnings(L.Callback):
        def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
            self.caught = warnings.catch_warnings(record=True)
            self.records = self.caught.__enter__()
            warnings.simplefilter("always")
            torch.cuda.set_sync_debug_mode("warn")

        def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
            torch.cuda.set_sync_debug_mode("default")
            self.caught.__exit__(None, None, None)
            per_step[batch_idx] = sum("synchronizing" in str(w.message) for w in self.records)

    model, dm, trainer = tiny_run(*quiet_callbacks(), SyncWarnings())
    model.check_finite_every_n_steps = 1000
    try:
        trainer.fit(model, datamodule=dm)
    finally:
        torch.cuda.set_sync_debug_mode("default")
    for step in range(1, STEPS - 1):
        assert per_step[step] <= sum(INPUT_CHECKS.values()), f"step {step}: {per_step[step]} syncs"


def test_probe_logger_and_health_monitor_share_one_extra_forward(tmp_path):
    from lightning.pytorch.loggers import CSVLogger

    callbacks = [
        ProbeLogger(every_n_steps=1),
        HealthMonitor(every_n_steps=1, warmup_steps=0, dead_steps=1, stuck_epochs=1),
    ]
    model, dm, trainer = tiny_run(*callbacks, steps=1, logger=CSVLogger(tmp_path))
    forwards = []
    model.net.register_forward_hook(lambda module, args, out: forwards.append(module.training))
    trainer.fit(model, datamodule=dm)
    assert forwards == [True, False]  # the training forward, then one probe forward in eval mode
