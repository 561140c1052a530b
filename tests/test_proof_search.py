"""Exact minimax by proof search: the reference's values, and plays that end where they say,
from a fraction of the leaves; pixel-sum logits equal the judge's; near-ties go to the
reference judge."""

from __future__ import annotations

from math import comb

import numpy as np
import pytest

from oversight.agents.debaters import ProofSearch, minimax_play, minimax_values
from oversight.envs.digits.data import load_digits_split, nonzero_pixels, random_masks
from oversight.envs.digits.game import (
    NUM_CLASSES,
    brute_force_value,
    honest_wins,
    pixels_to_mask,
)
from oversight.experiments.digits_debate.run import leaf_fn
from oversight.judges.sparse_pixel import train_sparse_judge


@pytest.fixture(scope="module")
def setup():
    split = load_digits_split(0)
    judge = train_sparse_judge(split.x_train, split.y_train, 4, seed=3, steps=600)
    return split, judge, leaf_fn(judge, split.x_test)


def test_pixel_sums_give_the_judges_logits(setup):
    split, judge, _ = setup
    x = split.x_test[:8]
    masks = random_masks(x, 5, np.random.default_rng(0))
    for image, mask in zip(x, masks, strict=True):
        sums = judge.pixel_sums(image)
        pre = (sums.base + sums.rows[mask].sum(axis=0))[None, :].copy()
        want = judge.logits(image[None, :], mask[None, :])
        np.testing.assert_allclose(sums.logits(pre), want, atol=1e-4)


@pytest.mark.parametrize("k", [1, 2, 3, 4])
def test_values_and_plays_equal_the_reference(setup, k):
    split, judge, fn = setup
    searched = 0
    for i in range(6):
        x, y = split.x_test[i], int(split.y_test[i])
        px = nonzero_pixels(x)
        values = ProofSearch(px, k, y, i, judge.pixel_sums(x), fn).values()
        np.testing.assert_array_equal(values, minimax_values(px, k, y, i, fn))
        search = ProofSearch(px, k, y, i, judge.pixel_sums(x), fn)
        played = search.play()
        # optimal play ends where the values say, as the reference's play does
        np.testing.assert_array_equal(outcomes(fn, i, y, played), values)
        np.testing.assert_array_equal(outcomes(fn, i, y, minimax_play(px, k, y, i, fn)), values)
        sizes = [bin(int(m)).count("1") for m in played.reshape(-1)]
        assert sizes == [k] * 20 and not (played & ~pixels_to_mask(px)).any()
        searched += search.stats.leaves
    if k == 4:  # the point of the search: far fewer leaves than the C(n, 4) of the reference
        everything = sum(comb(len(nonzero_pixels(split.x_test[i])), 4) for i in range(6))
        assert searched < everything / 4


def outcomes(fn, image_id: int, label: int, masks: np.ndarray) -> np.ndarray:
    """Whether honest wins each game (10 objectives x 2 first movers) ending in ``masks``."""
    logits = fn(np.full(masks.size, image_id), masks.reshape(-1)).reshape(10, 2, 10)
    return honest_wins(logits, label, np.arange(10)[:, None])


def test_brute_force_agrees_on_a_small_game(setup):
    split, judge, fn = setup
    x, y = split.x_test[0], int(split.y_test[0])
    px = nonzero_pixels(x)[:7]  # a game on 7 of the pixels, 3 reveals
    values = ProofSearch(px, 3, y, 0, judge.pixel_sums(x), fn).values()
    for objective in (0, 4, 9):
        for first, honest_first in ((0, True), (1, False)):
            assert values[objective, first] == brute_force_value(
                px, 3, y, 0, fn, objective, honest_first
            )


class _Flat:
    """A judge with the same logit for every label: every leaf is a tie."""

    base = np.zeros(4, dtype=np.float32)
    rows = np.zeros((64, 4), dtype=np.float32)

    def logits(self, pre: np.ndarray) -> np.ndarray:
        return np.zeros((pre.shape[0], NUM_CLASSES), dtype=np.float32)


def test_ties_are_rescored_by_the_reference_and_go_to_the_liar():
    calls = []

    def reference(ids, masks):
        calls.append(len(ids))
        return np.zeros((len(ids), NUM_CLASSES), dtype=np.float32)

    px = np.arange(6)
    search = ProofSearch(px, 2, 3, 0, _Flat(), reference)
    assert not search.values().any()  # ties go to the liar
    assert search.stats.rescored == search.stats.leaves == sum(calls) > 0


def test_bad_input_is_refused():
    with pytest.raises(ValueError, match="k=4 reveals need at least k nonzero pixels"):
        ProofSearch(np.arange(3), 4, 0, 0, _Flat(), lambda i, m: np.zeros((len(i), 10)))
