"""Load text items from files: QuALITY (JSON or JSONL), GPQA (CSV) and plain JSONL.

- **QuALITY**: one article per JSON line (or a JSON list of articles) with ``article`` (the
  source), ``article_id`` and ``questions``: each with ``question``, ``options`` and a
  1-based ``gold_label``; ``question_unique_id``, ``difficult`` and ``validation`` (whose most
  chosen wrong ``untimed_answer`` becomes the item's ``distractor``) are used when present.
- **GPQA**: the CSV with columns ``Question``, ``Correct Answer``, ``Incorrect Answer 1..3``
  and ``Explanation``; the explanation is the hidden source the debaters quote. The options are
  shuffled by a seed derived from the record, so the correct one is not always first.
- **Plain JSONL**: one ``{question, answers, correct, source}`` object per line (0-based
  ``correct``), optionally with any other :class:`TextItem` field.

A file in the wrong format raises one :class:`OversightError` line naming the file, the line
or record and the missing or invalid field.
"""

from __future__ import annotations

import csv
import json
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

from pydantic import ValidationError

from oversight.core.errors import OversightError
from oversight.core.seeding import rng
from oversight.envs.text.records import TextItem

Format = Literal["auto", "quality", "gpqa", "jsonl"]
FORMATS = ("auto", "quality", "gpqa", "jsonl")
GPQA_COLUMNS = (
    "Question",
    "Correct Answer",
    "Incorrect Answer 1",
    "Incorrect Answer 2",
    "Incorrect Answer 3",
    "Explanation",
)


def load_items(path: str | Path, format: str = "auto", seed: int = 0) -> list[TextItem]:
    """Every item in ``path``; ``format`` one of :data:`FORMATS` (``auto``: ``.csv`` is GPQA,
    JSON whose first record has ``article`` and ``questions`` is QuALITY, else plain JSONL).
    ``seed`` shuffles GPQA options."""
    p = Path(path)
    if format not in FORMATS:
        raise OversightError(f"format: unknown value {format!r}; allowed: {', '.join(FORMATS)}")
    if not p.is_file():
        raise OversightError(f"{p}: no such file")
    if format == "auto":
        format = _sniff(p)
    if format == "gpqa":
        return load_gpqa(p, seed)
    if format == "quality":
        return load_quality(p)
    return load_jsonl(p)


def _sniff(p: Path) -> str:
    if p.suffix.lower() == ".csv":
        return "gpqa"
    for _, record in _json_records(p):
        if isinstance(record, dict) and "article" in record and "questions" in record:
            return "quality"
        break
    return "jsonl"


def _json_records(p: Path) -> Iterator[tuple[str, Any]]:
    """(where, record) for a JSON list file or a JSONL file; ``where`` names line or record."""
    text = p.read_text(encoding="utf-8")
    if text.lstrip().startswith("["):
        try:
            data = json.loads(text)
        except json.JSONDecodeError as e:
            raise OversightError(f"{p}: line {e.lineno}: not valid JSON ({e.msg})") from None
        for i, record in enumerate(data):
            yield f"record {i}", record
        return
    for n, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            yield f"line {n}", json.loads(line)
        except json.JSONDecodeError as e:
            raise OversightError(f"{p}: line {n}: not valid JSON ({e.msg})") from None


def _field_error(e: ValidationError) -> str:
    first = e.errors()[0]
    key = ".".join(str(x) for x in first["loc"]) or "(record)"
    if first["type"] == "missing":
        return f"missing field {key!r}"
    return f"invalid field {key!r}: {first['msg']}"


def _item(where: str, p: Path, **fields: Any) -> TextItem:
    try:
        return TextItem(**fields)
    except ValidationError as e:
        raise OversightError(f"{p}: {where}: {_field_error(e)}") from None


def _need(record: Any, key: str, kind: type, p: Path, where: str) -> Any:
    if not isinstance(record, dict):
        raise OversightError(f"{p}: {where}: expected a JSON object, got {type(record).__name__}")
    if key not in record:
        raise OversightError(f"{p}: {where}: missing field {key!r}")
    value = record[key]
    if not isinstance(value, kind) or isinstance(value, bool):
        raise OversightError(
            f"{p}: {where}: invalid field {key!r}: expected {kind.__name__}, "
            f"got {type(value).__name__}"
        )
    return value


def load_jsonl(path: str | Path) -> list[TextItem]:
    """Plain JSONL items; a missing ``id`` becomes ``FILESTEM-LINE``."""
    p = Path(path)
    out = []
    for where, record in _json_records(p):
        if not isinstance(record, dict):
            raise OversightError(f"{p}: {where}: expected a JSON object")
        fields = {"id": f"{p.stem}-{where.split()[-1]}", "dataset": p.stem, **record}
        out.append(_item(where, p, **fields))
    return out


def load_quality(path: str | Path) -> list[TextItem]:
    """QuALITY articles, one item per question (``gold_label`` is 1-based)."""
    p = Path(path)
    out = []
    for where, record in _json_records(p):
        article = _need(record, "article", str, p, where)
        questions = _need(record, "questions", list, p, where)
        article_id = str(record.get("article_id", where.replace(" ", "")))
        for j, q in enumerate(questions):
            at = f"{where}, questions[{j}]"
            options = _need(q, "options", list, p, at)
            label = _need(q, "gold_label", int, p, at)
            if not 1 <= label <= len(options):
                raise OversightError(
                    f"{p}: {at}: invalid field 'gold_label': {label} is not in 1..{len(options)}"
                )
            distractor = _best_distractor(q.get("validation"), label, len(options))
            out.append(
                _item(
                    at,
                    p,
                    id=str(q.get("question_unique_id", f"{article_id}-{j}")),
                    question=_need(q, "question", str, p, at),
                    answers=[str(o) for o in options],
                    correct=label - 1,
                    source=article,
                    dataset="quality",
                    difficulty=("hard" if q["difficult"] else "easy") if "difficult" in q else None,
                    distractor=distractor,
                    meta={"article_id": article_id, "title": record.get("title", "")},
                )
            )
    return out


def _best_distractor(validation: Any, label: int, n: int) -> int | None:
    """The wrong option annotators chose most often (0-based), if any did."""
    if not isinstance(validation, list):
        return None
    votes = Counter(
        v["untimed_answer"]
        for v in validation
        if isinstance(v, dict)
        and isinstance(v.get("untimed_answer"), int)
        and v["untimed_answer"] != label
        and 1 <= v["untimed_answer"] <= n
    )
    return votes.most_common(1)[0][0] - 1 if votes else None


def load_gpqa(path: str | Path, seed: int = 0) -> list[TextItem]:
    """GPQA rows; the explanation is the source, options shuffled per record."""
    p = Path(path)
    with open(p, newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        header = reader.fieldnames or []
        missing = [c for c in GPQA_COLUMNS if c not in header]
        if missing:
            raise OversightError(f"{p}: line 1: missing column {missing[0]!r} in the header")
        out = []
        for row in reader:
            where = f"line {reader.line_num}"
            for c in GPQA_COLUMNS:
                if not (row.get(c) or "").strip():
                    raise OversightError(f"{p}: {where}: missing field {c!r} (empty)")
            rid = (row.get("Record ID") or "").strip() or f"{p.stem}-{reader.line_num}"
            options = [row["Correct Answer"].strip()] + [
                row[f"Incorrect Answer {i}"].strip() for i in (1, 2, 3)
            ]
            perm = rng(seed, "gpqa", rid).permutation(len(options))
            shown = [options[int(i)] for i in perm]
            out.append(
                _item(
                    where,
                    p,
                    id=rid,
                    question=row["Question"].strip(),
                    answers=shown,
                    correct=int(list(perm).index(0)),
                    source=row["Explanation"].strip(),
                    dataset="gpqa",
                    difficulty=(row.get("Writer's Difficulty Estimate") or "").strip() or None,
                    meta={"domain": (row.get("High-level domain") or "").strip()},
                )
            )
    return out
