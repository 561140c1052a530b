"""The backward solver against brute force over every input of small (4- to 10-bit) programs.

- **Soundness**: every input :func:`solve` returns makes the targeted guard fire (or the targeted
  comparison give 1), checked with the step interpreter on the state just before the line and
  cross-checked with the vectorized interpreter over all ``2**B`` inputs. So where brute force
  finds no such input, the solver must return None.
- **Completeness where promised**: on a chain of lines the module docstring says it inverts
  (one variable and one constant per line, no guarded assignment on the path, and no
  non-surjective step above one where the solver picks a value at random), every call must
  return an input whenever brute force finds one.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from tests.strategies import EXPR_KINDS, constants, programs

from oversight.core.errors import OversightError
from oversight.envs.programs.dsl import (
    COMPARISONS,
    INPUT_VAR,
    OUTPUT_VAR,
    Const,
    Expr,
    Guard,
    Line,
    Program,
    Var,
    parse,
)
from oversight.envs.programs.generator import GeneratorConfig, generate_reference
from oversight.envs.programs.interpreter import eval_line, run_vectorized
from oversight.envs.programs.makers import make
from oversight.envs.programs.solver import solve, target_lines
from oversight.envs.programs.traces import state_before, true_trace

TRIES = 4
"""Solver calls per target (each fills don't-care bits afresh)."""

SMALL_BITS = st.integers(min_value=4, max_value=10)


def _probe(program: Program, i: int) -> Line:
    """A line computing what target ``i`` tests: its guard, else its own comparison."""
    line = program.lines[i]
    g = line.guard
    return Line(OUTPUT_VAR, line.expr if g is None else Expr(g.cmp, (g.left, g.right)))


def fires_on_all(program: Program, i: int) -> np.ndarray:
    """``(2**B,)`` bool: whether target ``i`` fires (or gives 1) on each input."""
    probe = Program((*program.lines[:i], _probe(program, i)), program.bits)
    return run_vectorized(probe).astype(bool)


def fires_on(program: Program, i: int, x: int) -> bool:
    """Whether target ``i`` fires on ``x``, by the step interpreter from the true trace."""
    env = state_before(program, true_trace(program, x), i)
    return bool(eval_line(_probe(program, i), env, program.bits))


def wrong_answers(program: Program, i: int, seed: int) -> tuple[list[int], int, np.ndarray]:
    """The solver's wrong inputs for target ``i`` over :data:`TRIES` calls, how many calls
    returned None, and the brute-force firing set."""
    fires = fires_on_all(program, i)
    r = np.random.default_rng(seed)
    answers = [solve(program, i, r) for _ in range(TRIES)]
    wrong = []
    for x in answers:
        if x is None:
            continue
        assert 0 <= x <= program.mask
        step = fires_on(program, i, x)
        assert step == fires[x], "the two interpreters disagree"
        if not step:
            wrong.append(x)
    return wrong, answers.count(None), fires


# -- the path classes the solver promises to invert ------------------------------------------

_BIJECTIVE = {"+", "-", "^"}
_SHIFTS = {"<<", ">>", "%"}


def _definition(program: Program, var: str, before: int) -> int | None:
    """The line defining ``var`` before ``before`` (-1: never assigned), or None when a guarded
    assignment sits in between (the path then depends on whether it fires)."""
    for j in range(before - 1, -1, -1):
        line = program.lines[j]
        if line.target == var:
            return None if line.guard is not None else j
    return -1


def invertible_chain(program: Program, i: int) -> bool:
    """Whether target ``i`` reads ``x`` through a chain the solver must always invert.

    Walking back from the target, the solver first transforms the constraint exactly (``^ & |``
    and shifts with a constant, ``==`` and unique preimages) and at some steps picks one value
    of a set at random (filling don't-care bits, a range of a comparison, a quotient of ``%``).
    Once it has picked, every step up to ``x`` must be a bijection (``+ - ^``, ``*`` by an odd
    constant, ``~``, unary ``-``, copies), so that the picked value has a preimage.
    """
    line = program.lines[i]
    g = line.guard
    op, args = (line.expr.op, line.expr.args) if g is None else (g.cmp, (g.left, g.right))
    picked, full = False, True  # whether a value was picked; whether every bit is constrained
    at_target, var = True, None
    while True:
        if op is None or len(args) == 1:
            (var,) = args
            if op is not None and not full:
                picked = True  # ~ and unary -: filled, then inverted
            full = full or op is not None
        else:
            consts = [a for a in args if isinstance(a, Const)]
            vars_ = [a for a in args if isinstance(a, Var)]
            if len(consts) != 1 or len(vars_) != 1:
                return False
            var, c, first = vars_[0], consts[0].value, isinstance(args[0], Var)
            m = program.mask
            if op in COMPARISONS:
                if picked:
                    return False
                # the target must give 1 (== then fixes the value); elsewhere 0 may be wanted
                picked, full = op != "==" or not at_target, True
            elif op in _SHIFTS and not first:
                return False
            elif op in _BIJECTIVE or (op == "*" and c % 2) or (op == "%" and c == 0):
                picked, full = picked or not full, True
            elif (op == "*" and c == 0) or (op in ("<<", ">>") and c >= program.bits):
                return not picked  # no constraint on the variable
            elif (op, c) in (("&", m), ("|", 0), ("<<", 0), (">>", 0)):
                pass  # the identity
            elif op in ("&", "|", "<<", ">>", "*", "%"):
                if picked:
                    return False
                picked = op in ("*", "%")
                full = op == "%"
            else:
                return False
        if not isinstance(var, Var):
            return not picked  # a constant: checked exactly
        j = _definition(program, var.name, i)
        if j is None:
            return False
        if j < 0:
            return var.name == INPUT_VAR or not picked
        i, line, at_target = j, program.lines[j], False
        op, args = line.expr.op, line.expr.args


@st.composite
def chain_programs(draw: st.DrawFn, bits: st.SearchStrategy[int] = SMALL_BITS) -> Program:
    """Programs whose every line reads one variable and one constant (or is unary or a copy),
    some guarded, ending in a guard or a comparison with a constant: most targets are chains."""
    b = draw(bits)
    names = (INPUT_VAR, "a", "b")
    var = st.sampled_from(names).map(Var)
    const = constants(b)
    body = []
    for _ in range(draw(st.integers(min_value=0, max_value=6))):
        op, arity = draw(st.sampled_from(EXPR_KINDS))
        v, c = draw(var), draw(const)
        args = (v,) if arity == 1 else (v, c) if draw(st.integers(0, 3)) else (c, v)
        guard = None
        if draw(st.integers(0, 4)) == 0:
            guard = Guard(draw(st.sampled_from(COMPARISONS)), draw(var), draw(const))
        body.append(Line(draw(st.sampled_from(names)), Expr(op, args), guard))
    cmp, v, c = draw(st.sampled_from(COMPARISONS)), draw(var), draw(const)
    left, right = (v, c) if draw(st.booleans()) else (c, v)
    if draw(st.booleans()):
        last = Line(OUTPUT_VAR, Expr("+", (Var(OUTPUT_VAR), Const(1))), Guard(cmp, left, right))
    else:
        last = Line(OUTPUT_VAR, Expr(cmp, (left, right)))
    return Program((*body, last), b)


def check_targets(program: Program, seed: int) -> None:
    """Soundness on every target; completeness on the invertible chains."""
    for i in target_lines(program):
        wrong, nones, fires = wrong_answers(program, i, seed)
        assert not wrong, f"line {i} does not fire on {wrong}:\n{program}"
        if fires.any() and invertible_chain(program, i):
            assert nones == 0, f"line {i} fires on {np.flatnonzero(fires)[:8]}:\n{program}"


# -- regressions: each was a wrong input (or a None on an invertible chain) ------------------

A_COMPARISON_HAS_NO_HIGH_BITS = parse("a = x < 5\nb = a ^ 2\nif b == 0: out = 1\n", 4)
"""``b`` is 2 or 3, never 0; the solver used to take ``a == 2`` as "bit 0 of a is 0"."""

A_GUARD_ON_THE_PATH_FIRES = parse("a = x\nif x == 3: a = 0\nout = a == 3\n", 4)
"""The solver skips guarded assignments, assuming they do not fire; here only x = 3 gives
``a == 3`` before the guard, and the guard then overwrites ``a``."""

LOW_BITS_OF_AN_EVEN_PRODUCT = parse("a = x * 2\nb = a & 12\nout = b == 4\n", 4)
"""The low bit of ``a`` is a don't-care; its random fill made every other call give up."""

A_REMAINDER_WITH_DONT_CARES = parse("a = x % 3\nb = a & 1\nout = b == 0\n", 8)
"""Only bit 0 of ``a`` matters; filling the rest at random almost always gave ``a >= 3``."""


@pytest.mark.parametrize(
    "program",
    [
        A_COMPARISON_HAS_NO_HIGH_BITS,
        A_GUARD_ON_THE_PATH_FIRES,
        LOW_BITS_OF_AN_EVEN_PRODUCT,
        A_REMAINDER_WITH_DONT_CARES,
    ],
    ids=["comparison-high-bits", "guard-on-path", "even-product", "remainder"],
)
@pytest.mark.parametrize("seed", range(8))
def test_regressions(program: Program, seed: int) -> None:
    check_targets(program, seed)


def test_regression_inputs_are_what_they_claim() -> None:
    """The regression programs show what their docstrings say, by brute force."""
    assert not fires_on_all(A_COMPARISON_HAS_NO_HIGH_BITS, 2).any()
    assert not fires_on_all(A_GUARD_ON_THE_PATH_FIRES, 2).any()
    for program in (LOW_BITS_OF_AN_EVEN_PRODUCT, A_REMAINDER_WITH_DONT_CARES):
        assert fires_on_all(program, 2).any() and invertible_chain(program, 2)


# -- properties ------------------------------------------------------------------------------

_SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@_SETTINGS
@given(chain_programs(), st.integers(min_value=0, max_value=2**32 - 1))
@example(A_COMPARISON_HAS_NO_HIGH_BITS, 0)
@example(A_GUARD_ON_THE_PATH_FIRES, 0)
@example(LOW_BITS_OF_AN_EVEN_PRODUCT, 0)
@example(A_REMAINDER_WITH_DONT_CARES, 0)
def test_chains_are_sound_and_complete(program: Program, seed: int) -> None:
    check_targets(program, seed)


@_SETTINGS
@given(programs(bits=SMALL_BITS, max_lines=8), st.integers(min_value=0, max_value=2**32 - 1))
def test_arbitrary_programs_are_sound(program: Program, seed: int) -> None:
    check_targets(program, seed)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.integers(min_value=6, max_value=10),
    st.integers(min_value=0, max_value=10**6),
    st.sampled_from(["reference", "honest", "lazy", "literal", "linear", "mixing", "spread"]),
)
def test_generated_programs_are_sound_and_complete(bits: int, seed: int, tag: str) -> None:
    """References from the generator and the makers' artifacts, as the critics see them."""
    knobs = GeneratorConfig(bits=bits, length=32, rarity_bits=(2, bits - 2))
    try:
        ref = generate_reference(knobs, seed)
        rng = np.random.default_rng(seed)
        program = ref.program if tag == "reference" else make(tag, ref, rng, k=3).program
    except OversightError:  # a guard of that rarity, or a net saving, can be impossible
        return
    check_targets(program, seed)
