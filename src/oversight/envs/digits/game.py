"""The pixel-debate game on 8x8 digits (Irving, Christiano & Amodei 2018, section 3.1).

One game is played on one image. Its ``n`` nonzero pixels (indices 0..63, sorted) are the only
legal moves. Two debaters, honest and liar, alternately reveal one not-yet-revealed nonzero pixel
each, ``k`` reveals in all, starting with the first mover (``"honest"`` or ``"liar"``). A sparse
judge then sees only the revealed pixels and outputs 10 logits; :func:`honest_wins` decides.

A state is the set of revealed pixels, a ``uint64`` bitmask with bit ``i`` for pixel ``i``. Who
moves next follows from the state's size: the first mover moves when an even number of pixels
is revealed. So the game's value depends only on the set, not on the order of the reveals.

Objectives ``o = 0..9``: ``o`` in 0..8 is the precommit game in which the liar committed to the
``o``-th wrong label (wrong labels in increasing order, skipping the true label); ``o = 9``
(:data:`NO_PRECOMMIT`) is the game without precommitment. Ties always go to the liar.

The judge reaches the solvers as a :data:`LeafFn`, a batched function of (image ids, masks).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal, Protocol

import numpy as np

NUM_PIXELS = 64
NUM_CLASSES = 10
NUM_OBJECTIVES = 10
NO_PRECOMMIT = 9
"""The objective index of the game without precommitment."""

FirstMover = Literal["honest", "liar"]
FIRST_MOVERS: tuple[FirstMover, FirstMover] = ("honest", "liar")
"""Column order of the first-mover axis in solver outputs (index 0: honest moves first)."""

LeafFn = Callable[[np.ndarray, np.ndarray], np.ndarray]
"""``(image_ids (B,) int, masks (B,) uint64) -> logits (B, 10) float32``.

It must accept any mask, including sets smaller than ``k`` (greedy play scores partial sets).
:func:`mask_to_bool` turns the masks into the (B, 64) revealed-pixel planes a judge reads.
"""


class PixelSumJudge(Protocol):
    """A judge on one image whose first layer sums per-pixel rows (the sparse MLP judge's
    :class:`~oversight.judges.sparse_pixel.PixelSums`): exact search adds one row per reveal."""

    base: np.ndarray
    """(hidden,) the first layer's pre-activation with nothing revealed."""
    rows: np.ndarray
    """(64, hidden) what each pixel's reveal adds."""

    def logits(self, pre: np.ndarray) -> np.ndarray:
        """(B, 10) logits from (B, hidden) pre-activations (which it may overwrite)."""
        ...


PIXEL_BITS = np.left_shift(np.uint64(1), np.arange(NUM_PIXELS, dtype=np.uint64))
"""``PIXEL_BITS[i]`` is the mask of pixel ``i`` alone."""


def is_honest_first(first: FirstMover) -> bool:
    """``first`` ("honest" or "liar") as the bool that :class:`DebateGames` stores."""
    if first not in FIRST_MOVERS:
        raise ValueError(f"first must be 'honest' or 'liar', got {first!r}")
    return first == "honest"


def check_reveals(k: int, n: int) -> None:
    """Refuse a reveal count the game cannot have: it needs ``1 <= k <= n`` nonzero pixels."""
    if k < 1:
        raise ValueError(f"k must be at least 1 reveal, got k={k}")
    if k > n:
        raise ValueError(f"k={k} reveals need at least k nonzero pixels; the image has {n}")


def check_pixels(pixels: np.ndarray) -> np.ndarray:
    """``pixels`` as a sorted int64 array of distinct indices in 0..63 (else ValueError)."""
    px = np.asarray(pixels, dtype=np.int64).reshape(-1)
    if px.size and (px.min() < 0 or px.max() >= NUM_PIXELS):
        raise ValueError(f"pixel indices must lie in 0..63, got {px.min()}..{px.max()}")
    if np.any(np.diff(px) <= 0):
        raise ValueError("pixels must be sorted and distinct")
    return px


def lie_labels(true_label: np.ndarray | int, objective: np.ndarray | int) -> np.ndarray:
    """The liar's committed label per objective, or -1 for :data:`NO_PRECOMMIT` (broadcasts).

    Objective ``o < 9`` is the ``o``-th wrong label: ``o`` below the true label, else ``o + 1``.
    """
    t = np.asarray(true_label, dtype=np.int64)
    o = np.asarray(objective, dtype=np.int64)
    _check_labels(t, o)
    lie = o + (o >= t)
    return np.where(o == NO_PRECOMMIT, -1, lie)


def honest_wins(
    logits: np.ndarray, true_label: np.ndarray | int, objective: np.ndarray | int
) -> np.ndarray:
    """Whether honest wins, given the judge's logits ``(..., 10)`` (bool array of shape ``...``).

    ``logits.shape[:-1]``, ``true_label`` and ``objective`` broadcast together. Precommit with lie
    ``L``: honest wins iff ``logit[true] > logit[L]``. No precommit: iff ``logit[true]`` is
    strictly above every other logit. Ties (and NaNs) go to the liar.
    """
    true_logit, target = _true_and_target(np.asarray(logits), true_label, objective)
    return true_logit > target


def honest_wins_by_objective(logits: np.ndarray, true_label: int) -> np.ndarray:
    """:func:`honest_wins` for all 10 objectives of one true label: ``(..., 10)`` bool.

    The same rules as ``honest_wins(logits[..., None, :], true_label, np.arange(10))``, computed
    without the (..., 10, 10) temporaries (the solvers call it on millions of leaves).
    """
    z = np.asarray(logits)
    if z.ndim < 1 or z.shape[-1] != NUM_CLASSES:
        raise ValueError(f"logits must have shape (..., 10), got {z.shape}")
    _check_labels(np.asarray(true_label), np.zeros(0, dtype=np.int64))
    wrong = np.delete(np.arange(NUM_CLASSES), true_label)  # objective o's lie is wrong[o]
    beats = z[..., true_label : true_label + 1] > z[..., wrong]
    return np.concatenate([beats, beats.all(axis=-1, keepdims=True)], axis=-1)


def honest_margin(
    logits: np.ndarray, true_label: np.ndarray | int, objective: np.ndarray | int
) -> np.ndarray:
    """``logit[true]`` minus the liar's target logit, as float64 (positive iff honest wins).

    The target is ``logit[L]`` for the precommitted lie ``L``, else the largest other logit.
    """
    true_logit, target = _true_and_target(np.asarray(logits, np.float64), true_label, objective)
    return true_logit - target


def _true_and_target(
    z: np.ndarray, true_label: np.ndarray | int, objective: np.ndarray | int
) -> tuple[np.ndarray, np.ndarray]:
    """The true label's logit and the liar's target logit, each of shape ``z.shape[:-1]``."""
    if z.ndim < 1 or z.shape[-1] != NUM_CLASSES:
        raise ValueError(f"logits must have shape (..., 10), got {z.shape}")
    t = np.asarray(true_label, dtype=np.int64)
    o = np.asarray(objective, dtype=np.int64)
    batch = np.broadcast_shapes(z.shape[:-1], t.shape, o.shape)
    z = np.broadcast_to(z, (*batch, NUM_CLASSES))
    t, o = np.broadcast_to(t, batch), np.broadcast_to(o, batch)
    lie = lie_labels(t, o)
    true_logit = np.take_along_axis(z, t[..., None], axis=-1)[..., 0]
    lie_logit = np.take_along_axis(z, np.maximum(lie, 0)[..., None], axis=-1)[..., 0]
    # Without precommitment every other label is a liar's answer: the strongest one counts.
    others = np.where(np.arange(NUM_CLASSES) == t[..., None], -np.inf, z)
    return true_logit, np.where(lie < 0, others.max(axis=-1), lie_logit)


def honest_to_move(first_honest: np.ndarray | bool, revealed: int) -> np.ndarray:
    """Whether honest makes the next reveal once ``revealed`` pixels are shown."""
    return np.asarray(first_honest, dtype=bool) == (revealed % 2 == 0)


def mask_to_bool(masks: np.ndarray) -> np.ndarray:
    """Unpack ``uint64`` masks of shape ``S`` into a bool array ``S + (64,)`` (bit i: pixel i)."""
    m = np.ascontiguousarray(masks, dtype="<u8")
    bytes_ = m.reshape(-1).view(np.uint8).reshape(-1, 8)
    bits = np.unpackbits(bytes_, axis=1, bitorder="little")
    return bits.view(bool).reshape(*m.shape, NUM_PIXELS)


def bool_to_mask(revealed: np.ndarray) -> np.ndarray:
    """Pack a bool array ``S + (64,)`` into ``uint64`` masks of shape ``S`` (inverse of
    :func:`mask_to_bool`)."""
    b = np.asarray(revealed, dtype=bool)
    if b.shape[-1:] != (NUM_PIXELS,):
        raise ValueError(f"expected a trailing axis of 64 pixels, got shape {b.shape}")
    packed = np.packbits(b.reshape(-1, NUM_PIXELS), axis=1, bitorder="little")
    return packed.view("<u8")[:, 0].astype(np.uint64).reshape(b.shape[:-1])


def pixels_to_mask(pixels: np.ndarray) -> np.uint64:
    """The mask of a set of pixel indices."""
    px = np.asarray(pixels, dtype=np.int64).reshape(-1)
    return np.bitwise_or.reduce(PIXEL_BITS[px], initial=np.uint64(0))


def mask_to_pixels(mask: int | np.uint64) -> np.ndarray:
    """The sorted pixel indices of one mask."""
    return np.flatnonzero(mask_to_bool(np.asarray([mask], dtype=np.uint64))[0])


def evaluate_leaves(leaf_fn: LeafFn, image_ids: np.ndarray, masks: np.ndarray) -> np.ndarray:
    """Call ``leaf_fn`` once and check that it returned (B, 10) logits."""
    ids = np.ascontiguousarray(image_ids, dtype=np.int64)
    ms = np.ascontiguousarray(masks, dtype=np.uint64)
    logits = np.asarray(leaf_fn(ids, ms))
    if logits.shape != (ids.shape[0], NUM_CLASSES):
        raise ValueError(f"leaf_fn returned shape {logits.shape}, expected ({ids.shape[0]}, 10)")
    return logits


class LeafCache:
    """Judge logits per (image_id, mask), shared by every game on the same image.

    Games on one image (all objectives, both first movers) ask about the same sets again and
    again, and logits do not depend on the objective, so each distinct pair is evaluated once.
    Misses are deduplicated within a request before they go to ``leaf_fn``. Counters record
    what was asked and what was evaluated.

    ``batch=True`` sends all misses of one request to ``leaf_fn`` in one call; ``batch=False``
    calls it once per missing leaf (a baseline for benchmarks). :meth:`clear` frees the entries
    and keeps the counters. The index is a vectorized hash table rather than a dict: a dict
    lookup per leaf cost about a third of a lockstep MCTS simulation.
    """

    def __init__(self, leaf_fn: LeafFn, batch: bool = True) -> None:
        self.leaf_fn = leaf_fn
        self.batch = batch
        self.calls = 0
        """``leaf_fn`` calls made."""
        self.requested = 0
        """Leaves asked for, duplicates and cache hits included."""
        self.evaluated = 0
        """Leaves sent to ``leaf_fn`` (distinct, not cached)."""
        self.clear()

    def __len__(self) -> int:
        """Distinct leaves cached."""
        return self._index.size

    def clear(self) -> None:
        """Forget every cached leaf (the counters stay)."""
        self._index = _PairIndex()
        # float64 holds any float32 logits exactly, so caching never creates or breaks ties.
        self._logits = np.empty((1024, NUM_CLASSES), dtype=np.float64)

    def logits(self, image_ids: np.ndarray, masks: np.ndarray) -> np.ndarray:
        """(B, 10) float64 logits for the pairs ``(image_ids[i], masks[i])``."""
        ids = np.asarray(image_ids, dtype=np.int64).reshape(-1)
        ms = np.asarray(masks, dtype=np.uint64).reshape(-1)
        self.requested += ids.shape[0]
        if ids.size and ids.min() < 0:
            raise ValueError("image ids must be non-negative")
        rows, fresh = self._index.lookup_or_add(ids, ms)
        if fresh.size:
            self._store(rows[fresh], self._evaluate(ids[fresh], ms[fresh]))
        return self._logits[rows]

    def _evaluate(self, ids: np.ndarray, masks: np.ndarray) -> np.ndarray:
        """Logits of distinct new leaves, in one call or one call per leaf."""
        self.evaluated += ids.shape[0]
        if self.batch:
            self.calls += 1
            return evaluate_leaves(self.leaf_fn, ids, masks)
        self.calls += ids.shape[0]
        return np.concatenate(
            [
                evaluate_leaves(self.leaf_fn, ids[i : i + 1], masks[i : i + 1])
                for i in range(ids.shape[0])
            ]
        )

    def _store(self, rows: np.ndarray, logits: np.ndarray) -> None:
        if self._index.size > self._logits.shape[0]:
            grown = np.empty((2 * self._index.size, NUM_CLASSES), dtype=np.float64)
            grown[: self._logits.shape[0]] = self._logits
            self._logits = grown
        self._logits[rows] = logits


class _PairIndex:
    """An open-addressing hash table from (image_id >= 0, mask) to a row, vectorized.

    Rows are handed out 0, 1, 2, ... as keys arrive. Double hashing at load factor at most 1/2:
    each probe round is a few numpy operations over the keys still unresolved, and the number of
    rounds grows only logarithmically with the batch.
    """

    def __init__(self, capacity: int = 1 << 12) -> None:
        self._reset(capacity)

    def _reset(self, capacity: int) -> None:
        self.size = 0
        self._ids = np.full(capacity, -1, dtype=np.int64)  # -1: empty slot
        self._masks = np.zeros(capacity, dtype=np.uint64)
        self._rows = np.zeros(capacity, dtype=np.int64)

    def lookup_or_add(
        self, ids: np.ndarray, masks: np.ndarray, given_rows: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Each key's row, adding absent keys; also the positions that added a key.

        Duplicates in the batch get the same row; only one of them counts as added. Added keys
        get the next free rows, or ``given_rows`` (used when rehashing distinct keys).
        """
        if 2 * (self.size + ids.shape[0]) > self._ids.shape[0]:
            self._grow(2 * (self.size + ids.shape[0]))
        rows = np.full(ids.shape[0], -1, dtype=np.int64)
        added = np.zeros(ids.shape[0], dtype=bool)
        slot, step = self._probe(ids, masks)
        todo = np.arange(ids.shape[0])
        while todo.size:
            s = slot[todo]
            held = self._ids[s]
            hit = (held == ids[todo]) & (self._masks[s] == masks[todo])
            rows[todo[hit]] = self._rows[s[hit]]
            free = held < 0
            # Several keys may reach one free slot in a round: the first takes it, and the
            # others look at it again next round (a duplicate key then finds its row there).
            taken, first = np.unique(s[free], return_index=True)
            winners = todo[free][first]
            if given_rows is None:
                new_rows = np.arange(self.size, self.size + winners.shape[0])
            else:
                new_rows = given_rows[winners]
            self.size += winners.shape[0]
            self._ids[taken], self._masks[taken] = ids[winners], masks[winners]
            self._rows[taken] = rows[winners] = new_rows
            added[winners] = True
            moving = todo[~hit & ~free]
            slot[moving] = (slot[moving] + step[moving]) & (self._ids.shape[0] - 1)
            todo = todo[rows[todo] < 0]
        return rows, np.flatnonzero(added)

    def _grow(self, at_least: int) -> None:
        used = self._ids >= 0
        ids, masks, rows = self._ids[used], self._masks[used], self._rows[used]
        capacity = self._ids.shape[0]
        while capacity < at_least:
            capacity *= 2
        self._reset(capacity)
        self.lookup_or_add(ids, masks, given_rows=rows)

    def _probe(self, ids: np.ndarray, masks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Each key's first slot and its probe step (odd, so probes visit every slot)."""
        h = mix64(masks ^ mix64(ids.astype(np.uint64)))
        capacity = np.uint64(self._ids.shape[0] - 1)
        slot = (h & capacity).astype(np.int64)
        step = (((h >> np.uint64(32)) | np.uint64(1)) & capacity).astype(np.int64)
        return slot, step


def mix64(x: np.ndarray) -> np.ndarray:
    """The splitmix64 finalizer, elementwise on uint64: a fast, well-mixing 64-bit hash."""
    x = np.asarray(x, dtype=np.uint64)
    # Multiplication wraps modulo 2**64 on purpose.
    x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return x ^ (x >> np.uint64(31))


@dataclass(frozen=True)
class DebateGames:
    """G games to play in one batch, as parallel arrays.

    ``nonzero`` is the per-image lookup of legal pixels: row ``i`` is image ``i``'s nonzero-pixel
    plane, so ``image_ids`` index its rows. Build one from a dataset with :meth:`grid`.
    """

    image_ids: np.ndarray
    """(G,) int64 rows of ``nonzero``."""
    true_labels: np.ndarray
    """(G,) int64 in 0..9."""
    objectives: np.ndarray
    """(G,) int64 in 0..9 (9 = no precommit)."""
    first_honest: np.ndarray
    """(G,) bool: honest makes the first reveal."""
    nonzero: np.ndarray
    """(num_images, 64) bool."""

    def __post_init__(self) -> None:
        ids = np.asarray(self.image_ids, dtype=np.int64).reshape(-1)
        g = ids.shape[0]
        fields = {
            "image_ids": ids,
            "true_labels": np.asarray(self.true_labels, dtype=np.int64).reshape(-1),
            "objectives": np.asarray(self.objectives, dtype=np.int64).reshape(-1),
            "first_honest": np.asarray(self.first_honest, dtype=bool).reshape(-1),
            "nonzero": np.asarray(self.nonzero, dtype=bool),
        }
        for name, value in fields.items():
            if name != "nonzero" and value.shape != (g,):
                raise ValueError(f"{name} has {value.shape[0]} entries, image_ids has {g}")
            object.__setattr__(self, name, value)
        nz = fields["nonzero"]
        if nz.ndim != 2 or nz.shape[1] != NUM_PIXELS:
            raise ValueError(f"nonzero must have shape (num_images, 64), got {nz.shape}")
        if g and (ids.min() < 0 or ids.max() >= nz.shape[0]):
            raise ValueError("image_ids must index rows of nonzero")
        _check_labels(fields["true_labels"], fields["objectives"])

    @classmethod
    def grid(
        cls, image_ids: np.ndarray, true_labels: np.ndarray, nonzero: np.ndarray
    ) -> DebateGames:
        """Every (image, objective, first mover) game: ``20 * len(image_ids)`` games, ordered
        image-major, then objective 0..9, then honest-first before liar-first."""
        ids = np.asarray(image_ids, dtype=np.int64).reshape(-1)
        per = NUM_OBJECTIVES * 2
        return cls(
            image_ids=np.repeat(ids, per),
            true_labels=np.repeat(np.asarray(true_labels, dtype=np.int64).reshape(-1), per),
            objectives=np.tile(np.repeat(np.arange(NUM_OBJECTIVES), 2), ids.shape[0]),
            first_honest=np.tile(np.array([True, False]), ids.shape[0] * NUM_OBJECTIVES),
            nonzero=nonzero,
        )

    def __len__(self) -> int:
        return int(self.image_ids.shape[0])

    def legal(self) -> np.ndarray:
        """(G, 64) bool: each game's nonzero pixels."""
        return self.nonzero[self.image_ids]

    def check_reveals(self, k: int) -> None:
        """Refuse ``k`` if any game's image has fewer than ``k`` nonzero pixels."""
        counts = self.nonzero.sum(axis=1)[self.image_ids]
        check_reveals(k, int(counts.min()) if counts.size else k)


def brute_force_value(
    pixels: np.ndarray,
    k: int,
    true_label: int,
    image_id: int,
    leaf_fn: LeafFn,
    objective: int,
    honest_first: bool,
) -> bool:
    """Honest-wins under optimal play, by explicit recursion over ordered move sequences.

    Exponential (``n! / (n - k)!`` leaves, one ``leaf_fn`` call each): a reference for tests on
    tiny games, sharing nothing with the fast solvers but :func:`honest_wins`.
    """
    px = [int(p) for p in check_pixels(pixels)]
    check_reveals(k, len(px))

    def value(revealed: tuple[int, ...]) -> bool:
        if len(revealed) == k:
            mask = np.asarray([pixels_to_mask(np.asarray(revealed))], dtype=np.uint64)
            logits = evaluate_leaves(leaf_fn, np.asarray([image_id]), mask)
            return bool(honest_wins(logits[0], true_label, objective))
        outcomes = [value((*revealed, p)) for p in px if p not in revealed]
        honest_moves = (len(revealed) % 2 == 0) == honest_first
        return any(outcomes) if honest_moves else all(outcomes)

    return value(())


def _check_labels(true_label: np.ndarray, objective: np.ndarray) -> None:
    if true_label.size and (true_label.min() < 0 or true_label.max() >= NUM_CLASSES):
        raise ValueError("true labels must lie in 0..9")
    if objective.size and (objective.min() < 0 or objective.max() >= NUM_OBJECTIVES):
        raise ValueError("objectives must lie in 0..9 (9 = no precommit)")
