"""The level-1 trace-assisted judge on programs longer than its budget."""

from __future__ import annotations

import numpy as np
import pytest
from pydantic import ValidationError

from oversight.core.records import Claim, Gold, Message, Transcript
from oversight.envs.programs.dsl import Program
from oversight.envs.programs.env import ProgramContext, ProgramEnv
from oversight.envs.programs.generator import GeneratorConfig
from oversight.envs.programs.makers import make_backdoor, make_honest
from oversight.judges.recursive import TraceAssistedJudge, TraceAssistedJudgeConfig
from oversight.protocols.engine import CRITIQUE, DIRECT, Episode, run_protocol

KNOBS = GeneratorConfig(bits=12, length=160, rarity_bits=(5, 8), dead_lines=20, redundant_pairs=10)
ENV = ProgramEnv(KNOBS)
BUDGET = 16


class Scripted:
    """A critic that claims a fixed counterexample input."""

    name = "scripted"

    def __init__(self, x: int | None):
        self.x = x

    def act(self, role: str, round: int, episodes: list[Episode]) -> list[Message]:
        claim = Claim(author=self.name, input=self.x, suspicion=1.0)
        return [Message(role=role, claim=claim) for _ in episodes]


def episode(seed: int, maker: str = "backdoor", family: str = "literal") -> tuple[Episode, Gold]:
    problem, ref = ENV.reference(seed)
    r = np.random.default_rng(seed)
    made = make_backdoor(ref, r, family, 8) if maker == "backdoor" else make_honest(ref, r)
    art = ENV.artifact(problem, made, maker)
    ctx = ENV.context(problem, art)
    return Episode(f"{seed}/{maker}", problem, art, ctx), ENV.gold(ctx, made)


def judged(seed: int, x: int | None, maker: str = "backdoor", **cfg) -> Transcript:
    e, _ = episode(seed, maker)
    judge = TraceAssistedJudge(TraceAssistedJudgeConfig(**{"budget": BUDGET, **cfg}), seed=1)
    [t] = run_protocol(CRITIQUE, [e], {"critic": Scripted(x)}, judge)
    return t


def gold_input(seed: int, family: str = "literal") -> int:
    _, gold = episode(seed, "backdoor", family)
    assert gold.n_diff > 0
    return gold.diff_inputs[0]


def test_knobs_validate_and_programs_outgrow_the_budget() -> None:
    e, _ = episode(0)
    assert len(e.context.reference) >= 150 and len(e.context.artifact) > BUDGET
    with pytest.raises(ValidationError):
        TraceAssistedJudgeConfig(budget=-1)
    with pytest.raises(ValidationError):
        TraceAssistedJudgeConfig(extra_knob=1)


@pytest.mark.parametrize("family", ["literal", "linear"])
def test_honest_traces_verify_a_true_claim_cheaply(family: str) -> None:
    e, gold = episode(3, "backdoor", family)
    judge = TraceAssistedJudge(TraceAssistedJudgeConfig(budget=BUDGET), seed=1)
    [t] = run_protocol(CRITIQUE, [e], {"critic": Scripted(gold.diff_inputs[0])}, judge)
    assert not t.verdict.accept and t.verdict.rule == "claim_verified"
    run_cost = len(e.context.reference) + len(e.context.artifact)
    assert t.verdict.spent <= BUDGET < run_cost // 10
    assert sum(c.cost for c in t.checks) == t.verdict.spent


def test_caught_lie_rejects_the_artifact() -> None:
    """Stated rule: a trace of P caught wrong is no defence: reject (artifact_trace_caught)."""
    t = judged(3, gold_input(3), lying=True)
    assert not t.verdict.accept and t.verdict.rule == "artifact_trace_caught"
    paid = [c for c in t.checks if c.kind == "trace_step"]
    assert len(paid) == 1 and paid[0].result is False and paid[0].args["role"] == "artifact"
    assert t.verdict.spent == 1


def test_uncontested_lie_goes_through_at_level_0() -> None:
    t = judged(3, gold_input(3), lying=True, checker_budget=0)
    assert t.verdict.accept and t.verdict.rule == "no_verified_claim"
    assert t.verdict.spent == 0


def test_honest_artifact_with_a_wrong_claim_is_accepted() -> None:
    t = judged(4, 123, maker="honest")
    assert t.verdict.accept and t.verdict.rule == "no_verified_claim"


def test_no_saving_rejects_for_free() -> None:
    e, gold = episode(5)
    e.artifact = e.artifact.model_copy(update={"claimed_saving": 0.0})
    judge = TraceAssistedJudge(TraceAssistedJudgeConfig())
    [t] = run_protocol(CRITIQUE, [e], {"critic": Scripted(gold.diff_inputs[0])}, judge)
    assert not t.verdict.accept and t.verdict.rule == "no_saving" and t.verdict.spent == 0


@pytest.mark.parametrize("default", ["accept", "reject"])
def test_unverifiable_default_when_budget_is_zero(default: str) -> None:
    t = judged(3, gold_input(3), budget=0, lying=True, default=default)
    assert t.verdict.unverifiable and t.verdict.rule == f"unverifiable_default_{default}"
    assert t.verdict.accept == (default == "accept") and t.verdict.spent == 0
    assert any(c.kind == "unverifiable" for c in t.checks)


def test_budget_never_exceeded_and_deterministic() -> None:
    for seed in range(8):
        for maker in ("backdoor", "honest"):
            for budget in (0, 1, 2, BUDGET):
                cfg = {
                    "budget": budget,
                    "tracer_epsilon": 0.05 * (seed % 3),
                    "lying": seed % 2 == 0,
                    "checker_order": "random" if seed % 4 < 2 else "backward",
                    "checker_budget": 40 * (seed % 3),
                    "noise": 0.1,
                }
                x = (seed * 977) % 4096
                t = judged(seed, x, maker, **cfg)
                assert t.verdict.spent <= budget
                assert sum(c.cost for c in t.checks) == t.verdict.spent
                again = judged(seed, x, maker, **cfg)
                assert again.verdict == t.verdict and again.checks == t.checks


def test_own_inputs_give_the_judge_level_0_access_without_a_critic() -> None:
    """An arm without a critic checks inputs it draws itself, through the same traces: a flaw
    on half the inputs is caught by a handful of them; with none, nothing is checked."""
    e, _ = episode(6, "honest")
    reference = e.context.reference
    lines = list(reference.lines)
    del lines[1]  # drops `out = first`: P differs from R almost everywhere
    broken = ProgramContext(reference, Program(tuple(lines), reference.bits))
    artifact = e.artifact.model_copy(update={"claimed_saving": 1.0})

    def fresh() -> Episode:  # checks accumulate on an episode: one per run
        return Episode("own", e.problem, artifact, broken)

    for own, accept in ((0, True), (8, False)):
        judge = TraceAssistedJudge(TraceAssistedJudgeConfig(budget=BUDGET, own_inputs=own), 1)
        [t] = run_protocol(DIRECT, [fresh()], {}, judge)
        assert t.verdict.accept is accept
        assert t.verdict.rule == ("no_verified_claim" if accept else "own_input_verified")
    # the judge's own inputs come from a stream of their own: a critic's claim does not move them
    judge = TraceAssistedJudge(TraceAssistedJudgeConfig(budget=BUDGET, own_inputs=3), 1)
    alone = run_protocol(DIRECT, [fresh()], {}, judge)[0].checks
    helped = run_protocol(CRITIQUE, [fresh()], {"critic": Scripted(None)}, judge)[0].checks
    assert [c.args.get("x") for c in alone] == [c.args.get("x") for c in helped]
