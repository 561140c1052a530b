"""Proper scoring rules for a judge's probabilities: log loss and Brier score.

A judge that gives probabilities, not only a verdict, is scored on them: log loss punishes
confident mistakes without bound, the Brier score is bounded. Lower is better for both.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from oversight.metrics.estimate import Estimate, bootstrap

EPS = 1e-12  # probabilities are clipped here so a confident mistake costs a large, finite loss


def log_loss(probs: ArrayLike, labels: ArrayLike) -> np.ndarray:
    """Per-item ``-log p[label]`` for probabilities ``probs`` of shape (N, C)."""
    p = np.asarray(probs, dtype=float)
    y = np.asarray(labels, dtype=int)
    return -np.log(np.clip(p[np.arange(len(y)), y], EPS, 1.0))


def brier_score(probs: ArrayLike, labels: ArrayLike) -> np.ndarray:
    """Per-item ``sum_c (p_c - [c == label])^2`` (0 is perfect, 2 the worst)."""
    p = np.asarray(probs, dtype=float)
    y = np.asarray(labels, dtype=int)
    onehot = np.zeros_like(p)
    onehot[np.arange(len(y)), y] = 1.0
    return ((p - onehot) ** 2).sum(axis=1)


def mean_ci(values: ArrayLike, n_boot: int = 1000, seed: int = 0) -> Estimate:
    """Mean of per-item scores with a bootstrap CI."""
    v = np.asarray(values, dtype=float)
    if v.size == 0:
        return Estimate.undefined()
    return bootstrap(np.mean, v, n_boot=n_boot, seed=seed)
