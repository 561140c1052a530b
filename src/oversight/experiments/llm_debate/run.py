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
from typing import Any

from pydantic import BaseModel, Field

from oversight.agents.llm import MODEL_PARTS
from oversight.core.errors import OversightError
from oversight.core.jsonl import append_jsonl, read_jsonl
from oversight.core.records import SCHEMA_VERSION, Transcript
from oversight.core.runs import RunStore
from oversight.envs.base import Case
from oversight.envs.text.env import TextEnv, annotate_quotes
from oversight.envs.text.records import TextContext, TextItem
from oversight.experiments.inspect_log import LOGS, write_inspect_logs
from oversight.experiments.llm_debate.cast import cast
from oversight.experiments.llm_debate.config import LLMDebateConfig
from oversight.experiments.llm_debate.cost import estimate_cost
from oversight.experiments.llm_debate.tournament import (
    TOURNAMENT,
    tournament_cast,
    tournament_to_play,
)
from oversight.experiments.progress import progress_bar
from oversight.learning.export import PREFERENCE_FILE, preferences_from_transcripts, write_rows
from oversight.models.base import (
    ChatModel,
    CostLimitReached,
    ModelCall,
    ModelUsage,
    UsageLedger,
)
from oversight.models.prices import PriceTable, load_prices
from oversight.prompts import PromptSet
from oversight.protocols.engine import Agent, Protocol, pending, play
from oversight.protocols.text import text_protocol

USAGE = "usage.jsonl"
CALLS = "calls.jsonl"
"""Every model call of the run with its episode, role, prompt and reply (Inspect logs)."""
PROMPTS = "prompts"


class UsageRow(BaseModel):
    """Model usage of one stored batch (``usage.jsonl``)."""

    schema_version: int = SCHEMA_VERSION
    episodes: int
    by_model: dict[str, dict[str, Any]] = Field(default_factory=dict)


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
) -> dict[str, list[Case[TextContext]]]:
    """Per protocol: the cases of every episode not on disk."""
    return {
        protocol: pending(TextEnv(items, protocol).all_cases(), protocol, done)
        for protocol in cfg.protocols
    }


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
    estimate: dict[str, Any]
    prompts: dict[str, str]  # template -> content hash
    models: dict[str, str]


def run(
    cfg: LLMDebateConfig,
    store: RunStore,
    progress: bool = True,
    open_model: Callable[[str], ChatModel] | None = None,
) -> RunResult:
    """Play every episode not yet on disk, appending transcripts and usage batch by batch;
    then write the judge's verdicts as TRL preference data (``preference.jsonl``)."""
    items = load_items(cfg)
    prompts = run_prompts(cfg, store)
    prices = load_prices(cfg.prices)
    done = store.done_ids()
    plan = episodes_to_play(cfg, items, done)
    pairs = tournament_to_play(cfg, items, done)
    counts = {p: len(v) for p, v in plan.items()}
    estimate = estimate_cost(cfg, items, counts, prices, {k: len(v) for k, v in pairs.items()})
    actors = cast(cfg, prompts, prices, open_model)
    limit_spending(cfg, actors.ledger, prices, usage_on_disk(store))
    games = tournament_cast(cfg, store, prompts, actors, pairs)
    session = UsageLedger()
    with progress_bar(progress) as bar:
        if progress:
            bar.console.print(estimate["text"])
        total = sum(len(v) for v in plan.values()) + sum(len(v) for v in pairs.values())
        task = bar.add_task("episodes", total=total)

        def record_usage(batch: list[Transcript]) -> None:
            """The batch's model usage, appended to the run folder beside its transcripts."""
            append_jsonl(
                store.path / USAGE,
                [UsageRow(episodes=len(batch), by_model=actors.ledger.to_dict())],
            )
            _merge(session, actors.ledger)
            finished = {t.episode_id for t in batch}
            _, calls = actors.ledger.flush()
            # calls of the batch's episodes; a failed batch's calls are dropped with it
            append_jsonl(store.path / CALLS, [c for c in calls if c.episode_id in finished])
            bar.advance(task, len(batch))

        def play_all(
            protocol: Protocol,
            todo: list[Case[TextContext]],
            agents: dict[str, Agent[TextContext]],
            arm: str,
            prefix: str,
            meta: dict[str, Any],
        ) -> None:
            try:
                play(
                    protocol,
                    todo,
                    agents,
                    actors.judge,
                    arm,
                    store,
                    cfg.batch,
                    prefix=prefix,
                    meta=meta,
                    annotate=annotate_quotes,
                    on_batch=record_usage,
                )
            except OversightError as e:
                more = (
                    f" (raise cost_limit in {store.path / 'config.yaml'} first)"
                    if isinstance(e, CostLimitReached)
                    else ""
                )
                raise OversightError(
                    f"{e}. Finished episodes are saved; continue with: "
                    f"oversight run --resume {store.path}{more}"
                ) from None

        for protocol_name, todo in plan.items():
            protocol = text_protocol(protocol_name, cfg.rounds)
            agents = {r: actors.speakers[r] for r in protocol.roles}
            models = {r: actors.models[MODEL_PARTS[r]] for r in protocol.roles}
            models["judge"] = actors.models["judge"]
            meta = {"protocol": protocol_name, "models": models}
            play_all(protocol, todo, agents, protocol_name, protocol_name, meta)
        for game in games:
            protocol = text_protocol(cfg.tournament.protocol, cfg.rounds)
            meta = {**game.meta, "models": game.models}
            play_all(protocol, game.todo, game.agents, TOURNAMENT, game.prefix, meta)
    transcripts = store.transcripts()
    # the judge's verdicts as TRL preference data, for ``oversight train-rm``
    write_rows(store.path / PREFERENCE_FILE, preferences_from_transcripts(transcripts))
    write_inspect_logs(
        store.path / LOGS,
        "oversight/llm-debate",
        transcripts,
        read_jsonl(store.path / CALLS, ModelCall),
        {"seed": cfg.seed, "rounds": cfg.rounds},
    )
    return RunResult(
        transcripts=transcripts,
        usage=usage_on_disk(store),
        session=session.by_model,
        estimate=estimate,
        prompts=prompts.digest(),
        models=actors.models,
    )


def limit_spending(
    cfg: LLMDebateConfig,
    ledger: UsageLedger,
    prices: PriceTable,
    spent: dict[str, ModelUsage],
) -> None:
    """Keep the run's calls in ``ledger`` and apply ``cost_limit`` to it, counting what earlier
    sessions spent; refuse, before any call, a limit that an unpriced model could escape."""
    ledger.calls = []
    if cfg.cost_limit is None:
        return
    names = sorted(set(cfg.role_models()))
    unpriced = [n for n in names if prices.cost(n, 1, 1) is None]
    if unpriced:
        raise OversightError(
            f"cost_limit: no price for {', '.join(unpriced)}, so its spending cannot be "
            "counted; add the model to a price file (prices: PATH) or unset cost_limit"
        )
    ledger.cost_limit = cfg.cost_limit
    ledger.spent_before = sum(u.cost for u in spent.values())
    ledger.check_limit()


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
