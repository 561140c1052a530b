"""Backward solving: find inputs that make a given guard or comparison line true.

A constraint says ``var & care == value & care`` at a program point. Solving walks back from a
target line through each variable's defining line, transforming the constraint through
invertible or bit-level operations (``+ - ^``, multiplication by a constant, ``& |`` with a
mask, shifts, ``%`` by a constant, comparisons and ``&`` of two 0/1 flags), until it reaches
``x``. Don't-care bits are filled at random, so each call can give a different candidate.
Non-invertible mixing (``x * x``, a value combined with itself) is outside its reach: there it
gives up, and only search remains. Guarded assignments on the path are assumed not to fire, and
an input on which one does is refused, so every input returned makes the target fire
(``tests/test_solver.py`` checks this against brute force). Callers still verify candidates by
running the programs: the target firing is not yet a difference between two programs.
"""

from __future__ import annotations

import numpy as np

from oversight.envs.programs.dsl import INPUT_VAR, Const, Expr, Line, Program, Var
from oversight.envs.programs.interpreter import eval_line


class Unsolvable(Exception):
    """The solver cannot invert this path (or the constraint is contradictory)."""


def _inverse_odd(a: int, bits: int) -> int:
    return pow(a, -1, 1 << bits)


class _Solver:
    def __init__(self, program: Program, r: np.random.Generator, max_depth: int = 64):
        self.p = program
        self.r = r
        self.m = program.mask
        self.bits = program.bits
        self.depth = max_depth
        self.x_value = 0
        self.x_care = 0
        self.skipped: set[int] = set()  # guarded lines assumed not to fire

    def fill(self, value: int, care: int) -> int:
        """Fix don't-care bits at random: a full-care value."""
        noise = int(self.r.integers(0, self.m + 1))
        return (value & care) | (noise & ~care & self.m)

    def below(self, value: int, care: int, bound: int, noise: int) -> int:
        """A value under ``bound`` with ``value``'s bits where ``care`` is set, taking each
        don't-care bit from ``noise`` (high bits first) while a value under ``bound`` remains."""
        out = value & care
        if out >= bound:
            raise Unsolvable("remainder too large")
        for bit in reversed(range(self.bits)):
            b = 1 << bit
            if noise & b & ~care and out | b < bound:
                out |= b
        return out

    def constrain(self, var: str, before: int, value: int, care: int) -> None:
        """Require ``var & care == value & care`` just before line index ``before``."""
        care &= self.m
        value &= self.m
        if care == 0:
            return
        self.depth -= 1
        if self.depth < 0:
            raise Unsolvable("too deep")
        for i in range(before - 1, -1, -1):
            line = self.p.lines[i]
            if line.target == var:
                if line.guard is not None:
                    self.skipped.add(i)  # assume the guard does not fire; ``solve`` checks it
                    continue
                self.through(line, i, value, care)
                return
        if var == INPUT_VAR:
            clash = (self.x_value ^ value) & self.x_care & care
            if clash:
                raise Unsolvable("conflicting constraints on x")
            self.x_value = (self.x_value & ~care) | (value & care)
            self.x_care |= care
        elif value & care:
            raise Unsolvable(f"{var} is never assigned, so it is 0")

    def through(self, line: Line, i: int, value: int, care: int) -> None:
        e = line.expr
        args = e.args
        if e.op is None:
            return self.atom(args[0], i, value, care)
        if len(args) == 1:
            full = self.fill(value, care)
            if e.op == "~":
                return self.atom(args[0], i, ~full & self.m, self.m)
            return self.atom(args[0], i, -full & self.m, self.m)
        a, b = args
        var, const, var_first = (
            (a, b.value, True)
            if isinstance(b, Const)
            else (b, a.value, False)
            if isinstance(a, Const)
            else (None, 0, True)
        )
        op = e.op
        if var is None:  # two variables
            if op == "&":
                # bits set in value must be set in both; cleared bits: clear them in a
                self.atom(a, i, value, care)
                return self.atom(b, i, value, care & value)
            if a == b:
                raise Unsolvable("a value combined with itself")
            raise Unsolvable(f"{op} of two variables")
        if op in ("==", "!=", "<", "<=", ">", ">="):
            # a comparison gives 0 or 1: a required bit above bit 0 can never be set
            if value & care & ~1:
                raise Unsolvable("a comparison gives 0 or 1")
            if not (care & 1):
                return
            want = bool(value & 1) == (op != "!=")  # reduce != to ==
            if op in ("==", "!="):
                if want:
                    return self.atom(var, i, const, self.m)
                other = self.fill(0, 0)
                return self.atom(var, i, other if other != const else other ^ 1, self.m)
            lo, hi = _interval(op, const, var_first, self.m)
            if not bool(value & 1):
                lo, hi = (hi + 1, self.m) if lo == 0 else (0, lo - 1)
            if lo > hi:
                raise Unsolvable("empty range")
            return self.atom(var, i, int(self.r.integers(lo, hi + 1)), self.m)
        if op == "^":
            return self.atom(var, i, value ^ const, care)
        if op == "&":
            if value & care & ~const:
                raise Unsolvable("bits outside the mask")
            return self.atom(var, i, value, care & const)
        if op == "|":
            if ~value & care & const:
                raise Unsolvable("bits the mask always sets")
            return self.atom(var, i, value, care & ~const)
        full = self.fill(value, care)
        if op == "+":
            return self.atom(var, i, full - const, self.m)
        if op == "-":
            return self.atom(var, i, full + const if var_first else const - full, self.m)
        if op == "*":
            tz = (const & -const).bit_length() - 1 if const else self.bits
            if tz >= self.bits:
                if value & care:
                    raise Unsolvable("multiplied by 0")
                return None
            # the low bits of a product are 0: refuse only if the constraint needs one set (the
            # random fill of don't-care low bits is dropped by ``full >> tz`` below)
            if value & care & ((1 << tz) - 1):
                raise Unsolvable("low bits of a multiple of 2**tz")
            odd = const >> tz
            pre = ((full >> tz) * _inverse_odd(odd, self.bits)) & self.m
            return self.atom(var, i, pre, self.m >> tz)
        if op in (">>", "<<") and var_first:
            s = const
            if s >= self.bits:
                if value & care:
                    raise Unsolvable("shifted out")
                return None
            if op == ">>":
                if (value & care) >> (self.bits - s):
                    raise Unsolvable("shifted value too large")
                return self.atom(var, i, value << s, (care << s) & self.m)
            if value & care & ((1 << s) - 1):
                raise Unsolvable("low bits of a left shift are 0")
            return self.atom(var, i, value >> s, care >> s)
        if op == "%" and var_first:
            if const == 0:
                return self.atom(var, i, full, self.m)
            if full >= const:
                # the random fill overshot: keep what it chose where a remainder allows it
                full = self.below(value, care, const, full)
            top = (self.m - full) // const
            return self.atom(var, i, full + const * int(self.r.integers(0, top + 1)), self.m)
        raise Unsolvable(f"cannot invert {op}")

    def atom(self, atom: Var | Const, before: int, value: int, care: int) -> None:
        if isinstance(atom, Const):
            if (atom.value ^ value) & care & self.m:
                raise Unsolvable("constant mismatch")
            return
        self.constrain(atom.name, before, value, care)


def _interval(op: str, c: int, var_first: bool, m: int) -> tuple[int, int]:
    """Values of v with ``v op c`` (or ``c op v``) true."""
    if not var_first:
        op = {"<": ">", "<=": ">=", ">": "<", ">=": "<="}[op]
    return {"<": (0, c - 1), "<=": (0, c), ">": (c + 1, m), ">=": (c, m)}[op]


def target_lines(program: Program) -> list[int]:
    """Lines a solver can aim at: guards, and comparisons with a constant."""
    out = []
    for i, line in enumerate(program.lines):
        e = line.expr
        is_cmp = e.op in ("==", "!=", "<", "<=", ">", ">=") and any(
            isinstance(a, Const) for a in e.args
        )
        if line.guard is not None or is_cmp:
            out.append(i)
    return out


def solve_cost(program: Program, line_index: int) -> int:
    """What one :func:`solve` call costs in line evaluations: it walks back over at most the
    lines before the target once and runs them once to check skipped guards."""
    return 2 * (line_index + 1)


def solve(program: Program, line_index: int, r: np.random.Generator) -> int | None:
    """An input that (probably) makes line ``line_index`` fire (a guard) or give 1 (a
    comparison), or None when the solver cannot invert the path."""
    line = program.lines[line_index]
    s = _Solver(program, r)
    try:
        if line.guard is not None:
            g = line.guard
            flag = Line("__g", _cmp_expr(g.cmp, g.left, g.right))
            s.through(flag, line_index, 1, 1)
        else:
            s.through(line, line_index, 1, 1)
    except Unsolvable:
        return None
    x = s.fill(s.x_value, s.x_care)
    # The path assumed the skipped guards do not fire; where one does, the input takes another
    # path, which may miss the target, so it is no answer.
    return None if s.skipped and _fires_any(program, s.skipped, x) else x


def _fires_any(program: Program, lines: set[int], x: int) -> bool:
    """Whether any guarded line of ``lines`` fires when ``program`` runs on ``x``."""
    env = {INPUT_VAR: x}
    for i in range(max(lines) + 1):
        if eval_line(program.lines[i], env, program.bits) is not None and i in lines:
            return True
    return False


def _cmp_expr(cmp: str, left: Var | Const, right: Var | Const) -> Expr:
    return Expr(cmp, (left, right))
