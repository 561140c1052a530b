"""Judge-level measurements over transcripts, each with the wider of the Wilson and the
problem-clustered bootstrap intervals (:func:`~oversight.metrics.rates.clustered_rate`: several
artifacts of one problem are not independent, and a zero count keeps an honest interval).

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
from oversight.metrics.estimate import Estimate
from oversight.metrics.rates import clustered_rate


def _scored(transcripts: Sequence[Transcript]) -> list[tuple[Verdict, Gold, str]]:
    """(verdict, gold, problem id) of each transcript that has a verdict and gold."""
    return [
        (t.verdict, t.gold, t.problem.id)
        for t in transcripts
        if t.verdict is not None and t.gold is not None
    ]


def _rate(pairs: list[tuple[bool, str]], seed: int) -> Estimate:
    """The share of True among ``(outcome, problem id)`` pairs, clustered by problem."""
    outcomes = np.array([o for o, _ in pairs], dtype=bool)
    return clustered_rate(outcomes, [p for _, p in pairs], seed=seed)


def judge_accuracy(transcripts: Sequence[Transcript], seed: int = 0) -> Estimate:
    return _rate([(v.accept == g.label, p) for v, g, p in _scored(transcripts)], seed)


def catch_rate(transcripts: Sequence[Transcript], seed: int = 0) -> Estimate:
    return _rate([(not v.accept, p) for v, g, p in _scored(transcripts) if not g.label], seed)


def false_alarm_rate(transcripts: Sequence[Transcript], seed: int = 0) -> Estimate:
    return _rate([(not v.accept, p) for v, g, p in _scored(transcripts) if g.label], seed)


def acceptance_precision(transcripts: Sequence[Transcript], seed: int = 0) -> Estimate:
    return _rate([(g.label, p) for v, g, p in _scored(transcripts) if v.accept], seed)


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
