"""The program improver as a policy: it edits a reference program R into a claimed improvement P.

Action space for a program of ``L`` lines (:func:`apply_action`):

- ``i < L``: delete line ``i``;
- ``L + i``: *fold* line ``i``'s guard into its comparison (drop the line that computes the
  guarded temporary, compare its source with a folded constant; see
  :mod:`oversight.envs.programs.edits`). It saves a line too, and it is exact for some guards
  and wrong on a rare share of inputs for others, which a weak judge may accept.

An episode applies ``steps`` actions in turn, each on the current program (:func:`rollout`,
:func:`next_states`, :func:`sample_episodes`); a state (:class:`ImproverState`) remembers which
line of R each line of P came from, so that its features are R's rows carried along
(:func:`improver_features`). :func:`train_improver` trains on episodes of ``edits`` edits;
:func:`imitate` fits the policy to demonstrations (the supervised stage before RL).

:class:`ImproverNet` scores every action: per-line features (:func:`improver_features`: the
artifact rows of :func:`~oversight.envs.programs.features.line_features` on ``(R, current P)``
plus two structural columns) go through a per-line MLP and one transformer encoder layer over
the lines, and two linear heads give a delete logit and a fold logit per line. It
implements the :class:`~oversight.learning.policy_gradient.Policy` protocol, so it trains with
:func:`~oversight.learning.policy_gradient.train_policy` (:func:`train_improver`) against a
switchable reward: the gold value (:func:`gold_reward`), or any ``(R, P) -> float`` through
:func:`reward_from` (a judge, a reward model).

torch is imported at module level: import this module lazily (nothing in ``oversight`` imports
it at import time), so that ``import oversight`` works without torch.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import torch
from torch import nn

from oversight.core.seeding import derive_seed
from oversight.envs.programs.dsl import Line, Program, statically_live
from oversight.envs.programs.edits import apply_action, fold_source, valid_actions
from oversight.envs.programs.env import ProgramContext
from oversight.envs.programs.features import FEATURE_NAMES, N_FEATURES, line_features, line_row
from oversight.envs.programs.generator import GeneratorConfig, generate_reference
from oversight.envs.programs.oracle import gold_oracle
from oversight.learning.policy_gradient import (
    PGConfig,
    TrainLog,
    exact_kl,
    masked_log_probs,
    train_policy,
)

EXTRA_FEATURES: tuple[str, ...] = ("foldable",)
"""Columns :func:`improver_features` appends to the artifact rows of ``line_features``."""

N_IMPROVER_FEATURES = N_FEATURES + len(EXTRA_FEATURES)

PairReward = Callable[[Program, Program], float]
"""A reward for one edit: ``fn(reference, edited program) -> float``."""


@dataclass(frozen=True)
class ImproverState:
    """One observation: the reference R, the current program P (R itself at step 0) and the
    line of R each line of P comes from (``origin``; None at step 0, where it is every line)."""

    reference: Program
    current: Program
    origin: tuple[int, ...] | None = None

    @classmethod
    def start(cls, reference: Program) -> ImproverState:
        """The first state of an episode on ``reference``."""
        return cls(reference, reference)

    def __post_init__(self) -> None:
        if self.origin is None and self.current != self.reference:
            raise ValueError("a state whose program is not R needs the origin of its lines")

    def lines_origin(self) -> tuple[int, ...]:
        """The line of R each line of P comes from."""
        return self.origin if self.origin is not None else tuple(range(len(self.current)))

    def step(self, action: int) -> ImproverState:
        """The state after ``action`` (:func:`apply_action`; raises on an invalid one)."""
        current = apply_action(self.current, action)
        n = len(self.current)
        dropped = action if action < n else fold_source(self.current, action - n)
        assert dropped is not None  # apply_action checked the fold
        origin = list(self.lines_origin())
        del origin[dropped]  # a fold keeps line i (rewritten) and drops its source line
        return ImproverState(self.reference, current, tuple(origin))


# --- features --------------------------------------------------------------------------------


_RECOMPUTED = tuple(FEATURE_NAMES.index(c) for c in ("in_other_program", "position"))
_LIVE = FEATURE_NAMES.index("statically_live")


@lru_cache(maxsize=256)
def _reference_rows(reference: Program) -> tuple[np.ndarray, frozenset[Line]]:
    rows = line_features(ProgramContext(reference, reference))[: len(reference)]
    return rows, frozenset(reference.lines)


@lru_cache(maxsize=8192)
def _cached_features(state: ImproverState) -> np.ndarray:
    current = state.current
    n = len(current)
    reference, (reference_rows, reference_lines) = state.reference, _reference_rows(state.reference)
    origin = state.lines_origin()
    rows = reference_rows[list(origin)]  # a copy
    shared, position = _RECOMPUTED
    rows[:, shared] = [line in reference_lines for line in current.lines]
    for i in np.flatnonzero(rows[:, shared] == 0):  # a rewritten line: its own line columns
        line, was = current.lines[i], reference.lines[origin[i]]
        rows[i] += line_row(line, current.bits) - line_row(was, current.bits)
    rows[:, position] = np.arange(n) / max(1, n - 1)
    rows[:, _LIVE] = statically_live(current)
    extra = valid_actions(current)[n:, None].astype(np.float32)
    out = np.concatenate([rows, extra], axis=1)
    out.flags.writeable = False  # shared through the cache
    return out


def improver_features(state: ImproverState) -> np.ndarray:
    """``(len(P), N_IMPROVER_FEATURES)`` float32: for each line of P, the row of its origin
    line in ``line_features((R, R))``, with the columns an edit changes recomputed on P (shared
    with R, position, static liveness, and a rewritten line's own columns), and
    :data:`EXTRA_FEATURES`.

    At step 0 these are exactly the P rows of ``line_features((R, P))``. Later, three columns
    keep their origin line's values: ``targetable`` and ``solver_yields`` (which would need the
    solver again) and ``reads_new_temp``. A state then costs a lookup and one pass over P, not
    fresh line features (several ms), which matters for episodes of many edits. Cached.
    """
    return _cached_features(state)


# --- the network -----------------------------------------------------------------------------


class ImproverNet(nn.Module):
    """Per-line MLP, one transformer encoder layer over the lines, delete and fold heads.

    ``logits(obs)`` is ``(B, 2 * Lmax)`` for a batch of :class:`ImproverState` whose longest
    current program has ``Lmax`` lines. Row ``b`` uses the action numbering of its own program
    (delete ``i`` at ``i``, fold ``i`` at ``L_b + i``); positions from ``2 * L_b`` on are
    padding, masked by ``action_mask``. Line order reaches the model through the position
    feature.
    """

    def __init__(self, n_features: int = N_IMPROVER_FEATURES, hidden: int = 32, heads: int = 4):
        super().__init__()
        self.n_features = n_features
        self.embed = nn.Sequential(
            nn.Linear(n_features, hidden), nn.ReLU(), nn.Linear(hidden, hidden)
        )
        # dropout 0: the policy's randomness is only its sampled action (determinism, no
        # train/eval mismatch).
        self.encoder = nn.TransformerEncoderLayer(
            hidden, heads, dim_feedforward=2 * hidden, dropout=0.0, batch_first=True
        )
        self.heads = nn.Linear(hidden, 2)  # column 0: delete, column 1: fold

    def _batch(self, obs: Sequence[ImproverState]) -> tuple[torch.Tensor, torch.Tensor]:
        lengths = [len(s.current) for s in obs]
        lmax = max(lengths)
        x = torch.zeros(len(obs), lmax, self.n_features)
        for b, s in enumerate(obs):
            x[b, : lengths[b]] = torch.from_numpy(improver_features(s).copy())
        pad = torch.arange(lmax)[None, :] >= torch.tensor(lengths)[:, None]
        return x, pad

    def logits(self, obs: Sequence[ImproverState]) -> torch.Tensor:
        """``(B, 2 * Lmax)`` action logits in each row's own numbering (padding arbitrary)."""
        x, pad = self._batch(obs)
        # torch's inference fast path of the encoder layer (eval, no grad) is 5-7x slower than
        # the plain path at these sizes on CPU (16 x 160 lines: 20 ms against 4 ms): skip it.
        fast = torch.backends.mha.get_fastpath_enabled()
        torch.backends.mha.set_fastpath_enabled(False)
        try:
            h = self.encoder(self.embed(x), src_key_padding_mask=pad)
        finally:
            torch.backends.mha.set_fastpath_enabled(fast)
        per_line = self.heads(h)  # (B, Lmax, 2)
        stacked = torch.cat([per_line[..., 0], per_line[..., 1]], dim=1)  # [delete | fold]
        return stacked.gather(1, _flat_index([len(s.current) for s in obs]))

    def action_mask(self, obs: Sequence[ImproverState]) -> torch.Tensor:
        """``(B, 2 * Lmax)`` bool: :func:`valid_actions` of each row's program, then padding."""
        lmax = max(len(s.current) for s in obs)
        mask = torch.zeros(len(obs), 2 * lmax, dtype=torch.bool)
        for b, s in enumerate(obs):
            valid = valid_actions(s.current)
            mask[b, : len(valid)] = torch.from_numpy(valid.copy())
        return mask


def _flat_index(lengths: list[int]) -> torch.Tensor:
    """Per row, where flat action ``j`` sits in the ``[delete(Lmax) | fold(Lmax)]`` stack:
    ``j`` for ``j < L``, ``Lmax + j - L`` for folds; padding points at column 0."""
    lmax = max(lengths)
    j = torch.arange(2 * lmax)[None, :]
    length = torch.tensor(lengths)[:, None]
    index = torch.where(j < length, j, lmax + j - length)
    return torch.where(j < 2 * length, index, torch.zeros_like(index))


# --- rewards ---------------------------------------------------------------------------------


def gold_reward(reference: Program, artifact: Program, penalty: float = 10.0) -> float:
    """The gold value of P: its saving ``len(R) - len(P)`` if equivalent to R, else ``-penalty``."""
    return gold_oracle(reference, artifact, penalty).value


BatchReward = Callable[[Sequence[ImproverState], np.ndarray], np.ndarray]


def reward_from(fn: PairReward) -> BatchReward:
    """Adapt a per-edit reward ``fn(R, edited P)`` (gold, a judge, a reward model) to the
    batch reward ``(states, actions) -> rewards`` that ``train_policy`` calls."""

    def batch_reward(obs: Sequence[ImproverState], actions: np.ndarray) -> np.ndarray:
        return np.array(
            [
                fn(s.reference, apply_action(s.current, int(a)))
                for s, a in zip(obs, actions, strict=True)
            ],
            dtype=np.float64,
        )

    return batch_reward


# --- training and evaluation -----------------------------------------------------------------


def next_states(obs: Sequence[ImproverState], actions: np.ndarray) -> list[ImproverState]:
    """Each state after its action (:meth:`ImproverState.step`): the transition of a
    multi-edit episode."""
    return [s.step(int(a)) for s, a in zip(obs, actions, strict=True)]


def reference_programs(seeds: Sequence[int], knobs: GeneratorConfig) -> list[Program]:
    """The reference program of every seed."""
    return [generate_reference(knobs, int(s)).program for s in seeds]


def train_improver(
    train_seeds: Sequence[int],
    knobs: GeneratorConfig,
    config: PGConfig,
    reward: str | PairReward = "gold",
    *,
    hidden: int = 32,
    penalty: float = 10.0,
    edits: int = 1,
) -> tuple[ImproverNet, TrainLog]:
    """Train a fresh :class:`ImproverNet` on episodes of ``edits`` edits from the training
    references, rewarded once, on the program the last edit leaves.

    ``reward`` is ``"gold"`` (:func:`gold_reward` with ``penalty``) or any ``(R, P) -> float``.
    The network's initial weights come from ``config.seed``, so the result is deterministic.
    """
    if reward == "gold":
        pair: PairReward = lambda r, p: gold_reward(r, p, penalty)  # noqa: E731
    elif callable(reward):
        pair = reward
    else:
        raise ValueError(f"reward must be 'gold' or a callable, got {reward!r}")
    programs = reference_programs(train_seeds, knobs)
    if not programs:
        raise ValueError("need at least one training seed")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(derive_seed(config.seed, "improver", "init"))
        net = ImproverNet(hidden=hidden)

    def sample_obs(gen: np.random.Generator, batch: int) -> list[ImproverState]:
        picks = gen.integers(0, len(programs), size=batch)
        return [ImproverState.start(programs[i]) for i in picks]

    log = train_policy(
        net, sample_obs, reward_from(pair), config, horizon=edits, transition=next_states
    )
    return net, log


def greedy_actions(net: ImproverNet, states: Sequence[ImproverState]) -> np.ndarray:
    """The highest-scoring valid action of each state."""
    with torch.no_grad():
        logits = net.logits(states).masked_fill(~net.action_mask(states), float("-inf"))
    return logits.argmax(dim=1).numpy()


def rollout(net: ImproverNet, reference: Program, steps: int = 1) -> Program:
    """Apply ``steps`` greedy actions in turn, each to the current program."""
    state = ImproverState.start(reference)
    for _ in range(steps):
        if not valid_actions(state.current).any():
            break
        state = state.step(int(greedy_actions(net, [state])[0]))
    return state.current


def evaluate_improver(
    net: ImproverNet,
    test_seeds: Sequence[int],
    knobs: GeneratorConfig,
    *,
    steps: int = 1,
    penalty: float = 10.0,
) -> dict[str, float]:
    """Greedy rollouts on held-out references: mean gold value, share equivalent, mean saving."""
    results = []
    for ref in reference_programs(test_seeds, knobs):
        results.append(gold_oracle(ref, rollout(net, ref, steps), penalty))
    return {
        "mean_gold": float(np.mean([r.value for r in results])),
        "share_equivalent": float(np.mean([r.equivalent for r in results])),
        "mean_saving": float(np.mean([r.saving for r in results])),
        "n": float(len(results)),
    }


def random_baseline(
    test_seeds: Sequence[int],
    knobs: GeneratorConfig,
    *,
    penalty: float = 10.0,
    steps: int = 1,
    draws: int = 64,
    seed: int = 0,
) -> dict[str, float]:
    """The same metrics for uniformly random valid actions. One action: in exact expectation
    (the average over every valid action of every reference), so it carries no sampling
    noise; ``steps`` actions: the average over ``draws`` random episodes per reference."""
    values, equivalent, savings = [], [], []
    gen = np.random.default_rng(seed)
    for ref in reference_programs(test_seeds, knobs):
        if steps == 1:
            ends = [apply_action(ref, int(a)) for a in np.flatnonzero(valid_actions(ref))]
        else:
            ends = [_random_episode(ref, steps, gen) for _ in range(draws)]
        results = [gold_oracle(ref, p, penalty) for p in ends]
        values.append(np.mean([r.value for r in results]))
        equivalent.append(np.mean([r.equivalent for r in results]))
        savings.append(np.mean([r.saving for r in results]))
    return {
        "mean_gold": float(np.mean(values)),
        "share_equivalent": float(np.mean(equivalent)),
        "mean_saving": float(np.mean(savings)),
        "n": float(len(values)),
    }


def _random_episode(program: Program, steps: int, gen: np.random.Generator) -> Program:
    for _ in range(steps):
        valid = np.flatnonzero(valid_actions(program))
        if not len(valid):
            break
        program = apply_action(program, int(gen.choice(valid)))
    return program


@dataclass(frozen=True)
class Episodes:
    """Sampled episodes: each one's last state, its actions ``(B, steps)`` and, when a
    reference policy was given, its KL to it (the exact per-step KLs summed along the path)."""

    ends: list[ImproverState]
    actions: np.ndarray
    kl: np.ndarray


def sample_episodes(
    net: ImproverNet,
    starts: Sequence[ImproverState],
    steps: int,
    gen: np.random.Generator,
    reference: ImproverNet | None = None,
) -> Episodes:
    """Sample an episode of ``steps`` actions from each start (every state of a step in one
    batch; actions drawn from ``gen``, so a seeded generator makes them reproducible)."""
    states = list(starts)
    actions = np.zeros((len(states), steps), dtype=np.int64)
    kl = np.zeros(len(states))
    for t in range(steps):
        with torch.no_grad():
            mask = net.action_mask(states)
            logits = net.logits(states)
            probs = masked_log_probs(logits, mask).exp().double().numpy()
            if reference is not None:
                kl += exact_kl(logits, reference.logits(states), mask).double().numpy()
        for b, p in enumerate(probs):
            actions[b, t] = gen.choice(len(p), p=p / p.sum())
        states = next_states(states, actions[:, t])
    return Episodes(states, actions, np.maximum(kl, 0.0))  # float32 rounding below 0


def imitate(
    net: ImproverNet,
    states: Sequence[ImproverState],
    targets: Sequence[np.ndarray],
    epochs: int,
    lr: float = 1e-2,
) -> list[float]:
    """Supervised learning from demonstrations (the SFT stage): fit ``net``'s action
    distribution at each state to ``targets`` (one distribution over the state's flat actions
    each) by cross-entropy, full batch, ``epochs`` Adam steps. Returns the losses."""
    mask = net.action_mask(states)
    target = torch.zeros(mask.shape)
    for b, t in enumerate(targets):
        target[b, : len(t)] = torch.as_tensor(t, dtype=torch.float32)
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    losses = []
    net.train()
    for _ in range(epochs):
        logp = masked_log_probs(net.logits(states), mask).masked_fill(~mask, 0.0)
        loss = -(target * logp).sum(dim=1).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    return losses
