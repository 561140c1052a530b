"""Tournaments of LLM debaters: cross-play between variants (model, prompts, best-of-n).

Every ordered pair of distinct variants debates the same first ``games_per_pair / 2`` items,
each in both answer orders: debater A argues the first displayed answer, so in one order the
first-named variant is honest and in the other it lies, and the reversed pair plays both
again with the speaking order swapped. The run's judge rules every game; a variant wins when
the judge picks its answer (a judgment with no choice is a draw). Ratings and judge accuracy
come from :mod:`oversight.experiments.tournaments`.

A variant's prompt set (the run's templates, then its ``prompts`` folder, then its inline
``debater_template``) is written into the run folder on the first start and read from there,
like the run's own, so a resumed tournament speaks with the prompts it started with.
Best-of-n speakers score their candidates with a judge on ``scorer_model`` (default the
run's judge model) asked the same way as the run's judge.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from oversight.core.errors import OversightError
from oversight.core.records import Transcript
from oversight.core.runs import RunStore
from oversight.envs.base import Case
from oversight.envs.text.env import TextEnv
from oversight.envs.text.records import TextContext, TextItem
from oversight.experiments.llm_debate.cast import Cast
from oversight.experiments.llm_debate.config import LLMDebateConfig, Variant
from oversight.experiments.tournaments import CrossPlay, cross_play, game_of
from oversight.prompts import SUFFIX, PromptSet
from oversight.protocols.engine import Agent, pending
from oversight.protocols.text import DEBATERS

TOURNAMENT = "tournament"
VARIANT_PROMPTS = "tournament-prompts"

Todo = list[Case[TextContext]]


def tournament_items(cfg: LLMDebateConfig, items: list[TextItem]) -> list[TextItem]:
    """The items every pair plays; an error naming the key when there are too few."""
    need = cfg.tournament.games_per_pair // 2
    if len(items) < need:
        raise OversightError(
            f"tournament.games_per_pair ({cfg.tournament.games_per_pair}) needs {need} items; "
            f"the data has {len(items)}"
        )
    return items[:need]


def pair_prefix(a: str, b: str) -> str:
    """Episode ids of the games of variant ``a`` (debater A) against ``b`` start with this."""
    return f"{TOURNAMENT}/{a}-vs-{b}"


def tournament_to_play(
    cfg: LLMDebateConfig, items: list[TextItem], done: set[str]
) -> dict[tuple[str, str], Todo]:
    """Per ordered pair (debater A's variant, debater B's): every game not on disk."""
    t = cfg.tournament
    if not t.enabled:
        return {}
    played = tournament_items(cfg, items)
    out = {}
    for a in t.variants:
        for b in t.variants:
            if a.name == b.name:
                continue
            prefix = pair_prefix(a.name, b.name)
            out[(a.name, b.name)] = pending(TextEnv(played, t.protocol).all_cases(), prefix, done)
    return out


def variant_prompts(v: Variant, store: RunStore, run_prompts: PromptSet) -> PromptSet:
    """The variant's templates (``run_prompts``, then its folder, then its inline debater
    template), written into the run folder on the first start and read from there."""
    folder = store.path / VARIANT_PROMPTS / v.name
    if not folder.is_dir():
        staging = folder.with_name(folder.name + ".partial")
        shutil.rmtree(staging, ignore_errors=True)
        run_prompts.copy_to(staging)
        if v.prompts is not None:
            own = PromptSet(v.prompts)  # refuses unknown template names
            for path in Path(v.prompts).glob(f"*{SUFFIX}"):
                shutil.copyfile(own.files[path.name], staging / path.name)
        if v.debater_template is not None:
            (staging / f"debater{SUFFIX}").write_text(v.debater_template)
        staging.rename(folder)  # complete or absent: a killed start leaves no half set
    return PromptSet(folder)


@dataclass
class Pairing:
    """One ordered pair's speakers and the games it has left."""

    agents: dict[str, Agent[TextContext]]
    models: dict[str, str]  # role -> model name, for the transcripts
    todo: Todo
    prefix: str  # episode ids are PREFIX/ARTIFACT_ID
    meta: dict[str, Any]  # transcript meta of every game of the pair


def tournament_cast(
    cfg: LLMDebateConfig,
    store: RunStore,
    prompts: PromptSet,
    actors: Cast,
    pairs: dict[tuple[str, str], Todo],
) -> list[Pairing]:
    """Speakers for every pair with games left (one per variant, shared by its pairs)."""
    from oversight.agents.llm import LLMSpeaker
    from oversight.judges.llm import LLMJudge

    if not any(pairs.values()):
        return []
    scorers: dict[str, LLMJudge] = {}
    speakers: dict[str, LLMSpeaker] = {}
    model_of: dict[str, str] = {}
    for v in cfg.tournament.variants:
        scorer = None
        if v.best_of_n > 1:
            name = v.scorer_model or cfg.role_model("judge")
            if name not in scorers:
                scorers[name] = LLMJudge(
                    actors.pool.model(name, "judge"),
                    prompts,
                    probs=cfg.judge_probs,
                    max_tokens=cfg.judge_max_tokens,
                    temperature=cfg.temperature,
                    ledger=actors.ledger,
                    name=f"best-of-n scorer:{name}",
                )
            scorer = scorers[name]
        model_of[v.name] = v.model or cfg.role_model("debater")
        speakers[v.name] = LLMSpeaker(
            actors.pool.model(model_of[v.name], "debater"),
            variant_prompts(v, store, prompts),
            word_limit=cfg.word_limit,
            max_tokens=cfg.max_tokens,
            temperature=cfg.temperature,
            ledger=actors.ledger,
            simultaneous=cfg.tournament.protocol == "debate-simultaneous",
            name=v.name,
            best_of_n=v.best_of_n,
            scorer=scorer,
        )
    return [
        Pairing(
            agents={DEBATERS[0]: speakers[a], DEBATERS[1]: speakers[b]},
            models={
                DEBATERS[0]: model_of[a],
                DEBATERS[1]: model_of[b],
                "judge": actors.models["judge"],
            },
            todo=todo,
            prefix=pair_prefix(a, b),
            meta={"protocol": cfg.tournament.protocol, "a": a, "b": b},
        )
        for (a, b), todo in pairs.items()
        if todo
    ]


def tournament_results(cfg: LLMDebateConfig, transcripts: list[Transcript]) -> CrossPlay:
    """Ratings and judge accuracy of the tournament's stored games."""
    games = [game_of(t) for t in transcripts if t.arm == TOURNAMENT]
    names = [v.name for v in cfg.tournament.variants]
    return cross_play(names, games, cfg.bootstrap, cfg.seed)
