"""Learning from verdicts: reward models, exact best-of-n, overoptimization fits, one
policy-gradient trainer with a KL penalty, adversarial evaluation, TRL-format export. The torch
parts are imported on first use."""

from __future__ import annotations

from typing import TYPE_CHECKING

from oversight.core.lazy import lazy_exports
from oversight.learning.best_of_n import best_of_n_distribution, best_of_n_kl, unbiased_bon_estimate
from oversight.learning.export import export_run, preferences_from_transcripts
from oversight.learning.overoptimization import Fit, fit_bon, fit_rl

if TYPE_CHECKING:
    from oversight.learning.adversarial import adversarial_training, exploit_search
    from oversight.learning.policy_gradient import PGConfig, train_policy
    from oversight.learning.reward_models import (
        Ensemble,
        PairwiseRM,
        PointwiseRM,
        train_pairwise,
        train_pointwise,
    )

__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "exploit_search": ".adversarial",
        "adversarial_training": ".adversarial",
        "PGConfig": ".policy_gradient",
        "train_policy": ".policy_gradient",
        "Ensemble": ".reward_models",
        "PairwiseRM": ".reward_models",
        "PointwiseRM": ".reward_models",
        "train_pairwise": ".reward_models",
        "train_pointwise": ".reward_models",
    },
    globals(),
)

__all__ = [
    "Ensemble",
    "Fit",
    "PGConfig",
    "PairwiseRM",
    "PointwiseRM",
    "adversarial_training",
    "best_of_n_distribution",
    "best_of_n_kl",
    "exploit_search",
    "export_run",
    "fit_bon",
    "fit_rl",
    "preferences_from_transcripts",
    "train_pairwise",
    "train_pointwise",
    "train_policy",
    "unbiased_bon_estimate",
]
