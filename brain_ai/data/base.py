"""Building blocks shared by every data source: metadata, the source interface, split helpers.

No Lightning here (see ``datamodule.py``); third-party loaders (torchvision, tonic, sklearn)
are imported lazily by the sources that need them, so importing ``brain_ai.data`` stays cheap.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass
from typing import Optional, Tuple

import numpy as np
import torch
from torch import nn
from torch.utils.data import Dataset

from brain_ai.config import ConfigError, DataConfig, Task, coerce_enum
from brain_ai.data.augment import RandomShift
from brain_ai.errors import InputFileError

#: Seed of the fixed train/test splits of data sets that ship without one (mnist5k, digits,
#: synthetic). Deliberately independent of ``DataConfig.seed`` so the test set never changes.
FIXED_SPLIT_SEED = 1234


@dataclass(frozen=True)
class DatasetInfo:
    """What a model needs to know about a data set before any sample is loaded.

    ``sample_shape`` is the feature shape of one time step (static: ``(C, H, W)``; event data:
    the shape of one frame). ``time_steps`` is ``T`` of event/synthetic data, ``None`` for static
    data and for ``ragged`` data, whose samples have different lengths (batches then carry a
    mask, see :mod:`brain_ai.data.ragged`).
    ``task`` says what the targets are: class indices ``(N,)`` int64 (classification, with
    ``num_outputs`` classes) or float values ``(N, D)`` (regression, ``num_outputs = D``).
    """

    num_outputs: int
    sample_shape: Tuple[int, ...]
    time_steps: Optional[int]
    is_event_data: bool
    task: Task = Task.classification
    ragged: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "task", coerce_enum("DatasetInfo", "task", self.task, Task))

    @property
    def is_value_sequence(self) -> bool:
        """Real-valued sequences ``(T, *sample_shape)`` that are not spikes (smnist): input currents."""
        return self.time_steps is not None and not self.is_event_data


@dataclass
class LoadedData:
    """The two splits of a data set; ``train_targets`` (N_train,) int labels stratify the val split
    (regression sets pass one stratum, all zeros: a plain seeded random split)."""

    train: Dataset
    train_targets: np.ndarray
    test: Dataset


class DataSource(abc.ABC):
    """One entry of the data-set registry: metadata, optional download, loading."""

    #: training shift augmentation (pixels) when ``data.augment_shift`` is null
    augment_shift: int = 0

    @abc.abstractmethod
    def info(self, cfg: DataConfig) -> DatasetInfo:
        """Metadata, computed from ``cfg`` alone (no file access)."""

    def batch_transform(self, cfg: DataConfig, max_shift: int) -> Optional[nn.Module]:
        """The training batch transform that shifts this data set's samples by up to ``max_shift``
        pixels (``transform(x, generator)``, :mod:`brain_ai.data.augment`), or None for ``max_shift=0``:
        static images by default; a data set whose samples are not images overrides it."""
        return RandomShift(max_shift) if max_shift else None

    def download(self, cfg: DataConfig) -> None:  # noqa: B027 (a hook: data sets without files keep it empty)
        """Fetch the files into ``cfg.root`` (called once, on rank 0, when ``cfg.download``)."""

    @abc.abstractmethod
    def load(self, cfg: DataConfig) -> LoadedData:
        """Load both splits; items are ``(x float32 tensor, y)`` with ``y`` an int class index
        (classification) or a float32 tensor ``(D,)`` (regression). Raises if files are missing."""


class ArrayDataset(Dataset):
    """In-memory samples stored compactly (e.g. uint8) and scaled to float32 on access.

    ``inputs`` (N, ...) any numeric dtype. ``task=classification``: ``targets (N,)`` are class
    labels and an item is ``(inputs[i] / scale as float32, int label)``. ``task=regression``:
    ``targets (N, D)`` are values and an item is ``(inputs[i] / scale as float32, targets[i]
    float32 (D,))``.
    """

    def __init__(
        self,
        inputs: np.ndarray | torch.Tensor,
        targets: np.ndarray | torch.Tensor,
        scale: float = 1.0,
        task: Task = Task.classification,
    ):
        if len(inputs) != len(targets):
            raise ValueError(f"inputs has {len(inputs)} samples but targets has {len(targets)}")
        self.inputs = torch.as_tensor(inputs)
        self.task = coerce_enum("ArrayDataset", "task", task, Task)
        self.targets = torch.as_tensor(targets).to(torch.int64 if self.task is Task.classification else torch.float32)
        self.scale = float(scale)

    def __len__(self) -> int:
        return len(self.targets)

    def __getitem__(self, index: int) -> Tuple[torch.Tensor, int | torch.Tensor]:
        target = int(self.targets[index]) if self.task is Task.classification else self.targets[index]
        return self.inputs[index].to(torch.float32) / self.scale, target


def stratified_order(labels: np.ndarray, seed: int) -> np.ndarray:
    """A seeded permutation of ``range(len(labels))`` whose every prefix is class-balanced.

    Each sample gets the key ``(rank within its class in a random order + 0.5) / class size``;
    sorting by that key interleaves the classes in proportion to their sizes, so taking the
    first ``k`` indices is a stratified sample of size ``k`` (exact when ``k`` is a multiple of
    the per-class proportions, e.g. 100 per class from 10 classes of 500).
    """
    labels = np.asarray(labels)
    order = np.random.default_rng(seed).permutation(len(labels))
    keys = np.empty(len(labels), dtype=np.float64)
    for cls in np.unique(labels):
        members = order[labels[order] == cls]  # this class, in random order
        keys[members] = (np.arange(len(members)) + 0.5) / len(members)
    return order[np.argsort(keys[order], kind="stable")]


def split_counts(n: int, fraction: float, name: str) -> Tuple[int, int]:
    """``(n_kept, n_held)`` with ``n_held = round(fraction * n)``; both non-empty when fraction > 0.

    ``name`` says where the fraction comes from (e.g. ``data.val_fraction``), for the error.
    """
    n_held = int(round(fraction * n))
    if fraction > 0 and (n_held == 0 or n_held == n):
        raise ConfigError(
            f"{name}={fraction} splits {n} samples into {n - n_held} + {n_held}; both parts must be "
            f"non-empty: use more samples or a fraction in ({1 / n:.3g}, {1 - 1 / n:.3g})"
        )
    return n - n_held, n_held


def fixed_test_split(labels: np.ndarray, test_fraction: float) -> Tuple[np.ndarray, np.ndarray]:
    """Stratified ``(train_idx, test_idx)`` from :data:`FIXED_SPLIT_SEED`.

    ``train_idx`` is sorted ascending; ``test_idx`` keeps the class-interleaved order of
    :func:`stratified_order`, so every prefix of the (unshuffled) test loader is class-balanced:
    a partial test (``trainer.limit_test_batches``) sees every class, not the first few of a data
    file sorted by label (mnist5k's is).
    """
    order = stratified_order(labels, FIXED_SPLIT_SEED)
    _, n_test = split_counts(len(labels), test_fraction, "the fixed test fraction")
    return np.sort(order[n_test:]), order[:n_test]


def split_in_memory(
    inputs: np.ndarray, targets: np.ndarray, scale: float, test_fraction: float, task: Task = Task.classification
) -> LoadedData:
    """Fixed train/test split of an in-memory set; ``inputs`` (N, ...) scaled by 1/scale.

    Classification: the class labels ``targets (N,)`` stratify the test and val splits.
    Regression (``targets (N, D)``): one stratum, i.e. plain seeded random splits.
    """
    strata = targets if task is Task.classification else np.zeros(len(targets), dtype=np.int64)
    train_idx, test_idx = fixed_test_split(strata, test_fraction)
    return LoadedData(
        train=ArrayDataset(inputs[train_idx], targets[train_idx], scale, task),
        train_targets=strata[train_idx],
        test=ArrayDataset(inputs[test_idx], targets[test_idx], scale, task),
    )


def download_failed(cfg: DataConfig, err: Exception, paths, urls, how: str) -> InputFileError:
    """The error for a failed ``data.download=true``: where to put the files by hand, and from where."""
    return InputFileError(
        f"data.download=true: downloading data.name={cfg.name.name} failed ({type(err).__name__}: {err}); no network? "
        f"Fetch {', '.join(urls)} by hand ({how}), put the results at {', '.join(str(p) for p in paths)}, "
        f"and run again with data.download=false"
    )
