"""The digits pixel-debate experiment: table aggregation, bad configs, the CLI end to end."""

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from oversight.cli import app
from oversight.experiments.digits_debate.analysis import (
    ImageOutcome,
    debate_columns,
    lie_confusion,
    outcome_arrays,
    table_cells,
    wrong_labels,
)

runner = CliRunner()


def outcome(image: int, label: int, wins: np.ndarray) -> ImageOutcome:
    return ImageOutcome(
        setting="k4_minimax",
        planner="ruling",
        image=image,
        label=label,
        honest_wins=wins.tolist(),
        p_true=np.full((10, 2), 0.5).tolist(),
        masks=np.zeros((10, 2), dtype=np.uint64).tolist(),
    )


def test_table_aggregation_on_hand_made_outcomes():
    all_win = np.ones((10, 2), bool)
    one_lie = all_win.copy()
    one_lie[3, 1] = False  # the 4th lie wins when the liar moves first
    no_pre = all_win.copy()
    no_pre[9, 0] = False  # without precommit the liar wins when honest moves first
    outcomes = [outcome(2, 5, all_win), outcome(0, 1, one_lie), outcome(1, 7, no_pre)]
    wins, _, labels = outcome_arrays(outcomes)
    assert labels.tolist() == [1, 7, 5]  # sorted by image
    cols = debate_columns(wins)
    assert cols["precommit"].tolist() == [[True, False], [True, True], [True, True]]
    assert cols["no_precommit"].tolist() == [[True, True], [False, True], [True, True]]
    cells = table_cells(wins, np.array([True, False, False]), 4, n_boot=50, seed=0)
    assert cells[("honest", "precommit")].estimate.value == 1.0
    assert cells[("liar", "precommit")].estimate.value == pytest.approx(2 / 3)
    assert cells[("mean", "precommit")].estimate.value == pytest.approx(5 / 6)
    assert cells[("honest", "no_precommit")].estimate.value == pytest.approx(2 / 3)
    assert cells[("honest", "judge_alone")].estimate.value == pytest.approx(1 / 3)
    assert cells[("honest", "precommit")].paper == 0.838
    confusion = lie_confusion(wins, labels)
    assert confusion.sum() == 1 and confusion[1, wrong_labels(1)[3]] == 1


@pytest.mark.parametrize(
    ("override", "expected"),
    [
        ("settings=[{pixels: 40, debater: minimax}]", "pixels=40 needs 40 nonzero pixels"),
        ("settings=[{pixels: 0, debater: minimax}]", "settings.0.pixels"),
        ("settings=[{pixels: 4, debater: oracle}]", "allowed: minimax, mcts, greedy"),
        ("settings=[{pixels: 4, debater: mcts, rollout: 3}]", "unknown key 'settings.0.rollout'"),
    ],
)
def test_unplayable_configs_are_refused_before_any_work(tmp_path, override, expected):
    out = tmp_path / "r"
    result = runner.invoke(
        app, ["run", "digits-debate-quick", "--set", override, "--out", str(out)]
    )
    assert result.exit_code == 2, result.output
    assert expected in " ".join(result.output.split())
    assert not (out / "checkpoints").exists()  # no judge was trained


def test_digits_debate_quick_end_to_end_and_resume(tmp_path):
    out = tmp_path / "run"
    result = runner.invoke(app, ["run", "digits-debate-quick", "--out", str(out), "--quiet"])
    assert result.exit_code == 0, result.output
    metrics = json.loads((out / "metrics.json").read_text())
    for first in ("honest", "liar", "mean"):
        for column in ("no_precommit", "precommit"):
            assert f"honest_win_rate.k4_minimax.ruling.{first}.{column}" in metrics
    assert "honest_win_rate.k4_minimax.ruling.honest.judge_alone" in metrics
    assert "control.k4.adversarial_second_label" in metrics
    assert "mcts_check.agreement.r32" in metrics
    html = (out / "report.html").read_text()
    assert "paper, MNIST" in html and "Successful precommitted lies" in html
    lines = (out / "outcomes.jsonl").read_text().splitlines()
    assert len(lines) == 12 * 2 * 3  # images x planning judges x settings
    # played out against the judge it planned on, minimax ends where the exact values say
    from oversight.agents.debaters import minimax_values
    from oversight.envs.digits.data import load_digits_split, nonzero_pixels
    from oversight.experiments.digits_debate.run import leaf_fn
    from oversight.judges.sparse_pixel import load_judge

    judge = load_judge(out / "checkpoints" / "judge-k4-ruling.pt")
    split = load_digits_split(0)
    record = next(
        o
        for o in map(ImageOutcome.model_validate_json, lines)
        if o.setting == "k4_minimax" and o.planner == "ruling" and o.image == 3
    )
    x = split.x_test[:12]
    values = minimax_values(nonzero_pixels(x[3]), 4, int(split.y_test[3]), 3, leaf_fn(judge, x))
    assert np.array(record.honest_wins).tolist() == values.tolist()
    # resume: nothing is redone, the same metrics come out
    before = (out / "outcomes.jsonl").read_text()
    again = runner.invoke(app, ["run", "--resume", str(out), "--quiet"])
    assert again.exit_code == 0, again.output
    assert (out / "outcomes.jsonl").read_text() == before
    assert json.loads((out / "metrics.json").read_text()) == metrics


@pytest.mark.parametrize("first", ["honest", "liar"])
@pytest.mark.parametrize("lie_index", [0, 9])
def test_pixel_debate_on_the_engine_matches_the_array_solver(first, lie_index):
    """The same greedy debate, played turn by turn through the protocol engine from a rule set,
    ends with the same pixels and verdict as the batched array solver."""
    from oversight.agents.debaters import greedy_play
    from oversight.agents.debaters.engine_agents import (
        GreedyPixelDebater,
        PixelDebateContext,
        PixelDebateJudge,
        revealed,
    )
    from oversight.core.records import Artifact, Problem
    from oversight.envs.digits.data import load_digits_split
    from oversight.envs.digits.game import DebateGames, mask_to_pixels
    from oversight.experiments.digits_debate.run import leaf_fn
    from oversight.judges.sparse_pixel import new_judge
    from oversight.protocols.engine import Episode, run_protocol
    from oversight.protocols.rules import DebateRules

    k = 4
    split = load_digits_split(0)
    x, y = split.x_test[:6], split.y_test[:6]
    judge = new_judge(k, seed=1)
    rules = DebateRules(rounds=k, first=first, precommit=lie_index != 9)
    episodes = []
    for i in range(6):
        lie = None if lie_index == 9 else wrong_labels(int(y[i]))[lie_index]
        ctx = PixelDebateContext(x[i], int(y[i]), lie)
        problem = Problem(id=f"digit-{i}", env="digits", seed=0, data={"image": i})
        artifact = Artifact(
            id=f"digit-{i}/debate", problem_id=problem.id, content=str(lie), author="liar"
        )
        episodes.append(Episode(artifact.id, problem, artifact, ctx))
    debater = GreedyPixelDebater(judge)
    transcripts = run_protocol(
        rules.to_protocol(), episodes, {"honest": debater, "liar": debater}, PixelDebateJudge(judge)
    )
    games = DebateGames(
        image_ids=np.arange(6),
        true_labels=y.astype(np.int64),
        objectives=np.full(6, lie_index),
        first_honest=np.full(6, first == "honest"),
        nonzero=x != 0,
    )
    solved = greedy_play(games, k, leaf_fn(judge, x))
    for t, e, mask, win in zip(
        transcripts, episodes, solved.masks, solved.honest_wins, strict=True
    ):
        assert t.messages[0].role == first and len(t.messages) == k
        assert sorted(revealed(e)) == sorted(mask_to_pixels(mask).tolist())
        assert t.verdict.accept == bool(win) and 0 <= t.verdict.confidence <= 1
