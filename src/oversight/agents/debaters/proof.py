"""Exact minimax of pixel debates by proof search: the values and plays of :mod:`.minimax`
(the bottom-up reference, which scores every leaf) from a fraction of the leaves.

All 20 questions (10 objectives x 2 first movers) are asked at once, as the 20 bits of an int
(bit ``o`` honest first, bit ``10 + o`` liar first, as in :mod:`.minimax`). At a node where
honest moves a question is settled by one winning child, where the liar moves by one losing
child, so a node is left as soon as every question asked of it is settled. Four things keep
the work small:

- **Transpositions.** A node is a set of revealed pixels, whatever the order of the reveals;
  its settled bits are kept in a table, and so is every leaf's outcome.
- **Best first.** Children are tried in the order of the judge's margin on the child's set
  (honest tries its most convincing pixel first, the liar the least), which settles most
  questions at the first child.
- **The last two reveals together.** Below a set ``N`` of ``k - 2`` pixels the leaves are
  ``N + e + f``, a symmetric matrix ``W[e][f]``. Where the last two movers are honest then the
  liar, honest wins iff some row ``e`` holds only wins; where they are the liar then honest,
  iff every row holds a win. One row of wins settles both (its entries put a win in every
  other row), one row of losses the opposite, so rows are scored best first, one batch of
  leaves each, until every question asked of ``N`` is settled.
- **Leaves from pixel sums.** The judge's first layer is a sum over the revealed pixels
  (:class:`~oversight.envs.digits.game.PixelSumJudge`), so a leaf's first layer is its
  parent's plus one row. That is the judge up to float rounding; a leaf whose decision margin
  lies within :data:`TIE_MARGIN` of a tie is scored again by the reference leaf function, so
  every outcome is the reference's.

Plays follow the proof: each mover takes the first good move in the search's order (see
:meth:`ProofSearch.play`).
"""

from __future__ import annotations

from dataclasses import dataclass
from math import comb

import numpy as np

from oversight.envs.digits.game import (
    NUM_CLASSES,
    NUM_OBJECTIVES,
    PIXEL_BITS,
    LeafFn,
    PixelSumJudge,
    check_pixels,
    check_reveals,
    evaluate_leaves,
)

MAX_LEAVES = 1 << 25
"""The most leaves (C(n, k)) a search keeps a table for (one int16 each)."""
TIE_MARGIN = 1e-3
"""Leaves whose logit margins come this close to a tie are rescored by the reference judge
(the pixel-sum logits differ from it by float rounding, about 1e-5)."""

_LOW = (1 << NUM_OBJECTIVES) - 1  # the 10 honest-first questions
_ALL = (1 << (2 * NUM_OBJECTIVES)) - 1
_WEIGHTS = np.left_shift(1, np.arange(NUM_OBJECTIVES, dtype=np.int64))


@dataclass
class ProofStats:
    """What one search cost."""

    leaves: int = 0
    """Leaves scored (distinct: each once)."""
    rescored: int = 0
    """Leaves near a tie, scored again by the reference judge."""
    nodes: int = 0
    """Inner nodes expanded."""


class ProofSearch:
    """Exact minimax on one image: :meth:`values` and :meth:`play`, sharing one table.

    ``judge`` is the judge on this image as pixel sums (for speed), ``leaf_fn`` the same judge
    as a leaf function (for near-ties); ``pixels`` the image's nonzero pixels.
    """

    def __init__(
        self,
        pixels: np.ndarray,
        k: int,
        true_label: int,
        image_id: int,
        judge: PixelSumJudge,
        leaf_fn: LeafFn,
    ) -> None:
        px = check_pixels(pixels)
        check_reveals(k, px.shape[0])
        self.k = k
        self.n = int(px.shape[0])
        self.bits = [1 << int(p) for p in px]
        self.rows = np.ascontiguousarray(judge.rows[px], dtype=np.float32)
        self.base = np.asarray(judge.base, dtype=np.float32)
        self.judge = judge
        self.leaf_fn = leaf_fn
        self.image_id = image_id
        self.true_label = int(true_label)
        self.wrong = np.delete(np.arange(NUM_CLASSES), self.true_label)
        self.stats = ProofStats()
        self._table: dict[int, tuple[int, int]] = {}  # set -> (settled bits, their values)
        leaves = comb(self.n, k)
        if leaves > MAX_LEAVES:
            raise ValueError(f"C({self.n}, {k}) = {leaves} leaves: above {MAX_LEAVES}")
        # Each leaf's 10 win bits (-1: not scored yet), by its rank in colex order: the rank
        # of the k-set with sorted local indices a_0 < ... < a_{k-1} is sum_r C(a_r, r + 1).
        self._leaves = np.full(leaves, -1, dtype=np.int16)
        self._binom = np.array(
            [[comb(a, r + 1) for r in range(k)] for a in range(self.n)], dtype=np.int64
        )
        self._pixel_masks = PIXEL_BITS[px]

    def values(self) -> np.ndarray:
        """Honest-wins under optimal play, (10, 2) bool as :func:`.minimax.minimax_values`."""
        v = self._value(0, 0, self.base.copy(), _ALL)
        bits = (v >> np.arange(2 * NUM_OBJECTIVES)) & 1
        return bits.astype(bool).reshape(2, NUM_OBJECTIVES).T

    def play(self) -> np.ndarray:
        """Final revealed sets of optimal play, (10, 2) uint64: each mover takes the first good
        move in the search's order (honest the judge's favourite pixel first, the liar its
        least favourite), so the play follows the proof and costs little beyond it. Where no
        move is good, the first in that order. :func:`.minimax.minimax_play` breaks ties by
        pixel index instead: the same outcomes, possibly other pixels.

        Questions whose play has reached the same set move on together."""
        groups: dict[int, tuple[np.ndarray, int]] = {0: (self.base.copy(), _ALL)}
        for size in range(self.k):
            honest, liar = _movers(size)
            nxt: dict[int, tuple[np.ndarray, int]] = {}
            for state, (h, asked) in groups.items():
                free, children, order = self._ranked(state, h)
                for group, seq in ((asked & honest, order), (asked & liar, order[::-1])):
                    pending = group
                    for r in seq:
                        if not pending:
                            break
                        v = self._value(state | self.bits[free[r]], size + 1, children[r], pending)
                        good = pending & (v if group & honest else ~v)  # a win, or a loss
                        if good:
                            _join(nxt, state | self.bits[free[r]], children[r], good)
                            pending &= ~good
                    if pending:  # no good move for them: every move is as good
                        _join(nxt, state | self.bits[free[seq[0]]], children[seq[0]], pending)
            groups = nxt
        out = np.zeros((NUM_OBJECTIVES, 2), dtype=np.uint64)
        for state, (_, asked) in groups.items():
            for q in range(2 * NUM_OBJECTIVES):
                if asked >> q & 1:
                    out[q % NUM_OBJECTIVES, q // NUM_OBJECTIVES] = np.uint64(state)
        return out

    # -- search ---------------------------------------------------------------------------

    def _free(self, state: int) -> list[int]:
        return [i for i in range(self.n) if not state & self.bits[i]]

    def _ranked(self, state: int, h: np.ndarray) -> tuple[list[int], np.ndarray, list[int]]:
        """The free pixels of ``state``, their children's first layers, and the children's
        order by the judge's margin (best for honest first)."""
        free = self._free(state)
        children = h[None, :] + self.rows[free]
        order = [int(r) for r in np.argsort(-self._margin(children.copy()), kind="stable")]
        return free, children, order

    def _members(self, state: int) -> list[int]:
        return [i for i in range(self.n) if state & self.bits[i]]

    def _value(self, state: int, size: int, h: np.ndarray, need: int) -> int:
        """The bits ``need`` (at least) of the set ``state`` of ``size`` pixels whose first
        layer is ``h``."""
        if size == self.k:
            w = int(self._leaf_wins(self._members(state), np.zeros((1, 0), np.int64), h)[0])
            return w | (w << NUM_OBJECTIVES)
        settled, value = self._table.get(state, (0, 0))
        need &= ~settled
        if not need:
            return value
        self.stats.nodes += 1
        if size == self.k - 1:
            fresh, v = _ALL, self._last_one(state, size, h)
        elif size == self.k - 2:
            fresh, v = self._last_two(state, size, h, need)
        else:
            fresh, v = need, self._inner(state, size, h, need)
        value = (value & settled) | (v & fresh)
        self._table[state] = (settled | fresh, value)
        return value

    def _inner(self, state: int, size: int, h: np.ndarray, need: int) -> int:
        """Children best first: honest's questions until one child wins each, then the liar's
        until one loses each."""
        free, children, order = self._ranked(state, h)
        honest, liar = _movers(size)
        won, held = 0, _ALL  # honest's questions won so far; the liar's questions not yet lost
        for group, seq in ((need & honest, order), (need & liar, order[::-1])):
            for r in seq:
                open_ = group & ~won if group & honest else group & held
                if not open_:
                    break
                v = self._value(state | self.bits[free[r]], size + 1, children[r], open_)
                if group & honest:
                    won |= v & open_
                else:
                    held &= v | ~open_
        return (won & need & honest) | (held & need & liar)

    def _last_one(self, state: int, size: int, h: np.ndarray) -> int:
        """Every bit of a set one reveal short of ``k``: its leaves, all scored."""
        free = np.array(self._free(state), dtype=np.int64)
        w = self._leaf_wins(self._members(state), free[:, None], h)
        return _combine(int(np.bitwise_or.reduce(w)), int(np.bitwise_and.reduce(w)), size)

    def _last_two(self, state: int, size: int, h: np.ndarray, need: int) -> tuple[int, int]:
        """Settled bits (``need`` and any others) and their values for a set two reveals short
        of ``k``, from rows of its leaf matrix (see the module docstring): rows best first
        until every asked bit is settled."""
        members = self._members(state)
        free = np.array(self._free(state), dtype=np.int64)
        m = free.shape[0]
        a, b = np.triu_indices(m, 1)
        ranks = np.zeros((m, m), dtype=np.int64)
        ranks[a, b] = ranks[b, a] = self._ranks(members, np.stack([free[a], free[b]], axis=1))
        known = self._leaves[ranks].astype(np.int64)  # leaves scored under other sets too
        np.fill_diagonal(known, -1)
        heads = h[None, :] + self.rows[free]
        rank = np.empty(m, dtype=np.int64)
        rank[np.argsort(-self._margin(heads.copy()), kind="stable")] = np.arange(m)
        asked = (need | need >> NUM_OBJECTIVES) & _LOW  # the objectives asked, either mover
        rows = _Rows(known)
        batch = 1
        while True:
            settled, value = _spread(rows.settled(), size)
            if not need & ~settled:
                return settled, value
            # Next rows: after the judge's best, alternately the rows most likely all wins
            # and all losses on the objectives asked (known losses; then the judge's order),
            # one more each time: a row settles questions either way.
            losses = ((rows.known >= 0) & ((rows.known & asked) != asked)).sum(axis=1)
            for turn in range(batch):
                toward_loss = (batch + turn) % 2 == 0 and batch > 1
                key = (m - losses if toward_loss else losses) * m + rank
                key[rows.scored] = np.iinfo(np.int64).max
                e = int(key.argmin())
                if rows.scored[e]:
                    break
                self._score_row(state, e, free, ranks, heads[e], rows)
            batch += 1

    def _score_row(
        self,
        state: int,
        e: int,
        free: np.ndarray,
        ranks: np.ndarray,
        head: np.ndarray,
        rows: _Rows,
    ) -> None:
        """Score the leaves of row ``e`` not known yet and enter the row."""
        missing = np.flatnonzero(rows.known[e] < 0)
        missing = missing[missing != e]
        if missing.size:
            pre = head + self.rows[free[missing]]
            masks = np.uint64(state) | self._pixel_masks[free[e]] | self._pixel_masks[free[missing]]
            w = self._wins(pre, masks)
            self._leaves[ranks[e, missing]] = w
            rows.known[e, missing] = rows.known[missing, e] = w
        rows.score(e)

    def _ranks(self, members: list[int], extra: np.ndarray) -> np.ndarray:
        """Colex ranks of the leaves ``members`` plus each row of ``extra`` (local indices)."""
        sets = np.concatenate(
            [
                np.broadcast_to(
                    np.asarray(members, dtype=np.int64), (extra.shape[0], len(members))
                ),
                extra,
            ],
            axis=1,
        )
        sets.sort(axis=1)
        return self._binom[sets, np.arange(self.k)].sum(axis=1)

    def _leaf_wins(self, members: list[int], extra: np.ndarray, h: np.ndarray) -> np.ndarray:
        """Win bits of the leaves ``members`` plus each row of ``extra`` (``h``: the members'
        first layer), scoring only those not scored before."""
        ranks = self._ranks(members, extra)
        out = self._leaves[ranks].astype(np.int64)
        todo = np.flatnonzero(out < 0)
        if todo.size:
            add = extra[todo]
            pre = h[None, :] + self.rows[add].sum(axis=1)
            masks = np.bitwise_or.reduce(self._pixel_masks[add], axis=1) | np.bitwise_or.reduce(
                self._pixel_masks[members], initial=np.uint64(0)
            )
            out[todo] = self._leaves[ranks[todo]] = self._wins(pre, masks)
        return out

    def _wins(self, pre: np.ndarray, masks: np.ndarray) -> np.ndarray:
        """10 win bits per leaf (objective ``o < 9``: beats the ``o``-th lie; 9: beats all),
        from first-layer pre-activations ``pre`` and the leaves' ``masks``."""
        self.stats.leaves += pre.shape[0]
        z = self.judge.logits(pre)
        margins = z[:, self.true_label, None] - z[:, self.wrong]
        beats = margins > 0
        near = np.flatnonzero(np.abs(margins).min(axis=1) < TIE_MARGIN)
        if near.size:
            self.stats.rescored += int(near.size)
            exact = evaluate_leaves(self.leaf_fn, np.full(near.size, self.image_id), masks[near])
            exact = exact.astype(np.float64)
            beats[near] = exact[:, self.true_label, None] > exact[:, self.wrong]
        packed = (beats.astype(np.int64) * _WEIGHTS[:9]).sum(axis=1)
        return packed | beats.all(axis=1).astype(np.int64) << 9

    def _margin(self, pre: np.ndarray) -> np.ndarray:
        """How strongly the judge favours the true label on each set: its logit over the best
        other."""
        z = self.judge.logits(pre)
        return z[:, self.true_label] - np.delete(z, self.true_label, axis=1).max(axis=1)


def _join(groups: dict[int, tuple[np.ndarray, int]], state: int, h: np.ndarray, q: int) -> None:
    """Questions ``q`` move on to ``state`` (first layer ``h``)."""
    groups[state] = (h, groups.get(state, (h, 0))[1] | q)


def _movers(size: int) -> tuple[int, int]:
    """(questions where honest moves at this size, questions where the liar does)."""
    honest_first = _LOW if size % 2 == 0 else _ALL ^ _LOW
    return honest_first, _ALL ^ honest_first


def _combine(any_win: int, all_win: int, size: int) -> int:
    """20 bits of a set whose children's 10 win bits OR to ``any_win`` and AND to
    ``all_win``: OR where honest moves, AND where the liar does."""
    honest, liar = _movers(size)
    return ((any_win | any_win << NUM_OBJECTIVES) & honest) | (
        (all_win | all_win << NUM_OBJECTIVES) & liar
    )


class _Rows:
    """The leaf matrix of a set two reveals short of ``k``: 10 win bits per known entry (-1
    unknown; the diagonal is no leaf), which rows are fully scored, and what they settle."""

    def __init__(self, known: np.ndarray) -> None:
        self.known = known
        m = known.shape[0]
        self.scored = np.zeros(m, dtype=bool)
        seen = known >= 0
        self._win_in = np.bitwise_or.reduce(np.where(seen, known, 0), axis=1)  # a known win
        self._loss_in = np.bitwise_or.reduce(np.where(seen, ~known & _LOW, 0), axis=1)
        self._full_win = 0  # objectives some scored row wins everywhere
        self._full_loss = 0

    def score(self, e: int) -> None:
        """Row ``e`` is now fully known (its entries, and their mirror images, set)."""
        row = self.known[e]
        seen = row >= 0  # all but the diagonal
        wins = np.where(seen, row, 0)
        losses = np.where(seen, ~row & _LOW, 0)
        self.scored[e] = True
        self._win_in |= wins
        self._loss_in |= losses
        self._win_in[e] = int(np.bitwise_or.reduce(wins))
        self._loss_in[e] = int(np.bitwise_or.reduce(losses))
        self._full_win |= int(np.bitwise_and.reduce(np.where(seen, row, _LOW)))
        self._full_loss |= int(np.bitwise_and.reduce(np.where(seen, losses, _LOW)))

    def settled(self) -> tuple[int, int, int, int]:
        """10 bits each: (settled, value) of "some row holds only wins", then of "every row
        holds a win"."""
        every_loss = int(np.bitwise_and.reduce(self._loss_in))
        every_win = int(np.bitwise_and.reduce(self._win_in))
        return (
            self._full_win | every_loss,
            self._full_win,
            every_win | self._full_loss,
            every_win,
        )


def _spread(settle: tuple[int, int, int, int], size: int) -> tuple[int, int]:
    """:func:`_settle`'s two kinds of question placed on the 20 bits (settled, value) of a set
    of ``size`` pixels: the first mover's questions on bits 0-9 are of the first kind when
    honest moves at this size."""
    s_some, v_some, s_every, v_every = settle
    if size % 2 == 0:  # honest-first questions: honest, then the liar
        return s_some | s_every << NUM_OBJECTIVES, v_some | v_every << NUM_OBJECTIVES
    return s_every | s_some << NUM_OBJECTIVES, v_every | v_some << NUM_OBJECTIVES
