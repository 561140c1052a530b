"""Offline text debate: debate, consultancy, critique and the naive judge on generated stories
with knowledge-controlled simulated agents, knobs swept, and a debater tournament."""

from __future__ import annotations

from oversight.core.records import Transcript
from oversight.experiments.skeleton import Experiment
from oversight.experiments.text_debate.analysis import TextAnalysis, analyse
from oversight.experiments.text_debate.config import TextDebateConfig
from oversight.experiments.text_debate.report import build_report, summary_table
from oversight.experiments.text_debate.run import run

EXPERIMENT: Experiment[TextDebateConfig, list[Transcript], TextAnalysis] = Experiment(
    "text-debate", TextDebateConfig, run, analyse, build_report, summary_table
)

__all__ = ["EXPERIMENT", "TextAnalysis", "TextDebateConfig"]
