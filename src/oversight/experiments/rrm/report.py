"""Tables, plots and prose of the RRM report, all computed from an Analysis."""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np

from oversight.experiments.rrm.analysis import (
    LEVEL1_SCALARS,
    LEVEL2_SCALARS,
    REACH_GROUPS,
    REACH_KEYS,
    Analysis,
    baseline_modes,
    learned_modes,
)
from oversight.experiments.rrm.config import RRMExperimentConfig
from oversight.experiments.rrm.measures import FLAW_SHARE_KEYS, REACH_CAP
from oversight.metrics.estimate import format_ci, format_estimate
from oversight.report import plots
from oversight.report.model import Figure, Report, Section, Table


def _ci(a: Analysis, key: str) -> str:
    return format_ci(a.metrics, key)


def summary_table(cfg: RRMExperimentConfig, a: Analysis, terminal: bool = True) -> Table:
    """The headline: per arm, after the last round, on held-out programs."""
    last = a.config.rounds - 1
    # In the terminal: means only, so that the table fits; the report has the intervals.
    show = (lambda key: a.metrics.get(key)) if terminal else (lambda key: _ci(a, key))
    rows = []
    for m in a.config.modes if a.config.depth >= 2 else []:
        base = f"level2.round{last}.{m.name}"
        rows.append(
            [
                m.name,
                show(f"{base}.judge_balanced_accuracy"),
                show(f"{base}.judge_catch_rate"),
                show(f"{base}.judge_false_alarm_rate"),
                show(f"{base}.rm_balanced_accuracy_heldout_programs"),
                show(f"{base}.judge_balanced_accuracy_heldout_families"),
                show(f"bon.{m.name}.final_gold"),
                show(f"rl.{m.name}.final_gold"),
                show(f"rl.{m.name}.final_accepted_broken"),
            ]
        )
    n = a.config.bon_n[-1]
    return Table(
        "Level 2 after the last round, held-out programs (mean over seeds"
        + (")" if terminal else ", 95% t-interval over seeds, each seed with its own programs)"),
        [
            "arm",
            "judge bal. acc.",
            "judge catch",
            "judge false alarms",
            "RM bal. acc.",
            "judge, held-out families",
            f"gold, BoN {n}",
            "gold, RL",
            "accepted broken, RL",
        ],
        rows,
        note=""
        if terminal
        else "Every arm's judge has the same level-0 access (its own random inputs checked "
        "with traces); the assisted arms add one critic claim. Accepted broken = the optimised "
        "policy's share of artifacts the reward model accepts (P >= 0.5) and gold rejects. "
        "The gold arm optimises gold's labels themselves (no reward model). Gold value: +1 per "
        f"saved line if equivalent, -{a.config.penalty:g} if not.",
    )


def _flaw_table(a: Analysis) -> Table:
    names = {
        "action_space": "single edits, uniformly",
        "initial_policy": f"initial improver, {a.config.episode_edits}-edit episodes",
    }
    rows = [
        [names[where], *(_ci(a, f"flaw_shares.{where}.{k}") for k in FLAW_SHARE_KEYS)]
        for where in names
    ]
    return Table(
        "How wrong the improver's artifacts are (share of inputs on which P differs from R)",
        ["artifacts", *FLAW_SHARE_KEYS],
        rows,
        note="broken: share of artifacts gold rejects for a difference; the next four: among "
        "broken ones, the share wrong on at most 2^-6, 2^-3, under half, and at least half of "
        "the inputs; no saving: artifacts any judge rejects for free (none: deletions and "
        "guard folds both save a line). The initial improver's episodes are those judged on "
        "held-out programs.",
    )


def _curve_figure(a: Analysis, kind: str, key: str, ylabel: str) -> Figure:
    series = {}
    for mode, c in a.curves[kind].items():
        xs = np.sqrt(np.maximum(c["kl"].mean(axis=0), 0.0))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # undefined (NaN) points stay gaps
            ys = np.nanmean(c[key], axis=0)
            lo, hi = np.nanmin(c[key], axis=0), np.nanmax(c[key], axis=0)
        series[mode] = plots.Series(list(xs), list(ys), list(lo), list(hi))
    what = "best-of-n" if kind == "bon" else "RL (policy gradient with KL penalty)"
    png = plots.line_plot(
        series,
        title=f"{ylabel} vs sqrt(KL), {what}",
        xlabel="d = sqrt(KL(pi || pi_init)) [nats^0.5]",
        ylabel=ylabel,
    )
    return Figure(
        f"{ylabel}: {what}",
        png,
        caption="Mean over seeds; band = range over seeds. Held-out reference programs; "
        + _kl_caption(a, kind),
    )


def _kl_caption(a: Analysis, kind: str) -> str:
    edits, pool = a.config.episode_edits, a.config.bon_pool
    if kind == "bon" and edits == 1:
        return "best-of-n and its KL computed exactly over every edit (discrete outputs)."
    if kind == "bon":
        return (
            f"best-of-n estimated from {pool} initial-policy episodes of {edits} edits per "
            "reference (the unbiased estimator: every n-subset of the pool averaged); KL is the "
            "analytic log n - (n-1)/n."
        )
    return (
        f"{a.config.curve_samples} sampled episodes of {edits} edits per reference at each "
        "point; KL is the exact per-step KL to the initial policy summed along each episode."
    )


def _bon_bound_figure(a: Analysis) -> Figure:
    ns = [float(n) for n in a.config.bon_n]
    series = {
        mode: plots.Series(ns, list(c["kl"].mean(axis=0))) for mode, c in a.curves["bon"].items()
    }
    bound = {"log n - (n-1)/n (upper bound)": plots.Series(ns, [_bound(n) for n in ns])}
    png = plots.line_plot(
        series,
        title="Exact best-of-n KL vs the analytic bound",
        xlabel="n",
        ylabel="KL (nats)",
        logx=True,
        bounds=bound,
    )
    return Figure(
        "Best-of-n KL: exact vs bound",
        png,
        caption="For discrete outputs (ties among equally scored edits) the analytic value is "
        "only an upper bound; the measured curves use the exact KL.",
    )


def _bound(n: float) -> float:
    return math.log(n) - (n - 1) / n


def _fits_table(a: Analysis) -> Table:
    rows = []
    for key, fit in a.fits.items():
        kind, mode = key.split(".", 1)
        if "error" in fit:
            rows.append([mode, kind, "–", "–", "–", fit["n_points"], fit["error"]])
            continue
        resid = np.abs(np.array(fit["residuals"]))
        rows.append(
            [
                mode,
                "best-of-n: d(α − βd)" if kind == "bon" else "RL: d(α − β log d)",
                fit["alpha"],
                fit["beta"],
                fit["r2"],
                fit["n_points"],
                f"max |residual| {resid.max():.3g}" if resid.size else "–",
            ]
        )
    return Table(
        "Overoptimization fits (Gao, Schulman, Hilton 2022), gold change from the initial policy",
        ["mode", "form", "α", "β", "R²", "points", "residuals"],
        rows,
        note="Least squares on the seed-mean curve; RL points at d = 0 are excluded by the form.",
    )


def _accuracy_table(a: Analysis) -> Table:
    rows = []
    for t in range(a.config.rounds):
        for m in a.config.modes:
            base = f"level2.round{t}.{m.name}"
            rows.append([t, m.name, *(_ci(a, f"{base}.{k}") for k in LEVEL2_SCALARS)])
    return Table(
        "Level 2 per round: judges and reward models against gold (held-out)",
        ["round", "mode", *(k.replace("_", " ") for k in LEVEL2_SCALARS)],
        rows,
        note="Held-out programs: edits of held-out references and makers' artifacts of the "
        "training families. Held-out families: backdoor families never trained on "
        f"({', '.join(a.config.held_out_families)}) and honest artifacts. Exploit rate: share of "
        "held-out references whose RM-favourite candidate gold rejects (exploits found on the "
        "training references are judged and added to the next round's training data).",
    )


def _pgr_table(a: Analysis) -> Table:
    rows = []
    for key, per_seed in a.pgr.items():
        kind, mode = key.split(".", 1)
        weak = sorted({r["weak"] for r in per_seed})
        rows.append(
            [
                mode,
                {"bon": "best-of-n", "rl": "RL", "rl_end": "RL, each arm at its end"}[kind],
                _ci(a, f"pgr.{key}"),
                f"{a.metrics.get(f'pgr.{key}.degenerate_seeds', 0)} / {len(per_seed)}",
                float(np.mean([r["kl"] for r in per_seed])),
                ", ".join(weak),
                _ci(a, f"pgr.{key}.gold_weak"),
                _ci(a, f"pgr.{key}.gold_strong"),
                _ci(a, f"pgr.{key}.gold_ceiling"),
            ]
        )
    return Table(
        "Performance gap recovered, against the strongest arm without learning",
        [
            "learned arm",
            "optimiser",
            "PGR",
            "degenerate seeds",
            "KL (matched, or the learned arm's end)",
            "strongest baseline",
            "gold baseline",
            "gold learned",
            "gold ceiling",
        ],
        rows,
        note="PGR = (gold of the policy optimised against the learned arm's RM − against the "
        "strongest baseline arm's) / (against gold itself − against that baseline), per seed at "
        "the largest KL every arm reaches (for RL at its end: each arm's last point, at its own "
        "KL); the baseline is the arm without learning "
        f"({', '.join(baseline_modes(a.config))}) with the highest gold in that seed. Seeds "
        "whose ceiling beats the baseline by less than 0.1 are degenerate: counted, left out "
        "of the mean.",
    )


def _sweep_table(a: Analysis) -> Table:
    rows = []
    for row in a.sweep:
        l0 = row["level0"]
        rows.append(
            [
                l0["tracer_epsilon"],
                "yes" if l0["lying"] else "no",
                l0["checker_budget"],
                *(
                    format_estimate(est)
                    for est in (
                        row["level1_accuracy"],
                        row["level1_false_confirm_rate"],
                        row["level1_missed_true_rate"],
                        row["level2_balanced_accuracy"],
                        row["level2_catch_rate"],
                        row["level2_false_alarm_rate"],
                    )
                ),
            ]
        )
    return Table(
        "How level-0 errors propagate (final critic, held-out artifacts)",
        [
            "tracer ε",
            "lying tracer",
            "checker budget",
            "L1 accuracy",
            "L1 false confirms",
            "L1 missed",
            "L2 bal. acc.",
            "L2 catch",
            "L2 false alarms",
        ],
        rows,
        note="Level 1: the trace-assisted verification of the critic's claims vs whether the "
        "claimed input really separates R and P. Level 2: the assisted judge's accept/reject vs "
        "gold. A caught lie in the artifact's trace rejects (rule artifact_trace_caught).",
    )


def _reach_table(a: Analysis) -> Table:
    names = {
        "improver": "initial improver's episodes",
        "train_families": "makers, training families",
        "held_out_families": "makers, held-out families",
    }
    return Table(
        "What the level-1 solver can reveal (held-out programs, broken artifacts)",
        ["artifacts", "some line (ceiling)", "the changed line", "the learned critic's line"],
        [[names[g], *(_ci(a, f"solver_reach.{g}.{k}") for k in REACH_KEYS)] for g in REACH_GROUPS],
        note="Share of broken artifacts on which the claim solver, aimed at a line, yields an "
        "input where P and R differ. 'Some line' tries every candidate line: no pointer "
        "policy using this solver can catch more (before level-0 errors). Up to "
        f"{REACH_CAP} broken artifacts per group and seed.",
    )


def _level1_table(a: Analysis) -> Table:
    keys = LEVEL1_SCALARS
    rows = [[t, *(_ci(a, f"level1.round{t}.{k}") for k in keys)] for t in range(a.config.rounds)]
    return Table(
        "Level 1 per round: the critic's claims, verified with level-0 help",
        ["round", *(k.replace("_", " ") for k in keys)],
        rows,
        note="Critic reward = RM1's probability that the judge confirms the claim, at the start "
        "and end of the round's policy-gradient training.",
    )


def _records_table(a: Analysis) -> Table:
    seed0 = a.seeds[0]["records"]
    rows = [
        [
            r["round"],
            r["level"],
            r["mode"],
            "; ".join(r["trained"]),
            r["verdicts"],
            "; ".join(r["assistants"]) or "none",
        ]
        for r in seed0
    ]
    return Table(
        f"What was trained, per level and round (seed {a.seeds[0]['seed']})",
        ["round", "level", "mode", "trained", "verdicts (cumulative)", "assistants"],
        rows,
    )


def findings(a: Analysis) -> str:
    """Plain statements of what the numbers say: the learned arm against the strongest arm
    without learning, whichever way it comes out."""
    m = a.metrics
    fmt = format_estimate  # a value alone, or "–" where undefined
    last = a.config.rounds - 1
    lines = []
    space = m.get("flaw_shares.action_space.at_most_2^-6")
    half = m.get("flaw_shares.action_space.half_or_more")
    free = m.get("flaw_shares.action_space.no_saving")
    lines.append(
        f"Flaws: of the broken single edits, {fmt(space)} are wrong on at most 2^-6 of inputs "
        f"and {fmt(half)} on at least half; {fmt(free)} of all edits save nothing (rejected "
        "for free). "
        + (
            "Most broken edits are rare flaws: random inputs rarely find them."
            if (space or 0) > 0.5
            else "Most broken edits are not rare: random inputs find them."
        )
    )
    if a.config.episode_edits > 1:
        policy = "flaw_shares.initial_policy"
        lines.append(
            f"The initial improver's {a.config.episode_edits}-edit episodes on held-out "
            f"programs: {fmt(m.get(f'{policy}.broken'))} broken; of those "
            f"{fmt(m.get(f'{policy}.at_most_2^-6'))} wrong on at most 2^-6 of inputs and "
            f"{fmt(m.get(f'{policy}.half_or_more'))} on at least half."
        )
    rewards = [
        (
            m.get(f"level1.round{t}.critic_reward_first"),
            m.get(f"level1.round{t}.critic_reward_last"),
        )
        for t in range(a.config.rounds)
    ]
    rises = sum(
        1 for first, end in rewards if first is not None and end is not None and end > first
    )
    lines.append(
        f"Level 1: policy gradient raised the critic's RM1 reward in {rises} of "
        f"{a.config.rounds} rounds (" + ", ".join(f"{fmt(f)} → {fmt(e)}" for f, e in rewards) + ")."
    )
    reach = {(g, k): m.get(f"solver_reach.{g}.{k}") for g in REACH_GROUPS for k in REACH_KEYS}
    lines.append(
        "What level 1's solver can reveal at all, aimed at the best line: "
        f"{fmt(reach['train_families', 'any_line'])} of broken training-family artifacts, "
        f"{fmt(reach['held_out_families', 'any_line'])} of held-out-family ones, "
        f"{fmt(reach['improver', 'any_line'])} of the improver's episodes. The learned "
        "critic's line reveals "
        f"{fmt(reach['train_families', 'learned_line'])}, "
        f"{fmt(reach['held_out_families', 'learned_line'])} and "
        f"{fmt(reach['improver', 'learned_line'])} of them; the changed line "
        f"{fmt(reach['train_families', 'changed_line'])}, "
        f"{fmt(reach['held_out_families', 'changed_line'])} and "
        f"{fmt(reach['improver', 'changed_line'])}."
    )
    if a.config.depth < 2:
        return "\n\n".join(lines)
    base = baseline_modes(a.config)
    for mode in learned_modes(a.config):
        for key, what in (
            ("judge_balanced_accuracy", "judge balanced accuracy on held-out programs"),
            ("judge_balanced_accuracy_heldout_families", "on held-out flaw families"),
        ):
            scores = {b: m.get(f"level2.round{last}.{b}.{key}") for b in base}
            known = {b: v for b, v in scores.items() if v is not None and math.isfinite(v)}
            mine = m.get(f"level2.round{last}.{mode}.{key}")
            if not known or mine is None:
                continue
            best = max(known, key=lambda b: known[b])
            lo = m.get(f"level2.round{last}.{mode}.{key}.ci_low")
            hi_b = m.get(f"level2.round{last}.{best}.{key}.ci_high")
            verdict = (
                "beats it"
                if mine > known[best] and lo is not None and hi_b is not None and lo > hi_b
                else "beats it, within the intervals' overlap"
                if mine > known[best]
                else "does NOT beat it"
            )
            lines.append(
                f"{mode}: {what} {fmt(mine)} against {fmt(known[best])} for the strongest arm "
                f"without learning ({best}): the learned critic {verdict}."
            )
        for kind, what in (
            ("bon", "best-of-n"),
            ("rl", "RL at matched KL"),
            ("rl_end", "RL, each arm at its end"),
        ):
            pgr = m.get(f"pgr.{kind}.{mode}")
            broken = m.get(f"{kind.removesuffix('_end')}.{mode}.final_accepted_broken")
            lines.append(
                f"{mode}, {what}: PGR {fmt(pgr)} against the strongest baseline arm "
                f"(degenerate seeds: {m.get(f'pgr.{kind}.{mode}.degenerate_seeds', 0)}); the "
                f"optimised policy's accepted-broken rate {fmt(broken)}."
            )
    return "\n\n".join(lines)


def build_report(cfg: RRMExperimentConfig, a: Analysis, config_yaml: str) -> Report:
    cfg = a.config
    sections = [
        Section(
            "Setup",
            f"Programs of {cfg.generator.length} lines ({cfg.generator.bits}-bit inputs); the "
            f"judge's budget is {cfg.judge_budget} line evaluations at every level, so alone it "
            "cannot run one test. Level 0: traces checked one contested step at a time, "
            "imperfect by default (sloppy and lying tracers, a checker budget below a trace's "
            "length). Every judge checks its own random inputs with level 0; the arms differ "
            "in the critic added: none, random inputs, the solver aimed at the changed line, or "
            "the learned critic. Level 1: a learned critic (pointer policy + solver) trained "
            "by policy gradient against a reward model of its claims' level-0-assisted "
            "verifications. Level 2: a learned program improver whose artifact is an episode "
            f"of {cfg.episode_edits} edits (deletions and guard folds), first imitating an "
            "honest demonstrator's edits of the training programs, then trained by policy "
            "gradient against a reward model of each arm's verdicts on its final programs. "
            f"{cfg.rounds} alternating rounds, "
            f"depth {cfg.depth}, seeds {cfg.seeds} (each with its own programs); "
            f"{cfg.train_refs} training and {cfg.test_refs} held-out references per seed. "
            "Reward models never see gold; the gold arm optimises gold itself.",
            tables=[_flaw_table(a), _records_table(a)],
        ),
        Section("Level 1", tables=[_level1_table(a), _reach_table(a), _sweep_table(a)]),
    ]
    sections.insert(
        1,
        Section(
            "Findings",
            findings(a),
            tables=[summary_table(cfg, a, terminal=False)] if cfg.depth >= 2 else [],
        ),
    )
    if cfg.depth >= 2:
        sections.append(
            Section(
                "Overoptimization: proxy and gold as optimisation proceeds",
                figures=[
                    _curve_figure(a, "bon", "gold", "gold value"),
                    _curve_figure(a, "bon", "hacking", "reward-hacking rate"),
                    _curve_figure(a, "bon", "proxy", "proxy (RM) score"),
                    _curve_figure(a, "rl", "gold", "gold value"),
                    _curve_figure(a, "rl", "hacking", "reward-hacking rate"),
                    _curve_figure(a, "rl", "proxy", "proxy (RM) score"),
                    # sampled best-of-n takes the bound as its KL: a figure would show nothing
                    *([_bon_bound_figure(a)] if cfg.episode_edits == 1 else []),
                ],
                tables=[_fits_table(a), _pgr_table(a)],
            )
        )
        sections.append(Section("Accuracy per round", tables=[_accuracy_table(a)]))
    return Report(
        "Recursive reward modeling on the program environment",
        subtitle="Does the reward model hold up when a policy optimises against it?",
        sections=sections,
        config_yaml=config_yaml,
        metrics=a.metrics,
    )


def as_json(a: Analysis) -> dict[str, Any]:
    """Curves and fits for metrics.json (beside the flat scalar metrics)."""
    out: dict[str, Any] = {}
    for kind, modes in a.curves.items():
        for mode, c in modes.items():
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)  # NaN where no seed defines it
                out[f"curve.{kind}.{mode}"] = {
                    k: np.nanmean(v, axis=0).tolist() for k, v in c.items()
                }
    out["fits"] = a.fits
    out["pgr_per_seed"] = a.pgr
    return out
