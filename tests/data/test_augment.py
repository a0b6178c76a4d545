"""Random image shifts for static data (data.augment_shift), checked against a numpy reference."""

import numpy as np
import pytest
import torch

from brain_ai.data.augment import random_shift


def _numpy_shift(img: np.ndarray, dy: int, dx: int, s: int) -> np.ndarray:
    """Reference: zero-pad by s, crop the H x W window starting at (dy, dx)."""
    c, h, w = img.shape
    padded = np.zeros((c, h + 2 * s, w + 2 * s), img.dtype)
    padded[:, s : s + h, s : s + w] = img
    return padded[:, dy : dy + h, dx : dx + w]


def test_random_shift_matches_numpy_reference_per_sample():
    x = torch.rand(6, 2, 5, 7)
    torch.manual_seed(3)
    out = random_shift(x, 2)
    torch.manual_seed(3)
    dy = torch.randint(0, 5, (6,))
    dx = torch.randint(0, 5, (6,))
    for i in range(6):
        ref = _numpy_shift(x[i].numpy(), int(dy[i]), int(dx[i]), 2)
        np.testing.assert_array_equal(out[i].numpy(), ref)
    assert len({(int(a), int(b)) for a, b in zip(dy, dx)}) > 1  # offsets differ per sample


def test_zero_shift_is_identity_and_bad_rank_is_an_error():
    x = torch.rand(2, 1, 4, 4)
    assert random_shift(x, 0) is x
    with pytest.raises(ValueError, match=r"expects images \(B, C, H, W\)"):
        random_shift(torch.rand(2, 3, 4), 1)
