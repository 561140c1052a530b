"""What every environment offers: judged cases, and the context a case's parties may read.

A :class:`Case` is one artifact to judge: the problem and artifact (records every party may
see), the parsed ``context`` agents and judges read (programs, a text display), and ``gold``,
kept beside the case and attached to the transcript only after the verdict. ``meta`` says how
the case was made (for analysis; never shown to agents or judges).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Generic, Protocol, TypeVar

from oversight.core.records import Artifact, Gold, Problem

C = TypeVar("C")


@dataclass
class Case(Generic[C]):
    """One judged case; ``gold`` never reaches an agent or a judge."""

    problem: Problem
    artifact: Artifact
    context: C
    gold: Gold
    meta: dict[str, Any] = field(default_factory=dict)


class Env(Protocol[C]):
    """A family of problems with a gold oracle."""

    @property
    def name(self) -> str: ...

    def cases(self, index: int) -> Iterator[Case[C]]:
        """Every case of problem ``index`` (seeded: the same index gives the same cases)."""
        ...

    def context(self, problem: Problem, artifact: Artifact) -> C:
        """What every party may read about ``artifact``, rebuilt from the records alone."""
        ...
