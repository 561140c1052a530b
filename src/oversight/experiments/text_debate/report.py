"""Tables, plots and prose of the text-debate report, all computed from a TextAnalysis."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from oversight.core.records import Transcript
from oversight.envs.text.quotes import render_for_judge
from oversight.envs.text.records import render_answers
from oversight.experiments.text_debate.analysis import SCORES, TextAnalysis
from oversight.experiments.text_debate.config import TextDebateConfig
from oversight.experiments.text_debate.run import Arm
from oversight.experiments.tournaments import (
    accuracy_vs_rating,
    honest_wins_table,
    ratings_table,
)
from oversight.metrics.estimate import format_estimate
from oversight.report import plots
from oversight.report.model import Figure, Report, Section, Table

LABELS = {
    "debate-sequential": "debate, sequential",
    "debate-simultaneous": "debate, simultaneous",
    "consultancy": "consultancy (judge asks)",
    "critique": "critique-assisted",
    "direct": "judge alone (naive)",
}
SCORE_LABELS = {"accuracy": "accuracy", "log_loss": "log loss", "brier": "Brier", "ece": "ECE"}


def summary_table(cfg: TextDebateConfig, a: TextAnalysis, terminal: bool = True) -> Table:
    """Judge scores per protocol at the base setting."""
    digits = 2 if terminal else 3
    rows = []
    for p in cfg.protocols:
        s = a.scores[a.base(cfg, p)]
        row = [
            p if terminal else LABELS[p],
            *(format_estimate(s[n], digits=digits) for n in SCORES),
        ]
        if not terminal:
            row += [
                format_estimate(s["accuracy_if_correct"], digits=digits),
                format_estimate(s["accuracy_if_wrong"], digits=digits),
            ]
        rows.append(row)
    columns = ["protocol", *SCORE_LABELS.values()]
    if not terminal:
        columns += ["acc., proposed right", "acc., proposed wrong"]
    return Table(
        f"Judge scores by protocol ({cfg.difficulty} stories, liar fabrication "
        f"{cfg.debater.fabrication_rate:g}, trust in unverified quotes "
        f"{cfg.judge.trust_unverified:g}; 95% CIs over stories)",
        columns,
        rows,
        note="Averaged over both answer orders. The proposed answer is debater A's in debate, "
        "the consultant's or answerer's otherwise (half right, half wrong); lower log loss, "
        "Brier and ECE are better.",
    )


def _sweep(
    cfg: TextDebateConfig,
    a: TextAnalysis,
    knob: str,
    values: Sequence[float] | Sequence[str],
    xlabel: str,
) -> Section:
    def arm(p: str, v: object) -> str:
        base = Arm(
            p, cfg.difficulty, cfg.debater.fabrication_rate, cfg.judge.trust_unverified
        ).__dict__
        return Arm(**{**base, knob: v}).name

    protocols = [p for p in cfg.protocols if p != "direct" or knob == "level"]
    xs = list(range(len(values))) if knob == "level" else [float(v) for v in values]
    series = {}
    rows = []
    for p in protocols:
        est = [a.scores[arm(p, v)]["accuracy"] for v in values]
        series[LABELS[p]] = plots.Series(
            xs, [e.value for e in est], [e.ci_low for e in est], [e.ci_high for e in est]
        )
        rows.append([LABELS[p], *(format_estimate(e, digits=3) for e in est)])
    title = f"Judge accuracy vs {xlabel}"
    png = plots.line_plot(series, title=title, xlabel=xlabel, ylabel="accuracy", ylim=(0, 1.02))
    text = ""
    if knob == "level":
        text = "Levels: " + "; ".join(
            f"{name} = {k.distractor_facts} distractor facts, {k.near_misses} near misses, "
            f"{k.filler} filler sentences"
            for name, k in cfg.levels.items()
        )
        text += " (x axis: levels in this order)."
    table = Table(title, ["protocol", *(str(v) for v in values)], rows)
    return Section(f"Sweep: {xlabel}", text, [table], [Figure(title, png)])


def calibration_section(cfg: TextDebateConfig, a: TextAnalysis) -> Section:
    series = {}
    for p in cfg.protocols:
        conf, acc, count = a.calibration[a.base(cfg, p)]
        keep = count > 0
        series[LABELS[p]] = plots.Series(list(conf[keep]), list(acc[keep]))
    diagonal = {"perfect calibration": plots.Series([0.5, 1.0], [0.5, 1.0])}
    png = plots.line_plot(
        series,
        title="Reliability (base setting)",
        xlabel="judge's probability for its chosen answer",
        ylabel="share correct",
        bounds=diagonal,
    )
    return Section(
        "Calibration",
        "Top-label reliability over 10 equal-width bins, both answer orders pooled; ECE in "
        "the summary table is the count-weighted gap to the diagonal.",
        figures=[Figure("Reliability", png)],
    )


def tournament_section(cfg: TextDebateConfig, a: TextAnalysis) -> Section:
    t = a.tournament
    assert t is not None
    variants = cfg.tournament.variants  # the order of t.variants
    ratings = ratings_table(
        t,
        cfg.tournament.protocol,
        {
            "best of n": [v.best_of_n for v in variants],
            "recall": [v.recall for v in variants],
            "fabrication": [v.fabrication_rate for v in variants],
        },
        ("self-play judge accuracy", t.self_play),
        note="Self-play accuracy CIs resample stories.",
    )
    order = np.argsort([e.value for e in t.bt])
    figure = accuracy_vs_rating(t.variants, t.bt, t.self_play, "judge accuracy in self-play")
    corr = a.metrics.get("tournament.rating_accuracy_correlation")
    text = (
        "Every ordered pair of variants (self-play included) debates each tournament story in "
        "both answer orders; a variant wins a game when the judge picks its answer. "
        f"Points in rating order: {', '.join(t.variants[i] for i in order)}."
    )
    if corr is not None:
        text += f" Pearson correlation of rating and self-play accuracy: {corr:.2f}."
    return Section("Tournament", text, [ratings, honest_wins_table(t)], [figure])


def example_text(t: Transcript) -> str:
    """A transcript as the judge saw it, with its verdict and the correct answer."""
    answers = [t.problem.data["answers"][i] for i in t.require_gold().info["shown"]]
    options = render_answers(answers).replace("\n", "; ")
    lines = [f"Question: {t.problem.data['question']}", options]
    source = t.problem.data["source"]
    lines += [f"{m.role}: {render_for_judge(m.text, source)}" for m in t.messages]
    v = t.verdict
    assert v is not None and v.probs is not None and t.gold is not None
    probs = ", ".join(f"{p:.2f}" for p in v.probs)
    lines.append(
        f"Verdict: option {'AB'[v.choice or 0]} (probabilities {probs}); "
        f"correct: {'AB'[t.gold.info['correct']]}"
    )
    return "\n\n".join(lines)


def build_report(cfg: TextDebateConfig, a: TextAnalysis, config_yaml: str) -> Report:
    sections = [
        Section(
            "Protocols compared",
            "Simulated agents on generated stories: the honest side knows the planted fact and "
            "quotes it; the liar argues a distractor, quoting real but misleading sentences or "
            "fabricating quotes. The judge never reads the story: it sees each quote marked "
            "verified or unverified and weighs verified ones.",
            [summary_table(cfg, a, terminal=False)],
            [
                Figure(
                    "Judge accuracy by protocol",
                    plots.bar_plot(
                        {
                            p: (
                                (s := a.scores[a.base(cfg, p)]["accuracy"]).value,
                                s.ci_low,
                                s.ci_high,
                            )
                            for p in cfg.protocols
                        },
                        title="Judge accuracy by protocol (base setting)",
                        ylabel="accuracy",
                    ),
                )
            ],
        )
    ]
    if len(cfg.sweeps.fabrication_rate) > 1:
        sections.append(
            _sweep(cfg, a, "fabrication_rate", cfg.sweeps.fabrication_rate, "liar fabrication")
        )
    if len(cfg.sweeps.trust_unverified) > 1:
        sections.append(
            _sweep(cfg, a, "trust_unverified", cfg.sweeps.trust_unverified, "trust in unverified")
        )
    if cfg.sweeps.difficulty and len(cfg.levels) > 1:
        sections.append(_sweep(cfg, a, "level", list(cfg.levels), "story difficulty"))
    sections.append(calibration_section(cfg, a))
    if a.tournament is not None:
        sections.append(tournament_section(cfg, a))
    if a.examples:
        sections.append(
            Section(
                "Example transcripts (proposed answer wrong)",
                "\n\n".join(f"{LABELS[p]}:\n\n{example_text(t)}" for p, t in a.examples.items()),
            )
        )
    return Report(
        title="Debate, consultancy and critiques on hidden-source reading comprehension",
        subtitle="oversight run text-debate (simulated agents, offline)",
        sections=sections,
        config_yaml=config_yaml,
        metrics=a.metrics,
    )
