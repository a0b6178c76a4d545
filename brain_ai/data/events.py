"""Event-camera / cochlea data sets through tonic: events binned to binary spike frames.

Each sample becomes ``x (T, *sample_shape)`` float32 with ``T = data.n_time_bins``, via
``tonic.transforms.ToFrame(sensor_size, n_time_bins=T)`` (DVSGesture: ``Downsample`` first).
ToFrame counts events per bin; we **clamp the counts to binary spikes** (1.0 where a pixel /
channel had at least one event in the bin, else 0.0) so the frames can drive an SNN directly
(``encoding=identity``). Every recording is checked first (:func:`checked_events`: no events, NaN
or negative times, unit / pixel indices outside the sensor are refused naming the file and the
sample; events out of time order are sorted). ToFrame bins each recording on its own time axis: bin width
``w = (t_last - t_first) // T`` µs from ``t_first``; events at or after ``t_first + T * w``
(at least those at exactly ``t_last``) are dropped -- tonic's rule, kept as is.

Cut by time instead (``data.bin_width_us``): bins of that width from each recording's first
event, so a longer recording gives more frames. The data set is then *ragged*: batches are padded
at the end with silent frames and carry ``mask (B, T)`` (see :mod:`brain_ai.data.ragged`).

tonic classes take no ``download`` argument: they download whenever their ``_check_exists()``
fails. So :meth:`TonicEvents.load` checks the files itself first and raises a
``FileNotFoundError`` naming the expected paths instead of touching the network; downloading
only happens in :meth:`TonicEvents.download` (``data.download=true``).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Optional, Tuple

import numpy as np
import torch
from torch.utils.data import Dataset

from brain_ai.config import ConfigError, DataConfig
from brain_ai.data.base import DatasetInfo, DataSource, LoadedData, download_failed
from brain_ai.errors import InputFileError


class BinaryFrames(Dataset):
    """Wraps a tonic dataset yielding ToFrame counts; items ``(x (T, *sample_shape) float32 0/1, int label)``."""

    def __init__(self, frames: Any, sample_shape: Tuple[int, ...]):
        self.frames = frames
        self.sample_shape = tuple(sample_shape)

    def __len__(self) -> int:
        return len(self.frames)

    def __getitem__(self, index: int) -> Tuple[torch.Tensor, int]:
        counts, label = self.frames[index]  # counts (T, P, H, W) or (T, 1, X), int16
        spikes = torch.from_numpy(np.asarray(counts) > 0).to(torch.float32)
        return spikes.reshape(spikes.shape[0], *self.sample_shape), int(label)


class CheckedEvents(Dataset):
    """A tonic data set read without a transform: each recording is checked by :func:`checked_events`
    (the message names ``file`` and the sample index, or the sample's own file), then ``transform`` is applied.

    Items: ``(transform(events), label)``.
    """

    def __init__(self, events: Any, transform: Any, sensor_size: Tuple[int, int, int], file: Optional[Path] = None):
        self.events = events
        self.transform = transform
        self.sensor_size = tuple(sensor_size)
        self.file = file  # None: one file per sample, named by ``events.data[index]``

    def __len__(self) -> int:
        return len(self.events)

    def __getitem__(self, index: int) -> Tuple[Any, Any]:
        events, label = self.events[index]
        where = f"{self.file} sample {index}" if self.file is not None else str(self.events.data[index])
        return self.transform(checked_events(events, self.sensor_size, where)), label


def checked_events(events: np.ndarray, sensor_size: Tuple[int, int, int], where: str) -> np.ndarray:
    """One recording's events (structured array with ``t`` in µs and ``x`` [, ``y``, ``p``]) sorted by time.

    Raises :class:`InputFileError` naming ``where`` for what tonic's ToFrame would crash on or bin
    silently wrong: no events, NaN / infinite / negative times (a NaN read as an integer is negative),
    or an ``x`` / ``y`` / ``p`` index outside ``sensor_size = (W, H, P)``. Events out of time order
    are sorted (stable): a recording is a set of events, and ToFrame assumes time order.
    """
    if len(events) == 0:
        raise InputFileError(f"{where}: the recording has no events; expected at least one (a damaged or cut file?)")
    t = events["t"]
    if t.dtype.kind == "f" and not np.all(np.isfinite(t)):
        raise InputFileError(
            f"{where}: {int(np.sum(~np.isfinite(t)))} event times are NaN or infinite; expected finite times >= 0"
        )
    if np.any(t < 0):
        raise InputFileError(
            f"{where}: event times go down to {t.min()} µs; expected times >= 0 (a NaN time stored in the file reads as a large negative one)"
        )
    for field, size in zip(("x", "y", "p"), sensor_size):
        if field not in events.dtype.names or (field == "p" and size == 1):  # one polarity: tonic ignores p
            continue
        values = events[field].astype(np.int64)
        outside = values[(values < 0) | (values >= size)]
        if outside.size:
            raise InputFileError(
                f"{where}: event {field} index {outside[0]} is out of range ({outside.size} of {len(values)} events); the sensor "
                f"{sensor_size} allows {field} in [0, {size - 1}]"
            )
    if np.any(np.diff(t) < 0):
        events = events[np.argsort(t, kind="stable")]
    return events


def cache_dir(cfg: DataConfig, class_name: str, split: str) -> Path:
    """Frame cache folder; it names every transform setting so a change never reads stale frames."""
    binning = f"bins{cfg.n_time_bins}" if cfg.bin_width_us is None else f"width{cfg.bin_width_us:g}us"
    return Path(cfg.root).expanduser() / "cache" / class_name / split / f"{binning}_ds{cfg.downsample}"


class TonicEvents(DataSource):
    """One tonic data set. Files live under ``<root>/<class_name>/``: the archive of each split
    (tonic's "already downloaded" marker; contents not checked) and what it extracts to."""

    class_name: str
    num_classes: int
    sensor_size: Tuple[int, int, int]  # (W, H, P), tonic's convention
    archives: Tuple[str, str]  # (train, test)
    extracted: Tuple[str, str]  # (train, test): folder of sample files, or one data file
    supports_downsample = False

    def info(self, cfg: DataConfig) -> DatasetInfo:
        if cfg.downsample != 1 and not self.supports_downsample:
            raise ConfigError(
                f"data.downsample={cfg.downsample} is only supported for data.name=dvsgesture; "
                f"use 1 for data.name={cfg.name.name}"
            )
        ragged = cfg.bin_width_us is not None
        steps = None if ragged else cfg.n_time_bins
        return DatasetInfo(self.num_classes, self.frame_shape(cfg), steps, is_event_data=True, ragged=ragged)

    def frame_shape(self, cfg: DataConfig) -> Tuple[int, ...]:
        """Shape of one binned frame (ToFrame gives ``(P, H, W)`` per bin for 2-D sensors)."""
        width, height, polarities = self.binned_sensor_size(cfg)
        return (polarities, height, width)

    def binned_sensor_size(self, cfg: DataConfig) -> Tuple[int, int, int]:
        """``(W, H, P)`` passed to ToFrame (after any downsampling)."""
        return self.sensor_size

    def event_transforms(self, cfg: DataConfig) -> list:
        """tonic transforms applied to the raw events before ToFrame."""
        return []

    def split_paths(self, cfg: DataConfig, train: bool) -> Tuple[Path, Path]:
        """``(archive marker, extracted folder or file)`` of one split."""
        home = Path(cfg.root).expanduser() / self.class_name
        i = 0 if train else 1
        return home / self.archives[i], home / self.extracted[i]

    def download(self, cfg: DataConfig) -> None:
        dataset_cls = self._dataset_class()
        try:
            for train in (True, False):
                dataset_cls(str(Path(cfg.root).expanduser()), train=train)
        except Exception as err:  # tonic raises URLError / OSError / RuntimeError, by source
            urls = [
                str(u) for u in (getattr(dataset_cls, "train_url", None), getattr(dataset_cls, "test_url", None)) if u
            ]
            urls = urls or [str(getattr(dataset_cls, "base_url", f"the tonic.datasets.{self.class_name} page"))]
            paths = [p for train in (True, False) for p in self.split_paths(cfg, train)]
            raise download_failed(cfg, err, paths, urls, "keep each archive and extract it beside it") from None

    def load(self, cfg: DataConfig) -> LoadedData:
        import tonic

        info = self.info(cfg)
        transform = tonic.transforms.Compose(
            [*self.event_transforms(cfg), tonic.transforms.ToFrame(self.binned_sensor_size(cfg), **self.binning(cfg))]
        )
        splits = {}
        for train, split in ((True, "train"), (False, "test")):
            self._check_files(cfg, train)
            try:
                dataset = self._dataset_class()(str(Path(cfg.root).expanduser()), train=train)
                self.sort_samples(dataset)
                targets = self.targets(dataset, cfg, train)
            except (OSError, KeyError, ValueError, RuntimeError) as err:  # h5py / numpy / tonic on a bad file
                raise InputFileError(
                    f"data.name={cfg.name.name}: {self.split_paths(cfg, train)[1]} could not be read ({type(err).__name__}: {err}); "
                    f"expected the complete extracted {split} data of tonic.datasets.{self.class_name}: extract the archive again"
                ) from None
            extracted = self.split_paths(cfg, train)[1]
            frames = CheckedEvents(dataset, transform, self.sensor_size, extracted if extracted.suffix else None)
            if cfg.cache:
                frames = tonic.DiskCachedDataset(frames, cache_path=str(cache_dir(cfg, self.class_name, split)))
            splits[split] = (BinaryFrames(frames, info.sample_shape), targets)
        return LoadedData(train=splits["train"][0], train_targets=splits["train"][1], test=splits["test"][0])

    @staticmethod
    def binning(cfg: DataConfig) -> dict:
        """ToFrame's binning: ``n_time_bins`` bins per recording, or bins of ``bin_width_us`` (ragged T)."""
        if cfg.bin_width_us is not None:
            return {"time_window": float(cfg.bin_width_us)}
        return {"n_time_bins": cfg.n_time_bins}

    def sort_samples(self, dataset: Any) -> None:
        """Put the samples in a filesystem-independent order (tonic's own order is kept when it is)."""

    def targets(self, dataset: Any, cfg: DataConfig, train: bool) -> np.ndarray:
        """All labels of one split, ``(N,)`` int64, without loading the events."""
        return np.asarray(dataset.targets, dtype=np.int64)

    def _check_files(self, cfg: DataConfig, train: bool) -> None:
        archive, extracted = self.split_paths(cfg, train)
        if archive.is_file() and extracted.exists() and self._tonic_finds_files(cfg, train):
            return
        raise FileNotFoundError(
            f"data.name={cfg.name.name}: {'train' if train else 'test'} files not found. tonic expects the "
            f"archive {archive} (its marker that the download happened) and the complete extracted "
            f"{'file' if extracted.suffix else 'folder'} {extracted}. Place them there, "
            f"or set data.download=true to fetch them into data.root={cfg.root!r}"
        )

    def _tonic_finds_files(self, cfg: DataConfig, train: bool) -> bool:
        """tonic's own ``_check_exists`` (archive + enough extracted files), asked without
        constructing the data set, because construction downloads when the check fails."""
        import tonic

        dataset_cls = self._dataset_class()
        probe = dataset_cls.__new__(dataset_cls)
        tonic.dataset.Dataset.__init__(probe, str(Path(cfg.root).expanduser()))  # location_on_system
        archive, extracted = self.split_paths(cfg, train)
        probe.filename = archive.name
        probe.folder_name = "" if extracted.suffix else extracted.name
        return bool(probe._check_exists())

    def _dataset_class(self) -> type:
        import tonic.datasets

        return getattr(tonic.datasets, self.class_name)


class NMNISTEvents(TonicEvents):
    """N-MNIST: saccade recordings of MNIST digits, 34x34 pixels x 2 polarities, 10 classes."""

    class_name = "NMNIST"
    num_classes = 10
    sensor_size = (34, 34, 2)
    archives = ("train.zip", "test.zip")
    extracted = ("Train", "Test")


class SHDEvents(TonicEvents):
    """Spiking Heidelberg Digits: 700 cochlea channels, 20 classes (spoken digits, en + de)."""

    class_name = "SHD"
    num_classes = 20
    sensor_size = (700, 1, 1)
    archives = ("shd_train.h5.zip", "shd_test.h5.zip")
    extracted = ("shd_train.h5", "shd_test.h5")

    def frame_shape(self, cfg: DataConfig) -> Tuple[int, ...]:
        return (self.sensor_size[0],)  # ToFrame gives (T, 1, 700); one polarity, flattened

    def targets(self, dataset: Any, cfg: DataConfig, train: bool) -> np.ndarray:
        import h5py

        with h5py.File(self.split_paths(cfg, train)[1], "r") as f:
            return np.asarray(f["labels"][()], dtype=np.int64)


class DVSGestureEvents(TonicEvents):
    """IBM DVS Gesture: 128x128 pixels x 2 polarities, 11 classes; ``data.downsample`` shrinks H, W."""

    class_name = "DVSGesture"
    num_classes = 11
    sensor_size = (128, 128, 2)
    archives = ("ibmGestureTrain.tar.gz", "ibmGestureTest.tar.gz")
    extracted = ("ibmGestureTrain", "ibmGestureTest")
    supports_downsample = True

    def binned_sensor_size(self, cfg: DataConfig) -> Tuple[int, int, int]:
        # Downsample multiplies x, y by 1/d and truncates: pixel 127 lands in floor(127/d) < ceil(128/d)
        width, height, polarities = self.sensor_size
        return (math.ceil(width / cfg.downsample), math.ceil(height / cfg.downsample), polarities)

    def event_transforms(self, cfg: DataConfig) -> list:
        if cfg.downsample == 1:
            return []
        import tonic

        return [tonic.transforms.Downsample(spatial_factor=1.0 / cfg.downsample)]

    def sort_samples(self, dataset: Any) -> None:
        # tonic 1.7 walks the user folders and files in filesystem order: sort by path
        order = sorted(range(len(dataset.data)), key=dataset.data.__getitem__)
        for name in ("data", "targets", "users", "lighting"):
            values = getattr(dataset, name)
            setattr(dataset, name, [values[i] for i in order])
