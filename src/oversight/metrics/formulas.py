"""Closed-form predictions that measured rates can be checked against."""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from oversight.metrics.estimate import Estimate


def random_testing_catch_rate(rho: ArrayLike, t: ArrayLike) -> float | np.ndarray:
    """Probability ``1 - (1 - rho)^t`` that ``t`` random tests hit a set of input share ``rho``.

    Each test draws an input independently and uniformly; the flaw is caught if any draw
    lands in the set of bad inputs, which is a fraction ``rho`` of the input space.
    Vectorized: broadcasts ``rho`` and ``t`` and returns an array unless both are scalars.
    """
    rho_arr = np.asarray(rho, dtype=float)
    t_arr = np.asarray(t, dtype=float)
    if np.any((rho_arr < 0) | (rho_arr > 1) | np.isnan(rho_arr)):
        raise ValueError("rho must lie in [0, 1]")
    if np.any((t_arr < 0) | np.isnan(t_arr)):
        raise ValueError("t must be non-negative")
    # expm1/log1p keep precision when rho is tiny, where 1 - (1 - rho)^t would cancel.
    with np.errstate(divide="ignore", invalid="ignore"):
        result = -np.expm1(t_arr * np.log1p(-rho_arr))
    # rho = 1 gives log1p(-1) = -inf; any test then catches it, zero tests catch nothing.
    result = np.where(rho_arr == 1.0, np.where(t_arr > 0, 1.0, 0.0), result)
    return float(result) if result.ndim == 0 else result


def matches_formula(measured: Estimate, predicted: float, tol: float = 1e-9) -> bool:
    """True iff ``predicted`` lies in the measured CI ``[ci_low, ci_high]``, widened by ``tol``
    for rounding (False if NaN)."""
    return bool(measured.ci_low - tol <= predicted <= measured.ci_high + tol)


def wilson_interval(successes: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """Wilson score interval of a binomial rate: unlike a percentile bootstrap, it does not
    collapse to a point when every trial agrees (0 of 40 still admits a rate of a few %)."""
    if n == 0:
        return (float("nan"), float("nan"))
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return (float(max(0.0, centre - half)), float(min(1.0, centre + half)))


def rate_matches_formula(successes: int, n: int, predicted: float) -> bool:
    """True iff ``predicted`` is inside the Wilson 95% interval of ``successes / n``."""
    lo, hi = wilson_interval(successes, n)
    return bool(lo - 1e-9 <= predicted <= hi + 1e-9)
