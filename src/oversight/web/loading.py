"""Study creation from a JSONL file of transcripts, in the background, in small transactions.

:func:`prepare` reads the file once, holding only byte offsets in memory, to learn which
artifacts there are and which sources the arms can show, and checks the spec and the arms
before anything is stored (a line that is not a transcript is skipped and reported by number,
never quoted). :func:`start` stores the study's row and judges; :func:`load` (on a thread, for
large files: :func:`start_loading`) reads :data:`BATCH` artifacts at a time and stores and
assigns their items, one short transaction each, so judges keep working while a large data
set loads. Progress and the
report live in the study's ``design["loading"]``: ``state`` (``loading``, ``done`` or
``failed``), ``items`` stored, ``skipped`` lines and ``error``.
"""

from __future__ import annotations

import random
import threading
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from oversight.core.errors import OversightError
from oversight.core.records import Transcript
from oversight.web.db import Database
from oversight.web.models import Study
from oversight.web.studies import (
    ArmSpec,
    NewItem,
    Sources,
    StudySpec,
    add_items,
    catch_items,
    items_from_transcripts,
    new_study,
    resolve_arms,
)

BATCH = 200
"""Artifacts stored per transaction."""
SKIPPED_SHOWN = 50
"""Skipped lines the report lists (all are counted)."""


@dataclass
class Scan:
    """What the first pass learns: each artifact's lines (byte offset, length) in first-seen
    order, the sources, and the lines skipped."""

    groups: dict[str, list[tuple[int, int]]] = field(default_factory=dict)
    sources: Sources = field(default_factory=Sources)
    skipped: list[str] = field(default_factory=list)
    skipped_count: int = 0


def scan(path: Path) -> Scan:
    """The first pass over a JSONL file of transcripts."""
    out = Scan()
    offset = 0
    with open(path, "rb") as f:
        for number, line in enumerate(f, start=1):
            if line.strip():
                try:
                    t = Transcript.model_validate_json(line)
                except ValidationError as e:
                    out.skipped_count += 1
                    if len(out.skipped) < SKIPPED_SHOWN:
                        out.skipped.append(
                            f"line {number}: not a transcript ({e.error_count()} errors)"
                        )
                else:
                    out.groups.setdefault(t.artifact.id, []).append((offset, len(line)))
                    out.sources.add(t)
            offset += len(line)
    return out


@dataclass
class Plan:
    """A checked data set: the first pass, the arms with their sources, the artifacts kept."""

    found: Scan
    arms: list[ArmSpec]
    protocol: str
    keys: list[str]


def prepare(path: Path, spec: StudySpec) -> Plan:
    """The first pass and every check that needs no database: the spec, the arms' sources
    (refused as :func:`~oversight.web.studies.resolve_arms` does) and the seeded sample."""
    spec.check()
    found = scan(path)
    if not found.groups:
        raise OversightError(
            f"{path.name} holds no transcripts ({found.skipped_count} lines skipped)"
        )
    arms = resolve_arms(spec.arms, found.sources)
    protocol = spec.protocol or next(
        (a.protocol for a in arms if a.protocol and a.protocol != "direct"), "direct"
    )
    keys = list(found.groups)
    if spec.items is not None and spec.items < len(keys):
        keep = sorted(random.Random(f"{spec.seed}:items").sample(range(len(keys)), spec.items))
        keys = [keys[i] for i in keep]
    return Plan(found, arms, protocol, keys)


def start(db: Database, spec: StudySpec, plan: Plan) -> int:
    """Store the study's row and judges, marked loading; its id."""
    loading = {
        "state": "loading",
        "items": 0,
        "skipped": plan.found.skipped,
        "skipped_count": plan.found.skipped_count,
    }
    with db.session() as session:
        return new_study(session, spec, plan.arms, plan.protocol, {}, loading).id


def start_loading(
    db: Database, study_id: int, spec: StudySpec, plan: Plan, path: Path, owned: bool
) -> None:
    """:func:`load` on a daemon thread (``owned``: delete ``path`` when done)."""
    threading.Thread(
        target=load,
        args=(db, study_id, spec, plan, path, owned),
        name=f"study-{study_id}-load",
        daemon=True,
    ).start()


def load(
    db: Database, study_id: int, spec: StudySpec, plan: Plan, path: Path, owned: bool = False
) -> None:
    """The second pass: store and assign the items, :data:`BATCH` artifacts a transaction.
    Failures end up in the study's loading state, not in an exception."""
    try:
        _store(db, study_id, spec, plan, path)
    except (OversightError, OSError, ValidationError) as e:
        _update(db, study_id, state="failed", error=str(e).splitlines()[0])
    finally:
        if owned:
            path.unlink(missing_ok=True)


def _store(db: Database, study_id: int, spec: StudySpec, plan: Plan, path: Path) -> None:
    left_out: Counter[str] = Counter()
    stored = 0
    sample: list[NewItem] = []
    with open(path, "rb") as f:
        for start in range(0, len(plan.keys), BATCH):
            transcripts = []
            for key in plan.keys[start : start + BATCH]:
                for offset, length in plan.found.groups[key]:
                    f.seek(offset)
                    transcripts.append(Transcript.model_validate_json(f.read(length)))
            items, left = items_from_transcripts(transcripts, plan.arms)
            left_out += left
            sample = sample or items
            with db.session() as session:
                add_items(session, _study(session, study_id), items)
            stored += len(items)
            _update(db, study_id, items=stored, left_out=dict(left_out))
    if not stored:
        why = "; ".join(f"{n} with {reason}" for reason, n in left_out.items())
        raise OversightError(f"no item can be shown under every arm ({why})")
    catch = catch_items(sample, [a.name for a in plan.arms], spec.catch_trials, spec.seed)
    with db.session() as session:
        add_items(session, _study(session, study_id), catch)
    _update(db, study_id, state="done", items=stored + len(catch))


def _study(session: Any, study_id: int) -> Study:
    study = session.get(Study, study_id)
    if study is None:
        raise OversightError(f"study {study_id} is gone")
    return study


def _update(db: Database, study_id: int, **changes: Any) -> None:
    """Merge ``changes`` into the study's loading state (and ``left_out`` into the design)."""
    with db.session() as session:
        study = _study(session, study_id)
        design = dict(study.design)
        left = changes.pop("left_out", None)
        if left is not None:
            design["left_out"] = left
        design["loading"] = {**design.get("loading", {}), **changes}
        study.design = design
