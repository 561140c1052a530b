"""Settings of the policy-gradient trainer (:func:`~.policy_gradient.train_policy`).

Kept apart from :mod:`.policy_gradient`, which imports torch, so that experiment configs can
use :class:`PGConfig` as a field type and still validate without torch.
"""

from __future__ import annotations

from typing import Literal

from pydantic import ConfigDict, Field, model_validator

from oversight.core.config import Strict

Baseline = Literal["mean", "loo", "none"]


class PGConfig(Strict):
    """Settings of :func:`~.policy_gradient.train_policy`.

    ``baseline``: ``"mean"`` subtracts a running mean of past batches' rewards (an exponential
    moving average with ``baseline_decay``; the first step uses its own batch's mean),
    ``"loo"`` each sample's leave-one-out batch mean, ``"none"`` nothing. ``max_grad_norm``
    clips the gradient norm when set.
    """

    model_config = ConfigDict(frozen=True)

    lr: float = Field(0.05, gt=0)
    beta_kl: float = Field(0.0, ge=0, description="Weight of the KL penalty to the reference.")
    baseline: Baseline = "mean"
    steps: int = Field(200, ge=0)
    batch: int = Field(64, ge=1)
    seed: int = 0
    baseline_decay: float = Field(0.9, ge=0, lt=1)
    max_grad_norm: float | None = Field(None, gt=0)

    @model_validator(mode="after")
    def _loo_needs_pairs(self) -> PGConfig:
        if self.baseline == "loo" and self.batch < 2:
            raise ValueError("a leave-one-out baseline needs batch >= 2")
        return self
