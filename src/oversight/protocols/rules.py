"""Debate and consultancy as rule sets: data that compiles to an engine :class:`Protocol`.

A rule set says who speaks when (alternating single turns, or both debaters every round,
sequentially or simultaneously), how many rounds, what each side commits to first (a
precommitted answer or none), and what the judge sees. Variants are new values of these fields,
never new engine code.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from oversight.core.config import Strict
from oversight.protocols.engine import Protocol, Round, Turn


class DebateRules(Strict):
    """Two debaters argue opposite answers; the judge rules at the end.

    ``schedule``: ``alternate`` gives one turn per round, the debaters taking turns starting
    with ``first`` (the pixel debate: ``rounds`` = pixels revealed); ``both`` gives every round
    a turn to each debater, ``first`` speaking first, or both at once when ``simultaneous``.
    ``precommit``: each debater names its answer before the debate and the judge chooses between
    the two; without it the judge chooses among all answers.
    """

    name: str = "debate"
    debaters: tuple[str, str] = ("honest", "liar")
    rounds: int = Field(4, ge=1, le=1000)
    schedule: Literal["alternate", "both"] = "alternate"
    first: str = "honest"
    simultaneous: bool = False
    precommit: bool = True
    judge_sees: Literal["transcript", "final_state"] = Field(
        "transcript",
        description="The judge reads every message, or only the state they built (the pixels).",
    )

    @model_validator(mode="after")
    def _check(self) -> DebateRules:
        if self.first not in self.debaters:
            raise ValueError(f"first must be one of the debaters {list(self.debaters)}")
        if self.simultaneous and self.schedule != "both":
            raise ValueError("simultaneous turns need schedule 'both'")
        return self

    @property
    def order(self) -> tuple[str, str]:
        """The debaters in speaking order."""
        a, b = self.debaters
        return (a, b) if self.first == a else (b, a)

    def to_protocol(self) -> Protocol:
        """The engine protocol these rules describe."""
        visible = self.judge_sees == "transcript"
        if self.schedule == "alternate":
            rounds = [
                Round(turns=[Turn(role=self.order[i % 2], visible_to_judge=visible)])
                for i in range(self.rounds)
            ]
        else:
            rounds = [
                Round(
                    turns=[Turn(role=r, visible_to_judge=visible) for r in self.order],
                    simultaneous=self.simultaneous,
                )
                for _ in range(self.rounds)
            ]
        return Protocol(name=self.name, rounds=rounds)


class ConsultancyRules(Strict):
    """One consultant argues for an assigned answer (right or wrong); the judge may question it
    before each of its turns, then rules."""

    name: str = "consultancy"
    consultant: str = "consultant"
    questioner: str | None = Field(
        "judge_questions",
        description="Role that asks the consultant questions; None: no questions.",
    )
    rounds: int = Field(3, ge=1, le=1000)

    def to_protocol(self) -> Protocol:
        turns = [Turn(role=self.consultant)]
        if self.questioner is not None:
            turns = [Turn(role=self.questioner), *turns]
        return Protocol(name=self.name, rounds=[Round(turns=turns) for _ in range(self.rounds)])
