"""The program DSL: a tiny straight-line integer language over B-bit inputs.

Grammar (one statement per source line; ``#`` starts a comment; blank lines are ignored)::

    line    := VAR "=" expr
             | "if" atom CMP atom ":" VAR "=" expr      # a guarded assignment
    expr    := atom | UOP atom | atom BOP atom
    atom    := VAR | INT                               # INT: decimal or 0x-hex, 0 <= INT < 2**B
    UOP     := "~" | "-"
    BOP     := "+" | "-" | "*" | "/" | "%" | "&" | "|" | "^" | "<<" | ">>" | CMP
    CMP     := "==" | "!=" | "<" | "<=" | ">" | ">="
    VAR     := [a-z_][a-z0-9_]*                        # except the keyword "if"
    INT     := [0-9]+ | "0x" [0-9a-fA-F]+

Source text (every refusal is a :class:`ParseError` naming a 1-based line and column):

- **Encoding.** A program is UTF-8 text (:func:`decode_source` turns bytes into it). One UTF-8
  byte-order mark at the very start is accepted and dropped; anywhere else it is an unexpected
  character. Bytes that are not UTF-8 are refused at the first bad byte.
- **Lines** end with LF or CRLF; any other CR outside a comment is an unexpected character.
  Line numbers count every LF, blank and comment lines included. Columns count characters (a tab
  counts 1).
- **Characters.** Outside comments only ASCII is meaningful: space and tab separate tokens;
  every other character that is not part of a token is refused. Digits are the ASCII digits
  only (``٣`` is not 3). A comment may hold any text except NUL, which is refused everywhere
  (a NUL almost always means a binary file).
- **Literals** must be below ``2**B``; a longer run of digits is refused from its length alone,
  so a huge literal costs no more than reading it. Leading zeros are allowed (``007`` is 7).
- Parsing takes time linear in the length of the source.

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

import codecs
import re
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from oversight.core.errors import OversightError

BINARY_OPS = ("+", "-", "*", "/", "%", "&", "|", "^", "<<", ">>", "==", "!=", "<", "<=", ">", ">=")
UNARY_OPS = ("~", "-")
COMPARISONS = ("==", "!=", "<", "<=", ">", ">=")
INPUT_VAR = "x"
OUTPUT_VAR = "out"
MIN_BITS, MAX_BITS = 2, 24


class ParseError(OversightError):
    """A malformed program; names the source line and column (both 1-based), and the file when
    there is one."""

    def __init__(self, message: str, line: int, column: int, path: Path | None = None):
        where = f"line {line}, column {column}: "
        super().__init__(where + message if path is None else f"{path}: {where}{message}")
        self.reason = message
        self.line = line
        self.column = column
        self.path = path


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
    # Lines key caches and are read by liveness, features and edits for every line of every
    # visited program: the hash, the variables read and the text are computed once.
    _hash: int = field(init=False, repr=False, compare=False)
    _reads: frozenset[str] = field(init=False, repr=False, compare=False)
    _text: str = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_hash", hash((self.target, self.expr, self.guard)))
        atoms = list(self.expr.args)
        if self.guard:
            atoms += [self.guard.left, self.guard.right, Var(self.target)]
        object.__setattr__(self, "_reads", frozenset(a.name for a in atoms if isinstance(a, Var)))
        body = f"{self.target} = {self.expr}"
        object.__setattr__(self, "_text", f"if {self.guard}: {body}" if self.guard else body)

    def __hash__(self) -> int:
        return self._hash

    def __str__(self) -> str:
        return self._text

    def reads(self) -> frozenset[str]:
        """Variables this line reads (a guarded line also reads its own target)."""
        return self._reads


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


# One pass over a line: every position matches exactly one group (``bad`` takes any single
# character no token starts with), so ``finditer`` walks the line once, token by token.
_TOKEN = re.compile(
    r"(?P<space>[ \t]+)"
    r"|(?P<int>0x[0-9a-fA-F]+|[0-9]+)"
    r"|(?P<name>[A-Za-z_][A-Za-z0-9_]*)"
    r"|(?P<op><<|>>|==|!=|<=|>=|[-+*/%&|^~<>=:])"
    r"|(?P<bad>.)",
    re.ASCII | re.DOTALL,
)
_VAR = re.compile(r"[a-z_][a-z0-9_]*", re.ASCII)
KEYWORDS = frozenset({"if"})
"""Words the VAR pattern matches that are not variable names."""
_BOM = "\ufeff"
_SPACE = " \t"
_SHOWN = 24
"""Tokens longer than this are shortened in error messages."""


def _show(token: str) -> str:
    """``token`` quoted for an error message, shortened when long (a line may be megabytes)."""
    if len(token) <= _SHOWN:
        return repr(token)
    return f"{token[:_SHOWN]!r}... ({len(token)} characters)"


def _tokenize(text: str, lineno: int) -> list[tuple[str, str, int]]:
    """``(kind, text, 1-based column)`` for each token of one line, whitespace dropped."""
    tokens: list[tuple[str, str, int]] = []
    for m in _TOKEN.finditer(text):
        kind = m.lastgroup
        if kind == "space":
            continue
        if kind == "bad":
            raise ParseError(f"unexpected character {m.group()!r}", lineno, m.start() + 1)
        tokens.append((kind or "", m.group(), m.start() + 1))
    return tokens


def _literal(token: str, bits: int) -> int | None:
    """The value of an INT token, or None if it is ``2**B`` or more.

    The digit count is checked before converting, so a literal of a million digits is refused
    in linear time (and never reaches ``int``'s 4,300-digit limit for decimal strings).
    """
    hexa = token.startswith("0x")
    digits = (token[2:] if hexa else token).lstrip("0")
    mask = (1 << bits) - 1
    if len(digits) > (len(f"{mask:x}") if hexa else len(str(mask))):
        return None
    value = int(digits or "0", 16 if hexa else 10)
    return value if value <= mask else None


class _LineParser:
    def __init__(self, text: str, lineno: int, bits: int):
        self.tokens = _tokenize(text, lineno)
        self.i = 0
        self.lineno = lineno
        self.bits = bits
        self.end_col = len(text.rstrip(_SPACE)) + 1

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
            found = "end of line" if tok is None else _show(tok[1])
            raise self._error(f"expected {op!r}, found {found}")
        self.i += 1

    def _var(self) -> str:
        tok = self._peek()
        if tok is None or tok[0] != "name" or tok[1] in KEYWORDS:
            raise self._error("expected a variable name")
        if not _VAR.fullmatch(tok[1]):
            raise self._error(f"variable names are lower case: {_show(tok[1])}")
        self.i += 1
        return tok[1]

    def _atom(self) -> Atom:
        tok = self._peek()
        if tok is not None and tok[0] == "int":
            value = _literal(tok[1], self.bits)
            if value is None:
                raise self._error(f"constant {_show(tok[1])} does not fit in {self.bits} bits")
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
            raise self._error(f"expected an operator or end of line, found {_show(tok[1])}")
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
        extra = self._peek()
        if extra is not None:
            raise self._error(f"unexpected {_show(extra[1])} after the expression")
        return Line(target, expr, guard)


def parse_line(text: str, bits: int, lineno: int = 1) -> Line:
    """Parse one statement."""
    return _LineParser(text, lineno, bits).parse()


def parse(source: str, bits: int) -> Program:
    """Parse a ``bits``-bit program; a :class:`ParseError` names the line and column.

    ``source`` is text as described in the module docstring (LF or CRLF line ends, an optional
    leading byte-order mark); bytes go through :func:`decode_source` first.
    """
    if not MIN_BITS <= bits <= MAX_BITS:
        raise OversightError(f"bits must be in [{MIN_BITS}, {MAX_BITS}], got {bits}")
    if source.startswith(_BOM):
        source = source[len(_BOM) :]
    lines = []
    # split on LF only: str.splitlines also splits on form feeds, U+2028 and others, which would
    # make line numbers disagree with an editor's
    for lineno, raw in enumerate(source.split("\n"), start=1):
        if raw.endswith("\r"):
            raw = raw[:-1]
        nul = raw.find("\x00")
        if nul >= 0:
            raise ParseError("NUL character (is this a binary file?)", lineno, nul + 1)
        text = raw.split("#", 1)[0]
        if text.strip(_SPACE):
            lines.append(parse_line(text, bits, lineno))
    return Program(tuple(lines), bits)


def decode_source(data: bytes) -> str:
    """Program bytes as text: strict UTF-8, one leading byte-order mark dropped.

    Bytes that are not UTF-8 raise a :class:`ParseError` at the line and column (in characters)
    of the first bad byte.
    """
    if data.startswith(codecs.BOM_UTF8):
        data = data[len(codecs.BOM_UTF8) :]
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        start = data.rfind(b"\n", 0, e.start) + 1
        # the bytes before the first bad one decode, so the column counts characters
        column = len(data[start : e.start].decode("utf-8")) + 1
        raise ParseError(
            f"not UTF-8 text (byte 0x{data[e.start]:02x})",
            data.count(b"\n", 0, e.start) + 1,
            column,
        ) from None


def load_program(path: Path, bits: int) -> Program:
    """Read and parse the program file at ``path``.

    A file that is missing, a directory or unreadable raises an :class:`OversightError`, bytes
    that are not UTF-8 or a malformed program a :class:`ParseError`; either message starts with
    the path.
    """
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise OversightError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise OversightError(f"{path}: is a directory, not a program file") from None
    except OSError as e:
        raise OversightError(f"{path}: cannot read: {e.strerror or e}") from None
    try:
        return parse(decode_source(data), bits)
    except ParseError as e:
        raise ParseError(e.reason, e.line, e.column, path) from None


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


def dependencies(program: Program, needed: AbstractSet[str], end: int) -> list[int]:
    """Indices of the lines before ``end`` that the variables ``needed`` at ``end`` depend on
    (a static backward slice), last first. A guarded line may not fire, so it keeps its target
    needed (an earlier definition may be the one that holds) and adds its guard's operands."""
    needed = set(needed)
    out: list[int] = []
    for i in range(end - 1, -1, -1):
        line = program.lines[i]
        if line.target not in needed:
            continue
        out.append(i)
        if line.guard is None:
            needed.discard(line.target)
        needed |= line.reads()
    return out


def backward_slice(program: Program, index: int) -> list[int]:
    """Indices of the lines line ``index`` depends on, itself included, ascending: running only
    these lines gives the values line ``index`` reads exactly as the whole program would."""
    return sorted([index, *dependencies(program, program.lines[index].reads(), index)])
