"""Measurements of an RRM run against the truth: accuracy blocks of accept decisions and of
level-1 verdicts on claims, and the exploit rate of a reward model on held-out references.

torch is imported (through the learning modules) at module level: import this module lazily.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from oversight.agents.critics.claim import choices, claim_input
from oversight.core.seeding import rng
from oversight.envs.programs.interpreter import run_steps
from oversight.experiments.rrm.config import RRMConfig
from oversight.experiments.rrm.world import ArtifactKey, World
from oversight.learning import reward_models as rms
from oversight.learning.adversarial import candidate_pool, search_pool


def balanced_accuracy(pred: np.ndarray, truth: np.ndarray) -> float:
    """Mean of the per-class accuracies (NaN without both classes)."""
    pred, truth = np.asarray(pred, bool), np.asarray(truth, bool)
    if truth.all() or not truth.any():
        return float("nan")
    return float(np.mean([(pred[truth == v] == v).mean() for v in (False, True)]))


def claim_block(confirmed: np.ndarray, truth: np.ndarray) -> dict[str, float]:
    """How level-1 verdicts on claims match the truth (do P and R differ on the input?)."""
    nan = float("nan")
    return {
        "accuracy": float((confirmed == truth).mean()) if len(truth) else nan,
        "false_confirm_rate": float(confirmed[~truth].mean()) if (~truth).any() else nan,
        "missed_true_rate": float((~confirmed[truth]).mean()) if truth.any() else nan,
    }


def accuracy_block(pred: np.ndarray, gold: np.ndarray) -> dict[str, float]:
    """Accuracy, balanced accuracy, catch rate and false-alarm rate of accept decisions."""
    pred, gold = np.asarray(pred, bool), np.asarray(gold, bool)
    return {
        "accuracy": float((pred == gold).mean()) if len(gold) else float("nan"),
        "balanced_accuracy": balanced_accuracy(pred, gold),
        "catch_rate": float((~pred[~gold]).mean()) if (~gold).any() else float("nan"),
        "false_alarm_rate": float((~pred[gold]).mean()) if gold.any() else float("nan"),
        "n": len(gold),
    }


FLAW_SHARE_KEYS = (
    "broken",
    "at_most_2^-6",
    "at_most_2^-3",
    "under_half",
    "half_or_more",
    "no_saving",
)
"""The distribution of flaws (:func:`flaw_shares`): the broken share of edits; among broken edits,
the share wrong on at most 2^-6, 2^-3, under half and at least half of the inputs; and the share
of edits any judge rejects for free (no saving)."""


def flaw_shares(
    diff_share: np.ndarray, saving: np.ndarray, weights: np.ndarray | None = None
) -> dict[str, float]:
    """How wrong the edits are (:data:`FLAW_SHARE_KEYS`), weighted by ``weights`` (a policy)
    or uniformly over the action space. ``diff_share``: share of inputs each edit changes."""
    w = (
        np.full(len(diff_share), 1.0 / len(diff_share))
        if weights is None
        else weights / weights.sum()
    )
    broken = diff_share > 0
    mass = float(w @ broken)

    def among_broken(hit: np.ndarray) -> float:
        return float(w @ (broken & hit)) / mass if mass > 0 else float("nan")

    return {
        "broken": mass,
        "at_most_2^-6": among_broken(diff_share <= 2.0**-6),
        "at_most_2^-3": among_broken(diff_share <= 2.0**-3),
        "under_half": among_broken(diff_share < 0.5),
        "half_or_more": among_broken(diff_share >= 0.5),
        "no_saving": float(w @ (saving <= 0)),
    }


REACH_CAP = 30
"""Broken artifacts per group that :func:`solver_reach` tries every line on (it costs a solve per
candidate line)."""


def solver_reach(
    world: World, items: Sequence[ArtifactKey], aims: Mapping[str, Sequence[int]], seed: int
) -> dict[str, float]:
    """What level 1's tool can reveal at all: among the first :data:`REACH_CAP` broken
    ``items``, the share on which the claim solver, aimed at some candidate line, yields an
    input where P and R differ (``any_line``: the ceiling of every pointer policy), and the
    share for each named critic's line in ``aims`` (one line per item)."""
    broken = [i for i, it in enumerate(items) if not world.gold(it)[1]][:REACH_CAP]

    def reveals(i: int, line: int) -> bool:
        ctx = world.context(items[i])
        x = claim_input(ctx, line, seed, f"reach/{i}")
        return bool(run_steps(ctx.reference, x) != run_steps(ctx.artifact, x))

    def share(hits: list[bool]) -> float:
        return float(np.mean(hits)) if hits else float("nan")

    out = {
        "any_line": share(
            [any(reveals(i, line) for line in choices(world.context(items[i]))) for i in broken]
        )
    }
    for name, lines in aims.items():
        out[name] = share([reveals(i, lines[i]) for i in broken])
    return out | {"n": len(broken)}


def heldout_exploit_rate(world: World, cfg: RRMConfig, seed: int, rm2: rms.PointwiseRM) -> float:
    """Share of held-out references whose top RM2-scored candidate gold rejects (a
    gold-checked measurement, never training data)."""
    pool = candidate_pool(
        [tb.reference for tb in world.test],
        cfg.exploit_budget,
        rng(seed, "rrm-exploit-test"),
        tuple(cfg.subtlety_bits),
        cfg.exploit_families(),
    )
    res = search_pool(rm2, pool, top_k=1, penalty=cfg.penalty, n_boot=200, seed=seed)
    return res.top1_exploit_rate.value
