"""synthetic_regression: shapes, range, determinism, splits, and every data module's ``task``."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from brain_ai.config import ConfigError, DataConfig, DatasetName, Task
from brain_ai.data import DatasetInfo, build_datamodule
from brain_ai.data.regression import NOISE, make_regression_task


def _setup(**kwargs):
    dm = build_datamodule(DataConfig(name="synthetic_regression", **kwargs))
    dm.setup()
    return dm


def _rows(subset) -> set:
    return {tuple(subset[k][0].tolist()) for k in range(len(subset))}


def test_metadata_and_batches_of_the_regression_set():
    dm = _setup(num_samples=300, num_inputs=6, num_targets=3, batch_size=32)
    assert (dm.task, dm.num_outputs, dm.sample_shape, dm.time_steps, dm.is_event_data) == (
        Task.regression,
        3,
        (6,),
        None,
        False,
    )
    x, y = next(iter(dm.train_dataloader()))
    assert x.shape == (32, 6) and x.dtype == torch.float32
    assert y.shape == (32, 3) and y.dtype == torch.float32
    assert 0.0 <= x.min() and x.max() <= 1.0
    assert 0.0 <= y.min() and y.max() <= 1.0


def test_one_target_batches_are_b_by_1():
    x, y = next(iter(_setup(num_samples=100, num_inputs=4, batch_size=8).train_dataloader()))
    assert (x.shape, y.shape) == ((8, 4), (8, 1))


def test_targets_in_range_with_bounded_noise_and_equal_spread():
    x, y = make_regression_task(4000, 20, 4)
    assert x.dtype == y.dtype == np.float32 and x.shape == (4000, 20) and y.shape == (4000, 4)
    assert x.min() >= 0.0 and x.max() < 1.0
    assert y.min() >= 0.1 - NOISE and y.max() <= 0.9 + NOISE
    # every target varies about as much (the projections have equal length): ~0.05 each
    np.testing.assert_allclose(y.var(axis=0), 0.05, rtol=0.15)


def test_targets_are_a_smooth_function_of_the_inputs():
    # a sigmoid of a linear projection: a least-squares *linear* fit on the training half already
    # explains most of the variance of the held-out half (reference: numpy lstsq)
    x, y = make_regression_task(2000, 10, 2)
    design = np.hstack([x, np.ones((len(x), 1), np.float32)]).astype(np.float64)
    coef, *_ = np.linalg.lstsq(design[:1000], y[:1000], rcond=None)
    residual = ((design[1000:] @ coef - y[1000:]) ** 2).mean(axis=0)
    assert (residual < 0.15 * y[1000:].var(axis=0)).all(), (residual, y[1000:].var(axis=0))


def test_generation_is_deterministic_and_seeded():
    a, b = make_regression_task(200, 5, 2), make_regression_task(200, 5, 2)
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])
    other = make_regression_task(200, 5, 2, seed=1)
    assert not np.array_equal(a[1], other[1])


def test_fixed_test_split_and_seeded_val_split():
    dm = _setup(num_samples=500, num_inputs=3)
    assert (len(dm.train_set), len(dm.val_set), len(dm.test_set)) == (360, 40, 100)
    train, val, test = _rows(dm.train_set), _rows(dm.val_set), _rows(dm.test_set)
    assert len(train | val | test) == 500  # disjoint, nothing lost
    x, _ = make_regression_task(500, 3, 1)
    assert train | val | test == {tuple(r) for r in x.tolist()}
    other = _setup(num_samples=500, num_inputs=3, seed=7)
    torch.testing.assert_close(other.test_set.inputs, dm.test_set.inputs)  # test set never moves
    torch.testing.assert_close(other.test_set.targets, dm.test_set.targets)
    assert _rows(other.val_set) != val  # the val split follows data.seed
    again = _setup(num_samples=500, num_inputs=3)
    assert _rows(again.val_set) == val


def test_limit_train_keeps_a_subset():
    dm = _setup(num_samples=200, limit_train=50)
    assert len(dm.train_set) == 50


@pytest.mark.parametrize(
    "name", [n for n in DatasetName if n is not DatasetName.synthetic_regression], ids=lambda n: n.name
)
def test_every_other_data_set_is_classification(name):
    dm = build_datamodule(DataConfig(name=name))  # metadata only: no file is read
    assert dm.task is Task.classification


def test_num_targets_is_validated():
    with pytest.raises(ConfigError, match=r"data\.num_targets=0 is out of range"):
        DataConfig(num_targets=0)
    with pytest.raises(ConfigError, match=r"data\.num_targets=1\.5 must be an integer"):
        DataConfig(num_targets=1.5)


def test_dataset_info_rejects_unknown_task():
    with pytest.raises(
        ConfigError, match=r"DatasetInfo\.task='ranking' is not a valid choice; allowed: classification, regression"
    ):
        DatasetInfo(2, (3,), None, False, task="ranking")
