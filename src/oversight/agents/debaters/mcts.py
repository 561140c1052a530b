"""Pure Monte Carlo tree search for pixel debates, many games in lockstep.

As in Irving, Christiano & Amodei (2018): no learned prior or value. Before each of the ``k``
moves the player to move runs ``rollouts`` simulations from the current state in a fresh tree:

- selection by PUCT, ``Q + c * P * sqrt(sum_b N_b) / (1 + N_a)``, with a uniform prior ``P`` over
  the unrevealed nonzero pixels and ``Q`` the mean outcome from the point of view of the player
  to move at that node (+1 win, -1 loss); an unvisited edge scores ``Q = unvisited_q``
  (default 0, halfway between a loss and a win). Exact ties (such as all unvisited edges) are
  broken by a random order of the pixels drawn per game and move, the same at every node of
  that move's tree;
- expansion of one new node per simulation (the first unvisited edge on the path);
- a uniformly random rollout to a set of ``k`` pixels;
- the terminal value is :func:`~oversight.envs.digits.game.honest_wins` on the judge's logits,
  backed up along the path;

then the most-visited root edge is played (ties: higher mean value for the mover, then the
same random order).

All games run in lockstep: one simulation is a few numpy operations per tree level over
(G, n_max) arrays, and its G terminal sets go to the judge in one call through a
:class:`~oversight.envs.digits.game.LeafCache`. Games are grouped by image into chunks, so the
cache is shared by every game on an image while memory stays bounded. Randomness comes from a
counter-based hash of (seed, game index, move, simulation, pixel), so a game's result depends on
its position in ``games`` but not on chunking, on ``batch_leaves``, or on the other games.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np

from oversight.core.seeding import derive_seed
from oversight.envs.digits.game import (
    NUM_PIXELS,
    PIXEL_BITS,
    DebateGames,
    LeafCache,
    LeafFn,
    honest_wins,
    mix64,
)

_MEMORY_BYTES = 512 * 2**20
"""Target size of one chunk's trees plus its leaf cache (an estimate, not a hard cap)."""
_CACHE_BYTES_PER_LEAF = 250
"""Hash-table slots (at load 1/4..1/2) and a float64 logits row (in a doubling buffer) per leaf."""


@dataclass(frozen=True)
class MCTSResult:
    """Outcome of :func:`mcts_play`, aligned with the input games."""

    honest_wins: np.ndarray
    """(G,) bool: honest won the game as played."""
    masks: np.ndarray
    """(G,) uint64: the final revealed sets (``k`` nonzero pixels each)."""
    leaf_calls: int
    """Calls made to ``leaf_fn``."""
    leaves_requested: int
    """Terminal sets the searches asked the judge about (duplicates included)."""
    leaves_evaluated: int
    """Leaves actually sent to ``leaf_fn`` after deduplication and the cache."""


def mcts_play(
    games: DebateGames,
    k: int,
    rollouts: int,
    leaf_fn: LeafFn,
    seed: int,
    c: float = 1.0,
    batch_leaves: bool = True,
    *,
    unvisited_q: float = 0.0,
    chunk_games: int | None = None,
) -> MCTSResult:
    """Play every game with both debaters searching by MCTS; see the module docstring.

    ``chunk_games`` caps the games searched together (default: as many as fit about 512 MB of
    trees and cache). Raises ValueError if ``rollouts < 1`` or ``k`` is not in 1..n for an image.
    """
    games.check_reveals(k)
    if rollouts < 1:
        raise ValueError(f"rollouts must be at least 1, got {rollouts}")
    if chunk_games is not None and chunk_games < 1:
        raise ValueError(f"chunk_games must be at least 1, got {chunk_games}")
    size = chunk_games or _auto_chunk(rollouts, k)
    cache = LeafCache(leaf_fn, batch=batch_leaves)
    wins = np.zeros(len(games), dtype=bool)
    masks = np.zeros(len(games), dtype=np.uint64)
    key = np.uint64(derive_seed(seed, "mcts"))
    for idx in _image_chunks(games.image_ids, size):
        cache.clear()  # chunks hold whole images, so no other chunk would hit these entries
        search = _ChunkSearch(games, idx, k, rollouts, cache, key, c, unvisited_q)
        wins[idx], masks[idx] = search.play()
    return MCTSResult(wins, masks, cache.calls, cache.requested, cache.evaluated)


class _ChunkSearch:
    """The lockstep search state for one chunk of games.

    Trees index edges by *slot*, not pixel: before each move every game draws a random order of
    its nonzero pixels, and slot ``s`` is the ``s``-th pixel in that order. Slots ``>= n`` of
    an image are never legal, so the trees are only as wide as the chunk's largest ``n``, and
    ``argmax`` picking the lowest slot among exact ties breaks them in a random order.
    """

    def __init__(
        self,
        games: DebateGames,
        idx: np.ndarray,
        k: int,
        rollouts: int,
        cache: LeafCache,
        key: np.uint64,
        c: float,
        unvisited_q: float,
    ) -> None:
        self.k, self.rollouts, self.cache = k, rollouts, cache
        self.c, self.unvisited_q = c, unvisited_q
        self.image_ids = games.image_ids[idx]
        self.true_labels = games.true_labels[idx]
        self.objectives = games.objectives[idx]
        self.first_honest = games.first_honest[idx]
        self.legal = games.legal()[idx]
        self.num_legal = self.legal.sum(axis=1)
        self.game_keys = mix64(key ^ (idx.astype(np.uint64) * _GOLDEN))
        self.masks = np.zeros(idx.shape[0], dtype=np.uint64)
        self.rows = np.arange(idx.shape[0])
        self.width = int(self.num_legal.max())
        self.slot_legal = np.arange(self.width) < self.num_legal[:, None]
        nodes = rollouts + 1  # the root plus one expansion per simulation
        # int16 halves the trees' memory whenever counts and node ids fit in it.
        dtype = np.int16 if nodes < np.iinfo(np.int16).max else np.int32
        shape = (idx.shape[0], nodes, self.width)
        self.nodes = nodes
        # Flat views: (game * nodes + node) rows; np.take on them beats 2-D fancy indexing.
        self.child = np.empty(shape, dtype=dtype).reshape(-1, self.width)
        self.visits = np.empty(shape, dtype=dtype).reshape(-1, self.width)
        self.wins = np.empty(shape, dtype=dtype).reshape(-1, self.width)
        self.count = np.empty(idx.shape[0], dtype=np.int64)

    def play(self) -> tuple[np.ndarray, np.ndarray]:
        """Play all ``k`` moves; return honest-wins and the final masks."""
        for move in range(self.k):
            self._new_trees(move)
            for sim in range(self.rollouts):
                self._simulate(move, sim)
            self.masks |= self.slot_bits[self.rows, self._most_visited(move)]
        logits = self.cache.logits(self.image_ids, self.masks)
        return honest_wins(logits, self.true_labels, self.objectives), self.masks

    def _new_trees(self, move: int) -> None:
        """Empty trees rooted at the current states, with a fresh slot order per game."""
        self.child.fill(-1)
        self.visits.fill(0)
        self.wins.fill(0)
        self.count.fill(1)  # node 0 is the root
        order = _pixel_hash(mix64(self.game_keys ^ _tag(1, move, 0)), NUM_PIXELS)
        order[~self.legal] = np.iinfo(np.uint64).max  # zero pixels sort last, past slot n
        pixels = np.argsort(order, axis=1)[:, : self.width]
        self.slot_bits = PIXEL_BITS[pixels]
        self.root_revealed = (self.masks[:, None] & self.slot_bits) != 0

    def _simulate(self, move: int, sim: int) -> None:
        """One simulation for every game: select, expand, roll out, evaluate, back up."""
        depth = self.k - move
        path_row = np.full((self.rows.shape[0], depth), -1, dtype=np.int64)
        path_edge = np.full((self.rows.shape[0], depth), -1, dtype=np.int64)
        revealed = self.root_revealed.copy()
        masks = self.masks.copy()
        node = np.zeros(self.rows.shape[0], dtype=np.int64)
        going = self.rows  # games still descending through existing nodes
        for step in range(depth):
            if going.shape[0] == 0:
                break
            at = going * self.nodes + node[going]  # flat row of each game's current node
            edge = self._select(going, at, revealed[going], move + step)
            revealed[going, edge] = True
            masks[going] |= self.slot_bits[going, edge]
            path_row[going, step] = at
            path_edge[going, step] = edge
            nxt = self.child[at, edge].astype(np.int64)
            new = nxt < 0
            g_new = going[new]
            nxt[new] = self.count[g_new]
            self.child[at[new], edge[new]] = nxt[new]
            self.count[g_new] += 1
            node[going] = nxt
            going = going[~new]
        masks |= self._roll_out(revealed, move, sim)
        logits = self.cache.logits(self.image_ids, masks)
        value = honest_wins(logits, self.true_labels, self.objectives)
        used = path_edge >= 0
        g = np.broadcast_to(self.rows[:, None], used.shape)[used]
        # A path never repeats an edge, so plain fancy += (no np.add.at) counts each once.
        flat = path_row[used] * self.width + path_edge[used]
        self.visits.reshape(-1)[flat] += 1
        self.wins.reshape(-1)[flat] += value[g]

    def _select(self, g: np.ndarray, at: np.ndarray, revealed: np.ndarray, size: int) -> np.ndarray:
        """PUCT edge choice for games ``g`` at flat node rows ``at`` (``size`` pixels shown)."""
        n = np.take(self.visits, at, axis=0).astype(np.float32)
        w = np.take(self.wins, at, axis=0).astype(np.float32)
        mover = np.where(self.first_honest[g] == (size % 2 == 0), 1.0, -1.0).astype(np.float32)
        # Mean of +1/-1 outcomes for the mover; exactly 0 where unvisited (w = n = 0).
        q = (2 * w - n) / np.maximum(n, 1) * mover[:, None]
        if self.unvisited_q:
            q += (n == 0) * np.float32(self.unvisited_q)
        prior = 1.0 / (self.num_legal[g] - size)
        scale = (self.c * prior * np.sqrt(n.sum(axis=1))).astype(np.float32)
        score = q + scale[:, None] / (1 + n)
        score[revealed | ~self.slot_legal[g]] = -np.inf
        return score.argmax(axis=1)

    def _roll_out(self, revealed: np.ndarray, move: int, sim: int) -> np.ndarray:
        """Complete every game's set to ``k`` pixels uniformly at random; return the added bits.

        ``revealed`` is updated in place.
        """
        added = np.zeros(self.rows.shape[0], dtype=np.uint64)
        need = self.k - revealed.sum(axis=1)
        if not need.any():
            return added
        noise = _pixel_hash(mix64(self.game_keys ^ _tag(2, move, sim)), self.width)
        noise |= np.uint64(1)  # available slots stay nonzero, so the argmax only takes those
        noise[revealed | ~self.slot_legal] = 0
        for j in range(int(need.max())):
            # Repeatedly taking the largest of i.i.d. keys draws a uniform random subset.
            todo = np.flatnonzero(need > j)
            slot = noise[todo].argmax(axis=1)
            noise[todo, slot] = 0
            revealed[todo, slot] = True
            added[todo] |= self.slot_bits[todo, slot]
        return added

    def _most_visited(self, move: int) -> np.ndarray:
        """The root slot to play: most visits, then the mover's mean value, then slot order."""
        roots = self.rows * self.nodes
        n = self.visits[roots].astype(np.float64)
        w = self.wins[roots].astype(np.float64)
        mover = np.where(self.first_honest == (move % 2 == 0), 1.0, -1.0)
        # The mover's mean value, in [-0.5, 0.5]: it only orders edges with equal visit counts.
        value = mover[:, None] * (w / np.maximum(n, 1.0) - 0.5)
        key = np.where(n > 0, n + 0.5 * value, 0.0)
        key[self.root_revealed | ~self.slot_legal] = -np.inf
        return key.argmax(axis=1)


def _auto_chunk(rollouts: int, k: int) -> int:
    """Games per chunk that keep trees and leaf cache near the memory target.

    Trees take 3 arrays of 2-byte (or 4-byte) entries per node and pixel slot; the cache at most
    one leaf per simulation.
    """
    edge_bytes = 2 if rollouts + 1 < np.iinfo(np.int16).max else 4
    tree = 3 * edge_bytes * NUM_PIXELS * (rollouts + 1)
    cache = _CACHE_BYTES_PER_LEAF * rollouts * k
    return max(1, _MEMORY_BYTES // (tree + cache))


def _image_chunks(image_ids: np.ndarray, size: int) -> list[np.ndarray]:
    """Game indices in chunks of at most ``size``, keeping each image's games together
    (an image with more than ``size`` games is split)."""
    order = np.argsort(image_ids, kind="stable")
    starts = np.flatnonzero(np.r_[True, np.diff(image_ids[order]) != 0])
    bounds = np.r_[starts, order.shape[0]]
    chunks: list[np.ndarray] = []
    begin = 0
    for lo, hi in itertools.pairwise(bounds):
        if hi - begin > size and lo > begin:
            chunks.append(order[begin:lo])
            begin = lo
        while hi - begin > size:
            chunks.append(order[begin : begin + size])
            begin += size
    if begin < order.shape[0]:
        chunks.append(order[begin:])
    return chunks


_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_PIXEL_SALT = (np.arange(1, NUM_PIXELS + 1, dtype=np.uint64) * _GOLDEN).reshape(1, -1)


def _tag(stream: int, a: int, b: int) -> np.uint64:
    """A 64-bit tag naming one random stream (kind, move, simulation or depth)."""
    return np.uint64(derive_seed(stream, a, b))


def _pixel_hash(keys: np.ndarray, width: int) -> np.ndarray:
    """(A, width) pseudo-random uint64 words from (A,) well-mixed keys.

    One multiply and xor-shift per word: cheap, and random enough to order pixels and draw
    rollouts once the per-row keys are fully mixed.
    """
    x = (keys[:, None] ^ _PIXEL_SALT[:, :width]) * np.uint64(0xBF58476D1CE4E5B9)
    return x ^ (x >> np.uint64(31))
