"""The digits-debate report: the paper's Table 2 beside ours, controls, lies, MCTS check."""

from __future__ import annotations

from oversight.experiments.digits_debate.analysis import FIRST, DigitsAnalysis, SettingTable
from oversight.experiments.digits_debate.config import DigitsDebateConfig
from oversight.metrics.estimate import Estimate, format_estimate
from oversight.report import plots
from oversight.report.model import Figure, Report, Section, Table

COLUMNS = ("judge_alone", "no_precommit", "precommit")
PLANNERS = {
    "ruling": "debaters plan against the ruling judge",
    "copy": "debaters plan against a copy of the judge (same recipe, another seed)",
}


def _pct(e: Estimate | float | None) -> str:
    """A win rate (with its CI when it is an estimate) in percent, one decimal."""
    return format_estimate(e, digits=1, percent=True)


def table2(t: SettingTable) -> Table:
    """Rows: first mover (honest, liar, mean); columns: ours beside the paper's."""
    rows = []
    for first in (*FIRST, "mean"):
        row: list[object] = [t.pixels, first]
        for column in COLUMNS:
            cell = t.cells.get((first, column))
            row += [_pct(cell.estimate if cell else None), _pct(cell.paper if cell else None)]
        rows.append(row)
    header = ["pixels", "first mover"]
    for column in COLUMNS:
        name = column.replace("_", " ")
        header += [name, f"{name} (paper, MNIST)"]
    return Table(
        f"Honest-player win rate, {t.setting}: {PLANNERS[t.planner]}",
        header,
        rows,
        note="95% bootstrap CIs over test images. 'mean' averages the two first movers per image. "
        "Precommit: the liar tries all nine wrong labels and wins if any wins. No precommit: "
        "the judge's argmax over all ten classes must be the true label.",
    )


def confusion_table(t: SettingTable) -> Table:
    rows = [[f"true {i}", *t.confusion[i].tolist()] for i in range(10)]
    return Table(
        f"Successful precommitted lies, {t.setting} ({t.planner} judge): [true label, lie]",
        ["", *[f"lie {j}" for j in range(10)]],
        rows,
        note="Counted over test images and both first movers; each winning lie counts once.",
    )


def scores_table(a: DigitsAnalysis) -> Table:
    rows = []
    for t in a.tables:
        for mode in ("no_precommit", "precommit"):
            rows.append(
                [
                    t.setting,
                    t.planner,
                    mode.replace("_", " "),
                    format_estimate(t.log_loss.get(mode), digits=3),
                    format_estimate(t.brier.get(mode), digits=3),
                ]
            )
    return Table(
        "The ruling judge's probability for the true answer at the end of debate",
        ["setting", "planning judge", "mode", "log loss", "Brier score"],
        rows,
        note="Over all games. Precommit: probability over the two committed labels; no "
        "precommit: over all ten. Brier score of the binary event 'the true answer' (2 (1-p)^2).",
    )


def control_table(a: DigitsAnalysis) -> Table:
    rows = [
        [
            k,
            _pct(c["judge_alone"]),
            _pct(c["random_second_label"]),
            _pct(c["adversarial_second_label"]),
        ]
        for k, c in sorted(a.controls.items())
    ]
    return Table(
        "Precommitment without debate (random pixels)",
        [
            "pixels",
            "judge alone (argmax)",
            "vs a random wrong label",
            "vs the judge's top wrong label",
        ],
        rows,
        note="The judge sees k random nonzero pixels and only has to choose between the true "
        "label and a second one. Compare with the precommit column of the debate: the gap is "
        "what debate adds beyond precommitment. Against the judge's top wrong label the rule "
        "is the judge's argmax, so that column equals judge alone by construction.",
    )


def mcts_section(cfg: DigitsDebateConfig, a: DigitsAnalysis) -> Section:
    check = a.mcts_check
    budgets = sorted(check["rollouts"])
    series, bounds, rows = {}, {}, []
    for mode in ("no_precommit", "precommit"):
        ests = [check["rollouts"][r][mode] for r in budgets]
        series[f"MCTS, {mode.replace('_', ' ')}"] = plots.Series(
            budgets, [e.value for e in ests], [e.ci_low for e in ests], [e.ci_high for e in ests]
        )
        bounds[f"exact minimax, {mode.replace('_', ' ')}"] = plots.Series(
            budgets, [check["minimax"][mode]] * len(budgets)
        )
    for r in budgets:
        c = check["rollouts"][r]
        rows.append([r, _pct(c["agreement"]), _pct(c["no_precommit"]), _pct(c["precommit"])])
    rows.append(
        [
            "exact minimax",
            "100%",
            _pct(check["minimax"]["no_precommit"]),
            _pct(check["minimax"]["precommit"]),
        ]
    )
    fig = Figure(
        "MCTS honest-win rate vs rollouts, against exact minimax",
        plots.line_plot(
            series,
            title=f"k = {cfg.mcts_check.pixels}, {cfg.mcts_check.images} test images",
            xlabel="rollouts per move",
            ylabel="honest win rate (per image, first mover)",
            logx=True,
            bounds=bounds,
        ),
    )
    table = Table(
        "MCTS vs exact minimax: agreement per game (10 objectives x 2 first movers per "
        "image), win rates per image and first mover",
        ["rollouts", "agreement with minimax", "no precommit", "precommit"],
        rows,
    )
    return Section("MCTS against exact minimax", "", [table], [fig])


def differences_text(cfg: DigitsDebateConfig) -> str:
    names = {"minimax": "exact minimax (proof search)", "mcts": "MCTS", "greedy": "greedy"}
    search = ", ".join(
        f"k={s.pixels}: {names[s.debater]}"
        + (f" with {s.rollouts} rollouts per move" if s.debater == "mcts" else "")
        for s in cfg.settings
    )
    return (
        "Differences from the paper. Dataset: scikit-learn's 8x8 digits (1,797 images, 17 grey "
        "levels, about 33 nonzero pixels each; test split of 540) instead of 28x28 MNIST, so "
        "each pixel carries more of the image. Judge: an MLP (two hidden layers of 256) trained "
        f"for {cfg.judge.steps} steps with a fresh random mask per example, instead of the "
        "paper's CNN trained for 30k-50k batches. Search: " + search + "; the paper used MCTS "
        "with 10,000 rollouts per move and no exact minimax. Exact minimax is the strongest "
        "possible play against the judge it plans on, so where we use it, both debaters are "
        "stronger than the paper's; where we use MCTS with far fewer rollouts, weaker. The paper "
        "averaged 3 seeds per lie; each of our games is deterministic given the judge."
    )


def build_report(cfg: DigitsDebateConfig, a: DigitsAnalysis, config_yaml: str) -> Report:
    ruling = [t for t in a.tables if t.planner == "ruling"]
    robust = [t for t in a.tables if t.planner == "copy"]
    sections = [
        Section(
            "Table 2: honest-player win rate", differences_text(cfg), [table2(t) for t in ruling]
        ),
        Section("Precommitment alone", "", [control_table(a)]),
    ]
    if robust:
        sections.append(
            Section(
                "Robustness: debaters plan against a judge copy",
                "The debaters search against a copy of the judge trained with another seed; the "
                "original judge rules. A gap to the table above is what the results owed to "
                "perfect knowledge of the judge.",
                [table2(t) for t in robust],
            )
        )
    sections.append(Section("Successful lies", "", [confusion_table(t) for t in ruling]))
    sections.append(Section("Judge probabilities", "", [scores_table(a)]))
    if a.mcts_check:
        sections.append(mcts_section(cfg, a))
    return Report(
        title="Pixel debate on 8x8 digits (Irving, Christiano, Amodei 2018, Table 2)",
        subtitle="oversight run digits-debate",
        sections=sections,
        config_yaml=config_yaml,
        metrics=a.metrics,
    )


def summary_table(cfg: DigitsDebateConfig, a: DigitsAnalysis) -> Table:
    """The CLI's headline: mean-over-first-movers honest win rates per setting and planner."""
    rows = []
    for t in a.tables:
        alone = t.cells.get(("honest", "judge_alone"))
        rows.append(
            [
                t.setting,
                t.planner,
                _pct(alone.estimate if alone else None),
                _pct(t.cells[("mean", "no_precommit")].estimate),
                _pct(t.cells[("mean", "precommit")].estimate),
            ]
        )
    return Table(
        "Honest-player win rate (mean of both first movers)",
        ["setting", "planning judge", "judge alone", "no precommit", "precommit"],
        rows,
    )
