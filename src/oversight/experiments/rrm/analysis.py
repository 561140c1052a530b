"""Aggregate the RRM seeds: t-intervals over seeds (each seed has programs of its own, so the
interval covers programs too), overoptimization fits, PGR at matched KL against the strongest
arm without learning.

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
from oversight.experiments.rrm.measures import FLAW_SHARE_KEYS
from oversight.learning.overoptimization import d_from_kl, fit_bon, fit_rl
from oversight.metrics.estimate import Estimate
from oversight.metrics.rates import t_interval

CURVE_KEYS = ("kl", "proxy", "gold", "hacking", "accepted", "accepted_broken")
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


def over_seeds(
    values: Sequence[float | None], low: float = -math.inf, high: float = math.inf
) -> Estimate:
    """Mean over seeds with a 95% t-interval clipped to ``[low, high]``; NaNs and missing values
    dropped."""
    return t_interval(_finite(values), low, high)


def _put(metrics: dict[str, Any], key: str, est: Estimate) -> None:
    metrics.update(est.flat(key))


def _dig(d: dict[str, Any], path: str) -> Any:
    """The value at ``path`` (``a/b/c``), None where a mode has none (gold has no RM)."""
    for part in path.split("/"):
        if part not in d:
            return None
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
    curves: dict[str, dict[str, np.ndarray]],
    weak: Sequence[str],
    strong: str,
    ceiling: str,
    at_end: bool = False,
) -> list[dict[str, Any]]:
    """Per seed: PGR of ``strong`` between the strongest of the ``weak`` arms (the highest gold)
    and ``ceiling``, at the largest KL every curve reaches (so no arm is credited for
    optimising further than another); with ``at_end``, each arm at its last point instead (its
    own KL; ``kl`` is then the strong arm's)."""
    out = []
    arms = [*weak, strong, ceiling]
    for s in range(curves[strong]["kl"].shape[0]):
        if at_end:
            kl = float(curves[strong]["kl"][s, -1])
            g = {m: float(curves[m]["gold"][s, -1]) for m in arms}
        else:
            kl = min(float(curves[m]["kl"][s].max()) for m in arms)
            g = {m: gold_at_kl(curves[m]["kl"][s], curves[m]["gold"][s], kl) for m in arms}
        best = max(weak, key=lambda m: g[m])
        gap = g[ceiling] - g[best]
        degenerate = gap < DEGENERATE_GAP
        out.append(
            {
                "kl": kl,
                "weak": best,
                "gold_weak": g[best],
                "gold_strong": g[strong],
                "gold_ceiling": g[ceiling],
                "pgr": float("nan") if degenerate else (g[strong] - g[best]) / gap,
                "degenerate": degenerate,
            }
        )
    return out


def baseline_modes(cfg: RRMExperimentConfig) -> list[str]:
    """The arms without learning at level 1 (:attr:`~.config.ModeConfig.baseline`)."""
    return [m.name for m in cfg.modes if m.baseline]


REACH_GROUPS = ("improver", "train_families", "held_out_families")
"""The artifact groups of :meth:`~.seed_run.SeedRun.reach`."""
REACH_KEYS = ("any_line", "changed_line", "learned_line")
"""Where the solver is aimed in :func:`~.measures.solver_reach`."""


def learned_modes(cfg: RRMExperimentConfig) -> list[str]:
    """The arms assisted by the learned critic."""
    return [m.name for m in cfg.modes if m.learned]


def analyse(cfg: RRMExperimentConfig, seeds: list[dict[str, Any]]) -> Analysis:
    """Metrics (flat keys, t-intervals over seeds), curves, fits, PGR and the level-0 sweep."""
    metrics: dict[str, Any] = {"seeds": len(seeds), "depth": cfg.depth, "rounds": cfg.rounds}
    last = cfg.rounds - 1
    for t in range(cfg.rounds):
        for key in LEVEL1_SCALARS:
            vals = [s["rounds"][t]["level1"][key] for s in seeds]
            _put(metrics, f"level1.round{t}.{key}", over_seeds(vals))
    for key in FLAW_SHARE_KEYS:
        for where in ("action_space", "initial_policy"):
            vals = [s["flaw_shares"][where][key] for s in seeds]
            _put(metrics, f"flaw_shares.{where}.{key}", over_seeds(vals, 0, 1))
    for group in REACH_GROUPS:
        for key in REACH_KEYS:
            vals = [s["solver_reach"][group][key] for s in seeds]
            _put(metrics, f"solver_reach.{group}.{key}", over_seeds(vals, 0, 1))
    curves: dict[str, Any] = {}
    fits: dict[str, Any] = {}
    pgr: dict[str, Any] = {}
    modes = [m.name for m in cfg.modes] if cfg.depth >= 2 else []
    for t in range(cfg.rounds):
        for mode in modes:
            for name, path in LEVEL2_SCALARS.items():
                vals = [_dig(s["rounds"][t]["level2"][mode], path) for s in seeds]
                bounds = (0.0, 1.0) if "rate" in name or "accuracy" in name else ()
                est = over_seeds(vals, *bounds)
                if est.n:
                    _put(metrics, f"level2.round{t}.{mode}.{name}", est)
    if modes:
        for kind in ("bon", "rl"):
            curves[kind] = _curves(seeds, kind, modes, last)
            for mode in modes:
                fits[f"{kind}.{mode}"] = _fit(kind, curves[kind][mode])
                end = {k: curves[kind][mode][k][:, -1] for k in CURVE_KEYS}
                for k in ("kl", "gold", "hacking", "accepted_broken"):
                    _put(metrics, f"{kind}.{mode}.final_{k}", over_seeds(list(end[k])))
        weak = baseline_modes(cfg)
        ceiling = next((m.name for m in cfg.modes if m.supervision == "gold"), None)
        if weak and ceiling:
            for mode in learned_modes(cfg):
                # best-of-n ends at one n for every arm (one KL): only RL has an end of its own
                for kind in ("bon", "rl", "rl_end"):
                    rows = pgr_at_matched_kl(
                        curves[kind.removesuffix("_end")], weak, mode, ceiling, kind == "rl_end"
                    )
                    pgr[f"{kind}.{mode}"] = rows
                    _put(metrics, f"pgr.{kind}.{mode}", over_seeds([r["pgr"] for r in rows]))
                    metrics[f"pgr.{kind}.{mode}.degenerate_seeds"] = sum(
                        r["degenerate"] for r in rows
                    )
                    for key in ("gold_weak", "gold_strong", "gold_ceiling"):
                        _put(
                            metrics, f"pgr.{kind}.{mode}.{key}", over_seeds([r[key] for r in rows])
                        )
    sweep = _sweep(seeds)
    for i, row in enumerate(sweep):
        for key in ("level1_accuracy", "level2_balanced_accuracy"):
            metrics.update(row[key].flat(f"level0_sweep.{i}.{key}"))
    for kind_fit, fit in fits.items():
        for k in ("alpha", "beta", "r2"):
            if k in fit:
                metrics[f"fit.{kind_fit}.{k}"] = fit[k]
    with_rm = {m.name for m in cfg.modes if m.supervision != "gold"}  # gold trains no RM
    verdicts = [
        r["verdicts"]
        for s in seeds
        for r in s["records"]
        if r["level"] == 2 and r["mode"] in with_rm
    ]
    metrics["min_verdicts_per_level2_rm"] = min(verdicts) if verdicts else None
    return Analysis(cfg, seeds, metrics, curves, fits, pgr, sweep)


def _sweep(seeds: list[dict[str, Any]]) -> list[dict[str, Any]]:
    rows = []
    for i, first in enumerate(seeds[0]["level0_sweep"]):
        per_seed = [s["level0_sweep"][i] for s in seeds]
        row: dict[str, Any] = {"level0": first["level0"]}
        for key in ("level1_accuracy", "level1_false_confirm_rate", "level1_missed_true_rate"):
            row[key] = over_seeds([r[key] for r in per_seed], 0, 1)
        for key in ("balanced_accuracy", "catch_rate", "false_alarm_rate"):
            row[f"level2_{key}"] = over_seeds([r["level2"][key] for r in per_seed], 0, 1)
        rows.append(row)
    return rows
