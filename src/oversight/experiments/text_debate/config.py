"""Config schema of the offline text-debate experiment (simulated agents on generated stories)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_validator

from oversight.agents.simulated_text import DebaterConfig
from oversight.core.config import Seed, Strict
from oversight.envs.text.stories import StoryConfig
from oversight.experiments.tournaments import TournamentConfig, VariantConfig
from oversight.judges.simulated_text import TextJudgeConfig
from oversight.protocols.text import TEXT_PROTOCOLS


def _default_levels() -> dict[str, StoryConfig]:
    return {
        "easy": StoryConfig(distractor_facts=1, near_misses=0, filler=4, mentions=1),
        "medium": StoryConfig(distractor_facts=3, near_misses=1, filler=8, mentions=2),
        "hard": StoryConfig(distractor_facts=5, near_misses=2, filler=16, mentions=3),
    }


class Sweeps(Strict):
    """Knobs varied one at a time around the base setting, for every protocol."""

    fabrication_rate: list[float] = Field(
        default_factory=lambda: [0.0, 0.25, 0.5, 0.75, 1.0],
        description="The lying side's share of fabricated quotes.",
    )
    trust_unverified: list[float] = Field(
        default_factory=lambda: [0.0, 0.25, 0.5, 0.75, 1.0],
        description="The judge's weight on an unverified quote.",
    )
    difficulty: bool = Field(True, description="Play every difficulty level, not only the base.")

    @field_validator("fabrication_rate", "trust_unverified")
    @classmethod
    def _unit(cls, v: list[float]) -> list[float]:
        bad = [x for x in v if not 0.0 <= x <= 1.0]
        if bad:
            raise ValueError(f"values must lie in [0, 1], got {bad}")
        return v


class Variant(VariantConfig, DebaterConfig):
    """A debater variant in the tournament: a name and its knobs."""


def _default_variants() -> list[Variant]:
    return [
        Variant(name="bo1-recall0.5", recall=0.5),
        Variant(name="bo1", recall=1.0),
        Variant(name="bo4-recall0.5", recall=0.5, best_of_n=4),
        Variant(name="bo4", best_of_n=4),
        Variant(name="bo4-nofab", best_of_n=4, fabrication_rate=0.0),
    ]


class Tournament(TournamentConfig[Variant]):
    """Cross-play between debater variants: every ordered pair (self-play included) debates
    every tournament story in both answer orders."""

    enabled: bool = True
    stories: int = Field(40, ge=1, description="Base-difficulty stories played per pairing.")
    variants: list[Variant] = Field(default_factory=_default_variants)


class TextDebateConfig(Strict):
    """Everything one text-debate run needs; the resolved copy is saved in the run folder."""

    experiment: Literal["text-debate"] = "text-debate"
    seed: Seed = 0
    stories: int = Field(120, ge=1, description="Generated stories per difficulty level.")
    levels: dict[str, StoryConfig] = Field(default_factory=_default_levels)
    difficulty: str = Field("medium", description="The base level (a key of levels).")
    protocols: list[str] = Field(default_factory=lambda: list(TEXT_PROTOCOLS))
    rounds: int = Field(2, ge=1, le=20, description="Rounds of debate and of consultancy.")
    judge: TextJudgeConfig = Field(default_factory=TextJudgeConfig)
    debater: DebaterConfig = Field(default_factory=DebaterConfig)
    sweeps: Sweeps = Field(default_factory=Sweeps)
    tournament: Tournament = Field(default_factory=Tournament)
    bootstrap: int = Field(1000, ge=10)
    batch: int = Field(256, ge=1, description="Episodes per protocol call and per disk write.")

    @field_validator("protocols")
    @classmethod
    def _protocols(cls, v: list[str]) -> list[str]:
        bad = [p for p in v if p not in TEXT_PROTOCOLS]
        if bad or not v:
            raise ValueError(f"unknown protocols {bad}; allowed: {', '.join(TEXT_PROTOCOLS)}")
        return v

    @model_validator(mode="after")
    def _check(self) -> TextDebateConfig:
        if self.difficulty not in self.levels:
            raise ValueError(
                f"difficulty {self.difficulty!r} is not a level; levels: {', '.join(self.levels)}"
            )
        bad = [k for k in self.levels if not k.replace("_", "").replace("-", "").isalnum()]
        if bad:
            raise ValueError(f"level names must be letters, digits, - or _, got {bad}")
        if self.tournament.enabled and self.tournament.stories > self.stories:
            raise ValueError(
                f"tournament.stories ({self.tournament.stories}) exceeds stories ({self.stories})"
            )
        return self
