"""Execution traces and the level-0 judge of recursive reward modeling (RRM).

Programs are longer than the judge's budget, so the judge cannot run them. Instead a *tracer*
claims an execution :class:`Trace` (the value every step assigns on one input), a
:class:`TraceChecker` with its own, larger budget re-checks steps and contests one it believes
wrong, and :func:`judge_trace` checks only that one step (cost 1: evaluate the contested line on
the state the trace itself implies before it).

Level 0 is imperfect on purpose: a checker whose budget is below the trace's length may miss a
wrong step, and the judge's stated rule is that an uncontested trace, or a contested step that
checks out, holds.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict

from oversight.core.budget import Meter
from oversight.core.errors import OversightError
from oversight.core.records import Check
from oversight.envs.programs.dsl import INPUT_VAR, OUTPUT_VAR, Program, dependencies
from oversight.envs.programs.interpreter import eval_line, run_steps

Order = Literal["backward", "random"]
Default = Literal["accept", "reject"]
LieAt = Literal["last_out", "random"]


class Trace(BaseModel):
    """A claimed execution of ``program`` on input ``x``.

    ``values[i]`` is the claimed value of line ``i``'s target after line ``i`` (for a guarded line
    that does not fire: the target's unchanged value); ``output`` is the claimed value of ``out``
    after the last line. Nothing forces a claim to be consistent: that is what checking is for.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    program_id: str = ""
    role: str = ""
    x: int
    values: list[int]
    output: int


Tracer = Callable[[Program, int], Trace]


def true_trace(program: Program, x: int, program_id: str = "", role: str = "") -> Trace:
    """The correct trace of ``program`` on ``x``."""
    values: list[int] = []
    output = run_steps(program, x, trace=values)
    return Trace(program_id=program_id, role=role, x=x, values=values, output=output)


def state_before(program: Program, trace: Trace, step: int) -> dict[str, int]:
    """The variables as ``trace`` implies them just before ``step`` (``step == len(program)``:
    after the last line): ``x`` from the input, every other variable from the latest earlier step
    that assigned it, else 0 (absent from the dict reads as 0, as in the interpreter)."""
    if not 0 <= step <= len(program):
        raise OversightError(f"step {step} is outside a program of {len(program)} lines")
    env = {INPUT_VAR: trace.x & program.mask}
    for line, value in zip(program.lines[:step], trace.values[:step], strict=True):
        env[line.target] = value
    return env


def implied_output(program: Program, trace: Trace) -> int:
    """The value of ``out`` the trace's own steps imply after the last line (free to read)."""
    return state_before(program, trace, len(program)).get(OUTPUT_VAR, 0)


def well_formed(program: Program, trace: Trace) -> bool:
    """Whether the trace has one in-range value per line and an output matching its last
    assignment to ``out``. Reading the trace costs nothing, so the judge checks this for free."""
    if len(trace.values) != len(program):
        return False
    if any(not 0 <= v <= program.mask for v in trace.values):
        return False
    return trace.output == implied_output(program, trace)


def check_step(program: Program, trace: Trace, step: int, meter: Meter) -> bool:
    """The judge's primitive check, charging ``meter`` 1 line evaluation: does line ``step``,
    evaluated on the state the trace implies before it, give the trace's claimed value?

    A guarded line that does not fire must claim its target's previous value.
    """
    meter.charge(1)
    env = state_before(program, trace, step)
    line = program.lines[step]
    previous = env.get(line.target, 0)
    assigned = eval_line(line, env, program.bits)
    expected = previous if assigned is None else assigned
    return expected == trace.values[step]


def _corrupt(value: int, mask: int, rng: np.random.Generator) -> int:
    # xor with a nonzero mask-sized value: always a different value, always in range
    return value ^ int(rng.integers(1, mask + 1))


def honest_tracer(
    program: Program,
    x: int,
    epsilon: float,
    rng: np.random.Generator,
    program_id: str = "",
    role: str = "",
) -> Trace:
    """A sloppy but honest tracer: each step's value is corrupted with probability ``epsilon``.

    Errors propagate as in a real sloppy computation: later steps are computed from the corrupted
    state, so only the corrupted steps themselves are inconsistent. One ``rng`` draw per step.
    """
    env = {INPUT_VAR: x & program.mask}
    values: list[int] = []
    for line in program.lines:
        eval_line(line, env, program.bits)
        value = env.get(line.target, 0)
        if rng.random() < epsilon:
            value = _corrupt(value, program.mask, rng)
            env[line.target] = value
        values.append(value)
    output = env.get(OUTPUT_VAR, 0)
    return Trace(program_id=program_id, role=role, x=x, values=values, output=output)


def _continue(
    program: Program, env: dict[str, int], start: int, values: list[int]
) -> dict[str, int]:
    """Run lines ``start..`` consistently from ``env`` (modified in place), appending values."""
    for line in program.lines[start:]:
        eval_line(line, env, program.bits)
        values.append(env.get(line.target, 0))
    return env


def _true_states(program: Program, x: int) -> list[dict[str, int]]:
    """``states[i]``: the true state just before step ``i`` (one entry per step, plus the end)."""
    env = {INPUT_VAR: x & program.mask}
    states = [dict(env)]
    for line in program.lines:
        eval_line(line, env, program.bits)
        states.append(dict(env))
    return states


def lying_tracer(
    program: Program,
    x: int,
    target_output: int,
    rng: np.random.Generator,
    lie_at: LieAt = "last_out",
    max_tries: int = 4096,
    program_id: str = "",
    role: str = "",
) -> Trace:
    """A claimant that wants the output to be ``target_output``, with exactly one wrong step.

    ``lie_at="last_out"`` claims ``target_output`` at the last assignment to ``out``.
    ``lie_at="random"`` picks a random earlier assignment to ``out`` and searches (up to
    ``max_tries`` random candidate values) for a value whose consistent continuation ends at
    ``target_output``; if none is found it falls back to ``"last_out"``. Every other step is
    computed consistently from the lie, so only the lying step fails :func:`check_step`.

    If the true output already is ``target_output`` no lie is needed: the true trace is returned.
    If no line assigns ``out`` the only way to claim the target is an ``output`` field that
    contradicts the steps, which :func:`well_formed` catches for free.
    """
    target_output &= program.mask
    states = _true_states(program, x)
    honest = true_trace(program, x, program_id, role)
    if honest.output == target_output:
        return honest
    out_steps = [i for i, line in enumerate(program.lines) if line.target == OUTPUT_VAR]
    if not out_steps:
        return honest.model_copy(update={"output": target_output})

    def lie(step: int, value: int) -> tuple[list[int], int]:
        values = [*honest.values[:step], value]
        env = dict(states[step])
        env[OUTPUT_VAR] = value
        _continue(program, env, step + 1, values)
        return values, env.get(OUTPUT_VAR, 0)

    if lie_at == "random" and len(out_steps) > 1:
        step = int(rng.choice(out_steps[:-1]))
        n = min(max_tries, program.mask + 1)
        for candidate in rng.choice(program.mask + 1, size=n, replace=False):
            if int(candidate) == honest.values[step]:
                continue  # not a lie
            values, output = lie(step, int(candidate))
            if output == target_output:
                return Trace(program_id=program_id, role=role, x=x, values=values, output=output)
    values, output = lie(out_steps[-1], target_output)
    return Trace(program_id=program_id, role=role, x=x, values=values, output=output)


def output_cone(program: Program) -> list[int]:
    """Steps the output may depend on (a static backward slice from ``out``), last first.

    Reading the program is free; a guarded line also reads its target, so it never ends the
    dependency on that target.
    """
    return dependencies(program, {OUTPUT_VAR}, len(program))


@dataclass
class TraceChecker:
    """An agent that re-checks a trace's steps with its own budget and contests one wrong step.

    ``order="backward"`` checks the output's dependencies (:func:`output_cone`) from the last
    step back, then the remaining steps from the end; ``order="random"`` checks steps in a random
    order. With ``budget`` below the trace's length it may miss a wrong step: that is the knob.
    ``last_spent`` records what the latest :meth:`contest` spent.
    """

    budget: int
    order: Order = "backward"
    last_spent: int = field(default=0, init=False)

    def _steps(self, program: Program, rng: np.random.Generator | None) -> list[int]:
        if self.order == "random":
            if rng is None:
                raise OversightError("a random-order checker needs an rng")
            return [int(i) for i in rng.permutation(len(program))]
        cone = output_cone(program)
        in_cone = set(cone)
        return cone + [i for i in range(len(program) - 1, -1, -1) if i not in in_cone]

    def contest(
        self, program: Program, trace: Trace, rng: np.random.Generator | None = None
    ) -> int | None:
        """The first inconsistent step found within budget, or None."""
        meter = Meter(self.budget)
        found = None
        if len(trace.values) == len(program):  # a malformed trace is the judge's to reject
            for step in self._steps(program, rng):
                if not meter.can_afford(1):
                    break
                if not check_step(program, trace, step, meter):
                    found = step
                    break
        self.last_spent = meter.spent
        return found


@dataclass(frozen=True)
class JudgeRuling:
    """The level-0 judge's ruling on one trace.

    Unpacks as ``holds, checks, unverifiable``. ``rule`` names what decided: ``malformed``,
    ``uncontested``, ``contested_wrong``, ``contested_consistent`` or ``unverifiable_default``.
    """

    holds: bool
    checks: list[Check]
    unverifiable: bool
    contested: int | None = None
    rule: str = ""
    noise_flipped: bool = False
    spent: int = 0

    def __iter__(self) -> Iterator[Any]:
        return iter((self.holds, self.checks, self.unverifiable))


def _decide(
    program: Program,
    trace: Trace,
    checker: TraceChecker,
    meter: Meter,
    rng: np.random.Generator | None,
    checks: list[Check],
) -> tuple[bool | None, bool, int | None, str]:
    """(holds, unverifiable, contested, rule) before noise, holds None when unverifiable;
    appends the judge's checks."""
    args = {"program_id": trace.program_id, "role": trace.role, "x": trace.x}
    ok = well_formed(program, trace)
    checks.append(Check(kind="trace_well_formed", args=args, cost=0, result=ok))
    if not ok:
        return False, False, None, "malformed"
    step = checker.contest(program, trace, rng)
    if step is None:
        return True, False, None, "uncontested"
    if not meter.can_afford(1):
        return None, True, step, "unverifiable_default"
    consistent = check_step(program, trace, step, meter)
    checks.append(Check(kind="trace_step", args={**args, "step": step}, cost=1, result=consistent))
    return consistent, False, step, "contested_consistent" if consistent else "contested_wrong"


def judge_trace(
    program: Program,
    trace: Trace,
    checker: TraceChecker,
    judge_budget: int | Meter,
    default: Default = "reject",
    noise: float = 0.0,
    rng: np.random.Generator | None = None,
) -> JudgeRuling:
    """Rule whether ``trace`` holds, spending at most ``judge_budget`` line evaluations.

    The trace's shape and its output's agreement with its own steps are read for free. Then the
    checker contests; an uncontested trace holds; a contested step is checked (cost 1) and the
    trace holds exactly when that step is consistent (the stated rule). If the judge cannot afford
    the check, the ruling is unverifiable and ``default`` decides. With probability ``noise`` the
    ruling is flipped (one ``rng`` draw, only when ``noise > 0``).

    Pass a :class:`Meter` as ``judge_budget`` to share one budget across several traces.
    """
    meter = judge_budget if isinstance(judge_budget, Meter) else Meter(judge_budget)
    spent_before = meter.spent
    checks: list[Check] = []
    holds, unverifiable, contested, rule = _decide(program, trace, checker, meter, rng, checks)
    if holds is None:
        holds = default == "accept"
    flipped = False
    if noise > 0:
        if rng is None:
            raise OversightError("a noisy judge needs an rng")
        flipped = bool(rng.random() < noise)
    return JudgeRuling(
        holds=holds != flipped,
        checks=checks,
        unverifiable=unverifiable,
        contested=contested,
        rule=rule,
        noise_flipped=flipped,
        spent=meter.spent - spent_before,
    )


def verify_output(
    program: Program,
    x: int,
    claimed_output: int,
    tracer: Tracer,
    checker: TraceChecker,
    judge_budget: int | Meter,
    default: Default = "reject",
    noise: float = 0.0,
    rng: np.random.Generator | None = None,
    checks: list[Check] | None = None,
) -> int | None:
    """For level 1: get a trace of ``program`` on ``x`` from ``tracer`` and rule on it.

    Returns the established output (the trace's output when the trace is for ``x`` and holds),
    else None; the claimed output is established exactly when the return equals it. The judge's
    checks are appended to ``checks`` when given. ``claimed_output`` is recorded with them.
    """
    trace = tracer(program, x)
    if trace.x & program.mask != x & program.mask:
        return None  # a trace of another input establishes nothing about this one: spend nothing
    ruling = judge_trace(program, trace, checker, judge_budget, default, noise, rng)
    if checks is not None:
        for c in ruling.checks:
            checks.append(c.model_copy(update={"args": {**c.args, "claimed": claimed_output}}))
    return trace.output if ruling.holds else None
