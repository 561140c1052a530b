"""The learners of an RRM run and how their policies are measured: the claim reward model
(RM1) and the critic trained against it (level 1); the program improver trained against RM2
(level 2), its RL curve and the best-of-n curve of its initial policy.

torch is imported at module level: import this module lazily.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from oversight.agents.critics.claim import PointerPolicy, choices
from oversight.agents.critics.learned import PointerNet
from oversight.agents.improver import ImproverNet, ImproverState
from oversight.core.seeding import derive_seed
from oversight.envs.programs.env import ProgramContext
from oversight.experiments.rrm.world import ArtifactKey, RefTable, World
from oversight.learning import reward_models as rms
from oversight.learning.best_of_n import best_of_n_distribution, best_of_n_kl
from oversight.learning.policy_gradient import (
    PGConfig,
    action_probs,
    policy_kl,
    train_policy,
)

# --- level 1: the claim reward model and the critic ------------------------------------------


def claim_scores(
    rm1: PointerNet, contexts: Sequence[ProgramContext], lines: np.ndarray
) -> np.ndarray:
    """RM1's probability that, of all the lines the critic could point at in each context, the
    claim aimed at ``lines`` is the one the judge confirms."""
    policy = PointerPolicy(rm1, rms.context_features)
    with torch.no_grad():
        logits = policy.logits(contexts).masked_fill(~policy.action_mask(contexts), -math.inf)
        probs = torch.softmax(logits, dim=1).double().numpy()
    picks = [choices(c).index(int(line)) for c, line in zip(contexts, lines, strict=True)]
    return probs[np.arange(len(contexts)), picks]


def claim_groups(
    world: World, claims: Sequence[tuple[ArtifactKey, int, bool]]
) -> list[tuple[ProgramContext, np.ndarray]]:
    """Level-1 verdicts ``(artifact, line, confirmed)`` grouped per artifact, in order of first
    appearance, as one array per artifact over its lines in :func:`choices` order (unclaimed
    lines count as unconfirmed)."""
    verdicts: dict[ArtifactKey, dict[int, bool]] = {}
    for item, line, ok in claims:
        verdicts.setdefault(item, {})[line] = ok
    groups = []
    for item, by_line in verdicts.items():
        ctx = world.context(item)
        groups.append((ctx, np.array([by_line.get(j, False) for j in choices(ctx)])))
    return groups


def train_claim_rm(
    groups: Sequence[tuple[ProgramContext, np.ndarray]], seed: int, epochs: int, lr: float = 1e-2
) -> PointerNet:
    """RM1: a pointer net fitted to the level-1 verdicts on every claim about each artifact
    (``confirmed`` per line of :func:`choices`), listwise: the log-probability, under a softmax
    over the artifact's lines, of the lines the judge confirmed. Artifacts where every or no
    claim was confirmed say nothing about where to point and are left out.

    Listwise because the question is *which* line: fitted per line, the network learns first
    which artifacts are broken everywhere and leaves the rare line that matters at chance.
    """
    usable = [(c, ok) for c, ok in groups if 0 < ok.sum() < len(ok)]
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        net = PointerNet().train()
        policy = PointerPolicy(net, rms.context_features)
        opt = torch.optim.Adam(net.parameters(), lr=lr, weight_decay=1e-4)
        order = np.random.default_rng(seed)
        for _ in range(epochs):
            perm = order.permutation(len(usable))
            for start in range(0, len(perm), 16):
                batch = [usable[k] for k in perm[start : start + 16]]
                contexts = [c for c, _ in batch]
                mask = policy.action_mask(contexts)
                logp = torch.log_softmax(policy.logits(contexts).masked_fill(~mask, -math.inf), 1)
                hit = torch.zeros_like(mask)
                for b, (_, ok) in enumerate(batch):
                    hit[b, : len(ok)] = torch.as_tensor(ok)
                loss = -torch.logsumexp(logp.masked_fill(~hit, -math.inf), dim=1).mean()
                opt.zero_grad()
                loss.backward()
                opt.step()
    return net.eval()


def train_critic(
    policy: PointerPolicy,
    rm1: PointerNet,
    contexts: Sequence[ProgramContext],
    cfg: PGConfig,
    seed: int,
) -> dict[str, list[float]]:
    """Policy gradient on the critic against RM1 (reward: RM1's confirmation probability);
    ``seed`` replaces ``cfg.seed`` (each round has its own)."""

    def sample(gen: np.random.Generator, batch: int) -> list[ProgramContext]:
        return [contexts[i] for i in gen.integers(0, len(contexts), size=batch)]

    def reward(obs: list[ProgramContext], actions: np.ndarray) -> np.ndarray:
        lines = np.array([choices(c)[int(a)] for c, a in zip(obs, actions, strict=True)])
        return claim_scores(rm1, obs, lines)

    return train_policy(policy, sample, reward, cfg.model_copy(update={"seed": seed})).as_dict()


# --- level 2: the improver ---------------------------------------------------------------------


def new_improver(seed: int, hidden: int) -> ImproverNet:
    """The seed's initial improver (its weights depend on ``seed`` only)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(derive_seed(seed, "rrm-improver", "init"))
        return ImproverNet(hidden=hidden)


def improver_probs(net: ImproverNet, tables: Sequence[RefTable]) -> list[np.ndarray]:
    """The improver's probability of each valid edit of each reference (one step from R)."""
    states = [ImproverState(t.program, t.program) for t in tables]
    probs = action_probs(net, states).double().numpy()
    return [probs[b, t.actions] / probs[b, t.actions].sum() for b, t in enumerate(tables)]


@dataclass
class CurvePoint:
    """The improver policy (or best-of-n) measured on held-out references."""

    x: float  # the step (RL) or n (best-of-n)
    kl: float
    proxy: float
    gold: float
    hacking: float
    accepted: float
    accepted_broken: float  # the policy's mass on artifacts the RM accepts and gold rejects

    def as_dict(self) -> dict[str, float]:
        """The fields as floats, for JSON."""
        return {k: float(v) for k, v in self.__dict__.items()}


def _hacking(dist: np.ndarray, accept: np.ndarray, label: np.ndarray) -> tuple[float, float, float]:
    """(share of the RM-accepted mass that gold rejects, RM-accepted mass, accepted-broken
    mass); the share is NaN when the RM accepts nothing the policy produces."""
    accepted = float(dist @ accept)
    bad = float(dist @ (accept & ~label))
    return (bad / accepted if accepted > 0 else float("nan")), accepted, bad


def policy_point(
    x: float,
    probs: Sequence[np.ndarray],
    kls: Sequence[float],
    tables: Sequence[RefTable],
    scores: Sequence[np.ndarray],
) -> CurvePoint:
    """Average over held-out references of one policy's KL, proxy, gold and hacking."""
    rows = []
    for p, kl, t, s in zip(probs, kls, tables, scores, strict=True):
        h, acc, bad = _hacking(p, s >= 0.5, t.gold_label)
        rows.append((kl, p @ s, p @ t.gold_value, h, acc, bad))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN hacking: undefined, kept NaN
        kl, proxy, gold, hack, acc, bad = np.nanmean(rows, axis=0)
    return CurvePoint(x, kl, proxy, gold, hack, acc, bad)


def bon_curve(
    base: Sequence[np.ndarray],
    tables: Sequence[RefTable],
    scores: Sequence[np.ndarray],
    ns: Sequence[int],
) -> list[CurvePoint]:
    """Best-of-n against RM2 from the initial improver, exact over every edit of each held-out
    reference (discrete outputs: the exact KL, not the log n - (n-1)/n bound)."""
    points = []
    for n in ns:
        dists = [best_of_n_distribution(p, s, n) for p, s in zip(base, scores, strict=True)]
        kls = [best_of_n_kl(p, s, n) for p, s in zip(base, scores, strict=True)]
        points.append(policy_point(n, dists, kls, tables, scores))
    return points


TableScores = Callable[[RefTable], np.ndarray]
"""A level-2 reward on every edit of a reference, in ``actions`` order: an RM2's P(accept), or
gold's label in the gold mode."""


def rm_scores(rm2: rms.PointwiseRM) -> TableScores:
    """RM2's P(accept) of every edit of a reference."""
    return lambda table: rm2.score(table.contexts)


def gold_scores(table: RefTable) -> np.ndarray:
    """The exact ceiling: gold's label of every edit (1 acceptable, 0 not), learned by nothing."""
    return table.gold_label.astype(float)


def train_improver_rl(
    net: ImproverNet,
    world: World,
    scores: TableScores,
    cfg: PGConfig,
    evaluations: int,
    seed: int,
    base_net: ImproverNet,
) -> tuple[list[CurvePoint], dict[str, list[float]]]:
    """Policy gradient on the improver against ``scores`` (an RM2's P(accept), or gold's label),
    from ``net`` as it is,
    with the KL penalty to ``net`` on entry; ``seed`` replaces ``cfg.seed``. Returns the RL
    curve, measured ``evaluations`` times along training (and at the start) on held-out
    references against the initial improver ``base_net`` (KL, proxy, gold, hacking)."""
    train_scores = {t.index: scores(t) for t in world.train}
    test_scores = [scores(t) for t in world.test]
    lookup = {t.program: t for t in world.train}
    states = [ImproverState(t.program, t.program) for t in world.train]
    test_states = [ImproverState(t.program, t.program) for t in world.test]

    def sample(gen: np.random.Generator, batch: int) -> list[ImproverState]:
        return [states[i] for i in gen.integers(0, len(states), size=batch)]

    def reward(obs: list[ImproverState], actions: np.ndarray) -> np.ndarray:
        out = []
        for s, a in zip(obs, actions, strict=True):
            t = lookup[s.reference]
            out.append(train_scores[t.index][t.position[int(a)]])
        return np.array(out)

    every = max(1, cfg.steps // evaluations)
    curve: list[CurvePoint] = []

    def measure(step: int, policy: ImproverNet) -> None:
        kls = [max(policy_kl(policy, base_net, [s]), 0.0) for s in test_states]  # float32 rounding
        curve.append(
            policy_point(step, improver_probs(policy, world.test), kls, world.test, test_scores)
        )

    measure(0, net)
    log = train_policy(
        net,
        sample,
        reward,
        cfg.model_copy(update={"seed": seed}),
        callback=lambda step, _policy: (  # _policy is net, trained in place
            measure(step + 1, net) if (step + 1) % every == 0 else None
        ),
    )
    return curve, log.as_dict()
