"""Pieces every program judge shares: the free saving check and the noisy final verdict."""

from __future__ import annotations

import numpy as np

from oversight.core.budget import Meter
from oversight.core.records import Verdict
from oversight.envs.programs.env import ProgramContext
from oversight.protocols.engine import Episode


def saving_is_valid(e: Episode[ProgramContext]) -> bool:
    """Free to read: the claimed saving must equal ``len(R) - len(P)`` and be positive."""
    ctx = e.context
    claimed = e.artifact.claimed_saving
    return claimed is not None and claimed == ctx.claimed_saving and ctx.claimed_saving > 0


def final_verdict(
    accept: bool,
    rule: str,
    unverifiable: bool,
    meter: Meter,
    noise: float,
    r: np.random.Generator,
    undecided_rule: str,
) -> Verdict:
    """The verdict after noise (flipped with probability ``noise``, recorded). ``confidence``
    is None when the judge accepted for want of evidence (``undecided_rule``), else 0 or 1."""
    flipped = bool(noise > 0 and r.random() < noise)
    if flipped:
        accept = not accept
    return Verdict(
        accept=accept,
        confidence=None if rule == undecided_rule else float(accept),
        rule=rule,
        budget=meter.limit,
        spent=meter.spent,
        unverifiable=unverifiable,
        noise_flipped=flipped,
    )
