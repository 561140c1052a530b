"""The arms-race experiment: a trained attacker against a trained critic, round after round,
at several capability levels, evaluated on attack families neither side trained on."""

from __future__ import annotations

from oversight.experiments.arms_race.analysis import Analysis, analyse
from oversight.experiments.arms_race.config import ArmsRaceConfig
from oversight.experiments.arms_race.report import build_report, summary_table
from oversight.experiments.arms_race.run import RaceResult, run
from oversight.experiments.skeleton import Experiment

EXPERIMENT: Experiment[ArmsRaceConfig, RaceResult, Analysis] = Experiment(
    "arms-race", ArmsRaceConfig, run, analyse, build_report, summary_table
)

__all__ = ["EXPERIMENT", "Analysis", "ArmsRaceConfig", "RaceResult"]
