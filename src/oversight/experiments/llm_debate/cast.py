"""The models, speakers and judge of an LLM run, opened once and sharing one usage ledger."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from oversight.agents.llm import MODEL_PARTS
from oversight.envs.text.records import TextContext
from oversight.experiments.llm_debate.config import LLMDebateConfig
from oversight.models.base import ChatModel, UsageLedger
from oversight.models.inspect_api import ModelSettings
from oversight.models.prices import PriceTable
from oversight.prompts import PromptSet
from oversight.protocols.engine import Agent, Judge


@dataclass
class ModelPool:
    """Models opened once per distinct (name, settings) pair, each part with its settings."""

    opener: Callable[[str, ModelSettings], ChatModel]
    settings: Callable[[str], ModelSettings]  # part -> its model settings
    opened: dict[tuple[str, str], ChatModel] = field(default_factory=dict)

    def model(self, name: str, part: str) -> ChatModel:
        """The model called ``name`` with ``part``'s settings, opened on first use."""
        settings = self.settings(part)
        key = (name, settings.model_dump_json(fallback=repr))  # model_args may hold code
        if key not in self.opened:
            self.opened[key] = self.opener(name, settings)
        return self.opened[key]


@dataclass
class Cast:
    """The models, speakers and judge of a run, sharing one usage ledger."""

    ledger: UsageLedger
    speakers: dict[str, Agent[TextContext]]
    judge: Judge[TextContext]
    models: dict[str, str]  # part -> model name
    pool: ModelPool


def cast(
    cfg: LLMDebateConfig,
    prompts: PromptSet,
    prices: PriceTable,
    open_model: Callable[[str], ChatModel] | None = None,
) -> Cast:
    """One model per distinct name and settings (``open_model(name)`` when given, else
    Inspect with the part's settings), the speakers and judge."""
    from oversight.agents.llm import LLMSpeaker
    from oversight.judges.llm import LLMJudge
    from oversight.models.inspect_api import InspectModel

    def opener(name: str, settings: ModelSettings) -> ChatModel:
        if open_model is not None:
            return open_model(name)
        return InspectModel(name, settings, scope={"seed": str(cfg.seed)})

    ledger = UsageLedger(prices.cost)
    pool = ModelPool(opener, cfg.role_settings_for)
    parts = sorted(set(MODEL_PARTS.values()) | {"judge"})
    names = {part: cfg.role_model(part) for part in parts}
    for part in parts:  # open every model before play: a bad name fails before any work
        pool.model(names[part], part)
    speakers: dict[str, Agent[TextContext]] = {}
    for role, part in MODEL_PARTS.items():
        speakers[role] = LLMSpeaker(
            pool.model(names[part], part),
            prompts,
            word_limit=cfg.word_limit,
            max_tokens=cfg.max_tokens,
            temperature=cfg.temperature,
            ledger=ledger,
        )
    judge = LLMJudge(
        pool.model(names["judge"], "judge"),
        prompts,
        probs=cfg.judge_probs,
        max_tokens=cfg.judge_max_tokens,
        temperature=cfg.temperature,
        ledger=ledger,
    )
    return Cast(ledger, speakers, judge, names, pool)
