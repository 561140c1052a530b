"""The shape every experiment has, and the one ``main`` that runs any of them.

An :class:`Experiment` is data: its config schema and five steps. ``run`` plays (or resumes)
everything in the run folder and returns what it produced; ``analyse`` turns that into an
analysis; ``report`` builds ``report.html``; ``summary`` is the headline table ``oversight run``
prints; ``metrics`` flattens the analysis into ``metrics.json`` (default: its ``metrics``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from operator import attrgetter
from typing import Any, Generic, TypeVar

from pydantic import BaseModel

from oversight.core.runs import REPORT, RunStore
from oversight.report.html import write_report
from oversight.report.model import Report, Table

Cfg = TypeVar("Cfg", bound=BaseModel)
Result = TypeVar("Result")
Analysis = TypeVar("Analysis")


@dataclass(frozen=True)
class Experiment(Generic[Cfg, Result, Analysis]):
    """One experiment: a config schema and the steps from run folder to report."""

    name: str
    config: type[Cfg]
    run: Callable[[Cfg, RunStore, bool], Result]
    analyse: Callable[[Cfg, Result], Analysis]
    report: Callable[[Cfg, Analysis, str], Report]
    summary: Callable[[Cfg, Analysis], Table]
    metrics: Callable[[Analysis], dict[str, Any]] = attrgetter("metrics")


AnyExperiment = Experiment[Any, Any, Any]
"""An experiment of any config, result and analysis (what the registry holds)."""


def main(
    experiment: Experiment[Cfg, Result, Analysis],
    cfg: Cfg,
    store: RunStore,
    progress: bool = True,
) -> Analysis:
    """Run (or resume) ``experiment`` in ``store``, then write metrics.json and report.html;
    returns the analysis."""
    analysis = experiment.analyse(cfg, experiment.run(cfg, store, progress))
    store.write_metrics(experiment.metrics(analysis))
    write_report(experiment.report(cfg, analysis, store.config_yaml()), store.path / REPORT)
    return analysis
