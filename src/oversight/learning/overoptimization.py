"""Least-squares fits of Gao, Schulman, Hilton (2022)'s overoptimization curves.

Gold reward as a function of ``d = sqrt(KL(pi || pi_init))`` (:func:`d_from_kl`), both centred
so that ``R(0) = 0`` on the initial policy:

- best-of-n: ``R(d) = d (alpha - beta d)`` (:func:`fit_bon`);
- RL: ``R(d) = d (alpha - beta log d)`` (:func:`fit_rl`), which is not meant to hold near 0, and
  whose ``d log d`` term is undefined at ``d = 0``: such points are left out and counted.

Both are linear in ``(alpha, beta)``, so the fit is ordinary least squares without an intercept
(the forms have none). A fit needs at least :data:`MIN_POINTS` usable points and two distinct
non-zero ``d``; an experiment should supply six or more.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike

Form = Literal["bon", "rl"]

MIN_POINTS = 3
"""Fewest points a fit accepts: two parameters need at least one residual degree of freedom."""

_KL_TOLERANCE = 1e-9


@dataclass(frozen=True, eq=False)
class Fit:
    """A fitted overoptimization curve.

    ``residuals`` are observed minus fitted gold at the ``n_points`` points used; ``n_excluded``
    counts the points left out (``d == 0`` for the RL form). ``r2`` is the centred coefficient of
    determination ``1 - SS_res / SS_tot`` (it can be negative for a poor fit; NaN when the gold
    values are all equal).
    """

    form: Form
    alpha: float
    beta: float
    residuals: np.ndarray
    r2: float
    n_points: int
    n_excluded: int = 0

    def predict(self, d: ArrayLike) -> np.ndarray:
        """Predicted gold at ``d`` (``d >= 0``; the RL form takes its limit 0 at ``d = 0``)."""
        x = np.asarray(d, dtype=np.float64)
        if np.any(x < 0) or not np.all(np.isfinite(x)):
            raise ValueError("d must be finite and non-negative")
        return _design(self.form, x) @ np.array([self.alpha, self.beta])

    @property
    def peak_d(self) -> float | None:
        """Where the fitted gold peaks, or None when it rises without bound (``beta <= 0``)."""
        if self.beta <= 0:
            return None
        if self.form == "bon":
            return self.alpha / (2 * self.beta)
        return float(np.exp(self.alpha / self.beta - 1))

    def as_dict(self) -> dict[str, float | int | str]:
        """Plain fields for records and reports (residuals left out)."""
        return {
            "form": self.form,
            "alpha": self.alpha,
            "beta": self.beta,
            "r2": self.r2,
            "n_points": self.n_points,
            "n_excluded": self.n_excluded,
        }


def d_from_kl(kl: ArrayLike) -> np.ndarray:
    """``d = sqrt(KL)``; tiny negative KLs from rounding (above -1e-9) count as 0."""
    k = np.asarray(kl, dtype=np.float64)
    if not np.all(np.isfinite(k)) or np.any(k < -_KL_TOLERANCE):
        raise ValueError("KL must be finite and non-negative")
    return np.sqrt(np.clip(k, 0.0, None))


def fit_bon(d: ArrayLike, gold: ArrayLike) -> Fit:
    """Fit best-of-n's ``R(d) = d (alpha - beta d)`` by least squares."""
    return fit_form("bon", d, gold)


def fit_rl(d: ArrayLike, gold: ArrayLike) -> Fit:
    """Fit RL's ``R(d) = d (alpha - beta log d)`` by least squares, leaving out ``d == 0``."""
    return fit_form("rl", d, gold)


def fit_form(form: Form, d: ArrayLike, gold: ArrayLike) -> Fit:
    """Fit ``form`` (``"bon"`` or ``"rl"``) to gold values ``gold`` observed at distances ``d``."""
    if form not in ("bon", "rl"):
        raise ValueError(f"form must be 'bon' or 'rl', got {form!r}")
    x = np.asarray(d, dtype=np.float64)
    y = np.asarray(gold, dtype=np.float64)
    if x.ndim != 1 or x.shape != y.shape:
        raise ValueError(f"need d and gold as 1-D arrays of one length, got {x.shape}, {y.shape}")
    if not (np.all(np.isfinite(x)) and np.all(np.isfinite(y))) or np.any(x < 0):
        raise ValueError("d must be finite and non-negative, gold finite")
    keep = x > 0 if form == "rl" else np.ones(len(x), dtype=bool)
    x, y = x[keep], y[keep]
    if len(x) < MIN_POINTS:
        raise ValueError(f"a {form} fit needs at least {MIN_POINTS} usable points, got {len(x)}")
    design = _design(form, x)
    coef, _, rank, _ = np.linalg.lstsq(design, y, rcond=None)
    if rank < 2:
        raise ValueError(f"a {form} fit needs two distinct non-zero values of d")
    residuals = y - design @ coef
    return Fit(
        form=form,
        alpha=float(coef[0]),
        beta=float(coef[1]),
        residuals=residuals,
        r2=_r2(y, residuals),
        n_points=len(x),
        n_excluded=int((~keep).sum()),
    )


def _design(form: Form, d: np.ndarray) -> np.ndarray:
    """Columns multiplying ``alpha`` and ``beta``: ``R = alpha * col0 + beta * col1``."""
    if form == "bon":
        return np.stack([d, -(d**2)], axis=-1)
    # d log d -> 0 as d -> 0; the where keeps log(0) out of the arithmetic.
    safe = np.where(d > 0, d, 1.0)
    return np.stack([d, np.where(d > 0, -d * np.log(safe), 0.0)], axis=-1)


def _r2(y: np.ndarray, residuals: np.ndarray) -> float:
    total = float(((y - y.mean()) ** 2).sum())
    if total == 0:
        return float("nan")
    return 1.0 - float((residuals**2).sum()) / total
