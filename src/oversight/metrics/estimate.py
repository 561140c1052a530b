"""Point estimates with percentile-bootstrap confidence intervals."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

NAN = float("nan")


@dataclass(frozen=True)
class Estimate:
    """A statistic with a confidence interval and the sample size it came from.

    All three floats are NaN when the statistic is undefined (for instance ``n == 0``).
    """

    value: float
    ci_low: float
    ci_high: float
    n: int

    @classmethod
    def undefined(cls, n: int = 0) -> Estimate:
        """An estimate whose value and interval are NaN (no data, or the statistic is undefined)."""
        return cls(NAN, NAN, NAN, n)

    def flat(self, name: str) -> dict[str, float | int]:
        """Flat record fields ``{name, name.ci_low, name.ci_high, name.n}`` for tables and JSON."""
        return {
            name: self.value,
            f"{name}.ci_low": self.ci_low,
            f"{name}.ci_high": self.ci_high,
            f"{name}.n": self.n,
        }


MISSING = "–"
"""What :func:`format_estimate` shows for an undefined (NaN) or missing value."""


def format_estimate(
    est: Estimate | float | None,
    low: float | None = None,
    high: float | None = None,
    *,
    digits: int = 2,
    percent: bool = False,
    scale: float = 1.0,
) -> str:
    """An estimate as ``value [low, high]``, e.g. ``0.82 [0.78, 0.85]``: the one CI style.

    ``est`` is an :class:`Estimate` or a point value with its bounds in ``low`` and ``high``.
    All three are multiplied by ``scale`` and shown with ``digits`` decimals (as percentages
    with ``percent``). An undefined or missing value is :data:`MISSING`; a value whose interval
    is undefined or missing is shown alone.
    """
    if isinstance(est, Estimate):
        if low is not None or high is not None:
            raise TypeError("pass low and high only with a point value, not with an Estimate")
        low, high = est.ci_low, est.ci_high
        est = est.value
    if est is None or math.isnan(est):
        return MISSING
    spec = f".{digits}{'%' if percent else 'f'}"
    text = f"{est * scale:{spec}}"
    if low is None or high is None or math.isnan(low) or math.isnan(high):
        return text
    return f"{text} [{low * scale:{spec}}, {high * scale:{spec}}]"


def format_ci(metrics: Mapping[str, Any], key: str, digits: int = 2) -> str:
    """:func:`format_estimate` of a flat metric (``NAME``, ``NAME.ci_low``, ``NAME.ci_high``);
    :data:`MISSING` when it is absent."""
    return format_estimate(
        metrics.get(key), metrics.get(f"{key}.ci_low"), metrics.get(f"{key}.ci_high"), digits=digits
    )


def check_bootstrap_args(n_boot: int, alpha: float) -> None:
    """Raise ``ValueError`` unless ``n_boot >= 1`` and ``0 < alpha < 1``."""
    if n_boot < 1:
        raise ValueError(f"n_boot must be at least 1, got {n_boot}")
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha must lie in (0, 1), got {alpha}")


def resample_indices(
    n: int,
    n_boot: int,
    generator: np.random.Generator,
    strata: ArrayLike | None = None,
) -> np.ndarray:
    """An ``(n_boot, n)`` matrix of resampling indices, one bootstrap resample per row.

    With ``strata`` (one label per item), each stratum is resampled within itself and keeps
    its size and its column positions, so ``strata[idx]`` equals ``strata`` row by row.
    """
    if strata is None:
        return generator.integers(0, n, size=(n_boot, n)) if n else np.zeros((n_boot, 0), int)
    labels = np.asarray(strata)
    if labels.shape != (n,):
        raise ValueError(f"strata must have shape ({n},), got {labels.shape}")
    out = np.empty((n_boot, n), dtype=np.intp)
    for label in np.unique(labels):
        members = np.flatnonzero(labels == label)
        out[:, members] = members[generator.integers(0, members.size, size=(n_boot, members.size))]
    return out


def percentile_interval(replicates: ArrayLike, alpha: float = 0.05) -> tuple[float, float]:
    """The ``(alpha/2, 1 - alpha/2)`` percentile interval of bootstrap replicates.

    NaN replicates (resamples on which the statistic is undefined) are dropped; if none
    remain the interval is ``(nan, nan)``.
    """
    values = np.asarray(replicates, dtype=float).ravel()
    values = values[~np.isnan(values)]
    if values.size == 0:
        return NAN, NAN
    low, high = np.quantile(values, [alpha / 2, 1 - alpha / 2])
    return float(low), float(high)


def make_estimate(value: float, replicates: ArrayLike, n: int, alpha: float) -> Estimate:
    """An :class:`Estimate` from a point value and its bootstrap replicates.

    A NaN point value makes the whole estimate undefined: an interval around a statistic
    that does not exist on the observed data would be misleading.
    """
    if math.isnan(value):
        return Estimate.undefined(n)
    low, high = percentile_interval(replicates, alpha)
    return Estimate(float(value), low, high, n)


def bootstrap(
    stat: Callable[..., float],
    *arrays: ArrayLike,
    n_boot: int = 1000,
    alpha: float = 0.05,
    seed: int = 0,
    strata: ArrayLike | None = None,
) -> Estimate:
    """Percentile-bootstrap estimate of ``stat(*arrays)``.

    All arrays are resampled along their first axis with the same indices (paired
    resampling), so they must share that length, which becomes ``n``. With ``strata``
    (one label per item) resampling happens within each stratum, e.g. positives and
    negatives separately. Deterministic given ``seed``. Returns NaNs with ``n = 0`` when
    the arrays are empty.
    """
    check_bootstrap_args(n_boot, alpha)
    if not arrays:
        raise ValueError("bootstrap needs at least one array")
    data = [np.asarray(a) for a in arrays]
    n = len(data[0])
    if any(len(a) != n for a in data):
        raise ValueError(f"arrays must share their length, got {[len(a) for a in data]}")
    if n == 0:
        return Estimate.undefined(0)
    idx = resample_indices(n, n_boot, np.random.default_rng(seed), strata)
    replicates = np.array([stat(*(a[row] for a in data)) for row in idx], dtype=float)
    return make_estimate(float(stat(*data)), replicates, n, alpha)


def rate(
    successes: ArrayLike,
    *,
    n_boot: int = 1000,
    alpha: float = 0.05,
    seed: int = 0,
) -> Estimate:
    """Success rate (mean of a boolean or 0/1 array) with a percentile-bootstrap CI.

    Returns NaNs with ``n = 0`` for an empty array.
    """
    check_bootstrap_args(n_boot, alpha)
    x = np.asarray(successes, dtype=float)
    if x.ndim != 1:
        raise ValueError(f"successes must be one-dimensional, got shape {x.shape}")
    if x.size == 0:
        return Estimate.undefined(0)
    # One index matrix, one vectorized mean: no Python loop over resamples.
    idx = resample_indices(x.size, n_boot, np.random.default_rng(seed))
    return make_estimate(float(x.mean()), x[idx].mean(axis=1), x.size, alpha)
