"""Studies: items from a run folder or a JSONL data set, arms, judges and their assignments.

**Arms.** Each arm shows the artifact with or without help: an arm with ``source=None`` shows no
messages (unassisted); ``source="NAME"`` shows the judge-visible messages of the source
transcript of that arm (e.g. a critic's claim), and ``source="*"`` those of whichever transcript
of the item has messages. An item is offered under an arm only when it has a source for it.

**Assignment** (a Latin square, generalised). Judges sit in a seeded random order. Each item
takes the next ``len(arms) * judgments_per_item`` judges in that order (a cursor that wraps
round), skipping judges who already have the item, and these are split over the arms, each judge
taking the arm it has judged least so far. With as many judges as one item needs this is the
classic Latin square (every judge sees every item, arms rotating); with more judges the items are
spread evenly. A judge never gets one item twice or under two arms (also a database constraint).
Every judge sees every catch trial. Each judge's order is randomised by a key drawn from the
study seed, the judge and the item, stored with the assignment.

**Catch trials** have a known answer: data set lines with ``meta.catch`` true and a gold label,
and, for program studies, ``catch_trials`` synthetic ones: P is R unchanged while claiming a
saving of one line, so the free saving check alone rejects it.
"""

from __future__ import annotations

import random
import secrets
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, Field, ValidationError, field_validator
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from oversight.core.config import Strict
from oversight.core.errors import OversightError
from oversight.core.records import Artifact, Gold, Problem, Transcript
from oversight.judges.budgeted import JudgeConfig
from oversight.web.models import Assignment, Item, Judge, Study, VerdictRow

ANY_SOURCE = "*"
DEFAULT_INSTRUCTIONS = (
    "Decide whether the artifact meets the task: accept it or reject it, and say how sure you "
    "are. Take your time; you may stop and come back later with the same link."
)


class ArmSpec(Strict):
    """An arm: its name, which transcripts' messages it shows (None: none), and the protocol
    those come from (set at study creation; ``direct`` for an arm that shows none)."""

    name: str = Field(min_length=1, max_length=100)
    source: str | None = None
    protocol: str = ""


class StudySpec(Strict):
    """Everything needed to create a study, apart from its items."""

    name: str = Field(min_length=1, max_length=200)
    instructions: str = DEFAULT_INSTRUCTIONS
    protocol: str = ""
    arms: list[ArmSpec] = Field(min_length=1)
    judges: int = Field(ge=1, le=1000)
    judgments_per_item: int = Field(1, ge=1)
    budget: int | None = Field(
        None,
        ge=0,
        description="Line evaluations per program judgment (default: the simulated judge's).",
    )
    catch_trials: int = Field(0, ge=0)
    items: int | None = Field(None, ge=1, description="Keep a seeded sample of this many items.")
    time_limit: int | None = Field(
        None,
        ge=10,
        description="Seconds a judge has per item (active time); at the limit the item closes "
        "without a verdict and counts as timed out. None: no limit.",
    )
    seed: int = 0

    @field_validator("arms")
    @classmethod
    def _distinct(cls, arms: list[ArmSpec]) -> list[ArmSpec]:
        names = [a.name for a in arms]
        if len(set(names)) != len(names):
            raise ValueError(f"arm names must differ, got {names}")
        return arms

    def check(self) -> None:
        """Raise :class:`OversightError` unless there are enough judges for one item."""
        need = len(self.arms) * self.judgments_per_item
        if self.judges < need:
            raise OversightError(
                f"judges: {len(self.arms)} arms x {self.judgments_per_item} judgments per item "
                f"need at least {need} judges (no judge sees an item twice); got {self.judges}"
            )


def parse_arms(text: str) -> list[ArmSpec]:
    """Arms from text: ``NAME`` (unassisted) or ``NAME = SOURCE``, one per line; text on one
    line may separate arms by commas instead. On several lines commas are part of the names
    (text-debate's arms, such as ``debate-sequential@medium,fab=0.5,trust=0``, hold them), and
    only the first ``=`` of a line separates the name from its source."""
    lines = text.strip().splitlines()
    parts = lines if len(lines) > 1 else text.split(",")
    arms = []
    for part in parts:
        if not part.strip():
            continue
        name, _, source = part.partition("=")
        try:
            arms.append(ArmSpec(name=name.strip(), source=source.strip() or None))
        except ValidationError:
            raise OversightError(f"arms: {part.strip()!r} is not NAME or NAME = SOURCE") from None
    if not arms:
        raise OversightError("arms: give at least one arm, e.g. 'unassisted, assisted = *'")
    return arms


class NewItem(BaseModel):
    """An item before it is stored: what each offered arm shows."""

    key: str
    problem: Problem
    artifact: Artifact
    gold: Gold | None = None
    messages: dict[str, list[dict[str, Any]]]
    is_catch: bool = False


@dataclass
class Sources:
    """What the transcripts offer as sources: per arm of the data, the (protocol, assistants)
    kinds of its transcripts with messages; and every arm present."""

    kinds: dict[str, set[tuple[str, tuple[str, ...]]]] = field(default_factory=dict)
    present: set[str] = field(default_factory=set)

    def add(self, t: Transcript) -> None:
        self.present.add(t.arm)
        shown = [m for m in t.messages if m.visible_to_judge]
        if shown:
            authors = tuple(sorted({m.claim.author for m in shown if m.claim is not None}))
            self.kinds.setdefault(t.arm, set()).add((t.protocol, authors))


def resolve_sources(arms: Sequence[ArmSpec], transcripts: Sequence[Transcript]) -> list[ArmSpec]:
    """:func:`resolve_arms` on the sources of ``transcripts``."""
    found = Sources()
    for t in transcripts:
        found.add(t)
    return resolve_arms(arms, found)


def resolve_arms(arms: Sequence[ArmSpec], found: Sources) -> list[ArmSpec]:
    """Each arm with the one source it shows: a source is the arm of the transcripts whose
    messages it shows; ``*`` stands for the only one there is. A source that is absent,
    ambiguous, or mixes protocols or assistants is refused, naming what matched."""
    sources = found.kinds
    present = sorted(found.present)
    out = []
    for arm in arms:
        source = arm.source
        if source == ANY_SOURCE:
            if len(sources) != 1:
                raise OversightError(
                    f"arms: {arm.name} = * matches {len(sources)} sources "
                    f"({', '.join(map(repr, sorted(sources))) or 'none with messages'}); "
                    f"name one: {arm.name} = SOURCE"
                )
            source = next(iter(sources))
        if source is not None:
            if source not in present:
                raise OversightError(
                    f"arms: {arm.name} shows arm {source!r}, which the source lacks; "
                    f"its arms: {', '.join(map(repr, present))}"
                )
            kinds = sources.get(source, set())
            if len(kinds) > 1:
                mixed = "; ".join(
                    f"{protocol} by {', '.join(authors) or 'no named assistant'}"
                    for protocol, authors in sorted(kinds)
                )
                raise OversightError(
                    f"arms: {arm.name}'s source {source!r} mixes protocols or assistants "
                    f"({mixed}); split the data so that each source is one of them"
                )
        protocol = next(iter(sources[source]))[0] if source in sources else "direct"
        out.append(arm.model_copy(update={"source": source, "protocol": protocol}))
    return out


def items_from_transcripts(
    transcripts: Sequence[Transcript], arms: Sequence[ArmSpec]
) -> tuple[list[NewItem], Counter[str]]:
    """One item per artifact (in first-seen order) with the messages each arm shows
    (``arms`` as :func:`resolve_sources` returns them), and the artifacts left out, by why:
    an item enters only when every arm can show it, so the arms compare on the same items."""
    groups: dict[str, list[Transcript]] = {}
    for t in transcripts:
        groups.setdefault(t.artifact.id, []).append(t)
    items = []
    left_out: Counter[str] = Counter()
    for key, group in groups.items():
        broken = unjudgeable(group[0].problem, group[0].artifact)
        if broken is not None:
            left_out[broken] += 1
            continue
        messages: dict[str, list[dict[str, Any]]] = {}
        for arm in arms:
            shown = _source_messages(group, arm.source)
            if shown is None:
                left_out[f"no transcript of source {arm.source!r} (arm {arm.name})"] += 1
                break
            messages[arm.name] = shown
        else:
            gold = next((t.gold for t in group if t.gold is not None), None)
            catch = gold is not None and any(t.meta.get("catch") for t in group)
            first = group[0]
            items.append(
                NewItem(
                    key=key,
                    problem=first.problem,
                    artifact=first.artifact,
                    gold=gold,
                    messages=messages,
                    is_catch=catch,
                )
            )
    return items, left_out


def unjudgeable(problem: Problem, artifact: Artifact) -> str | None:
    """Why a judge could not work on ``artifact`` (a program that does not parse), or None."""
    from oversight.envs.programs.dsl import parse
    from oversight.envs.programs.env import ENV_NAME

    if problem.env != ENV_NAME:
        return None
    data = problem.data
    for name, text in (("reference", data.get("reference")), ("artifact", artifact.content)):
        try:
            parse(str(text), int(data.get("bits", 8)))
        except (OversightError, ValueError, TypeError) as e:
            return f"the {name} program does not parse ({type(e).__name__})"
    return None


def _source_messages(group: list[Transcript], source: str | None) -> list[dict[str, Any]] | None:
    if source is None:
        return []
    chosen = next((t for t in group if t.arm == source), None)
    if chosen is None:
        return None
    return [m.model_dump() for m in chosen.messages if m.visible_to_judge]


def catch_items(items: Sequence[NewItem], arms: Sequence[str], n: int, seed: int) -> list[NewItem]:
    """``n`` synthetic program catch trials: P = R claiming a one-line saving (reject)."""
    from oversight.envs.programs.dsl import parse
    from oversight.envs.programs.env import ENV_NAME
    from oversight.envs.programs.oracle import gold_oracle

    programs = [i for i in items if i.problem.env == ENV_NAME]
    if n and not programs:
        raise OversightError(
            "catch_trials: synthetic catch trials need program items; in a data set, mark "
            "lines with meta.catch = true (and a gold label) instead"
        )
    r = random.Random(f"{seed}:catch")
    out = []
    for c in range(n):
        problem = r.choice(programs).problem
        reference = problem.data["reference"]
        program = parse(reference, problem.data["bits"])
        result = gold_oracle(program, program)
        artifact = Artifact(
            id=f"{problem.id}/catch-{c}",
            problem_id=problem.id,
            content=reference,
            claimed_saving=1.0,
            author="catch",
        )
        gold = Gold(
            label=result.label,
            value=result.value,
            kind="catch",
            info={"why": "P is R unchanged; the claimed saving is false"},
        )
        out.append(
            NewItem(
                key=artifact.id,
                problem=problem,
                artifact=artifact,
                gold=gold,
                messages={a: [] for a in arms},
                is_catch=True,
            )
        )
    return out


def create_study(session: Session, spec: StudySpec, transcripts: Sequence[Transcript]) -> Study:
    """Store a study with its judges, items (sampled, plus catch trials) and assignments.

    ``transcripts`` may be empty: items then arrive later (:func:`add_items`, e.g. from the
    human judge)."""
    spec.check()
    arms = resolve_sources(spec.arms, transcripts) if transcripts else list(spec.arms)
    items, left_out = items_from_transcripts(transcripts, arms)
    if transcripts and not items:
        why = "; ".join(f"{n} with {reason}" for reason, n in left_out.items())
        raise OversightError(f"no item can be shown under every arm ({why})")
    if spec.items is not None and spec.items < len(items):
        keep = sorted(random.Random(f"{spec.seed}:items").sample(range(len(items)), spec.items))
        items = [items[i] for i in keep]
    items += catch_items(items, [a.name for a in spec.arms], spec.catch_trials, spec.seed)
    protocol = spec.protocol or (transcripts[0].protocol if transcripts else "")
    study = new_study(session, spec, arms, protocol, dict(left_out))
    add_items(session, study, items)
    return study


def new_study(
    session: Session,
    spec: StudySpec,
    arms: Sequence[ArmSpec],
    protocol: str,
    left_out: dict[str, int],
    loading: dict[str, Any] | None = None,
) -> Study:
    """Store a study's row and judges, no items yet."""
    # By default the simulated judge's budget, so human and simulated judges compare.
    budget = JudgeConfig().budget if spec.budget is None else spec.budget
    study = Study(
        name=spec.name,
        instructions=spec.instructions,
        protocol=protocol,
        arms=[a.model_dump() for a in arms],
        budget=budget,
        seed=spec.seed,
        judgments_per_item=spec.judgments_per_item,
    )
    seats = list(range(spec.judges))
    random.Random(f"{spec.seed}:seats").shuffle(seats)
    study.judges = [
        Judge(name=f"judge-{i + 1}", token=secrets.token_urlsafe(24), seat=seat)
        for i, seat in enumerate(seats)
    ]
    study.design = {
        "method": "rotating Latin square: judges in seeded seat order, arms by least use",
        "seed": spec.seed,
        "cursor": 0,
        "seats": {j.name: j.seat for j in study.judges},
        "left_out": left_out,  # artifacts not offered under every arm, by why
        "time_limit": spec.time_limit,
        **({"loading": loading} if loading is not None else {}),
    }
    session.add(study)
    session.flush()
    return study


def add_items(session: Session, study: Study, items: Iterable[NewItem]) -> list[Item]:
    """Store items (or add arms to items already stored under the same key) and assign them.

    Idempotent: an arm an item already has is left alone. Runs in the caller's transaction,
    which on SQLite holds the write lock, so concurrent calls assign one after the other."""
    judges = sorted(study.judges, key=lambda j: j.seat)
    arm_names = [a["name"] for a in study.arms]
    counts: Counter[tuple[int, str]] = Counter()
    rows = session.execute(
        select(Assignment.judge_id, Assignment.arm, func.count())
        .where(Assignment.study_id == study.id)
        .group_by(Assignment.judge_id, Assignment.arm)
    )
    for judge_id, arm, n in rows:
        counts[(judge_id, arm)] = n
    design = dict(study.design)
    stored = []
    for new in items:
        unknown = sorted(set(new.messages) - set(arm_names))
        if unknown:
            raise OversightError(f"item {new.key}: unknown arms {unknown}; study arms: {arm_names}")
        broken = unjudgeable(new.problem, new.artifact)
        if broken is not None:
            raise OversightError(f"item {new.key}: {broken}; no judge could judge it")
        item = session.scalar(select(Item).where(Item.study_id == study.id, Item.key == new.key))
        if item is None:
            item = Item(
                study_id=study.id,
                key=new.key,
                is_catch=new.is_catch,
                problem=new.problem.model_dump(),
                artifact=new.artifact.model_dump(),
                gold=new.gold.model_dump() if new.gold else None,
                messages={},
            )
            session.add(item)
            session.flush()
        fresh = [a for a in new.messages if a not in item.messages]
        if not fresh:
            stored.append(item)
            continue
        item.messages = {**item.messages, **{a: new.messages[a] for a in fresh}}
        taken = set(
            session.scalars(select(Assignment.judge_id).where(Assignment.item_id == item.id))
        )
        free = [j for j in judges if j.id not in taken]
        if item.is_catch:
            pairs = [(j, _least_seen(fresh, j.id, counts)) for j in free]
        else:
            pairs, design["cursor"] = _pick(free, judges, fresh, study, counts, design["cursor"])
        for judge, arm in pairs:
            counts[(judge.id, arm)] += 1
            order = random.Random(f"{study.seed}:{judge.id}:{item.id}").getrandbits(31)
            session.add(
                Assignment(
                    study_id=study.id, item_id=item.id, judge_id=judge.id, arm=arm, order_key=order
                )
            )
        stored.append(item)
    study.design = design
    session.flush()
    return stored


def add_judges(session: Session, study: Study, n: int) -> list[Judge]:
    """``n`` new judges for a running study, each with a link of its own. The open (unjudged)
    assignments of revoked judges are given to them again, spread evenly, never to a judge
    who already has the item: a judge who dropped out is replaced without redoing the design.
    Each revoked assignment is handed on once."""
    if not 1 <= n <= 1000:
        raise OversightError(f"judges: add 1 to 1000, not {n}")
    first = len(study.judges)
    new = [
        Judge(
            study_id=study.id,
            name=f"judge-{first + i + 1}",
            token=secrets.token_urlsafe(24),
            seat=first + i,
        )
        for i in range(n)
    ]
    session.add_all(new)
    session.flush()
    load: Counter[int] = Counter()
    gone = [j.id for j in study.judges if j.revoked]
    open_ = session.scalars(
        select(Assignment)
        .outerjoin(VerdictRow, VerdictRow.assignment_id == Assignment.id)
        .where(Assignment.judge_id.in_(gone), VerdictRow.id.is_(None))
        .order_by(Assignment.id)
    ).all()
    handed = set(study.design.get("handed_on", []))
    for a in open_:
        if a.id in handed:
            continue
        holders = set(
            session.scalars(select(Assignment.judge_id).where(Assignment.item_id == a.item_id))
        )
        free = [j for j in new if j.id not in holders]
        if free:
            # a new assignment: the revoked judge's (and any checks made on it) stays on record
            to = min(free, key=lambda j: (load[j.id], j.seat))
            order = random.Random(f"{study.seed}:{to.id}:{a.item_id}").getrandbits(31)
            session.add(
                Assignment(
                    study_id=study.id, item_id=a.item_id, judge_id=to.id, arm=a.arm, order_key=order
                )
            )
            load[to.id] += 1
            handed.add(a.id)
    seats = {**study.design.get("seats", {}), **{j.name: j.seat for j in new}}
    study.design = {**study.design, "seats": seats, "handed_on": sorted(handed)}
    session.flush()
    return new


def _least_seen(arms: Sequence[str], judge_id: int, counts: Counter[tuple[int, str]]) -> str:
    """The first of ``arms`` that judge ``judge_id`` has seen least."""
    return min(arms, key=lambda a: counts[(judge_id, a)])


def _pick(
    free: list[Judge],
    judges: list[Judge],
    arms: list[str],
    study: Study,
    counts: Counter[tuple[int, str]],
    cursor: int,
) -> tuple[list[tuple[Judge, str]], int]:
    """The next judges from the cursor, split over ``arms`` by least use; the new cursor."""
    m = study.judgments_per_item
    need = len(arms) * m
    if len(free) < need:
        raise OversightError(
            f"{len(arms)} arms x {m} judgments need {need} judges who have not seen the item; "
            f"only {len(free)} are left"
        )
    free_ids = {j.id for j in free}
    n = len(judges)
    picked: list[Judge] = []
    steps = 0
    while len(picked) < need:
        judge = judges[(cursor + steps) % n]
        steps += 1
        if judge.id in free_ids:
            picked.append(judge)
    capacity = dict.fromkeys(arms, m)
    pairs: list[tuple[Judge, str]] = []
    left = list(picked)
    while left:
        judge, arm = min(
            ((j, a) for j in left for a in arms if capacity[a] > 0),
            key=lambda p: (counts[(p[0].id, p[1])], left.index(p[0]), arms.index(p[1])),
        )
        pairs.append((judge, arm))
        capacity[arm] -= 1
        left.remove(judge)
    return pairs, (cursor + steps) % n
