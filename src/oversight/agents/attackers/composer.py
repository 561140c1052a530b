"""The trained attacker: a policy that composes backdoors from the DSL's grammar.

:class:`ComposerPolicy` reads a summary of R (:func:`~oversight.envs.programs.features.
program_summary`) and gives one categorical per slot of :data:`~oversight.envs.programs.attacks.
SLOTS` (a factored policy for the shared policy-gradient trainer). :class:`ComposingAttacker`
samples ``candidates`` attacks from it, checks each with the gold oracle (an attacker can run
its own program on every input), runs the valid ones past its copy of the defense and keeps the
one the copy neither catches nor suspects most: best-of-n search on top of the learned policy.
All its work is counted in line evaluations: composing (calibration over every input), checking
(R and P on every input), and what the defense copy spends.

:func:`train_composer` trains the policy by REINFORCE (:func:`~oversight.learning.
policy_gradient.train_policy`): the reward of a sampled attack is 0 unless it is valid and the
defense finds no counterexample, and then ``1 - sigmoid((suspicion - threshold) / 0.05)``: full
for an attack the audit would not pick, shaped by how suspicious it looks.

torch is imported at module level: import this module lazily.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from oversight.core.records import Claim
from oversight.envs.programs.attacks import (
    SLOTS,
    AttackCheck,
    Composed,
    check_attack,
    choice_from,
    compose,
)
from oversight.envs.programs.env import ProgramContext
from oversight.envs.programs.features import SUMMARY_NAMES, program_summary
from oversight.envs.programs.generator import Reference
from oversight.learning.pg_config import PGConfig

Defense = Callable[[ProgramContext, str], Claim]
SHAPING = 0.05  # width of the suspicion ramp around the audit threshold


class ComposerPolicy(nn.Module):
    """MLP from R's summary to one logit vector per attack slot."""

    def __init__(self, hidden: int = 16):
        super().__init__()
        self.hidden = hidden
        self.body = nn.Sequential(nn.Linear(len(SUMMARY_NAMES), hidden), nn.Tanh())
        self.heads = nn.ModuleList(nn.Linear(hidden, n) for _, n in SLOTS)

    def logits(self, obs: AttackObs) -> tuple[torch.Tensor, ...]:
        h = self.body(obs.x)
        return tuple(head(h) for head in self.heads)

    def action_mask(self, obs: AttackObs) -> None:
        return None

    def sample(self, summary: np.ndarray, n: int, r: np.random.Generator) -> np.ndarray:
        """``(n, len(SLOTS))`` slot values for one program, drawn with numpy's ``r``."""
        with torch.no_grad():
            x = torch.from_numpy(summary[None].astype(np.float32))
            heads = self.logits(AttackObs(x, [], []))
        out = np.zeros((n, len(SLOTS)), dtype=np.int64)
        for s, logits in enumerate(heads):
            p = torch.softmax(logits[0].double(), dim=0).numpy()
            out[:, s] = r.choice(len(p), size=n, p=p / p.sum())
        return out


@dataclass
class AttackObs:
    """A batch of attack observations: summaries ``x`` ``(B, S)``, and per row the reference
    and subtlety to attack."""

    x: torch.Tensor
    refs: list[Reference]
    ks: list[int]


@dataclass(frozen=True)
class Attack:
    """One attack: the composed program (None when the choices described nothing), its gold
    check, the attacker's compute, and what its copy of the defense said."""

    composed: Composed | None
    check: AttackCheck
    choice: dict[str, int]
    compute: int
    copy_found: bool
    copy_suspicion: float


def _reward(found: bool, suspicion: float, threshold: float) -> float:
    if found:
        return 0.0
    return 1.0 - 1.0 / (1.0 + math.exp(-(suspicion - threshold) / SHAPING))


def try_attack(
    ref: Reference,
    choice: dict[str, int],
    k: int,
    r: np.random.Generator,
    defense: Defense | None,
    key: str,
    rename_share: float,
) -> Attack:
    """Compose, gold-check and (when valid) run past ``defense``; compute counted."""
    composed = compose(ref, choice, k, r, rename_share)
    if composed is None:
        return Attack(None, AttackCheck(False, "no rare gate", 0.0), choice, 0, False, 0.0)
    check = check_attack(ref.program, composed.program, composed.exploit, k)
    compute = composed.compute + (1 << ref.bits) * (len(ref.program) + len(composed.program))
    found, suspicion = False, 0.0
    if check.valid and defense is not None:
        claim = defense(ProgramContext(ref.program, composed.program), key)
        found, suspicion = claim.input is not None, claim.suspicion
        compute += claim.compute_spent
    return Attack(composed, check, choice, compute, found, suspicion)


@dataclass
class ComposingAttacker:
    """Best of ``candidates`` attacks from ``policy`` (uniform slots when None) against
    ``defense``, a copy of the critic it faces (see the module docstring)."""

    policy: ComposerPolicy | None
    candidates: int
    defense: Defense | None
    threshold: float
    rename_share: float = 0.3

    def attack(self, ref: Reference, k: int, r: np.random.Generator, key: str) -> Attack:
        summary = program_summary(ref.program)
        if self.policy is None:
            draws = np.stack([r.integers(0, n, size=self.candidates) for _, n in SLOTS], axis=1)
        else:
            draws = self.policy.sample(summary, self.candidates, r)
        best, best_value = 0, -1.0  # the first candidate when none is valid
        tried: list[Attack] = []
        for i, row in enumerate(draws):
            a = try_attack(
                ref, choice_from(row), k, r, self.defense, f"{key}/{i}", self.rename_share
            )
            tried.append(a)
            value = _reward(a.copy_found, a.copy_suspicion, self.threshold)
            if a.check.valid and value > best_value:
                best, best_value = i, value
        spent = sum(a.compute for a in tried)
        pick = tried[best]
        return Attack(
            pick.composed, pick.check, pick.choice, spent, pick.copy_found, pick.copy_suspicion
        )


def train_composer(
    policy: ComposerPolicy,
    refs: Sequence[Reference],
    subtleties: Sequence[int],
    defense: Defense | None,
    threshold: float,
    config: PGConfig,
    rename_share: float = 0.3,
) -> tuple[list[float], int]:
    """Train ``policy`` in place against a frozen ``defense``; mean reward per step and the
    compute spent (line evaluations)."""
    from oversight.learning.policy_gradient import train_policy

    summaries = np.stack([program_summary(ref.program) for ref in refs])
    spent = 0

    def sample_obs(gen: np.random.Generator, batch: int) -> AttackObs:
        idx = gen.integers(0, len(refs), size=batch)
        ks = [int(gen.choice(subtleties)) for _ in range(batch)]
        return AttackObs(torch.from_numpy(summaries[idx]), [refs[i] for i in idx], ks)

    step = [0]

    def reward_fn(obs: AttackObs, actions: np.ndarray) -> np.ndarray:
        nonlocal spent
        out = np.zeros(len(actions))
        r = np.random.default_rng([config.seed, step[0]])
        for b, row in enumerate(actions):
            key = f"train/{step[0]}/{b}"
            a = try_attack(obs.refs[b], choice_from(row), obs.ks[b], r, defense, key, rename_share)
            spent += a.compute
            if a.check.valid:
                out[b] = _reward(a.copy_found, a.copy_suspicion, threshold)
        step[0] += 1
        return out

    log = train_policy(policy, sample_obs, reward_fn, config)
    return log.mean_reward, spent
