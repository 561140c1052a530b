"""Debate, consultancy, critique-assisted and unassisted judging with language models."""

from __future__ import annotations

from collections.abc import Callable

from oversight.core.runs import RunStore
from oversight.experiments.llm_debate.analysis import LLMAnalysis, analyse
from oversight.experiments.llm_debate.config import LLMDebateConfig
from oversight.experiments.llm_debate.report import build_report, summary_table
from oversight.experiments.llm_debate.run import RunResult, run
from oversight.experiments.skeleton import Experiment
from oversight.models.base import ChatModel


def experiment(
    open_model: Callable[[str], ChatModel] | None = None,
) -> Experiment[LLMDebateConfig, RunResult, LLMAnalysis]:
    """The experiment, its models opened by ``open_model`` (default: Inspect's ``get_model``;
    tests pass scripted models)."""

    def play(cfg: LLMDebateConfig, store: RunStore, progress: bool) -> RunResult:
        return run(cfg, store, progress, open_model)

    return Experiment("llm-debate", LLMDebateConfig, play, analyse, build_report, summary_table)


EXPERIMENT = experiment()

__all__ = ["EXPERIMENT", "LLMAnalysis", "LLMDebateConfig", "experiment"]
