"""Calibration: reliability bins and expected calibration error (ECE).

One computation for every predicted probability of a binary event: a judge's confidence in the
answer it chose against whether it was right (top-label calibration), or a reward model's
P(acceptable) against gold or against the judge's verdicts. A calibrated predictor is right on
70% of the items it gives 0.7. Bins split [0, 1] into equal widths; the last bin includes 1.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike


@dataclass(frozen=True)
class Reliability:
    """Per bin: mean confidence, accuracy and count (NaN where a bin is empty)."""

    confidence: np.ndarray
    accuracy: np.ndarray
    count: np.ndarray


def _inputs(confidence: ArrayLike, correct: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    c = np.asarray(confidence, dtype=float)
    y = np.asarray(correct, dtype=float)
    if c.shape != y.shape or c.ndim != 1:
        raise ValueError(f"confidence and correct must be 1-D of one length: {c.shape}, {y.shape}")
    if np.isnan(c).any() or np.any((c < 0) | (c > 1)):
        raise ValueError("confidence must lie in [0, 1]")
    return c, y


def reliability(confidence: ArrayLike, correct: ArrayLike, bins: int = 10) -> Reliability:
    """The reliability diagram's points over ``bins`` equal-width bins."""
    if bins < 1:
        raise ValueError(f"bins must be at least 1, got {bins}")
    c, y = _inputs(confidence, correct)
    which = np.minimum((c * bins).astype(int), bins - 1)
    count = np.bincount(which, minlength=bins).astype(float)
    with np.errstate(invalid="ignore", divide="ignore"):
        conf = np.bincount(which, weights=c, minlength=bins) / count
        acc = np.bincount(which, weights=y, minlength=bins) / count
    return Reliability(conf, acc, count.astype(int))


def expected_calibration_error(confidence: ArrayLike, correct: ArrayLike, bins: int = 10) -> float:
    """Count-weighted mean of ``|accuracy - confidence|`` over bins (NaN with no items)."""
    r = reliability(confidence, correct, bins)
    n = r.count.sum()
    if n == 0:
        return float("nan")
    keep = r.count > 0
    gaps = np.abs(r.accuracy[keep] - r.confidence[keep])
    return float((gaps * r.count[keep]).sum() / n)
