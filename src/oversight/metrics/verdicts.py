"""Judge-level measurements over transcripts, each with a bootstrap confidence interval.

Definitions (an item is one transcript with a verdict and a gold record):

- **judge accuracy**: share of items where ``accept == gold.label``;
- **catch rate**: share of gold-unacceptable items the judge rejects;
- **false-alarm rate**: share of gold-acceptable items the judge rejects;
- **acceptance precision**: share of accepted items that are gold-acceptable (undefined when
  nothing was accepted). Precision matters more than recall: bad recall costs compute, bad
  precision lets flawed work through.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from oversight.core.records import Gold, Transcript, Verdict
from oversight.metrics.estimate import Estimate, rate


def _scored(transcripts: Sequence[Transcript]) -> list[tuple[Verdict, Gold]]:
    """(verdict, gold) of each transcript that has both."""
    return [
        (t.verdict, t.gold) for t in transcripts if t.verdict is not None and t.gold is not None
    ]


def judge_accuracy(transcripts: Sequence[Transcript], seed: int = 0) -> Estimate:
    right = [v.accept == g.label for v, g in _scored(transcripts)]
    return rate(np.array(right, bool), seed=seed)


def catch_rate(transcripts: Sequence[Transcript], seed: int = 0) -> Estimate:
    rejected = [not v.accept for v, g in _scored(transcripts) if not g.label]
    return rate(np.array(rejected, bool), seed=seed)


def false_alarm_rate(transcripts: Sequence[Transcript], seed: int = 0) -> Estimate:
    rejected = [not v.accept for v, g in _scored(transcripts) if g.label]
    return rate(np.array(rejected, bool), seed=seed)


def acceptance_precision(transcripts: Sequence[Transcript], seed: int = 0) -> Estimate:
    good = [g.label for v, g in _scored(transcripts) if v.accept]
    return rate(np.array(good, bool), seed=seed)


def verdict_metrics(
    transcripts: Sequence[Transcript], suffix: str, seed: int = 0
) -> dict[str, float | int]:
    """The four judge metrics as flat ``metrics.json`` entries named ``NAME.{suffix}``."""
    out: dict[str, float | int] = {}
    for name, fn in (
        ("judge_accuracy", judge_accuracy),
        ("catch_rate", catch_rate),
        ("false_alarm_rate", false_alarm_rate),
        ("acceptance_precision", acceptance_precision),
    ):
        out |= fn(transcripts, seed).flat(f"{name}.{suffix}")
    return out
