"""Exact pixel-debate minimax: proof search against the bottom-up reference, one thread.

Usage::

    python benchmarks/bench_minimax.py [--quick] [--images N] [--k K] [--train-steps N]

Trains the k-pixel judge as ``oversight run digits-debate`` does (not timed), then, on the
first N test images, plays all 20 games per image (10 objectives x 2 first movers) with exact
minimax twice: :func:`~oversight.agents.debaters.minimax_play` (today's solver: every leaf
scored, values backed up level by level) and :class:`~oversight.agents.debaters.ProofSearch`
(pruned, transpositions, the last two reveals solved together, leaves from pixel sums). It
checks that both plays end with the same outcome in every game, equal to the exact values (the
two break ties between equally good moves differently), and prints the seconds of each per
image, their totals and the ratio. Needs torch and scikit-learn.
"""

from __future__ import annotations

import one_thread  # noqa: F401  (sets thread variables: must come before numpy and torch)

# isort: split

import argparse
import time
from math import comb

import numpy as np
import torch

from oversight.agents.debaters import ProofSearch, minimax_play, minimax_values
from oversight.envs.digits.data import load_digits_split, nonzero_pixels
from oversight.envs.digits.game import honest_wins
from oversight.experiments.digits_debate.run import leaf_fn
from oversight.judges.sparse_pixel import DEFAULT_STEPS, train_sparse_judge


def main() -> None:
    """Train the judge, time both solvers on the same images and print the ratio."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="3 images, a shorter training")
    parser.add_argument("--images", type=int, default=12)
    parser.add_argument("--k", type=int, default=6, help="pixels revealed")
    parser.add_argument("--train-steps", type=int, default=DEFAULT_STEPS)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.set_num_threads(1)
    images = 3 if args.quick else args.images
    steps = 1000 if args.quick else args.train_steps
    split = load_digits_split(0)
    judge = train_sparse_judge(split.x_train, split.y_train, args.k, args.seed, steps=steps)
    fn = leaf_fn(judge, split.x_test)
    print(f"k={args.k}, judge trained {steps} steps, {images} test images, one thread")
    print(f"{'image':>5} {'pixels':>6} {'leaves':>9} {'reference s':>11} {'search s':>9} "
          f"{'leaves searched':>15}")  # fmt: skip
    totals = [0.0, 0.0]
    for i in range(images):
        x, y = split.x_test[i], int(split.y_test[i])
        px = nonzero_pixels(x)
        start = time.perf_counter()
        reference = minimax_play(px, args.k, y, i, fn)
        middle = time.perf_counter()
        search = ProofSearch(px, args.k, y, i, judge.pixel_sums(x), fn)
        played = search.play()
        end = time.perf_counter()
        values = minimax_values(px, args.k, y, i, fn)
        for masks in (reference, played):
            logits = fn(np.full(masks.size, i), masks.reshape(-1)).reshape(10, 2, 10)
            if not np.array_equal(honest_wins(logits, y, np.arange(10)[:, None]), values):
                raise SystemExit(f"image {i}: a play does not end where the exact values say")
        totals[0] += middle - start
        totals[1] += end - middle
        print(f"{i:>5} {len(px):>6} {comb(len(px), args.k):>9} {middle - start:>11.2f} "
              f"{end - middle:>9.2f} {search.stats.leaves:>15}")  # fmt: skip
    print(
        f"total: reference {totals[0]:.1f} s, proof search {totals[1]:.1f} s; "
        f"proof search is {totals[0] / totals[1]:.1f}x as fast; the same outcome in every game"
    )


if __name__ == "__main__":
    main()
