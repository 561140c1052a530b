"""Seeded generator of reference programs R, annotated with what every line is for.

A reference program is a chain of *core* lines that mixes ``x`` into ``out`` with updates that
are bijective in ``out`` (so any change to ``out`` anywhere survives to the output), with four
kinds of extra blocks inserted between core steps:

- **live guards**: ``g = SRC op M`` then ``if g cmp V: out = out op D``, firing on a rare share
  of inputs (about ``2**-k`` for a rarity of ``k`` bits);
- **decoy guards**: the same templates with constants chosen so the guard can never fire, so a
  correct deletion and a lazy one look alike on the page;
- **dead code**: chains of assignments that nothing live reads;
- **redundant code**: identity pairs (``out = out ^ c`` twice) and foldable pairs
  (``out = out + a`` then ``out = out + b``).

The annotations (:class:`Block`) are the maker's knowledge of its own construction: they are
never shown to a judge or critic. Every live/decoy claim is verified exactly over all inputs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from pydantic import Field, model_validator

from oversight.core.config import Strict
from oversight.core.errors import OversightError
from oversight.core.seeding import rng as make_rng
from oversight.envs.programs.dsl import (
    INPUT_VAR,
    OUTPUT_VAR,
    Const,
    Expr,
    Guard,
    Line,
    Program,
    Var,
)
from oversight.envs.programs.interpreter import run_vectorized

GUARD_TEMPLATES = ("mask_eq", "or_eq", "shift_eq", "mod_eq", "mask_gt", "xor_eq", "add_eq")
"""Guard templates ``g = src op M; if g cmp V``: a mask, an or-mask, a shift or a modulus compared
for equality, a mask compared for order, and an xor or an offset compared for equality."""

BIJECTIVE_TEMPLATES = ("xor_eq", "add_eq")
"""Templates whose guard fires on exactly one value of its source (never a decoy), and whose
fold into the comparison (:mod:`~oversight.envs.programs.edits`) is exact."""


class GeneratorConfig(Strict):
    """Knobs of the reference-program generator."""

    bits: int = Field(16, ge=4, le=20, description="Input width B; the oracle scans 2**B inputs.")
    length: int = Field(48, ge=8, le=2000, description="Target number of lines of R.")
    live_guards: int = Field(2, ge=0, le=50, description="Rare-case guards that do fire.")
    rarity_bits: tuple[int, int] = Field(
        (7, 11), description="A live guard fires on about 2**-k of inputs, k drawn in this range."
    )
    decoy_guards: int = Field(3, ge=0, le=50, description="Guards that can never fire.")
    dead_lines: int = Field(6, ge=0, le=500, description="Lines nothing live reads.")
    redundant_pairs: int = Field(3, ge=0, le=200, description="Identity or foldable line pairs.")
    guard_on_temp: float = Field(
        0.3, ge=0, le=1, description="Chance a guard tests a derived value instead of x."
    )
    templates: tuple[str, ...] = Field(
        ("mask_eq", "or_eq", "shift_eq", "mod_eq", "mask_gt"),
        description="Guard templates drawn from (see :data:`GUARD_TEMPLATES`).",
    )

    @model_validator(mode="after")
    def _check(self) -> GeneratorConfig:
        bad = [t for t in self.templates if t not in GUARD_TEMPLATES]
        if bad or not self.templates:
            raise ValueError(
                f"templates: unknown {bad or 'none given'}; allowed: {', '.join(GUARD_TEMPLATES)}"
            )
        if self.decoy_guards and set(self.templates) <= set(BIJECTIVE_TEMPLATES):
            raise ValueError(
                f"templates: decoy guards need a template that can never fire; "
                f"{', '.join(BIJECTIVE_TEMPLATES)} always fire on exactly one input"
            )
        lo, hi = self.rarity_bits
        if not 1 <= lo <= hi < self.bits:
            raise ValueError(f"rarity_bits must satisfy 1 <= lo <= hi < bits, got {lo, hi}")
        extra = 2 * (self.live_guards + self.decoy_guards + self.redundant_pairs) + self.dead_lines
        if self.length - extra < 4:
            raise ValueError(
                f"length {self.length} leaves fewer than 4 core lines after {extra} lines of "
                "guards, dead and redundant code; raise length or lower those knobs"
            )
        return self


@dataclass
class Block:
    """A group of lines with one purpose. ``kind`` is one of core, live_guard, decoy_guard, dead,
    identity_pair, foldable_pair; ``meta`` holds template parameters."""

    kind: str
    lines: list[Line]
    meta: dict[str, Any] = field(default_factory=dict)


@dataclass
class Reference:
    """A generated reference program with its construction, in order."""

    blocks: list[Block]
    bits: int
    names: list[str]  # the variable-name pool; makers take fresh names from its unused tail
    used: int  # how many of ``names`` are in use

    @property
    def program(self) -> Program:
        return Program(tuple(line for b in self.blocks for line in b.lines), self.bits)

    def fresh_names(self, n: int) -> list[str]:
        names = self.names[self.used : self.used + n]
        if len(names) < n:
            raise OversightError("variable-name pool exhausted")
        return names


def _assign(target: str, op: str | None, *args: str | int) -> Line:
    atoms = tuple(Var(a) if isinstance(a, str) else Const(int(a)) for a in args)
    return Line(target, Expr(op, atoms))


def _guarded(cmp: str, left: str | int, right: str | int, line: Line) -> Line:
    def atom(a: str | int) -> Var | Const:
        return Var(a) if isinstance(a, str) else Const(int(a))

    return Line(line.target, line.expr, Guard(cmp, atom(left), atom(right)))


def _odd(r: np.random.Generator, mask: int) -> int:
    return int(r.integers(0, mask + 1)) | 1


def _nonzero(r: np.random.Generator, mask: int) -> int:
    return int(r.integers(1, mask + 1))


def value_of(program: Program, var: str, inputs: np.ndarray | None = None) -> np.ndarray:
    """Values of ``var`` after running ``program`` (on all inputs by default)."""
    probe = Program((*program.lines, _assign(OUTPUT_VAR, None, var)), program.bits)
    return run_vectorized(probe, inputs)


class _Builder:
    def __init__(self, knobs: GeneratorConfig, seed: int):
        self.k = knobs
        self.r = make_rng(seed, "reference")
        self.mask = (1 << knobs.bits) - 1
        pool = [f"v{i}" for i in range(4 * knobs.length + 64)]
        self.r.shuffle(pool)
        self.names = pool
        self.used = 0
        self.blocks: list[Block] = []
        self.temps: list[str] = []  # core temps readable by guards

    def fresh(self) -> str:
        self.used += 1
        return self.names[self.used - 1]

    def program(self) -> Program:
        return Program(tuple(line for b in self.blocks for line in b.lines), self.k.bits)

    # core -----------------------------------------------------------------------------------
    def core_step(self) -> Block:
        r, m, b = self.r, self.mask, self.k.bits
        choice = r.integers(0, 5)
        if choice == 0 or not self.temps:
            t = self.fresh()
            op, c = [("*", _odd(r, m)), ("+", _nonzero(r, m)), ("^", _nonzero(r, m))][
                r.integers(0, 3)
            ]
            src = INPUT_VAR if (not self.temps or r.random() < 0.6) else str(r.choice(self.temps))
            self.temps.append(t)
            upd = ["+", "^", "-"][r.integers(0, 3)]
            return Block("core", [_assign(t, op, src, c), _assign(OUTPUT_VAR, upd, OUTPUT_VAR, t)])
        if choice == 1:
            s = self.fresh()
            shift = int(r.integers(1, b - 1))
            return Block(
                "core",
                [_assign(s, ">>", OUTPUT_VAR, shift), _assign(OUTPUT_VAR, "^", OUTPUT_VAR, s)],
            )
        if choice == 2:
            return Block("core", [_assign(OUTPUT_VAR, "*", OUTPUT_VAR, _odd(r, m))])
        if choice == 3:
            t = str(r.choice(self.temps))
            return Block("core", [_assign(OUTPUT_VAR, ["+", "^"][r.integers(0, 2)], OUTPUT_VAR, t)])
        return Block("core", [_assign(OUTPUT_VAR, "+", OUTPUT_VAR, _nonzero(r, m))])

    # guards ---------------------------------------------------------------------------------
    def guard(self, live: bool) -> Block:
        """A guard block; retried until its firing share is exactly right (0 for a decoy)."""
        for _ in range(200):
            block = self._guard_candidate(live)
            prog = Program((*self.program().lines, *block.lines[:1]), self.k.bits)
            g = block.lines[1].guard
            assert g is not None and isinstance(g.right, Const)
            vals = value_of(prog, block.lines[0].target)
            right = g.right.value
            fires = _compare(g.cmp, vals, right)
            share = float(fires.mean())
            if (share > 0) == live and (not live or share <= 2.0 ** -self.k.rarity_bits[0] * 2):
                block.meta["share"] = share
                return block
        raise OversightError("could not generate a guard with the requested rarity")

    def _guard_candidate(self, live: bool) -> Block:
        r, m, b = self.r, self.mask, self.k.bits
        k = int(r.integers(self.k.rarity_bits[0], self.k.rarity_bits[1] + 1))
        src = INPUT_VAR
        if self.temps and r.random() < self.k.guard_on_temp:
            src = str(r.choice(self.temps))
        g = self.fresh()
        names = [t for t in self.k.templates if live or t not in BIJECTIVE_TEMPLATES]
        template = names[r.integers(0, len(names))]
        bits_idx = r.permutation(b)
        if template == "mask_eq":  # g = src & M; g == V; fires 2**-popcount(M)
            mask = sum(1 << int(i) for i in bits_idx[:k])
            value = int(r.integers(0, m + 1)) & mask
            if not live:  # set a bit outside the mask
                value |= 1 << int(bits_idx[k + r.integers(0, b - k)])
            first, cmp = _assign(g, "&", src, mask), "=="
        elif template == "or_eq":  # g = src | M; g == V; fires 2**-(B - popcount(M))
            mask = sum(1 << int(i) for i in bits_idx[: b - k])
            value = int(r.integers(0, m + 1)) | mask
            if not live:  # clear a bit the OR always sets
                value &= ~(1 << int(bits_idx[r.integers(0, b - k)])) & m
            first, cmp = _assign(g, "|", src, mask), "=="
        elif template == "shift_eq":  # g = src >> s; g == V; fires 2**-(B - s)
            s = b - k
            value = int(r.integers(0, 1 << k))
            if not live:  # a value the shifted source can never reach
                value = int(r.integers(1 << k, m + 1))
            first, cmp = _assign(g, ">>", src, s), "=="
        elif template == "mod_eq":  # g = src % n; g == V; fires about 1/n
            n = int(r.integers(1 << k, (1 << (k + 1))))
            value = int(r.integers(0, n)) if live else int(r.integers(n, min(m, 2 * n) + 1))
            first, cmp = _assign(g, "%", src, n), "=="
        elif template in BIJECTIVE_TEMPLATES:  # g = src ^ M (or + M); g == V; fires once
            mask, value = _nonzero(r, m), int(r.integers(0, m + 1))
            op = "^" if template == "xor_eq" else "+"
            first, cmp = _assign(g, op, src, mask), "=="
        else:  # mask_gt: g = src & M; g > V; fires on the top of the masked range
            width = min(b - 1, k + int(r.integers(1, 4)))
            mask = sum(1 << int(i) for i in bits_idx[:width])
            if live:
                spread = max(1, 1 << (width - k))  # values above V out of 2**width
                value = _nth_submask(mask, (1 << width) - 1 - spread)
            else:
                value = mask | int(r.integers(0, m + 1))  # nothing masked exceeds M or more
            first, cmp = _assign(g, "&", src, mask), ">"
        action = _assign(OUTPUT_VAR, ["+", "^", "-"][r.integers(0, 3)], OUTPUT_VAR, _nonzero(r, m))
        second = _guarded(cmp, g, value, action)
        kind = "live_guard" if live else "decoy_guard"
        return Block(kind, [first, second], {"template": template, "rarity_bits": k, "src": src})

    # dead and redundant code ----------------------------------------------------------------
    def dead(self, n: int) -> Block:
        r, m = self.r, self.mask
        lines, prev = [], None
        for _ in range(n):
            d = self.fresh()
            src = prev or str(r.choice([INPUT_VAR, OUTPUT_VAR, *self.temps]))
            op = ["*", "+", "^", "&", "|", ">>"][r.integers(0, 6)]
            c = int(r.integers(1, self.k.bits)) if op == ">>" else _nonzero(r, m)
            lines.append(_assign(d, op, src, c))
            prev = d if r.random() < 0.6 else None
        return Block("dead", lines)

    def redundant(self) -> Block:
        r, m = self.r, self.mask
        target = OUTPUT_VAR
        if r.random() < 0.5:
            op = ["^", "+"][r.integers(0, 2)]
            c = _nonzero(r, m)
            inverse = "^" if op == "^" else "-"
            return Block(
                "identity_pair",
                [_assign(target, op, target, c), _assign(target, inverse, target, c)],
            )
        op = ["^", "+", "*"][r.integers(0, 3)]
        a, c = (_odd(r, m), _odd(r, m)) if op == "*" else (_nonzero(r, m), _nonzero(r, m))
        return Block(
            "foldable_pair",
            [_assign(target, op, target, a), _assign(target, op, target, c)],
            {"op": op},
        )


def _nth_submask(mask: int, n: int) -> int:
    """The n-th smallest value whose set bits lie within ``mask`` (bits of n scattered into it)."""
    out, bit = 0, 0
    for i in range(mask.bit_length()):
        if mask >> i & 1:
            if n >> bit & 1:
                out |= 1 << i
            bit += 1
    return out


def _compare(cmp: str, a: np.ndarray, b: int) -> np.ndarray:
    import operator

    return {
        "==": operator.eq,
        "!=": operator.ne,
        "<": operator.lt,
        "<=": operator.le,
        ">": operator.gt,
        ">=": operator.ge,
    }[cmp](a.astype(np.int64), b)


def generate_reference(knobs: GeneratorConfig, seed: int) -> Reference:
    """Generate a reference program; the same knobs and seed always give the same program."""
    bld = _Builder(knobs, seed)
    r = bld.r
    extras = (
        ["live"] * knobs.live_guards
        + ["decoy"] * knobs.decoy_guards
        + ["redundant"] * knobs.redundant_pairs
    )
    dead_left = knobs.dead_lines
    while dead_left > 0:
        n = min(dead_left, int(r.integers(1, 4)))
        extras.append(f"dead{n}")
        dead_left -= n
    r.shuffle(extras)
    extra_lines = 2 * (knobs.live_guards + knobs.decoy_guards + knobs.redundant_pairs)
    core_budget = knobs.length - extra_lines - knobs.dead_lines
    # place extras after core steps; the first core step always comes first (defines out)
    core_blocks: list[Block] = []
    first = bld.fresh()
    bld.temps.append(first)
    start = Block(
        "core",
        [_assign(first, "*", INPUT_VAR, _odd(r, bld.mask)), _assign(OUTPUT_VAR, None, first)],
    )
    bld.blocks.append(start)
    core_lines = 2
    slots = sorted(r.integers(0, max(1, core_budget), size=len(extras)).tolist())
    pending = list(zip(slots, extras, strict=True))
    while core_lines < core_budget or pending:
        while pending and pending[0][0] <= core_lines:
            _, what = pending.pop(0)
            if what == "live":
                bld.blocks.append(bld.guard(live=True))
            elif what == "decoy":
                bld.blocks.append(bld.guard(live=False))
            elif what == "redundant":
                bld.blocks.append(bld.redundant())
            else:
                bld.blocks.append(bld.dead(int(what[4:])))
        if core_lines >= core_budget:
            if pending:  # remaining slots land at the end
                pending = [(core_lines, w) for _, w in pending]
            continue
        step = bld.core_step()
        if core_lines + len(step.lines) > core_budget:
            step = Block("core", [_assign(OUTPUT_VAR, "+", OUTPUT_VAR, _nonzero(r, bld.mask))])
        bld.blocks.append(step)
        core_blocks.append(step)
        core_lines += len(step.lines)
    # a final core step so no block is the last thing that touches out
    bld.blocks.append(Block("core", [_assign(OUTPUT_VAR, "*", OUTPUT_VAR, _odd(r, bld.mask))]))
    return Reference(bld.blocks, knobs.bits, bld.names, bld.used)
