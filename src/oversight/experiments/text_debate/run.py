"""Run the text-debate experiment: generate stories, play every arm and the tournament.

Arms are (protocol, difficulty level, liar fabrication rate, judge trust in unverified quotes):
the base setting, then one knob swept at a time (:class:`~.config.Sweeps`). Each story is
played in both answer orders (correct answer shown first or second); consultancy and critique
also with the proposed answer right and wrong. The tournament plays every ordered pair of
debater variants (self-play included) on the first ``tournament.stories`` base-level stories.
Every random choice is seeded by the episode id, so a resumed run plays exactly what a fresh
one would, and episodes on disk are skipped.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from oversight.agents.simulated_text import DebaterConfig, SimulatedQuestioner, SimulatedTextDebater
from oversight.core.records import Transcript
from oversight.core.runs import RunStore
from oversight.envs.base import Case
from oversight.envs.text.env import TextEnv, annotate_quotes
from oversight.envs.text.records import TextContext, TextItem
from oversight.envs.text.stories import generate_stories
from oversight.experiments.progress import progress_bar
from oversight.experiments.text_debate.config import TextDebateConfig
from oversight.judges.simulated_text import SimulatedTextJudge, TextJudgeConfig
from oversight.protocols.engine import Agent, pending, play
from oversight.protocols.text import (
    CONSULTANT,
    DEBATERS,
    QUESTIONER,
    text_protocol,
)

TOURNAMENT = "tournament"


@dataclass(frozen=True)
class Arm:
    """One setting of the main comparison."""

    protocol: str
    level: str
    fabrication_rate: float
    trust_unverified: float

    @property
    def name(self) -> str:
        return (
            f"{self.protocol}@{self.level},fab={self.fabrication_rate:g},"
            f"trust={self.trust_unverified:g}"
        )


def arms(cfg: TextDebateConfig) -> list[Arm]:
    """The base arm of every protocol, then the sweeps (duplicates of the base dropped)."""
    fab, trust, base = cfg.debater.fabrication_rate, cfg.judge.trust_unverified, cfg.difficulty
    out: list[Arm] = []
    for p in cfg.protocols:
        out.append(Arm(p, base, fab, trust))
        assisted = p != "direct"  # the judge alone hears no quotes: these knobs do nothing
        if assisted:
            out += [Arm(p, base, v, trust) for v in cfg.sweeps.fabrication_rate]
            out += [Arm(p, base, fab, v) for v in cfg.sweeps.trust_unverified]
        if cfg.sweeps.difficulty:
            out += [Arm(p, level, fab, trust) for level in cfg.levels]
    return list(dict.fromkeys(out))


def items_by_level(cfg: TextDebateConfig) -> dict[str, list[TextItem]]:
    return {
        level: generate_stories(knobs, cfg.stories, cfg.seed, prefix=level)
        for level, knobs in cfg.levels.items()
    }


def _judge(knobs: TextJudgeConfig, seed: int) -> SimulatedTextJudge:
    return SimulatedTextJudge(knobs, seed=seed)


def _debater(
    knowledge: dict[str, TextItem],
    knobs: DebaterConfig,
    judge: TextJudgeConfig,
    seed: int,
    name: str,
) -> SimulatedTextDebater:
    # Best-of-n plans against a noise-free copy of the judge's knobs.
    return SimulatedTextDebater(knowledge, knobs, SimulatedTextJudge(judge), seed, name)


def _agents(protocol: str, debater: Agent[TextContext]) -> dict[str, Agent[TextContext]]:
    if protocol == "consultancy":
        return {CONSULTANT: debater, QUESTIONER: SimulatedQuestioner()}
    if protocol == "direct":
        return {}
    return {role: debater for role in ("debater_a", "debater_b", "answerer", "critic")}


@dataclass
class Job:
    """A batch of episodes sharing agents and judge."""

    protocol: str
    agents: dict[str, Agent[TextContext]]
    judge: SimulatedTextJudge
    prefix: str  # episode ids are PREFIX/ARTIFACT_ID
    meta: dict[str, Any]
    todo: list[Case[TextContext]]


def plan(cfg: TextDebateConfig, done: set[str]) -> list[Job]:
    """Every episode not yet on disk, grouped by agents and judge."""
    levels = items_by_level(cfg)
    knowledge = {it.id: it for items in levels.values() for it in items}
    jobs = []
    for arm in arms(cfg):
        judge_knobs = cfg.judge.model_copy(update={"trust_unverified": arm.trust_unverified})
        debater_knobs = cfg.debater.model_copy(update={"fabrication_rate": arm.fabrication_rate})
        debater = _debater(knowledge, debater_knobs, judge_knobs, cfg.seed, "debater")
        meta = {
            "arm": arm.name,
            "protocol": arm.protocol,
            "difficulty": arm.level,
            "fabrication_rate": arm.fabrication_rate,
            "trust_unverified": arm.trust_unverified,
        }
        todo = pending(TextEnv(levels[arm.level], arm.protocol).all_cases(), arm.name, done)
        agents = _agents(arm.protocol, debater)
        jobs.append(Job(arm.protocol, agents, _judge(judge_knobs, cfg.seed), arm.name, meta, todo))
    t = cfg.tournament
    if t.enabled:
        items = levels[cfg.difficulty][: t.stories]
        for a in t.variants:
            for b in t.variants:
                agents = {
                    DEBATERS[0]: _debater(knowledge, a, cfg.judge, cfg.seed, a.name),
                    DEBATERS[1]: _debater(knowledge, b, cfg.judge, cfg.seed, b.name),
                }
                meta = {"arm": TOURNAMENT, "protocol": t.protocol, "a": a.name, "b": b.name}
                prefix = f"{TOURNAMENT}/{a.name}-vs-{b.name}"
                todo = pending(TextEnv(items, t.protocol).all_cases(), prefix, done)
                judge = _judge(cfg.judge, cfg.seed)
                jobs.append(Job(t.protocol, agents, judge, prefix, meta, todo))
    return jobs


def run(cfg: TextDebateConfig, store: RunStore, progress: bool = True) -> list[Transcript]:
    """Play every episode not yet on disk, appending transcripts batch by batch."""
    jobs = plan(cfg, store.done_ids())
    with progress_bar(progress) as bar:
        task = bar.add_task("episodes", total=sum(len(j.todo) for j in jobs))
        for job in jobs:
            play(
                text_protocol(job.protocol, cfg.rounds),
                job.todo,
                job.agents,
                job.judge,
                job.meta["arm"],
                store,
                cfg.batch,
                prefix=job.prefix,
                meta=job.meta,
                annotate=annotate_quotes,
                on_batch=lambda batch: bar.advance(task, len(batch)),
            )
    return store.transcripts()
