"""Recursive reward modeling on the program environment: levels, rounds and the driver.

The judge's budget is the same at every level (``judge_budget`` line evaluations, default 16)
and programs are longer than that (160 lines by default), so alone it cannot run one test.

- **Level 0**: execution traces. A tracer claims a trace, a trace checker contests one step, the
  judge checks that step (:mod:`oversight.envs.programs.traces`). Imperfect on purpose through the
  knobs of :class:`Level0Config` (sloppy tracers, a lying tracer, a checker budget below the
  trace length, a default rule for unverifiable contests, judge noise).
- **Level 1**: the counterexample critic (:class:`~oversight.agents.critics.claim.ClaimCritic`, a
  pointer policy and the solver). Its claims are verified with level-0 help
  (:meth:`~oversight.judges.recursive.TraceAssistedJudge.settle`). A claim reward model (RM1, a
  pointer net scoring the pointed line) learns those verifications; the critic is trained by
  policy gradient against RM1, never against gold.
- **Level 2**: the program improver (:class:`~oversight.agents.improver.ImproverNet`, one edit of
  R). Its artifacts are judged in each *supervision mode*: ``unassisted`` (the budgeted judge
  alone: it cannot afford a test, so its default rule decides), ``assisted`` (the level-1 critic
  argues, the trace-assisted judge verifies with level-0 help), or ``gold`` (the oracle's labels:
  the ceiling). A pointwise reward model per mode (RM2) learns those verdicts and the improver is
  trained by policy gradient (KL-penalised) against it.

Rounds alternate: in round ``t`` the critic retrains on claims about the artifacts the improver
of round ``t - 1`` produced (and the makers'), then the improver retrains against the RM built
with that critic. Each round an exploit search looks for artifacts the current RM2 scores high;
what it finds is judged like any artifact (never by gold) and joins the next round's training
data (adversarial training, wired into the loop). Everything measured against gold (accuracy,
best-of-n and RL curves, reward hacking) is measured on held-out reference programs.

:func:`run_seed` runs one seed through every round; each stage (seed, round, level, mode) is
saved to a checkpoint as it finishes, so a killed run resumes without redoing any.

torch is imported at module level: import this module lazily.
"""

from __future__ import annotations

import math
import os
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import torch

from oversight.agents.critics.claim import ClaimCritic, PointerPolicy, choices, claim_input
from oversight.agents.critics.learned import PointerNet, new_pointer
from oversight.agents.improver import ImproverNet, ImproverState, apply_action, valid_actions
from oversight.core.budget import Meter
from oversight.core.errors import OversightError
from oversight.core.records import Artifact, Gold, Problem, Transcript, Verdict
from oversight.core.seeding import derive_seed, rng
from oversight.envs.programs.dsl import Program, parse
from oversight.envs.programs.env import ProgramContext, ProgramEnv
from oversight.envs.programs.features import line_features
from oversight.envs.programs.generator import GeneratorConfig, Reference, generate_reference
from oversight.envs.programs.interpreter import run_steps
from oversight.envs.programs.makers import TRIGGER_FAMILIES, make
from oversight.envs.programs.oracle import gold_oracle
from oversight.experiments.rrm.config import (
    ModeConfig,
    RLConfig,
    RRMConfig,
    Supervision,
)
from oversight.judges.budgeted import BudgetedJudge, JudgeConfig
from oversight.judges.recursive import TraceAssistedJudge, TraceAssistedJudgeConfig
from oversight.learning import reward_models as rms
from oversight.learning.adversarial import candidate_pool, propose, search_pool
from oversight.learning.best_of_n import best_of_n_distribution, best_of_n_kl
from oversight.learning.policy_gradient import PGConfig, action_probs, policy_kl, train_policy
from oversight.metrics.calibration import expected_calibration_error
from oversight.protocols.engine import CRITIQUE, DIRECT, Episode, run_protocol

# --- the world: references, their single-edit artifacts, makers' artifacts -------------------


@dataclass(frozen=True)
class Item:
    """One artifact of reference ``ref``: an edit (``source="edit"``, ``key`` the action), a
    maker's artifact (``source`` the maker tag, ``key`` the draw, ``k`` the subtlety), or one
    the exploit search found (``source="found"``, the program in ``text``)."""

    ref: int
    source: str
    key: int = 0
    k: int = 0
    text: str = ""

    def as_list(self) -> list[Any]:
        return [self.ref, self.source, self.key, self.k, self.text]


@dataclass
class RefTable:
    """A reference program with every single-edit artifact and its gold value, precomputed."""

    index: int
    reference: Reference
    problem: Problem
    actions: np.ndarray
    gold_value: np.ndarray
    gold_label: np.ndarray

    @cached_property
    def program(self) -> Program:
        return self.reference.program

    @cached_property
    def contexts(self) -> list[ProgramContext]:
        return [
            ProgramContext(self.program, apply_action(self.program, int(a))) for a in self.actions
        ]

    @cached_property
    def position(self) -> dict[int, int]:
        return {int(a): i for i, a in enumerate(self.actions)}


def _table_data(knobs: GeneratorConfig, seed: int, penalty: float) -> dict[str, Any]:
    """What a worker computes for one reference: gold of every edit and its features."""
    torch.set_num_threads(1)
    ref = generate_reference(knobs, seed)
    program = ref.program
    actions = np.flatnonzero(valid_actions(program))
    values, labels, features = [], [], []
    for a in actions:
        edited = apply_action(program, int(a))
        result = gold_oracle(program, edited, penalty)
        values.append(result.value)
        labels.append(result.label)
        features.append(line_features(ProgramContext(program, edited)))
    return {
        "seed": seed,
        "actions": actions,
        "values": np.array(values),
        "labels": np.array(labels, dtype=bool),
        "features": features,
    }


class World:
    """The references of a run (train then test) and every artifact the run talks about.

    Shared by all seeds: the seeds vary the learners, not the programs, so the expensive part
    (gold of every edit, line features) is computed once, in parallel when ``workers > 1``.
    """

    def __init__(
        self, config: RRMConfig, workers: int = 1, progress: Callable[[], None] = lambda: None
    ):
        self.config = config
        seeds = list(range(config.train_refs)) + [100_000 + i for i in range(config.test_refs)]
        data = _map(
            lambda s: _table_data(config.generator, s, config.penalty), seeds, workers, progress
        )
        env = ProgramEnv(config.generator, config.penalty)
        self.tables: list[RefTable] = []
        for index, d in enumerate(data):
            problem, ref = env.reference(d["seed"])
            table = RefTable(index, ref, problem, d["actions"], d["values"], d["labels"])
            for ctx, feats in zip(table.contexts, d["features"], strict=True):
                rms.prime_features(ctx, feats)
            self.tables.append(table)
        self._made: dict[Item, tuple[ProgramContext, float, bool]] = {}

    @property
    def train(self) -> list[RefTable]:
        return self.tables[: self.config.train_refs]

    @property
    def test(self) -> list[RefTable]:
        return self.tables[self.config.train_refs :]

    def context(self, item: Item) -> ProgramContext:
        if item.source == "edit":
            t = self.tables[item.ref]
            return t.contexts[t.position[item.key]]
        return self._other(item)[0]

    def gold(self, item: Item) -> tuple[float, bool]:
        """Gold value and label: the experimenter's, for measurement and the gold mode only."""
        if item.source == "edit":
            t = self.tables[item.ref]
            i = t.position[item.key]
            return float(t.gold_value[i]), bool(t.gold_label[i])
        _, value, label = self._other(item)
        return value, label

    def family(self, item: Item) -> str:
        if item.source != "edit":
            return item.source
        n = len(self.tables[item.ref].program)
        return "edit-delete" if item.key < n else "edit-substitute"

    def _other(self, item: Item) -> tuple[ProgramContext, float, bool]:
        """Context and gold of a maker's or a found artifact, built once."""
        if item not in self._made:
            t = self.tables[item.ref]
            if item.source == "found":
                artifact = parse(item.text, t.program.bits)
            else:
                r = rng(0, "rrm-maker", t.problem.seed, item.source, item.key, item.k)
                artifact = make(item.source, t.reference, r, item.k or 8).program
            ctx = ProgramContext(t.program, artifact)
            result = gold_oracle(t.program, artifact, self.config.penalty)
            self._made[item] = (ctx, result.value, result.label)
        return self._made[item]

    def episode(self, item: Item, episode_id: str) -> Episode:
        ctx = self.context(item)
        t = self.tables[item.ref]
        artifact = Artifact(
            id=f"{t.problem.id}/{item.source}-{item.key}-{item.k}",
            problem_id=t.problem.id,
            content=str(ctx.artifact),
            claimed_saving=float(ctx.claimed_saving),
            author="improver" if item.source == "edit" else f"maker-{item.source}",
        )
        return Episode(episode_id, t.problem, artifact, ctx)


def _map(fn: Callable[[Any], Any], xs: Sequence[Any], workers: int, tick: Callable[[], None]):
    """``[fn(x) for x in xs]``, in ``workers`` forked processes when more than one."""
    if workers <= 1 or len(xs) <= 1:
        out = []
        for x in xs:
            out.append(fn(x))
            tick()
        return out
    import multiprocessing as mp

    global _MAP_FN
    _MAP_FN = fn
    with mp.get_context("fork").Pool(workers) as pool:
        out = []
        for value in pool.imap(_call_map_fn, xs):
            out.append(value)
            tick()
        return out


_MAP_FN: Callable[[Any], Any] | None = None


def _call_map_fn(x: Any) -> Any:
    assert _MAP_FN is not None
    return _MAP_FN(x)


# --- judging ---------------------------------------------------------------------------------


def judge_items(
    world: World,
    items: Sequence[Item],
    supervision: Supervision,
    judge_config: TraceAssistedJudgeConfig,
    critic: ClaimCritic | None,
    tag: str,
    seed: int,
    arm: str = "",
) -> list[Transcript]:
    """Transcripts of the level-2 judge of one supervision mode ruling on ``items``; ``tag``
    names the episodes and random streams, ``arm`` the transcripts' arm (the mode).

    ``gold`` transcripts carry the oracle's label as their verdict (rule ``gold``).
    """
    episodes = [world.episode(it, f"{tag}/{i}") for i, it in enumerate(items)]
    if supervision == "assisted":
        if critic is None:
            raise OversightError("the assisted mode needs a critic")
        judge = TraceAssistedJudge(judge_config, seed=derive_seed(seed, tag))
        transcripts = run_protocol(CRITIQUE, episodes, {"critic": critic}, judge, arm=arm)
    elif supervision == "unassisted":
        cfg = JudgeConfig(
            budget=judge_config.budget,
            strategy="random",
            noise=judge_config.noise,
            unverifiable=judge_config.default,
        )
        judge = BudgetedJudge(cfg, seed=derive_seed(seed, tag))
        transcripts = run_protocol(DIRECT, episodes, {}, judge, arm=arm)
    else:
        transcripts = [
            Transcript(
                episode_id=e.episode_id,
                protocol="gold",
                arm=arm,
                problem=e.problem,
                artifact=e.artifact,
                verdict=Verdict(accept=world.gold(it)[1], rule="gold"),
            )
            for e, it in zip(episodes, items, strict=True)
        ]
    return transcripts


def settle_claims(
    world: World,
    claims: Sequence[tuple[Item, int]],
    judge_config: TraceAssistedJudgeConfig,
    tag: str,
    seed: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Level-1 verdicts on claims ``(artifact, candidate line)``: the claimed input is the
    solver's for that line; the trace-assisted judge settles it with level-0 help. A claim is
    confirmed when verified, or when the artifact's side was caught lying about it. Returns
    (confirmed, and, for measurement only, whether P and R really differ on the input)."""
    judge = TraceAssistedJudge(judge_config, seed=derive_seed(seed, tag))
    confirmed, truth = [], []
    for i, (item, line) in enumerate(claims):
        key = f"{tag}/{i}"
        ctx = world.context(item)
        x = claim_input(ctx, line, seed, key)
        r = rng(judge.seed, "claim", key)
        outcome = judge.settle(world.episode(item, key), x, Meter(judge_config.budget), r).outcome
        ok = outcome in ("verified", "caught")
        if judge_config.noise and r.random() < judge_config.noise:
            ok = not ok
        confirmed.append(ok)
        truth.append(run_steps(ctx.reference, x) != run_steps(ctx.artifact, x))
    return np.array(confirmed, dtype=bool), np.array(truth, dtype=bool)


def critic_lines(critic: ClaimCritic, world: World, items: Sequence[Item], tag: str) -> list[int]:
    """The line the critic points at for each item."""
    contexts = [world.context(it) for it in items]
    return [int(c.line) for c in critic.claims(contexts, [f"{tag}/{i}" for i in range(len(items))])]


# --- learners ----------------------------------------------------------------------------------


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
    rm1,
    contexts: Sequence[ProgramContext],
    cfg: RLConfig,
    seed: int,
) -> dict[str, list[float]]:
    """Policy gradient on the critic against RM1 (reward: RM1's confirmation probability)."""

    def sample(gen: np.random.Generator, batch: int) -> list[ProgramContext]:
        return [contexts[i] for i in gen.integers(0, len(contexts), size=batch)]

    def reward(obs: list[ProgramContext], actions: np.ndarray) -> np.ndarray:
        lines = np.array([choices(c)[int(a)] for c, a in zip(obs, actions, strict=True)])
        return claim_scores(rm1, obs, lines)

    pg = PGConfig(lr=cfg.lr, beta_kl=cfg.beta_kl, steps=cfg.steps, batch=cfg.batch, seed=seed)
    return train_policy(policy, sample, reward, pg).as_dict()


def new_improver(seed: int, hidden: int) -> ImproverNet:
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

    def as_dict(self) -> dict[str, float]:
        return {k: float(v) for k, v in self.__dict__.items()}


def _hacking(dist: np.ndarray, accept: np.ndarray, label: np.ndarray) -> tuple[float, float]:
    """(share of the RM-accepted mass that gold rejects, RM-accepted mass); the share is NaN
    when the RM accepts nothing the policy produces."""
    accepted = float(dist @ accept)
    bad = float(dist @ (accept & ~label))
    return (bad / accepted if accepted > 0 else float("nan")), accepted


def policy_point(
    x: float, probs: Sequence[np.ndarray], kls: Sequence[float], tables, scores
) -> CurvePoint:
    """Average over held-out references of one policy's KL, proxy, gold and hacking."""
    rows = []
    for p, kl, t, s in zip(probs, kls, tables, scores, strict=True):
        h, acc = _hacking(p, s >= 0.5, t.gold_label)
        rows.append((kl, p @ s, p @ t.gold_value, h, acc))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN hacking: undefined, kept NaN
        kl, proxy, gold, hack, acc = np.nanmean(rows, axis=0)
    return CurvePoint(x, kl, proxy, gold, hack, acc)


def bon_curve(
    base: Sequence[np.ndarray], tables: Sequence[RefTable], scores, ns: Sequence[int]
) -> list[CurvePoint]:
    """Best-of-n against RM2 from the initial improver, exact over every edit of each held-out
    reference (discrete outputs: the exact KL, not the log n - (n-1)/n bound)."""
    points = []
    for n in ns:
        dists = [best_of_n_distribution(p, s, n) for p, s in zip(base, scores, strict=True)]
        kls = [best_of_n_kl(p, s, n) for p, s in zip(base, scores, strict=True)]
        points.append(policy_point(n, dists, kls, tables, scores))
    return points


def train_improver_rl(
    net: ImproverNet,
    world: World,
    rm2: rms.PointwiseRM,
    cfg: RLConfig,
    seed: int,
    base_net: ImproverNet,
) -> tuple[list[CurvePoint], dict[str, list[float]]]:
    """Policy gradient on the improver against RM2 (reward: P(accept)), from ``net`` as it is,
    with the KL penalty to ``net`` on entry. Returns the RL curve measured on held-out
    references against the initial improver ``base_net`` (KL, proxy, gold, hacking)."""
    train_scores = {t.index: rm2.score(t.contexts) for t in world.train}
    test_scores = [rm2.score(t.contexts) for t in world.test]
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

    every = max(1, cfg.steps // cfg.checkpoints)
    curve: list[CurvePoint] = []

    def measure(step: int, policy) -> None:
        kls = [max(policy_kl(policy, base_net, [s]), 0.0) for s in test_states]  # float32 rounding
        curve.append(
            policy_point(step, improver_probs(policy, world.test), kls, world.test, test_scores)
        )

    measure(0, net)
    pg = PGConfig(lr=cfg.lr, beta_kl=cfg.beta_kl, steps=cfg.steps, batch=cfg.batch, seed=seed)
    log = train_policy(
        net,
        sample,
        reward,
        pg,
        callback=lambda step, policy: (
            measure(step + 1, policy) if (step + 1) % every == 0 else None
        ),
    )
    return curve, log.as_dict()


# --- one seed ----------------------------------------------------------------------------------


def _balanced_accuracy(pred: np.ndarray, truth: np.ndarray) -> float:
    """Mean of the per-class accuracies (NaN without both classes)."""
    pred, truth = np.asarray(pred, bool), np.asarray(truth, bool)
    if truth.all() or not truth.any():
        return float("nan")
    return float(np.mean([(pred[truth == v] == v).mean() for v in (False, True)]))


def _claim_block(confirmed: np.ndarray, truth: np.ndarray) -> dict[str, float]:
    """How level-1 verdicts on claims match the truth (do P and R differ on the input?)."""
    nan = float("nan")
    return {
        "accuracy": float((confirmed == truth).mean()) if len(truth) else nan,
        "false_confirm_rate": float(confirmed[~truth].mean()) if (~truth).any() else nan,
        "missed_true_rate": float((~confirmed[truth]).mean()) if truth.any() else nan,
    }


def _accuracy_block(pred: np.ndarray, gold: np.ndarray) -> dict[str, float]:
    """Accuracy, balanced accuracy, catch rate and false-alarm rate of accept decisions."""
    pred, gold = np.asarray(pred, bool), np.asarray(gold, bool)
    return {
        "accuracy": float((pred == gold).mean()) if len(gold) else float("nan"),
        "balanced_accuracy": _balanced_accuracy(pred, gold),
        "catch_rate": float((~pred[~gold]).mean()) if (~gold).any() else float("nan"),
        "false_alarm_rate": float((~pred[gold]).mean()) if gold.any() else float("nan"),
        "n": len(gold),
    }


@dataclass
class SeedRun:
    """The rounds of one seed. ``checkpoints`` is this seed's folder; ``tick`` reports progress.

    Pools are cumulative: every verdict of every round stays in its reward model's training
    data. The improver of each round starts from the same initial policy (so RL curves of all
    modes and rounds share their origin and KL is comparable); the critic continues from the
    previous round's.
    """

    world: World
    config: RRMConfig
    seed: int
    checkpoints: Path
    tick: Callable[[str], None] = lambda stage: None
    records: list[dict[str, Any]] = field(default_factory=list)
    transcripts: list[Transcript] = field(default_factory=list)
    pending: list[Transcript] = field(default_factory=list)  # this stage's, until saved

    def __post_init__(self) -> None:
        torch.set_num_threads(1)  # small networks; the parallelism is across seeds
        cfg = self.config
        self.checkpoints.mkdir(parents=True, exist_ok=True)
        self.base = new_improver(self.seed, cfg.improver_hidden).eval()
        self.critic_policy = PointerPolicy(
            new_pointer(derive_seed(self.seed, "rrm-critic")), rms.context_features
        )
        self.claims: list[tuple[Item, int, bool]] = []
        self.pools: dict[str, list[tuple[Item, bool]]] = {m.name: [] for m in cfg.modes}
        self.samplers: dict[str, ImproverNet] = {m.name: self.base for m in cfg.modes}
        self.rms2: dict[str, rms.PointwiseRM] = {}
        self.eval_set = self._eval_items()
        self.family_set = self._family_items()

    # -- artifacts

    def _maker_items(self, n: int, tables: Sequence[RefTable], families, r, draw0: int):
        picks = []
        for i in range(n):
            t = tables[int(r.integers(len(tables)))]
            family = families[int(r.integers(len(families)))]
            k = int(self.config.subtlety_bits[int(r.integers(len(self.config.subtlety_bits)))])
            picks.append(Item(t.index, family, draw0 + i, k if family in TRIGGER_FAMILIES else 0))
        return picks

    def _edit_items(self, n: int, net: ImproverNet, tables: Sequence[RefTable], r):
        probs = improver_probs(net, tables)
        out = []
        for _ in range(n):
            b = int(r.integers(len(tables)))
            out.append(
                Item(
                    tables[b].index,
                    "edit",
                    int(tables[b].actions[r.choice(len(probs[b]), p=probs[b])]),
                )
            )
        return out

    def new_items(self, round_: int, mode: str) -> list[Item]:
        """This round's artifacts for ``mode``: makers' and the mode's current improver's.
        Round 0 draws the same items for every mode (they share the initial improver)."""
        cfg = self.config
        n = cfg.verdicts_first_round if round_ == 0 else cfg.verdicts_per_round
        r = rng(self.seed, "rrm-items", round_, mode if round_ else "")
        makers = round(n * cfg.maker_share)
        draw0 = 1_000_000 * (round_ + 1)
        return self._maker_items(makers, self.world.train, cfg.train_families, r, draw0) + (
            self._edit_items(n - makers, self.samplers[mode], self.world.train, r)
        )

    def _eval_items(self) -> list[Item]:
        """Held-out artifacts every mode's judge rules on: edits of held-out references drawn
        uniformly, and makers' artifacts of the training families on them."""
        cfg = self.config
        r = rng(self.seed, "rrm-eval")
        makers = round(cfg.eval_items * cfg.maker_share)
        edits = []
        for _ in range(cfg.eval_items - makers):
            t = self.world.test[int(r.integers(len(self.world.test)))]
            edits.append(Item(t.index, "edit", int(r.choice(t.actions))))
        return self._maker_items(makers, self.world.test, cfg.train_families, r, 0) + edits

    def _family_items(self) -> list[Item]:
        """Held-out flaw families on held-out references, with as many honest artifacts."""
        cfg = self.config
        r = rng(self.seed, "rrm-families")
        n = max(10, cfg.eval_items // 4)
        return self._maker_items(n, self.world.test, cfg.held_out_families, r, 0) + (
            self._maker_items(n, self.world.test, ["honest"], r, 10_000)
        )

    # -- checkpoints

    def _path(self, name: str) -> Path:
        return self.checkpoints / f"{name}.pt"

    def _save(self, name: str, blob: dict[str, Any]) -> None:
        tmp = self._path(name).with_suffix(".tmp")
        torch.save(blob, tmp)
        os.replace(tmp, self._path(name))

    def _load(self, name: str) -> dict[str, Any] | None:
        path = self._path(name)
        return torch.load(path, weights_only=True) if path.exists() else None

    def _verdicts(self, name: str, judge: Callable[[], list[Any]]) -> list[Any]:
        """A stage's verdicts, judged once: saved before anything is trained on them, so a run
        killed later in the stage does not judge them again."""
        blob = self._load(name)
        if blob is None:
            blob = {"verdicts": judge()}
            self._save(name, blob)
        return blob["verdicts"]

    # -- the loop

    def run(self) -> dict[str, Any]:
        """Every round (resuming from checkpoints), then the final measurements."""
        cfg = self.config
        rounds: list[dict[str, Any]] = []
        for t in range(cfg.rounds):
            entry: dict[str, Any] = {"round": t, "level1": self.level1(t)}
            if cfg.depth >= 2:
                entry["level2"] = {m.name: self.level2(t, m) for m in cfg.modes}
            rounds.append(entry)
        return {
            "seed": self.seed,
            "rounds": rounds,
            "records": self.records,
            "level0_sweep": self.level0_sweep(),
        }

    def _critic(self, explore: bool = False) -> ClaimCritic:
        return ClaimCritic(self.critic_policy, seed=self.seed, explore=explore)

    def _primary_mode(self) -> ModeConfig | None:
        return next((m for m in self.config.modes if m.supervision == "assisted"), None)

    def _claim_groups(self) -> list[tuple[ProgramContext, np.ndarray]]:
        """Every level-1 verdict so far, grouped per artifact in :func:`choices` order."""
        verdicts: dict[Item, dict[int, bool]] = {}
        for item, line, ok in self.claims:
            verdicts.setdefault(item, {})[line] = ok
        groups = []
        for item, by_line in verdicts.items():
            ctx = self.world.context(item)
            groups.append((ctx, np.array([by_line.get(j, False) for j in choices(ctx)])))
        return groups

    def level1(self, t: int) -> dict[str, Any]:
        """Round ``t`` of level 1: claims about this round's artifacts, settled with level-0
        help; RM1 on every claim so far; the critic, initialised from RM1, by policy gradient
        against RM1."""
        cfg = self.config
        name = f"round{t}-level1"
        blob = self._load(name)
        if blob is None:
            primary = self._primary_mode()
            source = primary.name if primary and cfg.depth >= 2 else cfg.modes[0].name
            items = self.new_items(t, source)
            r = rng(self.seed, "rrm-claim-items", t)
            makers = [it for it in items if it.source != "edit"]
            edits = [it for it in items if it.source == "edit"]
            half = cfg.claim_artifacts // 2
            chosen = [makers[i] for i in r.permutation(len(makers))[:half]]
            chosen += [
                edits[i] for i in r.permutation(len(edits))[: cfg.claim_artifacts - len(chosen)]
            ]
            # Every line the critic could point at, on each chosen artifact: which lines lead to
            # a confirmed claim is what RM1 has to learn, and sampled lines would rarely hit the
            # one that matters (a dropped guard, a trigger).
            claims = [(it, line) for it in chosen for line in choices(self.world.context(it))]
            settled = self._verdicts(
                f"{name}-verdicts",
                lambda: np.stack(
                    settle_claims(
                        self.world, claims, cfg.level0_for(), f"s{self.seed}/r{t}/l1", self.seed
                    )
                ).tolist(),
            )
            confirmed, truth = (np.array(row, dtype=bool) for row in settled)
            self.claims += [
                (it, line, bool(ok)) for (it, line), ok in zip(claims, confirmed, strict=True)
            ]
            rm1 = train_claim_rm(
                self._claim_groups(), derive_seed(self.seed, "rm1", t), cfg.rm.claim_epochs
            )
            contexts = [ctx for ctx, _ in self._claim_groups()]
            # The critic starts each round from RM1 itself (pointing where RM1 expects a
            # confirmation), then policy gradient against RM1 with a KL penalty to that start.
            self.critic_policy.net.load_state_dict(rm1.state_dict())
            log = train_critic(
                self.critic_policy,
                rm1,
                contexts,
                cfg.critic_rl,
                derive_seed(self.seed, "critic-rl", t),
            )
            block = _claim_block(confirmed, truth)
            metrics = {
                "claims": len(claims),
                "artifacts": len(chosen),
                "confirmed_rate": float(confirmed.mean()),
                "true_rate": float(truth.mean()),
                # level-1 judge accuracy: did the level-0-assisted verification match the truth?
                "level1_judge_accuracy": block["accuracy"],
                "false_confirm_rate": block["false_confirm_rate"],
                "missed_true_rate": block["missed_true_rate"],
                "critic_reward_first": log["mean_reward"][0],
                "critic_reward_last": log["mean_reward"][-1],
                "critic_kl_last": log["kl"][-1],
            }
            record = {
                "seed": self.seed,
                "round": t,
                "level": 1,
                "mode": "assisted",
                "trained": ["RM1 (claim reward model)", "critic (policy gradient vs RM1)"],
                "verdicts": len(self.claims),
                "assistants": ["level-0 tracers and trace checker"],
                "source_of_artifacts": source,
            }
            blob = {
                "critic": self.critic_policy.net.state_dict(),
                "claims": [[*it.as_list(), line, ok] for it, line, ok in self.claims],
                "metrics": metrics,
                "record": record,
            }
            self._save(name, blob)
        else:
            self.critic_policy.net.load_state_dict(blob["critic"])
            self.claims = [(Item(*c[:5]), int(c[5]), bool(c[6])) for c in blob["claims"]]
        self.records.append(blob["record"])
        self.tick(name)
        return blob["metrics"]

    def _judge(self, items: Sequence[Item], mode: ModeConfig, tag: str) -> list[Transcript]:
        return judge_items(
            self.world,
            items,
            mode.supervision,
            self.config.level0_for(mode),
            self._critic() if mode.supervision == "assisted" else None,
            tag,
            self.seed,
            mode.name,
        )

    def level2(self, t: int, mode: ModeConfig) -> dict[str, Any]:
        """Round ``t`` of level 2 in one mode: verdicts on this round's artifacts (and on what
        the last exploit search found), RM2 on every verdict so far, the improver by policy
        gradient against RM2 from the initial policy, best-of-n, and measurements."""
        cfg = self.config
        name = f"round{t}-level2-{mode.name}"
        blob = self._load(name)
        if blob is None:
            tag = f"s{self.seed}/r{t}/{mode.name}"
            items = self.new_items(t, mode.name)
            verdicts = self._verdicts(
                f"{name}-verdicts",
                lambda: [tr.verdict.accept for tr in self._judge(items, mode, tag)],
            )
            self.pools[mode.name] += list(zip(items, verdicts, strict=True))
            pool = self.pools[mode.name]
            contexts = [self.world.context(it) for it, _ in pool]
            labels = np.array([ok for _, ok in pool], dtype=float)
            previous = self.rms2.get(mode.name)
            rm2 = rms.train_pointwise(
                contexts,
                labels,
                derive_seed(self.seed, "rm2", mode.name, t),
                epochs=cfg.rm.epochs if previous is None else cfg.rm.warm_epochs,
                lr=cfg.rm.lr,
                batch_size=cfg.rm.batch_size,
                balance=True,
                init=previous,
                hidden=cfg.rm.hidden,
                mixer=cfg.rm.mixer,
            )
            improver = new_improver(self.seed, cfg.improver_hidden)
            improver.load_state_dict(self.base.state_dict())
            curve, log = train_improver_rl(
                improver,
                self.world,
                rm2,
                cfg.improver_rl,
                derive_seed(self.seed, "improver-rl", mode.name, t),
                self.base,
            )
            test_scores = [rm2.score(tb.contexts) for tb in self.world.test]
            bon = bon_curve(
                improver_probs(self.base, self.world.test), self.world.test, test_scores, cfg.bon_n
            )
            metrics = self._measure(t, mode, rm2, tag)
            found = self._exploits(t, mode, rm2, tag)
            metrics["exploits_found_for_training"] = len(found)
            metrics["rl"] = [p.as_dict() for p in curve]
            metrics["bon"] = [p.as_dict() for p in bon]
            metrics["improver_reward_first"] = log["mean_reward"][0]
            metrics["improver_reward_last"] = log["mean_reward"][-1]
            record = {
                "seed": self.seed,
                "round": t,
                "level": 2,
                "mode": mode.name,
                "trained": [
                    "RM2 (pointwise, on this mode's verdicts)",
                    "improver (policy gradient vs RM2)",
                ],
                "verdicts": len(contexts),
                "assistants": {
                    "unassisted": [],
                    "assisted": [
                        f"critic of round {t} (level 1)",
                        "level-0 tracers and trace checker",
                    ],
                    "gold": ["gold oracle (ceiling)"],
                }[mode.supervision],
                "level0": cfg.level0_for(mode).model_dump()
                if mode.supervision == "assisted"
                else None,
            }
            blob = {
                "improver": improver.state_dict(),
                "rm2": rm2.state_dict(),
                "transcripts": [tr.model_dump_json() for tr in self.pending],
                "pool": [[*it.as_list(), ok] for it, ok in self.pools[mode.name]],
                "metrics": metrics,
                "record": record,
            }
            self._save(name, blob)
        else:
            improver = new_improver(self.seed, cfg.improver_hidden)
            improver.load_state_dict(blob["improver"])
            rm2 = rms.new_model("pointwise", 0, hidden=cfg.rm.hidden, mixer=cfg.rm.mixer)
            rm2.load_state_dict(blob["rm2"])
            self.pools[mode.name] = [(Item(*p[:5]), bool(p[5])) for p in blob["pool"]]
        self.transcripts += [Transcript.model_validate_json(j) for j in blob["transcripts"]]
        self.pending = []
        self.samplers[mode.name] = improver.eval()
        self.rms2[mode.name] = rm2.eval()
        self.records.append(blob["record"])
        self.tick(name)
        return blob["metrics"]

    def _measure(self, t: int, mode: ModeConfig, rm2, tag: str) -> dict[str, Any]:
        """Judge and RM2 against gold on held-out programs and held-out flaw families."""
        cfg = self.config
        out: dict[str, Any] = {}
        for key, items in (
            ("heldout_programs", self.eval_set),
            ("heldout_families", self.family_set),
        ):
            transcripts = self._judge(items, mode, f"{tag}/eval-{key}")
            judge = np.array([tr.verdict.accept for tr in transcripts])
            gold = np.array([self.world.gold(it)[1] for it in items])
            for tr, it in zip(transcripts, items, strict=True):
                value, label = self.world.gold(it)
                tr.gold = Gold(label=label, value=value, kind=self.world.family(it))
            probs = rm2.score([self.world.context(it) for it in items])
            rm_accept = probs >= 0.5
            out[key] = {
                "judge_vs_gold": _accuracy_block(judge, gold),
                "rm_vs_gold": _accuracy_block(rm_accept, gold),
                "rm_vs_judge_agreement": float((rm_accept == judge).mean()),
                # calibration of P(accept): against gold, and against the judge it learned from
                "rm_ece_vs_gold": expected_calibration_error(probs, gold),
                "rm_ece_vs_judge": expected_calibration_error(probs, judge),
            }
            if key == "heldout_programs" and t == cfg.rounds - 1:
                self.pending = transcripts[: cfg.transcripts_per_mode]
        # every edit of every held-out reference, equally weighted
        scores = np.concatenate([rm2.score(tb.contexts) for tb in self.world.test])
        labels = np.concatenate([tb.gold_label for tb in self.world.test])
        out["all_heldout_edits_rm_vs_gold"] = _accuracy_block(scores >= 0.5, labels)
        # the exploit rate of this RM on held-out references (gold-checked measurement)
        if cfg.exploit_budget:
            pool = candidate_pool(
                [tb.reference for tb in self.world.test],
                cfg.exploit_budget,
                rng(self.seed, "rrm-exploit-test"),
                tuple(cfg.subtlety_bits),
                _train_trigger_families(cfg),
            )
            res = search_pool(rm2, pool, top_k=1, penalty=cfg.penalty, n_boot=200, seed=self.seed)
            out["heldout_top1_exploit_rate"] = res.top1_exploit_rate.value
        return out

    def _exploits(self, t: int, mode: ModeConfig, rm2, tag: str) -> list[Item]:
        """Search the training references for artifacts RM2 favours; the mode's judge (never
        gold) labels them and they join the pool for the next round's RM2."""
        cfg = self.config
        if not cfg.exploit_budget or t == cfg.rounds - 1:
            return []
        pool = candidate_pool(
            [tb.reference for tb in self.world.train],
            cfg.exploit_budget,
            rng(self.seed, "rrm-exploit-train", t, mode.name),
            tuple(cfg.subtlety_bits),
            _train_trigger_families(cfg),
        )
        found = [
            Item(cand.index, "found", key=i, text=str(cand.context.artifact))
            for i, (cand, _) in enumerate(c for top in propose(rm2, pool, 2) for c in top)
        ]
        verdicts = [tr.verdict.accept for tr in self._judge(found, mode, f"{tag}/exploits")]
        self.pools[mode.name] += list(zip(found, verdicts, strict=True))
        return found

    def level0_sweep(self) -> list[dict[str, Any]]:
        """How level-0 imperfections propagate: with the final critic, for each level-0
        setting, the level-1 verification accuracy and the level-2 assisted judge's accuracy."""
        cfg = self.config
        name = "level0-sweep"
        blob = self._load(name)
        if blob is None:
            items = self.eval_set
            gold = np.array([self.world.gold(it)[1] for it in items])
            rows = []
            for i, knobs in enumerate(cfg.level0_sweep):
                judge_cfg = cfg.level0_for(**knobs)
                tag = f"s{self.seed}/sweep{i}"
                lines = critic_lines(self._critic(), self.world, items, tag)
                confirmed, truth = settle_claims(
                    self.world, list(zip(items, lines, strict=True)), judge_cfg, tag, self.seed
                )
                transcripts = judge_items(
                    self.world, items, "assisted", judge_cfg, self._critic(), tag, self.seed
                )
                judge = np.array([tr.verdict.accept for tr in transcripts])
                block = _claim_block(confirmed, truth)
                rows.append(
                    {
                        "level0": {**cfg.level0.model_dump(), **knobs},
                        "level1_accuracy": block["accuracy"],
                        "level1_false_confirm_rate": block["false_confirm_rate"],
                        "level1_missed_true_rate": block["missed_true_rate"],
                        "level2": _accuracy_block(judge, gold),
                    }
                )
            blob = {"rows": rows}
            self._save(name, blob)
        self.tick(name)
        return blob["rows"]


def _train_trigger_families(cfg: RRMConfig) -> tuple[str, ...]:
    fams = tuple(f for f in cfg.train_families if f in TRIGGER_FAMILIES)
    return fams or ("literal",)


def stages(config: RRMConfig) -> int:
    """How many stages :meth:`SeedRun.run` reports per seed (for progress bars)."""
    per_round = 1 + (len(config.modes) if config.depth >= 2 else 0)
    return config.rounds * per_round + 1
