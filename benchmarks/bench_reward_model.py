"""Reward-model training throughput, in verdicts per second on one core.

Usage::

    python benchmarks/bench_reward_model.py [--quick] [--problems N] [--epochs E] [--seed S]
        [--length L]

Generates programs (``GeneratorConfig(bits=12, length=L)``, L = 32 by default; the RRM
experiment uses 160) and, per problem, one honest, one
lazy and four backdoored artifacts (about 200 artifacts for the default 34 problems), then
measures, on one thread,

(a) feature extraction: contexts per second for :func:`line_features` (done once per context);
(b) pointwise training: labelled verdicts processed per second (``artifacts * epochs / s``),
    with the attention mixer and with the O(L) convolution mixer (the ratio is printed);
(c) pairwise training: preference verdicts (one per (honest, flawed) pair) per second;
(d) scoring: contexts per second for a trained model, features already cached;

after a warm-up fit outside the timing (torch initialises lazily on the first backward pass).
The last line is a sanity check, not a benchmark: held-out accuracy on a few fresh problems.
"""

from __future__ import annotations

import one_thread  # sets thread variables: must come before numpy and torch

# isort: split

import argparse
import time

import numpy as np

from oversight.core.errors import OversightError
from oversight.envs.programs.env import ProgramContext, ProgramEnv
from oversight.envs.programs.features import line_features
from oversight.envs.programs.generator import GeneratorConfig
from oversight.envs.programs.makers import (
    TRIGGER_FAMILIES,
    make,
)
from oversight.learning import reward_models as rm

RARITY = 6


def artifacts(env: ProgramEnv, seeds: range) -> list[tuple[str, ProgramContext, str]]:
    """(problem id, context, maker tag) for honest, lazy and backdoor artifacts of each seed."""
    out = []
    for seed in seeds:
        problem, ref = env.reference(seed)
        r = np.random.default_rng(seed)
        for tag in ("honest", "lazy", *TRIGGER_FAMILIES):
            try:
                made = make(tag, ref, r, RARITY)
            except OversightError:
                continue
            artifact = env.artifact(problem, made, tag, tag)
            out.append((problem.id, env.context(problem, artifact), tag))
    return out


def pairs_of(items: list[tuple[str, ProgramContext, str]]) -> list[rm.Pair]:
    """(honest, flawed, None) within each problem."""
    honest = {pid: ctx for pid, ctx, tag in items if tag == "honest"}
    return [
        (honest[pid], ctx, None) for pid, ctx, tag in items if tag != "honest" and pid in honest
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer problems and epochs")
    parser.add_argument("--problems", type=int, default=None, help="problems (6 artifacts each)")
    parser.add_argument("--epochs", type=int, default=None)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--length", type=int, default=32, help="lines per reference program")
    args = parser.parse_args()
    knobs = GeneratorConfig(bits=12, length=args.length)

    one_thread.pin_one_core()
    n_problems = args.problems or (10 if args.quick else 34)
    epochs = args.epochs or (5 if args.quick else 20)
    env = ProgramEnv(knobs)

    t0 = time.perf_counter()
    items = artifacts(env, range(args.seed, args.seed + n_problems))
    generated = time.perf_counter() - t0
    contexts = [ctx for _, ctx, _ in items]
    # A judge's verdicts would go here; the maker's intent stands in for them.
    labels = np.array([tag == "honest" for _, _, tag in items], dtype=float)
    pairs = pairs_of(items)
    print(
        f"{len(items)} artifacts from {n_problems} problems ({knobs.bits} bits, "
        f"~{knobs.length} lines) in {generated:.1f} s; {len(pairs)} pairs; {epochs} epochs"
    )

    # (a) features, uncached, then fill the cache the trainers use
    t0 = time.perf_counter()
    for ctx in contexts:
        line_features(ctx)
    feature_s = time.perf_counter() - t0
    for ctx in contexts:
        rm.context_features(ctx)
    mean_lines = np.mean([len(rm.context_features(c)) for c in contexts])
    print(
        f"(a) features:  {len(contexts) / feature_s:8.0f} contexts/s "
        f"({mean_lines:.0f} lines per context on average)"
    )

    # (b) pointwise, attention (the default) against the convolution mixer
    rates, models = {}, {}
    for mixer in ("attention", "conv"):
        rm.train_pointwise(contexts[:8], labels[:8], seed=0, epochs=1, mixer=mixer)  # warm-up
        t0 = time.perf_counter()
        models[mixer] = rm.train_pointwise(
            contexts, labels, seed=args.seed, epochs=epochs, balance=True, mixer=mixer
        )
        pointwise_s = time.perf_counter() - t0
        rates[mixer] = len(contexts) * epochs / pointwise_s
        print(f"(b) pointwise, {mixer:9}: {rates[mixer]:8.0f} verdicts/s ({pointwise_s:.2f} s)")
    print(f"    conv / attention throughput: {rates['conv'] / rates['attention']:.2f}x")
    model = models["attention"]

    # (c) pairwise: each pair is one preference verdict, two forward passes
    t0 = time.perf_counter()
    rm.train_pairwise(pairs, seed=args.seed, epochs=epochs)
    pairwise_s = time.perf_counter() - t0
    rate = len(pairs) * epochs / pairwise_s
    print(f"(c) pairwise:  {rate:8.0f} verdicts/s ({pairwise_s:.2f} s)")

    # (d) scoring
    t0 = time.perf_counter()
    model.predict_proba(contexts)
    score_s = time.perf_counter() - t0
    print(f"(d) scoring:   {len(contexts) / score_s:8.0f} contexts/s")

    heldout = artifacts(env, range(10_000 + args.seed, 10_000 + args.seed + 5))
    probs = model.predict_proba([ctx for _, ctx, _ in heldout])
    truth = np.array([tag == "honest" for _, _, tag in heldout])
    accuracy = rm.rm_accuracy(probs, truth, balanced=True)
    print(f"held-out balanced accuracy (5 problems, sanity only): {accuracy.value:.3f}")


if __name__ == "__main__":
    main()
