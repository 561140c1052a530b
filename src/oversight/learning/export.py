"""Export a run's transcripts as reward-model training data in TRL's dataset formats.

Two formats, one spec shared by every trainer (TRL's "Dataset formats" documentation: the
explicit-prompt preference and unpaired-preference types):

- preference: ``{"prompt", "chosen", "rejected"}`` and, only when set, ``"margin"``
  (the Bradley-Terry loss is ``-log sigmoid(r_chosen - r_rejected - margin)``);
- unpaired preference: ``{"prompt", "completion", "label"}``.

Each comes in TRL's standard type (plain text) or, on request, its conversational type (lists
of ``{"role", "content"}`` turns: the prompt a user turn, completions assistant turns), so that
a chat model trains with its chat template. Every row also has ``arm``, the arm whose judge
labelled it (TRL's trainers drop the column).

What a row holds depends on the environment. Program runs: the prompt asks for an improvement
of the reference program R; the completion is the artifact P. Text runs (``text-debate``,
``llm-debate``): the prompt is the question (the hidden source is left out: a reward model
trained on this learns what the judge preferred from what the judge saw), the completions are
the displayed answers, and the judge's chosen answer is preferred to each other one.

Labels come from the judge's verdict by default: that is the oversight signal a reward model
would really be trained on, and the default path never reads
:class:`~oversight.core.records.Gold`. ``label_source="gold"`` exists only to train the
gold-labelled ceiling, and must be asked for explicitly.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, TypeVar

from pydantic import BaseModel, ConfigDict

from oversight.core.errors import OversightError
from oversight.core.jsonl import read_jsonl
from oversight.core.records import Transcript
from oversight.core.runs import TRANSCRIPTS, RunStore
from oversight.envs.text.records import read_answers

LabelSource = Literal["judge", "gold"]
MarginSource = Literal["saving"]
LABEL_SOURCES: tuple[str, ...] = ("judge", "gold")

PREFERENCE_FILE = "preference.jsonl"
UNPAIRED_FILE = "unpaired.jsonl"


class Row(BaseModel):
    """A dataset row: the keys TRL reads, and ``arm``, the arm whose judge labelled it (a
    column TRL's trainers drop; filter on it to train on one arm's verdicts)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    def to_json(self) -> str:
        # An unset margin is left out rather than written as null: TRL treats a present
        # ``margin`` column as a margin for every row.
        return self.model_dump_json(exclude_none=True)


class PreferenceRow(Row):
    """One preference pair: ``chosen`` was judged better than ``rejected`` for ``prompt``."""

    prompt: str
    chosen: str
    rejected: str
    margin: float | None = None
    arm: str | None = None


class UnpairedRow(Row):
    """One unpaired preference: ``completion`` for ``prompt`` was judged good (``label``) or not."""

    prompt: str
    completion: str
    label: bool
    arm: str | None = None


class ChatTurn(BaseModel):
    """One turn of a conversational row."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    role: Literal["system", "user", "assistant"]
    content: str


class ChatPreferenceRow(Row):
    """:class:`PreferenceRow` in TRL's conversational type."""

    prompt: list[ChatTurn]
    chosen: list[ChatTurn]
    rejected: list[ChatTurn]
    margin: float | None = None
    arm: str | None = None


class ChatUnpairedRow(Row):
    """:class:`UnpairedRow` in TRL's conversational type."""

    prompt: list[ChatTurn]
    completion: list[ChatTurn]
    label: bool
    arm: str | None = None


def conversational(row: PreferenceRow | UnpairedRow) -> ChatPreferenceRow | ChatUnpairedRow:
    """``row`` in TRL's conversational type: the prompt a user turn, completions assistant
    turns (their leading space, which only joins plain text, dropped)."""

    def user(text: str) -> list[ChatTurn]:
        return [ChatTurn(role="user", content=text)]

    def assistant(text: str) -> list[ChatTurn]:
        return [ChatTurn(role="assistant", content=text.strip())]

    if isinstance(row, PreferenceRow):
        return ChatPreferenceRow(
            prompt=user(row.prompt),
            chosen=assistant(row.chosen),
            rejected=assistant(row.rejected),
            margin=row.margin,
            arm=row.arm,
        )
    return ChatUnpairedRow(
        prompt=user(row.prompt), completion=assistant(row.completion), label=row.label, arm=row.arm
    )


RowT = TypeVar("RowT", bound=Row)


def prompt_for(transcript: Transcript) -> str:
    """The plain-text prompt for a transcript's problem: for a program, the task and the
    reference program R; for a text item, its question.

    Raises :class:`OversightError` for a problem of another kind."""
    data = transcript.problem.data
    if transcript.problem.env == "text":
        return f"Question: {data['question']}\nAnswer:"
    reference = data.get("reference")
    if not isinstance(reference, str):
        raise OversightError(
            f"episode {transcript.episode_id}: problem {transcript.problem.id} has no reference "
            f"program (env {transcript.problem.env!r}); program and text problems can be "
            "exported"
        )
    inputs = f"every {data['bits']}-bit input" if "bits" in data else "every input"
    return (
        "Improve the reference program below. Write a program that computes exactly the same "
        f"output as the reference on {inputs} and has fewer lines.\n\n"
        f"Reference program:\n{reference.rstrip()}\n\n"
        "Improved program:\n"
    )


def completions(t: Transcript, label_source: LabelSource = "judge") -> list[_Candidate]:
    """The labelled completions one transcript contributes (none without a label): the
    artifact for a program; each displayed answer for a text item, good when it is the one
    chosen (by the judge, or gold's correct one)."""
    if t.problem.env != "text":
        label = _labeller(label_source)(t)
        return [] if label is None else [_Candidate.of(t, label)]
    chosen = _text_choice(t, label_source)
    if chosen is None:
        return []
    return [
        _Candidate(f" {answer}", None, f"{t.artifact.id}#{k}", k == chosen)
        for k, answer in enumerate(read_answers(t.artifact.content))
    ]


def _text_choice(t: Transcript, label_source: LabelSource) -> int | None:
    """The displayed answer a text transcript prefers: the judge's choice, or with gold
    labels the correct one."""
    if label_source == "judge":
        return None if t.verdict is None else t.verdict.choice
    return None if t.gold is None else int(t.gold.info["correct"])


def unpaired_from_transcripts(
    transcripts: Iterable[Transcript],
    label_source: LabelSource = "judge",
    arm: str | None = None,
) -> list[UnpairedRow]:
    """One unpaired row per artifact, labelled by the judge's verdict (``verdict.accept``).

    With the default ``label_source="judge"`` gold is never read. ``label_source="gold"``
    labels with ``gold.label`` instead; it is for the gold-trained ceiling only. Transcripts
    without the chosen label (no verdict, or no gold) are skipped. Identical rows from the same
    arm are written once. ``arm`` keeps only that arm's transcripts.
    """
    _labeller(label_source)  # an unknown source fails before anything is read
    rows: dict[UnpairedRow, None] = {}
    for t in select_arm(list(transcripts), arm):
        for c in completions(t, label_source):
            row = UnpairedRow(prompt=prompt_for(t), completion=c.content, label=c.good, arm=t.arm)
            # Keyed by arm too: two arms judging the same artifact are two observations.
            rows.setdefault(row, None)
    return list(rows)


def preferences_from_transcripts(
    transcripts: Iterable[Transcript],
    label_source: LabelSource = "judge",
    arm: str | None = None,
    *,
    margin: MarginSource | None = None,
    cap: int | None = None,
    seed: int = 0,
) -> list[PreferenceRow]:
    """Preference pairs: within one problem (one prompt) and one arm, each accepted artifact is
    paired with each rejected one, the accepted one as ``chosen``.

    Labels come from the judge's verdict by default and gold is then never read;
    ``label_source="gold"`` (gold-trained ceiling only) pairs by ``gold.label`` instead.
    Identical artifact texts count once (the first one seen), and a text is never paired with
    itself. ``cap`` keeps at most that many pairs per problem and arm, drawn by a shuffle seeded
    from ``seed``, the arm and the problem, so a problem's sample does not depend on which other
    problems or arms are exported. ``margin="saving"`` sets the margin to the chosen artifact's
    claimed saving minus the rejected one's; by default there is no margin.
    """
    if cap is not None and cap < 0:
        raise OversightError(f"cap must be 0 or more, got {cap}")
    if margin not in (None, "saving"):
        raise OversightError(f"margin: unknown value {margin!r}; allowed: saving")
    _labeller(label_source)  # an unknown source fails before anything is read
    rows: list[PreferenceRow] = []
    for (arm_name, prompt), group in _groups(select_arm(list(transcripts), arm)).items():
        accepted, rejected = _split(group, label_source)
        pairs = [(c, r) for c in accepted for r in rejected if c.content != r.content]
        if cap is not None and len(pairs) > cap:
            rng = random.Random(f"{seed}:{arm_name}:{group[0].problem.id}")
            keep = sorted(rng.sample(range(len(pairs)), cap))  # sorted: stable file order
            pairs = [pairs[i] for i in keep]
        for c, r in pairs:
            gap = _saving_gap(c, r) if margin == "saving" else None
            rows.append(
                PreferenceRow(
                    prompt=prompt, chosen=c.content, rejected=r.content, margin=gap, arm=arm_name
                )
            )
    return rows


def export_run(
    run_dir: str | Path,
    out_dir: str | Path,
    label_source: LabelSource = "judge",
    arm: str | None = None,
    *,
    margin: MarginSource | None = None,
    cap: int | None = None,
    seed: int = 0,
    chat: bool = False,
) -> dict[str, Path]:
    """Write a run's transcripts as ``preference.jsonl`` and ``unpaired.jsonl`` in ``out_dir``.

    Returns ``{"preference": path, "unpaired": path}``. Labels come from the judge unless
    ``label_source="gold"`` is given (gold-trained ceiling only). ``arm`` keeps only the
    transcripts of that arm; without it every arm contributes its own rows. ``chat`` writes
    TRL's conversational type. Existing files of those names are replaced. Raises
    :class:`OversightError` for a folder without transcripts or an arm the run does not have.
    """
    transcripts = read_transcripts(run_dir)
    select_arm(transcripts, arm)  # fail on an unknown arm before writing anything
    preference = preferences_from_transcripts(
        transcripts, label_source, arm, margin=margin, cap=cap, seed=seed
    )
    unpaired = unpaired_from_transcripts(transcripts, label_source, arm)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    shaped: tuple[list[Row], list[Row]] = (list(preference), list(unpaired))
    if chat:
        shaped = ([conversational(r) for r in preference], [conversational(r) for r in unpaired])
    return {
        "preference": write_rows(out / PREFERENCE_FILE, shaped[0]),
        "unpaired": write_rows(out / UNPAIRED_FILE, shaped[1]),
    }


def read_transcripts(run_dir: str | Path) -> list[Transcript]:
    """A run folder's transcripts; :class:`OversightError` when it has none."""
    path = Path(run_dir)
    if not path.is_dir():
        raise OversightError(f"no such run folder: {path}")
    transcripts = RunStore(path).transcripts()
    if not transcripts:
        raise OversightError(f"{path} holds no transcripts (no or empty {TRANSCRIPTS})")
    return transcripts


def select_arm(transcripts: list[Transcript], arm: str | None) -> list[Transcript]:
    """The transcripts of one arm (all of them when ``arm`` is None).

    Raises :class:`OversightError` naming the arms present when ``arm`` is not one of them."""
    if arm is None:
        return transcripts
    kept = [t for t in transcripts if t.arm == arm]
    if not kept:
        present = sorted({t.arm for t in transcripts})
        raise OversightError(
            f"unknown arm {arm!r}; arms in this run: {', '.join(map(repr, present)) or 'none'}"
        )
    return kept


def write_rows(path: str | Path, rows: Iterable[Row]) -> Path:
    """Write rows as JSONL, one object per line, replacing any file there; returns the path.

    Writes to a temporary file first, so an interrupted export never leaves a half file."""
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text("".join(r.to_json() + "\n" for r in rows), encoding="utf-8")
    tmp.replace(path)
    return path


def read_preferences(path: str | Path) -> list[PreferenceRow] | list[ChatPreferenceRow]:
    """A preference file in either of TRL's types (told by its first row's ``prompt``)."""
    path = Path(path)
    if not path.is_file():
        raise OversightError(f"no such file: {path}")
    with path.open(encoding="utf-8") as f:
        first = next((line for line in f if line.strip()), "")
    chat = first and isinstance(json.loads(first).get("prompt"), list)
    return read_rows(path, ChatPreferenceRow) if chat else read_rows(path, PreferenceRow)


def read_rows(path: str | Path, model: type[RowT]) -> list[RowT]:
    """Read rows written by :func:`write_rows` back as ``model`` (PreferenceRow or UnpairedRow)."""
    path = Path(path)
    if not path.is_file():
        raise OversightError(f"no such file: {path}")
    return list(read_jsonl(path, model))


def _labeller(label_source: str) -> Callable[[Transcript], bool | None]:
    """The function that reads a transcript's label; only the gold one touches ``gold``."""
    if label_source == "judge":
        return lambda t: None if t.verdict is None else t.verdict.accept
    if label_source == "gold":
        return lambda t: None if t.gold is None else t.gold.label
    raise OversightError(
        f"label source: unknown value {label_source!r}; allowed: {', '.join(LABEL_SOURCES)}"
    )


def _groups(transcripts: list[Transcript]) -> dict[tuple[str, str], list[Transcript]]:
    """Transcripts by (arm, prompt), in order of first appearance."""
    groups: dict[tuple[str, str], list[Transcript]] = {}
    for t in transcripts:
        groups.setdefault((t.arm, prompt_for(t)), []).append(t)
    return groups


@dataclass(frozen=True)
class _Candidate:
    """A completion that may take part in a pair, with its label."""

    content: str
    claimed_saving: float | None
    artifact_id: str
    good: bool

    @classmethod
    def of(cls, t: Transcript, good: bool) -> _Candidate:
        a = t.artifact
        return cls(a.content, a.claimed_saving, a.id, good)


def _split(
    group: list[Transcript], label_source: LabelSource
) -> tuple[list[_Candidate], list[_Candidate]]:
    """A group's distinct completions, accepted and rejected, each in first-seen order."""
    accepted: dict[str, _Candidate] = {}
    rejected: dict[str, _Candidate] = {}
    for t in group:
        for c in completions(t, label_source):
            (accepted if c.good else rejected).setdefault(c.content, c)
    return list(accepted.values()), list(rejected.values())


def _saving_gap(chosen: _Candidate, rejected: _Candidate) -> float:
    """Claimed saving of the chosen artifact minus that of the rejected one."""
    return _claimed(chosen) - _claimed(rejected)


def _claimed(c: _Candidate) -> float:
    if c.claimed_saving is None:
        # A made-up zero would be a wrong margin; better to say so.
        raise OversightError(
            f"margin='saving' needs a claimed saving; artifact {c.artifact_id} has none"
        )
    return float(c.claimed_saving)
