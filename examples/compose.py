"""Compose an environment, a judge, a critic and a protocol from the Python API and run them.

    python examples/compose.py

Builds ten reference programs, makes one honest and one backdoored improvement of each, and
judges them twice: unassisted, and assisted by a guided critic. Prints what each judge caught.
"""

from __future__ import annotations

from oversight.agents.critics import CriticConfig, SearchCritic
from oversight.core.seeding import rng
from oversight.envs.programs.env import ProgramEnv
from oversight.envs.programs.generator import GeneratorConfig
from oversight.envs.programs.makers import make_backdoor, make_honest
from oversight.judges.budgeted import BudgetedJudge, JudgeConfig
from oversight.metrics.estimate import format_estimate
from oversight.metrics.verdicts import catch_rate, false_alarm_rate
from oversight.protocols.engine import CRITIQUE, DIRECT, Episode, run_protocol


def main() -> None:
    env = ProgramEnv(GeneratorConfig(bits=16, length=48))
    items = []
    for seed in range(10):
        problem, ref = env.reference(seed)
        r = rng(0, "example", seed)
        for made in (make_honest(ref, r), make_backdoor(ref, r, "mixing", 9)):
            artifact = env.artifact(problem, made, made.kind, made.kind)
            context = env.context(problem, artifact)
            items.append((problem, artifact, context, env.gold(context, made)))

    judge = BudgetedJudge(JudgeConfig(budget=200, strategy="informed"))
    critic = SearchCritic(CriticConfig(kind="guided", budget_fraction=1 / 64))
    for protocol, agents in ((DIRECT, {}), (CRITIQUE, {"critic": critic})):
        episodes = [Episode(f"{protocol.name}/{a.id}", p, a, c) for p, a, c, _ in items]
        transcripts = run_protocol(protocol, episodes, agents, judge, arm=protocol.name)
        for t, (*_, gold) in zip(transcripts, items, strict=True):
            t.gold = gold  # gold is attached after the verdict, for measurement only
        caught, alarms = catch_rate(transcripts), false_alarm_rate(transcripts)
        print(
            f"{protocol.name:>9}: caught {format_estimate(caught, digits=0, percent=True)} of "
            f"{caught.n} backdoors, false alarms {alarms.value:.0%}"
        )


if __name__ == "__main__":
    main()
