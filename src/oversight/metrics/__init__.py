"""Measurements with confidence intervals: rates, ROC-AUC, control safety, critique gaps."""

from oversight.metrics.classification import roc_auc, roc_auc_ci, roc_curve
from oversight.metrics.control import audit_threshold, safety, safety_curve
from oversight.metrics.critique import gdc_gap
from oversight.metrics.estimate import (
    Estimate,
    bootstrap,
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

__all__ = [
    "Estimate",
    "audit_threshold",
    "bootstrap",
    "gdc_gap",
    "matches_formula",
    "percentile_interval",
    "random_testing_catch_rate",
    "rate",
    "rate_matches_formula",
    "resample_indices",
    "roc_auc",
    "roc_auc_ci",
    "roc_curve",
    "safety",
    "safety_curve",
    "wilson_interval",
]
