"""The game engine: protocols are data (rounds of turns), agents and judges are batched.

A :class:`Protocol` lists rounds; each round lists turns by role. Turns in a round run in
order and each sees every earlier message, unless the round is ``simultaneous``: then every
turn sees only the messages from earlier rounds. After the last round the judge rules.
Direct judging, critique-assisted judging, debate and consultancy are all just rule sets here.

Every call is batched: an agent gets the whole batch of episodes for its turn and returns one
message per episode; the judge returns one verdict per episode. :func:`play` is the one loop
that plays judged cases: it batches them, skips episodes already stored, attaches gold after the
verdict and stores each batch as it finishes.

The engine is generic in the context type ``C`` an environment gives its parties (parsed
programs, a text display): ``Episode[C]``, ``Agent[C]`` and ``Judge[C]``. ``C`` is invariant (an
episode's context is a mutable field); a party that never reads the context takes
``Episode[Any]`` and so fits every environment.
"""

from __future__ import annotations

from collections.abc import Callable, Container, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar
from typing import Protocol as TypingProtocol

from pydantic import Field

from oversight.core.config import Strict
from oversight.core.errors import OversightError
from oversight.core.records import Artifact, Check, Message, Problem, Transcript, Verdict
from oversight.envs.base import Case

C = TypeVar("C")


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
class Episode(Generic[C]):
    """Working state of one episode while a protocol runs.

    ``context`` holds environment-specific parsed objects (e.g. programs) so agents and judges
    need not re-parse; it never holds gold information.
    """

    episode_id: str
    problem: Problem
    artifact: Artifact
    context: C
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


class Agent(TypingProtocol[C]):
    """Anything that speaks in a protocol: returns one message per episode."""

    name: str

    def act(self, role: str, round: int, episodes: Sequence[Episode[C]]) -> list[Message]:
        """One message per episode for ``role`` in round ``round``."""
        ...


class Judge(TypingProtocol[C]):
    """Rules on each episode from what it may see; records the checks it pays for in
    ``episode.checks``."""

    name: str

    def rule(self, episodes: Sequence[Episode[C]]) -> list[Verdict]:
        """One verdict per episode."""
        ...


class TranscriptStore(TypingProtocol):
    """Where :func:`play` appends finished batches (a run folder's
    :class:`~oversight.core.runs.RunStore`)."""

    def append(self, transcripts: list[Transcript]) -> None: ...


def episode_id(prefix: str, case: Case[Any]) -> str:
    """The id of ``case``'s episode in an arm whose episodes start with ``prefix``."""
    return f"{prefix}/{case.artifact.id}"


def pending(cases: Iterable[Case[C]], prefix: str, done: Container[str]) -> list[Case[C]]:
    """The cases whose episode (see :func:`episode_id`) is not in ``done``: what a resumed run
    still has to play."""
    return [c for c in cases if episode_id(prefix, c) not in done]


def play(
    protocol: Protocol,
    cases: Iterable[Case[C]],
    agents: Mapping[str, Agent[C]],
    judge: Judge[C],
    arm: str,
    store: TranscriptStore | None = None,
    batch: int = 64,
    *,
    prefix: str | None = None,
    meta: Mapping[str, Any] | None = None,
    annotate: Callable[[Case[C], Transcript], Mapping[str, Any]] | None = None,
    done: Container[str] = (),
    on_batch: Callable[[list[Transcript]], None] | None = None,
) -> list[Transcript]:
    """Play ``protocol`` on every case not finished yet; the transcripts played now.

    Episode ids are ``PREFIX/ARTIFACT_ID`` (``prefix`` defaults to ``arm``); ids in ``done``
    (the run folder's finished episodes) are skipped, so a resumed run redoes nothing. Each
    batch of ``batch`` episodes is played, given its gold (after the verdict: the judge never
    sees it) and ``meta`` (the case's own, then ``meta``, then ``annotate(case, transcript)``),
    appended to ``store`` and passed to ``on_batch``, before the next batch starts.
    """
    if batch < 1:
        raise OversightError(f"batch: must be at least 1, got {batch}")
    head = arm if prefix is None else prefix
    todo = [(episode_id(head, c), c) for c in pending(cases, head, done)]
    played: list[Transcript] = []
    for start in range(0, len(todo), batch):
        chunk = todo[start : start + batch]
        episodes = [Episode(eid, c.problem, c.artifact, c.context) for eid, c in chunk]
        transcripts = run_protocol(protocol, episodes, agents, judge, arm=arm)
        for t, (_, case) in zip(transcripts, chunk, strict=True):
            t.gold = case.gold
            t.meta = {**case.meta, **(meta or {})}
            if annotate is not None:
                t.meta.update(annotate(case, t))
        if store is not None:
            store.append(transcripts)
        if on_batch is not None:
            on_batch(transcripts)
        played += transcripts
    return played


def run_protocol(
    protocol: Protocol,
    episodes: Sequence[Episode[C]],
    agents: Mapping[str, Agent[C]],
    judge: Judge[C],
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


def _frozen_view(episodes: Sequence[Episode[C]], round_index: int) -> list[Episode[C]]:
    """Copies that show only messages of earlier rounds (for simultaneous turns)."""
    return [
        Episode(e.episode_id, e.problem, e.artifact, e.context, e.visible(round_index), e.checks)
        for e in episodes
    ]


def _append(
    episodes: Sequence[Episode[C]], messages: list[Message], turn: Turn, round_index: int
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
