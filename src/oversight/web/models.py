"""Database tables of the judging app (SQLAlchemy 2 declarative models).

Gold, arm labels and other judges' verdicts live here too; what a judge is shown is decided in
:mod:`oversight.web.judging`, never by handing these rows to a judge's page.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


def utcnow() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


class Base(DeclarativeBase):
    pass


class Study(Base):
    """A study: items judged by a fixed set of judges under several arms."""

    __tablename__ = "studies"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    instructions: Mapped[str] = mapped_column(Text, default="")
    protocol: Mapped[str] = mapped_column(String(100), default="")
    arms: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    judgments_per_item: Mapped[int] = mapped_column(default=1)
    budget: Mapped[int | None] = mapped_column(default=None)
    seed: Mapped[int] = mapped_column(default=0)
    design: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    judges: Mapped[list[Judge]] = relationship(back_populates="study", order_by="Judge.id")
    items: Mapped[list[Item]] = relationship(back_populates="study", order_by="Item.id")


class Judge(Base):
    """One person; ``token`` is the secret in their link."""

    __tablename__ = "judges"

    id: Mapped[int] = mapped_column(primary_key=True)
    study_id: Mapped[int] = mapped_column(ForeignKey("studies.id"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    token: Mapped[str] = mapped_column(String(100), unique=True)
    seat: Mapped[int] = mapped_column(default=0)
    revoked: Mapped[bool] = mapped_column(default=False)
    """The link no longer opens; the judge's open assignments can go to a new judge."""

    study: Mapped[Study] = relationship(back_populates="judges")


class Item(Base):
    """An artifact to judge, with what each arm shows alongside it and its gold label."""

    __tablename__ = "items"
    __table_args__ = (UniqueConstraint("study_id", "key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    study_id: Mapped[int] = mapped_column(ForeignKey("studies.id"), index=True)
    key: Mapped[str] = mapped_column(String(300))
    is_catch: Mapped[bool] = mapped_column(default=False)
    problem: Mapped[dict[str, Any]] = mapped_column(JSON)
    artifact: Mapped[dict[str, Any]] = mapped_column(JSON)
    gold: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)
    messages: Mapped[dict[str, list[dict[str, Any]]]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    study: Mapped[Study] = relationship(back_populates="items")


class Assignment(Base):
    """One judgment to make: a judge, an item, the arm it is shown under.

    Unique per (item, judge): no judge ever sees an item twice, under any arm."""

    __tablename__ = "assignments"
    __table_args__ = (
        UniqueConstraint("item_id", "judge_id"),
        Index("ix_assignments_judge_order", "judge_id", "order_key"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    study_id: Mapped[int] = mapped_column(ForeignKey("studies.id"), index=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("items.id"), index=True)
    judge_id: Mapped[int] = mapped_column(ForeignKey("judges.id"))
    arm: Mapped[str] = mapped_column(String(100))
    order_key: Mapped[int] = mapped_column(default=0)
    shown_at: Mapped[datetime | None] = mapped_column(default=None)
    """When the judge first saw the item (None: never shown; no verdict is taken then)."""
    seen_at: Mapped[datetime | None] = mapped_column(default=None)
    """The judge's latest action on the item (a page shown, a check)."""
    timed_out: Mapped[bool] = mapped_column(default=False)
    """The study's time limit ran out before a verdict: the item is closed without one."""
    active_seconds: Mapped[float] = mapped_column(default=0.0)
    """Seconds spent on the item up to ``seen_at``, each pause counted at most IDLE_SECONDS."""

    item: Mapped[Item] = relationship()
    judge: Mapped[Judge] = relationship()
    checks: Mapped[list[CheckRow]] = relationship(order_by="CheckRow.id")
    verdict: Mapped[VerdictRow | None] = relationship(back_populates="assignment")


class CheckRow(Base):
    """A primitive check a judge paid for (a :class:`~oversight.core.records.Check`)."""

    __tablename__ = "checks"

    id: Mapped[int] = mapped_column(primary_key=True)
    assignment_id: Mapped[int] = mapped_column(ForeignKey("assignments.id"), index=True)
    kind: Mapped[str] = mapped_column(String(50))
    args: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    cost: Mapped[int] = mapped_column(default=0)
    result: Mapped[Any] = mapped_column(JSON, default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class VerdictRow(Base):
    """A judge's verdict on one assignment; at most one per assignment."""

    __tablename__ = "verdicts"

    id: Mapped[int] = mapped_column(primary_key=True)
    assignment_id: Mapped[int] = mapped_column(ForeignKey("assignments.id"), unique=True)
    accept: Mapped[bool] = mapped_column()
    confidence: Mapped[float] = mapped_column()
    """The judge's belief that the artifact (for a text item, the proposed answer) is right."""
    choice: Mapped[int | None] = mapped_column(default=None)
    """On a text item, the displayed answer the judge chose (its belief in it is ``sure``)."""
    reason: Mapped[str] = mapped_column(Text, default="")
    seconds: Mapped[float] = mapped_column(default=0.0)
    spent: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    assignment: Mapped[Assignment] = relationship(back_populates="verdict")
