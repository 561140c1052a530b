"""Bradley-Terry and Elo ratings on synthetic games with known strengths."""

import math

import numpy as np
import pytest

from oversight.metrics.ratings import (
    ELO_PER_LOGIT,
    bradley_terry,
    elo,
    rating_intervals,
    win_probability,
)

TRUE = np.array([-1.2, -0.3, 0.2, 1.3])


def games(n: int, seed: int, strengths=TRUE, draws: bool = False):
    r = np.random.default_rng(seed)
    k = len(strengths)
    a = r.integers(0, k, n)
    b = (a + r.integers(1, k, n)) % k
    p = 1 / (1 + np.exp(-(strengths[a] - strengths[b])))
    score = (r.random(n) < p).astype(float)
    if draws:
        score[r.random(n) < 0.1] = 0.5
    return a, b, score


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_bradley_terry_recovers_known_strengths(seed):
    theta = bradley_terry(*games(4000, seed), 4)
    assert theta.sum() == pytest.approx(0.0, abs=1e-9)
    assert np.abs(theta - (TRUE - TRUE.mean())).max() < 0.2
    assert list(np.argsort(theta)) == [0, 1, 2, 3]


def test_bradley_terry_does_not_depend_on_game_order():
    a, b, s = games(500, 3, draws=True)
    perm = np.random.default_rng(0).permutation(len(a))
    assert bradley_terry(a, b, s, 4) == pytest.approx(bradley_terry(a[perm], b[perm], s[perm], 4))
    # Swapping the sides of a game (and its score) changes nothing either.
    assert bradley_terry(b, a, 1 - s, 4) == pytest.approx(bradley_terry(a, b, s, 4))


def test_bradley_terry_stays_finite_when_one_player_wins_everything():
    a = np.array([0, 0, 0, 1])
    b = np.array([1, 2, 2, 2])
    theta = bradley_terry(a, b, np.ones(4), 4)  # player 3 never played
    assert np.all(np.isfinite(theta)) and theta[0] > theta[1] > theta[2]


def test_elo_orders_players_and_matches_the_logit_scale():
    a, b, s = games(6000, 4)
    r = elo(a, b, s, 4, k=8.0)
    assert list(np.argsort(r)) == [0, 1, 2, 3]
    assert r.sum() == pytest.approx(0.0)  # zero-sum updates from a common start
    assert np.abs(r / ELO_PER_LOGIT - (TRUE - TRUE.mean())).max() < 0.5
    # 400 Elo points are 10:1 odds.
    assert win_probability(400 / ELO_PER_LOGIT, 0.0) == pytest.approx(10 / 11)


def test_bradley_terry_intervals_cover_the_truth():
    a, b, s = games(3000, 5)
    est = rating_intervals(bradley_terry, a, b, s, 4, n_boot=200, seed=1)
    truth = TRUE - TRUE.mean()
    covered = sum(e.ci_low <= t <= e.ci_high for e, t in zip(est, truth, strict=True))
    assert covered >= 3  # a 95% interval may miss one of four
    assert all(e.ci_low <= e.value <= e.ci_high and e.ci_high - e.ci_low < 0.5 for e in est)
    assert [e.n for e in est] == list(np.bincount(np.r_[a, b]))


def test_elo_intervals_bracket_the_ratings_and_separate_far_players():
    a, b, s = games(1500, 6)
    est = rating_intervals(elo, a, b, s, 4, n_boot=100, seed=1)
    assert all(e.ci_low <= e.value <= e.ci_high for e in est)
    assert est[0].ci_high < est[3].ci_low  # 2.5 logits apart: clearly separated


def test_bad_games_are_refused():
    with pytest.raises(ValueError, match=r"0\.\.3"):
        bradley_terry([0], [4], [1.0], 4)
    with pytest.raises(ValueError, match="itself"):
        elo([1], [1], [1.0], 4)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        bradley_terry([0], [1], [2.0], 4)
    with pytest.raises(ValueError, match="one length"):
        bradley_terry([0, 1], [1], [1.0], 4)
    with pytest.raises(ValueError, match="n_boot"):
        rating_intervals(bradley_terry, [0], [1], [1.0], 2, n_boot=0)
    assert math.isclose(win_probability(0.0, 0.0), 0.5)
