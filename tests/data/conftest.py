"""Fixtures for the data tests: no downloads, and tiny files in each real on-disk format.

Each ``*_root`` fixture writes a few samples under ``tmp_path`` exactly where the real loader
(torchvision / tonic) looks, and returns the root plus the events/images it wrote, so the tests
can compare what the data module yields with a hand-computed reference.
"""

from __future__ import annotations

import struct
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest


def _refuse_download(*args, **kwargs):
    raise AssertionError("a data test tried to download")


@pytest.fixture(autouse=True)
def no_downloads(monkeypatch):
    """Make every tonic / torchvision download raise, so no test can touch the network."""
    import tonic.dataset
    import torchvision.datasets

    monkeypatch.setattr(tonic.dataset.Dataset, "download", _refuse_download)
    monkeypatch.setattr(torchvision.datasets.MNIST, "download", _refuse_download)  # FashionMNIST inherits


def _events(rng: np.random.Generator, n: int, width: int, height: int, t_max: int) -> dict:
    """Random events sorted by time: dict of int64 arrays x, y, p, t (t in the file's unit)."""
    t = np.sort(rng.integers(0, t_max + 1, size=n))
    t[0], t[-1] = 0, t_max  # fixed span -> known bin width
    return {"x": rng.integers(0, width, n), "y": rng.integers(0, height, n), "p": rng.integers(0, 2, n), "t": t}


# ------------------------------------------------------------------ N-MNIST (.bin, 5 bytes/event)


def _write_nmnist_bin(path: Path, ev: dict) -> None:
    b = np.zeros((len(ev["t"]), 5), np.uint8)
    b[:, 0], b[:, 1] = ev["x"], ev["y"]
    b[:, 2] = (ev["p"] << 7) | ((ev["t"] >> 16) & 0x7F)
    b[:, 3] = (ev["t"] >> 8) & 0xFF
    b[:, 4] = ev["t"] & 0xFF
    path.parent.mkdir(parents=True, exist_ok=True)
    b.tofile(path)


@pytest.fixture
def nmnist_root(tmp_path):
    """``<root>/NMNIST/{train,test}.zip`` markers + ``Train|Test/<digit>/<id>.bin`` (2 / 1 per digit).

    ``events`` maps each .bin path (str) to its events (t in µs, span 0..10_000).
    """
    rng = np.random.default_rng(0)
    home = tmp_path / "NMNIST"
    events = {}
    for folder, per_digit in (("Train", 2), ("Test", 1)):
        for digit in range(10):
            for k in range(per_digit):
                path = home / folder / str(digit) / f"{digit:02d}{k:03d}.bin"
                events[str(path)] = _events(rng, 60, 34, 34, 10_000)
                _write_nmnist_bin(path, events[str(path)])
    (home / "train.zip").touch()
    (home / "test.zip").touch()
    return SimpleNamespace(root=tmp_path, events=events, n_train=20, n_test=10)


@pytest.fixture
def tonic_counts_waived(monkeypatch):
    """Waive tonic's "at least 10,000 .bin / 100 .npy files" check (the markers are still required
    by our own check); the tiny fixtures hold far fewer files."""
    import tonic.datasets

    for cls in (tonic.datasets.NMNIST, tonic.datasets.DVSGesture):
        monkeypatch.setattr(cls, "_check_exists", lambda self: True)


# ------------------------------------------------------------------ SHD (.h5, vlen times + units)


def _write_shd(path: Path, samples: list, labels: np.ndarray) -> None:
    import h5py

    with h5py.File(path, "w") as f:
        times = f.create_dataset("spikes/times", (len(samples),), dtype=h5py.vlen_dtype(np.float16))
        units = f.create_dataset("spikes/units", (len(samples),), dtype=h5py.vlen_dtype(np.uint16))
        for i, ev in enumerate(samples):
            times[i] = (ev["t"] / 64).astype(np.float16)  # seconds, exact in float16
            units[i] = ev["x"].astype(np.uint16)
        f["labels"] = labels.astype(np.uint8)
        f["extra/keys"] = np.array([f"d{i}".encode() for i in range(20)])
        f["extra/speaker"] = np.zeros(len(samples), np.uint16)


@pytest.fixture
def shd_root(tmp_path):
    """``<root>/SHD/shd_{train,test}.h5(.zip)``; 8 train / 4 test samples, labels from the h5.

    ``samples[split][i]`` holds the events of sample i, t in 1/64 s ticks (span 0..32 + 4 i:
    recordings differ in length, as real SHD ones do).
    """
    rng = np.random.default_rng(1)
    home = tmp_path / "SHD"
    home.mkdir()
    samples, labels = {}, {}
    for split, n in (("train", 8), ("test", 4)):
        samples[split] = [_events(rng, 40, 700, 1, 32 + 4 * i) for i in range(n)]
        labels[split] = rng.integers(0, 20, n)
        _write_shd(home / f"shd_{split}.h5", samples[split], labels[split])
        (home / f"shd_{split}.h5.zip").touch()
    return SimpleNamespace(root=tmp_path, samples=samples, labels=labels)


# ------------------------------------------------------------------ DVSGesture (.npy, x y p t_ms)


@pytest.fixture
def dvs_root(tmp_path):
    """``<root>/DVSGesture/ibmGesture{Train,Test}.tar.gz`` + ``user<NN>_<light>/<label>.npy``.

    Train: users 01, 02 (11 labels each); test: user 24. ``events`` maps path -> events (t in ms).
    """
    rng = np.random.default_rng(2)
    home = tmp_path / "DVSGesture"
    events = {}
    for folder, users in (
        ("ibmGestureTrain", ("user02_led", "user01_fluorescent")),
        ("ibmGestureTest", ("user24_natural",)),
    ):
        for user in users:
            (home / folder / user).mkdir(parents=True)
            for label in (7, 3, 10, 0, 1, 2, 4, 5, 6, 8, 9):  # not in sorted order on purpose
                path = home / folder / user / f"{label}.npy"
                ev = _events(rng, 80, 128, 128, 1000)
                np.save(path, np.stack([ev["x"], ev["y"], ev["p"], ev["t"]], axis=1).astype(np.int64))
                events[str(path)] = ev
    (home / "ibmGestureTrain.tar.gz").touch()
    (home / "ibmGestureTest.tar.gz").touch()
    return SimpleNamespace(root=tmp_path, events=events, n_train=22, n_test=11)


# ------------------------------------------------------------------ MNIST / FashionMNIST (idx)


def _write_idx(raw: Path, prefix: str, images: np.ndarray, labels: np.ndarray) -> None:
    raw.mkdir(parents=True, exist_ok=True)
    n = len(labels)
    (raw / f"{prefix}-images-idx3-ubyte").write_bytes(struct.pack(">IIII", 2051, n, 28, 28) + images.tobytes())
    (raw / f"{prefix}-labels-idx1-ubyte").write_bytes(struct.pack(">II", 2049, n) + labels.astype(np.uint8).tobytes())


@pytest.fixture
def idx_root(tmp_path):
    """A function ``make(class_name)`` writing ``<root>/<class_name>/raw/*-ubyte`` (30 train, 10 test)."""

    def make(class_name: str) -> SimpleNamespace:
        rng = np.random.default_rng(3)
        split = {}
        for prefix, n in (("train", 30), ("t10k", 10)):
            images = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
            labels = np.arange(n) % 10
            _write_idx(tmp_path / class_name / "raw", prefix, images, labels)
            split[prefix] = (images, labels)
        return SimpleNamespace(root=tmp_path, train=split["train"], test=split["t10k"])

    return make
