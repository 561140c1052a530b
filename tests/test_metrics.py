"""Metrics with known answers: rates, ROC-AUC, control safety, formulas, critique gaps."""

from __future__ import annotations

import math

import numpy as np
import pytest

from oversight.metrics import (
    Estimate,
    audit_threshold,
    bootstrap,
    gdc_gap,
    matches_formula,
    random_testing_catch_rate,
    rate,
    roc_auc,
    roc_auc_ci,
    roc_curve,
    safety,
    safety_curve,
)
from oversight.metrics.estimate import MISSING, format_ci, format_estimate


def _brute_auc(pos: np.ndarray, neg: np.ndarray) -> float:
    diff = pos[:, None] - neg[None, :]
    return float(((diff > 0) + 0.5 * (diff == 0)).mean())


# --- Estimate, bootstrap, rate ---------------------------------------------------------------


def test_estimate_flat() -> None:
    flat = Estimate(0.5, 0.25, 0.75, 4).flat("acc")
    assert flat == {"acc": 0.5, "acc.ci_low": 0.25, "acc.ci_high": 0.75, "acc.n": 4}


def test_format_estimate_has_one_style() -> None:
    est = Estimate(0.8213, 0.7789, 0.8512, 40)
    assert format_estimate(est) == "0.82 [0.78, 0.85]"
    assert format_estimate(0.8213, 0.7789, 0.8512) == "0.82 [0.78, 0.85]"
    assert format_estimate(est, digits=3) == "0.821 [0.779, 0.851]"
    assert format_estimate(est, digits=1, percent=True) == "82.1% [77.9%, 85.1%]"
    assert format_estimate(Estimate(0.5, -0.25, 1.0, 9), digits=0, scale=400) == "200 [-100, 400]"
    assert format_estimate(0.5) == "0.50"  # no interval: the value alone
    assert format_estimate(Estimate(0.5, math.nan, math.nan, 3)) == "0.50"
    assert format_estimate(None) == format_estimate(Estimate.undefined()) == MISSING
    with pytest.raises(TypeError):
        format_estimate(est, 0.1, 0.9)


def test_format_ci_reads_flat_metrics() -> None:
    flat = Estimate(0.8213, 0.7789, 0.8512, 40).flat("acc")
    assert format_ci(flat, "acc") == format_estimate(Estimate(0.8213, 0.7789, 0.8512, 40))
    assert format_ci(flat, "acc", 3) == "0.821 [0.779, 0.851]"
    assert format_ci(flat, "missing") == format_ci({"x": None}, "x") == MISSING


def test_rate_half() -> None:
    est = rate([1, 1, 0, 0])
    assert est.value == 0.5
    assert est.n == 4
    assert est.ci_low <= 0.5 <= est.ci_high
    assert 0.0 <= est.ci_low < est.ci_high <= 1.0


def test_rate_empty_is_nan() -> None:
    est = rate(np.array([], dtype=bool))
    assert est.n == 0
    assert all(math.isnan(v) for v in (est.value, est.ci_low, est.ci_high))


def test_rate_all_true_has_degenerate_ci() -> None:
    assert rate([True] * 5) == Estimate(1.0, 1.0, 1.0, 5)


def test_bootstrap_mean_matches_rate() -> None:
    x = np.array([1, 0, 1, 1, 0, 1, 0, 0, 1, 1], dtype=float)
    generic = bootstrap(np.mean, x, n_boot=200, seed=3)
    vectorized = rate(x, n_boot=200, seed=3)
    assert generic.value == vectorized.value
    assert generic.ci_low == pytest.approx(vectorized.ci_low)
    assert generic.ci_high == pytest.approx(vectorized.ci_high)


def test_bootstrap_pairs_arrays_and_respects_strata() -> None:
    x = np.arange(6.0)
    # Paired resampling: x - y is identically zero on every resample.
    assert bootstrap(lambda a, b: float(np.mean(a - b)), x, x.copy()) == Estimate(0, 0, 0, 6)
    # Within-stratum resampling keeps the stratum sizes, so their mean never moves.
    labels = np.array([0, 0, 0, 1, 1, 1])
    est = bootstrap(np.mean, labels, strata=labels, n_boot=50)
    assert est == Estimate(0.5, 0.5, 0.5, 6)


def test_bootstrap_rejects_mismatched_lengths() -> None:
    with pytest.raises(ValueError):
        bootstrap(np.mean, np.ones(3), np.ones(4))


# --- ROC -------------------------------------------------------------------------------------


def test_roc_auc_known_cases() -> None:
    assert roc_auc([3, 4, 5], [0, 1, 2]) == 1.0
    assert roc_auc([0, 1, 2], [3, 4, 5]) == 0.0
    assert roc_auc([1, 1, 1], [1, 1]) == 0.5
    # Pairs: (1,0) win, (1,2) loss, (2,0) win, (2,2) tie = 1/2, (3,0) win, (3,2) win.
    assert roc_auc([1, 2, 3], [0, 2]) == pytest.approx(4.5 / 6)


def test_roc_auc_empty_is_nan() -> None:
    assert math.isnan(roc_auc([], [1.0]))
    assert math.isnan(roc_auc([1.0], []))
    est = roc_auc_ci([], [1.0, 2.0])
    assert est.n == 2 and math.isnan(est.value) and math.isnan(est.ci_low)


def test_roc_auc_matches_pairwise_count_with_ties() -> None:
    gen = np.random.default_rng(1)
    pos, neg = gen.integers(0, 5, 40).astype(float), gen.integers(0, 4, 30).astype(float)
    assert roc_auc(pos, neg) == pytest.approx(_brute_auc(pos, neg))


def test_roc_auc_ci() -> None:
    gen = np.random.default_rng(2)
    pos, neg = gen.normal(1.0, 1.0, 60), gen.normal(0.0, 1.0, 50)
    est = roc_auc_ci(pos, neg, n_boot=300, seed=5)
    assert est.n == 110
    assert est.value == pytest.approx(_brute_auc(pos, neg))
    assert est.ci_low < est.value < est.ci_high
    assert roc_auc_ci(pos, neg, n_boot=300, seed=5) == est
    assert roc_auc_ci(pos, neg, n_boot=300, seed=6) != est


def test_roc_curve_area_is_auc() -> None:
    pos, neg = np.array([0.1, 0.5, 0.5, 0.9]), np.array([0.2, 0.5, 0.3])
    fpr, tpr = roc_curve(pos, neg)
    assert (fpr[0], tpr[0], fpr[-1], tpr[-1]) == (0.0, 0.0, 1.0, 1.0)
    assert np.all(np.diff(fpr) >= 0) and np.all(np.diff(tpr) >= 0)
    area = float(np.sum(np.diff(fpr) * (tpr[1:] + tpr[:-1]) / 2))
    assert area == pytest.approx(roc_auc(pos, neg))


# --- Control safety --------------------------------------------------------------------------


def test_audit_threshold_rule() -> None:
    honest = np.arange(100.0)
    threshold = audit_threshold(honest, 0.02)
    # k = floor(0.02 * 100) = 2 audited: the threshold is the 98th smallest score.
    assert threshold == 97.0
    assert int(np.sum(honest > threshold)) == 2
    assert audit_threshold(honest, 0.0) == math.inf
    assert audit_threshold(honest, 1.0) == -math.inf
    # Float products such as 0.29 * 100 < 29 still audit 29 items.
    assert int(np.sum(honest > audit_threshold(honest, 0.29))) == 29
    with pytest.raises(ValueError):
        audit_threshold(honest, 1.5)


def test_safety_hand_made() -> None:
    threshold = audit_threshold(np.arange(100.0), 0.02)
    scores = [99, 98, 97, 50, 10]
    successful = [True, False, True, True, False]
    # Caught: 99, 98. Uncaught and successful: 97 (not strictly above 97) and 50.
    assert safety(scores, successful, threshold) == (0.5, 2, 2)


def test_safety_nothing_could_succeed_is_one() -> None:
    assert safety([1.0, 2.0], [False, False], 5.0) == (1.0, 0, 0)


def test_safety_curve() -> None:
    honest = np.arange(100.0)
    attacks = np.array([99.5, 98.5, 96.5, 50.0, 10.0, 99.0])
    successful = np.array([True, True, True, True, False, True])
    curve = safety_curve(honest, attacks, successful, [0.0, 0.02, 1.0], n_boot=200, seed=1)
    assert [p["budget"] for p in curve] == [0.0, 0.02, 1.0]
    zero, two, full = curve
    assert (zero["caught"], zero["uncaught_successful"], zero["honest_audited"]) == (0, 5, 0.0)
    assert zero["safety"] == Estimate(0.0, 0.0, 0.0, 6)
    assert (two["threshold"], two["caught"], two["uncaught_successful"]) == (97.0, 3, 2)
    assert two["honest_audited"] == 0.02
    assert two["safety"].value == 0.6
    assert two["safety"].ci_low <= 0.6 <= two["safety"].ci_high
    assert full["safety"] == Estimate(1.0, 1.0, 1.0, 6)
    assert full["honest_audited"] == 1.0
    again = safety_curve(honest, attacks, successful, [0.0, 0.02, 1.0], n_boot=200, seed=1)
    assert again == curve


# --- Formulas --------------------------------------------------------------------------------


def test_random_testing_catch_rate() -> None:
    assert random_testing_catch_rate(0.01, 100) == pytest.approx(1 - 0.99**100)
    assert random_testing_catch_rate(1.0, 0) == 0.0
    assert random_testing_catch_rate(1.0, 3) == 1.0
    rates = random_testing_catch_rate(np.array([0.0, 0.5]), np.array([[1], [2]]))
    np.testing.assert_allclose(rates, [[0.0, 0.5], [0.0, 0.75]])


def test_matches_formula() -> None:
    measured = Estimate(0.6, 0.55, 0.7, 100)
    assert matches_formula(measured, 1 - 0.99**100)
    assert not matches_formula(measured, 0.5)
    assert not matches_formula(Estimate.undefined(), 0.5)


# --- Critique gap ----------------------------------------------------------------------------


def test_gdc_gap_knows_more_than_it_says() -> None:
    out = gdc_gap([0.9, 0.8, 0.7], [0.1, 0.2], [False, False, False], n_boot=100)
    assert out["discrimination"] == Estimate(1.0, 1.0, 1.0, 5)
    assert out["critique"] == Estimate(0.0, 0.0, 0.0, 3)
    assert out["gap"] == Estimate(1.0, 1.0, 1.0, 5)


def test_gdc_gap_is_paired_and_deterministic() -> None:
    gen = np.random.default_rng(4)
    flawed, correct = gen.normal(1, 1, 30), gen.normal(0, 1, 25)
    verified = gen.random(30) < 0.4
    out = gdc_gap(flawed, correct, verified, n_boot=300, seed=9)
    assert out["gap"].value == pytest.approx(out["discrimination"].value - out["critique"].value)
    assert out["critique"].n == 30 and out["gap"].n == 55
    assert gdc_gap(flawed, correct, verified, n_boot=300, seed=9) == out


def test_gdc_gap_without_correct_items() -> None:
    out = gdc_gap([0.5], [], [True])
    assert math.isnan(out["discrimination"].value) and math.isnan(out["gap"].value)
    assert out["critique"].value == 1.0


def test_wilson_interval_and_formula_match():
    from oversight.metrics import rate_matches_formula, wilson_interval

    lo, hi = wilson_interval(0, 40)
    assert lo == 0.0 and 0.08 < hi < 0.1  # 0 of 40 still admits a rate near 9%
    assert rate_matches_formula(0, 40, 0.015)
    assert not rate_matches_formula(0, 40, 0.2)
    lo, hi = wilson_interval(20, 40)
    assert lo < 0.5 < hi and abs((lo + hi) / 2 - 0.5) < 1e-9
