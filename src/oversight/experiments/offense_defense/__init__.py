"""The offense-defense experiment: can a backdoor get past a judge assisted by a critic?"""

from __future__ import annotations

from oversight.core.records import Transcript
from oversight.experiments.offense_defense.analysis import Analysis, analyse
from oversight.experiments.offense_defense.config import OffenseDefenseConfig
from oversight.experiments.offense_defense.report import build_report, summary_table
from oversight.experiments.offense_defense.run import run
from oversight.experiments.skeleton import Experiment

EXPERIMENT: Experiment[OffenseDefenseConfig, list[Transcript], Analysis] = Experiment(
    "offense-defense", OffenseDefenseConfig, run, analyse, build_report, summary_table
)

__all__ = ["EXPERIMENT", "Analysis", "OffenseDefenseConfig"]
