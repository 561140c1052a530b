"""Offline text debate: debate, consultancy, critique and the naive judge on generated stories
with knowledge-controlled simulated agents, knobs swept, and a debater tournament."""

from __future__ import annotations

from dataclasses import dataclass

from oversight.core.runs import REPORT, RunStore
from oversight.experiments.text_debate.analysis import TextAnalysis, analyse
from oversight.experiments.text_debate.config import TextDebateConfig
from oversight.experiments.text_debate.report import build_report, summary_table
from oversight.experiments.text_debate.run import run
from oversight.report.html import write_report
from oversight.report.model import Table


@dataclass
class Result:
    """What ``main`` returns: the config with its analysis (the summary needs both)."""

    config: TextDebateConfig
    analysis: TextAnalysis


def main(cfg: TextDebateConfig, store: RunStore, progress: bool = True) -> Result:
    """Run (or resume) the experiment in ``store`` and write metrics.json and report.html."""
    analysis = analyse(cfg, run(cfg, store, progress))
    store.write_metrics(analysis.metrics)
    write_report(build_report(cfg, analysis, store.config_yaml()), store.path / REPORT)
    return Result(cfg, analysis)


def summary(result: Result) -> Table:
    """The headline table printed by ``oversight run``."""
    return summary_table(result.config, result.analysis, terminal=True)


__all__ = ["TextDebateConfig", "main", "summary"]
