"""Config schema of the offense-defense experiment."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AfterValidator, Field, model_validator

from oversight.agents.critics import CriticConfig
from oversight.core.config import Fraction, Seed, Strict
from oversight.envs.programs.generator import GeneratorConfig
from oversight.envs.programs.makers import (
    ALL_FAMILIES,
    HELDOUT_FAMILIES,
    TRIGGER_FAMILIES,
    check_subtleties,
)
from oversight.judges.budgeted import JudgeConfig


def _known_families(v: list[str]) -> list[str]:
    bad = [f for f in v if f not in ALL_FAMILIES]
    if bad:
        raise ValueError(f"unknown families {bad}; allowed: {', '.join(ALL_FAMILIES)}")
    return v


def _some_families(v: list[str]) -> list[str]:
    if not v:
        raise ValueError("at least one family is needed")
    return v


Families = Annotated[list[str], AfterValidator(_known_families), AfterValidator(_some_families)]


class AttackConfig(Strict):
    families: Families = Field(
        default_factory=lambda: list(TRIGGER_FAMILIES),
        description="Backdoor families evaluated and used to train the learned critic.",
    )
    heldout_families: Annotated[list[str], AfterValidator(_known_families)] = Field(
        default_factory=lambda: list(HELDOUT_FAMILIES),
        description="Backdoor families evaluated only: no critic trains or is tuned on them.",
    )
    subtlety_bits: list[int] = Field(
        default_factory=lambda: [6, 10, 14],
        description="Trigger rarity k: a trigger fires on about 2**-k of inputs.",
    )

    @model_validator(mode="after")
    def _heldout_is_apart(self) -> AttackConfig:
        both = sorted(set(self.families) & set(self.heldout_families))
        if both:
            raise ValueError(f"families {both} are both trained on and held out")
        return self


class MakersConfig(Strict):
    honest_per_problem: int = Field(4, ge=1, le=64, description="Honest artifacts per program.")
    refactor_per_problem: int = Field(
        2,
        ge=0,
        le=64,
        description="Honest refactors per program: equivalent rewrites that look like attacks "
        "(guards turned into arithmetic, swapped operands, reordered lines).",
    )
    rename_share: float = Field(
        0.3, ge=0, le=1, description="Chance each maker renames a temporary (a harmless refactor)."
    )


class AdaptiveConfig(Strict):
    enabled: bool = True
    candidates: int = Field(8, ge=1, le=256, description="Backdoors vetted per attack.")
    critic: Literal["random", "guided"] = "guided"
    families: Families = Field(default_factory=lambda: list(TRIGGER_FAMILIES))
    subtlety_bits: list[int] = Field(default_factory=lambda: [10])


class LearnedConfig(Strict):
    enabled: bool = True
    train_problems: int = Field(24, ge=2)
    rounds: int = Field(2, ge=1, le=10)
    epsilon: float = Field(0.3, ge=0, le=1)
    budget_fraction: float = Field(
        1 / 16384,
        gt=0,
        le=1,
        description="Compute of the learned critic and its random-pointer ablation (and in "
        "training). Small on purpose: where the budget covers every line the solver can aim "
        "at, where to point stops mattering.",
    )


class OffenseDefenseConfig(Strict):
    """Everything one offense-defense run needs; the resolved copy is saved in the run folder."""

    experiment: Literal["offense-defense"] = "offense-defense"
    seed: Seed = 0
    problems: int = Field(40, ge=1, description="Reference programs evaluated.")
    calibration_problems: int = Field(
        20,
        ge=1,
        description="Programs apart from the evaluated ones whose honest artifacts set each "
        "critic's audit thresholds.",
    )
    generator: GeneratorConfig = Field(default_factory=GeneratorConfig)
    penalty: float = Field(10.0, ge=0, description="Gold value of an unacceptable artifact.")
    makers: MakersConfig = Field(default_factory=MakersConfig)
    attack: AttackConfig = Field(default_factory=AttackConfig)
    judge: JudgeConfig = Field(default_factory=JudgeConfig)
    noisy_judge: float = Field(0.1, ge=0, le=0.5, description="Noise of the noisy-judge arm.")
    critic: CriticConfig = Field(default_factory=CriticConfig)
    critic_budget_sweep: list[Fraction] = Field(
        default_factory=lambda: [1 / 4096, 1 / 1024, 1 / 256, 1 / 64, 1 / 16]
    )
    adaptive: AdaptiveConfig = Field(default_factory=AdaptiveConfig)
    learned: LearnedConfig = Field(default_factory=LearnedConfig)
    audit_budgets: list[Fraction] = Field(
        default_factory=lambda: [0.005, 0.01, 0.02, 0.05, 0.1],
        description="Shares of honest artifacts audited (thresholds from the calibration set).",
    )
    bootstrap: int = Field(1000, ge=10)
    batch: int = Field(64, ge=1, description="Episodes per protocol call and per disk write.")

    @model_validator(mode="after")
    def _subtleties_fit_the_inputs(self) -> OffenseDefenseConfig:
        bits = self.generator.bits
        check_subtleties("attack.subtlety_bits", self.attack.subtlety_bits, bits)
        if self.adaptive.enabled:
            check_subtleties("adaptive.subtlety_bits", self.adaptive.subtlety_bits, bits)
        return self
