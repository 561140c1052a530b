"""Per-line features of a program pair (R, P), read from the text alone (nothing is run).

The *candidate lines* of a context are the lines of P followed by the lines of R, so that a
pointer can name a guard of R that P dropped: candidate ``j`` is line ``j`` of P when
``j < len(P)`` and line ``j - len(P)`` of R otherwise (:func:`pointed_line`). The learned critic,
the claim critic, the improver and the reward models all read these rows.
"""

from __future__ import annotations

import math
from functools import lru_cache
from typing import Literal

import numpy as np

from oversight.core.seeding import rng
from oversight.envs.programs.dsl import (
    BINARY_OPS,
    COMPARISONS,
    INPUT_VAR,
    OUTPUT_VAR,
    UNARY_OPS,
    Const,
    Line,
    Program,
    statically_live,
)
from oversight.envs.programs.env import ProgramContext
from oversight.envs.programs.solver import solve, target_lines

FEATURE_NAMES: tuple[str, ...] = (
    "in_artifact",
    "in_reference",
    "in_other_program",
    "is_guard",
    *(f"guard{c}" for c in COMPARISONS),
    "expr_copy",
    *(f"expr_unary{op}" for op in UNARY_OPS),
    *(f"expr{op}" for op in BINARY_OPS),
    "is_comparison",
    "reads_x",
    "writes_out",
    "n_consts",
    "max_popcount",
    "max_log2",
    "position",
    "targetable",
    "solver_yields",
    "reads_new_temp",
    "statically_live",
)
"""Column names of :func:`line_features`, in order."""

N_FEATURES = len(FEATURE_NAMES)
_COL = {name: i for i, name in enumerate(FEATURE_NAMES)}
_FEATURE_SOLVES = 2  # solver tries behind the solver_yields feature


def candidate_programs(ctx: ProgramContext) -> list[tuple[Program, int]]:
    """Every candidate line as (program, line index): the lines of P, then the lines of R."""
    return [(ctx.artifact, i) for i in range(len(ctx.artifact))] + [
        (ctx.reference, i) for i in range(len(ctx.reference))
    ]


def candidate_targets(ctx: ProgramContext) -> list[int]:
    """Candidate indices the solver can aim at (guards, comparisons with a constant)."""
    offset = len(ctx.artifact)
    return target_lines(ctx.artifact) + [offset + i for i in target_lines(ctx.reference)]


def pointed_line(ctx: ProgramContext, index: int) -> tuple[Literal["artifact", "reference"], int]:
    """Which program and line (0-based) candidate ``index`` names."""
    if index < len(ctx.artifact):
        return "artifact", index
    return "reference", index - len(ctx.artifact)


def _expr_column(line: Line) -> str:
    e = line.expr
    if e.op is None:
        return "expr_copy"
    return f"expr_unary{e.op}" if len(e.args) == 1 else f"expr{e.op}"


def _constants(line: Line) -> list[int]:
    atoms = list(line.expr.args)
    if line.guard is not None:
        atoms += [line.guard.left, line.guard.right]
    return [a.value for a in atoms if isinstance(a, Const)]


@lru_cache(maxsize=65536)
def line_row(line: Line, bits: int) -> np.ndarray:
    """The columns of a row that depend on the line alone (its guard, operator, constants and
    reads; every other column 0). Read-only, cached per line."""
    row = np.zeros(N_FEATURES, dtype=np.float32)
    if line.guard is not None:
        row[_COL["is_guard"]] = 1.0
        row[_COL[f"guard{line.guard.cmp}"]] = 1.0
    row[_COL[_expr_column(line)]] = 1.0
    row[_COL["is_comparison"]] = float(line.expr.op in COMPARISONS and len(line.expr.args) == 2)
    row[_COL["reads_x"]] = float(INPUT_VAR in line.reads())
    row[_COL["writes_out"]] = float(line.target == OUTPUT_VAR)
    consts = _constants(line)
    row[_COL["n_consts"]] = len(consts) / 4.0  # at most 2 in the expression + 2 in a guard
    if consts:
        row[_COL["max_popcount"]] = max(c.bit_count() for c in consts) / bits
        row[_COL["max_log2"]] = max(math.log2(c + 1) for c in consts) / bits
    row.setflags(write=False)
    return row


@lru_cache(maxsize=1024)
def _program_columns(program: Program, tag: str, solver: bool) -> np.ndarray:
    """The columns that depend on one program alone: position, static liveness, targetable
    and solver_yields. Cached: every context of a reference shares R's (the solver calls are
    most of the cost of features)."""
    cols = np.zeros((len(program), N_FEATURES), dtype=np.float32)
    cols[:, _COL["position"]] = np.arange(len(program)) / max(1, len(program) - 1)
    # Liveness is read off the text (free): it tells dead code from code that matters.
    cols[:, _COL["statically_live"]] = statically_live(program)
    for i in target_lines(program):
        cols[i, _COL["targetable"]] = 1.0
        # Budgeted critics read features without this column (its solver calls would be
        # theirs to pay). A fixed stream per line keeps the features a pure function.
        if solver:
            r = rng(0, "line-features", tag, i)
            yields = any(solve(program, i, r) is not None for _ in range(_FEATURE_SOLVES))
            cols[i, _COL["solver_yields"]] = float(yields)
    cols.setflags(write=False)
    return cols


def _program_rows(
    program: Program, other_lines: frozenset[str], is_artifact: bool, tag: str, solver: bool
) -> np.ndarray:
    """Feature rows of one program's lines (see :data:`FEATURE_NAMES`)."""
    if not len(program):
        return np.zeros((0, N_FEATURES), dtype=np.float32)
    rows = np.stack([line_row(line, program.bits) for line in program.lines])
    rows += _program_columns(program, tag, solver)
    rows[:, _COL["in_artifact" if is_artifact else "in_reference"]] = 1.0
    new_temps: set[str] = set()  # variables whose latest definition is a line new to P (or R)
    shared_col, new_col = _COL["in_other_program"], _COL["reads_new_temp"]
    for i, line in enumerate(program.lines):
        shared = str(line) in other_lines
        rows[i, shared_col] = float(shared)
        # Temps defined by a line the other program lacks mark a new chain (a trigger); ``out``
        # and ``x`` are excluded because every line reads them.
        rows[i, new_col] = float(not new_temps.isdisjoint(line.reads()))
        if line.target != OUTPUT_VAR:
            (new_temps.discard if shared else new_temps.add)(line.target)
    return rows


def line_features(ctx: ProgramContext, solver: bool = True) -> np.ndarray:
    """Features of every candidate line, shape ``(len(P) + len(R), N_FEATURES)``, float32.

    Rows follow :func:`candidate_programs`. Everything is read from R and P; nothing is run.
    With ``solver=False`` the ``solver_yields`` column stays 0, for critics that pay for every
    solver call (the column costs two solver calls per target line).
    """
    return np.concatenate(
        [
            _program_rows(ctx.artifact, ctx.reference_lines, True, "artifact", solver),
            _program_rows(ctx.reference, ctx.artifact_lines, False, "reference", solver),
        ]
    )


SUMMARY_NAMES: tuple[str, ...] = (
    "length",
    "guards",
    "writes_out",
    "copy",
    *(f"op{op}" for op in (*UNARY_OPS, *BINARY_OPS)),
)
"""Column names of :func:`program_summary`."""


def program_summary(program: Program) -> np.ndarray:
    """What one program looks like as a whole, read from its text: its length (over 64), and
    the share of lines that are guarded, write ``out``, copy, or use each operator."""
    row = np.zeros(len(SUMMARY_NAMES), dtype=np.float32)
    n = max(1, len(program))
    row[0] = len(program) / 64
    for line in program.lines:
        row[1] += line.guard is not None
        row[2] += line.target == OUTPUT_VAR
        op = line.expr.op
        if op is None:
            row[3] += 1
        elif len(line.expr.args) == 1:
            row[4 + UNARY_OPS.index(op)] += 1
        else:
            row[4 + len(UNARY_OPS) + BINARY_OPS.index(op)] += 1
    row[1:] /= n
    return row
