"""Tests of the program DSL: parsing, printing, and the two interpreters' shared semantics.

The edge-case expectations below are written out by hand from the semantics in the module
docstring of :mod:`oversight.envs.programs.dsl`; they are never computed by an interpreter.
"""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, Phase, example, given, settings
from hypothesis import strategies as st

from oversight.core.budget import Meter
from oversight.core.errors import BudgetExceeded, OversightError
from oversight.envs.programs.dsl import (
    BINARY_OPS,
    COMPARISONS,
    UNARY_OPS,
    Const,
    Expr,
    Guard,
    Line,
    ParseError,
    Program,
    Var,
    decode_source,
    format_program,
    load_program,
    parse,
)
from oversight.envs.programs.interpreter import (
    CompiledProgram,
    all_inputs,
    dtype_for,
    run_steps,
    run_vectorized,
)
from oversight.envs.programs.oracle import gold_oracle
from strategies import programs, programs_any_names


def fast(max_examples: int) -> settings:
    """Hypothesis settings for this file: no deadline, a small example budget."""
    return settings(
        max_examples=max_examples, deadline=None, suppress_health_check=[HealthCheck.too_slow]
    )


# ---------------------------------------------------------------------------------------------
# Helpers


def _steps_all(program: Program, xs: list[int]) -> list[int]:
    return [run_steps(program, x) for x in xs]


# ---------------------------------------------------------------------------------------------
# Strategy sanity: the generator really produces every construct.


class _AllSeen(Exception):
    """Raised to stop generation as soon as every construct has been drawn."""


def test_strategy_covers_every_construct() -> None:
    """Generation reaches every operator, comparison, and the division-by-zero and shift-by->=B
    edges well within 2000 programs.

    (A fixed example count is not robust: Hypothesis seeds generation with literals from the
    loaded modules, so even a derandomized run changes when other code changes.)
    """
    wanted = (
        {("op", op) for op in BINARY_OPS}
        | {("unary", op) for op in UNARY_OPS}
        | {("cmp", c) for c in COMPARISONS}
        | {("edge", "divmod by 0"), ("edge", "shift by constant >= B")}
    )
    seen: set[tuple[str, str]] = set()

    @settings(max_examples=2000, deadline=None, database=None, phases=[Phase.generate])
    @given(programs())
    def collect(p: Program) -> None:
        assigned = {"x"}  # variables that may be non-zero; the others read as 0
        for line in p.lines:
            if line.guard is not None:
                seen.add(("cmp", line.guard.cmp))
            op = line.expr.op
            if op is not None and len(line.expr.args) == 1:
                seen.add(("unary", op))
            elif op is not None:
                seen.add(("op", op))
                b = line.expr.args[1]
                zero = b == Const(0) or (isinstance(b, Var) and b.name not in assigned)
                if op in ("/", "%") and zero:
                    seen.add(("edge", "divmod by 0"))
                if op in ("<<", ">>") and isinstance(b, Const) and b.value >= p.bits:
                    seen.add(("edge", "shift by constant >= B"))
            assigned.add(line.target)
        if seen >= wanted:
            raise _AllSeen

    with pytest.raises(_AllSeen):
        collect()


# ---------------------------------------------------------------------------------------------
# Printing and parsing


@fast(100)
@given(programs())
def test_round_trip(p: Program) -> None:
    """Printing then parsing gives back the same AST."""
    assert parse(format_program(p), p.bits) == p


def test_format_known_text() -> None:
    """Constants of 256 and over print in hex; the canonical text survives a round trip."""
    p = Program(
        (
            Line("a", Expr("<<", (Var("x"), Const(3)))),
            Line("out", Expr("-", (Var("b"),)), Guard(">=", Var("a"), Const(0x100))),
            Line("c", Expr(None, (Const(4095),))),
        ),
        12,
    )
    text = "a = x << 3\nif a >= 0x100: out = -b\nc = 0xfff\n"
    assert format_program(p) == text
    assert str(p) == text
    assert parse(text, 12) == p


def test_parse_comments_blank_lines_and_spacing() -> None:
    """Comments, blank lines and missing spaces do not change the parse."""
    source = "# a header\n\n   a=x+1   # inc\n\nif a<0x10:out=~a\n# trailer\n"
    assert parse(source, 8) == Program(
        (
            Line("a", Expr("+", (Var("x"), Const(1)))),
            Line("out", Expr("~", (Var("a"),)), Guard("<", Var("a"), Const(16))),
        ),
        8,
    )


@pytest.mark.parametrize(
    ("source", "bits", "line", "column"),
    [
        ("out = x +", 8, 1, 10),
        ("out x", 8, 1, 5),
        ("if x == : out = 1", 8, 1, 9),
        ("out = 70000", 16, 1, 7),
        ("out = x $ 1", 8, 1, 9),
        ("Out = x", 8, 1, 1),
        ("out = 256", 8, 1, 7),
        ("out = x + 1 2", 8, 1, 13),
        ("out = ~", 8, 1, 8),
        ("out = x ~ 1", 8, 1, 9),
        ("if x: out = 1", 8, 1, 5),
        ("if x = 1: out = 1", 8, 1, 6),
        ("out == x", 8, 1, 5),
        ("if = 3", 8, 1, 4),  # "if" is a keyword: read as a guard, "=" is not an atom
        # errors after comments and blank lines: line numbers count every source line
        ("# header\n\nout = x\n  out = x $ 1  # bad", 8, 4, 11),
        ("a = 1\n# c\nout = a +   # trailing", 8, 3, 10),
        ("out = 1\nif x == : out = 1", 8, 2, 9),
        ("out = 1\n\nout = 256", 8, 3, 7),
        ("out = x\nOut = x", 8, 2, 1),
        # only ASCII digits and whitespace count (regression: \d and \s took Unicode ones)
        ("out = \u0663", 8, 1, 7),
        ("out = x + 1\u0663", 8, 1, 12),
        ("out =\u3000x", 8, 1, 6),
        ("out = x\xa0", 8, 1, 8),
        ("\tout = x $", 8, 1, 10),  # a tab is one column
        # lines end at LF only (regression: str.splitlines also split on VT, FF, lone CR, ...)
        ("out = 1\x0b\nout = $", 8, 1, 8),
        ("out = 1\x0c\nout = $", 8, 1, 8),
        ("out = 1\u2028\nout = $", 8, 1, 8),
        ("out = x\rout = 1", 8, 1, 8),
        ("out = 1\r\nout = x +\r\n", 8, 2, 10),  # CRLF is accepted: the CR is no column
        # a byte-order mark is dropped at the very start only; columns count after it
        ("\ufeffout = $", 8, 1, 7),
        ("out = x\r\n\ufeffout = 1", 8, 2, 1),
        # literals out of range are refused however long (regression: ValueError past 4300
        # decimal digits)
        pytest.param("out = 1\nout = x + " + "9" * 5000, 16, 2, 11, id="5000 digits"),
        pytest.param("out = " + "1" * 100_000, 24, 1, 7, id="100000 digits"),
        pytest.param("out = 0x" + "f" * 5000, 8, 1, 7, id="5000 hex digits"),
        ("out = 0x100", 8, 1, 7),
        ("out = 16777216", 24, 1, 7),
        # NUL is refused everywhere, comments included
        ("out = x # \x00", 8, 1, 11),
        ("a = 1\n\x00", 8, 2, 1),
    ],
)
def test_parse_error_position(source: str, bits: int, line: int, column: int) -> None:
    """Each malformed program raises ParseError at the exact 1-based line and column."""
    with pytest.raises(ParseError) as info:
        parse(source, bits)
    assert (info.value.line, info.value.column) == (line, column)
    assert str(info.value).startswith(f"line {line}, column {column}: ")


def test_parse_leading_zero_literal() -> None:
    """A decimal literal with leading zeros is read as decimal or refused with a ParseError,
    never a bare ValueError (regression: ``int("007", 0)`` raised one)."""
    try:
        p = parse("out = 007", 8)
    except ParseError:
        return
    assert p.lines[0].expr == Expr(None, (Const(7),))


@pytest.mark.parametrize(
    ("source", "bits", "expected"),
    [
        pytest.param("out = " + "0" * 5000 + "7", 8, "out = 7\n", id="5000 leading zeros"),
        pytest.param("out = 0x" + "0" * 5000 + "ff", 8, "out = 255\n", id="hex leading zeros"),
        ("out = 16777215", 24, "out = 0xffffff\n"),
        ("out = 0xffffff", 24, "out = 0xffffff\n"),
        ("out = 255", 8, "out = 255\n"),
        ("\ufeffa = 1\r\nout = a\r\n", 8, "a = 1\nout = a\n"),  # BOM and CRLF
        ("out = x # caf\u00e9 \u0663 \r \x0c\n", 8, "out = x\n"),  # comments hold any text
        ("out\t=\tx", 8, "out = x\n"),
    ],
)
def test_parse_accepts(source: str, bits: int, expected: str) -> None:
    """Long literals in range, a leading byte-order mark, CRLF, and any text in comments."""
    assert format_program(parse(source, bits)) == expected


def test_parse_error_messages_are_short_and_clear() -> None:
    """A NUL is named as such, and a huge token is shortened in the message (a line may be
    megabytes long)."""
    with pytest.raises(ParseError, match="NUL character"):
        parse("out = x\x00", 8)
    for source in ("out = " + "9" * 100_000, "out = " + "A" * 100_000, "out = x " + "y" * 100_000):
        with pytest.raises(ParseError) as info:
            parse(source, 8)
        assert len(str(info.value)) < 150, str(info.value)[:200]
        assert "(100000 characters)" in str(info.value)


@pytest.mark.parametrize(
    ("data", "line", "column"),
    [
        (b"out = x\n# caf\xe9\n", 2, 6),
        (b"\xff", 1, 1),
        (b"out = \xc3\xa9\xff", 1, 8),  # columns count characters, not bytes
        (b"\xef\xbb\xbfout = \xff", 1, 7),  # the byte-order mark is not a column
        (b"out = x\r\nout = \xe2\x82", 2, 7),  # a truncated sequence at the end
    ],
)
def test_decode_source_refuses_non_utf8(data: bytes, line: int, column: int) -> None:
    """Bytes that are not UTF-8 raise a ParseError at the first bad byte's line and column."""
    with pytest.raises(ParseError) as info:
        decode_source(data)
    assert (info.value.line, info.value.column) == (line, column)
    assert "not UTF-8" in str(info.value)


def test_decode_source_drops_one_leading_bom() -> None:
    """One leading UTF-8 byte-order mark is dropped; the rest is decoded as is."""
    assert decode_source(b"\xef\xbb\xbfout = x\r\n") == "out = x\r\n"
    assert decode_source("out = x # \u0663".encode()) == "out = x # \u0663"


def test_load_program(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """load_program reads UTF-8 files and turns every failure into an OversightError that names
    the path."""
    good = tmp_path / "good.dsl"
    good.write_bytes(b"\xef\xbb\xbfa = x + 1\r\nout = a\r\n")
    assert load_program(good, 8) == parse("a = x + 1\nout = a", 8)
    latin1 = tmp_path / "latin1.dsl"
    latin1.write_bytes(b"out = x\n# caf\xe9\n")
    cases = {
        latin1: "latin1.dsl: line 2, column 6: not UTF-8 text (byte 0xe9)",
        tmp_path: "is a directory",
        tmp_path / "missing.dsl": "missing.dsl: no such file",
    }
    for path, expected in cases.items():
        with pytest.raises(OversightError) as info:
            load_program(path, 8)
        assert str(info.value).startswith(str(path)) and expected in str(info.value)
    with pytest.raises(ParseError) as parse_info:
        load_program(latin1, 8)
    assert (parse_info.value.path, parse_info.value.line, parse_info.value.column) == (latin1, 2, 6)

    def refuse(self: Path) -> bytes:
        raise PermissionError(13, "Permission denied", str(self))

    monkeypatch.setattr(Path, "read_bytes", refuse)
    with pytest.raises(OversightError, match=r"good\.dsl: cannot read: Permission denied"):
        load_program(good, 8)


@pytest.mark.parametrize("bits", [0, 1, 25])
def test_parse_rejects_bad_width(bits: int) -> None:
    """Widths outside [2, 24] are refused."""
    with pytest.raises(OversightError):
        parse("out = x", bits)


# ---------------------------------------------------------------------------------------------
# Hand-computed semantics: (bits, source, x, expected out)

EDGE_CASES: list[tuple[int, str, int, int]] = [
    # division and modulo by zero (RISC-V convention)
    (8, "out = x / 0", 37, 255),
    (5, "out = x / 0", 3, 31),
    (16, "out = x / a", 1234, 65535),
    (12, "out = 0 / 0", 0, 4095),
    (8, "out = x % 0", 37, 37),
    (5, "out = x % a", 19, 19),
    (8, "out = x / 7", 100, 14),
    (8, "out = x % 7", 100, 2),
    (3, "out = x / 3", 7, 2),
    # shifts by B or more give 0; narrower shifts are logical and wrap
    (8, "out = x << 8", 1, 0),
    (8, "out = x >> 8", 255, 0),
    (8, "out = x << 7", 3, 128),
    (8, "out = x >> 7", 255, 1),
    (5, "out = x << 5", 1, 0),
    (5, "out = x << 6", 31, 0),
    (5, "out = x >> 5", 31, 0),
    (5, "out = x << 4", 3, 16),
    (5, "out = x >> 4", 31, 1),
    (12, "out = x << 12", 1, 0),
    (12, "out = x << 11", 3, 2048),
    (12, "out = x >> 13", 4095, 0),
    (16, "out = x >> 16", 65535, 0),
    (16, "out = x << 17", 1, 0),
    (16, "out = x << 15", 3, 32768),
    (8, "a = 200\nout = x << a", 1, 0),
    (3, "out = x << x", 3, 0),
    # wrapping arithmetic
    (8, "out = -x", 1, 255),
    (8, "out = -x", 0, 0),
    (5, "out = -x", 1, 31),
    (5, "out = -x", 16, 16),
    (12, "out = -1", 0, 4095),
    (5, "out = x - 1", 0, 31),
    (5, "out = x + 1", 31, 0),
    (5, "out = x * x", 7, 17),
    (12, "out = x * 16", 0x123, 0x230),
    (16, "out = x + x", 0x8001, 2),
    # bitwise not at a width that is not a native dtype width
    (5, "out = ~x", 0, 31),
    (5, "out = ~x", 5, 26),
    (3, "out = ~x", 2, 5),
    (12, "out = ~x", 0, 4095),
    (8, "out = ~x", 0x0F, 0xF0),
    (8, "out = x & 0xF0", 0xAB, 0xA0),
    (8, "out = x | 5", 0xA0, 0xA5),
    (8, "out = x ^ 0xFF", 0x0F, 0xF0),
    # comparisons are unsigned, as expressions and as guards
    (8, "a = 0 - 1\nout = a > 0", 0, 1),
    (5, "a = -1\nout = a > x", 0, 1),
    (5, "a = -1\nout = a > x", 31, 0),
    (16, "out = x < 0", 0, 0),
    (16, "out = x >= 0", 0, 1),
    (12, "out = 4095 > 0", 0, 1),
    (8, "out = x == 3", 3, 1),
    (8, "out = x == 3", 4, 0),
    (8, "out = x != x", 9, 0),
    (8, "out = x <= x", 9, 1),
    (5, "a = -1\nif a > 1: out = 7", 0, 7),
    (8, "if x >= 128: out = 1", 200, 1),
    (8, "if x >= 128: out = 1", 127, 0),
    # a guard that does not fire keeps the old value
    (8, "out = 9\nif x == 3: out = 4", 2, 9),
    (8, "out = 9\nif x == 3: out = 4", 3, 4),
    (8, "out = 9\nif x != x: out = x / 0", 5, 9),
    # uninitialised variables read as 0
    (8, "out = a + 5", 77, 5),
    (8, "out = c", 77, 0),
    (8, "if x == 1: out = 3", 0, 0),
    (8, "if b == 0: out = x", 42, 42),
    # the output is the final value of out; x is an ordinary variable once assigned
    (8, "a = x + 1", 5, 0),
    (8, "out = x\nout = 1\na = x", 5, 1),
    (8, "x = 5\nout = x", 200, 5),
    (8, "a = x\nx = 0\nout = a", 42, 42),
    # an unguarded / or % whose target is an operand (regression: the vectorized interpreter
    # wrote the result into the operand before its divide-by-zero fix-up read it)
    (8, "x = x % 0\nout = x", 5, 5),
    (8, "b = 2\nb = x / b\nout = b", 1, 0),
    (8, "b = 3\nb = x % b\nout = b", 3, 0),
    (8, "a = 0\na = x % a\nout = a", 9, 9),
]


def _case_id(case: tuple[int, str, int, int]) -> str:
    bits, source, x, _ = case
    return f"B{bits}:{source.replace(chr(10), '; ')}@{x}"


@pytest.mark.parametrize("case", EDGE_CASES, ids=_case_id)
def test_edge_case_steps(case: tuple[int, str, int, int]) -> None:
    """run_steps gives the hand-computed output."""
    bits, source, x, expected = case
    assert run_steps(parse(source, bits), x) == expected


@pytest.mark.parametrize("case", EDGE_CASES, ids=_case_id)
def test_edge_case_vectorized(case: tuple[int, str, int, int]) -> None:
    """run_vectorized gives the hand-computed output, over all inputs and on a one-input batch."""
    bits, source, x, expected = case
    p = parse(source, bits)
    outs = run_vectorized(p)
    assert outs.dtype == dtype_for(bits)
    assert len(outs) == 1 << bits
    assert int(outs[x]) == expected
    assert int(run_vectorized(p, np.array([x]))[0]) == expected


def test_all_inputs_and_dtype() -> None:
    """all_inputs enumerates 0..2**B-1 in the narrowest unsigned dtype."""
    assert dtype_for(3) is np.uint8
    assert dtype_for(8) is np.uint8
    assert dtype_for(9) is np.uint16
    assert dtype_for(16) is np.uint16
    assert dtype_for(17) is np.uint32
    xs = all_inputs(5)
    assert xs.dtype == np.uint8
    assert xs.tolist() == list(range(32))


# ---------------------------------------------------------------------------------------------
# The two interpreters agree


def _check_agree_all_inputs(p: Program) -> None:
    outs = run_vectorized(p)
    assert outs.dtype == dtype_for(p.bits)
    assert outs.tolist() == _steps_all(p, list(range(1 << p.bits)))


@fast(120)
@given(programs(bits=st.sampled_from([3, 5, 8])))
# regressions: an unguarded / or % whose target is one of its operands
@example(parse("x = x % 0\nout = x", 8))
@example(parse("b = 2\nb = x / b\nout = b", 5))
@example(parse("b = 3\nb = x % b\nout = b", 3))
def test_vectorized_matches_steps(p: Program) -> None:
    """On every input of a <= 8-bit program both interpreters give the same output."""
    _check_agree_all_inputs(p)


@fast(150)
@given(programs_any_names(bits=st.sampled_from([3, 5, 8])))
# regression: the vectorized interpreter kept scratch arrays among the variables, under these
@example(parse("__tmp = 7\nif x == x: out = 1\nout = __tmp", 8))
@example(parse("__cond = 3\nif x < 200: out = x + 1\nout = out + __cond", 8))
@example(parse("if x > 3: __tmp = x * 3\nif __tmp == 0: __cond = 5\nout = __cond ^ __tmp", 5))
def test_vectorized_matches_steps_any_names(p: Program) -> None:
    """The interpreters agree, and printing round-trips, whatever names a program uses:
    leading underscores, ``__tmp`` and ``__cond``, digits, names next to the keyword."""
    assert parse(format_program(p), p.bits) == p
    _check_agree_all_inputs(p)


def test_scratch_names_do_not_change_the_oracle() -> None:
    """The measured bug: R assigns ``__tmp`` and always outputs 7; the oracle once said R and
    ``out = 7`` differ on every input."""
    r = parse("__tmp = 7\nif x == x: out = 1\nout = __tmp", 8)
    result = gold_oracle(r, parse("out = 7", 8))
    assert result.equivalent and result.diff_inputs.size == 0
    assert run_steps(r, 3) == 7


@fast(20)
@given(
    programs(bits=st.sampled_from([12, 16])),
    st.randoms(use_true_random=False),
)
def test_vectorized_matches_steps_wide(p: Program, rng: random.Random) -> None:
    """On 12- and 16-bit programs, the full vectorized run agrees with run_steps on 200 inputs,
    and running the vectorized interpreter on just those inputs gives the same values."""
    xs = [rng.randrange(1 << p.bits) for _ in range(198)] + [0, p.mask]
    outs = run_vectorized(p)
    batch = run_vectorized(p, np.array(xs, dtype=np.int64))
    expected = _steps_all(p, xs)
    assert [int(outs[x]) for x in xs] == expected
    assert batch.tolist() == expected


def test_vectorized_matches_steps_12_bit_example() -> None:
    """A fixed 12-bit program mixing every edge, checked on all 4096 inputs."""
    source = """
        a = x >> 6
        b = x & 63
        c = a / b          # b == 0 on every 64th input
        out = a % b
        if c > 0xf00: out = ~out
        a = b << 12        # shift by B
        b = x << 11
        out = out ^ a
        out = out + b
        if x >= 0x800: c = -c
        out = out - c
        a = x * 0xfff
        if a != 1: out = out | a
        c = x < 2048
        out = out * c
    """
    p = parse(source, 12)
    assert len(p) == 15
    _check_agree_all_inputs(p)


def test_compiled_program_reusable() -> None:
    """A CompiledProgram can be called repeatedly, on different batches, with the same results."""
    p = parse("a = x * 3\nif a > 100: out = a / 7\nb = out % 0\nout = b ^ x", 8)
    compiled = CompiledProgram(p)
    first = compiled(all_inputs(8)).copy()
    second = compiled(all_inputs(8))
    assert first.tolist() == second.tolist()
    assert compiled(np.array([5, 200])).tolist() == [first[5], first[200]]
    assert first.tolist() == _steps_all(p, list(range(256)))


# ---------------------------------------------------------------------------------------------
# Cost, budget, trace, termination


@fast(60)
@given(programs(min_lines=0), st.integers(min_value=0, max_value=(1 << 16) - 1))
def test_steps_charge_and_trace(p: Program, x: int) -> None:
    """run_steps charges exactly len(program), records one trace entry per line, and ends."""
    x &= p.mask
    meter = Meter()
    trace: list[int] = []
    out = run_steps(p, x, meter=meter, trace=trace)
    assert meter.spent == len(p)
    assert len(trace) == len(p)
    assert all(0 <= v <= p.mask for v in trace)
    assert 0 <= out <= p.mask
    # the output is the last value recorded for a line assigning out (0 if none did)
    out_steps = [v for line, v in zip(p.lines, trace, strict=True) if line.target == "out"]
    assert out == (out_steps[-1] if out_steps else 0)
    # a meter limited to exactly the cost suffices
    exact = Meter(limit=len(p))
    assert run_steps(p, x, meter=exact) == out
    assert exact.spent == len(p)


@fast(50)
@given(programs(min_lines=1), st.data())
def test_steps_budget_exceeded(p: Program, data: st.DataObject) -> None:
    """A meter with too small a limit raises BudgetExceeded without overspending."""
    limit = data.draw(st.integers(min_value=0, max_value=len(p) - 1))
    meter = Meter(limit=limit)
    with pytest.raises(BudgetExceeded):
        run_steps(p, 1, meter=meter)
    assert meter.spent <= limit


def test_meter_accumulates_across_runs() -> None:
    """One meter shared by several runs accumulates, and a part-spent meter is respected."""
    p = parse("a = x + 1\nb = a * a\nout = b - x", 8)
    meter = Meter(limit=7)
    run_steps(p, 1, meter=meter)
    run_steps(p, 2, meter=meter)
    assert meter.spent == 6
    with pytest.raises(BudgetExceeded):
        run_steps(p, 3, meter=meter)
    assert meter.spent <= 7


def test_trace_hand_example() -> None:
    """The trace holds each line's target after the line, unchanged when a guard does not fire."""
    p = parse("a = x + 1\nif a == 0: a = 5\nout = a * 2\nif a == 4: b = 9", 8)
    trace: list[int] = []
    assert run_steps(p, 3, trace=trace) == 8
    assert trace == [4, 4, 8, 9]
    trace = []
    assert run_steps(p, 255, trace=trace) == 10
    assert trace == [0, 5, 10, 0]
