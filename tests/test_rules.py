"""Debate and consultancy rule sets, and the scoring rules for a judge's probabilities."""

import numpy as np
import pytest
from pydantic import ValidationError

from oversight.metrics.scoring import brier_score, log_loss, mean_ci
from oversight.protocols.rules import ConsultancyRules, DebateRules


def roles(protocol):
    return [[t.role for t in r.turns] for r in protocol.rounds]


def test_alternating_debate_is_one_turn_per_round():
    p = DebateRules(rounds=4, first="liar").to_protocol()
    assert roles(p) == [["liar"], ["honest"], ["liar"], ["honest"]]
    assert all(not r.simultaneous for r in p.rounds)


def test_both_schedule_sequential_and_simultaneous():
    p = DebateRules(rounds=2, schedule="both").to_protocol()
    assert roles(p) == [["honest", "liar"], ["honest", "liar"]]
    s = DebateRules(rounds=3, schedule="both", simultaneous=True).to_protocol()
    assert all(r.simultaneous for r in s.rounds) and len(s.rounds) == 3


def test_judge_sees_final_state_hides_messages():
    p = DebateRules(rounds=2, judge_sees="final_state").to_protocol()
    assert all(not t.visible_to_judge for r in p.rounds for t in r.turns)


def test_bad_rules_are_refused():
    with pytest.raises(ValidationError, match="first must be one of"):
        DebateRules(first="nobody")
    with pytest.raises(ValidationError, match="simultaneous"):
        DebateRules(simultaneous=True)
    with pytest.raises(ValidationError, match="schedule"):
        DebateRules(schedule="random")


def test_consultancy_with_and_without_questions():
    assert roles(ConsultancyRules(rounds=2).to_protocol()) == [
        ["judge_questions", "consultant"],
        ["judge_questions", "consultant"],
    ]
    assert roles(ConsultancyRules(rounds=1, questioner=None).to_protocol()) == [["consultant"]]


def test_scores_on_known_cases():
    probs = np.array([[1.0, 0.0], [0.5, 0.5], [0.0, 1.0]])
    labels = np.array([0, 1, 0])
    assert log_loss(probs, labels)[:2] == pytest.approx([0.0, np.log(2)])
    assert log_loss(probs, labels)[2] > 20  # a confident mistake: large but finite
    assert brier_score(probs, labels) == pytest.approx([0.0, 0.5, 2.0])
    est = mean_ci(brier_score(probs, labels), n_boot=200)
    assert est.value == pytest.approx(2.5 / 3) and est.n == 3
    assert est.ci_low <= est.value <= est.ci_high
