"""Throughput of the sparse-pixel judge, in judge evaluations (masks scored) per second, one core.

Usage::

    python benchmarks/bench_pixel_judge.py [--quick] [--k K] [--train-steps N] [--seed S]

Game-tree search over pixel debates scores many leaves (masks of one image) at once. This
measures, in one run and on one thread,

(a) batched leaf evaluation: one :meth:`SparsePixelJudge.logits` call with thousands of masks;
(b) unbatched evaluation: one call per mask;

each including building the judge input, best of several repeats, and prints both rates and
their ratio. The judge is untrained by default (speed does not depend on the weights);
``--train-steps`` trains it briefly first, outside the timing. Needs torch and scikit-learn.
"""

from __future__ import annotations

import one_thread  # noqa: F401  (sets thread variables: must come before numpy and torch)

# isort: split

import argparse
import time
from collections.abc import Callable

import numpy as np
import torch

from oversight.envs.digits.data import load_digits_split, random_masks
from oversight.judges.sparse_pixel import (
    SparsePixelJudge,
    new_judge,
    train_sparse_judge,
)


def best_seconds(fn: Callable[[], object], repeats: int) -> float:
    """The fastest of ``repeats`` timed calls of ``fn`` (after one warm-up call)."""
    fn()
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def batched_rate(
    judge: SparsePixelJudge, image: np.ndarray, masks: np.ndarray, repeats: int
) -> float:
    """Evaluations per second scoring all ``masks`` of ``image`` in one call."""
    images = np.broadcast_to(image, masks.shape)
    return len(masks) / best_seconds(lambda: judge.logits(images, masks), repeats)


def unbatched_rate(
    judge: SparsePixelJudge, image: np.ndarray, masks: np.ndarray, repeats: int
) -> float:
    """Evaluations per second scoring ``masks`` of ``image`` one call per mask."""
    images = image[None, :]

    def run() -> None:
        for mask in masks:
            judge.logits(images, mask[None, :])

    return len(masks) / best_seconds(run, repeats)


def main() -> None:
    """Parse arguments, build the judge and masks, time both ways and print the rates."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer masks and repeats")
    parser.add_argument("--k", type=int, default=4, help="pixels revealed per mask")
    parser.add_argument("--train-steps", type=int, default=0, help="train first (not timed)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.set_num_threads(1)

    n_batched, n_unbatched, repeats = (4_096, 300, 3) if args.quick else (40_960, 2_000, 5)
    split = load_digits_split(args.seed)
    if args.train_steps > 0:
        judge = train_sparse_judge(
            split.x_train, split.y_train, args.k, args.seed, steps=args.train_steps
        )
    else:
        judge = new_judge(args.k, args.seed)
    image = split.x_test[0]
    gen = np.random.default_rng(args.seed)
    masks = random_masks(np.broadcast_to(image, (n_batched, image.size)), args.k, gen)

    batched = batched_rate(judge, image, masks, repeats)
    unbatched = unbatched_rate(judge, image, masks[:n_unbatched], repeats)
    print(f"sparse pixel judge, k={args.k}, one thread, torch {torch.__version__}")
    print(f"(a) batched:   {batched:12,.0f} evals/s  ({n_batched:,} masks in one call)")
    print(f"(b) unbatched: {unbatched:12,.0f} evals/s  (one call per mask, {n_unbatched:,} masks)")
    print(f"ratio (a)/(b): {batched / unbatched:12,.1f}x")
    mcts_rates(judge, split, args.k, 6 if args.quick else 20, 8 if args.quick else 24)


def mcts_rates(judge: SparsePixelJudge, split, k: int, images: int, rollouts: int) -> None:
    """The same comparison inside MCTS: leaves evaluated per second of search, with the leaves
    of all games of a simulation step in one judge call, or one call per leaf."""
    from oversight.agents.debaters import mcts_play
    from oversight.envs.digits.game import DebateGames, mask_to_bool

    x, y = split.x_test[:images], split.y_test[:images]
    games = DebateGames.grid(np.arange(images), y, x != 0)

    def leaf(ids: np.ndarray, masks: np.ndarray) -> np.ndarray:
        return judge.logits(x[ids], mask_to_bool(masks))

    rates = {}
    for batched in (True, False):
        start = time.perf_counter()
        result = mcts_play(games, k, rollouts, leaf, seed=0, batch_leaves=batched)
        rates[batched] = result.leaves_evaluated / (time.perf_counter() - start)
    print(f"MCTS, {len(games)} games, {rollouts} rollouts per move (search time included):")
    print(f"(c) batched leaves:   {rates[True]:12,.0f} evals/s")
    print(f"(d) unbatched leaves: {rates[False]:12,.0f} evals/s")
    print(f"ratio (c)/(d):        {rates[True] / rates[False]:12,.1f}x")


if __name__ == "__main__":
    main()
