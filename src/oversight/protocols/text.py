"""Text protocols (hidden-source reading comprehension) as values of the existing rule sets.

Every protocol shows two answers (displayed A and B) and names which one each role argues
(``positions``, role -> displayed index) and which one the artifact proposes (``proposed``, the
answer ``Verdict.accept`` refers to); see :mod:`oversight.envs.text.records`.

- ``debate-sequential`` / ``debate-simultaneous``: :class:`DebateRules` with schedule
  ``both``; ``debater_a`` argues A (and speaks first), ``debater_b`` argues B.
- ``consultancy``: :class:`ConsultancyRules`; ``judge_questions`` asks, the ``consultant``
  argues the proposed answer (right or wrong).
- ``critique``: answer, then critique, then verdict: an ``answerer`` argues the proposed
  answer, then a ``critic`` argues the other (a one-round sequential debate between them).
- ``direct``: the engine's unassisted baseline; the judge sees question and answers only.
"""

from __future__ import annotations

from oversight.envs.text.env import (
    ANSWERER,
    CONSULTANT,
    CRITIC,
    DEBATERS,
    QUESTIONER,
    TEXT_PROTOCOLS,
    TextProtocolName,
    text_positions,
)
from oversight.protocols.engine import DIRECT, Protocol
from oversight.protocols.rules import ConsultancyRules, DebateRules


def text_protocol(name: str, rounds: int = 2) -> Protocol:
    """The engine protocol named ``name`` (one of :data:`TEXT_PROTOCOLS`) with ``rounds``
    rounds where the protocol has rounds (debate, consultancy)."""
    if name == "debate-sequential":
        return DebateRules(
            name=name, debaters=DEBATERS, first=DEBATERS[0], rounds=rounds, schedule="both"
        ).to_protocol()
    if name == "debate-simultaneous":
        return DebateRules(
            name=name,
            debaters=DEBATERS,
            first=DEBATERS[0],
            rounds=rounds,
            schedule="both",
            simultaneous=True,
        ).to_protocol()
    if name == "consultancy":
        return ConsultancyRules(
            name=name, consultant=CONSULTANT, questioner=QUESTIONER, rounds=rounds
        ).to_protocol()
    if name == "critique":
        return DebateRules(
            name=name, debaters=(ANSWERER, CRITIC), first=ANSWERER, rounds=2
        ).to_protocol()
    if name == "direct":
        return DIRECT
    raise ValueError(f"unknown text protocol {name!r}; allowed: {', '.join(TEXT_PROTOCOLS)}")


__all__ = [
    "ANSWERER",
    "CONSULTANT",
    "CRITIC",
    "DEBATERS",
    "QUESTIONER",
    "TEXT_PROTOCOLS",
    "TextProtocolName",
    "text_positions",
    "text_protocol",
]
