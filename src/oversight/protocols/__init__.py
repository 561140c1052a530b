"""Protocols as data and the engine that plays them: rounds of turns, then a verdict; direct,
critique, debate and consultancy are rule sets; :func:`play` is the one loop over cases."""

from __future__ import annotations

from oversight.protocols.engine import (
    CRITIQUE,
    DIRECT,
    Agent,
    Episode,
    Judge,
    Protocol,
    Round,
    Turn,
    episode_id,
    pending,
    play,
    run_protocol,
)
from oversight.protocols.rules import ConsultancyRules, DebateRules
from oversight.protocols.text import text_protocol

__all__ = [
    "CRITIQUE",
    "DIRECT",
    "Agent",
    "ConsultancyRules",
    "DebateRules",
    "Episode",
    "Judge",
    "Protocol",
    "Round",
    "Turn",
    "episode_id",
    "pending",
    "play",
    "run_protocol",
    "text_protocol",
]
