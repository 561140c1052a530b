"""Best-of-n sampling over discrete outputs: its exact distribution, KL and expected gold value,
and the unbiased order-statistics estimator of its gold value from a pool of samples.

Best-of-n draws n outputs i.i.d. from a policy ``pi`` and keeps the one the proxy scores highest.
For discrete outputs all of it is exact. Group the outputs into score levels
``s_1 < ... < s_K`` with policy mass ``q_k`` at level ``k`` and CDF ``F_k = q_1 + ... + q_k``. The
best of n lies at level ``k`` with probability ``P_k = F_k^n - F_{k-1}^n`` and, since ties among
the draws at that level are broken uniformly at random, it is output ``i`` of that level with
probability ``P_k * p_i / q_k``.

So ``KL(pi_bon || pi) = sum_k P_k log(P_k / q_k)`` exactly (:func:`best_of_n_kl`). The often
quoted ``log n - (n - 1) / n`` (:func:`kl_bound`) is only an upper bound (Beirami et al. 2024);
the exact value is also at most ``log(1 / q_K)``, the top level's mass, so a uniform policy over
two outputs never exceeds ``log 2`` whatever ``n``.

Where outputs are not enumerable, :func:`unbiased_bon_estimate` estimates the best-of-n gold value
from one pool of ``N >= n`` samples with order statistics (Gao, Schulman, Hilton 2022), instead
of resampling n-subsets.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Literal, overload

import numpy as np
from numpy.typing import ArrayLike

Ties = Literal["uniform", "first"]
"""How equal proxy scores are ordered: ``"uniform"`` breaks ties among the tied draws uniformly
at random; ``"first"`` always prefers the output with the lower index."""

_SUM_TOLERANCE = 1e-6


def best_of_n_distribution(
    probs: ArrayLike, scores: ArrayLike, n: int, ties: Ties = "uniform"
) -> np.ndarray:
    """The exact distribution ``(m,)`` of the best-of-n output.

    ``probs`` is the policy over ``m`` discrete outputs (non-negative, summing to 1 within 1e-6;
    it is renormalised), ``scores`` their proxy scores, ``n >= 1`` the number of i.i.d. draws.
    The output with the highest proxy score among the draws is kept; ``ties`` says how equal
    scores are ordered (see :data:`Ties`).
    """
    p, s = _policy_and_scores(probs, scores)
    level, q = _levels(s, p, ties)
    mass = _level_mass(q, _check_n(n))
    share = np.divide(p, q[level], out=np.zeros_like(p), where=q[level] > 0)
    return mass[level] * share


def best_of_n_kl(probs: ArrayLike, scores: ArrayLike, n: int, ties: Ties = "uniform") -> float:
    """Exact ``KL(pi_bon || pi)`` in nats for a discrete policy (see the module docstring).

    Within a score level the ratio ``pi_bon(i) / pi(i)`` is the same for every output, so the KL
    is a sum over levels; it is computed in log space, stable for large ``n``.
    """
    p, s = _policy_and_scores(probs, scores)
    _, q = _levels(s, p, ties)
    log_mass = _log_level_mass(q, _check_n(n))
    live = np.isfinite(log_mass)  # levels the best of n can land on (q_k > 0, no underflow)
    terms = np.exp(log_mass[live]) * (log_mass[live] - np.log(q[live]))
    return max(float(terms.sum()), 0.0)  # rounding can leave -1e-17 when n == 1


def kl_bound(n: int) -> float:
    """``log n - (n - 1) / n``: the commonly quoted best-of-n KL, an upper bound on the exact
    value (Beirami et al. 2024), equal to it only for continuous outputs."""
    n = _check_n(n)
    return math.log(n) - (n - 1) / n


def bon_expected_gold(
    probs: ArrayLike, proxy: ArrayLike, gold: ArrayLike, n: int, ties: Ties = "uniform"
) -> float:
    """Exact expected gold value of the output that best-of-n by ``proxy`` selects."""
    g = np.asarray(gold, dtype=np.float64)
    dist = best_of_n_distribution(probs, proxy, n, ties)
    if g.shape != dist.shape or not np.all(np.isfinite(g)):
        raise ValueError(f"gold must be finite with shape {dist.shape}, got shape {g.shape}")
    return float(dist @ g)


@overload
def unbiased_bon_estimate(proxy_scores: ArrayLike, gold_values: ArrayLike, n: int) -> float: ...
@overload
def unbiased_bon_estimate(
    proxy_scores: ArrayLike, gold_values: ArrayLike, n: Sequence[int] | np.ndarray
) -> np.ndarray: ...
def unbiased_bon_estimate(
    proxy_scores: ArrayLike, gold_values: ArrayLike, n: int | Sequence[int] | np.ndarray
) -> float | np.ndarray:
    """Unbiased estimate of ``E[gold of best-of-n by proxy]`` from a pool of ``N`` i.i.d. samples.

    The estimate is the exact average over all ``C(N, n)`` n-subsets of the pool: sorted by proxy,
    the ``i``-th smallest sample is the best of a random n-subset with probability
    ``C(i - 1, n - 1) / C(N, n)``. Samples with equal proxy scores share their mean gold value,
    which is exact for ties broken uniformly at random. ``n`` may be one size (a float comes back)
    or a sequence of sizes (an array comes back); each must satisfy ``1 <= n <= N``.
    """
    proxy = np.asarray(proxy_scores, dtype=np.float64)
    gold = np.asarray(gold_values, dtype=np.float64)
    if proxy.ndim != 1 or proxy.shape != gold.shape or proxy.size == 0:
        raise ValueError(
            f"need two non-empty 1-D arrays of one length, got {proxy.shape}, {gold.shape}"
        )
    if not (np.all(np.isfinite(proxy)) and np.all(np.isfinite(gold))):
        raise ValueError("proxy scores and gold values must be finite")
    sizes = np.atleast_1d(np.asarray(n))
    if sizes.ndim != 1 or sizes.size == 0:
        raise ValueError(f"n must be an integer or a non-empty sequence of integers, got {n!r}")
    pool = len(proxy)
    ranked_gold = _tie_averaged_gold(proxy, gold)
    # log k! for k = 0..N, so that the weights stay finite for large pools.
    log_fact = np.concatenate([[0.0], np.cumsum(np.log(np.arange(1, pool + 1)))])
    estimates = np.array(
        [_order_statistic_mean(ranked_gold, log_fact, _check_n(k, pool)) for k in sizes]
    )
    return float(estimates[0]) if np.ndim(n) == 0 else estimates


def _order_statistic_mean(ranked_gold: np.ndarray, log_fact: np.ndarray, n: int) -> float:
    """``sum_i C(i - 1, n - 1) / C(N, n) * gold_(i)`` over ranks ``i = n..N``."""
    ranks = np.arange(n, len(ranked_gold) + 1)
    log_w = log_fact[ranks - 1] - log_fact[ranks - n]  # log C(i-1, n-1) up to a constant
    w = np.exp(log_w - log_w.max())
    # The weights sum to C(N, n) exactly; normalising here also absorbs rounding in log_fact.
    return float(w @ ranked_gold[n - 1 :] / w.sum())


def _tie_averaged_gold(proxy: np.ndarray, gold: np.ndarray) -> np.ndarray:
    """Gold values sorted by proxy score, each replaced by the mean over its tie group."""
    order = np.argsort(proxy, kind="stable")
    _, starts, counts = np.unique(proxy[order], return_index=True, return_counts=True)
    means = np.add.reduceat(gold[order], starts) / counts
    return np.repeat(means, counts)


def _policy_and_scores(probs: ArrayLike, scores: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    p = np.asarray(probs, dtype=np.float64)
    s = np.asarray(scores, dtype=np.float64)
    if p.ndim != 1 or p.shape != s.shape or p.size == 0:
        raise ValueError(
            f"need probs and scores as non-empty 1-D arrays of one length, got {p.shape}, {s.shape}"
        )
    if not (np.all(np.isfinite(p)) and np.all(np.isfinite(s))) or np.any(p < 0):
        raise ValueError("probs must be finite and non-negative, scores finite")
    total = p.sum()
    if abs(total - 1.0) > _SUM_TOLERANCE:
        raise ValueError(f"probs must sum to 1, got {total}")
    return p / total, s


def _levels(scores: np.ndarray, probs: np.ndarray, ties: Ties) -> tuple[np.ndarray, np.ndarray]:
    """Each output's score level (0 = lowest) and the policy mass ``q`` of each level."""
    if ties == "uniform":
        _, level = np.unique(scores, return_inverse=True)
    elif ties == "first":
        # Every output is its own level; among equal scores the lower index ranks higher.
        order = np.lexsort((-np.arange(len(scores)), scores))
        level = np.empty(len(scores), dtype=np.int64)
        level[order] = np.arange(len(scores))
    else:
        raise ValueError(f"ties must be 'uniform' or 'first', got {ties!r}")
    level = level.reshape(-1)
    return level, np.bincount(level, weights=probs, minlength=int(level.max()) + 1)


def _log_level_mass(q: np.ndarray, n: int) -> np.ndarray:
    """``log(F_k^n - F_{k-1}^n)`` per level; ``-inf`` where the level has no mass.

    Written as ``F_k^n * (1 - (1 - q_k / F_k)^n)`` with ``F_k`` taken from the tail above it, so
    that neither factor cancels catastrophically when ``F_k`` is near 1 and ``n`` is large.
    """
    above = np.concatenate([np.cumsum(q[::-1])[::-1][1:], [0.0]])  # mass strictly above level k
    log_cdf = np.log1p(-np.clip(above, 0.0, 1.0))
    out = np.full(q.shape, -np.inf)
    live = q > 0
    with np.errstate(divide="ignore"):  # the lowest live level has q_k == F_k: log1p(-1) = -inf
        frac = np.log1p(-np.minimum(q[live] / np.exp(log_cdf[live]), 1.0))
    out[live] = n * log_cdf[live] + np.log(-np.expm1(n * frac))
    return out


def _level_mass(q: np.ndarray, n: int) -> np.ndarray:
    return np.exp(_log_level_mass(q, n))


def _check_n(n: object, pool: int | None = None) -> int:
    if isinstance(n, bool) or not isinstance(n, int | np.integer) or n < 1:
        raise ValueError(f"n must be an integer >= 1, got {n!r}")
    if pool is not None and n > pool:
        raise ValueError(f"n = {n} exceeds the pool of {pool} samples")
    return int(n)
