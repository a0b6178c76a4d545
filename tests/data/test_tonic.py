"""N-MNIST / SHD / DVSGesture through the real tonic classes, on tiny fabricated files."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from brain_ai.config import ConfigError, DataConfig
from brain_ai.data import build_datamodule
from brain_ai.data.events import cache_dir


def reference_frames(ev: dict, n_bins: int, shape: tuple, t_scale: int = 1, ds: int = 1) -> np.ndarray:
    """Binary frames as ToFrame(n_time_bins) bins them, written out by hand.

    Bin width ``w = (t_last - t_first) // n_bins`` µs; an event goes to bin ``(t - t_first) // w``;
    bins >= n_bins are dropped. ``shape`` (P, H, W); ``t_scale`` file time -> µs; ``ds`` downsampling.
    """
    t = ev["t"] * t_scale
    width = (t[-1] - t[0]) // n_bins
    b = (t - t[0]) // width
    keep = b < n_bins
    frames = np.zeros((n_bins, *shape), np.float32)
    frames[b[keep], ev["p"][keep], ev["y"][keep] // ds, ev["x"][keep] // ds] = 1.0
    return frames


def _setup(**kwargs):
    dm = build_datamodule(DataConfig(**kwargs))
    dm.setup()
    return dm


def _source_path(subset, k: int) -> str:
    """File of the k-th item of a Subset over BinaryFrames over CheckedEvents over a tonic data set."""
    return subset.dataset.frames.events.data[subset.indices[k]]


# ----------------------------------------------------------------------------- N-MNIST


def test_nmnist_frames_labels_and_shapes(nmnist_root, tonic_counts_waived):
    dm = _setup(name="nmnist", root=str(nmnist_root.root), n_time_bins=8, val_fraction=0.2, batch_size=4)
    assert (dm.num_outputs, dm.sample_shape, dm.time_steps, dm.is_event_data) == (10, (2, 34, 34), 8, True)
    assert (len(dm.train_set), len(dm.val_set), len(dm.test_set)) == (16, 4, nmnist_root.n_test)
    for k in range(len(dm.train_set)):
        x, y = dm.train_set[k]
        path = _source_path(dm.train_set, k)
        assert y == int(path.split("/")[-2])  # label = digit folder
        np.testing.assert_array_equal(x.numpy(), reference_frames(nmnist_root.events[path], 8, (2, 34, 34)))
    x, y = next(iter(dm.train_dataloader()))
    assert x.shape == (4, 8, 2, 34, 34) and x.dtype == torch.float32 and y.dtype == torch.int64
    assert set(x.unique().tolist()) <= {0.0, 1.0}
    # val split is stratified: 4 of 20 -> one sample each from 4 different digits
    assert len({dm.val_set[k][1] for k in range(4)}) == 4


def test_nmnist_missing_files_name_paths_and_flag(tmp_path):
    dm = build_datamodule(DataConfig(name="nmnist", root=str(tmp_path)))
    with pytest.raises(FileNotFoundError) as err:
        dm.setup()
    msg = str(err.value)
    assert str(tmp_path / "NMNIST" / "train.zip") in msg and str(tmp_path / "NMNIST" / "Train") in msg
    assert "data.download=true" in msg


def test_nmnist_incomplete_extraction_raises_instead_of_downloading(nmnist_root):
    """20 .bin files < tonic's 10,000: tonic would download; we raise (no_downloads would fail otherwise)."""
    with pytest.raises(FileNotFoundError, match="data.download=true"):
        _setup(name="nmnist", root=str(nmnist_root.root))


def test_downsample_is_rejected_outside_dvsgesture(tmp_path):
    with pytest.raises(ConfigError, match="data.downsample=2"):
        build_datamodule(DataConfig(name="nmnist", root=str(tmp_path), downsample=2))


# ----------------------------------------------------------------------------- SHD


def test_shd_frames_labels_and_shapes(shd_root):
    dm = _setup(name="shd", root=str(shd_root.root), n_time_bins=16, val_fraction=0.25, batch_size=3)
    assert (dm.num_outputs, dm.sample_shape, dm.time_steps) == (20, (700,), 16)
    assert (len(dm.train_set), len(dm.val_set), len(dm.test_set)) == (6, 2, 4)
    for k, i in enumerate(dm.train_set.indices):
        x, y = dm.train_set[k]
        ev = dict(shd_root.samples["train"][i])
        ev["p"], ev["y"] = np.zeros_like(ev["t"]), np.zeros_like(ev["t"])  # one channel row, one polarity
        assert y == shd_root.labels["train"][i]
        ref = reference_frames(ev, 16, (1, 1, 700), t_scale=1_000_000 // 64)
        np.testing.assert_array_equal(x.numpy(), ref.reshape(16, 700))
    x, y = next(iter(dm.test_dataloader()))
    assert x.shape == (3, 16, 700) and y.tolist() == shd_root.labels["test"][:3].tolist()


def test_shd_missing_archive_marker(shd_root):
    (shd_root.root / "SHD" / "shd_train.h5.zip").unlink()
    with pytest.raises(FileNotFoundError) as err:
        _setup(name="shd", root=str(shd_root.root))
    assert str(shd_root.root / "SHD" / "shd_train.h5.zip") in str(err.value)
    assert str(shd_root.root / "SHD" / "shd_train.h5") in str(err.value)


# ----------------------------------------------------------------------------- DVSGesture


@pytest.mark.parametrize("ds", [1, 4])
def test_dvsgesture_sorted_downsampled_frames(dvs_root, tonic_counts_waived, ds):
    dm = _setup(name="dvsgesture", root=str(dvs_root.root), n_time_bins=5, downsample=ds, val_fraction=0.0)
    side = 128 // ds
    assert (dm.num_outputs, dm.sample_shape, dm.time_steps) == (11, (2, side, side), 5)
    assert dm.val_dataloader() == []
    files = dm.train_set.dataset.frames.events.data
    assert files == sorted(files) and len(files) == dvs_root.n_train  # filesystem order removed
    for k in (0, 5, 13):
        x, y = dm.train_set[k]
        path = _source_path(dm.train_set, k)
        assert y == int(path.split("/")[-1][:-4])  # label = file name
        ref = reference_frames(dvs_root.events[path], 5, (2, side, side), t_scale=1000, ds=ds)
        np.testing.assert_array_equal(x.numpy(), ref)


def test_dvsgesture_odd_downsample_keeps_every_pixel(dvs_root, tonic_counts_waived):
    dm = _setup(name="dvsgesture", root=str(dvs_root.root), n_time_bins=4, downsample=3)
    assert dm.sample_shape == (2, 43, 43)  # ceil(128 / 3): pixel 127 -> 42
    assert dm.test_set[0][0].shape == (4, 2, 43, 43)


# ----------------------------------------------------------------------------- frame cache


def test_cache_path_names_transform_settings_and_is_not_stale(shd_root):
    cfg = DataConfig(name="shd", root=str(shd_root.root), cache=True, n_time_bins=10)
    path = cache_dir(cfg, "SHD", "train")
    assert path == shd_root.root / "cache" / "SHD" / "train" / "bins10_ds1"
    dm = _setup(name="shd", root=str(shd_root.root), cache=True, n_time_bins=10)
    first = dm.test_set[0][0]
    assert first.shape == (10, 700) and list((shd_root.root / "cache" / "SHD" / "test" / "bins10_ds1").glob("*.hdf5"))
    cached = dm.test_set[0][0]  # second read comes from the cache file
    torch.testing.assert_close(cached, first)
    # a different bin count reads from a different folder, never the stale 10-bin frames
    dm20 = _setup(name="shd", root=str(shd_root.root), cache=True, n_time_bins=20)
    assert dm20.test_set[0][0].shape == (20, 700)
    assert (
        cache_dir(DataConfig(name="dvsgesture", downsample=4, n_time_bins=10), "DVSGesture", "train").name
        == "bins10_ds4"
    )


def test_download_flag_goes_through_tonic_download(tmp_path, monkeypatch):
    """prepare_data() with data.download=true constructs the tonic class, which downloads (mocked)."""
    import tonic.dataset

    calls = []
    monkeypatch.setattr(tonic.dataset.Dataset, "download", lambda self: calls.append(self.filename))
    build_datamodule(DataConfig(name="nmnist", root=str(tmp_path), download=True)).prepare_data()
    assert calls == ["train.zip", "test.zip"]
    build_datamodule(DataConfig(name="nmnist", root=str(tmp_path))).prepare_data()  # download=false: nothing
    assert len(calls) == 2


# ----------------------------------------------------------------------------- ragged: cut by time


def test_shd_cut_by_time_is_ragged_and_batches_carry_a_mask(shd_root):
    width = 1_000_000 // 64 * 3  # µs: three file ticks per bin
    dm = _setup(name="shd", root=str(shd_root.root), bin_width_us=width, val_fraction=0.25, batch_size=4)
    assert dm.ragged and dm.time_steps is None and dm.sample_shape == (700,)
    lengths = []
    for k, i in enumerate(dm.train_set.indices):
        x, y = dm.train_set[k]
        t = shd_root.samples["train"][i]["t"] * (1_000_000 // 64)  # µs
        # bins of `width` µs from the first event: the last event falls in bin (t_last - t_first) // width
        assert x.shape[0] >= (t[-1] - t[0]) // width and x.shape[1:] == (700,)
        lengths.append(x.shape[0])
    assert len(set(lengths)) > 1  # recordings of different length give different T
    x, y, mask = next(iter(dm.train_dataloader()))
    assert mask.dtype == torch.bool and mask.shape == x.shape[:2] and x.shape[1] == int(mask.sum(1).max())
    for b in range(x.shape[0]):
        n = int(mask[b].sum())
        assert bool(mask[b, :n].all()) and not bool(mask[b, n:].any())
        assert float(x[b, n:].abs().sum()) == 0.0  # silent padding at the end
    with pytest.raises(ConfigError, match=r"data\.bin_width_us=0"):
        DataConfig(name="shd", bin_width_us=0)


def test_cache_folder_names_the_binning(tmp_path):
    by_count = cache_dir(DataConfig(name="shd", root=str(tmp_path), n_time_bins=16), "SHD", "train")
    by_time = cache_dir(DataConfig(name="shd", root=str(tmp_path), bin_width_us=5000), "SHD", "train")
    assert by_count.name == "bins16_ds1" and by_time.name == "width5000us_ds1"
