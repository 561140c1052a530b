"""The offense-defense experiment's measurement rules: held-out families evaluated and never
trained on, audit thresholds from calibration programs, honest refactors, rates with honest
intervals."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from typer.testing import CliRunner

from oversight.cli import app
from oversight.core.jsonl import read_jsonl
from oversight.core.records import Transcript, Verdict
from oversight.experiments.config import read_yaml
from oversight.experiments.offense_defense.config import OffenseDefenseConfig
from oversight.experiments.offense_defense.run import (
    build_items,
    calibration_items,
    environment,
    training_items,
)
from oversight.metrics.verdicts import verdict_metrics

QUICK = OffenseDefenseConfig.model_validate(
    read_yaml("offense-defense-quick", "offense-defense-quick")
)


def test_training_never_sees_a_heldout_family_nor_an_evaluated_program():
    train = training_items(QUICK)
    families = {c.gold.info.get("family") for c in train} - {None}
    assert families == set(QUICK.attack.families)
    assert not families & set(QUICK.attack.heldout_families)
    cal = calibration_items(QUICK)
    assert cal and all(c.gold.kind == "honest" and c.gold.label for c in cal)
    assert any(c.gold.info.get("refactor") for c in cal)
    evaluated = {c.problem.id for c in build_items(environment(QUICK), range(QUICK.problems))}
    assert not evaluated & {c.problem.id for c in train}
    assert not evaluated & {c.problem.id for c in cal}


def test_zero_false_alarms_keep_a_wilson_interval():
    """0 rejections of 160 honest artifacts: [0, 0.023], not a collapsed [0, 0]."""
    cases = calibration_items(QUICK.model_copy(update={"calibration_problems": 40}))[:160]
    ts = [
        Transcript(
            episode_id=f"e{i}",
            arm="a",
            protocol="direct",
            problem=c.problem,
            artifact=c.artifact,
            verdict=Verdict(accept=True, rule="test", budget=0, spent=0),
            gold=c.gold,
        )
        for i, c in enumerate(cases)
    ]
    m = verdict_metrics(ts, "a")
    assert m["false_alarm_rate.a"] == 0.0 and m["false_alarm_rate.a.n"] == len(ts)
    assert 0.015 < m["false_alarm_rate.a.ci_high"] < 0.04


def test_quick_run_measures_heldout_families_and_calibrated_audits(tmp_path: Path):
    out = tmp_path / "run"
    args = ["run", "offense-defense-quick", "--set", "learned.enabled=false"]
    result = CliRunner().invoke(app, [*args, "--out", str(out), "--quiet"])
    assert result.exit_code == 0, result.output
    m = json.loads((out / "metrics.json").read_text())
    transcripts = list(read_jsonl(out / "transcripts.jsonl", Transcript))
    cal = [t for t in transcripts if str(t.gold.info.get("tag", "")).startswith("calibration/")]
    # calibration artifacts are played by critic arms only and kept out of every verdict rate
    assert {t.arm for t in cal} == {
        "assisted_random",
        "assisted_guided",
        "assisted_solver",
        "assisted_guided_noisy",
        "adaptive_assisted",
        *(f"sweep_b{i}" for i in range(len(QUICK.critic_budget_sweep))),
    }
    evaluated = [t for t in transcripts if t.arm == "assisted_solver" and t not in cal]
    assert m["judge_accuracy.assisted_solver.n"] == len(evaluated)
    per_problem = (
        QUICK.makers.honest_per_problem
        + QUICK.makers.refactor_per_problem
        + 1
        + (len(QUICK.attack.families) + len(QUICK.attack.heldout_families))
        * len(QUICK.attack.subtlety_bits)
    )
    assert len(evaluated) == QUICK.problems * per_problem
    for arm in ("assisted_guided", "assisted_solver", "assisted_random"):
        assert f"catch_rate.{arm}.heldout_families" in m
        assert f"catch_rate.{arm}.trained_families" in m
        for b in QUICK.audit_budgets:
            fa = m[f"audit_false_alarm.{arm}.audit{b:g}"]
            assert 0.0 <= fa <= 1.0 and m[f"audit_false_alarm.{arm}.audit{b:g}.ci_high"] > 0
    # the solver alone finds nothing random testing would: no more catches than guided
    assert m["catch_rate.assisted_solver"] <= m["catch_rate.assisted_guided"]
    solver = [t for t in evaluated if t.claims]
    assert all(t.claims[0].compute_spent > 0 for t in solver)
    html = (out / "report.html").read_text()
    assert "Catch rate on trained vs held-out backdoor families" in html
    assert "audit precision" in html
    assert np.isfinite(m["safety.assisted_guided.audit0.05"])
