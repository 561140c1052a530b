"""Study results (accuracy against gold with CIs, time, catch trials, agreement) and export of
verdicts as the toolkit's transcripts and as reward-model preference data."""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from oversight.core.records import Check, Gold, Message, Transcript, Verdict
from oversight.envs.text.records import proposed_answer, read_answers
from oversight.learning.export import (
    PreferenceRow,
    UnpairedRow,
    preferences_from_transcripts,
    unpaired_from_transcripts,
)
from oversight.metrics.estimate import Estimate, rate
from oversight.metrics.scoring import mean_ci
from oversight.web.models import Assignment, Study, VerdictRow

HUMAN_RULE = "human"


def krippendorff_alpha(ratings: dict[Any, dict[Any, int]]) -> float:
    """Nominal Krippendorff's alpha of ``{unit: {coder: value}}``; NaN when undefined (no unit
    rated twice, or a single value in the data)."""
    coders = sorted({c for by in ratings.values() for c in by}, key=str)
    units = [u for u, by in ratings.items() if len(by) >= 2]
    if not units or len({v for u in units for v in ratings[u].values()}) < 2:
        return math.nan
    import krippendorff

    data = np.full((len(coders), len(units)), np.nan)
    for col, unit in enumerate(units):
        for row, coder in enumerate(coders):
            if coder in ratings[unit]:
                data[row, col] = ratings[unit][coder]
    return float(krippendorff.alpha(reliability_data=data, level_of_measurement="nominal"))


@dataclass
class ArmResult:
    """One arm's numbers (catch trials are counted apart)."""

    arm: str
    verdicts: int
    accuracy: Estimate
    catch_accuracy: Estimate
    seconds_mean: float
    seconds_median: float
    spent_mean: float
    alpha: float
    timed_out: int = 0
    """Items that closed at the time limit without a verdict."""


@dataclass
class JudgeResult:
    """One judge's numbers: accuracy against gold on the study's items, how well the stated
    sureness matches it (mean sureness minus accuracy: above 0 is overconfident; the Brier
    score of the stated belief that the artifact is acceptable), catch trials and time."""

    name: str
    done: int
    assigned: int
    accuracy: Estimate
    overconfidence: float
    brier: float
    catch_accuracy: Estimate
    seconds_mean: float


@dataclass
class PairedResult:
    """An arm against the first arm on the items both judged: the mean over items of
    (accuracy under ``arm`` minus under ``baseline``), items resampled for the interval."""

    arm: str
    baseline: str
    items: int
    difference: Estimate


@dataclass
class StudyResults:
    arms: list[ArmResult]
    judges: list[JudgeResult]
    verdicts: int
    assignments: int
    paired: list[PairedResult] = field(default_factory=list)
    left_out: dict[str, int] = field(default_factory=dict)
    """Items left out of the comparison, by why (at creation, or not yet judged under every
    arm)."""


def _judged(session: Session, study: Study) -> list[tuple[Assignment, VerdictRow]]:
    rows = session.execute(
        select(Assignment, VerdictRow)
        .join(VerdictRow, VerdictRow.assignment_id == Assignment.id)
        .where(Assignment.study_id == study.id)
        .order_by(VerdictRow.id)
    )
    return [(a, v) for a, v in rows]


def _correct(a: Assignment, v: VerdictRow) -> bool | None:
    gold = a.item.gold
    return None if gold is None else v.accept == gold["label"]


def _mean(xs: list[float]) -> float:
    return statistics.fmean(xs) if xs else math.nan


def study_results(session: Session, study: Study, seed: int = 0) -> StudyResults:
    """Per arm: accuracy against gold (bootstrap CIs), catch-trial accuracy, time per item,
    budget spent and agreement between the arm's judges (nominal Krippendorff's alpha; never
    across arms, whose judges see different things). Per judge: accuracy, calibration, catch
    trials and time. Arms against the first on the same items."""
    judged = _judged(session, study)
    timed_out = dict(
        session.execute(
            select(Assignment.arm, func.count())
            .where(Assignment.study_id == study.id, Assignment.timed_out)
            .group_by(Assignment.arm)
        ).all()
    )
    arms = []
    for arm in (a["name"] for a in study.arms):
        rows = [(a, v) for a, v in judged if a.arm == arm]
        main = [(a, v) for a, v in rows if not a.item.is_catch]
        correct = [c for a, v in main if (c := _correct(a, v)) is not None]
        caught = [c for a, v in rows if a.item.is_catch and (c := _correct(a, v)) is not None]
        seconds = [v.seconds for _, v in main]
        ratings: dict[Any, dict[Any, int]] = {}
        for a, v in main:
            ratings.setdefault(a.item_id, {})[a.judge_id] = int(v.accept)
        arms.append(
            ArmResult(
                arm=arm,
                verdicts=len(main),
                accuracy=rate(correct, seed=seed),
                catch_accuracy=rate(caught, seed=seed),
                seconds_mean=_mean(seconds),
                seconds_median=statistics.median(seconds) if seconds else math.nan,
                spent_mean=_mean([float(v.spent) for _, v in main]),
                alpha=krippendorff_alpha(ratings),
                timed_out=timed_out.get(arm, 0),
            )
        )
    judges = []
    for judge in study.judges:
        mine = [(a, v) for a, v in judged if a.judge_id == judge.id]
        scored = [(v, g["label"]) for a, v in mine if not a.item.is_catch and (g := a.item.gold)]
        correct = [v.accept == label for v, label in scored]
        sureness = [v.confidence if v.accept else 1 - v.confidence for v, _ in scored]
        errors = [(v.confidence - float(label)) ** 2 for v, label in scored]
        caught = [c for a, v in mine if a.item.is_catch and (c := _correct(a, v)) is not None]
        assigned = session.scalars(select(Assignment.id).where(Assignment.judge_id == judge.id))
        judges.append(
            JudgeResult(
                name=judge.name,
                done=len(mine),
                assigned=len(list(assigned)),
                accuracy=rate(correct, seed=seed),
                overconfidence=_mean(sureness) - _mean([float(c) for c in correct]),
                brier=_mean(errors),
                catch_accuracy=rate(caught, seed=seed),
                seconds_mean=_mean([v.seconds for _, v in mine]),
            )
        )
    total = session.scalars(select(Assignment.id).where(Assignment.study_id == study.id))
    paired, unpaired = _paired(judged, [a["name"] for a in study.arms], seed)
    left_out = dict(study.design.get("left_out", {}))
    if unpaired:
        left_out["not yet judged under every arm"] = unpaired
    return StudyResults(
        arms=arms,
        judges=judges,
        verdicts=len(judged),
        assignments=len(list(total)),
        paired=paired,
        left_out=left_out,
    )


def _paired(
    judged: list[tuple[Assignment, VerdictRow]], arms: list[str], seed: int
) -> tuple[list[PairedResult], int]:
    """Each later arm against the first on the items judged (with gold) under every arm, and
    how many judged items are not."""
    scores: dict[int, dict[str, list[float]]] = {}
    for a, v in judged:
        c = _correct(a, v)
        if c is not None and not a.item.is_catch:
            scores.setdefault(a.item_id, {}).setdefault(a.arm, []).append(float(c))
    full = [by_arm for by_arm in scores.values() if all(arm in by_arm for arm in arms)]
    out = []
    for arm in arms[1:]:
        diffs = [_mean(by_arm[arm]) - _mean(by_arm[arms[0]]) for by_arm in full]
        out.append(PairedResult(arm, arms[0], len(diffs), mean_ci(diffs, seed=seed)))
    return out, len(scores) - len(full)


def transcript_of(study: Study, a: Assignment, v: VerdictRow) -> Transcript:
    """A judged assignment as the toolkit's :class:`Transcript` (gold included when known)."""
    item = a.item
    arm = next((x for x in study.arms if x["name"] == a.arm), {})
    return Transcript(
        episode_id=f"study-{study.id}/{item.key}/{a.judge.name}",
        protocol=arm.get("protocol") or study.protocol or HUMAN_RULE,
        arm=a.arm,
        problem=item.problem,
        artifact=item.artifact,
        messages=[Message.model_validate(m) for m in item.messages.get(a.arm, [])],
        checks=[Check(kind=c.kind, args=c.args, cost=c.cost, result=c.result) for c in a.checks],
        verdict=verdict_of(
            study, v, item.artifact["content"] if item.problem["env"] == "text" else None
        ),
        gold=Gold.model_validate(item.gold) if item.gold else None,
        meta={
            "study": study.id,
            "item": item.key,
            "judge": a.judge.name,
            "seconds": v.seconds,
            "reason": v.reason,
            "catch": item.is_catch,
        },
    )


def verdict_of(study: Study, v: VerdictRow, text_artifact: str | None = None) -> Verdict:
    """A stored verdict as the toolkit's :class:`Verdict`. On a text item with two displayed
    answers (``text_artifact``: its content), accepting the proposed answer chooses it and
    rejecting it chooses the other, with the judge's belief as their probabilities; a verdict
    that chose an answer (``v.choice``) keeps it."""
    choice: int | None = None
    probs: list[float] | None = None
    if text_artifact is not None:
        n = len(read_answers(text_artifact))
        proposed = proposed_answer(text_artifact) or 0
        if v.choice is None and n == 2:  # a verdict given as accept or reject
            choice = proposed if v.accept else 1 - proposed
        else:
            choice = v.choice
        if choice is not None and n >= 2:
            # the belief in the chosen answer, from the stored belief in the proposed one
            sure = v.confidence if choice == proposed else 1 - (n - 1) * v.confidence
            probs = [(1 - sure) / (n - 1)] * n
            probs[choice] = sure
    return Verdict(
        accept=v.accept,
        confidence=v.confidence,
        rule=HUMAN_RULE,
        budget=study.budget,
        spent=v.spent,
        choice=choice,
        probs=probs,
    )


def study_transcripts(session: Session, study: Study, catch: bool = True) -> list[Transcript]:
    """Every verdict of a study as a transcript, in the order they were given."""
    return [
        transcript_of(study, a, v)
        for a, v in _judged(session, study)
        if catch or not a.item.is_catch
    ]


def preference_rows(session: Session, study: Study) -> list[PreferenceRow]:
    """Human verdicts as preference pairs (catch trials left out), via the toolkit's export."""
    return preferences_from_transcripts(study_transcripts(session, study, catch=False))


def unpaired_rows(session: Session, study: Study) -> list[UnpairedRow]:
    """Human verdicts as unpaired preference rows (catch trials left out)."""
    return unpaired_from_transcripts(study_transcripts(session, study, catch=False))
