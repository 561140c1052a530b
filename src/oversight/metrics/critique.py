"""The discrimination-critique gap: does a critic know more than it can show?"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from oversight.metrics.classification import auc_rows, roc_auc, scores_1d
from oversight.metrics.estimate import (
    Estimate,
    check_bootstrap_args,
    make_estimate,
    resample_indices,
)


def gdc_gap(
    suspicion_flawed: ArrayLike,
    suspicion_correct: ArrayLike,
    verified_counterexample_on_flawed: ArrayLike,
    n_boot: int = 1000,
    seed: int = 0,
    alpha: float = 0.05,
) -> dict[str, Estimate]:
    """Discrimination, critique and their gap, after Saunders et al. 2022.

    If the critic separates flawed from correct items better than it produces verified
    critiques of the flawed ones, it knows more than it says. Both sides are probabilities:

    - ``discrimination``: ROC-AUC of the suspicion scores with flawed items positive, the
      chance a random flawed item outranks a random correct one (ties count 1/2);
      ``n = n_flawed + n_correct``.
    - ``critique``: share of flawed items for which a verified counterexample was produced;
      ``n = n_flawed``.
    - ``gap``: ``discrimination - critique``; ``n = n_flawed + n_correct``.

    CIs come from one set of resamples: flawed items are resampled with their score and
    counterexample flag paired, correct items separately. Undefined parts are NaN.
    """
    check_bootstrap_args(n_boot, alpha)
    flawed = scores_1d(suspicion_flawed, "suspicion_flawed")
    correct = scores_1d(suspicion_correct, "suspicion_correct")
    verified = np.asarray(verified_counterexample_on_flawed, dtype=bool)
    if verified.shape != flawed.shape:
        raise ValueError(
            f"verified_counterexample_on_flawed has shape {verified.shape}, "
            f"suspicion_flawed {flawed.shape}"
        )
    n_pair = flawed.size + correct.size
    if flawed.size == 0:
        undefined = Estimate.undefined(n_pair)
        return {"discrimination": undefined, "critique": Estimate.undefined(0), "gap": undefined}
    generator = np.random.default_rng(seed)
    idx_flawed = resample_indices(flawed.size, n_boot, generator)
    idx_correct = resample_indices(correct.size, n_boot, generator)
    discrimination = auc_rows(flawed[idx_flawed], correct[idx_correct])
    critique = verified[idx_flawed].mean(axis=1)
    auc = roc_auc(flawed, correct)
    share = float(verified.mean())
    return {
        "discrimination": make_estimate(auc, discrimination, n_pair, alpha),
        "critique": make_estimate(share, critique, flawed.size, alpha),
        "gap": make_estimate(auc - share, discrimination - critique, n_pair, alpha),
    }
