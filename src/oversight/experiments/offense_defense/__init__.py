"""The offense-defense experiment: can a backdoor get past a judge assisted by a critic?"""

from __future__ import annotations

from oversight.core.runs import REPORT, RunStore
from oversight.experiments.offense_defense.analysis import Analysis, analyse
from oversight.experiments.offense_defense.config import OffenseDefenseConfig
from oversight.experiments.offense_defense.report import ARM_LABELS, build_report, summary_table
from oversight.experiments.offense_defense.run import run
from oversight.report.html import write_report


def main(cfg: OffenseDefenseConfig, store: RunStore, progress: bool = True) -> Analysis:
    """Run (or resume) the experiment in ``store`` and write metrics.json and report.html."""
    transcripts = run(cfg, store, progress)
    analysis = analyse(cfg, transcripts)
    store.write_metrics(analysis.metrics)
    write_report(build_report(cfg, analysis, store.config_yaml()), store.path / REPORT)
    return analysis


def summary(analysis: Analysis):
    """The headline table printed by ``oversight run``."""
    return summary_table(analysis, list(ARM_LABELS), terminal=True)


__all__ = ["OffenseDefenseConfig", "main", "summary"]
