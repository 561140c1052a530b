"""The base of every settings record (unknown keys are refused, so a typo names itself) and the
constrained types settings share."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field


class Strict(BaseModel):
    """A pydantic model that forbids extra keys (a config typo fails validation, naming it)."""

    model_config = ConfigDict(extra="forbid")


Seed = Annotated[int, Field(ge=0, le=2**63 - 1, description="A seed: a non-negative integer.")]
"""A seed (numpy's seed sequences take non-negative integers only)."""

Fraction = Annotated[float, Field(gt=0, le=1)]
"""A share of something that must be positive: a budget fraction, an audit budget."""
