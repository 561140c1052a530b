"""Config schema of the recursive reward modeling (RRM) experiment."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from oversight.learning.rrm_config import RRMConfig


class RRMExperimentConfig(RRMConfig):
    """The driver's settings plus the seeds to run and how many processes run them."""

    experiment: Literal["rrm"] = "rrm"
    seeds: list[int] = Field(default_factory=lambda: [0, 1, 2], min_length=1)
    workers: int = Field(2, ge=1, le=64, description="Processes (seeds run in parallel).")
    bootstrap: int = Field(1000, ge=10, description="Bootstrap resamples for CIs over seeds.")
