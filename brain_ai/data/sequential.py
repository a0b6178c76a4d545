"""Sequential images (``data=smnist``): each 28 x 28 image read as a sequence of pixel groups.

The 784 pixels are taken in raster order (row by row, top row first), optionally shuffled by one
fixed permutation (``data.permute``, drawn from ``data.permutation_seed``), then cut into
``T = 784 / k`` steps of ``k`` consecutive pixels: ``k = 28`` in ``data.mode=row`` (one image row per
step), ``k = data.pixels_per_step`` in ``data.mode=pixel``. An item is ``x (T, k)`` float32 in
[0, 1] (pixel / 255, the image set's own scaling; any further normalisation is the encoder's,
``encoding=direct``). The images, labels and train / val / test splits are those of
``data.source`` (mnist5k by default, or mnist / fashion_mnist from disk), so ``data=smnist``
and ``data=mnist5k`` hold out the same images.
"""

from __future__ import annotations

from typing import Mapping, Optional

import numpy as np
import torch
from torch import Tensor, nn

from brain_ai.config import SEQUENCE_IMAGE_PIXELS, SEQUENCE_IMAGE_SIDE, DataConfig, DatasetName
from brain_ai.data.augment import random_shift
from brain_ai.data.base import ArrayDataset, DatasetInfo, DataSource, LoadedData


def pixel_order(cfg: DataConfig) -> np.ndarray:
    """The order ``(784,)`` int64 in which the pixels of a flattened image are fed: raster order,
    or with ``cfg.permute`` the permutation drawn from ``cfg.permutation_seed`` (numpy PCG64, so
    the same seed gives the same permutation on every machine and in every run)."""
    if not cfg.permute:
        return np.arange(SEQUENCE_IMAGE_PIXELS)
    return np.random.default_rng(cfg.permutation_seed).permutation(SEQUENCE_IMAGE_PIXELS)


def as_sequences(images: ArrayDataset, order: np.ndarray, step_pixels: int) -> ArrayDataset:
    """``images`` with inputs ``(N, 1, 28, 28)`` -> the same samples as ``(N, T, step_pixels)``,
    pixels taken in ``order`` (stored in the images' own dtype and scale)."""
    flat = images.inputs.flatten(1)[:, torch.as_tensor(order)]  # (N, 784)
    return ArrayDataset(flat.reshape(len(flat), -1, step_pixels), images.targets, images.scale)


class SequentialImages(DataSource):
    """``x (T, k)`` pixel sequences of the 28 x 28 image set ``data.source`` (see the module doc).

    ``images`` maps each allowed source name to its :class:`DataSource` (the registry's own
    entries: their loaders, on-disk formats, downloads and splits are reused unchanged).
    """

    def __init__(self, images: Mapping[DatasetName, DataSource]) -> None:
        self.images = images

    def info(self, cfg: DataConfig) -> DatasetInfo:
        return DatasetInfo(
            num_outputs=10, sample_shape=(cfg.step_pixels,), time_steps=cfg.sequence_steps, is_event_data=False
        )

    def download(self, cfg: DataConfig) -> None:
        self.images[cfg.source].download(cfg)

    def batch_transform(self, cfg: DataConfig, max_shift: int) -> Optional[nn.Module]:
        """The images behind the sequences shifted (:class:`SequenceShift`); None for ``max_shift=0``."""
        return SequenceShift(pixel_order(cfg), max_shift) if max_shift else None

    def load(self, cfg: DataConfig) -> LoadedData:
        loaded = self.images[cfg.source].load(cfg)
        order = pixel_order(cfg)
        return LoadedData(
            train=as_sequences(loaded.train, order, cfg.step_pixels),
            train_targets=loaded.train_targets,
            test=as_sequences(loaded.test, order, cfg.step_pixels),
        )


def shift_sequences(x: Tensor, order: Tensor, max_shift: int, generator: Optional[torch.Generator] = None) -> Tensor:
    """:func:`~brain_ai.data.augment.random_shift` of the images behind pixel sequences.

    ``x (B, T, k)`` holds each 28 x 28 image's pixels in ``order (784,)`` (:func:`pixel_order`):
    the images are rebuilt, each shifted by its own random offset in ``[-max_shift, max_shift]``
    pixels (zeros fill in), and read out again in ``order``. Same shape as ``x``.
    """
    b = x.shape[0]
    side = SEQUENCE_IMAGE_SIDE
    flat = torch.empty_like(x.reshape(b, -1)).index_copy(1, order, x.reshape(b, -1))  # (B, 784) raster order
    shifted = random_shift(flat.view(b, 1, side, side), max_shift, generator).reshape(b, -1)
    return shifted[:, order].reshape(x.shape)


class SequenceShift(nn.Module):
    """Batch transform of pixel sequences ``x (B, T, k)``: :func:`shift_sequences` in the pixel
    ``order`` (784,) of the data (a buffer, so it follows the module to the batches' device; not saved)."""

    def __init__(self, order: np.ndarray, max_shift: int) -> None:
        super().__init__()
        self.max_shift = max_shift
        self.register_buffer("order", torch.as_tensor(order), persistent=False)

    def forward(self, x: Tensor, generator: Optional[torch.Generator] = None) -> Tensor:
        return shift_sequences(x, self.order, self.max_shift, generator)
