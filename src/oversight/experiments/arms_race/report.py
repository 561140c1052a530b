"""Tables, plots and findings of the arms-race report, all computed from an Analysis."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from oversight.experiments.arms_race.analysis import CRITICS, Analysis, ArmStats
from oversight.experiments.arms_race.config import ArmsRaceConfig
from oversight.metrics.estimate import format_estimate
from oversight.report import plots
from oversight.report.model import Figure, Report, Section, Table

CRITIC_LABELS = {
    "probe": "trained probe critic",
    "untrained": "probe critic, untrained (random probe order)",
    "random": "random inputs, same budget",
    "guided": "changed lines first (solver, then random)",
    "solver": "solver only",
}


def _level(cfg: ArmsRaceConfig, i: int) -> str:
    a, c = cfg.attackers[i], cfg.critics[i]
    return (
        f"L{i}: attacker width {a.hidden}, best of {a.candidates}; "
        f"critic width {c.hidden}, budget 1/{round(1 / c.budget_fraction)}"
    )


def _arm(critic: str, where: str, c: int) -> str:
    if critic == "probe":
        return f"grid_a{c}_c{c}" if where == "diag" else f"heldout_c{c}"
    return f"{critic}_{where}_c{c}"


def _est(s: ArmStats | None, what: str) -> str:
    if s is None:
        return "–"
    return format_estimate(getattr(s, what), digits=2)


def diagonal_table(cfg: ArmsRaceConfig, a: Analysis) -> Table:
    rows: list[list[object]] = []
    for c in range(cfg.levels):
        for critic in CRITICS:
            s = a.arms.get(_arm(critic, "diag", c))
            if s is None:
                continue
            over_seeds = f"diagonal_catch.{critic}.L{c}.over_seeds"
            rows.append(
                [
                    f"L{c}",
                    CRITIC_LABELS[critic],
                    _est(s, "catch"),
                    format_estimate(
                        a.metrics.get(over_seeds),
                        a.metrics.get(f"{over_seeds}.ci_low"),
                        a.metrics.get(f"{over_seeds}.ci_high"),
                    ),
                    _est(s, "safety"),
                    s.formula if critic == "random" else None,
                    s.auc,
                    s.compute,
                ]
            )
    return Table(
        "Matched capability: attacker level = critic level "
        f"(safety at {cfg.audit_budget:.0%} audit)",
        [
            "level",
            "critic",
            "catch rate",
            "catch, mean over seeds (t)",
            "safety",
            "formula 1-(1-ρ)^t",
            "suspicion AUC",
            "critic compute",
        ],
        rows,
        note="The attacks are the trained attacker's at each level, vetted against the trained "
        "critic it faces; every critic judges the same attacks. Pooled intervals: the wider of "
        "Wilson and a bootstrap over programs (of every replicate); the seed column: mean and "
        "t-interval of the replicates' rates. Compute in line evaluations per artifact.",
    )


def grid_figures(cfg: ArmsRaceConfig, a: Analysis) -> list[Figure]:
    n = cfg.levels
    ticks = [f"L{i}" for i in range(n)]
    out = []
    for what in ("safety", "catch"):
        grid = np.full((n, n), np.nan)
        for aa in range(n):
            for c in range(n):
                s = a.arms.get(f"grid_a{aa}_c{c}")
                if s is not None:
                    grid[aa, c] = getattr(s, what).value
        png = plots.heatmap(
            grid,
            title=f"{what} by attacker level (rows) and critic level (columns)",
            xlabel="critic level",
            ylabel="attacker level",
            xticks=ticks,
            yticks=ticks,
        )
        out.append(Figure(f"Capability grid: {what}", png))
    diag = {
        critic: plots.Series(
            list(range(n)),
            [_value(a.arms.get(_arm(critic, "diag", c)), "catch") for c in range(n)],
        )
        for critic in CRITICS
    }
    png = plots.line_plot(
        diag,
        title="Catch rate along the diagonal",
        xlabel="level (both sides)",
        ylabel="catch rate",
        ylim=(0, 1),
    )
    out.append(Figure("Diagonal", png, "Every critic on the matched-level attacks."))
    return out


def _value(s: ArmStats | None, what: str) -> float:
    return float("nan") if s is None else float(getattr(s, what).value)


def grid_table(cfg: ArmsRaceConfig, a: Analysis) -> Table:
    rows = []
    for aa in range(cfg.levels):
        for c in range(cfg.levels):
            s = a.arms.get(f"grid_a{aa}_c{c}")
            if s is not None:
                rows.append([f"L{aa}", f"L{c}", _est(s, "catch"), _est(s, "safety"), s.catch.n])
    return Table(
        "Capability grid",
        ["attacker", "critic", "catch rate", "safety", "valid attacks"],
        rows,
        note="Off the diagonal the attacker's policy is the one trained against its own level's "
        "critic; only its best-of-n vetting runs against the critic it faces.",
    )


def round_figures(cfg: ArmsRaceConfig, a: Analysis) -> list[Figure]:
    out = []
    for what, label in (
        ("success", "attack success"),
        ("catch", "catch rate"),
        ("auc", "suspicion AUC"),
    ):
        series = {}
        for level, rounds in sorted(a.rounds.items()):
            xs = [float(r["round"]) for r in rounds]
            series[f"L{level} vs critic before update"] = plots.Series(
                xs, [float(r.get(f"{what}_before", math.nan)) for r in rounds]
            )
            series[f"L{level} after"] = plots.Series(
                xs, [float(r.get(f"{what}_after", math.nan)) for r in rounds]
            )
        png = plots.line_plot(
            series, title=f"{label} per round", xlabel="round", ylabel=label, ylim=(0, 1)
        )
        out.append(Figure(f"Rounds: {label}", png))
    return out


def round_table(a: Analysis) -> Table:
    rows = []
    for level, rounds in sorted(a.rounds.items()):
        for r in rounds:
            rows.append(
                [
                    f"L{level}",
                    r["round"],
                    r.get("valid"),
                    r.get("success_before"),
                    r.get("success_after"),
                    r.get("catch_before"),
                    r.get("catch_after"),
                    r.get("auc_after"),
                    r.get("false_alarm_after"),
                    r.get("attacker_reward_last"),
                ]
            )
    return Table(
        "Arms race, round by round (evaluation programs)",
        [
            "level",
            "round",
            "valid",
            "success before",
            "success after",
            "catch before",
            "catch after",
            "AUC after",
            "false alarms",
            "attacker reward",
        ],
        rows,
        note="'before': the round's attacks against the critic they were trained against; "
        "'after': against the critic retrained on them. Round 0: the untrained (uniform) attacker. "
        "Means over replicates.",
    )


def heldout_table(cfg: ArmsRaceConfig, a: Analysis) -> Table:
    families = sorted({f for s in a.arms.values() for f in s.families if f != "composed"})
    rows = []
    for c in range(cfg.levels):
        for critic in CRITICS:
            s = a.arms.get(_arm(critic, "heldout", c))
            if s is None:
                continue
            rows.append(
                [
                    f"L{c}",
                    CRITIC_LABELS[critic],
                    _est(s, "catch"),
                    s.formula if critic == "random" else None,
                    *(
                        format_estimate(s.families[f], digits=2) if f in s.families else "–"
                        for f in families
                    ),
                ]
            )
    return Table(
        "Generalization: families no critic trained or was tuned on",
        ["critic level", "critic", "catch rate", "formula", *families],
        rows,
        note=f"Held out: {', '.join(cfg.heldout_families)}; only valid attacks (gold-checked "
        "at the requested subtlety) are judged.",
    )


def audit_table(cfg: ArmsRaceConfig, a: Analysis) -> Table:
    rows = []
    budgets = sorted(cfg.audit_budgets)
    for c in range(cfg.levels):
        for critic in CRITICS:
            s = a.arms.get(_arm(critic, "diag", c))
            if s is None:
                continue
            rows.append(
                [
                    f"L{c}",
                    CRITIC_LABELS[critic],
                    *(
                        format_estimate(s.false_alarm[b], digits=3) if b in s.false_alarm else "–"
                        for b in budgets
                    ),
                    *(s.precision.get(b) for b in budgets),
                ]
            )
    return Table(
        "Audits: false alarms on honest artifacts and audit precision",
        [
            "level",
            "critic",
            *(f"false alarms @{b:g}" for b in budgets),
            *(f"precision @{b:g}" for b in budgets),
        ],
        rows,
        note="Thresholds are set on the calibration programs' honest artifacts; false alarms are "
        "measured on the evaluation programs' (half of them refactors that look like attacks).",
    )


def _seeds(m: dict[str, Any], key: str) -> tuple[float, float, float]:
    """The pooled value of ``key`` and its interval over replicates (seeds)."""
    return (
        m.get(key, math.nan),
        m.get(f"{key}.over_seeds.ci_low", math.nan),
        m.get(f"{key}.over_seeds.ci_high", math.nan),
    )


def _versus(m: dict[str, Any], where: str, c: int, what: str = "catch") -> str:
    """The probe critic's ``what`` (catch or safety) against the strongest baseline's at level
    ``c`` on ``where`` attacks, judged by their intervals over seeds."""
    probe, lo, hi = _seeds(m, f"{where}_{what}.probe.L{c}")
    bases = [k for k in CRITICS if k != "probe" and f"{where}_{what}.{k}.L{c}" in m]
    if not bases:
        return f"{probe:.2f} [{lo:.2f}, {hi:.2f}]"
    best = max(bases, key=lambda k: m[f"{where}_{what}.{k}.L{c}"])
    value, b_lo, b_hi = _seeds(m, f"{where}_{what}.{best}.L{c}")
    if lo > b_hi:
        verdict = "the trained critic is better"
    elif hi < b_lo:
        verdict = "the baseline is better: a finding, not a win"
    else:
        verdict = "no difference the seeds can resolve"
    return (
        f"{probe:.2f} [{lo:.2f}, {hi:.2f}] against the strongest baseline, "
        f"{CRITIC_LABELS[best]}, {value:.2f} [{b_lo:.2f}, {b_hi:.2f}]: {verdict}"
    )


def findings(cfg: ArmsRaceConfig, a: Analysis) -> str:
    m = a.metrics
    lines = []
    for c in range(cfg.levels):
        safety = m.get(f"diagonal_safety.probe.L{c}", math.nan)
        verdict = "defense wins" if safety >= 0.5 else "offense wins"
        lines.append(
            f"Level {c}, matched capability: the trained critic catches "
            f"{_versus(m, 'diagonal', c)}. Its safety at {cfg.audit_budget:.0%} audit is "
            f"{_versus(m, 'diagonal', c, 'safety')}; {verdict} more often than not. On the "
            f"held-out families it catches {_versus(m, 'heldout', c)}."
        )
    first = m.get("diagonal_safety.probe.L0", math.nan)
    last = m.get(f"diagonal_safety.probe.L{cfg.levels - 1}", math.nan)
    trend = (
        "rises" if last > first + 0.05 else "falls" if last < first - 0.05 else "stays about level"
    )
    lines.append(
        f"Along the diagonal, safety {trend} as both sides grow ({first:.2f} to {last:.2f}). "
        "Intervals are 95% t intervals over the replicates (each with its own programs, "
        "attacker and critic)."
    )
    return "\n\n".join(lines)


def build_report(cfg: ArmsRaceConfig, a: Analysis, config_yaml: str) -> Report:
    intro = (
        f"{cfg.replicates} independent replicates (seeds {cfg.seed} to "
        f"{cfg.seed + cfg.replicates - 1}), each with its own programs and agents; "
        f"{cfg.levels} capability levels, {cfg.rounds} rounds each; {cfg.problems.train} "
        f"training, {cfg.problems.calibration} calibration and {cfg.problems.eval} evaluation "
        f"programs ({cfg.generator.bits}-bit inputs, about {cfg.generator.length} lines). "
        f"Attacks differ from R on at most 2^-k of inputs, k in {cfg.subtlety_bits}.\n\n"
        + "\n\n".join(_level(cfg, i) for i in range(cfg.levels))
    )
    return Report(
        title="Arms race: trained attacker vs trained critic",
        subtitle="oversight run arms-race",
        sections=[
            Section("Findings", intro + "\n\n" + findings(cfg, a)),
            Section("Matched capability", "", [diagonal_table(cfg, a)]),
            Section("Capability grid", "", [grid_table(cfg, a)], grid_figures(cfg, a)),
            Section("Rounds", "", [round_table(a)], round_figures(cfg, a)),
            Section("Generalization", "", [heldout_table(cfg, a)]),
            Section("Audits", "", [audit_table(cfg, a)]),
        ],
        config_yaml=config_yaml,
        metrics=a.metrics,
    )


def summary_table(cfg: ArmsRaceConfig, a: Analysis) -> Table:
    """The headline printed by ``oversight run arms-race``: the diagonal and held-out catch."""
    m = a.metrics
    keys = [
        "diagonal_catch.probe",
        "diagonal_catch.random",
        "diagonal_safety.probe",
        "heldout_catch.probe",
        "heldout_catch.random",
    ]
    rows = [
        [f"L{c}", *(f"{m.get(f'{k}.L{c}', math.nan):.2f}" for k in keys)] for c in range(cfg.levels)
    ]
    return Table(
        "Arms race",
        ["level", "diagonal catch", "random", "diagonal safety", "held-out catch", "random"],
        rows,
    )
