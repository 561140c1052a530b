"""Two interpreters of the DSL with identical semantics (see :mod:`.dsl` for every edge case).

- :func:`run_vectorized` runs a program on many inputs at once (all ``2**B`` by default) with
  numpy, one in-place ufunc call per line on narrow unsigned arrays. It backs the gold oracle and
  the search critics' batched tests.
- :func:`run_steps` runs one input line by line in plain Python integers, charging a
  :class:`~oversight.core.budget.Meter` one unit per line, and can record the value each step
  assigns. It backs the budgeted judge's primitive checks.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache
from typing import NamedTuple

import numpy as np

from oversight.core.budget import Meter
from oversight.envs.programs.dsl import INPUT_VAR, OUTPUT_VAR, Const, Line, Program, Var

_np_binary = {
    "+": np.add,
    "-": np.subtract,
    "*": np.multiply,
    "&": np.bitwise_and,
    "|": np.bitwise_or,
    "^": np.bitwise_xor,
    "<<": np.left_shift,
    ">>": np.right_shift,
    "==": np.equal,
    "!=": np.not_equal,
    "<": np.less,
    "<=": np.less_equal,
    ">": np.greater,
    ">=": np.greater_equal,
}
# Ops whose result can leave [0, 2**B) when B is narrower than the array's dtype.
_WRAPPING = {"+", "-", "*", "<<", "~", "neg"}


def dtype_for(bits: int) -> type[np.unsignedinteger]:
    """The narrowest unsigned dtype that holds ``bits`` bits."""
    return np.uint8 if bits <= 8 else np.uint16 if bits <= 16 else np.uint32


def all_inputs(bits: int) -> np.ndarray:
    """Every input of a ``bits``-bit program, in increasing order."""
    return np.arange(1 << bits, dtype=dtype_for(bits))


def _py_binary(op: str, a: int, b: int, bits: int) -> int:
    mask = (1 << bits) - 1
    if op == "/":
        return mask if b == 0 else a // b
    if op == "%":
        return a if b == 0 else a % b
    if op in ("<<", ">>"):
        if b >= bits:
            return 0
        return (a << b) & mask if op == "<<" else a >> b
    return {
        "+": lambda: (a + b) & mask,
        "-": lambda: (a - b) & mask,
        "*": lambda: (a * b) & mask,
        "&": lambda: a & b,
        "|": lambda: a | b,
        "^": lambda: a ^ b,
        "==": lambda: int(a == b),
        "!=": lambda: int(a != b),
        "<": lambda: int(a < b),
        "<=": lambda: int(a <= b),
        ">": lambda: int(a > b),
        ">=": lambda: int(a >= b),
    }[op]()


def eval_line(line: Line, env: dict[str, int], bits: int) -> int | None:
    """Evaluate one line on one input's state; returns the value assigned, or None if the guard
    did not fire. Updates ``env`` in place."""

    def val(atom: Var | Const) -> int:
        return atom.value if isinstance(atom, Const) else env.get(atom.name, 0)

    if line.guard is not None:
        g = line.guard
        if not _py_binary(g.cmp, val(g.left), val(g.right), bits):
            return None
    args = [val(a) for a in line.expr.args]
    op = line.expr.op
    mask = (1 << bits) - 1
    if op is None:
        value = args[0]
    elif len(args) == 1:
        value = (~args[0] & mask) if op == "~" else (-args[0] & mask)
    else:
        value = _py_binary(op, args[0], args[1], bits)
    env[line.target] = value
    return value


def run_steps(
    program: Program, x: int, meter: Meter | None = None, trace: list[int] | None = None
) -> int:
    """Run ``program`` on one input, one line at a time, charging ``meter`` 1 per line.

    ``trace``, when given, receives the value of each line's target after that line (so a guarded
    line that does not fire records its target's unchanged value). Returns ``out``.
    """
    env = {INPUT_VAR: x & program.mask}
    for line in program.lines:
        if meter is not None:
            meter.charge(1)
        eval_line(line, env, program.bits)
        if trace is not None:
            trace.append(env.get(line.target, 0))
    return env.get(OUTPUT_VAR, 0)


class Scratch(NamedTuple):
    """The working arrays of guarded lines, one batch wide.

    They live outside the variables' dict so that no program name (``__tmp`` included) can
    alias them: a variable stored under a scratch buffer's key once overwrote it mid-line.
    """

    cond: np.ndarray  # bool: where the guard holds
    tmp: np.ndarray  # the line's value on every input, before the masked copy


Step = Callable[[dict[str, np.ndarray], Scratch], None]
"""One compiled line: updates the program's variables (by name) in place."""


@lru_cache(maxsize=65536)
def _compile_line(line: Line, bits: int) -> Step:
    # cached: a step is stateless (it works on the arrays it is handed), and the programs an
    # experiment compiles share most of their lines (edits of one reference)
    dtype = dtype_for(bits)
    mask = dtype((1 << bits) - 1)
    needs_mask = np.iinfo(dtype).bits != bits
    op = line.expr.op
    kind = "neg" if (op == "-" and len(line.expr.args) == 1) else op
    wraps = needs_mask and kind in _WRAPPING
    consts = {a: dtype(a.value) for a in line.expr.args if isinstance(a, Const)}

    def get(env: dict[str, np.ndarray], atom: Var | Const) -> np.ndarray | np.unsignedinteger:
        return consts[atom] if isinstance(atom, Const) else env[atom.name]

    def compute(env: dict[str, np.ndarray], out: np.ndarray) -> None:
        args = [get(env, a) for a in line.expr.args]
        if op is None:
            np.positive(args[0], out=out)  # a copy; measured several times faster than copyto
        elif kind == "~":
            np.invert(args[0], out=out)
        elif kind == "neg":
            np.subtract(dtype(0), args[0], out=out)
        elif op in ("/", "%") and isinstance(line.expr.args[1], Const):
            _divide_by_constant(op, args[0], line.expr.args[1].value, mask, out)
        elif op in ("/", "%"):
            # not in place: ``out`` may be an operand, and the zero fix-up reads both operands
            a, b = args
            with np.errstate(divide="ignore"):
                result = np.floor_divide(a, b) if op == "/" else np.remainder(a, b)
            np.copyto(out, np.where(np.equal(b, 0), mask if op == "/" else a, result))
        else:
            # numpy defines shifts by >= the dtype's width as 0; narrower B is handled by the mask
            _np_binary[op](args[0], args[1], out=out)
        if wraps:
            np.bitwise_and(out, mask, out=out)

    target = line.target
    if line.guard is None:
        return lambda env, scratch: compute(env, env[target])

    g = line.guard
    gl = dtype(g.left.value) if isinstance(g.left, Const) else None
    gr = dtype(g.right.value) if isinstance(g.right, Const) else None
    left_var = g.left.name if isinstance(g.left, Var) else ""  # read when gl is None
    right_var = g.right.name if isinstance(g.right, Var) else ""  # read when gr is None
    cmp = _np_binary[g.cmp]

    def guarded(env: dict[str, np.ndarray], scratch: Scratch) -> None:
        cond = scratch.cond
        left = gl if gl is not None else env[left_var]
        right = gr if gr is not None else env[right_var]
        cmp(left, right, out=cond)
        if cond.any():
            tmp = scratch.tmp
            compute(env, tmp)
            np.copyto(env[target], tmp, where=cond)

    return guarded


def _divide_by_constant(
    op: str, a: np.ndarray | np.unsignedinteger, d: int, mask: np.unsignedinteger, out: np.ndarray
) -> None:
    """``a / d`` or ``a % d`` for a constant ``d``, without the generic zero fix-up."""
    if not isinstance(a, np.ndarray):  # both operands constant
        a = np.full(out.shape, a, dtype=out.dtype)
    if d == 0:
        if op == "/":
            out.fill(mask)
        else:
            np.positive(a, out=out)
    elif op == "/":
        np.floor_divide(a, out.dtype.type(d), out=out)
    elif d & (d - 1) == 0:  # a power of two
        np.bitwise_and(a, out.dtype.type(d - 1), out=out)
    else:  # numpy's remainder by a scalar is not vectorized; this is
        q = np.floor_divide(a, out.dtype.type(d))
        np.multiply(q, out.dtype.type(d), out=q)
        np.subtract(a, q, out=out)


class CompiledProgram:
    """A program compiled to numpy steps; reuse it to run many input batches (not thread-safe:
    it keeps its working arrays between calls)."""

    def __init__(self, program: Program):
        self.program = program
        self.dtype = dtype_for(program.bits)
        self.steps = [_compile_line(line, program.bits) for line in program.lines]
        names = {INPUT_VAR, OUTPUT_VAR}
        for line in program.lines:
            names |= line.reads() | {line.target}
        self.names = sorted(names)
        self._buffers: dict[int, tuple[dict[str, np.ndarray], Scratch]] = {}

    def new_state(self, n: int) -> tuple[dict[str, np.ndarray], Scratch]:
        """Zeroed variables (every name the program uses) and scratch arrays for ``n`` inputs."""
        env = {name: np.zeros(n, dtype=self.dtype) for name in self.names}
        return env, Scratch(np.zeros(n, dtype=bool), np.zeros(n, dtype=self.dtype))

    def __call__(self, inputs: np.ndarray) -> np.ndarray:
        n = len(inputs)
        state = self._buffers.get(n)
        if state is None:  # buffers are reused across calls: fresh ones cost page faults
            state = self.new_state(n)
            self._buffers = {n: state}
        else:
            for array in state[0].values():
                array.fill(0)
        env, scratch = state
        np.bitwise_and(inputs.astype(self.dtype, copy=False), self.program.mask, out=env[INPUT_VAR])
        for step in self.steps:
            step(env, scratch)
        return env[OUTPUT_VAR].copy()


def run_vectorized(program: Program, inputs: np.ndarray | None = None) -> np.ndarray:
    """Outputs of ``program`` on ``inputs`` (default: all ``2**B`` inputs, in order).

    Costs ``len(inputs) * len(program)`` line evaluations; callers charge their own meters.
    """
    if inputs is None:
        inputs = all_inputs(program.bits)
    return CompiledProgram(program)(np.asarray(inputs))
