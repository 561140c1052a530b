"""Greedy pixel debaters: each reveal maximizes the mover's immediate margin with the judge.

The margin is :func:`~oversight.envs.digits.game.honest_margin` on the judge's logits for the
set revealed so far plus the candidate pixel: ``logit[true]`` minus the liar's target (the
precommitted lie, or the strongest other label without precommitment). Honest reveals the pixel
that maximizes it, the liar the one that minimizes it; ties go to the lowest pixel index, and a
NaN margin counts as the worst possible value for honest.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from oversight.envs.digits.game import (
    NUM_PIXELS,
    PIXEL_BITS,
    DebateGames,
    LeafCache,
    LeafFn,
    honest_margin,
    honest_to_move,
    honest_wins,
)

_LOWEST = -np.finfo(np.float64).max
"""Floor for candidates' scores, so an illegal pixel (-inf) never ties with a legal one."""


@dataclass(frozen=True)
class GreedyResult:
    """Outcome of :func:`greedy_play`, aligned with the input games."""

    honest_wins: np.ndarray
    """(G,) bool: honest won the game as played."""
    masks: np.ndarray
    """(G,) uint64: the final revealed sets (``k`` nonzero pixels each)."""
    leaf_calls: int
    """Calls made to ``leaf_fn`` (one per move step)."""
    leaves_requested: int
    """Candidate sets scored, duplicates included."""
    leaves_evaluated: int
    """Distinct (image, mask) pairs sent to ``leaf_fn``."""


def greedy_play(games: DebateGames, k: int, leaf_fn: LeafFn) -> GreedyResult:
    """Play every game greedily on both sides, one batched ``leaf_fn`` call per move step.

    Each step scores every legal candidate of every game (about ``G * n`` sets, deduplicated:
    games on the same image in the same state share them). Raises ValueError unless ``k`` is in
    1..n for every image.
    """
    games.check_reveals(k)
    cache = LeafCache(leaf_fn, batch=True)
    rows = np.arange(len(games))
    masks = np.zeros(len(games), dtype=np.uint64)
    revealed = np.zeros((len(games), NUM_PIXELS), dtype=bool)
    legal = games.legal()
    for step in range(k):
        cache.clear()  # sets of different sizes never repeat across steps
        game, pixel = np.nonzero(legal & ~revealed)
        logits = cache.logits(games.image_ids[game], masks[game] | PIXEL_BITS[pixel])
        margin = honest_margin(logits, games.true_labels[game], games.objectives[game])
        margin[np.isnan(margin)] = -np.inf
        sign = np.where(honest_to_move(games.first_honest[game], step), 1.0, -1.0)
        score = np.full((len(games), NUM_PIXELS), -np.inf)
        score[game, pixel] = np.maximum(sign * margin, _LOWEST)
        choice = score.argmax(axis=1)  # argmax takes the first maximum: the lowest pixel
        # Candidates are listed game by game, so the chosen ones come out in game order.
        final_logits = logits[pixel == choice[game]]
        revealed[rows, choice] = True
        masks |= PIXEL_BITS[choice]
    wins = honest_wins(final_logits, games.true_labels, games.objectives)
    return GreedyResult(wins, masks, cache.calls, cache.requested, cache.evaluated)
