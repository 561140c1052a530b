"""Edit actions on a program: the improver's action space, shared by everything that edits R.

For a program of ``L`` lines, action ``i < L`` deletes line ``i``; action ``L + i`` *folds* the
guard of line ``i`` (:func:`fold_source`): when line ``i`` is guarded by ``g cmp c`` and ``g``
comes from one line ``g = s op m`` that nothing else reads, the fold drops that line and tests
``s`` against the constant :func:`folded_constant` computes as if ``op`` could be undone
(``c - m`` for ``+``, ``c ^ m`` for ``^``, ``c`` itself for a mask or a modulus). Both kinds of
edit save one line. A fold is exact for some guards (an offset or an xor compared for equality)
and wrong on a rare share of inputs for others (a mask, a shift, a modulus, an order comparison
across the wrap-around): the tempting simplifications a real optimiser finds, which only a judge
that finds those inputs catches.
"""

from __future__ import annotations

from collections import Counter
from functools import lru_cache

import numpy as np

from oversight.envs.programs.dsl import INPUT_VAR, OUTPUT_VAR, Const, Guard, Line, Program, Var

FOLDABLE_OPS = ("+", "-", "^", "*", "&", "|", "%", ">>")
"""Operators of a guard's defining line ``g = s op m`` that a fold removes."""


def n_actions(program: Program) -> int:
    """Number of action indices for ``program``: ``2 * len(program)`` (delete, fold)."""
    return 2 * len(program)


def folded_constant(op: str, c: int, m: int, mask: int) -> int:
    """The constant ``s`` is compared with once ``g = s op m`` is folded into ``g cmp c``: the
    inverse of ``op`` where there is one, else ``c`` unchanged (the operator taken for a no-op)."""
    if op == "+":
        return (c - m) & mask
    if op == "-":
        return (c + m) & mask
    if op == "^":
        return c ^ m
    if op == "*" and m % 2:
        return (c * pow(m, -1, mask + 1)) & mask
    if op == ">>":
        return (c << m) & mask
    return c


def fold_source(program: Program, i: int) -> int | None:
    """The line a fold of line ``i``'s guard removes, or None when line ``i`` cannot be folded:
    its guard must compare a temporary ``g`` with a constant, ``g``'s latest definition must be
    ``g = s op m`` (``op`` in :data:`FOLDABLE_OPS`, ``s`` a variable, ``m`` a constant, no guard),
    no other line may read ``g``, and ``s`` must keep its value until line ``i``."""
    return _fold_sources(program)[i]


@lru_cache(maxsize=8192)
def _fold_sources(program: Program) -> tuple[int | None, ...]:
    """:func:`fold_source` of every line, in one pass (the improver asks for every line of
    every state it visits, so a scan per line would cost ``len(program)`` squared)."""
    readers = Counter(v for line in program.lines for v in line.reads())
    latest: dict[str, int] = {}  # variable -> its latest definition so far
    out: list[int | None] = []
    for i, line in enumerate(program.lines):
        out.append(_fold_source_at(program, i, line, latest, readers))
        latest[line.target] = i
    return tuple(out)


def _fold_source_at(
    program: Program, i: int, line: Line, latest: dict[str, int], readers: Counter[str]
) -> int | None:
    g = line.guard
    if g is None or not isinstance(g.left, Var) or not isinstance(g.right, Const):
        return None
    name = g.left.name
    if name in (INPUT_VAR, OUTPUT_VAR) or name == line.target or name in _expr_reads(line):
        return None
    j = latest.get(name)
    if j is None:
        return None
    source = program.lines[j]
    args = source.expr.args
    if (
        source.guard is not None
        or source.expr.op not in FOLDABLE_OPS
        or len(args) != 2
        or not isinstance(args[0], Var)
        or not isinstance(args[1], Const)
    ):
        return None
    s = args[0].name
    # s keeps its value from line j to line i; line i is the only reader of g (its guard reads g)
    if s == name or latest.get(s, -1) > j or readers[name] > 1:
        return None
    return j


def _expr_reads(line: Line) -> set[str]:
    return {a.name for a in line.expr.args if isinstance(a, Var)}


def valid_actions(program: Program) -> np.ndarray:
    """``(2 * len(program),)`` bool: every delete, and folds of foldable guards.

    Deleting the only line is excluded: an empty program has no action space for a next step.
    Read-only (cached per program: the improver asks for every state it visits, often twice).
    """
    return _valid_actions(program)


@lru_cache(maxsize=8192)
def _valid_actions(program: Program) -> np.ndarray:
    n = len(program)
    mask = np.zeros(2 * n, dtype=bool)
    mask[:n] = n > 1
    mask[n:] = [j is not None for j in _fold_sources(program)]
    mask.setflags(write=False)
    return mask


def apply_action(program: Program, action: int) -> Program:
    """The program after ``action``: ``i < L`` deletes line ``i``; ``L + i`` folds line ``i``'s
    guard (drops its defining line, compares the source with the folded constant). Raises on an
    invalid action."""
    n = len(program)
    if not 0 <= action < 2 * n or not valid_actions(program)[action]:
        raise ValueError(f"action {action} is not valid for a program of {n} lines")
    lines = list(program.lines)
    if action < n:
        del lines[action]
        return Program(tuple(lines), program.bits)
    i = action - n
    j = fold_source(program, i)
    assert j is not None  # valid_actions checked it
    line, source = lines[i], lines[j]
    assert line.guard is not None and isinstance(line.guard.right, Const)
    s, m = source.expr.args
    assert isinstance(m, Const) and source.expr.op is not None
    c = folded_constant(source.expr.op, line.guard.right.value, m.value, program.mask)
    lines[i] = Line(line.target, line.expr, Guard(line.guard.cmp, s, Const(c)))
    del lines[j]
    return Program(tuple(lines), program.bits)
