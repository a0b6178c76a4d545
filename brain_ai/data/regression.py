"""A generated regression task: smooth targets in [0, 1] from static inputs in [0, 1].

Inputs are uniform, ``x ~ U(0, 1)^I``. Each of the ``D`` targets is a squashed random projection
``y_d = 0.1 + 0.8 * sigmoid(sum_i (x_i - 0.5) W_id) + u``: ``W_d`` is a random direction of
length ``sqrt(12) * LOGIT_STD``, so the projection has standard deviation exactly ``LOGIT_STD``
(``Var(x_i) = 1/12``) whatever ``I``, and every target varies about as much. The noise is
``u ~ U(-NOISE, NOISE)``, so every target lies in [0.1 - NOISE, 0.9 + NOISE], inside [0, 1]
where a population decoder's estimate lives. Like ``synthetic``, the task is generated from
the fixed :data:`~brain_ai.data.synthetic.TASK_SEED` (``data.seed`` only drives the validation
split and shuffling); the splits are plain seeded random splits (one stratum).
"""

from __future__ import annotations

from typing import Tuple

import numpy as np

from brain_ai.config import DataConfig, Task
from brain_ai.data.base import DatasetInfo, DataSource, LoadedData, split_in_memory
from brain_ai.data.synthetic import TASK_SEED

LOGIT_STD = 1.5  # typical standard deviation of the projection fed to the sigmoid
TARGET_LOW, TARGET_HIGH = 0.1, 0.9  # the sigmoid is scaled into this interval
NOISE = 0.02  # half-width of the uniform target noise


def make_regression_task(
    num_samples: int, num_inputs: int, num_targets: int, seed: int = TASK_SEED
) -> Tuple[np.ndarray, np.ndarray]:
    """Generate the task: ``x (N, num_inputs)`` float32 in [0, 1) and ``y (N, num_targets)`` float32.

    Deterministic for a given ``seed``; the projection depends only on ``seed``, ``num_inputs``
    and ``num_targets``.
    """
    rng = np.random.default_rng(seed)
    directions = rng.normal(size=(num_inputs, num_targets))  # (I, D)
    projection = directions / np.linalg.norm(directions, axis=0) * (np.sqrt(12.0) * LOGIT_STD)  # (I, D)
    x = rng.random((num_samples, num_inputs), dtype=np.float32)  # (N, I)
    logits = (x - 0.5) @ projection  # (N, D)
    noise = rng.uniform(-NOISE, NOISE, size=logits.shape)  # (N, D)
    y = TARGET_LOW + (TARGET_HIGH - TARGET_LOW) / (1.0 + np.exp(-logits)) + noise
    return x, y.astype(np.float32)


class SyntheticRegression(DataSource):
    """``x (data.num_inputs,)`` static values in [0, 1], ``y (data.num_targets,)`` float targets;
    ``data.num_samples`` samples with a fixed random 80/20 train/test split."""

    test_fraction = 0.2

    def info(self, cfg: DataConfig) -> DatasetInfo:
        return DatasetInfo(
            cfg.num_targets, (cfg.num_inputs,), time_steps=None, is_event_data=False, task=Task.regression
        )

    def load(self, cfg: DataConfig) -> LoadedData:
        x, y = make_regression_task(cfg.num_samples, cfg.num_inputs, cfg.num_targets)
        return split_in_memory(x, y, 1.0, self.test_fraction, Task.regression)
