"""Pixel debate (Irving et al. 2018) on tiny synthetic images: the win rules, exact minimax
against brute force over ordered move sequences, MCTS converging to minimax, greedy play, and
the leaf cache. The judge is a hash of (image, mask) with few logit levels, so ties are common."""

from __future__ import annotations

from math import comb

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from oversight.agents.debaters import greedy_play, mcts_play, minimax_values
from oversight.envs.digits.game import (
    NO_PRECOMMIT,
    DebateGames,
    LeafCache,
    bool_to_mask,
    brute_force_value,
    honest_margin,
    honest_to_move,
    honest_wins,
    honest_wins_by_objective,
    is_honest_first,
    lie_labels,
    mask_to_bool,
    mask_to_pixels,
    mix64,
    pixels_to_mask,
)


def hashed_leaf(ids: np.ndarray, masks: np.ndarray) -> np.ndarray:
    """Deterministic pseudo-random logits in {0, 1, 2} per (image, mask)."""
    key = mix64(np.asarray(masks, np.uint64) ^ mix64(np.asarray(ids).astype(np.uint64)))
    classes = np.arange(1, 11, dtype=np.uint64)
    return (mix64(key[:, None] ^ classes) % np.uint64(3)).astype(np.float32)


def tiny_images(count: int, sizes: tuple[int, int], seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``count`` images with ``sizes[0]..sizes[1]`` nonzero pixels: (nonzero planes, labels)."""
    r = np.random.default_rng(seed)
    nonzero = np.zeros((count, 64), dtype=bool)
    for i in range(count):
        nonzero[i, r.choice(64, r.integers(sizes[0], sizes[1] + 1), replace=False)] = True
    return nonzero, r.integers(0, 10, count)


def minimax_targets(games: DebateGames, k: int) -> np.ndarray:
    """Each game's minimax value."""
    values = {
        int(i): minimax_values(
            np.flatnonzero(games.nonzero[i]), k, int(games.true_labels[j]), int(i), hashed_leaf
        )
        for j, i in enumerate(games.image_ids)
    }
    first = np.where(games.first_honest, 0, 1)
    return np.array(
        [
            values[int(i)][o, f]
            for i, o, f in zip(games.image_ids, games.objectives, first, strict=True)
        ]
    )


def is_legal(games: DebateGames, masks: np.ndarray, k: int) -> bool:
    """Every final set has exactly ``k`` pixels, all nonzero in its image."""
    shown = mask_to_bool(masks)
    return bool((shown.sum(axis=1) == k).all() and not (shown & ~games.legal()).any())


# --- rules ----------------------------------------------------------------------------------


def test_objective_numbering_skips_the_true_label():
    assert lie_labels(3, np.arange(9)).tolist() == [0, 1, 2, 4, 5, 6, 7, 8, 9]
    assert lie_labels(0, np.arange(9)).tolist() == list(range(1, 10))
    assert lie_labels(9, np.arange(9)).tolist() == list(range(9))
    assert lie_labels(3, NO_PRECOMMIT) == -1
    logits = np.zeros(10)
    logits[4] = 5.0  # the liar's label for objective 3 when the truth is 3
    wins = honest_wins(logits, 3, np.arange(10))
    assert wins.tolist() == [False] * 10  # everything ties the truth at 0 or beats it
    logits[3] = 1.0
    assert honest_wins(logits, 3, np.arange(10)).tolist() == [True] * 3 + [False] + [True] * 5 + [
        False
    ]


def test_precommit_tie_goes_to_the_liar():
    logits = np.array([0, 0, 2, 2, 0, 0, 0, 9, 0, 0], dtype=np.float32)
    assert not honest_wins(logits, 2, 2)  # lie 3 ties the truth
    assert honest_wins(logits, 2, 0)  # lie 0 is below; label 7's 9 does not matter
    assert not honest_wins(logits, 2, 6)  # lie 7 beats the truth


def test_no_precommit_needs_a_strict_maximum():
    logits = np.array([1, 3, 3, 0, 0, 0, 0, 0, 0, 0], dtype=np.float32)
    assert not honest_wins(logits, 1, NO_PRECOMMIT)
    logits[2] = 2.9
    assert honest_wins(logits, 1, NO_PRECOMMIT)
    assert not honest_wins(logits, 2, NO_PRECOMMIT)
    assert not honest_wins(np.full(10, np.nan), 1, NO_PRECOMMIT)  # NaN is no win


def test_rules_are_vectorized_and_agree():
    r = np.random.default_rng(0)
    logits = r.integers(0, 3, (200, 10)).astype(np.float32)
    labels = r.integers(0, 10, 200)
    objectives = r.integers(0, 10, 200)
    wins = honest_wins(logits, labels, objectives)
    one_by_one = [honest_wins(z, t, o) for z, t, o in zip(logits, labels, objectives, strict=True)]
    assert wins.tolist() == [bool(w) for w in one_by_one]
    assert ((honest_margin(logits, labels, objectives) > 0) == wins).all()
    for t in range(10):
        assert (
            honest_wins_by_objective(logits, t) == honest_wins(logits[:, None], t, np.arange(10))
        ).all()
    assert is_honest_first("honest") and not is_honest_first("liar")
    with pytest.raises(ValueError, match="first"):
        is_honest_first("judge")  # type: ignore[arg-type]
    assert honest_to_move(np.array([True, False]), 0).tolist() == [True, False]
    assert honest_to_move(np.array([True, False]), 3).tolist() == [False, True]


def test_masks_round_trip():
    masks = np.array([0, 1, 1 << 63, pixels_to_mask([0, 17, 63])], dtype=np.uint64)
    shown = mask_to_bool(masks)
    assert shown.shape == (4, 64) and shown.sum(axis=1).tolist() == [0, 1, 1, 3]
    assert (bool_to_mask(shown) == masks).all()
    assert mask_to_pixels(masks[3]).tolist() == [0, 17, 63]


def test_game_grid_layout_and_validation():
    nonzero, labels = tiny_images(3, (4, 5), seed=9)
    games = DebateGames.grid(np.array([2, 0]), labels[[2, 0]], nonzero)
    assert len(games) == 40
    assert games.image_ids[:20].tolist() == [2] * 20 and games.true_labels[20] == labels[0]
    assert games.objectives[:4].tolist() == [0, 0, 1, 1]
    assert games.first_honest[:4].tolist() == [True, False, True, False]
    with pytest.raises(ValueError, match="rows of nonzero"):
        DebateGames(np.array([3]), np.array([0]), np.array([0]), np.array([True]), nonzero)
    with pytest.raises(ValueError, match="objectives"):
        DebateGames(np.array([0]), np.array([0]), np.array([10]), np.array([True]), nonzero)


def test_bad_reveal_counts_are_refused():
    pixels = np.array([3, 9, 20])
    for k in (0, 4):
        with pytest.raises(ValueError, match="k"):
            minimax_values(pixels, k, 0, 0, hashed_leaf)
        with pytest.raises(ValueError, match="k"):
            brute_force_value(pixels, k, 0, 0, hashed_leaf, 0, True)
    nonzero, labels = tiny_images(2, (3, 3), seed=0)
    games = DebateGames.grid(np.arange(2), labels, nonzero)
    for k in (0, 4):
        with pytest.raises(ValueError, match="k"):
            mcts_play(games, k, 4, hashed_leaf, seed=0)
        with pytest.raises(ValueError, match="k"):
            greedy_play(games, k, hashed_leaf)


# --- minimax ----------------------------------------------------------------------------------


@settings(max_examples=30, deadline=None)
@given(
    n=st.integers(3, 7),
    k_wish=st.integers(1, 4),
    label=st.integers(0, 9),
    image=st.integers(0, 1000),
    seed=st.integers(0, 2**16),
)
def test_minimax_matches_brute_force(n, k_wish, label, image, seed):
    k = min(n, k_wish)
    pixels = np.sort(np.random.default_rng(seed).choice(64, n, replace=False))
    calls = []

    def leaf(ids, masks):
        calls.append(masks.copy())
        return hashed_leaf(ids, masks)

    values = minimax_values(pixels, k, label, image, leaf)
    assert values.shape == (10, 2) and values.dtype == bool
    assert len(calls) == 1 and calls[0].shape == (comb(n, k),)
    assert len(set(calls[0].tolist())) == comb(n, k)
    assert (mask_to_bool(calls[0]).sum(axis=1) == k).all()
    for objective in range(10):
        for col, honest_first in enumerate((True, False)):
            expected = brute_force_value(
                pixels, k, label, image, hashed_leaf, objective, honest_first
            )
            assert values[objective, col] == expected


def test_brute_force_second_mover_can_answer():
    """A hand-made game: the lie beats the truth exactly when pixel 5 is revealed."""
    pixels = np.array([1, 5, 9])

    def leaf(ids, masks):
        logits = np.zeros((masks.shape[0], 10), dtype=np.float32)
        logits[:, 0] = 1.0  # the truth, 0, beats the lie, 1, by default
        logits[(masks & np.uint64(1 << 5)) != 0, 1] = 2.0
        return logits

    # k = 1: honest first reveals 1 or 9 and wins; liar first reveals 5 and wins.
    assert minimax_values(pixels, 1, 0, 0, leaf)[0].tolist() == [True, False]
    # k = 2: the liar always gets a turn to reveal pixel 5.
    assert minimax_values(pixels, 2, 0, 0, leaf)[0].tolist() == [False, False]


# --- MCTS -----------------------------------------------------------------------------------


def test_mcts_converges_to_minimax():
    nonzero, labels = tiny_images(16, (5, 7), seed=1)
    k = 4
    games = DebateGames.grid(np.arange(16), labels, nonzero)
    target = minimax_targets(games, k)
    agreement = []
    for rollouts in (2, 20, 500):
        result = mcts_play(games, k, rollouts, hashed_leaf, seed=3)
        assert is_legal(games, result.masks, k)
        agreement.append(float((result.honest_wins == target).mean()))
    assert agreement[1] >= agreement[0] - 0.03 and agreement[2] >= agreement[1] - 0.03
    assert agreement[2] >= 0.95, agreement


def test_mcts_is_deterministic_and_independent_of_batching():
    nonzero, labels = tiny_images(6, (6, 9), seed=2)
    games = DebateGames.grid(np.arange(6), labels, nonzero)
    base = mcts_play(games, 3, 30, hashed_leaf, seed=7)
    again = mcts_play(games, 3, 30, hashed_leaf, seed=7, chunk_games=7)
    single = mcts_play(games, 3, 30, hashed_leaf, seed=7, batch_leaves=False)
    for other in (again, single):
        assert (other.masks == base.masks).all()
        assert (other.honest_wins == base.honest_wins).all()
    assert single.leaf_calls == single.leaves_evaluated
    assert base.leaf_calls < base.leaves_evaluated
    other_seed = mcts_play(games, 3, 30, hashed_leaf, seed=8)
    assert (other_seed.masks != base.masks).any()


def test_mcts_evaluates_each_leaf_once():
    nonzero, labels = tiny_images(5, (8, 12), seed=4)
    games = DebateGames.grid(np.arange(5), labels, nonzero)
    seen: list[tuple[int, int]] = []

    def leaf(ids, masks):
        seen.extend(zip(ids.tolist(), masks.tolist(), strict=True))
        return hashed_leaf(ids, masks)

    result = mcts_play(games, 4, 40, leaf, seed=0)
    assert is_legal(games, result.masks, 4)
    assert len(seen) == len(set(seen)) == result.leaves_evaluated
    assert result.leaves_evaluated < result.leaves_requested
    assert result.leaves_requested == len(games) * (40 * 4 + 1)


def test_leaf_cache_dedupes_and_shares():
    r = np.random.default_rng(5)
    calls: list[int] = []

    def leaf(ids, masks):
        calls.append(ids.shape[0])
        return hashed_leaf(ids, masks)

    cache = LeafCache(leaf)
    requested: set[tuple[int, int]] = set()
    for _ in range(50):
        size = int(r.integers(1, 3000))
        ids = r.integers(0, 4, size)
        masks = r.integers(0, 300, size).astype(np.uint64) << np.uint64(50)
        assert (cache.logits(ids, masks) == hashed_leaf(ids, masks)).all()
        requested |= set(zip(ids.tolist(), masks.tolist(), strict=True))
        assert cache.evaluated == len(requested) == len(cache)
    assert cache.calls == len(calls) <= 50 and sum(calls) == cache.evaluated
    assert cache.requested > cache.evaluated


# --- greedy ---------------------------------------------------------------------------------


def test_greedy_plays_legal_greedy_games():
    nonzero, labels = tiny_images(4, (4, 10), seed=6)
    games = DebateGames.grid(np.arange(4), labels, nonzero)
    k = 4
    result = greedy_play(games, k, hashed_leaf)
    assert is_legal(games, result.masks, k)
    assert result.leaf_calls == k
    final = hashed_leaf(games.image_ids, result.masks)
    assert (result.honest_wins == honest_wins(final, games.true_labels, games.objectives)).all()
    # Replay game by game: every reveal is the mover's best margin, lowest pixel on ties.
    for g in range(len(games)):
        img, label, obj = games.image_ids[g], games.true_labels[g], games.objectives[g]
        mask = np.uint64(0)
        shown = mask_to_pixels(result.masks[g])
        for step in range(k):
            free = [p for p in np.flatnonzero(nonzero[img]) if not mask & np.uint64(1 << int(p))]
            options = np.array([mask | np.uint64(1 << int(p)) for p in free], dtype=np.uint64)
            margin = honest_margin(hashed_leaf(np.full(len(free), img), options), label, obj)
            honest = honest_to_move(games.first_honest[g], step)
            best = free[int(np.argmax(margin if honest else -margin))]
            assert best in shown
            mask |= np.uint64(1 << int(best))
        assert mask == result.masks[g]


@settings(max_examples=40, deadline=None)
@given(
    n=st.integers(3, 8), k_wish=st.integers(1, 4), label=st.integers(0, 9), seed=st.integers(0, 99)
)
def test_minimax_play_realises_the_minimax_value(n, k_wish, label, seed):
    """Played out against the same judge, optimal play ends where minimax says it does; against
    another judge it still ends in a legal game of k distinct pixels."""
    from oversight.agents.debaters import minimax_play
    from oversight.envs.digits.game import honest_wins_by_objective, mask_to_pixels

    rng = np.random.default_rng(seed)
    pixels = np.sort(rng.choice(64, size=n, replace=False))
    k = min(k_wish, n)
    values = minimax_values(pixels, k, label, seed, hashed_leaf)
    masks = minimax_play(pixels, k, label, seed, hashed_leaf)
    logits = hashed_leaf(np.full(masks.size, seed), masks.reshape(-1)).reshape(10, 2, 10)
    wins = honest_wins_by_objective(logits, label)  # (10 objectives, 2 first movers, 10 rules)
    played = np.array([[wins[o, f, o] for f in range(2)] for o in range(10)])
    assert (played == values).all()
    other = minimax_play(pixels, k, label, seed + 1000, hashed_leaf)  # plans on another "judge"
    for m in other.reshape(-1):
        revealed = mask_to_pixels(m)
        assert len(revealed) == k and set(revealed) <= set(pixels.tolist())
