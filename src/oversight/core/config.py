"""The base of every settings record: unknown keys are refused, so a typo names itself."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class Strict(BaseModel):
    """A pydantic model that forbids extra keys (a config typo fails validation, naming it)."""

    model_config = ConfigDict(extra="forbid")
