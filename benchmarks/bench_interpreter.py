"""Throughput of the two DSL interpreters, in line evaluations per second on one core.

Usage::

    python benchmarks/bench_interpreter.py [--quick] [--programs N] [--seed S]

Builds a handful of random 16-bit programs of 40-60 lines (plain and guarded lines over
``+ - * / % & | ^ << >>`` and comparisons), then measures

(a) the vectorized interpreter (:class:`CompiledProgram`, compiled once) over all 65536 inputs:
    ``65536 * lines / seconds``, best of several repeats;
(b) :func:`run_steps` on a few hundred inputs: ``inputs * lines / seconds``;

prints both, their ratio, and whether (a) meets the target of 1e9 line evaluations per second;
(c) times the parser on one 100 KB and one 400 KB line: the tokenizer is one regex pass, so the
    second should take about 4 times as long (it once re-sliced the rest of the line per token,
    and a 400 KB line took seconds). There is no timed unit test of this: timings are too noisy.
Finally it times every compiled line on its own and breaks the vectorized cost down by line kind
(plain or guarded, and operator), to show where the time goes.
"""

from __future__ import annotations

import one_thread  # sets thread variables: must come before numpy and torch

# isort: split

import argparse
import contextlib
import random
import time
from collections import defaultdict
from collections.abc import Callable

import numpy as np

from oversight.envs.programs.dsl import (
    COMPARISONS,
    INPUT_VAR,
    OUTPUT_VAR,
    Atom,
    Const,
    Expr,
    Guard,
    Line,
    ParseError,
    Program,
    Var,
    parse,
)
from oversight.envs.programs.interpreter import (
    CompiledProgram,
    Scratch,
    Step,
    all_inputs,
    run_steps,
)

BITS = 16
TARGET = 1e9
"""Vectorized line evaluations per second on one core that the interpreter should reach."""

NAMES = (INPUT_VAR, OUTPUT_VAR, "a", "b", "c", "d", "e")
# Operator mix of the generated programs: mostly cheap bitwise and arithmetic, some division.
OP_WEIGHTS: dict[str | None, int] = {
    "+": 6,
    "^": 6,
    "&": 6,
    ">>": 5,
    "*": 5,
    "-": 4,
    "|": 4,
    "<<": 4,
    "/": 2,
    "%": 2,
    "<": 1,
    "==": 1,
    ">=": 1,
    "~": 1,  # unary
    "neg": 1,  # unary minus
    None: 1,  # plain copy
}
GUARD_PROB = 0.3


def random_program(rng: random.Random, bits: int = BITS, n_lines: int = 50) -> Program:
    """A random ``n_lines``-line program whose lines mostly read earlier results."""
    mask = (1 << bits) - 1
    written = [INPUT_VAR]

    def atom(const_prob: float = 0.3) -> Atom:
        if rng.random() < const_prob:
            return Const(rng.choice([1, 3, 7, bits - 1, rng.randrange(mask + 1)]))
        return Var(rng.choice(written))

    def shift_amount() -> Atom:
        return Const(rng.randrange(bits)) if rng.random() < 0.8 else atom()

    ops = list(OP_WEIGHTS)
    weights = list(OP_WEIGHTS.values())
    lines: list[Line] = []
    for i in range(n_lines):
        op = rng.choices(ops, weights)[0]
        if op is None:
            expr = Expr(None, (atom(0.0),))
        elif op in ("~", "neg"):
            expr = Expr("-" if op == "neg" else "~", (atom(0.0),))
        elif op in ("<<", ">>"):
            expr = Expr(op, (atom(0.0), shift_amount()))
        else:
            expr = Expr(op, (atom(0.0), atom()))
        target = OUTPUT_VAR if i == n_lines - 1 else rng.choice(NAMES[1:])
        guard = None
        if rng.random() < GUARD_PROB:
            guard = Guard(rng.choice(COMPARISONS), Var(rng.choice(written)), atom(0.5))
        lines.append(Line(target, expr, guard))
        if target not in written:
            written.append(target)
    return Program(tuple(lines), bits)


def best_time(fn: Callable[[], object], repeats: int, number: int) -> float:
    """The best, over ``repeats``, of the mean time of ``number`` calls of ``fn``."""
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        for _ in range(number):
            fn()
        best = min(best, (time.perf_counter() - t0) / number)
    return best


def line_kind(line: Line) -> str:
    """A label such as ``plain +``, ``guarded /``, ``plain unary -`` or ``guarded copy``."""
    op = line.expr.op
    if op is None:
        name = "copy"
    elif len(line.expr.args) == 1:
        name = f"unary {op}"
    else:
        name = op
    return f"{'guarded' if line.guard else 'plain'} {name}"


def profile_lines(
    programs: list[Program], inputs: np.ndarray, repeats: int, number: int
) -> dict[str, list[float]]:
    """Seconds per call of each compiled line, on the state the program has reached before it.

    A step mutates the state, so repeating it sees slightly different data; the cost of a numpy
    ufunc over 65536 elements hardly depends on the values (except whether a guard fires at all).
    """
    per_kind: dict[str, list[float]] = defaultdict(list)
    for program in programs:
        compiled = CompiledProgram(program)
        env, scratch = compiled.new_state(len(inputs))
        np.bitwise_and(inputs, program.mask, out=env[INPUT_VAR])
        for line, step in zip(program.lines, compiled.steps, strict=True):
            snapshot = {k: v.copy() for k, v in env.items()}

            def call(
                step: Step = step, env: dict[str, np.ndarray] = env, scratch: Scratch = scratch
            ) -> None:
                step(env, scratch)

            per_kind[line_kind(line)].append(best_time(call, repeats, number))
            env.clear()
            env.update(snapshot)
            step(env, scratch)
    return per_kind


def parse_seconds(n_bytes: int) -> float:
    """Seconds to parse one line of about ``n_bytes`` bytes, ``out = x + x + ...`` (refused after
    its fourth token, but only once the whole line is tokenized)."""
    source = "out = x" + " + x" * (n_bytes // 4)
    t0 = time.perf_counter()
    with contextlib.suppress(ParseError):
        parse(source, BITS)
    return time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer programs and repeats")
    parser.add_argument("--programs", type=int, default=None, help="number of programs")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    one_thread.pin_one_core()
    n_programs = args.programs or (2 if args.quick else 6)
    repeats, number = (3, 3) if args.quick else (7, 10)
    n_step_inputs = 100 if args.quick else 400

    rng = random.Random(args.seed)
    programs = [random_program(rng, BITS, rng.randint(40, 60)) for _ in range(n_programs)]
    inputs = all_inputs(BITS)
    n_inputs = len(inputs)
    print(
        f"numpy {np.__version__}; {n_programs} programs of {BITS} bits, lines: "
        f"{[len(p) for p in programs]}; guarded lines: "
        f"{sum(1 for p in programs for ln in p.lines if ln.guard)}"
        f"/{sum(len(p) for p in programs)}"
    )

    # (a) vectorized, compiled once, all 2**16 inputs
    vec_evals = 0
    vec_seconds = 0.0
    for p in programs:
        compiled = CompiledProgram(p)
        compiled(inputs)  # warm up
        t = best_time(lambda c=compiled: c(inputs), repeats, number)
        vec_evals += n_inputs * len(p)
        vec_seconds += t
        print(
            f"  vectorized {len(p):3d} lines: {t * 1e3:7.2f} ms per run over {n_inputs} inputs "
            f"= {n_inputs * len(p) / t:.3g} line evals/s"
        )
    vec_rate = vec_evals / vec_seconds

    # (b) run_steps on a few hundred inputs
    xs = [rng.randrange(n_inputs) for _ in range(n_step_inputs)]
    step_evals = 0
    step_seconds = 0.0
    for p in programs:
        t0 = time.perf_counter()
        for x in xs:
            run_steps(p, x)
        step_seconds += time.perf_counter() - t0
        step_evals += len(xs) * len(p)
    step_rate = step_evals / step_seconds

    print(
        f"(a) vectorized: {vec_rate:.3g} line evals/s "
        f"({vec_seconds / sum(len(p) for p in programs) * 1e6:.1f} us per line per 65536 inputs)"
    )
    print(
        f"(b) run_steps:  {step_rate:.3g} line evals/s "
        f"({step_seconds / step_evals * 1e6:.2f} us per line per input)"
    )
    print(f"ratio vectorized / run_steps: {vec_rate / step_rate:.3g}")
    verdict = "MEETS" if vec_rate >= TARGET else "BELOW"
    print(f"target {TARGET:.0e} line evals/s on one core: {verdict} ({vec_rate / TARGET:.2f}x)")
    short, long = parse_seconds(100_000), parse_seconds(400_000)
    print(
        f"(c) parse: a 100 KB line in {short * 1e3:.0f} ms, a 400 KB line in {long * 1e3:.0f} ms "
        f"(ratio {long / short:.2g}; linear is 4)"
    )

    # where the vectorized time goes
    per_kind = profile_lines(programs, inputs, repeats=3, number=number)
    total = sum(sum(ts) for ts in per_kind.values())
    print("\nper line kind (vectorized, 65536 inputs):")
    print(f"  {'kind':<18} {'lines':>5} {'us/line':>9} {'evals/s':>10} {'time %':>7}")
    for kind, ts in sorted(per_kind.items(), key=lambda kv: -sum(kv[1])):
        mean = sum(ts) / len(ts)
        print(
            f"  {kind:<18} {len(ts):5d} {mean * 1e6:9.1f} {n_inputs / mean:10.3g} "
            f"{100 * sum(ts) / total:6.1f}%"
        )


if __name__ == "__main__":
    main()
