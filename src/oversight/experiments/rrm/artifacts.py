"""Which artifacts an RRM run judges: each round's (makers' and the current improver's), the
claims' share of them, the held-out sets measured on, and what the exploit search finds.

Every draw comes from a named random stream of the seed, so a resumed run draws the same.

torch is imported (through the agents) at module level: import this module lazily.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from oversight.agents.improver import ImproverNet, ImproverState, sample_episodes
from oversight.core.seeding import rng
from oversight.envs.programs.makers import TRIGGER_FAMILIES
from oversight.experiments.rrm.config import RRMConfig
from oversight.experiments.rrm.world import ArtifactKey, RefTable, World
from oversight.learning import reward_models as rms
from oversight.learning.adversarial import candidate_pool, propose


def maker_items(
    n: int,
    tables: Sequence[RefTable],
    families: Sequence[str],
    subtlety_bits: Sequence[int],
    r: np.random.Generator,
    draw0: int,
) -> list[ArtifactKey]:
    """``n`` makers' artifacts: a reference, a family and a subtlety drawn uniformly for each;
    ``draw0`` numbers the draws (distinct per use, so artifacts of different uses differ)."""
    picks = []
    for i in range(n):
        t = tables[int(r.integers(len(tables)))]
        family = families[int(r.integers(len(families)))]
        k = int(subtlety_bits[int(r.integers(len(subtlety_bits)))])
        picks.append(
            ArtifactKey(t.index, family, draw0 + i, k if family in TRIGGER_FAMILIES else 0)
        )
    return picks


def improver_items(
    n: int, net: ImproverNet, tables: Sequence[RefTable], edits: int, r: np.random.Generator
) -> list[ArtifactKey]:
    """``n`` episodes of ``edits`` edits sampled from the improver, each from a reference drawn
    uniformly (single edits are named as edits, whose gold and features the tables hold)."""
    picks = [tables[int(r.integers(len(tables)))] for _ in range(n)]
    if not picks:
        return []
    episodes = sample_episodes(net, [ImproverState.start(t.program) for t in picks], edits, r)
    pairs = zip(picks, episodes.actions, strict=True)
    if edits == 1:
        return [ArtifactKey(t.index, "edit", int(a[0])) for t, a in pairs]
    return [ArtifactKey.episode(t.index, a) for t, a in pairs]


def round_items(
    world: World, cfg: RRMConfig, seed: int, round_: int, mode: str, sampler: ImproverNet
) -> list[ArtifactKey]:
    """Round ``round_``'s artifacts for ``mode``: makers' and the mode's current improver's
    (``sampler``). Round 0 draws the same items for every mode (they share the initial
    improver)."""
    n = cfg.verdicts_first_round if round_ == 0 else cfg.verdicts_per_round
    r = rng(seed, "rrm-items", round_, mode if round_ else "")
    makers = round(n * cfg.maker_share)
    draw0 = 1_000_000 * (round_ + 1)
    return maker_items(
        makers, world.train, cfg.train_families, cfg.subtlety_bits, r, draw0
    ) + improver_items(n - makers, sampler, world.train, cfg.episode_edits, r)


def claim_artifacts(
    items: Sequence[ArtifactKey], n: int, r: np.random.Generator
) -> list[ArtifactKey]:
    """The ``n`` artifacts whose every possible claim is judged: up to half makers', the rest
    the improver's, drawn without replacement."""
    makers = [it for it in items if not it.by_improver]
    edits = [it for it in items if it.by_improver]
    chosen = [makers[i] for i in r.permutation(len(makers))[: n // 2]]
    return chosen + [edits[i] for i in r.permutation(len(edits))[: n - len(chosen)]]


def eval_items(world: World, cfg: RRMConfig, seed: int, base: ImproverNet) -> list[ArtifactKey]:
    """Held-out artifacts every mode's judge rules on: the initial improver's episodes on
    held-out references (what level 2 starts from), and makers' artifacts of the training
    families on them."""
    r = rng(seed, "rrm-eval")
    makers = round(cfg.eval_items * cfg.maker_share)
    return maker_items(
        makers, world.test, cfg.train_families, cfg.subtlety_bits, r, 0
    ) + improver_items(cfg.eval_items - makers, base, world.test, cfg.episode_edits, r)


def family_items(world: World, cfg: RRMConfig, seed: int) -> list[ArtifactKey]:
    """Held-out flaw families on held-out references, with as many honest artifacts."""
    r = rng(seed, "rrm-families")
    n = max(10, cfg.eval_items // 4)
    return maker_items(n, world.test, cfg.held_out_families, cfg.subtlety_bits, r, 0) + (
        maker_items(n, world.test, ["honest"], cfg.subtlety_bits, r, 10_000)
    )


def exploit_items(
    world: World, cfg: RRMConfig, seed: int, round_: int, mode: str, rm2: rms.PointwiseRM
) -> list[ArtifactKey]:
    """Artifacts of the training references that RM2 favours (the top two per reference of a
    seeded candidate pool), for the mode's judge to label."""
    pool = candidate_pool(
        [tb.reference for tb in world.train],
        cfg.exploit_budget,
        rng(seed, "rrm-exploit-train", round_, mode),
        tuple(cfg.subtlety_bits),
        cfg.exploit_families(),
    )
    return [
        ArtifactKey(cand.index, "found", key=i, text=str(cand.context.artifact))
        for i, (cand, _) in enumerate(c for top in propose(rm2, pool, 2) for c in top)
    ]
