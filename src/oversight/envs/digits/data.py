"""The 8x8 digits data set and the pixel masks a sparse judge sees.

Images are flattened to 64 pixels in row-major order, scaled to ``[0, 1]`` (sklearn's 17 grey
levels, 0..16, divided by 16). A *mask* is a boolean ``(B, 64)`` array: ``True`` where a pixel is
revealed to the judge. Following the paper, only nonzero pixels are ever revealed.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

SIDE = 8
N_PIXELS = SIDE * SIDE
N_CLASSES = 10
MAX_GREY = 16.0  # sklearn's digits take the integer values 0..16


@dataclass(frozen=True)
class DigitsSplit:
    """A train/test split: images ``(N, 64)`` float32 in ``[0, 1]``, labels ``(N,)`` int64."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray


def load_digits_split(seed: int = 0, test_size: float = 0.3) -> DigitsSplit:
    """sklearn's 1,797 digits, split with class stratification (deterministic given ``seed``).

    Needs scikit-learn (the ``digits`` extra); the data ship with it, nothing is downloaded.
    """
    # Imported here so that the rest of oversight works without scikit-learn.
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    bunch = load_digits()
    x = (np.asarray(bunch.data, dtype=np.float64) / MAX_GREY).astype(np.float32)
    y = np.asarray(bunch.target, dtype=np.int64)
    x_train, x_test, y_train, y_test = train_test_split(
        x, y, test_size=test_size, stratify=y, random_state=seed
    )
    return DigitsSplit(
        x_train=np.ascontiguousarray(x_train),
        y_train=np.ascontiguousarray(y_train),
        x_test=np.ascontiguousarray(x_test),
        y_test=np.ascontiguousarray(y_test),
    )


def nonzero_pixels(image: np.ndarray) -> np.ndarray:
    """Sorted indices (int64) of the nonzero pixels of one flattened image ``(64,)``."""
    return np.flatnonzero(np.asarray(image).reshape(-1)).astype(np.int64)


def mask_from_pixels(pixels: np.ndarray | list[int] | tuple[int, ...]) -> np.ndarray:
    """A ``(64,)`` boolean mask revealing exactly ``pixels`` (repeats are harmless)."""
    mask = np.zeros(N_PIXELS, dtype=bool)
    mask[np.asarray(pixels, dtype=np.int64)] = True
    return mask


def masks_from_indices(indices: np.ndarray) -> np.ndarray:
    """Boolean masks ``(B, 64)`` from pixel indices ``(B, m)``; negative entries are padding.

    Lets a caller with ragged pixel lists (e.g. debates of different lengths) pad with ``-1``.
    """
    indices = np.asarray(indices, dtype=np.int64)
    if indices.ndim != 2:
        raise ValueError(f"indices must be 2-D (B, m), got shape {indices.shape}")
    masks = np.zeros((indices.shape[0], N_PIXELS + 1), dtype=bool)
    # Padding (-1) goes to a spare column that is dropped, so no Python loop over rows.
    cols = np.where(indices < 0, N_PIXELS, indices)
    masks[np.arange(indices.shape[0])[:, None], cols] = True
    return masks[:, :N_PIXELS]


def random_masks(images: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    """Reveal ``k`` distinct random nonzero pixels of each image: boolean ``(B, 64)``.

    An image with fewer than ``k`` nonzero pixels has all of them revealed. Vectorized: each
    pixel draws a uniform key, zero pixels get ``+inf``, and the ``k`` smallest keys win, which is
    a uniform random ``k``-subset of the nonzero pixels.
    """
    images = np.asarray(images)
    if images.ndim != 2 or images.shape[1] != N_PIXELS:
        raise ValueError(f"images must have shape (B, {N_PIXELS}), got {images.shape}")
    if k < 0:
        raise ValueError(f"k must be non-negative, got {k}")
    batch = images.shape[0]
    masks = np.zeros((batch, N_PIXELS), dtype=bool)
    k = min(k, N_PIXELS)
    if k == 0 or batch == 0:
        return masks
    nonzero = images != 0
    keys = rng.random((batch, N_PIXELS))
    keys[~nonzero] = np.inf
    if k < N_PIXELS:
        chosen = np.argpartition(keys, k - 1, axis=1)[:, :k]
    else:
        chosen = np.broadcast_to(np.arange(N_PIXELS), (batch, N_PIXELS))
    masks[np.arange(batch)[:, None], chosen] = True
    # Images with fewer than k nonzero pixels picked some zero (+inf) pixels: drop those.
    return masks & nonzero
