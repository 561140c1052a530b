"""The pixel-debate reproduction on scikit-learn's 8x8 digits (Irving et al. 2018, Table 2)."""

from __future__ import annotations

from typing import Any

from oversight.experiments.digits_debate.analysis import DigitsAnalysis, analyse
from oversight.experiments.digits_debate.config import DigitsDebateConfig
from oversight.experiments.digits_debate.report import build_report, summary_table
from oversight.experiments.digits_debate.run import run
from oversight.experiments.skeleton import Experiment

EXPERIMENT: Experiment[DigitsDebateConfig, dict[str, Any], DigitsAnalysis] = Experiment(
    "digits-debate", DigitsDebateConfig, run, analyse, build_report, summary_table
)

__all__ = ["EXPERIMENT", "DigitsAnalysis", "DigitsDebateConfig"]
