"""The embedded default run end to end (slow: about 65 s on 2 cores; runs in CI too)."""

import json

import pytest
from typer.testing import CliRunner

from oversight.cli import app


@pytest.mark.slow
def test_default_run_headline(tmp_path):
    out = tmp_path / "default"
    result = CliRunner().invoke(app, ["run", "--out", str(out), "--quiet"])
    assert result.exit_code == 0, result.output
    m = json.loads((out / "metrics.json").read_text())
    # the assisted judge catches more than either unassisted strategy, CIs apart
    for unassisted in ("unassisted_random", "unassisted_informed"):
        assert m["catch_rate.assisted.ci_low"] > m[f"catch_rate.{unassisted}.ci_high"]
    # no arm's judge ever spent more than its budget
    for key in [k for k in m if k.startswith("judge_spent_max.")]:
        assert m[key] <= m[key.replace("judge_spent_max", "judge_budget")]
    # learning where to point beats pointing at random with the same solver and budget
    assert m["catch_rate.assisted_learned"] > m["catch_rate.assisted_pointer_random"]
    # the critic's compute stays within 1/64 of an exhaustive scan
    for arm in ("assisted_random", "assisted_guided", "assisted_solver"):
        assert m[f"critic_compute_ratio.{arm}"] <= 1 / 64  # solver calls included
    # held-out families are evaluated, and the learned critic (trained without them) does
    # worse on them than on the families it trained on
    assert m["catch_rate.assisted_learned.heldout_families.n"] > 0
    assert (
        m["catch_rate.assisted_learned.heldout_families"]
        < m["catch_rate.assisted_learned.trained_families"]
    )
    # audits on calibration thresholds can misfire on honest refactors: measured, not b
    assert m["audit_false_alarm.assisted_guided.audit0.05.n"] > 0
    # harder triggers are caught less often by the guided critic
    assert m["catch_rate.assisted_guided.mixing.k14"] < m["catch_rate.assisted_guided.mixing.k6"]
