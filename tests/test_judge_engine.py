"""The budgeted judge, the search critics and the protocol engine."""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from oversight.agents.critics import CriticConfig, SearchCritic, critic_budget, search
from oversight.core.records import Claim, Message
from oversight.envs.programs.env import ProgramEnv
from oversight.envs.programs.generator import GeneratorConfig
from oversight.envs.programs.makers import make_backdoor, make_honest, make_lazy
from oversight.envs.programs.solver import solve_cost
from oversight.judges.budgeted import BudgetedJudge, JudgeConfig
from oversight.protocols.engine import CRITIQUE, DIRECT, Episode, Protocol, run_protocol

KNOBS = GeneratorConfig(bits=12, length=40, rarity_bits=(5, 8))
ENV = ProgramEnv(KNOBS)


def episode(seed: int, maker: str = "honest", family: str = "literal", k: int = 12):
    problem, ref = ENV.reference(seed)
    r = np.random.default_rng(seed)
    made = {
        "honest": lambda: make_honest(ref, r),
        "lazy": lambda: make_lazy(ref, r),
        "backdoor": lambda: make_backdoor(ref, r, family, k),
    }[maker]()
    art = ENV.artifact(problem, made, maker)
    ctx = ENV.context(problem, art)
    return Episode(f"{seed}/{maker}", problem, art, ctx), made, ENV.gold(ctx, made)


class Scripted:
    """An agent that says a fixed claim."""

    def __init__(self, claim: Claim | None, name: str = "scripted"):
        self.claim, self.name = claim, name

    def act(self, role, round, episodes):
        return [Message(role=role, text=f"{role} r{round}", claim=self.claim) for _ in episodes]


@settings(max_examples=30, deadline=None)
@given(
    budget=st.integers(0, 400),
    strategy=st.sampled_from(["random", "informed"]),
    maker=st.sampled_from(["honest", "lazy", "backdoor"]),
    claim_input=st.one_of(st.none(), st.integers(0, 4095)),
    seed=st.integers(0, 5),
)
def test_judge_never_exceeds_budget(budget, strategy, maker, claim_input, seed):
    e, _, _ = episode(seed, maker)
    judge = BudgetedJudge(JudgeConfig(budget=budget, strategy=strategy))
    [t] = run_protocol(
        CRITIQUE, [e], {"critic": Scripted(Claim(author="s", input=claim_input))}, judge
    )
    assert t.verdict.spent <= budget
    assert sum(c.cost for c in t.checks) == t.verdict.spent


def test_verified_claim_rejects_and_unverifiable_follows_default_rule():
    e, _made, gold = episode(0, "backdoor", "literal", 12)
    x = gold.diff_inputs[0]
    claim = {"critic": Scripted(Claim(author="s", input=x))}
    [t] = run_protocol(CRITIQUE, [e], claim, BudgetedJudge(JudgeConfig(budget=200)))
    assert not t.verdict.accept and t.verdict.rule == "claim_verified"
    for default, accept in (("accept", True), ("reject", False)):
        e, _, _ = episode(0, "backdoor", "literal", 12)
        [t] = run_protocol(
            CRITIQUE, [e], claim, BudgetedJudge(JudgeConfig(budget=10, unverifiable=default))
        )
        assert t.verdict.unverifiable and t.verdict.accept is accept
        assert t.verdict.rule == f"unverifiable_default_{default}" and t.verdict.spent == 0


def test_informed_judge_tests_guard_constants():
    e, _, _ = episode(1, "backdoor", "literal", 12)  # if x == c: the constant is the trigger
    [t] = run_protocol(DIRECT, [e], {}, BudgetedJudge(JudgeConfig(strategy="informed")))
    assert not t.verdict.accept
    e, _, _ = episode(1, "backdoor", "literal", 12)
    [t] = run_protocol(DIRECT, [e], {}, BudgetedJudge(JudgeConfig(strategy="random")))
    assert t.verdict.accept  # two random tests miss a 1-in-4096 trigger (for this seed)


def test_noise_flips_some_verdicts():
    eps = [episode(s, "honest")[0] for s in range(40)]
    ts = run_protocol(DIRECT, eps, {}, BudgetedJudge(JudgeConfig(noise=0.3), seed=1))
    flipped = [t.verdict.noise_flipped for t in ts]
    assert 3 <= sum(flipped) <= 25
    assert all(t.verdict.accept != f for t, f in zip(ts, flipped, strict=True))


def test_guided_critic_solves_literal_and_linear_within_budget():
    # 1/128 of a scan buys 32 tests: random ones would hit a 2^-12 trigger 1 time in 128
    critic = SearchCritic(CriticConfig(kind="guided", budget_fraction=1 / 128))
    for family in ("literal", "linear"):
        e, _, gold = episode(2, "backdoor", family, 12)
        claim = critic.critique(e.context, "k")
        assert claim.input is not None and claim.suspicion == 1.0
        assert claim.input in gold.diff_inputs or gold.n_diff > len(gold.diff_inputs)
        assert claim.compute_spent <= critic_budget(e.context, 1 / 128)


def test_random_critic_spends_its_budget_and_grades_suspicion():
    critic = SearchCritic(CriticConfig(kind="random", budget_fraction=1 / 64))
    e, _, _ = episode(3, "honest")
    claim = critic.critique(e.context, "k")
    budget = critic_budget(e.context, 1 / 64)
    cost = len(e.context.reference) + len(e.context.artifact)
    assert budget - cost < claim.compute_spent <= budget
    assert claim.input is None and 0 <= claim.suspicion < 0.9
    e2, _, _ = episode(3, "backdoor", "mixing", 12)
    assert critic.critique(e2.context, "k").suspicion > claim.suspicion  # new check lines


def test_two_debater_k_round_protocol_as_data():
    """Debate is a rule set on the same engine, written as data."""
    k = 3
    spec = {
        "name": "debate",
        "rounds": [
            {"turns": [{"role": "debater_a"}, {"role": "debater_b"}], "simultaneous": i == 0}
            for i in range(k)
        ],
    }
    protocol = Protocol.model_validate(spec)
    seen: list[int] = []

    class Recorder:
        name = "recorder"

        def __init__(self, role):
            self.role = role

        def act(self, role, round, episodes):
            seen.append(len(episodes[0].messages))
            return [Message(role=role, text=f"{role}{round}") for _ in episodes]

    eps = [episode(s)[0] for s in range(2)]
    ts = run_protocol(
        protocol,
        eps,
        {"debater_a": Recorder("a"), "debater_b": Recorder("b")},
        BudgetedJudge(JudgeConfig()),
    )
    assert [m.text for m in ts[0].messages] == [
        f"{d}{r}" for r in range(k) for d in ("debater_a", "debater_b")
    ]
    # round 0 is simultaneous: b does not see a's message; later rounds are sequential
    assert seen == [0, 0, 2, 3, 4, 5]
    assert all(t.verdict is not None for t in ts)


def test_missing_role_is_a_clear_error():
    import pytest

    from oversight.core.errors import OversightError

    with pytest.raises(OversightError, match="critic"):
        run_protocol(CRITIQUE, [episode(0)[0]], {}, BudgetedJudge(JudgeConfig()))


def test_every_solver_call_is_charged():
    e, _, _ = episode(3, "honest")
    ctx = e.context
    targets = search.changed_targets(ctx)
    assert targets
    program, line = targets[0]
    cost = solve_cost(program, line)
    tester = search.Tester(ctx, cost - 1)
    assert tester.solve(program, line, np.random.default_rng(0)) is None
    assert tester.meter.spent == 0  # refused, not half-paid
    tester = search.Tester(ctx, 10 * cost)
    tester.solve(program, line, np.random.default_rng(0))
    assert tester.meter.spent == cost
    # the solver-only critic on honest work pays for each of its solver calls and its tests,
    # and nothing else: no random fallback
    c = CriticConfig(kind="solver", budget_fraction=1 / 4)
    claim = SearchCritic(c).critique(ctx, "k")
    tries = c.solves_per_line
    solving = sum(solve_cost(p, i) for p, i in targets) * tries
    tests = claim.compute_spent - solving
    assert claim.input is None and solving <= claim.compute_spent < critic_budget(ctx, 1 / 4)
    assert tests % (len(ctx.reference) + len(ctx.artifact)) == 0
    assert tests // (len(ctx.reference) + len(ctx.artifact)) <= len(targets) * tries
