"""The Lightning callback that reports a sweep trial's validation metric to Optuna and prunes the trial."""

from __future__ import annotations

from typing import Any

import lightning as L


class PruneTrial(L.Callback):
    """After every validation (not the sanity check) report ``metric`` to the Optuna ``trial`` at step
    = epoch, and stop training with ``optuna.TrialPruned`` when the study's pruner says so.

    The equivalent of optuna-integration's ``PyTorchLightningPruningCallback`` without that package.

    Args:
        trial: the ``optuna.Trial`` being run.
        metric: the validation metric that the trial optimizes (``val/acc``).
    """

    def __init__(self, trial: Any, metric: str) -> None:
        self.trial = trial
        self.metric = metric

    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        import optuna

        value = trainer.callback_metrics.get(self.metric)
        if trainer.sanity_checking or value is None:
            return
        epoch = trainer.current_epoch
        self.trial.report(float(value), step=epoch)
        if self.trial.should_prune():
            raise optuna.TrialPruned(f"pruned after epoch {epoch}: {self.metric}={float(value):.4g}")
