"""The programs of an arms-race run and their honest artifacts, in three disjoint sets.

``train`` programs are where both sides learn, ``calibration`` programs set audit thresholds
(their honest artifacts only), ``eval`` programs are where every reported number comes from.
Each set is a split of the environment's problems
(:data:`~oversight.envs.programs.env.SPLIT_OFFSETS`), so no program is in two sets.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from oversight.agents.critics.probe import ProbeCritic
from oversight.core.records import Problem
from oversight.core.seeding import rng
from oversight.envs.base import Case
from oversight.envs.programs.env import CaseMix, ProgramContext, ProgramEnv, Split
from oversight.envs.programs.generator import Reference
from oversight.envs.programs.makers import make_honest, make_refactor
from oversight.experiments.arms_race.config import ArmsRaceConfig
from oversight.metrics.control import audit_threshold


@dataclass
class World:
    env: ProgramEnv
    problems: dict[Split, list[tuple[Problem, Reference]]]
    honest: dict[Split, list[Case[ProgramContext]]] = field(default_factory=dict)

    def refs(self, name: Split) -> list[Reference]:
        return [ref for _, ref in self.problems[name]]

    def contexts(self, name: Split) -> list[ProgramContext]:
        """The contexts of set ``name``'s honest artifacts."""
        return [c.context for c in self.honest[name]]

    @property
    def train_refs(self) -> list[Reference]:
        return self.refs("train")

    @property
    def eval_refs(self) -> list[Reference]:
        return self.refs("eval")

    @property
    def train_honest(self) -> list[ProgramContext]:
        return self.contexts("train")

    @property
    def eval_honest(self) -> list[ProgramContext]:
        return self.contexts("eval")


def honest_cases(
    env: ProgramEnv, problems: Sequence[tuple[Problem, Reference]], cfg: ArmsRaceConfig, name: str
) -> list[Case[ProgramContext]]:
    """Per program ``honest.plain`` plain and ``honest.refactor`` refactoring improvements,
    tagged ``SET/honestI`` and ``SET/refactorI`` (in gold only)."""
    out = []
    for index, (problem, ref) in enumerate(problems):
        r = rng(cfg.seed, "honest", name, index)
        for i in range(cfg.honest.plain):
            out.append(
                env.case(problem, make_honest(ref, r, cfg.rename_share), f"{name}/honest{i}")
            )
        for i in range(cfg.honest.refactor):
            made = make_refactor(ref, r, cfg.rename_share)
            out.append(env.case(problem, made, f"{name}/refactor{i}"))
    return out


def build_world(cfg: ArmsRaceConfig) -> World:
    env = ProgramEnv(cfg.generator, mix=CaseMix(seed=cfg.seed))
    sizes: dict[Split, int] = {
        "eval": cfg.problems.eval,
        "train": cfg.problems.train,
        "calibration": cfg.problems.calibration,
    }
    problems = {name: [env.problem(i, name) for i in range(n)] for name, n in sizes.items()}
    world = World(env, problems)
    world.honest = {name: honest_cases(env, problems[name], cfg, name) for name in problems}
    return world


def audit_threshold_of(critic: ProbeCritic, world: World, budget: float) -> float:
    """The suspicion above which ``critic`` audits: at most ``budget`` of the calibration
    programs' honest artifacts score above it."""
    claims = [
        critic.critique(c, f"calibration/{i}") for i, c in enumerate(world.contexts("calibration"))
    ]
    return audit_threshold([c.suspicion for c in claims], budget)
