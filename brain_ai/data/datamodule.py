"""The LightningDataModule of brain_ai and the registry of data sets (``DatasetName`` -> source)."""

from __future__ import annotations

from pathlib import Path
from typing import Dict, List, Optional, Tuple, Union

import numpy as np
import torch
from lightning.pytorch import LightningDataModule
from torch import nn
from torch.utils.data import DataLoader, Dataset, Sampler, Subset

from brain_ai.config import ConfigError, DataConfig, DatasetName, Task
from brain_ai.data.base import DatasetInfo, DataSource, split_counts, stratified_order
from brain_ai.data.events import DVSGestureEvents, NMNISTEvents, SHDEvents
from brain_ai.data.ragged import pad_collate
from brain_ai.data.regression import SyntheticRegression
from brain_ai.data.sequential import SequentialImages
from brain_ai.data.static import Digits, Mnist5k, TorchvisionImages
from brain_ai.data.synthetic import SyntheticSpikes
from brain_ai.errors import InputFileError

#: The 28 x 28 image sets (also read as sequences by ``smnist``, whose data.source names one).
_IMAGES: Dict[DatasetName, DataSource] = {
    DatasetName.mnist5k: Mnist5k(),
    DatasetName.mnist: TorchvisionImages("MNIST"),
    DatasetName.fashion_mnist: TorchvisionImages("FashionMNIST"),
}

#: Every data set, by name. Adding one is a DataSource subclass + a line here (+ a DatasetName).
DATASETS: Dict[DatasetName, DataSource] = {
    **_IMAGES,
    DatasetName.digits: Digits(),
    DatasetName.smnist: SequentialImages(_IMAGES),
    DatasetName.nmnist: NMNISTEvents(),
    DatasetName.shd: SHDEvents(),
    DatasetName.dvsgesture: DVSGestureEvents(),
    DatasetName.synthetic: SyntheticSpikes(),
    DatasetName.synthetic_regression: SyntheticRegression(),
}


def train_val_indices(targets: np.ndarray, cfg: DataConfig) -> Tuple[np.ndarray, np.ndarray]:
    """Split the training set into ``(train_idx, val_idx)``, stratified and seeded by ``cfg.seed``.

    ``cfg.val_fraction`` of the samples go to validation; ``cfg.limit_train`` then keeps a
    class-balanced subset of that many training samples. ``train_idx`` is sorted (the sampler
    shuffles it); ``val_idx`` keeps the class-interleaved order, so any prefix of the unshuffled
    val loader (``trainer.limit_val_batches``) is class-balanced.
    """
    order = stratified_order(targets, cfg.seed)
    n_train, n_val = split_counts(len(order), cfg.val_fraction, "data.val_fraction")
    train_idx = order[n_val:]  # still class-interleaved, so any prefix is balanced
    if cfg.limit_train is not None:
        if cfg.limit_train > n_train:
            raise ConfigError(
                f"data.limit_train={cfg.limit_train} exceeds the {n_train} training samples of "
                f"data.name={cfg.name.name} (after data.val_fraction={cfg.val_fraction}); allowed: 1..{n_train} or null"
            )
        train_idx = train_idx[: cfg.limit_train]
    return np.sort(train_idx), order[:n_val]


class EpochShuffleSampler(Sampler[int]):
    """A random order that depends only on ``(seed, epoch)``.

    Lightning calls ``set_epoch`` at the start of every epoch, so a run resumed from an epoch
    checkpoint sees exactly the batches an uninterrupted run would have seen.
    """

    def __init__(self, num_samples: int, seed: int) -> None:
        self.num_samples = num_samples
        self.seed = seed
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return self.num_samples

    def __iter__(self):
        generator = torch.Generator().manual_seed(self.seed * 1_000_003 + self.epoch)
        return iter(torch.randperm(self.num_samples, generator=generator).tolist())


class BrainDataModule(LightningDataModule):
    """Train / val / test loaders of one registered data set.

    Known right after construction (no file access): ``task`` (a :class:`~brain_ai.config.Task`),
    ``num_outputs`` (classes, or regressed values ``D`` per sample),
    ``sample_shape`` (feature shape of one step), ``time_steps`` (``T``, or ``None`` for static
    data), ``is_event_data``, ``is_value_sequence``. Batches are ``(x float32, y)``: static ``x (B, C, H, W)`` (or
    ``(B, num_inputs)``) in [0, 1]; event and synthetic ``x (B, T, *sample_shape)`` binary spikes;
    smnist ``x (B, T, *sample_shape)`` real-valued sequences in [0, 1];
    ``y (B,)`` int64 class indices, or ``(B, D)`` float32 for regression. ``ragged`` data (event
    recordings cut by time, ``data.bin_width_us``) gives ``(x, y, mask (B, T) bool)``, padded at
    the end to the batch's longest sample (:func:`~brain_ai.data.ragged.pad_collate`). Only the train loader
    shuffles, in an order fixed by ``data.seed`` and the epoch (:class:`EpochShuffleSampler`).
    """

    def __init__(self, cfg: DataConfig, source: DataSource):
        super().__init__()
        self.cfg = cfg
        self.source = source
        info = source.info(cfg)
        self.task: Task = info.task
        self.num_outputs: int = info.num_outputs
        self.sample_shape: Tuple[int, ...] = tuple(info.sample_shape)
        self.time_steps: Optional[int] = info.time_steps
        self.is_event_data: bool = info.is_event_data
        self.is_value_sequence: bool = info.is_value_sequence
        self.ragged: bool = info.ragged
        self.train_set: Optional[Dataset] = None
        self.val_set: Optional[Dataset] = None
        self.test_set: Optional[Dataset] = None

    def train_batch_transform(self) -> Optional[nn.Module]:
        """The data set's transform of every training batch on the device (``transform(x, generator)``:
        the shift augmentation of ``data.augment_shift``, or the data set's own), or None."""
        return self.source.batch_transform(self.cfg, augment_shift_of(self.cfg))

    def prepare_data(self) -> None:
        """Download (once, on rank 0) when ``data.download=true``; otherwise nothing."""
        if self.cfg.download:
            self.source.download(self.cfg)

    def setup(self, stage: Optional[str] = None) -> None:
        """Load the files (once) and make the splits; raises ``FileNotFoundError`` if files are missing."""
        if self.train_set is not None:
            return
        root = Path(self.cfg.root).expanduser()
        if root.exists() and not root.is_dir():
            raise InputFileError(f"data.root={self.cfg.root!r} is a file; expected the folder that holds the data sets")
        loaded = self.source.load(self.cfg)
        train_idx, val_idx = train_val_indices(loaded.train_targets, self.cfg)
        self.train_set = Subset(loaded.train, train_idx.tolist())
        self.val_set = Subset(loaded.train, val_idx.tolist()) if len(val_idx) else None
        self.test_set = loaded.test

    def train_dataloader(self) -> DataLoader:
        return self._loader(self.train_set, shuffle=True)

    def val_dataloader(self) -> Union[DataLoader, List]:
        """The validation loader, or ``[]`` (Lightning then skips validation) when val_fraction=0."""
        return [] if self.val_set is None else self._loader(self.val_set, shuffle=False)

    def test_dataloader(self) -> DataLoader:
        return self._loader(self.test_set, shuffle=False)

    def _loader(self, dataset: Optional[Dataset], shuffle: bool) -> DataLoader:
        if dataset is None:
            raise RuntimeError("BrainDataModule.setup() must run before asking for a dataloader")
        return DataLoader(
            dataset,
            batch_size=self.cfg.batch_size,
            sampler=EpochShuffleSampler(len(dataset), self.cfg.seed) if shuffle else None,
            num_workers=self.cfg.num_workers,
            persistent_workers=self.cfg.num_workers > 0,
            collate_fn=pad_collate if self.ragged else None,
        )


def augment_shift_of(cfg: DataConfig) -> int:
    """``cfg.augment_shift``, or the data set's own (:attr:`DataSource.augment_shift`) when it is ``None``."""
    return DATASETS[cfg.name].augment_shift if cfg.augment_shift is None else cfg.augment_shift


def _source(cfg: DataConfig) -> DataSource:
    if cfg.name not in DATASETS:
        allowed = ", ".join(name.name for name in DATASETS)
        raise ConfigError(f"data.name={cfg.name!r} has no registered data source; allowed: {allowed}")
    return DATASETS[cfg.name]


def dataset_info(cfg: DataConfig) -> DatasetInfo:
    """The :class:`DatasetInfo` of ``cfg.name`` (see :data:`DATASETS`), from the config alone (no file access)."""
    return _source(cfg).info(cfg)


def build_datamodule(cfg: DataConfig) -> BrainDataModule:
    """The :class:`BrainDataModule` of ``cfg.name`` (see :data:`DATASETS`)."""
    return BrainDataModule(cfg, _source(cfg))
