"""Typed records shared by every environment, agent, judge and protocol.

A :class:`Transcript` is the full record of one episode. What the judge may see (problem,
artifact, messages) is kept apart from :class:`Gold`, which only the gold oracle writes and only
metrics read. Records serialise to one JSON object per line, tagged with :data:`SCHEMA_VERSION`.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

SCHEMA_VERSION = 1


class Record(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=False)


class Problem(Record):
    """One seeded, reproducible instance of an environment."""

    id: str
    env: str
    seed: int
    data: dict[str, Any] = Field(
        description="What every party may read, e.g. the reference program."
    )
    knobs: dict[str, Any] = Field(default_factory=dict, description="Generator settings used.")


class Artifact(Record):
    """What an agent produced for a problem, as the judge sees it."""

    id: str
    problem_id: str
    content: str
    claimed_saving: float | None = None
    author: str = Field(
        "",
        description="Agent name where the protocol shows it (debaters); empty where what a judge "
        "or critic sees must not identify the maker. The maker's intent lives in Gold.",
    )


class Claim(Record):
    """What an assistant says about an artifact; a critique is a claim.

    ``suspicion`` is a graded score in [0, 1]; ``input`` a concrete counterexample when the
    assistant has one; ``line`` a pointer (0-based) when it has one: into the artifact, or, for
    critics that may also point at reference lines the artifact dropped, into the artifact's
    lines followed by the reference's.
    """

    author: str
    kind: str = "counterexample"
    suspicion: float = 0.0
    input: int | None = None
    line: int | None = None
    text: str = ""
    compute_spent: int = 0


class Message(Record):
    """One turn of a protocol: who spoke, in which round, what they said."""

    role: str
    round: int = 0
    text: str = ""
    claim: Claim | None = None
    visible_to_judge: bool = True


class Check(Record):
    """One primitive check the judge paid for, e.g. running a program on an input."""

    kind: str
    args: dict[str, Any] = Field(default_factory=dict)
    cost: int
    result: Any = None


class Verdict(Record):
    """The judge's ruling. ``accept`` is the decision; ``confidence`` its belief that the artifact
    is acceptable, when it has one; ``rule`` names the rule that decided."""

    accept: bool
    confidence: float | None = None
    rule: str = ""
    budget: int | None = None
    spent: int = 0
    unverifiable: bool = False
    noise_flipped: bool = False
    choice: int | None = Field(None, description="Chosen option, for multiple-choice judging.")
    probs: list[float] | None = Field(None, description="Probability per option, when given.")


class Gold(Record):
    """What the gold oracle knows. Never shown to a judge, critic or learner."""

    label: bool = Field(description="True when the artifact meets the acceptance rule.")
    value: float
    kind: str = Field(description="The maker's intent: honest, lazy, backdoor, ...")
    n_diff: int = 0
    diff_inputs: list[int] = Field(
        default_factory=list, description="A sample of differing inputs."
    )
    info: dict[str, Any] = Field(default_factory=dict)


class Transcript(Record):
    """The typed record of one episode."""

    schema_version: int = SCHEMA_VERSION
    episode_id: str
    protocol: str
    arm: str = ""
    problem: Problem
    artifact: Artifact
    messages: list[Message] = Field(default_factory=list)
    checks: list[Check] = Field(default_factory=list)
    verdict: Verdict | None = None
    gold: Gold | None = None
    meta: dict[str, Any] = Field(default_factory=dict)

    @property
    def claims(self) -> list[Claim]:
        return [m.claim for m in self.messages if m.claim is not None]

    def require_verdict(self) -> Verdict:
        """The verdict of a transcript known to be judged; a ``ValueError`` when it has none."""
        if self.verdict is None:
            raise ValueError(f"transcript {self.episode_id!r} has no verdict")
        return self.verdict

    def require_gold(self) -> Gold:
        """The gold record of a transcript known to be scored; a ``ValueError`` when it has
        none."""
        if self.gold is None:
            raise ValueError(f"transcript {self.episode_id!r} has no gold record")
        return self.gold
