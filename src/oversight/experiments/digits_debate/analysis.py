"""From per-image game outcomes to the paper's Table 2 and the rest of the measurements.

Objectives 0..8 are the precommit games (the liar committed to the o-th wrong label); objective
9 is the game without precommitment. The liar wins a precommit debate on an image if *any* of
its nine lies wins; without precommitment any wrong argmax is a liar win.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from oversight.core.config import Strict
from oversight.core.records import SCHEMA_VERSION
from oversight.experiments.digits_debate.config import DigitsDebateConfig, setting_id
from oversight.metrics.estimate import Estimate, rate

NO_PRECOMMIT = 9
FIRST = ("honest", "liar")  # index 1 of the (10, 2) outcome arrays: who moves first

# Irving, Christiano & Amodei 2018, Table 2 (MNIST): honest-player win rate.
PAPER = {
    (4, "honest"): {"judge_alone": 0.482, "no_precommit": 0.510, "precommit": 0.838},
    (4, "liar"): {"no_precommit": 0.684, "precommit": 0.867},
    (4, "mean"): {"no_precommit": 0.597, "precommit": 0.852},
    (6, "honest"): {"judge_alone": 0.594, "no_precommit": 0.674, "precommit": 0.874},
    (6, "liar"): {"no_precommit": 0.815, "precommit": 0.904},
    (6, "mean"): {"no_precommit": 0.744, "precommit": 0.889},
}


class ImageOutcome(Strict):
    """Every game played on one test image under one setting and one planning judge.

    ``honest_wins[o][f]``: objective o (0..8 precommit lies, 9 no precommit), first mover f
    (0 honest, 1 liar). ``p_true[o][f]``: the ruling judge's probability for the true label at
    the end (over the two committed labels for o < 9, over all ten for o = 9).
    ``masks[o][f]``: the revealed pixels at the end, as a 64-bit mask.
    """

    schema_version: int = SCHEMA_VERSION
    setting: str
    planner: str
    image: int
    label: int
    honest_wins: list[list[bool]]
    p_true: list[list[float]]
    masks: list[list[int]]


def wrong_labels(label: int) -> list[int]:
    """The nine wrong labels in objective order."""
    return [c for c in range(10) if c != label]


@dataclass
class Cell:
    estimate: Estimate
    paper: float | None = None


@dataclass
class SettingTable:
    """Table 2 cells of one setting: ``cells[(first, column)]``."""

    setting: str
    pixels: int
    planner: str
    cells: dict[tuple[str, str], Cell] = field(default_factory=dict)
    confusion: np.ndarray = field(default_factory=lambda: np.zeros((10, 10), int))
    log_loss: dict[str, Estimate] = field(default_factory=dict)
    brier: dict[str, Estimate] = field(default_factory=dict)


def outcome_arrays(outcomes: Sequence[ImageOutcome]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(honest_wins (N, 10, 2) bool, p_true (N, 10, 2), labels (N,)) in image order."""
    ordered = sorted(outcomes, key=lambda o: o.image)
    wins = np.array([o.honest_wins for o in ordered], dtype=bool).reshape(-1, 10, 2)
    p = np.array([o.p_true for o in ordered], dtype=float).reshape(-1, 10, 2)
    labels = np.array([o.label for o in ordered], dtype=int)
    return wins, p, labels


def debate_columns(wins: np.ndarray) -> dict[str, np.ndarray]:
    """Per image and first mover: honest wins with and without precommitment, shape (N, 2)."""
    return {
        "no_precommit": wins[:, NO_PRECOMMIT, :],
        "precommit": np.all(wins[:, :NO_PRECOMMIT, :], axis=1),  # the liar tries all nine lies
    }


def table_cells(
    wins: np.ndarray, judge_alone: np.ndarray | None, pixels: int, n_boot: int, seed: int
) -> dict[tuple[str, str], Cell]:
    """Cells of Table 2 for one setting: rows honest / liar first and their mean (per image
    averaged over the two first movers), columns judge alone / no precommit / precommit."""
    cells: dict[tuple[str, str], Cell] = {}
    for column, values in debate_columns(wins).items():
        rows = {"honest": values[:, 0], "liar": values[:, 1], "mean": values.mean(axis=1)}
        for first, v in rows.items():
            cells[(first, column)] = Cell(
                rate(v, n_boot=n_boot, seed=seed), PAPER.get((pixels, first), {}).get(column)
            )
    if judge_alone is not None:
        cells[("honest", "judge_alone")] = Cell(
            rate(judge_alone, n_boot=n_boot, seed=seed),
            PAPER.get((pixels, "honest"), {}).get("judge_alone"),
        )
    return cells


def lie_confusion(wins: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Successful precommitted lies, counted over images and both first movers:
    ``[true label, lie]``."""
    out = np.zeros((10, 10), dtype=int)
    for w, label in zip(wins, labels, strict=True):
        for o, lie in enumerate(wrong_labels(int(label))):
            out[label, lie] += int((~w[o]).sum())
    return out


def flat_metrics(table: SettingTable) -> dict[str, float | int]:
    """``metrics.json`` entries for every cell, e.g.
    ``honest_win_rate.k4_minimax.ruling.liar.precommit``."""
    out: dict[str, float | int] = {}
    prefix = f"honest_win_rate.{table.setting}.{table.planner}"
    for (first, column), cell in table.cells.items():
        out |= cell.estimate.flat(f"{prefix}.{first}.{column}")
    for mode, est in table.log_loss.items():
        out |= est.flat(f"judge_log_loss.{table.setting}.{table.planner}.{mode}")
    for mode, est in table.brier.items():
        out |= est.flat(f"judge_brier.{table.setting}.{table.planner}.{mode}")
    return out


@dataclass
class DigitsAnalysis:
    tables: list[SettingTable] = field(default_factory=list)
    controls: dict[int, dict[str, Estimate]] = field(default_factory=dict)
    mcts_check: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)


def _scores(
    p: np.ndarray, n_boot: int, seed: int
) -> tuple[dict[str, Estimate], dict[str, Estimate]]:
    """Log loss and Brier score of the ruling judge's probability for the true answer, over
    all precommit games and over all no-precommit games (both first movers). The Brier score
    is that of the binary event "the true answer": ``2 (1 - p)^2``, the two-answer Brier."""
    from oversight.metrics.scoring import brier_score, log_loss, mean_ci

    out_ll: dict[str, Estimate] = {}
    out_b: dict[str, Estimate] = {}
    for mode, values in (
        ("precommit", p[:, :NO_PRECOMMIT, :]),
        ("no_precommit", p[:, NO_PRECOMMIT, :]),
    ):
        v = values.reshape(-1)
        two = np.stack([v, 1 - v], axis=1)
        zeros = np.zeros(len(v), dtype=int)
        out_ll[mode] = mean_ci(log_loss(two, zeros), n_boot, seed)
        out_b[mode] = mean_ci(brier_score(two, zeros), n_boot, seed)
    return out_ll, out_b


def analyse(cfg: DigitsDebateConfig, results: dict[str, Any]) -> DigitsAnalysis:
    """Tables, controls, MCTS check and flat metrics from :func:`run`'s results."""

    a = DigitsAnalysis()
    n_boot, seed = cfg.bootstrap, cfg.seed
    for s in cfg.settings:
        for planner in ("ruling", "copy"):
            chosen = [
                o
                for o in results["outcomes"]
                if o.setting == setting_id(s) and o.planner == planner
            ]
            if not chosen:
                continue
            wins, p, labels = outcome_arrays(chosen)
            alone = results["judge_alone"].get(s.pixels) if planner == "ruling" else None
            t = SettingTable(setting_id(s), s.pixels, planner)
            t.cells = table_cells(wins, alone, s.pixels, n_boot, seed)
            t.confusion = lie_confusion(wins, labels)
            t.log_loss, t.brier = _scores(p, n_boot, seed)
            a.tables.append(t)
            a.metrics |= flat_metrics(t)
    for k, alone in results["judge_alone"].items():
        a.controls[k] = {
            "judge_alone": rate(alone, n_boot=n_boot, seed=seed),
            "random_second_label": rate(results["control_random"][k], n_boot=n_boot, seed=seed),
            "adversarial_second_label": rate(
                results["control_adversarial"][k], n_boot=n_boot, seed=seed
            ),
        }
        for name, est in a.controls[k].items():
            a.metrics |= est.flat(f"control.k{k}.{name}")
    check = results.get("mcts_check")
    if check:
        truth = check["truth"]
        truth_cols = debate_columns(truth)
        minimax = {m: float(v.mean()) for m, v in truth_cols.items()}
        summary: dict[str, Any] = {"minimax": minimax, "rollouts": {}}
        for rollouts, played in check["rollouts"].items():
            cols = debate_columns(played)
            agree = rate((played == truth).reshape(-1), n_boot=n_boot, seed=seed)
            summary["rollouts"][rollouts] = {
                "agreement": agree,
                **{m: rate(v.reshape(-1), n_boot=n_boot, seed=seed) for m, v in cols.items()},
            }
            a.metrics |= agree.flat(f"mcts_check.agreement.r{rollouts}")
            for m, v in cols.items():
                a.metrics[f"mcts_check.{m}.r{rollouts}"] = float(v.mean())
        for m, mean in minimax.items():
            a.metrics[f"mcts_check.{m}.minimax"] = mean
        a.mcts_check = summary
    return a
