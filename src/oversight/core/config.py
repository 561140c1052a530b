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

Probability = Annotated[float, Field(ge=0, le=1)]
"""A probability or a rate in [0, 1]."""


def check_subtleties(key: str, values: list[int], bits: int) -> None:
    """Trigger rarities ``k`` (a trigger fires on about 2**-k of the 2**bits inputs) must lie
    in 1..bits-1: k = 0 fires everywhere, k >= bits on no input at all."""
    bad = [k for k in values if not 1 <= k < bits]
    if bad or not values:
        raise ValueError(
            f"{key}: {bad or 'empty'}; with {bits}-bit inputs k must be in 1..{bits - 1}"
        )
