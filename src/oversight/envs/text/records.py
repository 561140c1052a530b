"""Text items (reading comprehension with a hidden source) and how they map onto the engine.

A :class:`TextItem` is one multiple-choice question about a source text. Conventions for
playing it on the protocol engine (:mod:`oversight.protocols.engine`):

- **Problem** (:func:`text_problem`): ``id`` is the item id, ``env`` is ``"text"``, ``data``
  holds ``question``, ``answers`` (all options, original order), ``source`` and ``dataset``.
  ``correct`` is never in the problem. The source is in ``data`` so transcripts are
  self-contained and agents can read it; **judges must not read** ``data["source"]``: they see
  :func:`judge_view` (question, options, and messages with quotes marked verified or not).
- **Displayed answers**: an episode shows a subset of the options in a given order (``shown``:
  indices into ``item.answers``, e.g. the correct answer and one distractor, both orders).
  Every index an agent or judge uses (positions, ``Verdict.choice``, ``Verdict.probs``) is into
  the *displayed* answers; letters A, B, ... name them.
- **Artifact** (:func:`text_episode`): the claimed answer under evaluation. ``content`` renders
  the displayed options (``A: ...`` one per line) followed by ``Proposed: X``; ``proposed``
  in the context is that answer's displayed index: debater A's answer in debate, the
  consultant's in consultancy, the answerer's in critique-assisted judging, answer A for the
  judge alone. ``Verdict.accept`` means the judge chose the proposed answer, so
  ``accept == gold.label`` is judge accuracy as for every other environment.
- **Context** (:class:`TextContext`): the displayed question and answers, the source (for
  agents and quote verification), and ``positions``: the displayed answer each role argues.
  It holds no gold: which answer is correct lives in :class:`~oversight.core.records.Gold`
  (``label``; ``info["correct"]`` the displayed index; ``info["evidence"]`` the source spans
  that support it, when known), attached after the verdict.
- **Verdict**: a text judge sets ``choice`` (displayed index it picks), ``probs`` (its
  probability per displayed answer), ``accept`` (``choice == proposed``) and ``confidence``
  (``probs[proposed]``: its belief that the artifact, the proposed answer, is correct).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from pydantic import Field, model_validator

from oversight.core.config import Strict
from oversight.core.records import Artifact, Gold, Problem
from oversight.envs.base import Case
from oversight.envs.text.quotes import (
    SourceIndex,
    render_for_judge,
    source_index,
    verify_quotes,
)

ENV_NAME = "text"
LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"


class TextItem(Strict):
    """One multiple-choice question about a source text the judge does not see.

    ``evidence``: character spans ``[start, end)`` of the source that state the correct answer,
    when known (the generated stories plant them). ``distractor``: the index of the wrong
    answer to debate against when only two are shown (default: the first wrong one).
    """

    id: str = Field(min_length=1)
    question: str = Field(min_length=1)
    answers: list[str] = Field(min_length=2, max_length=len(LETTERS))
    correct: int = Field(ge=0)
    source: str = Field(min_length=1)
    dataset: str = ""
    difficulty: float | str | None = None
    evidence: list[tuple[int, int]] = Field(default_factory=list)
    distractor: int | None = None
    meta: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _check(self) -> TextItem:
        n = len(self.answers)
        if self.correct >= n:
            raise ValueError(f"correct is {self.correct}, but there are only {n} answers")
        if any(not a.strip() for a in self.answers):
            raise ValueError("answers must not be empty")
        if len(set(self.answers)) != n:
            raise ValueError("answers must be distinct")
        if self.distractor is not None and not (
            0 <= self.distractor < n and self.distractor != self.correct
        ):
            raise ValueError(f"distractor must index a wrong answer (0..{n - 1}, not correct)")
        for a, b in self.evidence:
            if not 0 <= a < b <= len(self.source):
                raise ValueError(f"evidence span {[a, b]} lies outside the source")
        return self

    @property
    def wrong(self) -> int:
        """The wrong answer argued against the correct one in two-answer protocols."""
        if self.distractor is not None:
            return self.distractor
        return next(i for i in range(len(self.answers)) if i != self.correct)

    def pair_orders(self) -> list[tuple[int, int]]:
        """The two displays of correct vs :attr:`wrong`: correct first, then correct second."""
        return [(self.correct, self.wrong), (self.wrong, self.correct)]


@dataclass(frozen=True)
class TextContext:
    """What agents and the environment may read in a text episode (no gold)."""

    item_id: str
    question: str
    answers: tuple[str, ...]
    source: str
    positions: Mapping[str, int] = field(default_factory=dict)
    proposed: int = 0
    index: SourceIndex = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "index", source_index(self.source))

    def position(self, role: str) -> int:
        """The displayed answer ``role`` argues."""
        if role not in self.positions:
            raise KeyError(f"role {role!r} has no position; positions: {dict(self.positions)}")
        return self.positions[role]


def text_problem(item: TextItem, seed: int = 0, knobs: Mapping[str, Any] | None = None) -> Problem:
    """The engine problem of an item (no ``correct`` in it)."""
    return Problem(
        id=item.id,
        env=ENV_NAME,
        seed=seed,
        data={
            "question": item.question,
            "answers": list(item.answers),
            "source": item.source,
            "dataset": item.dataset,
        },
        knobs=dict(knobs or {}),
    )


def render_answers(answers: Sequence[str]) -> str:
    """Displayed options, one ``X: text`` per line."""
    return "\n".join(f"{LETTERS[i]}: {a}" for i, a in enumerate(answers))


_OPTION = re.compile(r"^[A-Z]: (.*)$")


def proposed_answer(content: str) -> int | None:
    """The displayed index of an artifact's ``Proposed: X`` line (None without one)."""
    for line in content.splitlines():
        letter = line.removeprefix("Proposed: ").strip()
        if line.startswith("Proposed: ") and len(letter) == 1 and letter in LETTERS:
            return LETTERS.index(letter)
    return None


def read_answers(content: str) -> list[str]:
    """The displayed options of an artifact's content, in order (the inverse of
    :func:`render_answers`; other lines, such as ``Proposed: A``, are ignored)."""
    return [m.group(1) for line in content.splitlines() if (m := _OPTION.match(line))]


def text_episode(
    item: TextItem,
    shown: Sequence[int],
    positions: Mapping[str, int],
    proposed: int = 0,
    tag: str = "",
    author: str = "",
    problem: Problem | None = None,
) -> Case[TextContext]:
    """One display of ``item``: options ``shown`` (indices into ``item.answers``) in order,
    ``positions`` (role -> displayed index it argues), ``proposed`` (displayed index the
    artifact claims). ``tag`` distinguishes artifact ids of several displays of one item."""
    if len(set(shown)) != len(shown) or not all(0 <= i < len(item.answers) for i in shown):
        raise ValueError(f"shown must be distinct indices into {len(item.answers)} answers")
    if item.correct not in shown:
        raise ValueError("shown must include the correct answer")
    bad = {r: p for r, p in positions.items() if not 0 <= p < len(shown)}
    if bad or not 0 <= proposed < len(shown):
        raise ValueError(f"positions {bad or dict(positions)} / proposed {proposed} out of range")
    answers = tuple(item.answers[i] for i in shown)
    problem = problem or text_problem(item)
    ctx = TextContext(item.id, item.question, answers, item.source, dict(positions), proposed)
    content = f"{render_answers(answers)}\nProposed: {LETTERS[proposed]}"
    order = "".join(str(i) for i in shown)
    artifact = Artifact(
        id=f"{item.id}/{tag or 'o' + order}",
        problem_id=problem.id,
        content=content,
        author=author or "proposer",
    )
    correct = list(shown).index(item.correct)
    gold = Gold(
        label=proposed == correct,
        value=float(proposed == correct),
        kind="correct" if proposed == correct else "wrong",
        info={
            "correct": correct,
            "shown": list(shown),
            "evidence": [list(s) for s in item.evidence],
        },
    )
    return Case(problem, artifact, ctx, gold)


def judge_view(
    context: TextContext, messages: Sequence[Any], roles: Mapping[str, str] | None = None
) -> str:
    """What a text judge reads: the question, the displayed options and every message (each a
    :class:`~oversight.core.records.Message`) with quotes rendered verified or unverified.
    ``roles`` renames roles for display (e.g. ``debater_a`` -> ``Debater A``)."""
    names = roles or {}
    lines = [f"Question: {context.question}", render_answers(context.answers), ""]
    for m in messages:
        who = names.get(m.role, m.role)
        lines.append(f"[{who}, round {m.round}] {render_for_judge(m.text, context.index)}")
    return "\n".join(lines)


def quote_records(context: TextContext, messages: Sequence[Any]) -> list[dict[str, Any]]:
    """Every quote in ``messages`` verified against the source, for ``Transcript.meta``:
    ``{message, text, start, end, verified}`` with ``message`` the index in ``messages`` and
    ``[start, end)`` the source span (``None`` when unverified)."""
    return [
        {"message": i, "text": q.text, "start": q.start, "end": q.end, "verified": q.verified}
        for i, m in enumerate(messages)
        for q in verify_quotes(m.text, context.index)
    ]
