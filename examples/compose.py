"""Compose an environment, a judge, a critic and a protocol from the Python API and run them.

    python examples/compose.py

Builds ten reference programs, makes one honest and one backdoored improvement of each, and
judges them twice: unassisted, and assisted by a guided critic. Prints what each judge caught.
"""

from __future__ import annotations

from oversight.agents import CriticConfig, SearchCritic
from oversight.core import rng
from oversight.envs.programs import GeneratorConfig, ProgramEnv, make_backdoor, make_honest
from oversight.judges import BudgetedJudge, JudgeConfig
from oversight.metrics import catch_rate, false_alarm_rate, format_estimate
from oversight.protocols import CRITIQUE, DIRECT, play


def main() -> None:
    env = ProgramEnv(GeneratorConfig(bits=16, length=48))
    cases = []
    for seed in range(10):
        problem, ref = env.reference(seed)
        r = rng(0, "example", seed)
        for made in (make_honest(ref, r), make_backdoor(ref, r, "mixing", 9)):
            cases.append(env.case(problem, made, made.kind))

    judge = BudgetedJudge(JudgeConfig(budget=200, strategy="informed"))
    critic = SearchCritic(CriticConfig(kind="guided", budget_fraction=1 / 64))
    for protocol, agents in ((DIRECT, {}), (CRITIQUE, {"critic": critic})):
        # gold is attached after each verdict, for measurement only: the judge never sees it
        transcripts = play(protocol, cases, agents, judge, arm=protocol.name)
        caught, alarms = catch_rate(transcripts), false_alarm_rate(transcripts)
        print(
            f"{protocol.name:>9}: caught {format_estimate(caught, digits=0, percent=True)} of "
            f"{caught.n} backdoors, false alarms {alarms.value:.0%}"
        )


if __name__ == "__main__":
    main()
