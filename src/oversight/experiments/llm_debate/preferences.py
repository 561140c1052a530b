"""LLM-debate verdicts as TRL preference data (the format of :mod:`oversight.learning.export`).

One pair per judged episode: the prompt is the question (the source is left out: a reward
model trained on this learns what the judge preferred from what the judge saw of the item),
``chosen`` the answer the judge gave the highest probability and ``rejected`` each other
displayed answer. Labels come from the judge's verdicts only; gold is never read. Episodes
whose judgment failed (no choice) are skipped; identical pairs (the two answer orders of a
consistent judge) are written once.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from oversight.core.records import Transcript
from oversight.learning.export import PreferenceRow

PREFERENCE_FILE = "preference.jsonl"


_OPTION = re.compile(r"^[A-Z]: (.*)$")


def displayed_answers(t: Transcript) -> list[str]:
    """The answers the episode showed, in order, read from the artifact (``X: text`` lines,
    see :func:`~oversight.envs.text.records.render_answers`), not from gold."""
    return [m.group(1) for line in t.artifact.content.splitlines() if (m := _OPTION.match(line))]


def prompt_of(t: Transcript) -> str:
    return f"Question: {t.problem.data['question']}\nAnswer:"


def judge_preferences(transcripts: Iterable[Transcript]) -> list[PreferenceRow]:
    """Preference rows from the judge's choices (see the module docstring)."""
    rows: dict[PreferenceRow, None] = {}
    for t in transcripts:
        v = t.verdict
        if v is None or v.choice is None:
            continue
        shown = displayed_answers(t)
        for k, answer in enumerate(shown):
            if k != v.choice:
                row = PreferenceRow(
                    prompt=prompt_of(t),
                    chosen=f" {shown[v.choice]}",
                    rejected=f" {answer}",
                    arm=t.arm,
                )
                rows.setdefault(row, None)
    return list(rows)
