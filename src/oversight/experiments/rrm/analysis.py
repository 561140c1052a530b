"""Aggregate the RRM seeds: CIs over seeds, overoptimization fits, PGR at matched KL.

Everything here reads the per-seed results of :class:`~.seed_run.SeedRun` (plain
JSON-able dicts), so the analysis reruns from ``checkpoints/seed*/result.json`` alone.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from oversight.experiments.rrm.config import RRMExperimentConfig
from oversight.learning.overoptimization import d_from_kl, fit_bon, fit_rl
from oversight.metrics.estimate import Estimate
from oversight.metrics.scoring import mean_ci

CURVE_KEYS = ("kl", "proxy", "gold", "hacking", "accepted")
DEGENERATE_GAP = 0.1
"""PGR is reported as degenerate when the ceiling's gold value beats the weak one's by less
than this (in gold units: a saved line is worth 1, an unacceptable artifact -penalty)."""


@dataclass
class Analysis:
    config: RRMExperimentConfig
    seeds: list[dict[str, Any]]
    metrics: dict[str, Any]
    curves: dict[str, dict[str, dict[str, np.ndarray]]]  # kind -> mode -> key -> (seeds, points)
    fits: dict[str, dict[str, Any]]  # "bon.mode" / "rl.mode" -> fit as dict
    pgr: dict[str, Any]
    sweep: list[dict[str, Any]]


def _finite(values: Sequence[float | None]) -> list[float]:
    return [v for v in values if v is not None and math.isfinite(v)]


def over_seeds(values: list[float], n_boot: int) -> Estimate:
    """Mean over seeds with a percentile-bootstrap CI (seeds resampled); NaNs dropped."""
    return mean_ci(_finite(values), n_boot=n_boot)


def _put(metrics: dict[str, Any], key: str, est: Estimate) -> None:
    metrics.update(est.flat(key))


def _dig(d: dict[str, Any], path: str) -> Any:
    for part in path.split("/"):
        d = d[part]
    return d


LEVEL2_SCALARS = {
    "judge_balanced_accuracy": "heldout_programs/judge_vs_gold/balanced_accuracy",
    "judge_catch_rate": "heldout_programs/judge_vs_gold/catch_rate",
    "judge_false_alarm_rate": "heldout_programs/judge_vs_gold/false_alarm_rate",
    "rm_balanced_accuracy_heldout_programs": "heldout_programs/rm_vs_gold/balanced_accuracy",
    "rm_balanced_accuracy_all_heldout_edits": "all_heldout_edits_rm_vs_gold/balanced_accuracy",
    "rm_balanced_accuracy_heldout_families": "heldout_families/rm_vs_gold/balanced_accuracy",
    "judge_balanced_accuracy_heldout_families": "heldout_families/judge_vs_gold/balanced_accuracy",
    "rm_agreement_with_judge": "heldout_programs/rm_vs_judge_agreement",
    "rm_ece_vs_gold": "heldout_programs/rm_ece_vs_gold",
    "rm_ece_vs_judge": "heldout_programs/rm_ece_vs_judge",
    "heldout_top1_exploit_rate": "heldout_top1_exploit_rate",
}
LEVEL1_SCALARS = (
    "confirmed_rate",
    "level1_judge_accuracy",
    "false_confirm_rate",
    "missed_true_rate",
    "critic_reward_first",
    "critic_reward_last",
)


def _curves(
    seeds: list[dict[str, Any]], kind: str, modes: list[str], last: int
) -> dict[str, dict[str, np.ndarray]]:
    out: dict[str, dict[str, np.ndarray]] = {}
    for mode in modes:
        rows = [s["rounds"][last]["level2"][mode][kind] for s in seeds]
        out[mode] = {k: np.array([[p[k] for p in r] for r in rows]) for k in (*CURVE_KEYS, "x")}
    return out


def _fit(kind: str, curve: dict[str, np.ndarray]) -> dict[str, Any]:
    """Fit Gao et al.'s form to the seed-mean curve, gold measured from the initial policy."""
    kl = curve["kl"].mean(axis=0)
    gold = curve["gold"].mean(axis=0)
    order = np.argsort(kl, kind="stable")
    d = d_from_kl(np.maximum(kl[order], 0.0))
    delta = gold[order] - gold[order][0]
    try:
        fit = (fit_bon if kind == "bon" else fit_rl)(d, delta)
    except ValueError as e:
        return {"error": str(e), "n_points": len(d)}
    return fit.as_dict() | {"residuals": [float(r) for r in fit.residuals]}


def gold_at_kl(kl: np.ndarray, gold: np.ndarray, at: float) -> float:
    """Gold interpolated at KL ``at`` along one curve (points sorted by KL)."""
    order = np.argsort(kl, kind="stable")
    return float(np.interp(at, kl[order], gold[order]))


def pgr_at_matched_kl(
    curves: dict[str, dict[str, np.ndarray]], weak: str, strong: str, ceiling: str
) -> list[dict[str, Any]]:
    """Per seed: PGR of ``strong`` between ``weak`` and ``ceiling`` at the largest KL all three
    curves reach (so no mode is credited for optimising further than another)."""
    out = []
    for s in range(curves[weak]["kl"].shape[0]):
        kl = min(float(curves[m]["kl"][s].max()) for m in (weak, strong, ceiling))
        g = {m: gold_at_kl(curves[m]["kl"][s], curves[m]["gold"][s], kl) for m in curves}
        gap = g[ceiling] - g[weak]
        degenerate = gap < DEGENERATE_GAP
        out.append(
            {
                "kl": kl,
                "gold_weak": g[weak],
                "gold_strong": g[strong],
                "gold_ceiling": g[ceiling],
                "pgr": float("nan") if degenerate else (g[strong] - g[weak]) / gap,
                "degenerate": degenerate,
            }
        )
    return out


def analyse(cfg: RRMExperimentConfig, seeds: list[dict[str, Any]]) -> Analysis:
    """Metrics (flat keys, CIs over seeds), curves, fits, PGR and the level-0 sweep."""
    n_boot = cfg.bootstrap
    metrics: dict[str, Any] = {"seeds": len(seeds), "depth": cfg.depth, "rounds": cfg.rounds}
    last = cfg.rounds - 1
    for t in range(cfg.rounds):
        for key in LEVEL1_SCALARS:
            vals = [s["rounds"][t]["level1"][key] for s in seeds]
            _put(metrics, f"level1.round{t}.{key}", over_seeds(vals, n_boot))
    curves: dict[str, Any] = {}
    fits: dict[str, Any] = {}
    pgr: dict[str, Any] = {}
    modes = [m.name for m in cfg.modes] if cfg.depth >= 2 else []
    for t in range(cfg.rounds):
        for mode in modes:
            for name, path in LEVEL2_SCALARS.items():
                vals = [_dig(s["rounds"][t]["level2"][mode], path) for s in seeds]
                _put(metrics, f"level2.round{t}.{mode}.{name}", over_seeds(vals, n_boot))
    if modes:
        for kind in ("bon", "rl"):
            curves[kind] = _curves(seeds, kind, modes, last)
            for mode in modes:
                fits[f"{kind}.{mode}"] = _fit(kind, curves[kind][mode])
                end = {k: curves[kind][mode][k][:, -1] for k in CURVE_KEYS}
                for k in ("kl", "gold", "hacking"):
                    _put(metrics, f"{kind}.{mode}.final_{k}", over_seeds(list(end[k]), n_boot))
        by_kind = {m.supervision: m.name for m in reversed(cfg.modes)}
        weak, ceiling = by_kind.get("unassisted"), by_kind.get("gold")
        if weak and ceiling:
            for mode in [m.name for m in cfg.modes if m.supervision == "assisted"]:
                for kind in ("bon", "rl"):
                    rows = pgr_at_matched_kl(curves[kind], weak, mode, ceiling)
                    pgr[f"{kind}.{mode}"] = rows
                    _put(
                        metrics, f"pgr.{kind}.{mode}", over_seeds([r["pgr"] for r in rows], n_boot)
                    )
                    metrics[f"pgr.{kind}.{mode}.degenerate_seeds"] = sum(
                        r["degenerate"] for r in rows
                    )
    sweep = _sweep(seeds, n_boot)
    for i, row in enumerate(sweep):
        for key in ("level1_accuracy", "level2_balanced_accuracy"):
            metrics.update(row[key].flat(f"level0_sweep.{i}.{key}"))
    for kind_fit, fit in fits.items():
        for k in ("alpha", "beta", "r2"):
            if k in fit:
                metrics[f"fit.{kind_fit}.{k}"] = fit[k]
    verdicts = [r["verdicts"] for s in seeds for r in s["records"] if r["level"] == 2]
    metrics["min_verdicts_per_level2_rm"] = min(verdicts) if verdicts else None
    return Analysis(cfg, seeds, metrics, curves, fits, pgr, sweep)


def _sweep(seeds: list[dict[str, Any]], n_boot: int) -> list[dict[str, Any]]:
    rows = []
    for i, first in enumerate(seeds[0]["level0_sweep"]):
        per_seed = [s["level0_sweep"][i] for s in seeds]
        rows.append(
            {
                "level0": first["level0"],
                "level1_accuracy": over_seeds([r["level1_accuracy"] for r in per_seed], n_boot),
                "level1_false_confirm_rate": over_seeds(
                    [r["level1_false_confirm_rate"] for r in per_seed], n_boot
                ),
                "level1_missed_true_rate": over_seeds(
                    [r["level1_missed_true_rate"] for r in per_seed], n_boot
                ),
                "level2_balanced_accuracy": over_seeds(
                    [r["level2"]["balanced_accuracy"] for r in per_seed], n_boot
                ),
                "level2_catch_rate": over_seeds(
                    [r["level2"]["catch_rate"] for r in per_seed], n_boot
                ),
                "level2_false_alarm_rate": over_seeds(
                    [r["level2"]["false_alarm_rate"] for r in per_seed], n_boot
                ),
            }
        )
    return rows
