"""Tests of the learning maths: exact best-of-n against brute-force enumeration, the unbiased
order-statistics estimator, the overoptimization fits, and the policy-gradient trainer on a
contextual bandit with a known optimum."""

from __future__ import annotations

import itertools
import math
from typing import Any

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from oversight.learning.best_of_n import (  # noqa: E402
    best_of_n_distribution,
    best_of_n_kl,
    bon_expected_gold,
    kl_bound,
    unbiased_bon_estimate,
)
from oversight.learning.overoptimization import (  # noqa: E402
    MIN_POINTS,
    d_from_kl,
    fit_bon,
    fit_form,
    fit_rl,
)
from oversight.learning.policy_gradient import (  # noqa: E402
    PGConfig,
    TabularPolicy,
    TrainLog,
    action_probs,
    exact_kl,
    frozen_copy,
    policy_kl,
    train_policy,
)

# A small policy with tied scores (outputs 1 and 2), a zero-probability output (4) and a
# negative score.
PROBS = np.array([0.1, 0.2, 0.3, 0.25, 0.0, 0.15])
SCORES = np.array([1.0, 2.0, 2.0, 0.0, 5.0, -1.0])
GOLD = np.array([0.3, -1.0, 2.0, 0.5, 9.0, 1.5])


def brute_force_bon(probs: np.ndarray, scores: np.ndarray, n: int, ties: str) -> np.ndarray:
    """The best-of-n distribution by enumerating every n-tuple of outputs."""
    dist = np.zeros(len(probs))
    for draw in itertools.product(range(len(probs)), repeat=n):
        weight = float(np.prod(probs[list(draw)]))
        best = max(scores[i] for i in draw)
        tied = [i for i in draw if scores[i] == best]
        if ties == "uniform":
            for i in tied:
                dist[i] += weight / len(tied)
        else:
            dist[min(tied)] += weight
    return dist


def kl(p: np.ndarray, q: np.ndarray) -> float:
    live = p > 0
    return float((p[live] * np.log(p[live] / q[live])).sum())


@pytest.mark.parametrize("ties", ["uniform", "first"])
@pytest.mark.parametrize("n", [1, 2, 3, 4])
def test_bon_distribution_and_kl_match_enumeration(n, ties):
    exact = brute_force_bon(PROBS, SCORES, n, ties)
    dist = best_of_n_distribution(PROBS, SCORES, n, ties=ties)
    np.testing.assert_allclose(dist, exact, atol=1e-12)
    assert best_of_n_kl(PROBS, SCORES, n, ties=ties) == pytest.approx(kl(exact, PROBS), abs=1e-12)
    assert bon_expected_gold(PROBS, SCORES, GOLD, n, ties=ties) == pytest.approx(exact @ GOLD)
    assert best_of_n_kl(PROBS, SCORES, n, ties=ties) <= kl_bound(n) + 1e-12


def test_uniform_ties_split_the_level_in_proportion_to_the_policy():
    dist = best_of_n_distribution(PROBS, SCORES, 3)
    assert dist[2] / dist[1] == pytest.approx(PROBS[2] / PROBS[1])
    assert dist[4] == 0.0  # a zero-probability output is never drawn, however high its score


def test_n_equal_one_is_the_policy_and_equal_scores_change_nothing():
    np.testing.assert_allclose(best_of_n_distribution(PROBS, SCORES, 1), PROBS)
    assert best_of_n_kl(PROBS, SCORES, 1) == 0.0
    assert kl_bound(1) == 0.0
    assert best_of_n_kl(PROBS, np.zeros(len(PROBS)), 7) == pytest.approx(0.0, abs=1e-15)


def test_two_outputs_never_exceed_log_two_and_sit_far_below_the_bound():
    probs, scores = np.array([0.5, 0.5]), np.array([0.0, 1.0])
    kls = [best_of_n_kl(probs, scores, n) for n in (1, 2, 4, 16, 256, 10**6)]
    assert all(a <= b for a, b in itertools.pairwise(kls))  # more selection, more KL
    assert all(k <= math.log(2) + 1e-15 for k in kls)
    assert kls[-1] == pytest.approx(math.log(2), abs=1e-12)
    assert kls[-1] < kl_bound(10**6) - 10  # the formula is off by more than 10 nats here


def test_kl_is_stable_for_large_n_and_rare_top_outputs():
    probs = np.array([1 - 1e-9, 1e-9])
    value = best_of_n_kl(probs, [0.0, 1.0], 10**12)
    # Top level mass 1 - (1 - 1e-9)^1e12 ~ 1: KL approaches log(1e9) from below.
    assert np.isfinite(value) and value == pytest.approx(math.log(1e9), rel=1e-6)


def test_bon_input_checks():
    with pytest.raises(ValueError):
        best_of_n_distribution([0.5, 0.6], [0, 1], 2)
    with pytest.raises(ValueError):
        best_of_n_distribution([0.5, 0.5], [0, 1], 0)
    with pytest.raises(ValueError):
        best_of_n_distribution([0.5, 0.5], [0, 1], 2, ties="random")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        kl_bound(0)


def brute_force_pool(proxy: np.ndarray, gold: np.ndarray, n: int) -> float:
    """Mean over every n-subset of the pool of the best-by-proxy gold, ties split uniformly."""
    values = []
    for subset in itertools.combinations(range(len(proxy)), n):
        best = max(proxy[i] for i in subset)
        values.append(np.mean([gold[i] for i in subset if proxy[i] == best]))
    return float(np.mean(values))


def test_unbiased_estimator_is_the_average_over_all_subsets_of_the_pool():
    r = np.random.default_rng(3)
    proxy = r.integers(0, 4, size=9).astype(float)  # few levels: many ties
    gold = r.normal(size=9)
    sizes = list(range(1, 10))
    estimates = unbiased_bon_estimate(proxy, gold, sizes)
    exact = [brute_force_pool(proxy, gold, n) for n in sizes]
    np.testing.assert_allclose(estimates, exact, atol=1e-12)
    assert isinstance(unbiased_bon_estimate(proxy, gold, 3), float)
    assert unbiased_bon_estimate(proxy, gold, 1) == pytest.approx(gold.mean())


def test_unbiased_estimator_matches_the_exact_expectation_on_a_large_pool():
    r = np.random.default_rng(4)
    pool = r.choice(len(PROBS), size=200_000, p=PROBS)
    sizes = [1, 2, 4, 8, 32]
    estimates = unbiased_bon_estimate(SCORES[pool], GOLD[pool], sizes)
    exact = [bon_expected_gold(PROBS, SCORES, GOLD, n) for n in sizes]
    np.testing.assert_allclose(estimates, exact, atol=0.02)


def test_unbiased_estimator_refuses_n_beyond_the_pool():
    with pytest.raises(ValueError):
        unbiased_bon_estimate([1.0, 2.0], [0.0, 1.0], 3)
    with pytest.raises(ValueError):
        unbiased_bon_estimate([1.0, 2.0], [0.0, 1.0], [1, 0])


D = np.linspace(0.0, 5.0, 8)


def test_bon_fit_recovers_known_parameters():
    alpha, beta = 1.3, 0.25
    clean = D * (alpha - beta * D)
    fit = fit_bon(D, clean)
    assert (fit.alpha, fit.beta) == pytest.approx((alpha, beta), abs=1e-10)
    assert fit.r2 == pytest.approx(1.0) and fit.n_points == 8 and fit.n_excluded == 0
    assert fit.form == "bon" and fit.peak_d == pytest.approx(alpha / (2 * beta))
    np.testing.assert_allclose(fit.predict([0.0, 2.0]), [0.0, 2.0 * (alpha - 2 * beta)])
    noisy = fit_bon(D, clean + np.random.default_rng(0).normal(0, 0.01, size=len(D)))
    assert (noisy.alpha, noisy.beta) == pytest.approx((alpha, beta), abs=0.02)
    assert noisy.r2 > 0.999 and np.abs(noisy.residuals).max() < 0.05


def test_rl_fit_recovers_known_parameters_and_excludes_zero():
    alpha, beta = 0.8, 0.4
    safe = np.where(D > 0, D, 1.0)
    clean = np.where(D > 0, D * (alpha - beta * np.log(safe)), 0.0)
    fit = fit_rl(D, clean)
    assert (fit.alpha, fit.beta) == pytest.approx((alpha, beta), abs=1e-10)
    assert fit.n_points == 7 and fit.n_excluded == 1 and fit.r2 == pytest.approx(1.0)
    assert fit.predict(0.0) == 0.0 and fit.peak_d == pytest.approx(math.exp(alpha / beta - 1))
    noisy = fit_form("rl", D, clean + np.random.default_rng(1).normal(0, 0.01, size=len(D)))
    assert (noisy.alpha, noisy.beta) == pytest.approx((alpha, beta), abs=0.03)
    assert noisy.r2 > 0.99
    assert set(fit.as_dict()) >= {"form", "alpha", "beta", "r2", "n_points", "n_excluded"}


def test_fits_refuse_too_few_or_degenerate_points():
    assert MIN_POINTS == 3
    with pytest.raises(ValueError, match="at least 3"):
        fit_bon([0.5, 1.0], [0.1, 0.2])
    with pytest.raises(ValueError, match="at least 3"):
        fit_rl([0.0, 0.5, 1.0], [0.0, 0.1, 0.2])  # the d == 0 point does not count
    with pytest.raises(ValueError, match="distinct"):
        fit_bon([1.0, 1.0, 1.0], [0.1, 0.2, 0.3])
    with pytest.raises(ValueError):
        fit_bon([-1.0, 1.0, 2.0], [0.1, 0.2, 0.3])


def test_d_from_kl():
    np.testing.assert_allclose(d_from_kl([0.0, 4.0, -1e-12]), [0.0, 2.0, 0.0])
    with pytest.raises(ValueError):
        d_from_kl([-0.1])


# ---- policy gradient ---------------------------------------------------------------------------

# Two contexts x three actions; the optimum is action 0 in context 0 and action 2 in context 1.
REWARD = np.array([[1.0, 0.0, 0.2], [0.0, 0.5, 1.0]])
CONTEXTS = torch.arange(2)


def sample_contexts(gen: np.random.Generator, batch: int) -> torch.Tensor:
    return torch.from_numpy(gen.integers(0, 2, size=batch))


def bandit_reward(obs: torch.Tensor, actions: np.ndarray) -> np.ndarray:
    return REWARD[obs.numpy(), actions]


def train_bandit(beta_kl: float, **kw: Any) -> tuple[TabularPolicy, TrainLog]:
    policy = TabularPolicy(2, 3, **kw.pop("policy", {}))
    config = PGConfig(**{"lr": 0.05, "beta_kl": beta_kl, "steps": 150, "batch": 64, **kw})
    return policy, train_policy(policy, sample_contexts, bandit_reward, config)


def test_pg_learns_the_optimal_actions_without_a_kl_penalty():
    policy, log = train_bandit(0.0)
    probs = action_probs(policy, CONTEXTS)
    assert probs[0, 0] > 0.9 and probs[1, 2] > 0.9
    assert np.mean(log.mean_reward[-20:]) > 0.9 > np.mean(log.mean_reward[:5])
    assert log.kl[0] == pytest.approx(0.0, abs=1e-7) and log.kl[-1] > 0.5
    assert len(log.loss) == 150


def test_pg_with_a_large_kl_penalty_stays_near_the_initial_policy():
    policy, log = train_bandit(10.0)
    assert policy_kl(policy, TabularPolicy(2, 3), CONTEXTS) < 0.01
    assert max(log.kl) < 0.01
    assert np.allclose(action_probs(policy, CONTEXTS).numpy(), 1 / 3, atol=0.1)


def test_pg_reaches_the_kl_regularised_optimum():
    # The optimum of E[r] - beta KL(pi || uniform) is pi* ∝ exp(r / beta), with value
    # beta log mean_a exp(r / beta) per context; the learned policy's value should be close.
    beta = 0.5
    policy, _ = train_bandit(beta, steps=300)
    probs = action_probs(policy, CONTEXTS).numpy()
    kl_each = (probs * np.log(probs * 3)).sum(axis=1)
    value = ((probs * REWARD).sum(axis=1) - beta * kl_each).mean()
    optimum = (beta * np.log(np.exp(REWARD / beta).mean(axis=1))).mean()
    assert optimum - 0.02 < value <= optimum + 1e-9


def test_pg_respects_action_masks():
    mask = torch.tensor([[True, True, True], [True, True, False]])  # context 1's best is masked
    policy, log = train_bandit(0.0, policy={"mask": mask})
    probs = action_probs(policy, CONTEXTS)
    assert probs[1, 2] == 0.0 and probs[1, 1] > 0.9 and probs[0, 0] > 0.9
    assert all(np.isfinite(log.kl)) and all(np.isfinite(log.loss))
    assert torch.isfinite(policy.table).all()


def test_pg_is_deterministic_and_leaves_global_state_alone():
    torch.manual_seed(123)
    state, threads = torch.random.get_rng_state(), torch.get_num_threads()
    a, log_a = train_bandit(0.0, baseline="loo", seed=7, steps=40)
    b, log_b = train_bandit(0.0, baseline="loo", seed=7, steps=40)
    _, log_c = train_bandit(0.0, baseline="loo", seed=8, steps=40)
    assert log_a.as_dict() == log_b.as_dict() and torch.equal(a.table, b.table)
    assert log_a.mean_reward != log_c.mean_reward
    assert torch.equal(torch.random.get_rng_state(), state)
    assert torch.get_num_threads() == threads


def test_exact_kl_matches_the_definition_and_has_finite_gradients_under_masks():
    new = torch.tensor([[0.3, -1.0, 2.0], [1.0, 0.0, 5.0]], requires_grad=True)
    ref = torch.tensor([[0.0, 0.0, 0.0], [0.5, 0.5, -3.0]])
    mask = torch.tensor([[True, True, True], [True, True, False]])
    kl_rows = exact_kl(new, ref, mask)
    p = torch.softmax(new.detach()[1, :2], -1)
    q = torch.softmax(ref[1, :2], -1)
    assert kl_rows[1].item() == pytest.approx((p * (p / q).log()).sum().item(), rel=1e-6)
    kl_rows.sum().backward()
    assert torch.isfinite(new.grad).all() and new.grad[1, 2] == 0.0
    assert exact_kl(ref, ref).abs().max() < 1e-7


def test_pg_config_and_reward_checks():
    with pytest.raises(ValueError):
        PGConfig(lr=0.0)
    with pytest.raises(ValueError):
        PGConfig(baseline="learned")  # type: ignore[arg-type]
    policy = TabularPolicy(2, 3)
    ref = frozen_copy(policy)
    assert not any(p.requires_grad for p in ref.parameters())
    with pytest.raises(ValueError, match="finite rewards"):
        train_policy(policy, sample_contexts, lambda o, a: np.zeros(3), PGConfig(steps=1))


def test_pg_over_episodes_credits_every_step_from_the_final_reward():
    # A 2-step episode: context 0 first, then context 1 + a (a the first action); only the
    # path (2, then 1) pays. The reward sees only the last step's state and action, so the
    # first step is learned through the episode's summed log-probability alone.
    policy = TabularPolicy(4, 3)

    def start(gen: np.random.Generator, batch: int) -> torch.Tensor:
        return torch.zeros(batch, dtype=torch.long)

    def after(obs: torch.Tensor, actions: np.ndarray) -> torch.Tensor:
        return 1 + torch.from_numpy(actions)

    def pays(obs: torch.Tensor, actions: np.ndarray) -> np.ndarray:
        return ((obs.numpy() == 3) & (actions == 1)).astype(float)

    config = PGConfig(lr=0.1, beta_kl=0.0, steps=200, batch=32)
    log = train_policy(policy, start, pays, config, horizon=2, transition=after)
    probs = action_probs(policy, torch.arange(4))
    assert probs[0, 2] > 0.9 and probs[3, 1] > 0.9
    assert np.mean(log.mean_reward[-20:]) > 0.8 > 0.3 > np.mean(log.mean_reward[:5])
    with pytest.raises(ValueError, match="transition"):
        train_policy(policy, start, pays, config, horizon=2)
