"""The recursive reward modeling experiment: does the reward model hold up, level after level,
when the judge is assisted by agents trained one level below?"""

from __future__ import annotations

from typing import Any

from oversight.experiments.rrm.analysis import Analysis, analyse
from oversight.experiments.rrm.config import RRMExperimentConfig
from oversight.experiments.rrm.report import as_json, build_report, summary_table
from oversight.experiments.rrm.run import run
from oversight.experiments.skeleton import Experiment


def metrics(analysis: Analysis) -> dict[str, Any]:
    """The flat metrics and the per-seed, per-round tables."""
    return analysis.metrics | as_json(analysis)


EXPERIMENT: Experiment[RRMExperimentConfig, list[dict[str, Any]], Analysis] = Experiment(
    "rrm", RRMExperimentConfig, run, analyse, build_report, summary_table, metrics
)

__all__ = ["EXPERIMENT", "Analysis", "RRMExperimentConfig"]
