"""Ratings from pairwise games: Bradley-Terry (maximum likelihood) and Elo, with bootstrap CIs.

A game is ``(a, b, score)``: players ``a`` and ``b`` (indices ``0..n-1``) and ``a``'s score
(1 win, 0 loss, 0.5 draw). Under Bradley-Terry ``P(a beats b) = sigmoid(theta_a - theta_b)``;
strengths are in logits, centred on mean 0, and :data:`ELO_PER_LOGIT` converts them to the Elo
scale (400 points = 10:1 odds). Elo updates the ratings game by game in the order given, so it
depends on that order; Bradley-Terry does not. Confidence intervals resample games with
replacement and refit (percentile bootstrap).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
from numpy.typing import ArrayLike

from oversight.metrics.estimate import Estimate, check_bootstrap_args, make_estimate

ELO_PER_LOGIT = 400.0 / math.log(10.0)

Fit = Callable[[np.ndarray, np.ndarray, np.ndarray, int], np.ndarray]


def _games(a: ArrayLike, b: ArrayLike, score: ArrayLike, n: int) -> tuple[np.ndarray, ...]:
    ai, bi, s = np.asarray(a, int), np.asarray(b, int), np.asarray(score, float)
    if not (ai.shape == bi.shape == s.shape) or ai.ndim != 1:
        raise ValueError(f"a, b and score must be 1-D of one length, got {ai.shape, bi.shape}")
    if ai.size and (min(ai.min(), bi.min()) < 0 or max(ai.max(), bi.max()) >= n):
        raise ValueError(f"players must lie in 0..{n - 1}")
    if np.any(ai == bi):
        raise ValueError("a player cannot play itself")
    if np.any((s < 0) | (s > 1)):
        raise ValueError("scores must lie in [0, 1]")
    return ai, bi, s


def bradley_terry(
    a: ArrayLike,
    b: ArrayLike,
    score: ArrayLike,
    n_players: int,
    ridge: float = 1e-3,
    iters: int = 100,
    tol: float = 1e-10,
) -> np.ndarray:
    """Bradley-Terry strengths (logits, mean 0) by Newton's method on the log-likelihood.

    ``ridge`` is a small Gaussian prior on the strengths: it keeps them finite when a player
    won (or lost) every game and when some players never met."""
    ai, bi, s = _games(a, b, score, n_players)
    wins = np.zeros((n_players, n_players))
    np.add.at(wins, (ai, bi), s)
    np.add.at(wins, (bi, ai), 1.0 - s)
    games = wins + wins.T
    theta = np.zeros(n_players)
    for _ in range(iters):
        p = 1.0 / (1.0 + np.exp(-(theta[:, None] - theta[None, :])))
        grad = (wins - games * p).sum(axis=1) - ridge * theta
        w = games * p * (1.0 - p)
        hess = w - np.diag(w.sum(axis=1) + ridge)
        step = np.linalg.solve(hess, grad)
        theta = theta - step
        if np.abs(step).max() < tol:
            break
    return theta - theta.mean()


def elo(
    a: ArrayLike,
    b: ArrayLike,
    score: ArrayLike,
    n_players: int,
    k: float = 16.0,
    initial: float = 0.0,
) -> np.ndarray:
    """Elo ratings (Elo points, starting at ``initial``) after playing the games in order."""
    ai, bi, s = _games(a, b, score, n_players)
    r = np.full(n_players, float(initial))
    for i, j, x in zip(ai, bi, s, strict=True):
        expected = 1.0 / (1.0 + 10.0 ** ((r[j] - r[i]) / 400.0))
        r[i] += k * (x - expected)
        r[j] -= k * (x - expected)
    return r


def rating_intervals(
    fit: Fit,
    a: ArrayLike,
    b: ArrayLike,
    score: ArrayLike,
    n_players: int,
    n_boot: int = 200,
    alpha: float = 0.05,
    seed: int = 0,
) -> list[Estimate]:
    """Each player's rating from ``fit`` (e.g. :func:`bradley_terry` or :func:`elo`) with a
    percentile-bootstrap interval over resampled games."""
    check_bootstrap_args(n_boot, alpha)
    ai, bi, s = _games(a, b, score, n_players)
    point = fit(ai, bi, s, n_players)
    generator = np.random.default_rng(seed)
    reps = np.empty((n_boot, n_players))
    for row in range(n_boot):
        idx = generator.integers(0, len(ai), size=len(ai))
        reps[row] = fit(ai[idx], bi[idx], s[idx], n_players)
    counts = np.bincount(np.concatenate([ai, bi]), minlength=n_players)
    return [
        make_estimate(float(point[p]), reps[:, p], int(counts[p]), alpha) for p in range(n_players)
    ]


def win_probability(theta_a: float, theta_b: float) -> float:
    """Bradley-Terry probability that a player of strength ``theta_a`` beats ``theta_b``."""
    return 1.0 / (1.0 + math.exp(theta_b - theta_a))
