"""data=smnist: images read as pixel sequences, against a numpy reference on the image files."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from brain_ai.config import DataConfig
from brain_ai.data import build_datamodule


def reference(image: np.ndarray, order: np.ndarray, step_pixels: int) -> np.ndarray:
    """``image (28, 28)`` uint8 -> ``(784 / step_pixels, step_pixels)`` in [0, 1], pixels in ``order``."""
    return (image.reshape(784)[order] / 255.0).reshape(-1, step_pixels)


def split_items(dm):
    """``[(split name, index into the source file's split, x, y), ...]`` for every sample of every split."""
    for name in ("train_set", "val_set"):
        subset = getattr(dm, name)
        for k, i in enumerate(subset.indices):
            yield name, "train", i, *subset[k]
    for i in range(len(dm.test_set)):
        yield "test_set", "t10k", i, *dm.test_set[i]


MODES = [  # (mode, pixels_per_step, T, features per step)
    ("row", 1, 28, 28),
    ("pixel", 1, 784, 1),
    ("pixel", 4, 196, 4),
]


@pytest.mark.parametrize("permute", [False, True], ids=["raster", "permuted"])
@pytest.mark.parametrize("mode, k, steps, features", MODES, ids=[f"{m}{k}" for m, k, _, _ in MODES])
def test_sequences_match_numpy_reference_in_every_split(idx_root, mode, k, steps, features, permute):
    files = idx_root("MNIST")
    cfg = DataConfig(
        name="smnist",
        source="mnist",
        root=str(files.root),
        val_fraction=0.2,
        batch_size=8,
        mode=mode,
        pixels_per_step=k,
        permute=permute,
        permutation_seed=7,
    )
    dm = build_datamodule(cfg)
    assert (dm.num_outputs, dm.sample_shape, dm.time_steps, dm.is_event_data, dm.is_value_sequence) == (
        10,
        (features,),
        steps,
        False,
        True,
    )
    dm.setup()
    # the one permutation, drawn with numpy's default generator from data.permutation_seed
    order = np.random.default_rng(7).permutation(784) if permute else np.arange(784)
    images = {"train": files.train, "t10k": files.test}
    for _, split, i, x, y in split_items(dm):
        image, label = images[split][0][i], images[split][1][i]
        assert y == label and x.dtype == torch.float32 and x.shape == (steps, features)
        np.testing.assert_allclose(x.numpy(), reference(image, order, features), rtol=0, atol=1e-7)
        if mode == "row" and not permute:  # step t is image row t
            np.testing.assert_allclose(x.numpy(), image / 255.0, rtol=0, atol=1e-7)
    # the same train / val / test split as data=mnist itself
    images_dm = build_datamodule(DataConfig(name="mnist", root=str(files.root), val_fraction=0.2))
    images_dm.setup()
    assert dm.train_set.indices == images_dm.train_set.indices and dm.val_set.indices == images_dm.val_set.indices
    x, y = next(iter(dm.test_dataloader()))
    assert x.shape == (8, steps, features) and y.tolist() == files.test[1][:8].tolist()


def test_permutation_is_fixed_by_its_seed(idx_root):
    files = idx_root("MNIST")

    def test_inputs(seed: int) -> torch.Tensor:
        dm = build_datamodule(
            DataConfig(
                name="smnist", source="mnist", root=str(files.root), mode="pixel", permute=True, permutation_seed=seed
            )
        )
        dm.setup()
        return torch.stack([dm.test_set[i][0] for i in range(len(dm.test_set))])  # (N, 784, 1)

    first, again, other = test_inputs(3), test_inputs(3), test_inputs(4)
    assert torch.equal(first, again)
    assert not torch.equal(first, other)
    raster = torch.as_tensor(files.test[0].reshape(-1, 784) / 255.0, dtype=torch.float32)
    assert not torch.equal(first[..., 0], raster)  # really permuted ...
    assert torch.equal(first[..., 0].sort(-1).values, raster.sort(-1).values)  # ... the same pixels


def test_default_source_is_mnist5k_with_its_split():
    dm = build_datamodule(DataConfig(name="smnist"))
    assert (dm.sample_shape, dm.time_steps) == ((28,), 28)
    dm.setup()
    images_dm = build_datamodule(DataConfig(name="mnist5k"))
    images_dm.setup()
    assert (len(dm.train_set), len(dm.val_set), len(dm.test_set)) == (3600, 400, 1000)
    assert dm.train_set.indices == images_dm.train_set.indices
    for i in (0, 1234, 3999):  # sample i of the source's train split, read row by row
        (xs, ys), (x0, y0) = dm.train_set.dataset[i], images_dm.train_set.dataset[i]
        assert ys == y0 and torch.equal(xs, x0[0])


@pytest.mark.parametrize("permute", [False, True])
@pytest.mark.parametrize("step_pixels", [28, 1, 4])
def test_shift_sequences_shifts_the_images_behind_the_sequences(permute, step_pixels):
    """Rebuilding the images from shifted sequences equals shifting the images themselves
    (random_shift with the same generator seed), in every mode, permuted or not."""
    from brain_ai.data.augment import random_shift
    from brain_ai.data.sequential import pixel_order, shift_sequences

    order = torch.as_tensor(pixel_order(DataConfig(name="smnist", permute=permute, permutation_seed=3)))
    images = torch.rand(5, 1, 28, 28)
    seqs = images.flatten(1)[:, order].reshape(5, -1, step_pixels)  # (B, T, k), as the data set yields
    shifted = shift_sequences(seqs, order, 2, torch.Generator().manual_seed(9))
    expected = random_shift(images, 2, torch.Generator().manual_seed(9)).flatten(1)[:, order].reshape(seqs.shape)
    assert torch.equal(shifted, expected)
    assert not torch.equal(shifted, seqs)
