"""A generated spiking classification task: class-specific spatio-temporal rate templates.

Every class owns a random quarter of the input channels; each owned channel fires a burst
around a class-specific time (a Gaussian rate bump of width ``T / 10`` steps, peak 0.8 spikes
per step) on top of background noise (0.02 spikes per step). A sample draws Bernoulli spikes
from its class template shifted in time by a random jitter of up to ``T / 10`` steps. Spike
counts alone separate the classes (different active channels), timing adds a second cue -- a
small SNN learns it in a few epochs. The task is generated from a fixed seed, so it is the same
for every ``data.seed`` (which only drives the validation split and shuffling).
"""

from __future__ import annotations

from typing import Tuple

import numpy as np

from brain_ai.config import DataConfig
from brain_ai.data.base import DatasetInfo, DataSource, LoadedData, split_in_memory

#: Seed the task is generated from (fixed: the same task for every data.seed).
TASK_SEED = 0
ACTIVE_FRACTION = 0.25  # share of the input channels each class drives
PEAK_RATE = 0.8  # spikes per step at the centre of a burst
BACKGROUND_RATE = 0.02  # spikes per step everywhere


def make_spike_templates_task(
    num_samples: int, num_classes: int, num_inputs: int, time_steps: int, seed: int = TASK_SEED
) -> Tuple[np.ndarray, np.ndarray]:
    """Generate the task: ``spikes (N, T, num_inputs)`` uint8 0/1 and ``labels (N,)`` int64.

    Labels are balanced (``i % num_classes``, shuffled). Deterministic for a given ``seed``.
    """
    rng = np.random.default_rng(seed)
    width = max(1.0, time_steps / 10)  # burst width and max jitter, in steps
    active = rng.random((num_classes, num_inputs)) < ACTIVE_FRACTION  # (C, I)
    burst_time = rng.uniform(0, time_steps, size=(num_classes, num_inputs)).astype(np.float32)  # (C, I)
    labels = rng.permutation(np.arange(num_samples) % num_classes).astype(np.int64)  # (N,)
    jitter = rng.integers(-int(width), int(width) + 1, size=(num_samples, 1)).astype(np.float32)  # (N, 1)
    centre = burst_time[labels] + jitter  # (N, I)
    t = np.arange(time_steps, dtype=np.float32)[None, :, None]  # (1, T, 1)
    bump = np.exp(-0.5 * ((t - centre[:, None, :]) / width) ** 2)  # (N, T, I)
    rate = BACKGROUND_RATE + PEAK_RATE * active[labels][:, None, :] * bump  # (N, T, I)
    spikes = (rng.random(rate.shape, dtype=np.float32) < rate).astype(np.uint8)  # (N, T, I)
    return spikes, labels


class SyntheticSpikes(DataSource):
    """``x (T = data.n_time_bins, data.num_inputs)`` binary spikes, ``data.num_classes`` classes,
    ``data.num_samples`` samples with a fixed stratified 80/20 train/test split."""

    test_fraction = 0.2

    def info(self, cfg: DataConfig) -> DatasetInfo:
        return DatasetInfo(cfg.num_classes, (cfg.num_inputs,), cfg.n_time_bins, is_event_data=True)

    def load(self, cfg: DataConfig) -> LoadedData:
        spikes, labels = make_spike_templates_task(cfg.num_samples, cfg.num_classes, cfg.num_inputs, cfg.n_time_bins)
        return split_in_memory(spikes, labels, 1.0, self.test_fraction)
