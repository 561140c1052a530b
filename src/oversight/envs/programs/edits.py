"""Edit actions on a program: the improver's action space, shared by everything that edits R.

For a program of ``L`` lines, action ``i < L`` deletes line ``i``; action ``L + i``
*substitutes* line ``i``: replaces its binary expression ``a op b`` by its first operand ``a``
(valid only on binary-op lines). A substitution never shortens the program, but it yields
"simplifications" that are wrong on a few inputs, which a weak judge may accept.
"""

from __future__ import annotations

import numpy as np

from oversight.envs.programs.dsl import Expr, Line, Program


def n_actions(program: Program) -> int:
    """Number of action indices for ``program``: ``2 * len(program)`` (delete, substitute)."""
    return 2 * len(program)


def substitutable(line: Line) -> bool:
    """Whether line ``t = a op b`` can be simplified to ``t = a`` (binary-op lines only)."""
    return line.expr.op is not None and len(line.expr.args) == 2


def valid_actions(program: Program) -> np.ndarray:
    """``(2 * len(program),)`` bool: every delete, and substitutes of binary-op lines.

    Deleting the only line is excluded: an empty program has no action space for a next step.
    """
    n = len(program)
    mask = np.zeros(2 * n, dtype=bool)
    mask[:n] = n > 1
    mask[n:] = [substitutable(line) for line in program.lines]
    return mask


def apply_action(program: Program, action: int) -> Program:
    """The program after ``action``: ``i < L`` deletes line ``i``; ``L + i`` replaces line
    ``i``'s expression ``a op b`` by ``a`` (keeping any guard). Raises on an invalid action."""
    n = len(program)
    if not 0 <= action < 2 * n or not valid_actions(program)[action]:
        raise ValueError(f"action {action} is not valid for a program of {n} lines")
    lines = list(program.lines)
    if action < n:
        del lines[action]
    else:
        old = lines[action - n]
        lines[action - n] = Line(old.target, Expr(None, old.expr.args[:1]), old.guard)
    return Program(tuple(lines), program.bits)
