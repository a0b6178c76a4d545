"""LR schedules of :class:`brain_ai.training.module.SNNLitModule`, and their re-planning on resume.

A schedule with a horizon (``cosine``: ``trainer.max_epochs`` epochs; ``onecycle``: the run's
total optimiser steps) is planned when training starts. Resuming a checkpoint restores the old
plan; when the run was given another horizon (``trainer.max_epochs=<more>``), :func:`replan`
moves the restored scheduler onto the new horizon: the learning rate continues from the value
the new plan has at the current position (cosine: ``eta_min + (base - eta_min) (1 + cos(pi e/N)) / 2``
after ``e`` of ``N`` epochs), instead of staying at the old plan's end (0 for cosine) or crashing
(onecycle's "Tried to step ... times").
"""

from __future__ import annotations

import logging
import math
import warnings
from typing import Any, Optional

import torch

from brain_ai.config import OptimConfig, SchedulerName

log = logging.getLogger(__name__)


def build_scheduler(optimizer: torch.optim.Optimizer, cfg: OptimConfig, horizon: int) -> Optional[Any]:
    """The scheduler of ``cfg.scheduler`` (``None`` for ``none``); ``horizon`` in epochs (cosine) or steps (onecycle)."""
    if cfg.scheduler is SchedulerName.cosine:
        return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=horizon)
    if cfg.scheduler is SchedulerName.step:
        return torch.optim.lr_scheduler.StepLR(optimizer, step_size=cfg.step_size, gamma=cfg.step_gamma)
    if cfg.scheduler is SchedulerName.onecycle:
        return torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=cfg.lr, total_steps=horizon)
    return None


def horizon(trainer: Any, cfg: OptimConfig) -> int:
    """The planned length of ``cfg.scheduler`` for this trainer: epochs (cosine) or optimiser steps."""
    if trainer is None:
        return 1
    if cfg.scheduler is SchedulerName.onecycle:
        return max(1, int(trainer.estimated_stepping_batches))
    return max(1, int(trainer.max_epochs or 1))


def replan(scheduler: Any, cfg: OptimConfig, new_horizon: int) -> bool:
    """Move a restored scheduler onto ``new_horizon``; returns whether anything changed."""
    if isinstance(scheduler, torch.optim.lr_scheduler.CosineAnnealingLR):
        if scheduler.T_max == new_horizon:
            return False
        old, scheduler.T_max = scheduler.T_max, new_horizon
        e = scheduler.last_epoch
        lrs = [
            scheduler.eta_min + (base - scheduler.eta_min) * (1 + math.cos(math.pi * e / new_horizon)) / 2
            for base in scheduler.base_lrs
        ]
    elif isinstance(scheduler, torch.optim.lr_scheduler.OneCycleLR):
        if scheduler.total_steps == new_horizon:
            return False
        plan = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=cfg.lr, momentum=0.9)
        fresh = build_scheduler(plan, cfg, new_horizon)
        old, scheduler.total_steps = scheduler.total_steps, new_horizon
        scheduler._schedule_phases = fresh._schedule_phases
        with warnings.catch_warnings():  # get_lr outside step() warns; here it is the point
            warnings.simplefilter("ignore")
            lrs = scheduler.get_lr()  # closed form at last_epoch (also sets momentum)
    else:
        return False
    for group, lr in zip(scheduler.optimizer.param_groups, lrs):
        group["lr"] = lr
    scheduler._last_lr = list(lrs)
    log.info(
        "resume: %s schedule re-planned from %d to %d (%s); learning rate now %s",
        cfg.scheduler.name,
        old,
        new_horizon,
        "epochs" if cfg.scheduler is SchedulerName.cosine else "steps",
        lrs,
    )
    return True
