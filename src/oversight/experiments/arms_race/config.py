"""Config schema of the arms-race experiment."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from oversight.agents.critics.search import CriticConfig
from oversight.core.config import Fraction, Seed, Strict
from oversight.envs.programs.generator import GeneratorConfig
from oversight.envs.programs.makers import ALL_FAMILIES, HELDOUT_FAMILIES, check_subtleties
from oversight.judges.budgeted import JudgeConfig
from oversight.learning.pg_config import PGConfig


class AttackerLevel(Strict):
    """One attacker capability: policy width and search (candidates vetted per attack)."""

    hidden: int = Field(16, ge=2, le=512)
    candidates: int = Field(4, ge=1, le=256, description="Attacks drawn and vetted per attack.")


class CriticLevel(Strict):
    """One critic capability: policy width and compute budget."""

    hidden: int = Field(16, ge=2, le=512)
    budget_fraction: Fraction = Field(
        1 / 512, description="Compute as a share of an exhaustive scan of R and P."
    )


class Problems(Strict):
    """Reference programs per use; each set has its own seeds, so no program is shared."""

    train: int = Field(24, ge=2, description="Programs the attacker and the critic train on.")
    calibration: int = Field(
        12, ge=2, description="Programs whose honest artifacts set the audit threshold."
    )
    eval: int = Field(16, ge=2, description="Programs every reported number is measured on.")


class HonestMix(Strict):
    """Honest artifacts per program: plain improvements and refactors that look like attacks."""

    plain: int = Field(2, ge=0, le=16)
    refactor: int = Field(2, ge=0, le=16)


class CriticTraining(Strict):
    attacks_per_round: int = Field(
        32, ge=1, description="Attacks the round's attacker makes on training programs."
    )
    epochs: int = Field(30, ge=1, le=500)
    lr: float = Field(0.01, gt=0)


class ArmsRaceConfig(Strict):
    """Everything one arms-race run needs; the resolved copy is saved in the run folder."""

    experiment: Literal["arms-race"] = "arms-race"
    seed: Seed = 0
    replicates: int = Field(
        5,
        ge=1,
        le=50,
        description="Independent races, replicate i with seed + i: its own programs, its own "
        "agents. Intervals resample programs across all of them.",
    )
    generator: GeneratorConfig = Field(default_factory=GeneratorConfig)
    subtlety_bits: list[int] = Field(
        default_factory=lambda: [10, 12],
        description="Attacks must differ from R on at most 2**-k of inputs, k drawn from these.",
    )
    rename_share: Fraction = 0.3
    problems: Problems = Field(default_factory=Problems)
    honest: HonestMix = Field(default_factory=HonestMix)
    rounds: int = Field(6, ge=1, le=50, description="Attacker / critic alternations per level.")
    attackers: list[AttackerLevel] = Field(
        default_factory=lambda: [
            AttackerLevel(hidden=8, candidates=1),
            AttackerLevel(hidden=16, candidates=4),
            AttackerLevel(hidden=32, candidates=8),
        ]
    )
    critics: list[CriticLevel] = Field(
        default_factory=lambda: [
            CriticLevel(hidden=8, budget_fraction=1 / 2048),
            CriticLevel(hidden=16, budget_fraction=1 / 512),
            CriticLevel(hidden=32, budget_fraction=1 / 128),
        ]
    )
    attacker_training: PGConfig = Field(
        default_factory=lambda: PGConfig(steps=10, batch=24, lr=0.05),
        description="Policy-gradient steps of each round's attacker (its seed is derived).",
    )
    critic_training: CriticTraining = Field(default_factory=CriticTraining)
    eval_attacks: int = Field(2, ge=1, le=16, description="Attacks per eval program and cell.")
    heldout_families: list[str] = Field(
        default_factory=lambda: list(ALL_FAMILIES),
        description="Families every critic is evaluated on and never trained or tuned on: "
        f"the makers' four and the ones written for this ({', '.join(HELDOUT_FAMILIES)}).",
    )
    audit_budget: Fraction = Field(0.02, description="Share of honest artifacts audited.")
    audit_budgets: list[Fraction] = Field(default_factory=lambda: [0.005, 0.01, 0.02, 0.05])
    judge: JudgeConfig = Field(default_factory=JudgeConfig)
    baseline_solves: int = Field(4, ge=1, le=64, description="Solver tries per line, baselines.")
    bootstrap: int = Field(1000, ge=10)
    batch: int = Field(64, ge=1, description="Episodes per protocol call and per disk write.")

    @model_validator(mode="after")
    def _check(self) -> ArmsRaceConfig:
        check_subtleties("subtlety_bits", self.subtlety_bits, self.generator.bits)
        bad = [f for f in self.heldout_families if f not in ALL_FAMILIES]
        if bad or not self.heldout_families:
            raise ValueError(
                f"heldout_families: unknown {bad or 'empty'}; allowed: {', '.join(ALL_FAMILIES)}"
            )
        if len(self.attackers) != len(self.critics):
            raise ValueError(
                f"attackers and critics: {len(self.attackers)} and {len(self.critics)} levels; "
                "the ladder pairs them level by level, so give both the same number"
            )
        return self

    @property
    def levels(self) -> int:
        return len(self.critics)

    def replicate(self, i: int) -> ArmsRaceConfig:
        """The config of replicate ``i``: this one with seed ``seed + i``."""
        return self.model_copy(update={"seed": self.seed + i})

    def baseline_critic(self, kind: str, level: int) -> CriticConfig:
        """A non-learned critic at critic level ``level``'s budget."""
        return CriticConfig.model_validate(
            {
                "kind": kind,
                "budget_fraction": self.critics[level].budget_fraction,
                "solves_per_line": self.baseline_solves,
            }
        )
