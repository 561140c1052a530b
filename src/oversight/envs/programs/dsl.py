"""The program DSL: a tiny straight-line integer language over B-bit inputs.

Grammar (one statement per source line; ``#`` starts a comment; blank lines are ignored)::

    line    := VAR "=" expr
             | "if" atom CMP atom ":" VAR "=" expr      # a guarded assignment
    expr    := atom | UOP atom | atom BOP atom
    atom    := VAR | INT                               # INT: decimal or 0x-hex, 0 <= INT < 2**B
    UOP     := "~" | "-"
    BOP     := "+" | "-" | "*" | "/" | "%" | "&" | "|" | "^" | "<<" | ">>" | CMP
    CMP     := "==" | "!=" | "<" | "<=" | ">" | ">="
    VAR     := [a-z_][a-z0-9_]*

Semantics (every edge, stated once; both interpreters implement exactly this):

- **What an input is.** One unsigned integer ``x`` of ``B`` bits, ``0 <= x < 2**B``. Every other
  variable starts at 0. The program's output is the value of ``out`` after the last line.
- Every value is an unsigned ``B``-bit integer; ``+``, ``-``, ``*``, unary ``-`` and ``~`` wrap
  modulo ``2**B``.
- **Division by zero.** ``a / 0 == 2**B - 1`` and ``a % 0 == a`` (the RISC-V convention); otherwise
  ``/`` and ``%`` are unsigned floor division and remainder.
- **Shifts.** ``<<`` and ``>>`` are logical; a shift amount of ``B`` or more gives 0.
- **Comparisons** are unsigned and give 1 or 0, both as an expression and in a guard.
- A guarded line assigns only when its comparison holds; otherwise the target keeps its value.
- **Cost.** Evaluating one line on one input costs 1, guarded or not, whether or not it fires.
  There are no loops or jumps, so every program terminates after exactly ``len(program)`` steps.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np

from oversight.core.errors import OversightError

BINARY_OPS = ("+", "-", "*", "/", "%", "&", "|", "^", "<<", ">>", "==", "!=", "<", "<=", ">", ">=")
UNARY_OPS = ("~", "-")
COMPARISONS = ("==", "!=", "<", "<=", ">", ">=")
INPUT_VAR = "x"
OUTPUT_VAR = "out"
MIN_BITS, MAX_BITS = 2, 24


class ParseError(OversightError):
    """A malformed program; names the source line and column (both 1-based)."""

    def __init__(self, message: str, line: int, column: int):
        super().__init__(f"line {line}, column {column}: {message}")
        self.line = line
        self.column = column


@dataclass(frozen=True, slots=True)
class Var:
    name: str

    def __str__(self) -> str:
        return self.name


@dataclass(frozen=True, slots=True)
class Const:
    value: int

    def __str__(self) -> str:
        return str(self.value) if self.value < 256 else hex(self.value)


Atom = Var | Const


@dataclass(frozen=True, slots=True)
class Expr:
    """``op`` is None for a plain copy (one arg), a unary op (one arg) or a binary op (two)."""

    op: str | None
    args: tuple[Atom, ...]

    def __str__(self) -> str:
        if self.op is None:
            return str(self.args[0])
        if len(self.args) == 1:
            return f"{self.op}{self.args[0]}"
        return f"{self.args[0]} {self.op} {self.args[1]}"


@dataclass(frozen=True, slots=True)
class Guard:
    cmp: str
    left: Atom
    right: Atom

    def __str__(self) -> str:
        return f"{self.left} {self.cmp} {self.right}"


@dataclass(frozen=True, slots=True)
class Line:
    target: str
    expr: Expr
    guard: Guard | None = None

    def __str__(self) -> str:
        body = f"{self.target} = {self.expr}"
        return f"if {self.guard}: {body}" if self.guard else body

    def reads(self) -> set[str]:
        """Variables this line reads (a guarded line also reads its own target)."""
        atoms = list(self.expr.args)
        if self.guard:
            atoms += [self.guard.left, self.guard.right, Var(self.target)]
        return {a.name for a in atoms if isinstance(a, Var)}


@dataclass(frozen=True, slots=True)
class Program:
    lines: tuple[Line, ...]
    bits: int
    # Programs key many caches (features, contexts); hashing hundreds of nested lines on every
    # lookup dominated training time, so the hash is computed once.
    _hash: int = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_hash", hash((self.lines, self.bits)))

    def __hash__(self) -> int:
        return self._hash

    def __len__(self) -> int:
        return len(self.lines)

    def __str__(self) -> str:
        return format_program(self)

    @property
    def mask(self) -> int:
        return (1 << self.bits) - 1


def format_program(program: Program) -> str:
    """Print a program in the DSL's concrete syntax; ``parse(format_program(p), p.bits) == p``."""
    return "".join(f"{line}\n" for line in program.lines)


_TOKEN = re.compile(
    r"\s*(?:(?P<int>0x[0-9a-fA-F]+|\d+)|(?P<name>[A-Za-z_][A-Za-z0-9_]*)"
    r"|(?P<op><<|>>|==|!=|<=|>=|[-+*/%&|^~<>=:]))"
)
_KEYWORDS = {"if"}


def _tokenize(text: str, lineno: int) -> list[tuple[str, str, int]]:
    tokens: list[tuple[str, str, int]] = []
    pos = 0
    while pos < len(text):
        if text[pos:].strip() == "":
            break
        m = _TOKEN.match(text, pos)
        if m is None or m.end() == pos:
            col = pos + len(text[pos:]) - len(text[pos:].lstrip()) + 1
            raise ParseError(f"unexpected character {text[col - 1]!r}", lineno, col)
        kind = m.lastgroup or ""
        col = m.start(kind) + 1
        tokens.append((kind, m.group(kind), col))
        pos = m.end()
    return tokens


class _LineParser:
    def __init__(self, text: str, lineno: int, bits: int):
        self.tokens = _tokenize(text, lineno)
        self.i = 0
        self.lineno = lineno
        self.bits = bits
        self.end_col = len(text.rstrip()) + 1

    def _peek(self) -> tuple[str, str, int] | None:
        return self.tokens[self.i] if self.i < len(self.tokens) else None

    def _error(self, message: str) -> ParseError:
        tok = self._peek()
        return ParseError(message, self.lineno, tok[2] if tok else self.end_col)

    def _next(self, what: str) -> tuple[str, str, int]:
        tok = self._peek()
        if tok is None:
            raise self._error(f"expected {what}, found end of line")
        self.i += 1
        return tok

    def _expect_op(self, op: str) -> None:
        tok = self._peek()
        if tok is None or tok[0] != "op" or tok[1] != op:
            found = "end of line" if tok is None else repr(tok[1])
            raise self._error(f"expected {op!r}, found {found}")
        self.i += 1

    def _var(self) -> str:
        tok = self._peek()
        if tok is None or tok[0] != "name" or tok[1] in _KEYWORDS:
            raise self._error("expected a variable name")
        if not re.fullmatch(r"[a-z_][a-z0-9_]*", tok[1]):
            raise self._error(f"variable names are lower case: {tok[1]!r}")
        self.i += 1
        return tok[1]

    def _atom(self) -> Atom:
        tok = self._peek()
        if tok is not None and tok[0] == "int":
            value = int(tok[1], 16) if tok[1][:2] in ("0x", "0X") else int(tok[1], 10)
            if value >= 1 << self.bits:
                raise self._error(f"constant {tok[1]} does not fit in {self.bits} bits")
            self.i += 1
            return Const(value)
        return Var(self._var())

    def _expr(self) -> Expr:
        tok = self._peek()
        if tok is not None and tok[0] == "op" and tok[1] in UNARY_OPS:
            self.i += 1
            return Expr(tok[1], (self._atom(),))
        left = self._atom()
        tok = self._peek()
        if tok is None:
            return Expr(None, (left,))
        if tok[0] != "op" or tok[1] not in BINARY_OPS:
            raise self._error(f"expected an operator or end of line, found {tok[1]!r}")
        self.i += 1
        return Expr(tok[1], (left, self._atom()))

    def parse(self) -> Line:
        guard = None
        tok = self._peek()
        if tok is not None and tok[0] == "name" and tok[1] == "if":
            self.i += 1
            left = self._atom()
            cmp = self._next("a comparison")
            if cmp[0] != "op" or cmp[1] not in COMPARISONS:
                self.i -= 1
                raise self._error(f"expected a comparison ({', '.join(COMPARISONS)})")
            right = self._atom()
            self._expect_op(":")
            guard = Guard(cmp[1], left, right)
        target = self._var()
        self._expect_op("=")
        expr = self._expr()
        if self._peek() is not None:
            raise self._error(f"unexpected {self._peek()[1]!r} after the expression")  # type: ignore[index]
        return Line(target, expr, guard)


def parse_line(text: str, bits: int, lineno: int = 1) -> Line:
    """Parse one statement."""
    return _LineParser(text, lineno, bits).parse()


def parse(source: str, bits: int) -> Program:
    """Parse a ``bits``-bit program; a :class:`ParseError` names the line and column."""
    if not MIN_BITS <= bits <= MAX_BITS:
        raise OversightError(f"bits must be in [{MIN_BITS}, {MAX_BITS}], got {bits}")
    lines = []
    for lineno, raw in enumerate(source.splitlines(), start=1):
        text = raw.split("#", 1)[0]
        if text.strip():
            lines.append(parse_line(text, bits, lineno))
    return Program(tuple(lines), bits)


def statically_live(program: Program) -> np.ndarray:
    """``(L,)`` bool: whether each line's target may reach ``out`` (backward liveness).

    A guarded line reads its own target and does not kill it (it may not fire). A line that is
    not live can be deleted without changing the output on any input.
    """
    live = {OUTPUT_VAR}
    flags = np.zeros(len(program), dtype=bool)
    for i in range(len(program) - 1, -1, -1):
        line = program.lines[i]
        if line.target not in live:
            continue
        flags[i] = True
        if line.guard is None:
            live.discard(line.target)
        live |= line.reads()
    return flags
