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
from oversight.agents.improver import (
    ImproverNet,
    ImproverState,
    imitate,
    next_states,
    sample_episodes,
)
from oversight.core.seeding import derive_seed, rng
from oversight.envs.programs.env import ProgramContext
from oversight.envs.programs.oracle import gold_oracle
from oversight.experiments.rrm.world import ArtifactKey, RefTable, World
from oversight.learning import reward_models as rms
from oversight.learning.best_of_n import (
    best_of_n_distribution,
    best_of_n_kl,
    kl_bound,
    unbiased_bon_estimate,
)
from oversight.learning.policy_gradient import (
    PGConfig,
    action_probs,
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
    """A fresh improver (its weights depend on ``seed`` only)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(derive_seed(seed, "rrm-improver", "init"))
        return ImproverNet(hidden=hidden)


def demonstrations(
    tables: Sequence[RefTable], noise: float
) -> tuple[list[ImproverState], list[np.ndarray]]:
    """An honest demonstrator's first edit of each reference: uniform over the edits that keep
    the program equivalent, with ``noise`` of its mass on any valid edit (sloppiness)."""
    states, targets = [], []
    for t in tables:
        valid = np.zeros(2 * len(t.program))
        valid[t.actions] = 1.0
        good = np.zeros_like(valid)
        good[t.actions[t.gold_label]] = 1.0
        good = good / good.sum() if good.any() else valid / valid.sum()
        states.append(ImproverState.start(t.program))
        targets.append((1 - noise) * good + noise * valid / valid.sum())
    return states, targets


def pretrained_improver(
    tables: Sequence[RefTable], seed: int, hidden: int, epochs: int, noise: float
) -> tuple[ImproverNet, list[float]]:
    """The initial level-2 policy: a fresh improver that imitated :func:`demonstrations` on the
    training references for ``epochs`` steps (the supervised stage before RL); its losses."""
    net = new_improver(seed, hidden)
    losses: list[float] = []
    if epochs:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(derive_seed(seed, "rrm-improver", "sft"))
            losses = imitate(net, *demonstrations(tables, noise), epochs)
    return net.eval(), losses


def improver_probs(net: ImproverNet, tables: Sequence[RefTable]) -> list[np.ndarray]:
    """The improver's probability of each valid edit of each reference (one step from R)."""
    states = [ImproverState.start(t.program) for t in tables]
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


@dataclass(frozen=True)
class Outcomes:
    """A policy's possible artifacts on one reference, with their weights under it: the
    level-2 reward (``scores``), gold's value and label of each."""

    weights: np.ndarray
    scores: np.ndarray
    gold_value: np.ndarray
    gold_label: np.ndarray


def policy_point(x: float, outcomes: Sequence[Outcomes], kls: Sequence[float]) -> CurvePoint:
    """Average over held-out references of one policy's KL, proxy, gold and hacking (the share
    of the RM-accepted mass that gold rejects; NaN where the RM accepts nothing)."""
    rows = []
    for o, kl in zip(outcomes, kls, strict=True):
        w = o.weights / o.weights.sum()
        accept = o.scores >= 0.5
        accepted = float(w @ accept)
        bad = float(w @ (accept & ~o.gold_label))
        hack = bad / accepted if accepted > 0 else float("nan")
        rows.append((kl, w @ o.scores, w @ o.gold_value, hack, accepted, bad))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN hacking: undefined, kept NaN
        kl, proxy, gold, hack, acc, bad = np.nanmean(rows, axis=0)
    return CurvePoint(x, kl, proxy, gold, hack, acc, bad)


def exact_bon_curve(
    base: Sequence[np.ndarray], outcomes: Sequence[Outcomes], ns: Sequence[int]
) -> list[CurvePoint]:
    """Best-of-n against the level-2 reward from the initial policy ``base`` (its probability
    of each outcome), exact where the outputs can be enumerated (single edits): the exact
    distribution and KL, not the log n - (n-1)/n bound."""
    points = []
    for n in ns:
        kls = [best_of_n_kl(p, o.scores, n) for p, o in zip(base, outcomes, strict=True)]
        chosen = [
            Outcomes(best_of_n_distribution(p, o.scores, n), o.scores, o.gold_value, o.gold_label)
            for p, o in zip(base, outcomes, strict=True)
        ]
        points.append(policy_point(n, chosen, kls))
    return points


def sampled_bon_curve(pools: Sequence[Outcomes], ns: Sequence[int]) -> list[CurvePoint]:
    """Best-of-n estimated from a pool of ``N`` episodes of the initial policy per reference
    (:func:`~oversight.learning.best_of_n.unbiased_bon_estimate`: the average over every
    n-subset of the pool, for each quantity of the chosen episode), where the outputs are too
    many to enumerate. KL is the analytic ``log n - (n-1)/n``, the bound for continuous scores."""
    points = []
    for n in ns:
        rows = []
        for o in pools:
            accept = (o.scores >= 0.5).astype(float)
            bad = accept * ~o.gold_label
            acc, broken = (unbiased_bon_estimate(o.scores, v, n) for v in (accept, bad))
            rows.append(
                (
                    unbiased_bon_estimate(o.scores, o.scores, n),
                    unbiased_bon_estimate(o.scores, o.gold_value, n),
                    broken / acc if acc > 0 else float("nan"),
                    acc,
                    broken,
                )
            )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            proxy, gold, hack, acc, bad = np.nanmean(rows, axis=0)
        points.append(CurvePoint(n, kl_bound(n), proxy, gold, hack, acc, bad))
    return points


ContextScores = Callable[[Sequence[ProgramContext]], np.ndarray]
"""A level-2 reward on artifacts: an RM2's P(accept), or gold's label in the gold mode."""


def rm_scores(rm2: rms.PointwiseRM) -> ContextScores:
    """RM2's P(accept)."""
    return rm2.score


def gold_scores(contexts: Sequence[ProgramContext]) -> np.ndarray:
    """The exact ceiling: gold's label (1 acceptable, 0 not), learned by nothing."""
    return np.array([gold_oracle(c.reference, c.artifact).label for c in contexts], dtype=float)


def episode_outcomes(
    ends: Sequence[ImproverState], scores: ContextScores, penalty: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Level-2 reward, gold value and gold label of each episode's last program."""
    contexts = [ProgramContext(s.reference, s.current) for s in ends]
    results = [gold_oracle(c.reference, c.artifact, penalty) for c in contexts]
    return (
        np.asarray(scores(contexts), dtype=float),
        np.array([r.value for r in results]),
        np.array([r.label for r in results], dtype=bool),
    )


def sampled_point(
    x: float,
    policy: ImproverNet,
    base: ImproverNet,
    tables: Sequence[RefTable],
    scores: ContextScores,
    edits: int,
    samples: int,
    penalty: float,
    gen: np.random.Generator,
) -> CurvePoint:
    """One policy on held-out references from ``samples`` episodes each: KL to ``base`` (the
    exact per-step KLs summed along each sampled path), proxy, gold and hacking."""
    starts = [ImproverState.start(t.program) for t in tables for _ in range(samples)]
    episodes = sample_episodes(policy, starts, edits, gen, reference=base)
    proxy, value, label = episode_outcomes(episodes.ends, scores, penalty)
    kls = [float(k.mean()) for k in np.split(episodes.kl, len(tables))]
    return policy_point(x, per_reference(proxy, value, label, len(tables)), kls)


def per_reference(
    scores: np.ndarray, gold_value: np.ndarray, gold_label: np.ndarray, references: int
) -> list[Outcomes]:
    """Equally weighted samples as :class:`Outcomes` per reference, for samples laid out as
    the same number per reference, reference after reference."""
    parts = zip(*(np.split(a, references) for a in (scores, gold_value, gold_label)), strict=True)
    return [Outcomes(np.ones(len(s)), s, v, lab) for s, v, lab in parts]


def _memoised(scores: ContextScores) -> ContextScores:
    """``scores`` computed once per distinct artifact (RL revisits the same ones often)."""
    seen: dict[ProgramContext, float] = {}

    def memo(contexts: Sequence[ProgramContext]) -> np.ndarray:
        new = list(dict.fromkeys(c for c in contexts if c not in seen))
        if new:
            seen.update(zip(new, np.asarray(scores(new), dtype=float), strict=True))
        return np.array([seen[c] for c in contexts])

    return memo


def train_improver_rl(
    net: ImproverNet,
    world: World,
    scores: ContextScores,
    cfg: PGConfig,
    evaluations: int,
    seed: int,
    base_net: ImproverNet,
    samples: int,
) -> tuple[list[CurvePoint], dict[str, list[float]]]:
    """Policy gradient on the improver's episodes of ``world.config.episode_edits`` edits
    against ``scores`` (an RM2's P(accept), or gold's label) of the last program, from ``net``
    as it is, with the KL penalty to ``net`` on entry; ``seed`` replaces ``cfg.seed``. Returns
    the RL curve, measured at up to ``evaluations`` log-spaced steps (and at the start) on held-out
    references against the initial improver ``base_net`` (KL, proxy, gold, hacking), from
    ``samples`` episodes per reference each time."""
    edits, penalty = world.config.episode_edits, world.config.penalty
    reward_scores = _memoised(scores)
    starts = [ImproverState.start(t.program) for t in world.train]

    def sample(gen: np.random.Generator, batch: int) -> list[ImproverState]:
        return [starts[i] for i in gen.integers(0, len(starts), size=batch)]

    def reward(obs: list[ImproverState], actions: np.ndarray) -> np.ndarray:
        ends = next_states(obs, actions)
        return reward_scores([ProgramContext(s.reference, s.current) for s in ends])

    # log-spaced: KL moves most in the first steps, where an even spacing would leave a gap
    marks = set(np.unique(np.geomspace(1, max(1, cfg.steps), evaluations).round()).astype(int))
    curve: list[CurvePoint] = []
    test_scores = _memoised(scores)

    def measure(step: int) -> None:
        gen = rng(seed, "rrm-curve", step)
        curve.append(
            sampled_point(
                step, net, base_net, world.test, test_scores, edits, samples, penalty, gen
            )
        )

    measure(0)
    log = train_policy(
        net,
        sample,
        reward,
        cfg.model_copy(update={"seed": seed}),
        callback=lambda step, _policy: (  # _policy is net, trained in place
            measure(step + 1) if step + 1 in marks else None
        ),
        horizon=edits,
        transition=next_states,
    )
    return curve, log.as_dict()
