"""Hypothesis strategies for the program DSL (:mod:`oversight.envs.programs.dsl`).

Programs are drawn over a small set of variable names so that lines read what earlier lines wrote
(and sometimes variables nothing wrote, which read as 0). Constants are biased toward the values at
which the semantics have edges: 0 and 1, shift amounts ``B - 1``, ``B`` and ``B + 1``, the all-ones
value ``2**B - 1`` and the top bit ``2**(B - 1)``, so that shifts by ``B`` or more, division and
modulo by zero, and wrap-around are all hit often.
"""

from __future__ import annotations

from functools import cache

from hypothesis import strategies as st

from oversight.envs.programs.dsl import (
    BINARY_OPS,
    COMPARISONS,
    INPUT_VAR,
    KEYWORDS,
    OUTPUT_VAR,
    UNARY_OPS,
    Atom,
    Const,
    Expr,
    Guard,
    Line,
    Program,
    Var,
)

VAR_NAMES: tuple[str, ...] = (INPUT_VAR, OUTPUT_VAR, "a", "b", "c")
"""The variable names generated programs use (``x`` is the input, ``out`` the output)."""

NAME_CLASSES: tuple[tuple[str, ...], ...] = (
    (INPUT_VAR, OUTPUT_VAR),
    ("_", "__", "___"),  # underscores only
    ("_a", "a_", "_x", "_out", "__x__"),  # underscores leading and trailing
    ("__tmp", "__cond", "tmp", "cond", "env"),  # names an implementation might use
    ("a1", "x0", "out1", "_0", "a1b2c3", "v_9_"),  # digits inside and at the end
    ("iff", "if_", "_if", "i", "f"),  # next to the keyword ``if``
)
"""Examples of every class of name the grammar's VAR pattern allows (besides arbitrary ones)."""

DEFAULT_BITS: tuple[int, ...] = (3, 5, 8, 12, 16)
"""Input widths: native dtype widths (8, 16) and widths that need masking (3, 5, 12)."""


def edge_values(bits: int) -> list[int]:
    """The constants at which ``bits``-bit semantics have edges, deduplicated, all in range."""
    mask = (1 << bits) - 1
    candidates = [0, 1, bits - 1, bits, bits + 1, mask, 1 << (bits - 1)]
    return sorted({v for v in candidates if 0 <= v <= mask})


# Hypothesis's ``one_of`` branch choice drifts far from uniform inside lists (most lines came out
# as plain copies), so every choice below is one flat ``sampled_from`` over weighted alternatives.

_UNIFORM = None
"""Marks "use the uniformly drawn value instead" in a weighted ``sampled_from``."""


@cache
def constants(bits: int) -> st.SearchStrategy[Const]:
    """A ``bits``-bit constant: an edge value (0 most often) about three times in four, else
    uniform."""
    mask = (1 << bits) - 1
    edges = edge_values(bits)
    # 0 (division and modulo by zero) counts twice
    choices: list[int | None] = [0, *edges, *([_UNIFORM] * max(1, len(edges) // 3))]

    def pick(edge: int | None, uniform: int) -> Const:
        return Const(uniform if edge is None else edge)

    return st.builds(pick, st.sampled_from(choices), st.integers(min_value=0, max_value=mask))


@cache
def variables(names: tuple[str, ...] = VAR_NAMES) -> st.SearchStrategy[Var]:
    """A variable from ``names``."""
    return st.sampled_from(names).map(Var)


@cache
def atoms(bits: int, names: tuple[str, ...] = VAR_NAMES) -> st.SearchStrategy[Atom]:
    """A variable (about five times in eight with the default names) or a constant."""
    choices: list[str | None] = [*names, _UNIFORM, _UNIFORM, _UNIFORM]

    def pick(name: str | None, const: Const) -> Atom:
        return const if name is None else Var(name)

    return st.builds(pick, st.sampled_from(choices), constants(bits))


EXPR_KINDS: tuple[tuple[str | None, int], ...] = (
    *((op, 2) for op in BINARY_OPS),
    *((op, 1) for op in UNARY_OPS),
    (None, 1),
)
"""Every expression shape as (operator, arity); None is a plain copy."""


@cache
def exprs(bits: int, names: tuple[str, ...] = VAR_NAMES) -> st.SearchStrategy[Expr]:
    """A plain copy, a unary or a binary expression, each operator about equally often."""
    atom = atoms(bits, names)

    def build(kind: tuple[str | None, int], a: Atom, b: Atom) -> Expr:
        op, arity = kind
        return Expr(op, (a, b)[:arity])

    return st.builds(build, st.sampled_from(EXPR_KINDS), atom, atom)


@cache
def guards(bits: int, names: tuple[str, ...] = VAR_NAMES) -> st.SearchStrategy[Guard]:
    """A guard over every comparison."""
    atom = atoms(bits, names)
    return st.builds(Guard, st.sampled_from(COMPARISONS), atom, atom)


@cache
def lines(bits: int, names: tuple[str, ...] = VAR_NAMES) -> st.SearchStrategy[Line]:
    """A plain or (about one time in three) guarded assignment to one of ``names``."""

    def build(target: str, expr: Expr, guarded: bool, guard: Guard) -> Line:
        return Line(target, expr, guard if guarded else None)

    return st.builds(
        build,
        st.sampled_from(names),
        exprs(bits, names),
        st.sampled_from((False, True, False)),
        guards(bits, names),
    )


def variable_names() -> st.SearchStrategy[str]:
    """Any name the grammar allows: a class of :data:`NAME_CLASSES` or an arbitrary
    ``[a-z_][a-z0-9_]*`` that is not a keyword, each class about equally often."""
    arbitrary = st.from_regex(r"[a-z_][a-z0-9_]{0,11}", fullmatch=True).filter(
        lambda name: name not in KEYWORDS
    )
    return st.one_of(*(st.sampled_from(names) for names in NAME_CLASSES), arbitrary)


def name_sets(max_size: int = 5) -> st.SearchStrategy[tuple[str, ...]]:
    """``x``, ``out`` and up to ``max_size`` names from :func:`variable_names`, sorted."""
    return st.lists(variable_names(), min_size=1, max_size=max_size, unique=True).map(
        lambda names: tuple(sorted({INPUT_VAR, OUTPUT_VAR, *names}))
    )


@st.composite
def programs(
    draw: st.DrawFn,
    bits: st.SearchStrategy[int] | None = None,
    max_lines: int = 12,
    min_lines: int = 1,
    names: tuple[str, ...] = VAR_NAMES,
) -> Program:
    """An arbitrary valid program of ``min_lines`` to ``max_lines`` lines.

    ``bits`` draws the input width (default: one of :data:`DEFAULT_BITS`). About half the programs
    end with an assignment to ``out`` so that the output usually depends on the program.
    """
    b = draw(bits if bits is not None else st.sampled_from(DEFAULT_BITS))
    body = draw(st.lists(lines(b, names), min_size=min_lines, max_size=max_lines))
    if body and draw(st.booleans()):
        last = body[-1]
        body[-1] = Line(OUTPUT_VAR, last.expr, last.guard)
    return Program(tuple(body), b)


@st.composite
def programs_any_names(
    draw: st.DrawFn, bits: st.SearchStrategy[int] | None = None, max_lines: int = 12
) -> Program:
    """Like :func:`programs`, over a set of names drawn from :func:`name_sets`."""
    return draw(programs(bits=bits, max_lines=max_lines, names=draw(name_sets())))
