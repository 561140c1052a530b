"""Agents make artifacts or claims: critics (:mod:`.critics`), the adaptive attacker, the
program improver (torch), LLM speakers, simulated text debaters and pixel debaters."""

from __future__ import annotations

from typing import TYPE_CHECKING

from oversight.agents.attackers import AdaptiveAttacker
from oversight.agents.critics import CriticConfig, SearchCritic
from oversight.agents.llm import LLMSpeaker
from oversight.agents.simulated_text import DebaterConfig, SimulatedQuestioner, SimulatedTextDebater
from oversight.core.lazy import lazy_exports

if TYPE_CHECKING:
    from oversight.agents.critics.claim import ClaimCritic
    from oversight.agents.critics.learned import LearnedCritic
    from oversight.agents.improver import ImproverNet, train_improver

__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "ImproverNet": ".improver",
        "train_improver": ".improver",
        "ClaimCritic": ".critics.claim",
        "LearnedCritic": ".critics.learned",
    },
    globals(),
)

__all__ = [
    "AdaptiveAttacker",
    "ClaimCritic",
    "CriticConfig",
    "DebaterConfig",
    "ImproverNet",
    "LLMSpeaker",
    "LearnedCritic",
    "SearchCritic",
    "SimulatedQuestioner",
    "SimulatedTextDebater",
    "train_improver",
]
