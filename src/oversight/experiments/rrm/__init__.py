"""The recursive reward modeling experiment: does the reward model hold up, level after level,
when the judge is assisted by agents trained one level below?"""

from __future__ import annotations

from oversight.core.runs import REPORT, RunStore
from oversight.experiments.rrm.config import RRMExperimentConfig
from oversight.report.html import write_report


def main(cfg: RRMExperimentConfig, store: RunStore, progress: bool = True):
    """Run (or resume) the experiment in ``store`` and write metrics.json and report.html."""
    from oversight.experiments.rrm.analysis import analyse
    from oversight.experiments.rrm.report import as_json, build_report
    from oversight.experiments.rrm.run import run

    analysis = analyse(cfg, run(cfg, store, progress))
    store.write_metrics(analysis.metrics | as_json(analysis))
    write_report(build_report(analysis, store.config_yaml()), store.path / REPORT)
    return analysis


def summary(analysis):
    """The headline table printed by ``oversight run``."""
    from oversight.experiments.rrm.report import summary_table

    return summary_table(analysis, terminal=True)


__all__ = ["RRMExperimentConfig", "main", "summary"]
