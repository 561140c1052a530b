"""Judges rule within a budget of primitive checks: the budgeted program judge, the
trace-assisted judge (RRM level 1), the simulated text judge, LLM and human judges, and the
sparse pixel judge (torch, imported on first use)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from oversight.core.lazy import lazy_exports
from oversight.judges.budgeted import BudgetedJudge, JudgeConfig
from oversight.judges.human import HumanJudge
from oversight.judges.llm import LLMJudge
from oversight.judges.recursive import TraceAssistedJudge, TraceAssistedJudgeConfig
from oversight.judges.simulated_text import SimulatedTextJudge, TextJudgeConfig

if TYPE_CHECKING:
    from oversight.judges.sparse_pixel import SparsePixelJudge, train_sparse_judge

__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "SparsePixelJudge": ".sparse_pixel",
        "train_sparse_judge": ".sparse_pixel",
    },
    globals(),
)

__all__ = [
    "BudgetedJudge",
    "HumanJudge",
    "JudgeConfig",
    "LLMJudge",
    "SimulatedTextJudge",
    "SparsePixelJudge",
    "TextJudgeConfig",
    "TraceAssistedJudge",
    "TraceAssistedJudgeConfig",
    "train_sparse_judge",
]
