"""Exact minimax values of pixel debates, bottom-up over sets of revealed pixels.

The game's value depends only on which pixels are revealed (the set's size says whose turn it
is), so the ordered game tree collapses to the subsets of the image's nonzero pixels of size at
most ``k``. :func:`minimax_values` enumerates them level by level, scores every size-``k`` set in
one ``leaf_fn`` call, and then backs values up one level at a time with numpy.

All 20 questions (10 objectives x 2 first movers) are answered in one pass: a set's value is
packed as 20 bits of a ``uint32`` (bit ``o`` honest-first, bit ``10 + o`` liar-first), so that
"honest picks a winning child" is a bitwise OR over the children and "the liar picks a losing
child" a bitwise AND.
"""

from __future__ import annotations

from math import comb

import numpy as np

from oversight.envs.digits.game import (
    NUM_OBJECTIVES,
    PIXEL_BITS,
    LeafFn,
    check_pixels,
    check_reveals,
    evaluate_leaves,
    honest_wins_by_objective,
    mask_to_bool,
)

_HONEST_FIRST_BITS = np.uint32((1 << NUM_OBJECTIVES) - 1)
_LIAR_FIRST_BITS = np.uint32(_HONEST_FIRST_BITS << NUM_OBJECTIVES)
_PAIRS_PER_CHUNK = 1 << 20
"""Parent-child pairs backed up per numpy step: bounds the temporaries (about 40 MB)."""
_LEAVES_PER_CHUNK = 1 << 18
"""Leaves scored per numpy step: bounds the (leaves, 10) temporaries of the win rules."""


def minimax_values(
    pixels: np.ndarray, k: int, true_label: int, image_id: int, leaf_fn: LeafFn
) -> np.ndarray:
    """Honest-wins under optimal play, as a bool array of shape (10, 2).

    Row ``o`` is the objective (9 = no precommit); column 0 is honest moving first, column 1
    the liar moving first. ``pixels`` are the image's nonzero pixel indices. ``leaf_fn`` is
    called exactly once, on all ``C(n, k)`` size-``k`` masks of ``image_id`` (in increasing
    mask order). Costs: ``C(n, k)`` leaves and ``sum_j C(n, j) * (n - j)`` parent-child pairs.
    """
    _, values = _solve(pixels, k, true_label, image_id, leaf_fn, keep=False)
    return _unpack(values[0][0])


def minimax_play(
    pixels: np.ndarray, k: int, true_label: int, image_id: int, plan_fn: LeafFn
) -> np.ndarray:
    """The revealed pixels at the end of optimal play, as 64-bit masks of shape (10, 2).

    Both debaters play minimax against the judge ``plan_fn`` (which need not be the judge that
    rules: the robustness check plans against a copy). Among equally good moves the lowest
    pixel index is played.
    """
    px = check_pixels(pixels)
    levels, values = _solve(px, k, true_label, image_id, plan_fn, keep=True)
    out = np.zeros((NUM_OBJECTIVES, 2), dtype=np.uint64)
    for first in range(2):
        for objective in range(NUM_OBJECTIVES):
            bit = np.uint32(1 << (objective + NUM_OBJECTIVES * first))
            state = np.uint64(0)
            for size in range(k):
                honest_moves = (size % 2 == 0) == (first == 0)
                free = px[(state & PIXEL_BITS[px]) == 0]
                kids = state | PIXEL_BITS[free]
                wins = (values[size + 1][np.searchsorted(levels[size + 1], kids)] & bit) != 0
                best = np.flatnonzero(wins if honest_moves else ~wins)
                state = kids[best[0] if best.size else 0]  # free pixels ascend: lowest index
            out[objective, first] = state
    return out


def _solve(
    pixels: np.ndarray, k: int, true_label: int, image_id: int, leaf_fn: LeafFn, keep: bool
) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Levels of subsets and their packed values (all levels when ``keep``, else level 0)."""
    px = check_pixels(pixels)
    check_reveals(k, px.shape[0])
    levels = subset_levels(px, k)
    leaves = levels[k]
    logits = evaluate_leaves(leaf_fn, np.full(leaves.shape[0], image_id), leaves)
    values = np.empty(leaves.shape[0], dtype=np.uint32)
    for start in range(0, leaves.shape[0], _LEAVES_PER_CHUNK):
        chunk = slice(start, start + _LEAVES_PER_CHUNK)
        values[chunk] = _pack(honest_wins_by_objective(logits[chunk], true_label))
    del logits  # up to C(42, 6) * 10 floats: free them before the back-up passes
    kept = [values]
    for size in range(k - 1, -1, -1):
        values = _back_up(levels[size], levels[size + 1], values, px, size)
        kept = [values, *kept] if keep else [values]
    return levels, kept


def subset_levels(pixels: np.ndarray, k: int) -> list[np.ndarray]:
    """``levels[j]``: the masks of all ``j``-subsets of ``pixels``, sorted, for ``j = 0..k``.

    Sorted mask order is colex order, which builds level ``j + 1`` without sorting: the sets
    whose largest pixel is ``pixels[i]`` are the first ``C(i, j)`` sets of level ``j`` (those
    inside ``pixels[:i]``) plus that pixel, and they come in increasing ``i``.
    """
    bits = PIXEL_BITS[np.asarray(pixels, dtype=np.int64)]
    levels = [np.zeros(1, dtype=np.uint64)]
    for j in range(k):
        prev = levels[-1]
        blocks = [prev[: comb(i, j)] | bits[i] for i in range(j, bits.shape[0])]
        levels.append(np.concatenate(blocks))
    return levels


def _back_up(
    parents: np.ndarray,
    children: np.ndarray,
    child_values: np.ndarray,
    pixels: np.ndarray,
    size: int,
) -> np.ndarray:
    """Packed values of the ``size``-sets in ``parents`` from those of the ``size + 1``-sets."""
    free = pixels.shape[0] - size
    # Level `size` is move number `size`: the first mover moves at even sizes. OR where honest
    # is to move (it needs one winning child), AND where the liar is (honest must win them all).
    honest_moves = _HONEST_FIRST_BITS if size % 2 == 0 else _LIAR_FIRST_BITS
    liar_moves = _LIAR_FIRST_BITS if size % 2 == 0 else _HONEST_FIRST_BITS
    out = np.empty(parents.shape[0], dtype=np.uint32)
    step = max(1, _PAIRS_PER_CHUNK // free)
    for start in range(0, parents.shape[0], step):
        par = parents[start : start + step]
        absent = ~mask_to_bool(par)[:, pixels]
        # Row-major nonzero lists each parent's free pixels in order, `free` per row.
        cols = np.nonzero(absent)[1].reshape(-1, free)
        kids = par[:, None] | PIXEL_BITS[pixels[cols]]
        vals = child_values[np.searchsorted(children, kids)]
        anyv = np.bitwise_or.reduce(vals, axis=1)
        allv = np.bitwise_and.reduce(vals, axis=1)
        out[start : start + step] = (anyv & honest_moves) | (allv & liar_moves)
    return out


def _pack(wins: np.ndarray) -> np.ndarray:
    """(L, 10) leaf wins -> uint32 with the same bits for both first movers."""
    weights = np.left_shift(np.uint32(1), np.arange(NUM_OBJECTIVES, dtype=np.uint32))
    low = (wins.astype(np.uint32) * weights).sum(axis=1, dtype=np.uint32)
    return low | (low << np.uint32(NUM_OBJECTIVES))


def _unpack(packed: np.uint32) -> np.ndarray:
    """One packed value -> (10, 2) bool (column 0 honest first, column 1 liar first)."""
    bits = (int(packed) >> np.arange(2 * NUM_OBJECTIVES)) & 1
    return bits.astype(bool).reshape(2, NUM_OBJECTIVES).T
