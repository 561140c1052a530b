"""Inspect logs of text-protocol runs: one ``.eval`` file per arm, one sample per episode.

A sample holds what the protocol's judge saw (the question and the displayed answers as
``input`` and ``choices``; the speeches as messages), the correct letter as ``target``, the
judge's verdict as ``output``, every model call of the episode as a model event (from the run's
``calls.jsonl``) and two scores: ``judge_correct`` (``C``, ``I``, or ``N`` for an unparsed,
refused or tied judgment) and ``p_correct`` (the judge's probability of the correct answer).
``inspect view`` and ``inspect_ai.log.read_eval_log`` open these files, and Inspect's
dataframes (``inspect_ai.analysis``) read them, so LLM runs sit beside other Inspect evals.

The toolkit's run folder stays the record a resume works from; these logs are written from it
at the end of a run and can be rewritten at any time (:func:`write_inspect_logs`).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from oversight.core.records import Transcript
from oversight.envs.text.records import LETTERS, read_answers
from oversight.judges.llm import judgment_failed
from oversight.models.base import ModelCall

LOGS = "inspect"
"""Folder of the Inspect logs inside a run folder."""


def write_inspect_logs(
    folder: Path,
    task: str,
    transcripts: Sequence[Transcript],
    calls: Iterable[ModelCall] = (),
    task_args: Mapping[str, Any] | None = None,
) -> list[Path]:
    """Write one Inspect log per arm of ``transcripts`` into ``folder`` (replacing earlier
    ones); return their paths. ``task`` names the Inspect task (e.g. ``oversight/llm-debate``)."""
    from inspect_ai.log import write_eval_log

    by_episode: dict[str, list[ModelCall]] = defaultdict(list)
    for c in calls:
        by_episode[c.episode_id].append(c)
    by_arm: dict[str, list[Transcript]] = defaultdict(list)
    for t in transcripts:
        by_arm[t.arm or t.protocol].append(t)
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for arm, group in sorted(by_arm.items()):
        samples = [_sample(t, by_episode.get(t.episode_id, [])) for t in group]
        path = folder / f"{_file_name(arm)}.eval"
        write_eval_log(_log(task, arm, group, samples, dict(task_args or {})), path)
        out.append(path)
    return out


def _file_name(arm: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in arm)


def correct_letter(t: Transcript) -> str:
    """The displayed letter of the correct answer."""
    return LETTERS[int(t.require_gold().info["correct"])]


def _judgment(t: Transcript) -> tuple[str, str | None, float | None]:
    """The score value (C, I or N), the chosen letter and the probability of the correct one."""
    v = t.verdict
    if v is None or v.probs is None or judgment_failed(v):
        return "N", None, None
    correct = int(t.require_gold().info["correct"])
    p = float(v.probs[correct])
    if v.choice is None:
        return "N", None, p
    return ("C" if v.choice == correct else "I"), LETTERS[v.choice], p


def _sample(t: Transcript, calls: Sequence[ModelCall]) -> Any:
    from inspect_ai.log import EvalSample
    from inspect_ai.model import ChatMessageAssistant, ChatMessageUser, ModelOutput
    from inspect_ai.scorer import Score

    value, answer, p = _judgment(t)
    v = t.verdict
    probs = ", ".join(f"{LETTERS[i]}: {q:.3f}" for i, q in enumerate(v.probs or [])) if v else ""
    judge_model = t.meta.get("models", {}).get("judge", "none/none")
    messages: list[Any] = [ChatMessageUser(content=t.problem.data["question"])]
    messages += [
        ChatMessageAssistant(
            content=m.text, metadata={"role": m.role, "round": m.round}, model=None
        )
        for m in t.messages
        if m.visible_to_judge
    ]
    verdict = f"judge: {answer or 'no choice'} ({probs})"
    messages.append(ChatMessageAssistant(content=verdict, metadata={"role": "judge"}))
    return EvalSample(
        id=t.episode_id,
        epoch=1,
        input=t.problem.data["question"],
        choices=read_answers(t.artifact.content),
        target=correct_letter(t),
        messages=messages,
        output=ModelOutput.from_content(judge_model, verdict),
        scores={
            "judge_correct": Score(value=value, answer=answer, explanation=v.rule if v else ""),
            "p_correct": Score(value=p if p is not None else float("nan")),
        },
        metadata={
            "protocol": t.protocol,
            "arm": t.arm,
            "item": t.meta.get("item", t.problem.id),
            "display": t.meta.get("display", ""),
            "models": t.meta.get("models", {}),
            "verdict_rule": v.rule if v else "",
        },
        events=[_event(c) for c in calls],
        model_usage=_usage(calls),
    )


def _event(c: ModelCall) -> Any:
    from inspect_ai.event import ModelEvent
    from inspect_ai.model import ChatMessageUser, GenerateConfig, ModelOutput, ModelUsage

    out = ModelOutput.from_content(
        c.model, c.completion, stop_reason="content_filter" if c.refused else "stop"
    )
    out.usage = ModelUsage(
        input_tokens=c.input_tokens,
        output_tokens=c.output_tokens,
        total_tokens=c.input_tokens + c.output_tokens,
    )
    s = c.sampling
    config = GenerateConfig(
        max_tokens=s.max_tokens,
        temperature=s.temperature,
        logprobs=True if s.top_logprobs else None,
        top_logprobs=s.top_logprobs or None,
    )
    return ModelEvent(
        model=c.model,
        role=c.role,
        input=[ChatMessageUser(content=c.prompt)],
        tools=[],
        tool_choice="none",
        config=config,
        output=out,
        cache="read" if c.cached else None,
        metadata={"sample": s.sample} if s.sample else None,
    )


def _usage(calls: Sequence[ModelCall]) -> dict[str, Any]:
    from inspect_ai.model import ModelUsage

    out: dict[str, Any] = {}
    for c in calls:
        if c.cached:
            continue
        u = out.setdefault(c.model, ModelUsage())
        u.input_tokens += c.input_tokens
        u.output_tokens += c.output_tokens
        u.total_tokens += c.input_tokens + c.output_tokens
    return out


def _log(
    task: str,
    arm: str,
    transcripts: Sequence[Transcript],
    samples: list[Any],
    task_args: dict[str, Any],
) -> Any:
    from inspect_ai.log import (
        EvalConfig,
        EvalDataset,
        EvalLog,
        EvalMetric,
        EvalResults,
        EvalScore,
        EvalSpec,
        EvalStats,
    )

    models = transcripts[0].meta.get("models", {}) if transcripts else {}
    now = datetime.now(UTC).isoformat()
    values = [s.scores["judge_correct"].value for s in samples]
    scored = [x for x in values if x != "N"]
    accuracy = sum(x == "C" for x in scored) / len(scored) if scored else float("nan")
    usage: dict[str, Any] = {}
    for s in samples:
        for name, u in s.model_usage.items():
            usage[name] = usage[name] + u if name in usage else u
    return EvalLog(
        status="success",
        eval=EvalSpec(
            created=now,
            task=task,
            task_args={**task_args, "arm": arm},
            dataset=EvalDataset(name=arm, samples=len(samples)),
            model=models.get("judge", "none/none"),
            config=EvalConfig(),
            metadata={"arm": arm, "models": models},
        ),
        results=EvalResults(
            total_samples=len(samples),
            completed_samples=len(samples),
            scores=[
                EvalScore(
                    name="judge_correct",
                    scorer="judge_correct",
                    scored_samples=len(scored),
                    unscored_samples=len(values) - len(scored),
                    metrics={"accuracy": EvalMetric(name="accuracy", value=accuracy)},
                )
            ],
        ),
        stats=EvalStats(started_at=now, completed_at=now, model_usage=usage),
        samples=samples,
    )
