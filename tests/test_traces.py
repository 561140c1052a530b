"""Execution traces, tracers, the trace checker and the level-0 trace judge."""

from __future__ import annotations

from functools import partial

import numpy as np
import pytest

from oversight.core.budget import Meter
from oversight.core.errors import BudgetExceeded, OversightError
from oversight.core.records import Check
from oversight.envs.programs.dsl import Program, parse
from oversight.envs.programs.generator import GeneratorConfig, generate_reference
from oversight.envs.programs.interpreter import run_steps
from oversight.envs.programs.traces import (
    JudgeRuling,
    Trace,
    TraceChecker,
    check_step,
    honest_tracer,
    judge_trace,
    lying_tracer,
    output_cone,
    state_before,
    true_trace,
    verify_output,
    well_formed,
)

GUARDED = parse(
    """
    a = x + 1
    b = a * 2
    if a > 100: b = 7
    if x == 3: out = b
    a = a ^ 5
    out = out + a
    """,
    bits=8,
)


def _program(seed: int) -> Program:
    return generate_reference(GeneratorConfig(bits=12, length=40), seed).program


def _wrong_steps(program: Program, trace: Trace) -> list[int]:
    meter = Meter()
    return [i for i in range(len(program)) if not check_step(program, trace, i, meter)]


@pytest.mark.parametrize("seed", range(4))
def test_true_trace_matches_run_steps(seed: int) -> None:
    program = _program(seed)
    for x in (0, 1, 0xABC, 0xFFF):
        values: list[int] = []
        out = run_steps(program, x, trace=values)
        trace = true_trace(program, x, program_id="R", role="reference")
        assert trace.values == values and trace.output == out and trace.x == x
        assert well_formed(program, trace)


def test_state_before_on_guarded_program() -> None:
    trace = true_trace(GUARDED, 3)  # a=4, b=8, guard a>100 fails, x==3 fires
    assert trace.values == [4, 8, 8, 8, 1, 9]
    assert state_before(GUARDED, trace, 0) == {"x": 3}
    assert state_before(GUARDED, trace, 3) == {"x": 3, "a": 4, "b": 8}
    assert state_before(GUARDED, trace, 5) == {"x": 3, "a": 1, "b": 8, "out": 8}
    assert state_before(GUARDED, trace, 6)["out"] == 9 == trace.output
    # the state comes from the claims, not from a rerun
    bad = trace.model_copy(update={"values": [9, 8, 8, 8, 1, 9]})
    assert state_before(GUARDED, bad, 2)["a"] == 9


def test_check_step_accepts_true_and_rejects_corrupted() -> None:
    program = _program(7)
    trace = true_trace(program, 0x123)
    meter = Meter(len(program))
    assert all(check_step(program, trace, i, meter) for i in range(len(program)))
    assert meter.spent == len(program)
    with pytest.raises(BudgetExceeded):
        check_step(program, trace, 0, meter)
    values = list(trace.values)
    values[5] ^= 1
    assert _wrong_steps(program, trace.model_copy(update={"values": values})) == [5]
    # a guarded line that does not fire must claim the target's previous value
    t3 = true_trace(GUARDED, 3)
    assert not check_step(GUARDED, t3.model_copy(update={"values": [4, 8, 7, 8, 1, 9]}), 2, Meter())


@pytest.mark.parametrize("lie_at", ["last_out", "random"])
def test_lying_trace_is_caught_with_enough_budget(lie_at: str) -> None:
    program = _program(3)
    x, rng = 0x55, np.random.default_rng(1)
    target = (true_trace(program, x).output + 1) & program.mask
    lie = lying_tracer(program, x, target, rng, lie_at=lie_at)  # type: ignore[arg-type]
    assert lie.output == target and well_formed(program, lie)
    wrong = _wrong_steps(program, lie)
    assert len(wrong) == 1
    if lie_at == "last_out":
        assert wrong[0] == max(i for i, ln in enumerate(program.lines) if ln.target == "out")

    checker = TraceChecker(budget=len(program), order="backward")
    assert checker.contest(program, lie) == wrong[0]
    ruling = judge_trace(program, lie, checker, judge_budget=1)
    assert not ruling.holds and ruling.rule == "contested_wrong" and ruling.spent == 1
    # a blind checker contests nothing and the judge then accepts (the stated rule)
    blind = TraceChecker(budget=0)
    assert blind.contest(program, lie) is None and blind.last_spent == 0
    ruling = judge_trace(program, lie, blind, judge_budget=1)
    assert ruling.holds and ruling.rule == "uncontested" and ruling.spent == 0


def test_random_order_checker_finds_the_lie() -> None:
    program = _program(5)
    lie = lying_tracer(program, 9, 0, np.random.default_rng(0))
    checker = TraceChecker(budget=len(program), order="random")
    assert checker.contest(program, lie, np.random.default_rng(2)) == _wrong_steps(program, lie)[0]
    with pytest.raises(OversightError, match="rng"):
        checker.contest(program, lie)


def test_output_cone_contains_every_out_step() -> None:
    cone = output_cone(GUARDED)
    assert cone == sorted(cone, reverse=True)
    assert {3, 5} <= set(cone)


def test_honest_tracer_epsilon() -> None:
    program = _program(2)
    exact = honest_tracer(program, 77, 0.0, np.random.default_rng(0))
    assert exact == true_trace(program, 77)
    sloppy = honest_tracer(program, 77, 1.0, np.random.default_rng(0))
    # every step corrupted, yet computed from the corrupted state: all steps inconsistent
    assert _wrong_steps(program, sloppy) == list(range(len(program)))
    assert well_formed(program, sloppy)
    some = honest_tracer(program, 77, 0.1, np.random.default_rng(4))
    assert 0 < len(_wrong_steps(program, some)) < len(program)


def test_judge_budget_and_checks() -> None:
    program = _program(1)
    lie = lying_tracer(program, 4, 1, np.random.default_rng(0))
    checker = TraceChecker(budget=len(program))
    shared = Meter(1)
    ruling = judge_trace(program, lie, checker, shared)
    holds, checks, unverifiable = ruling
    assert not holds and not unverifiable and shared.spent == 1
    assert [c.kind for c in checks] == ["trace_well_formed", "trace_step"]
    assert [c.cost for c in checks] == [0, 1] and sum(c.cost for c in checks) == ruling.spent
    assert checks[1].args["step"] == ruling.contested and checks[1].result is False
    # the shared meter is spent: the next contested trace is unverifiable
    again = judge_trace(program, lie, checker, shared, default="accept")
    assert again.unverifiable and again.holds and shared.spent == 1
    # a consistent trace the checker contests nothing in
    ok = judge_trace(program, true_trace(program, 4), checker, 1)
    assert ok.holds and ok.rule == "uncontested" and ok.spent == 0


@pytest.mark.parametrize("default", ["accept", "reject"])
def test_unverifiable_default(default: str) -> None:
    program = _program(6)
    lie = lying_tracer(program, 11, 3, np.random.default_rng(0))
    ruling = judge_trace(program, lie, TraceChecker(len(program)), 0, default=default)  # type: ignore[arg-type]
    assert ruling.unverifiable and ruling.rule == "unverifiable_default"
    assert ruling.holds == (default == "accept") and ruling.spent == 0
    assert all(c.cost == 0 for c in ruling.checks)


def test_malformed_trace_rejected_for_free() -> None:
    program = _program(0)
    trace = true_trace(program, 5)
    forged = trace.model_copy(update={"output": trace.output ^ 1})
    ruling = judge_trace(program, forged, TraceChecker(0), 0, default="accept")
    assert not ruling.holds and ruling.rule == "malformed" and ruling.spent == 0


def test_noise_flips_and_is_deterministic() -> None:
    program = _program(8)
    trace = true_trace(program, 2)
    checker = TraceChecker(8, order="random")

    def rule(seed: int, noise: float) -> JudgeRuling:
        return judge_trace(program, trace, checker, 1, noise=noise, rng=np.random.default_rng(seed))

    flipped = rule(0, 1.0)
    assert not flipped.holds and flipped.noise_flipped
    assert [rule(s, 0.5).holds for s in range(10)] == [rule(s, 0.5).holds for s in range(10)]
    a = honest_tracer(program, 2, 0.2, np.random.default_rng(9))
    assert a == honest_tracer(program, 2, 0.2, np.random.default_rng(9))
    b = lying_tracer(program, 2, 0, np.random.default_rng(9), lie_at="random")
    assert b == lying_tracer(program, 2, 0, np.random.default_rng(9), lie_at="random")


def test_verify_output() -> None:
    program = _program(4)
    x = 0x321
    truth = true_trace(program, x).output
    checker = TraceChecker(len(program))
    checks: list[Check] = []
    honest = partial(honest_tracer, epsilon=0.0, rng=np.random.default_rng(0))
    assert verify_output(program, x, truth, honest, checker, 1, checks=checks) == truth
    liar = partial(lying_tracer, target_output=truth ^ 1, rng=np.random.default_rng(0))
    assert verify_output(program, x, truth ^ 1, liar, checker, 1, checks=checks) is None
    assert sum(c.cost for c in checks) == 1 and checks[-1].args["claimed"] == truth ^ 1
    # with a blind checker the level-0 judge is fooled, on purpose
    assert verify_output(program, x, truth ^ 1, liar, TraceChecker(0), 1) == truth ^ 1
    wrong_input = partial(true_trace, x=x + 1)
    assert verify_output(program, x, truth, lambda p, _x: wrong_input(p), checker, 1) is None
