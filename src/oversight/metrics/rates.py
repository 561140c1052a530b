"""Rates over artifacts that come in clusters (several artifacts per program).

Artifacts of one program are not independent trials, so a bootstrap must resample programs,
not artifacts; and a rate of 0 or 1 has a percentile bootstrap collapsed to a point. The
interval of :func:`clustered_rate` is therefore the wider of the two honest ones: the Wilson
interval (binomial, informative at zero counts) and the cluster bootstrap (programs vary).
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import ArrayLike

from oversight.metrics.estimate import Estimate, check_bootstrap_args, percentile_interval
from oversight.metrics.formulas import wilson_interval


def cluster_bootstrap(
    values: ArrayLike,
    clusters: ArrayLike,
    n_boot: int = 1000,
    alpha: float = 0.05,
    seed: int = 0,
) -> tuple[float, float]:
    """Percentile interval of the pooled mean of ``values`` when whole clusters (one label per
    value) are resampled with replacement."""
    check_bootstrap_args(n_boot, alpha)
    x = np.asarray(values, dtype=float)
    labels = np.asarray(clusters)
    if x.shape != labels.shape or x.ndim != 1:
        raise ValueError(
            f"values and clusters must be 1-d of one shape, got {x.shape}, {labels.shape}"
        )
    if x.size == 0:
        return (float("nan"), float("nan"))
    _, inverse = np.unique(labels, return_inverse=True)
    sums = np.bincount(inverse, weights=x)
    counts = np.bincount(inverse).astype(float)
    picks = np.random.default_rng(seed).integers(0, sums.size, size=(n_boot, sums.size))
    return percentile_interval(sums[picks].sum(1) / counts[picks].sum(1), alpha)


def clustered_rate(
    successes: ArrayLike,
    clusters: ArrayLike,
    n_boot: int = 1000,
    alpha: float = 0.05,
    seed: int = 0,
) -> Estimate:
    """The share of successes with the wider of the Wilson and cluster-bootstrap intervals."""
    x = np.asarray(successes, dtype=bool)
    if x.size == 0:
        return Estimate.undefined(0)
    w_lo, w_hi = wilson_interval(int(x.sum()), int(x.size))
    b_lo, b_hi = cluster_bootstrap(x, clusters, n_boot, alpha, seed)
    return Estimate(float(x.mean()), min(w_lo, b_lo), max(w_hi, b_hi), int(x.size))


# Student t quantiles t_{0.975, df} for df = 1..30; beyond, the normal 1.96 is within 2%.
_T975 = (
    12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228,
    2.201, 2.179, 2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086,
    2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042,
)  # fmt: skip


def t_interval(values: ArrayLike, low: float = -math.inf, high: float = math.inf) -> Estimate:
    """Mean of per-replicate values (seeds) with a 95% Student t interval, clipped to
    ``[low, high]`` (a rate's interval stays in [0, 1]); NaN values are dropped, and the
    interval is NaN with fewer than two replicates."""
    v = np.asarray(values, dtype=float)
    v = v[~np.isnan(v)]
    if v.size == 0:
        return Estimate.undefined(0)
    mean = float(v.mean())
    if v.size < 2:
        return Estimate(mean, float("nan"), float("nan"), 1)
    t = _T975[v.size - 2] if v.size - 1 <= len(_T975) else 1.96
    half = t * float(v.std(ddof=1)) / math.sqrt(v.size)
    return Estimate(mean, max(low, mean - half), min(high, mean + half), int(v.size))
