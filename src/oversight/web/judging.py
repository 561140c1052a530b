"""What a judge sees and does: the next item, costed checks on programs, and the verdict.

A judge's page is built from :class:`ItemView`, which holds only what the judge may see: never
the gold label, the arm's name or anyone else's verdict. Budgeted checks cost what the simulated
judge (:mod:`oversight.judges.budgeted`) pays: evaluating one line on one input costs 1, running
R and P on an input costs ``len(R) + len(P)``. A check that would overspend is refused before
anything runs, inside the write transaction, so two checks at once cannot overspend either.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from oversight.core.errors import BudgetExceeded, OversightError
from oversight.core.records import Message
from oversight.envs.programs.dsl import Program, parse
from oversight.envs.programs.env import ENV_NAME
from oversight.envs.programs.interpreter import eval_line, run_steps
from oversight.envs.text.quotes import SourceIndex, verify_quotes
from oversight.envs.text.records import ENV_NAME as TEXT_ENV
from oversight.envs.text.records import LETTERS, proposed_answer, read_answers
from oversight.judges.llm import DISPLAY_NAMES
from oversight.web.models import Assignment, CheckRow, Judge, VerdictRow, utcnow

ProgramName = Literal["reference", "artifact"]
PROGRAM_NAMES: tuple[str, ...] = ("reference", "artifact")
MAX_REASON = 2000


IDLE_SECONDS = 120.0
"""The longest pause between a judge's actions on an item that counts as time judging it."""


GRACE_SECONDS = 5.0
"""Time past a study's time limit still accepted (the page and the network are not instant)."""


class NeverShown(OversightError):
    """A verdict on an item the judge was never shown."""


class TimeUp(OversightError):
    """A verdict or check on an item whose time limit ran out."""


class NotAssigned(OversightError):
    """The item is not one of this judge's assignments."""


@dataclass(frozen=True)
class Segment:
    """A piece of a speech: plain text, or a quote checked against the hidden source."""

    text: str
    quote: str | None = None
    """None for plain text; ``verified`` (found in the source) or ``unverified``."""


@dataclass(frozen=True)
class Speech:
    """A message of a text protocol as its judge reads it."""

    speaker: str
    round: int
    segments: list[Segment]


@dataclass
class ItemView:
    """One assignment as its judge sees it. A text item shows what the protocol's judge
    reads (the question, the displayed answers, the speeches with quotes marked verified or
    not), never the hidden source."""

    assignment_id: int
    number: int
    total: int
    content: str
    claimed_saving: float | None
    problem: dict[str, Any]
    messages: list[Message]
    checks: list[CheckRow]
    budget: int | None
    spent: int
    reference_lines: list[str] = field(default_factory=list)
    artifact_lines: list[str] = field(default_factory=list)
    bits: int | None = None
    time_left: float | None = None
    """Seconds left under the study's time limit (None: no limit)."""
    question: str | None = None
    answers: list[str] = field(default_factory=list)
    speeches: list[Speech] = field(default_factory=list)

    @property
    def is_program(self) -> bool:
        return self.bits is not None

    @property
    def is_text(self) -> bool:
        return self.question is not None

    @property
    def sure_options(self) -> list[int]:
        """Percentages a judge may give the answer it chooses (at least 1 in n)."""
        floor = 100 / max(len(self.answers), 2)
        return sorted({p for p in (50, 60, 70, 80, 90, 100) if p >= floor} | {round(floor)})

    @property
    def left(self) -> int | None:
        return None if self.budget is None else self.budget - self.spent

    @property
    def run_cost(self) -> int:
        return len(self.reference_lines) + len(self.artifact_lines)


def progress(session: Session, judge: Judge) -> tuple[int, int]:
    """(items closed: judged or timed out, assignments) of one judge."""
    total = session.scalar(select(func.count()).where(Assignment.judge_id == judge.id)) or 0
    done = session.scalar(
        select(func.count())
        .select_from(Assignment)
        .outerjoin(VerdictRow, VerdictRow.assignment_id == Assignment.id)
        .where(Assignment.judge_id == judge.id)
        .where(VerdictRow.id.is_not(None) | Assignment.timed_out)
    )
    return done or 0, total


def next_assignment(session: Session, judge: Judge) -> Assignment | None:
    """The judge's first open assignment (no verdict, not timed out), in the judge's
    randomised order; one whose time ran out meanwhile is closed on the way."""
    while True:
        a = session.scalar(
            select(Assignment)
            .outerjoin(VerdictRow, VerdictRow.assignment_id == Assignment.id)
            .where(Assignment.judge_id == judge.id, VerdictRow.id.is_(None))
            .where(Assignment.timed_out.is_(False))
            .order_by(Assignment.order_key, Assignment.id)
            .limit(1)
        )
        if a is None or not _expired(a):
            return a
        a.timed_out = True
        session.flush()


def time_left(a: Assignment) -> float | None:
    """Seconds of the study's time limit left on the item (None without a limit); the time
    since the judge's last action counts, as it would at a verdict now."""
    limit = a.item.study.design.get("time_limit")
    if limit is None:
        return None
    since = (utcnow() - a.seen_at).total_seconds() if a.seen_at is not None else 0.0
    return limit - a.active_seconds - min(since, IDLE_SECONDS)


def _expired(a: Assignment) -> bool:
    left = time_left(a)
    return left is not None and left < -GRACE_SECONDS


def _require_time(a: Assignment) -> None:
    """Close the item and refuse the action when its time ran out."""
    if _expired(a):
        a.timed_out = True
        raise TimeUp("time is up for this item: it closed without a verdict")


def own_assignment(session: Session, judge: Judge, assignment_id: int) -> Assignment:
    """The judge's assignment with that id; :class:`NotAssigned` for anyone else's."""
    a = session.get(Assignment, assignment_id)
    if a is None or a.judge_id != judge.id:
        raise NotAssigned(f"item {assignment_id} is not assigned to you")
    return a


def spent(session: Session, a: Assignment) -> int:
    cost = select(func.coalesce(func.sum(CheckRow.cost), 0)).where(CheckRow.assignment_id == a.id)
    return int(session.scalar(cost) or 0)


def touch(a: Assignment) -> None:
    """The judge acted on the item now: time since the last action counts, up to
    :data:`IDLE_SECONDS` (a longer pause is time away, not time judging)."""
    now = utcnow()
    if a.shown_at is None:
        a.shown_at = now
    elif a.seen_at is not None:
        a.active_seconds += min((now - a.seen_at).total_seconds(), IDLE_SECONDS)
    a.seen_at = now


def view(session: Session, a: Assignment, seen: bool = True) -> ItemView:
    """The judge's view of an assignment. ``seen``: the judge sees it now (time starts at the
    first showing); False for someone else looking at the judge's page, an admin say."""
    if seen:
        touch(a)
    done, total = progress(session, a.judge)
    item = a.item
    messages = [Message.model_validate(m) for m in item.messages.get(a.arm, [])]
    text = item.problem["env"] == TEXT_ENV
    v = ItemView(
        assignment_id=a.id,
        number=done + 1,
        total=total,
        content=item.artifact["content"],
        claimed_saving=item.artifact.get("claimed_saving"),
        # what every party may read; a text item's source is hidden from its judge
        problem={k: val for k, val in item.problem["data"].items() if k != "source"},
        messages=[] if text else messages,
        checks=list(a.checks),
        budget=a.item.study.budget if item.problem["env"] == ENV_NAME else None,
        spent=spent(session, a),
        time_left=time_left(a),
    )
    if item.problem["env"] == ENV_NAME:
        reference, artifact = programs(a)
        v.bits = reference.bits
        v.reference_lines = [str(line) for line in reference.lines]
        v.artifact_lines = [str(line) for line in artifact.lines]
    if text:
        index = SourceIndex(item.problem["data"]["source"])
        v.question = item.problem["data"]["question"]
        v.answers = read_answers(item.artifact["content"])
        v.speeches = [
            Speech(DISPLAY_NAMES.get(m.role, m.role), m.round + 1, _segments(m.text, index))
            for m in messages
        ]
    return v


def _segments(text: str, index: SourceIndex) -> list[Segment]:
    """``text`` cut into plain pieces and quotes, each quote verified against the source."""
    out, last = [], 0
    for q in verify_quotes(text, index):
        a, b = q.at
        if a > last:
            out.append(Segment(text[last:a]))
        out.append(Segment(q.text, "verified" if q.verified else "unverified"))
        last = b
    if last < len(text):
        out.append(Segment(text[last:]))
    return out


def programs(a: Assignment) -> tuple[Program, Program]:
    """R and P of a program item, parsed."""
    bits = a.item.problem["data"]["bits"]
    return parse(a.item.problem["data"]["reference"], bits), parse(a.item.artifact["content"], bits)


def parse_input(text: str | int, bits: int) -> int:
    """An input typed by a person: decimal or 0x-hex, ``0 <= x < 2**bits``."""
    try:
        x = int(str(text).strip(), 0)
    except ValueError:
        raise OversightError(f"input: {text!r} is not a whole number") from None
    if not 0 <= x < (1 << bits):
        raise OversightError(f"input: {x} is outside 0..{(1 << bits) - 1} ({bits}-bit inputs)")
    return x


def _record(
    session: Session, a: Assignment, kind: str, args: dict[str, Any], cost: int, result: Any
) -> CheckRow:
    if a.verdict is not None:
        raise OversightError("this item is already judged; checks are closed")
    if a.shown_at is None:
        raise NeverShown("this item was never shown to you: open your link to see it first")
    _require_time(a)
    touch(a)
    budget = a.item.study.budget
    used = spent(session, a)
    if budget is not None and used + cost > budget:
        raise BudgetExceeded(f"this check costs {cost}; only {budget - used} of {budget} are left")
    row = CheckRow(assignment_id=a.id, kind=kind, args=args, cost=cost, result=result)
    session.add(row)
    session.flush()
    return row


def _require_program(a: Assignment) -> tuple[Program, Program]:
    if a.item.problem["env"] != ENV_NAME:
        raise OversightError("costed checks exist only for program items")
    return programs(a)


def evaluate_line(session: Session, a: Assignment, program: str, text: str | int) -> CheckRow:
    """Evaluate the next line of R or P on an input (cost 1), stepping through it in order.

    The state before the line comes from the lines of that program already evaluated on that
    input, which the judge has paid for."""
    if program not in PROGRAM_NAMES:
        raise OversightError(f"program: {program!r}; allowed: {', '.join(PROGRAM_NAMES)}")
    reference, artifact = _require_program(a)
    prog = reference if program == "reference" else artifact
    x = parse_input(text, prog.bits)
    done = sum(
        1
        for c in a.checks
        if c.kind == "eval_line" and c.args["program"] == program and c.args["input"] == x
    )
    if done >= len(prog):
        raise OversightError(f"all {len(prog)} lines of the {program} already ran on input {x}")
    env = {"x": x & prog.mask}
    for line in prog.lines[:done]:
        eval_line(line, env, prog.bits)
    line = prog.lines[done]
    value = eval_line(line, env, prog.bits)
    result = {
        "text": str(line),
        "fired": value is not None,
        "target": line.target,
        "value": env.get(line.target, 0),
    }
    if done == len(prog) - 1:
        result["output"] = env.get("out", 0)
    args = {"program": program, "input": x, "line": done}
    return _record(session, a, "eval_line", args, 1, result)


def run_both(session: Session, a: Assignment, text: str | int, why: str = "own test") -> CheckRow:
    """Run R and P on an input, paying ``len(R) + len(P)``, as the simulated judge does."""
    reference, artifact = _require_program(a)
    x = parse_input(text, reference.bits)
    result = {"reference": run_steps(reference, x), "artifact": run_steps(artifact, x)}
    cost = len(reference) + len(artifact)
    return _record(session, a, "run_both", {"input": x, "why": why}, cost, result)


def check_claim(session: Session, a: Assignment, index: int) -> CheckRow:
    """One click: run R and P on the input of the ``index``-th message's claim."""
    messages = a.item.messages.get(a.arm, [])
    if not 0 <= index < len(messages) or messages[index].get("claim") is None:
        raise OversightError(f"claim: message {index} carries no claim")
    message = Message.model_validate(messages[index])
    if message.claim is None or message.claim.input is None:
        raise OversightError("claim: this claim names no input to check")
    return run_both(session, a, message.claim.input, f"claim by {message.role}")


def submit_verdict(
    session: Session, a: Assignment, accept: bool, sure: float, reason: str = ""
) -> VerdictRow:
    """Store the judge's verdict. ``sure`` is the judge's confidence in the decision (0.5 to 1);
    the stored confidence is the belief that the artifact is acceptable, as in
    :class:`~oversight.core.records.Verdict`. Time runs from the item's first showing to the
    verdict, pauses beyond :data:`IDLE_SECONDS` left out; an item never shown is refused."""
    if not 0.5 <= sure <= 1.0:
        raise OversightError(f"confidence: {sure} is outside 0.5..1")
    return _store(session, a, accept, sure if accept else 1 - sure, reason, None)


def submit_choice(
    session: Session, a: Assignment, choice: int | None, sure: float, reason: str = ""
) -> VerdictRow:
    """Store a text item's verdict: the displayed answer the judge chose and its belief that
    it is right (1/n to 1 with n answers). ``accept`` is then "chose the proposed answer" and
    the confidence the belief in the proposed answer, as a text protocol's judge records."""
    content = a.item.artifact["content"]
    n = len(read_answers(content))
    if choice is None or not 0 <= choice < n:
        raise OversightError(f"answer: choose one of {', '.join(LETTERS[:n])}")
    if not 1 / n - 1e-9 <= sure <= 1.0:
        raise OversightError(f"confidence: {sure} is outside {1 / n:.2f}..1 for {n} answers")
    proposed = proposed_answer(content) or 0
    accept = choice == proposed
    belief = sure if accept else (1 - sure) / (n - 1)
    return _store(session, a, accept, belief, reason, choice)


def _store(
    session: Session,
    a: Assignment,
    accept: bool,
    confidence: float,
    reason: str,
    choice: int | None,
) -> VerdictRow:
    if len(reason) > MAX_REASON:
        raise OversightError(f"reason: {len(reason)} characters; at most {MAX_REASON}")
    if a.verdict is not None:
        raise OversightError("this item is already judged")
    if a.shown_at is None:
        raise NeverShown("this item was never shown to you: open your link to see it first")
    if a.timed_out:
        raise TimeUp("time is up for this item: it closed without a verdict")
    _require_time(a)
    touch(a)
    seconds = a.active_seconds
    row = VerdictRow(
        assignment_id=a.id,
        accept=accept,
        confidence=confidence,
        choice=choice,
        reason=reason,
        seconds=seconds,
        spent=spent(session, a),
    )
    session.add(row)
    session.flush()
    return row
