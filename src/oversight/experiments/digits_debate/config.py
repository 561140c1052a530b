"""Config schema of the digits pixel-debate experiment (Irving, Christiano, Amodei 2018)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, model_validator

from oversight.core.config import Seed, Strict

DEBATERS = ("minimax", "mcts", "greedy")


class JudgeTraining(Strict):
    steps: int = Field(6000, ge=1, description="Adam steps of 128 examples, fresh masks each.")
    lr: float = Field(1e-3, gt=0)
    batch_size: int = Field(128, ge=1)


class Setting(Strict):
    """One row group of the table: k revealed pixels, played by one kind of debater."""

    pixels: int = Field(ge=1, le=64, description="k: pixels revealed in all (one per turn).")
    debater: Literal["minimax", "mcts", "greedy"]
    rollouts: int = Field(100, ge=1, description="MCTS simulations per move.")

    @model_validator(mode="before")
    @classmethod
    def _known_debater(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("debater") not in (None, *DEBATERS):
            raise ValueError(
                f"unknown debater {data.get('debater')!r}; allowed: {', '.join(DEBATERS)}"
            )
        return data


def setting_id(s: Setting) -> str:
    """The key a setting's outcomes are stored under, e.g. ``k6_mcts_r100``."""
    suffix = f"_r{s.rollouts}" if s.debater == "mcts" else ""
    return f"k{s.pixels}_{s.debater}{suffix}"


class MctsCheck(Strict):
    """Exact minimax as ground truth for MCTS on a fixed subsample."""

    enabled: bool = False
    pixels: int = Field(6, ge=1, le=64)
    images: int = Field(100, ge=1)
    rollouts: list[int] = Field(default_factory=lambda: [50, 100, 200, 500, 1000])


class DigitsDebateConfig(Strict):
    experiment: Literal["digits-debate"] = "digits-debate"
    seed: Seed = 0
    split_seed: Seed = Field(0, description="Seed of the stratified 70/30 split.")
    test_images: int | None = Field(None, ge=1, description="Use the first N test images.")
    settings: list[Setting] = Field(
        default_factory=lambda: [
            Setting(pixels=4, debater="minimax"),
            Setting(pixels=6, debater="minimax"),
        ]
    )
    judge: JudgeTraining = Field(default_factory=JudgeTraining)
    robustness: bool = Field(
        True, description="Also let debaters plan against a judge copy (another seed)."
    )
    mcts_check: MctsCheck = Field(default_factory=MctsCheck)
    bootstrap: int = Field(1000, ge=10)
    chunk: int = Field(60, ge=1, description="Images per stored chunk (the resume unit).")
    workers: int = Field(2, ge=1, description="Processes that solve exact minimax images.")
