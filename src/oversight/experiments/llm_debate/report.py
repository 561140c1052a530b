"""The LLM-debate report: scores per protocol, calibration, model usage, cache and cost."""

from __future__ import annotations

from oversight.experiments.llm_debate.analysis import LLMAnalysis
from oversight.experiments.llm_debate.config import LLMDebateConfig, Variant
from oversight.experiments.tournaments import (
    accuracy_vs_rating,
    honest_wins_table,
    ratings_table,
)
from oversight.metrics.estimate import Estimate, format_estimate
from oversight.models.base import ModelUsage
from oversight.report import plots
from oversight.report.model import Figure, Report, Section, Table


def _ci(e: Estimate) -> str:
    return format_estimate(e, digits=3)


def _money(u: ModelUsage) -> str:
    return f"${u.cost:.4f}" if u.priced else "no price"


def scores_table(a: LLMAnalysis) -> Table:
    rows = [
        [
            s.protocol,
            s.n,
            _ci(s.accuracy),
            _ci(s.log_loss),
            _ci(s.brier),
            s.ece,
            s.judge_failures["parse_failure"],
            s.judge_failures["refusal"],
            s.failure_rate,
            s.speaker_failures["parse_failure"] + s.speaker_failures["refusal"],
        ]
        for s in a.scores
    ]
    return Table(
        "Judge scores per protocol (both answer orders)",
        [
            "protocol",
            "episodes",
            "accuracy",
            "log loss",
            "Brier",
            "ECE",
            "judge parse failures",
            "judge refusals",
            "judge failure rate",
            "speaker failures",
        ],
        rows,
        note="95% bootstrap CIs over episodes. Accuracy: 1 when the correct answer has the judge's "
        "highest probability, 1/2 on a tie. Scores cover parsed judgments only (episodes): a "
        "parse failure or refusal is counted apart, and with none parsed the scores are "
        "undefined. Speaker failures: speeches without an <argument> tag, or refused.",
    )


def order_table(a: LLMAnalysis) -> Table:
    orders = list(a.scores[0].accuracy_by_order) if a.scores else []
    rows = [[s.protocol, *[_ci(s.accuracy_by_order[o]) for o in orders]] for s in a.scores]
    return Table(
        "Accuracy by answer order (a gap is position bias)",
        ["protocol", *orders],
        rows,
    )


def calibration_section(a: LLMAnalysis) -> Section:
    rows = [
        [s.protocol, f"{c:.2f}", f"{acc:.2f}", n] for s in a.scores for c, acc, n in s.calibration
    ]
    table = Table(
        "Calibration of the judge's top choice",
        ["protocol", "mean top probability", "accuracy", "episodes"],
        rows,
        note="Bins of the top probability: [0.5, 0.6), ..., [0.9, 1.0]; empty bins left out.",
    )
    series = {
        s.protocol: plots.Series(
            xs=[c for c, _, _ in s.calibration], ys=[acc for _, acc, _ in s.calibration]
        )
        for s in a.scores
        if s.calibration
    }
    figures = []
    if series:
        png = plots.line_plot(
            series,
            title="Reliability: accuracy against the judge's top probability",
            xlabel="top probability",
            ylabel="accuracy",
            ylim=(0, 1),
            bounds={"perfect calibration": plots.Series(xs=[0.5, 1.0], ys=[0.5, 1.0])},
        )
        figures.append(Figure("Reliability diagram", png))
    return Section("Calibration", "", [table], figures)


def usage_table(title: str, usage: dict[str, ModelUsage]) -> Table:
    rows = [
        [name, u.calls, u.cached, u.input_tokens, u.output_tokens, _money(u)]
        for name, u in sorted(usage.items())
    ]
    return Table(
        title,
        ["model", "calls", "served from cache", "input tokens", "output tokens", "cost"],
        rows,
        note="Tokens and cost count calls the provider answered; a cached call is free.",
    )


def usage_section(a: LLMAnalysis) -> Section:
    total = ModelUsage()
    for u in a.usage.values():
        total.add(u)
    session = ModelUsage()
    for u in a.session.values():
        session.add(u)
    text = (
        f"{total.calls} model calls over the whole run, {total.cached} served from Inspect's "
        f"cache; this session made {session.calls} calls, {session.cached} from the cache. "
        f"Cost: {_money(total)} (estimated before the run: {a.estimate.get('text', '–')})."
    )
    parts = [[k, v] for k, v in sorted(a.models.items())]
    roles = Table("Models by part", ["part", "model"], parts)
    prompts = Table(
        "Prompt templates (copied into this run folder, prompts/)",
        ["template", "sha256 (first 12)"],
        [[k, v] for k, v in a.prompts.items()],
    )
    return Section(
        "Model usage, cache and cost",
        text,
        [
            usage_table("Whole run", a.usage),
            usage_table("This session", a.session),
            roles,
            prompts,
        ],
    )


def tournament_section(cfg: LLMDebateConfig, a: LLMAnalysis) -> Section:
    """Ratings, the honest-win matrix and judge accuracy against debater rating."""
    t = a.tournament
    assert t is not None
    variants = cfg.tournament.variants  # the order of t.variants

    def prompts(v: Variant) -> str:
        parts = [f"folder {v.prompts}"] if v.prompts else []
        parts += ["own debater.j2"] if v.debater_template else []
        return ", ".join(parts) or "the run's"

    ratings = ratings_table(
        t,
        cfg.tournament.protocol,
        {
            "model": [v.model or cfg.role_model("debater") for v in variants],
            "prompts": [prompts(v) for v in variants],
            "best of n": [v.best_of_n for v in variants],
        },
        ("judge accuracy, variant honest", t.honest_accuracy),
        note="Accuracy CIs resample games.",
    )
    corr = t.correlation()
    text = (
        f"Every ordered pair of distinct variants debates the same "
        f"{cfg.tournament.games_per_pair // 2} items in both answer orders, so each variant "
        "argues the correct and the wrong answer equally often, as debater A and as B. "
        "Best-of-n: the variant samples n arguments per speech and keeps the one a judge "
        "scores most favourable to its answer."
    )
    if corr is not None:
        text += f" Pearson correlation of rating and judge accuracy: {corr:.2f}."
    figure = accuracy_vs_rating(
        t.variants, t.bt, t.honest_accuracy, "judge accuracy with the variant honest"
    )
    return Section("Tournament", text, [ratings, honest_wins_table(t)], [figure])


def build_report(cfg: LLMDebateConfig, a: LLMAnalysis, config_yaml: str) -> Report:
    warnings = [Section("Warnings", "\n\n".join(a.warnings))] if a.warnings else []
    sections = [
        *warnings,
        Section(
            "Judge accuracy",
            "The judge never reads the source; speakers quote it and the judge is told which "
            "quotes match it word for word. Each item is played with the correct answer "
            "shown first and second.",
            [scores_table(a), order_table(a)],
        ),
        calibration_section(a),
    ]
    if a.tournament is not None:
        sections.append(tournament_section(cfg, a))
    sections.append(usage_section(a))
    return Report(
        title="Debate, consultancy and critique with language models",
        subtitle="oversight run llm-debate",
        sections=sections,
        config_yaml=config_yaml,
        metrics=a.metrics,
    )


def summary_table(cfg: LLMDebateConfig, a: LLMAnalysis) -> Table:
    """The CLI's headline: scores per protocol, then calls, cached calls and cost."""
    rows: list[list[object]] = [
        [s.protocol, _ci(s.accuracy), f"{s.failure_rate:.0%}", _ci(s.log_loss), _ci(s.brier)]
        for s in a.scores
    ]
    total = ModelUsage()
    for u in a.session.values():
        total.add(u)
    warning = "".join(f"\nWARNING: {w}" for w in a.warnings)
    return Table(
        f"LLM judge ({total.calls} calls this session, {total.cached} served from cache, "
        f"cost {_money(total)}){warning}",
        ["protocol", "accuracy", "judge failures", "log loss", "Brier"],
        rows,
    )
