"""MNIST / FashionMNIST through the real torchvision classes, on tiny fabricated idx files."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from brain_ai.config import DataConfig
from brain_ai.data import build_datamodule


@pytest.mark.parametrize("name, class_name", [("mnist", "MNIST"), ("fashion_mnist", "FashionMNIST")])
def test_idx_files_load_scaled_with_labels(idx_root, name, class_name):
    files = idx_root(class_name)
    dm = build_datamodule(DataConfig(name=name, root=str(files.root), val_fraction=0.2, batch_size=8))
    assert (dm.num_outputs, dm.sample_shape, dm.time_steps, dm.is_event_data) == (10, (1, 28, 28), None, False)
    dm.setup()
    assert (len(dm.train_set), len(dm.val_set), len(dm.test_set)) == (24, 6, 10)
    images, labels = files.train
    for k, i in enumerate(dm.train_set.indices):
        x, y = dm.train_set[k]
        assert y == labels[i]
        np.testing.assert_allclose(x.numpy(), images[i][None] / 255.0, rtol=0, atol=1e-7)
    x, y = next(iter(dm.test_dataloader()))  # test loader keeps the file order
    assert x.shape == (8, 1, 28, 28) and x.dtype == torch.float32 and y.dtype == torch.int64
    assert y.tolist() == files.test[1][:8].tolist()
    assert 0.0 <= x.min() and x.max() <= 1.0


@pytest.mark.parametrize("name, class_name", [("mnist", "MNIST"), ("fashion_mnist", "FashionMNIST")])
def test_missing_idx_files_name_paths_and_flag(tmp_path, name, class_name):
    dm = build_datamodule(DataConfig(name=name, root=str(tmp_path)))
    with pytest.raises(FileNotFoundError) as err:
        dm.setup()
    msg = str(err.value)
    for f in ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"):
        assert str(tmp_path / class_name / "raw" / f) in msg
    assert "data.download=true" in msg


def test_download_flag_goes_through_torchvision_download(idx_root, monkeypatch):
    """prepare_data() with data.download=true calls torchvision's own download (mocked here)."""
    import torchvision.datasets

    calls = []
    monkeypatch.setattr(torchvision.datasets.MNIST, "download", lambda self: calls.append(self.raw_folder))
    files = idx_root("MNIST")
    build_datamodule(DataConfig(name="mnist", root=str(files.root), download=True)).prepare_data()
    assert calls == [str(files.root / "MNIST" / "raw")] * 2
    build_datamodule(DataConfig(name="mnist", root=str(files.root))).prepare_data()  # download=false: nothing
    assert len(calls) == 2
