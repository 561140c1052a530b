"""Fuzz the DSL's parser and its two interpreters with mutants of valid programs.

Usage::

    python benchmarks/fuzz_dsl.py [--n N] [--seed S] [--references R] [--show K]

Takes ``R`` reference programs from the project's generator (:class:`ProgramEnv`, at 8, 12 and 16
bits) and makes ``N`` mutants, each by one to four mutations (one most often):

- **byte level**, on the UTF-8 encoding: flip a bit; insert, replace or delete a byte; insert a
  special sequence (NUL, CR, CRLF, a byte-order mark, a stray or truncated UTF-8 byte, an encoded
  surrogate, an Arabic-Indic digit); delete or duplicate a span;
- **token level**, on the text: insert, replace, delete, duplicate or swap a token, drawing new
  tokens from the program and from a pool of awkward ones (``__tmp``, ``__cond``, ``if``, upper
  case names, 5000-digit and out-of-range literals, Unicode digits and spaces, line breaks);
  replace a token by one of its class (name, literal, operator); rename a variable everywhere;
  delete, duplicate or move a line (these mutants often still parse, and then run).

Each mutant goes through :func:`decode_source` and :func:`parse`. Any exception there that is not
a :class:`ParseError` with a line and column inside the source is *foreign*. A mutant that parses
runs on a few inputs (0, the all-ones input, and random ones) in both :func:`run_vectorized` and
:func:`run_steps`: any exception there is foreign too, and different outputs are a
*disagreement*. The first ``K`` of each are printed for reproduction. The run is deterministic
given ``--seed``; the last line gives the counts::

    fuzz: 100000 programs, 41234 parsed, 0 foreign exceptions, 0 disagreements

The exit code is 1 when there was any foreign exception or disagreement.
"""

from __future__ import annotations

import argparse
import random
import re
import sys
import time
from dataclasses import dataclass, field

import numpy as np

from oversight.envs.programs.dsl import (
    BINARY_OPS,
    UNARY_OPS,
    ParseError,
    Program,
    decode_source,
    parse,
)
from oversight.envs.programs.env import ProgramEnv
from oversight.envs.programs.generator import GeneratorConfig
from oversight.envs.programs.interpreter import run_steps, run_vectorized

KNOBS = (
    GeneratorConfig(bits=8, length=24, rarity_bits=(3, 5), dead_lines=3, redundant_pairs=2),
    GeneratorConfig(bits=12, length=40, rarity_bits=(5, 8)),
    GeneratorConfig(bits=16, length=48),
)
SPECIAL_BYTES = (
    b"\x00",
    b"\r",
    b"\r\n",
    b"\n",
    b"\t",
    b"\xef\xbb\xbf",  # byte-order mark
    b"\xff",  # never valid in UTF-8
    b"\xc3",  # a lead byte without its continuation
    b"\x80",  # a continuation byte without its lead
    b"\xed\xa0\x80",  # an encoded surrogate (refused by strict UTF-8)
    b"\xd9\xa3",  # ARABIC-INDIC DIGIT THREE
    b"\xe2\x80\xa8",  # LINE SEPARATOR
    b"\x0c",
    b"#",
)
SPECIAL_TOKENS = (
    *("__tmp", "__cond", "_", "__", "__init__", "x", "out", "a1", "_0", "iff"),
    *("if", "If", "OUT", "X", "é"),
    *("0", "1", "007", "0x", "0xffffff", "0x1000000", "16777215", "16777216", "4294967296"),
    *("9" * 5000, "0" * 5000 + "1", "0x" + "f" * 5000, "\u0663", "1\u0663", "\uff11"),
    *("\ufeff", "\x00", "\r", "\r\n", "\n", "\t", "\xa0", "\u3000", "\u2028", "\x0b"),
    *("#", ":", "=", "==", "<<", ">>", "<=", "~", "-", "+", "/", "%", "$", "(", "[/]"),
)
OPERATORS = (*BINARY_OPS, *UNARY_OPS, "=", ":")
RENAME_NAMES = ("__tmp", "__cond", "_", "__", "___", "_x", "__x__", "a1b2", "out1", "x0", "iff")
_TOKENS = re.compile(r"\s+|\w+|\S")
_NAMES = re.compile(r"\b[a-z_][a-z0-9_]*\b", re.ASCII)


def mutate_bytes(data: bytes, rng: random.Random) -> bytes:
    """One byte-level mutation of ``data``."""
    kind = rng.randrange(6)
    i = rng.randrange(len(data) + 1)
    if kind == 0 and data:  # flip a bit
        i = min(i, len(data) - 1)
        return data[:i] + bytes([data[i] ^ (1 << rng.randrange(8))]) + data[i + 1 :]
    if kind == 1:  # insert a random byte
        return data[:i] + bytes([rng.randrange(256)]) + data[i:]
    if kind == 2:  # replace a byte
        return data[:i] + bytes([rng.randrange(256)]) + data[i + 1 :]
    if kind == 3:  # insert a special sequence
        return data[:i] + rng.choice(SPECIAL_BYTES) + data[i:]
    j = min(len(data), i + rng.randint(1, 16))
    if kind == 4:  # delete a span
        return data[:i] + data[j:]
    return data[:j] + data[i:j] + data[j:]  # duplicate a span


def _same_class(token: str, names: list[str], rng: random.Random) -> str:
    """A token of ``token``'s class: a name for a name, a literal for a literal (in range about
    half the time), an operator for an operator; the mutant then often still parses."""
    if token.isascii() and token.isdigit():
        return str(rng.choice([rng.randrange(256), rng.randrange(1 << 24), 1 << rng.randrange(25)]))
    if _NAMES.fullmatch(token) and token != "if":
        return rng.choice([*RENAME_NAMES, *names])
    return rng.choice(OPERATORS)


def mutate_tokens(text: str, rng: random.Random) -> str:
    """One token-level mutation of ``text`` (tokens are runs of word characters, runs of
    whitespace, or single other characters; ``<<`` and the like are two)."""
    tokens = _TOKENS.findall(text)
    if not tokens:
        return rng.choice(SPECIAL_TOKENS)
    names = sorted(set(_NAMES.findall(text)) - {"if"})
    # kinds 5-7 usually keep the program parseable, so that the interpreters get work too
    kind = rng.choices(range(8), weights=(1, 1, 1, 1, 1, 2, 3, 2))[0]
    i = rng.randrange(len(tokens))
    new = rng.choice(SPECIAL_TOKENS) if rng.random() < 0.5 else rng.choice(tokens)
    if kind == 0:
        tokens.insert(i, new)
    elif kind == 1:
        tokens[i] = new
    elif kind == 2:
        del tokens[i]
    elif kind == 3:
        tokens.insert(i, tokens[i])
    elif kind == 4:
        j = rng.randrange(len(tokens))
        tokens[i], tokens[j] = tokens[j], tokens[i]
    elif kind == 5 and names:  # rename one variable everywhere: the mutant usually parses
        old, fresh = rng.choice(names), rng.choice(RENAME_NAMES)
        return re.sub(rf"\b{re.escape(old)}\b", fresh, text)
    elif kind == 6:
        words = [j for j, token in enumerate(tokens) if not token.isspace()]
        j = rng.choice(words) if words else i
        tokens[j] = _same_class(tokens[j], names, rng)
    else:  # delete, duplicate or move a whole line
        lines = text.split("\n")
        a, b = rng.randrange(len(lines)), rng.randrange(len(lines))
        line = lines.pop(a)
        if rng.random() < 0.5:
            lines.insert(b, line)
            if rng.random() < 0.5:
                lines.insert(a, line)
        return "\n".join(lines)
    return "".join(tokens)


def mutant(source: str, rng: random.Random) -> bytes:
    """``source`` after one to four mutations, byte or token level, as bytes."""
    data = source.encode()
    for _ in range(rng.choice((1, 1, 1, 1, 2, 2, 3, 4))):
        if rng.random() < 0.5:
            data = mutate_bytes(data, rng)
        else:
            # token mutations work on text; undecodable bytes survive them as U+FFFD
            text = data.decode("utf-8", errors="replace")
            data = mutate_tokens(text, rng).encode("utf-8", errors="surrogatepass")
    return data


def position_ok(error: ParseError, source: str | None) -> bool:
    """Whether the error's line and column lie in ``source`` (column: up to one past the end)."""
    if error.line < 1 or error.column < 1:
        return False
    if source is None:  # a decoding error: the text is not available; line 1 always exists
        return True
    lines = source.split("\n")
    return error.line <= len(lines) and error.column <= len(lines[error.line - 1]) + 1


@dataclass
class Tally:
    """Counts, and the first few findings of each kind for reproduction."""

    show: int
    programs: int = 0
    parsed: int = 0
    foreign: list[str] = field(default_factory=list)
    disagreements: list[str] = field(default_factory=list)

    def note(self, found: list[str], what: str, data: bytes) -> None:
        if len(found) < self.show:
            print(f"  {what}: {data[:300]!r}{'...' if len(data) > 300 else ''}")
        found.append(what)


def check(data: bytes, bits: int, rng: random.Random, tally: Tally) -> None:
    """Decode, parse and (when it parses) run one mutant, updating ``tally``."""
    tally.programs += 1
    source: str | None = None
    try:
        source = decode_source(data)
        program = parse(source, bits)
    except ParseError as e:
        if not position_ok(e, source):
            tally.note(tally.foreign, f"ParseError outside the source: {e}", data)
        return
    except Exception as e:  # anything else is a bug: that is what is being counted
        tally.note(tally.foreign, f"{type(e).__name__} from parse: {e}"[:200], data)
        return
    tally.parsed += 1
    xs = [0, (1 << bits) - 1, *(rng.randrange(1 << bits) for _ in range(6))]
    try:
        vectorized = run_vectorized(program, np.array(xs)).tolist()
        steps = [run_steps(program, x) for x in xs]
    except Exception as e:
        tally.note(tally.foreign, f"{type(e).__name__} from an interpreter: {e}"[:200], data)
        return
    if vectorized != steps:
        diff = next(i for i in range(len(xs)) if vectorized[i] != steps[i])
        what = f"x={xs[diff]}: vectorized {vectorized[diff]}, steps {steps[diff]} (B={bits})"
        tally.note(tally.disagreements, what, data)


def references(count: int) -> list[Program]:
    """``count`` generated reference programs, cycling through :data:`KNOBS`."""
    out = []
    for i in range(count):
        knobs = KNOBS[i % len(KNOBS)]
        problem, _ = ProgramEnv(knobs).reference(seed=i)
        out.append(parse(problem.data["reference"], knobs.bits))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=100_000, help="number of mutants")
    parser.add_argument("--seed", type=int, default=0, help="seed of the mutations")
    parser.add_argument("--references", type=int, default=30, help="programs to mutate")
    parser.add_argument("--show", type=int, default=5, help="findings of each kind to print")
    args = parser.parse_args()

    rng = random.Random(args.seed)
    refs = references(args.references)
    sources = [(str(p), p.bits) for p in refs]
    tally = Tally(args.show)
    t0 = time.perf_counter()
    for i in range(args.n):
        if i and i % 20_000 == 0:
            print(f"  {i} mutants, {time.perf_counter() - t0:.0f} s", file=sys.stderr)
        source, bits = rng.choice(sources)
        # now and then at another width, so literals near the range limit move across it
        if rng.random() < 0.1:
            bits = rng.randint(2, 24)
        check(mutant(source, rng), bits, rng, tally)
    print(
        f"fuzz: {tally.programs} programs, {tally.parsed} parsed, "
        f"{len(tally.foreign)} foreign exceptions, {len(tally.disagreements)} disagreements"
    )
    sys.exit(1 if tally.foreign or tally.disagreements else 0)


if __name__ == "__main__":
    main()
