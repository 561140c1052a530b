"""The game engine: protocols are data (rounds of turns), agents and judges are batched.

A :class:`Protocol` lists rounds; each round lists turns by role. Turns in a round run in
order and each sees every earlier message, unless the round is ``simultaneous``: then every
turn sees only the messages from earlier rounds. After the last round the judge rules.
Direct judging, critique-assisted judging, debate and consultancy are all just rule sets here.

Every call is batched: an agent gets the whole batch of episodes for its turn and returns one
message per episode; the judge returns one verdict per episode.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from typing import Protocol as TypingProtocol

from pydantic import Field

from oversight.core.config import Strict
from oversight.core.errors import OversightError
from oversight.core.records import Artifact, Check, Message, Problem, Transcript, Verdict


class Turn(Strict):
    """One agent speaking once."""

    role: str
    visible_to_judge: bool = True


class Round(Strict):
    turns: list[Turn]
    simultaneous: bool = False


class Protocol(Strict):
    """A game as data: who speaks when, and what the judge sees."""

    name: str
    rounds: list[Round] = Field(default_factory=list)

    @property
    def roles(self) -> list[str]:
        return sorted({t.role for r in self.rounds for t in r.turns})


@dataclass
class Episode:
    """Working state of one episode while a protocol runs.

    ``context`` holds environment-specific parsed objects (e.g. programs) so agents and judges
    need not re-parse; it never holds gold information.
    """

    episode_id: str
    problem: Problem
    artifact: Artifact
    context: Any = None
    messages: list[Message] = field(default_factory=list)
    checks: list[Check] = field(default_factory=list)

    def visible(self, before_round: int | None = None, to_judge: bool = False) -> list[Message]:
        """Messages an actor may read: all of them, or those of rounds before ``before_round``."""
        return [
            m
            for m in self.messages
            if (before_round is None or m.round < before_round)
            and (not to_judge or m.visible_to_judge)
        ]


class Agent(TypingProtocol):
    """Anything that speaks in a protocol: returns one message per episode."""

    name: str

    def act(self, role: str, round: int, episodes: Sequence[Episode]) -> list[Message]: ...


class Judge(TypingProtocol):
    """Rules on each episode from what it may see; records the checks it pays for in
    ``episode.checks``."""

    name: str

    def rule(self, episodes: Sequence[Episode]) -> list[Verdict]: ...


def run_protocol(
    protocol: Protocol,
    episodes: Sequence[Episode],
    agents: Mapping[str, Agent],
    judge: Judge,
    arm: str = "",
) -> list[Transcript]:
    """Play ``protocol`` on a batch of episodes and return their transcripts (gold not set)."""
    missing = [r for r in protocol.roles if r not in agents]
    if missing:
        raise OversightError(
            f"protocol {protocol.name!r} needs agents for roles {missing}; given {sorted(agents)}"
        )
    for index, rnd in enumerate(protocol.rounds):
        if rnd.simultaneous:
            said = [
                agents[t.role].act(t.role, index, _frozen_view(episodes, index)) for t in rnd.turns
            ]
            for turn, messages in zip(rnd.turns, said, strict=True):
                _append(episodes, messages, turn, index)
        else:
            for turn in rnd.turns:
                _append(episodes, agents[turn.role].act(turn.role, index, episodes), turn, index)
    verdicts = judge.rule(episodes)
    if len(verdicts) != len(episodes):
        raise RuntimeError(
            f"judge {judge.name} returned {len(verdicts)} verdicts for {len(episodes)}"
        )
    return [
        Transcript(
            episode_id=e.episode_id,
            protocol=protocol.name,
            arm=arm,
            problem=e.problem,
            artifact=e.artifact,
            messages=e.messages,
            checks=e.checks,
            verdict=v,
        )
        for e, v in zip(episodes, verdicts, strict=True)
    ]


def _frozen_view(episodes: Sequence[Episode], round_index: int) -> list[Episode]:
    """Copies that show only messages of earlier rounds (for simultaneous turns)."""
    return [
        Episode(e.episode_id, e.problem, e.artifact, e.context, e.visible(round_index), e.checks)
        for e in episodes
    ]


def _append(
    episodes: Sequence[Episode], messages: list[Message], turn: Turn, round_index: int
) -> None:
    if len(messages) != len(episodes):
        raise RuntimeError(
            f"role {turn.role} returned {len(messages)} messages for {len(episodes)}"
        )
    for e, m in zip(episodes, messages, strict=True):
        e.messages.append(
            m.model_copy(
                update={
                    "role": turn.role,
                    "round": round_index,
                    "visible_to_judge": turn.visible_to_judge,
                }
            )
        )


DIRECT = Protocol(name="direct")
"""Unassisted judging: the judge alone."""

CRITIQUE = Protocol(name="critique", rounds=[Round(turns=[Turn(role="critic")])])
"""Critique-assisted judging (RRM's core step): a critic points out a weakness, then the judge."""
