"""ROC analysis of scores that should separate positives from negatives."""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from oversight.metrics.estimate import (
    Estimate,
    check_bootstrap_args,
    make_estimate,
    resample_indices,
)

# Upper bound on elements per batch when ranking many resamples at once; keeps the rank
# temporaries to a few tens of MB whatever n_boot and the sample sizes are.
_BATCH_ELEMENTS = 2_000_000


def scores_1d(scores: ArrayLike, name: str) -> np.ndarray:
    """``scores`` as a 1-D float array; raises ``ValueError`` on NaN, which has no rank."""
    x = np.asarray(scores, dtype=float)
    if x.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional, got shape {x.shape}")
    if np.isnan(x).any():
        raise ValueError(f"{name} contains NaN")
    return x


def _average_ranks_rows(x: np.ndarray) -> np.ndarray:
    """1-based ranks within each row of ``x``, tied values sharing their average rank."""
    n = x.shape[1]
    order = np.argsort(x, axis=1, kind="stable")
    s = np.take_along_axis(x, order, axis=1)
    position = np.broadcast_to(np.arange(n), x.shape)
    starts = np.ones(x.shape, dtype=bool)
    starts[:, 1:] = s[:, 1:] != s[:, :-1]
    ends = np.ones(x.shape, dtype=bool)
    ends[:, :-1] = starts[:, 1:]
    # First and last sorted position of each tie group, spread over the group.
    first = np.maximum.accumulate(np.where(starts, position, 0), axis=1)
    last = np.minimum.accumulate(np.where(ends, position, n - 1)[:, ::-1], axis=1)[:, ::-1]
    ranks = np.empty(x.shape, dtype=float)
    np.put_along_axis(ranks, order, (first + last) / 2 + 1, axis=1)
    return ranks


def auc_rows(pos: np.ndarray, neg: np.ndarray) -> np.ndarray:
    """Row-wise ROC-AUC of ``pos`` (B, n_pos) against ``neg`` (B, n_neg); ties count 1/2."""
    n_pos, n_neg = pos.shape[1], neg.shape[1]
    if n_pos == 0 or n_neg == 0:
        return np.full(pos.shape[0], np.nan)
    out = np.empty(pos.shape[0])
    step = max(1, _BATCH_ELEMENTS // (n_pos + n_neg))
    for start in range(0, pos.shape[0], step):
        rows = slice(start, start + step)
        ranks = _average_ranks_rows(np.concatenate([pos[rows], neg[rows]], axis=1))
        # Mann-Whitney U of the positives, normalised to a probability.
        u = ranks[:, :n_pos].sum(axis=1) - n_pos * (n_pos + 1) / 2
        out[rows] = u / (n_pos * n_neg)
    return out


def roc_auc(pos_scores: ArrayLike, neg_scores: ArrayLike) -> float:
    """Probability that a random positive scores higher than a random negative (ROC-AUC).

    Ties count 1/2: a tied (positive, negative) pair contributes half a win. Computed from
    average ranks (Mann-Whitney U) in O(n log n). NaN if either set is empty.
    """
    pos = scores_1d(pos_scores, "pos_scores")
    neg = scores_1d(neg_scores, "neg_scores")
    return float(auc_rows(pos[None, :], neg[None, :])[0])


def roc_auc_ci(
    pos_scores: ArrayLike,
    neg_scores: ArrayLike,
    n_boot: int = 1000,
    seed: int = 0,
    alpha: float = 0.05,
) -> Estimate:
    """ROC-AUC (ties count 1/2) with a stratified percentile-bootstrap CI.

    Positives and negatives are resampled separately, so every resample keeps both class
    sizes. ``n`` is ``len(pos) + len(neg)``; NaNs if either set is empty.
    """
    check_bootstrap_args(n_boot, alpha)
    pos = scores_1d(pos_scores, "pos_scores")
    neg = scores_1d(neg_scores, "neg_scores")
    n = pos.size + neg.size
    if pos.size == 0 or neg.size == 0:
        return Estimate.undefined(n)
    generator = np.random.default_rng(seed)
    idx_pos = resample_indices(pos.size, n_boot, generator)
    idx_neg = resample_indices(neg.size, n_boot, generator)
    replicates = auc_rows(pos[idx_pos], neg[idx_neg])
    return make_estimate(roc_auc(pos, neg), replicates, n, alpha)


def roc_curve(pos_scores: ArrayLike, neg_scores: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """ROC points ``(fpr, tpr)`` for plotting, from (0, 0) to (1, 1).

    One point per distinct score ``t`` (highest first), classifying ``score >= t`` as
    positive; tied scores move the curve diagonally, so the trapezoidal area under the
    points equals :func:`roc_auc`. Both arrays are empty if either set is empty.
    """
    pos = scores_1d(pos_scores, "pos_scores")
    neg = scores_1d(neg_scores, "neg_scores")
    if pos.size == 0 or neg.size == 0:
        return np.empty(0), np.empty(0)
    scores = np.concatenate([pos, neg])
    is_pos = np.concatenate([np.ones(pos.size), np.zeros(neg.size)])
    order = np.argsort(-scores, kind="stable")
    s, y = scores[order], is_pos[order]
    # Last sorted position of each distinct score: thresholds fall between distinct values.
    group_end = np.r_[s[1:] != s[:-1], True]
    tpr = np.r_[0.0, np.cumsum(y)[group_end] / pos.size]
    fpr = np.r_[0.0, np.cumsum(1.0 - y)[group_end] / neg.size]
    return fpr, tpr
