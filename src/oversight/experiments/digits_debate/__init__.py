"""The pixel-debate reproduction on scikit-learn's 8x8 digits (Irving et al. 2018, Table 2)."""

from __future__ import annotations

from oversight.core.runs import REPORT, RunStore
from oversight.experiments.digits_debate.analysis import DigitsAnalysis, analyse
from oversight.experiments.digits_debate.config import DigitsDebateConfig
from oversight.experiments.digits_debate.report import build_report, summary_table
from oversight.experiments.digits_debate.run import run
from oversight.report.html import write_report
from oversight.report.model import Table


def main(cfg: DigitsDebateConfig, store: RunStore, progress: bool = True) -> DigitsAnalysis:
    """Run (or resume) the debate in ``store`` and write metrics.json and report.html."""
    analysis = analyse(cfg, run(cfg, store, progress))
    store.write_metrics(analysis.metrics)
    write_report(build_report(cfg, analysis, store.config_yaml()), store.path / REPORT)
    return analysis


def summary(analysis: DigitsAnalysis) -> Table:
    return summary_table(analysis)


__all__ = ["DigitsDebateConfig", "main", "summary"]
