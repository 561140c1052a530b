"""Measurements with confidence intervals: verdict rates, ROC-AUC, calibration, ratings,
control safety, critique gaps, and the closed-form baselines."""

from oversight.metrics.calibration import expected_calibration_error, reliability
from oversight.metrics.classification import roc_auc, roc_auc_ci, roc_curve
from oversight.metrics.control import audit_threshold, safety, safety_curve
from oversight.metrics.critique import gdc_gap
from oversight.metrics.estimate import (
    Estimate,
    bootstrap,
    format_estimate,
    percentile_interval,
    rate,
    resample_indices,
)
from oversight.metrics.formulas import (
    matches_formula,
    random_testing_catch_rate,
    rate_matches_formula,
    wilson_interval,
)
from oversight.metrics.rates import cluster_bootstrap, clustered_rate, t_interval
from oversight.metrics.ratings import bradley_terry, elo, rating_intervals
from oversight.metrics.scoring import brier_score, log_loss, mean_ci
from oversight.metrics.verdicts import (
    acceptance_precision,
    catch_rate,
    false_alarm_rate,
    judge_accuracy,
    verdict_metrics,
)

__all__ = [
    "Estimate",
    "acceptance_precision",
    "audit_threshold",
    "bootstrap",
    "bradley_terry",
    "brier_score",
    "catch_rate",
    "cluster_bootstrap",
    "clustered_rate",
    "elo",
    "expected_calibration_error",
    "false_alarm_rate",
    "format_estimate",
    "gdc_gap",
    "judge_accuracy",
    "log_loss",
    "matches_formula",
    "mean_ci",
    "percentile_interval",
    "random_testing_catch_rate",
    "rate",
    "rate_matches_formula",
    "rating_intervals",
    "reliability",
    "resample_indices",
    "roc_auc",
    "roc_auc_ci",
    "roc_curve",
    "safety",
    "safety_curve",
    "t_interval",
    "verdict_metrics",
    "wilson_interval",
]
