"""The models, speakers and judge of an LLM run, opened once and sharing one usage ledger."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from oversight.envs.text.records import TextContext
from oversight.experiments.llm_debate.config import PART_OF_ROLE, LLMDebateConfig
from oversight.models.base import ChatModel, UsageLedger
from oversight.models.prices import PriceTable
from oversight.prompts import PromptSet
from oversight.protocols.engine import Agent, Judge


@dataclass
class Cast:
    """The models, speakers and judge of a run, sharing one usage ledger."""

    ledger: UsageLedger
    speakers: dict[str, Agent[TextContext]]
    judge: Judge[TextContext]
    models: dict[str, str]  # part -> model name
    opened: dict[str, ChatModel]  # model name -> model, opened once
    opener: Callable[[str], ChatModel]

    def model(self, name: str) -> ChatModel:
        """The model called ``name``, opened on first use."""
        if name not in self.opened:
            self.opened[name] = self.opener(name)
        return self.opened[name]


def cast(
    cfg: LLMDebateConfig,
    prompts: PromptSet,
    prices: PriceTable,
    open_model: Callable[[str], ChatModel] | None = None,
) -> Cast:
    """One model per distinct name (``open_model``, default Inspect), the speakers and judge."""
    from oversight.agents.llm import LLMSpeaker
    from oversight.judges.llm import LLMJudge
    from oversight.models.inspect_api import InspectModel

    opener = open_model or (
        lambda name: InspectModel(name, cfg.settings, scope={"seed": str(cfg.seed)})
    )
    ledger = UsageLedger(prices.cost)
    names = {part: cfg.role_model(part) for part in set(PART_OF_ROLE.values()) | {"judge"}}
    opened = {name: opener(name) for name in sorted(set(names.values()))}
    speakers: dict[str, Agent[TextContext]] = {}
    for role, part in PART_OF_ROLE.items():
        speakers[role] = LLMSpeaker(
            opened[names[part]],
            prompts,
            word_limit=cfg.word_limit,
            max_tokens=cfg.max_tokens,
            temperature=cfg.temperature,
            ledger=ledger,
        )
    judge = LLMJudge(
        opened[names["judge"]],
        prompts,
        probs=cfg.judge_probs,
        max_tokens=cfg.judge_max_tokens,
        temperature=cfg.temperature,
        ledger=ledger,
    )
    return Cast(ledger, speakers, judge, names, opened, opener)
