"""Debate, consultancy, critique-assisted and unassisted judging with language models."""

from __future__ import annotations

from collections.abc import Callable

from oversight.core.runs import REPORT, RunStore
from oversight.experiments.llm_debate.analysis import LLMAnalysis, analyse
from oversight.experiments.llm_debate.config import LLMDebateConfig
from oversight.experiments.llm_debate.preferences import PREFERENCE_FILE, judge_preferences
from oversight.experiments.llm_debate.report import build_report, summary_table
from oversight.experiments.llm_debate.run import run
from oversight.learning.export import write_rows
from oversight.models.base import ChatModel
from oversight.report.html import write_report
from oversight.report.model import Table


def main(
    cfg: LLMDebateConfig,
    store: RunStore,
    progress: bool = True,
    open_model: Callable[[str], ChatModel] | None = None,
) -> LLMAnalysis:
    """Run (or resume) the experiment in ``store`` and write metrics.json, report.html and the
    judge's verdicts as TRL preference data (preference.jsonl, for ``oversight train-rm``).
    ``open_model`` opens a model by name (default: Inspect's ``get_model``)."""
    result = run(cfg, store, progress, open_model)
    analysis = analyse(cfg, result)
    write_rows(store.path / PREFERENCE_FILE, judge_preferences(result.transcripts))
    store.write_metrics(analysis.metrics)
    write_report(build_report(cfg, analysis, store.config_yaml()), store.path / REPORT)
    return analysis


def summary(analysis: LLMAnalysis) -> Table:
    return summary_table(analysis)


__all__ = ["LLMDebateConfig", "main", "summary"]
