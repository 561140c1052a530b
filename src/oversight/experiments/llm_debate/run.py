"""Run the LLM-debate experiment: every protocol on every item, in both answer orders.

Items are generated stories or a file (QuALITY, GPQA, plain JSONL). Each protocol plays each
item with the correct answer shown first and second; consultancy and critique also with the
proposed answer right and wrong. Every role's model comes from the config (``model``, or a
per-role key). Episodes are played in batches, each batch fanned out concurrently; after each
batch its transcripts and its model usage are appended to the run folder, so a provider error
loses at most the batch in flight and ``--resume`` continues where the run stopped.

The prompt templates are copied into the run folder when it starts and read from there,
so a resumed run speaks with exactly the prompts it started with. With ``tournament.enabled``
the debater variants then play their cross-play games (:mod:`.tournament`), stored and resumed
the same way.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from pydantic import BaseModel, Field

from oversight.core.errors import OversightError
from oversight.core.jsonl import append_jsonl, read_jsonl
from oversight.core.records import SCHEMA_VERSION, Transcript
from oversight.core.runs import RunStore
from oversight.envs.text.records import TextEpisodeParts, TextItem, quote_records
from oversight.experiments.llm_debate.config import LLMDebateConfig
from oversight.experiments.llm_debate.tournament import (
    TOURNAMENT,
    tournament_cast,
    tournament_to_play,
)
from oversight.experiments.progress import progress_bar
from oversight.experiments.text_debate.run import displays
from oversight.models.base import ChatModel, ModelUsage, UsageLedger
from oversight.models.prices import PriceTable, load_prices
from oversight.prompts import PromptSet
from oversight.protocols.engine import Agent, Episode, Judge, Protocol, run_protocol
from oversight.protocols.text import text_protocol

USAGE = "usage.jsonl"
PROMPTS = "prompts"
PART_OF_ROLE = {
    "debater_a": "debater",
    "debater_b": "debater",
    "consultant": "consultant",
    "answerer": "critic",
    "critic": "critic",
    "judge_questions": "questioner",
}
"""Which model key speaks each role (see :data:`~.config.ROLE_KEYS`)."""


class UsageRow(BaseModel):
    """Model usage of one stored batch (``usage.jsonl``)."""

    schema_version: int = SCHEMA_VERSION
    episodes: int
    by_model: dict[str, dict] = Field(default_factory=dict)


def load_items(cfg: LLMDebateConfig) -> list[TextItem]:
    from oversight.envs.text.loaders import load_items as load_file
    from oversight.envs.text.stories import generate_stories

    d = cfg.data
    if d.path is None:
        return generate_stories(d.knobs, d.stories, cfg.seed)
    items = load_file(d.path, d.format, cfg.seed)
    return items[: d.limit] if d.limit else items


def episodes_to_play(
    cfg: LLMDebateConfig, items: list[TextItem], done: set[str]
) -> dict[str, list[tuple[str, TextEpisodeParts, dict]]]:
    """Per protocol: (episode id, parts, transcript meta) of every episode not on disk."""
    out = {}
    for protocol in cfg.protocols:
        out[protocol] = [
            (eid, parts, {"protocol": protocol, "item": it.id, "display": tag})
            for it in items
            for tag, parts in displays(protocol, it)
            if (eid := f"{protocol}/{parts.artifact.id}") not in done
        ]
    return out


@dataclass
class Cast:
    """The models, speakers and judge of a run, sharing one usage ledger."""

    ledger: UsageLedger
    speakers: dict[str, Agent]
    judge: Judge
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

    opener = open_model or (lambda name: InspectModel(name, cfg.settings))
    ledger = UsageLedger(prices.cost)
    names = {part: cfg.role_model(part) for part in set(PART_OF_ROLE.values()) | {"judge"}}
    opened = {name: opener(name) for name in sorted(set(names.values()))}
    speakers: dict[str, Agent] = {}
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


def run_prompts(cfg: LLMDebateConfig, store: RunStore) -> PromptSet:
    """The run's templates: copied into the run folder on the first start, read from there
    afterwards."""
    folder = store.path / PROMPTS
    if not folder.is_dir():
        PromptSet(cfg.prompts).copy_to(folder)
    return PromptSet(folder)


@dataclass
class RunResult:
    transcripts: list[Transcript]
    usage: dict[str, ModelUsage]  # over the whole run, every session
    session: dict[str, ModelUsage]  # this session only
    estimate: dict
    prompts: dict[str, str]  # template -> content hash
    models: dict[str, str]


def run(
    cfg: LLMDebateConfig,
    store: RunStore,
    progress: bool = True,
    open_model: Callable[[str], ChatModel] | None = None,
) -> RunResult:
    """Play every episode not yet on disk, appending transcripts and usage batch by batch."""
    from oversight.experiments.llm_debate.cost import estimate_cost

    items = load_items(cfg)
    prompts = run_prompts(cfg, store)
    prices = load_prices(cfg.prices)
    done = store.done_ids()
    plan = episodes_to_play(cfg, items, done)
    pairs = tournament_to_play(cfg, items, done)
    counts = {p: len(v) for p, v in plan.items()}
    estimate = estimate_cost(cfg, items, counts, prices, {k: len(v) for k, v in pairs.items()})
    actors = cast(cfg, prompts, prices, open_model)
    games = tournament_cast(cfg, store, prompts, actors, pairs)
    session = UsageLedger()
    with progress_bar(progress) as bar:
        if progress:
            bar.console.print(estimate["text"])
        total = sum(len(v) for v in plan.values()) + sum(len(v) for v in pairs.values())
        task = bar.add_task("episodes", total=total)
        for protocol_name, todo in plan.items():
            protocol = text_protocol(protocol_name, cfg.rounds)
            agents = {r: actors.speakers[r] for r in protocol.roles}
            models = {r: actors.models[PART_OF_ROLE[r]] for r in protocol.roles}
            models["judge"] = actors.models["judge"]
            for start in range(0, len(todo), cfg.batch):
                chunk = todo[start : start + cfg.batch]
                play_batch(store, protocol, protocol_name, chunk, agents, actors, models, session)
                bar.advance(task, len(chunk))
        for game in games:
            protocol = text_protocol(cfg.tournament.protocol, cfg.rounds)
            for start in range(0, len(game.todo), cfg.batch):
                chunk = game.todo[start : start + cfg.batch]
                play_batch(
                    store, protocol, TOURNAMENT, chunk, game.agents, actors, game.models, session
                )
                bar.advance(task, len(chunk))
    return RunResult(
        transcripts=store.transcripts(),
        usage=usage_on_disk(store),
        session=session.by_model,
        estimate=estimate,
        prompts=prompts.digest(),
        models=actors.models,
    )


def play_batch(
    store: RunStore,
    protocol: Protocol,
    arm: str,
    chunk: list[tuple[str, TextEpisodeParts, dict]],
    agents: dict[str, Agent],
    actors: Cast,
    models: dict[str, str],
    session: UsageLedger,
) -> None:
    """Play one batch and append its transcripts and model usage to the run folder."""
    episodes = [Episode(eid, p.problem, p.artifact, p.context) for eid, p, _ in chunk]
    try:
        transcripts = run_protocol(protocol, episodes, agents, actors.judge, arm=arm)
    except OversightError as e:
        raise OversightError(
            f"{e}. Finished episodes are saved; continue with: oversight run --resume {store.path}"
        ) from None
    for t, (_, parts, meta), e in zip(transcripts, chunk, episodes, strict=True):
        t.gold = parts.gold  # attached after the verdict: the judge never saw it
        t.meta = {**meta, "models": models, "quotes": quote_records(e.context, t.messages)}
    store.append(transcripts)
    append_jsonl(
        store.path / USAGE, [UsageRow(episodes=len(chunk), by_model=actors.ledger.to_dict())]
    )
    _merge(session, actors.ledger)
    actors.ledger.by_model.clear()


def _merge(into: UsageLedger, ledger: UsageLedger) -> None:
    for name, u in ledger.by_model.items():
        into.by_model.setdefault(name, ModelUsage()).add(u)


def usage_on_disk(store: RunStore) -> dict[str, ModelUsage]:
    """Model usage summed over every stored batch."""
    out: dict[str, ModelUsage] = {}
    for row in read_jsonl(store.path / USAGE, UsageRow):
        for name, fields in row.by_model.items():
            out.setdefault(name, ModelUsage()).add(ModelUsage(**fields))
    return out
