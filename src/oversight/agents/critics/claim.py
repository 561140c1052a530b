"""The level-1 critic of recursive reward modeling: a pointer policy that claims counterexamples.

On programs longer than anyone's test budget, this critic runs nothing. It reads R and P (free),
points at one candidate line the backward solver can aim at (the candidate numbering of
:func:`~oversight.envs.programs.features.candidate_programs`: lines of P, then lines of R), and
claims the solver's input as a counterexample. The judge then verifies the claim with level-0
trace help (:class:`~oversight.judges.recursive.TraceAssistedJudge`).

- :class:`PointerPolicy` wraps a :class:`~oversight.agents.critics.learned.PointerNet` as a policy
  over candidate lines (targets only), so the shared policy-gradient trainer trains it;
- :class:`ClaimCritic` is the engine agent: it points (greedily, or by sampling to explore),
  solves, and says a :class:`~oversight.core.records.Claim`;
- the baselines without learning, engine agents of the same shape: :class:`RandomInputCritic`
  (a uniformly random input) and :class:`SolverOnlyCritic` (the solver aimed at the first
  target line where R and P differ).

torch is imported at module level: import this module lazily.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from functools import lru_cache

import numpy as np
import torch
from torch import nn

from oversight.agents.critics.learned import PointerNet
from oversight.agents.critics.search import changed_targets
from oversight.core.records import Claim, Message
from oversight.core.seeding import rng
from oversight.envs.programs.env import ProgramContext
from oversight.envs.programs.features import (
    candidate_programs,
    candidate_targets,
    line_features,
    pointed_line,
)
from oversight.envs.programs.solver import solve
from oversight.learning.tensors import pad_features
from oversight.protocols.engine import Episode

Features = Callable[[ProgramContext], np.ndarray]
"""Per-candidate-line features of a context (``line_features`` or a cached equivalent)."""


class PointerPolicy(nn.Module):
    """A pointer network as a policy over the lines the solver can aim at.

    Action ``j`` of a context is its ``j``-th target (:func:`choices`): the candidate lines the
    solver can aim at, or every line when there is none. Only those rows go through the
    network's attention query, which keeps policy-gradient steps cheap on long programs.
    """

    def __init__(self, net: PointerNet, features: Features = line_features):
        super().__init__()
        self.net = net
        self.features = features

    def _index(self, obs: Sequence[ProgramContext]) -> tuple[torch.Tensor, torch.Tensor]:
        lines = [choices(c) for c in obs]
        width = max(len(t) for t in lines)
        index = torch.zeros(len(obs), width, dtype=torch.int64)
        mask = torch.zeros(len(obs), width, dtype=torch.bool)
        for b, t in enumerate(lines):
            index[b, : len(t)] = torch.as_tensor(t)
            mask[b, : len(t)] = True
        return index, mask

    def logits(self, obs: Sequence[ProgramContext]) -> torch.Tensor:
        """``(B, Kmax)`` logits over each context's :func:`choices` (padding masked out)."""
        x, lengths = pad_features([self.features(c) for c in obs])
        return self.net(x, lengths, self._index(obs)[0])

    def action_mask(self, obs: Sequence[ProgramContext]) -> torch.Tensor:
        """``(B, Kmax)`` bool: True for each context's real choices."""
        return self._index(obs)[1]

    def choose(
        self,
        contexts: Sequence[ProgramContext],
        generator: torch.Generator | None = None,
        epsilon: float = 0.0,
    ) -> tuple[np.ndarray, np.ndarray]:
        """(candidate line per context, its logit): the argmax, or, when ``generator`` is
        given, a sample from the policy mixed with a uniform choice at rate ``epsilon``."""
        with torch.no_grad():
            mask = self.action_mask(contexts)
            logits = self.logits(contexts).masked_fill(~mask, -math.inf)
            if generator is None:
                picks = logits.argmax(dim=1)
            else:
                uniform = mask.float() / mask.sum(dim=1, keepdim=True)
                probs = (1 - epsilon) * torch.softmax(logits, dim=1) + epsilon * uniform
                picks = torch.multinomial(probs, 1, generator=generator).squeeze(1)
        picked = logits.gather(1, picks[:, None]).squeeze(1)
        lines = [choices(c)[int(j)] for c, j in zip(contexts, picks, strict=True)]
        return np.array(lines, dtype=np.int64), picked.double().numpy()


@lru_cache(maxsize=32768)
def choices(ctx: ProgramContext) -> tuple[int, ...]:
    """The candidate lines the critic may point at: the solver's targets, else every line.

    Cached: a policy-gradient step asks for them for its logits, its mask and its reward."""
    return tuple(candidate_targets(ctx)) or tuple(range(len(ctx.artifact) + len(ctx.reference)))


def claim_input(ctx: ProgramContext, line: int, seed: int, key: str) -> int:
    """The input claimed when pointing at candidate ``line``: the solver's answer, or a random
    input when it cannot invert the path (a claim must name an input to be checkable)."""
    program, i = candidate_programs(ctx)[line]
    r = rng(seed, "claim-input", key, line)
    x = solve(program, i, r)
    return int(r.integers(0, ctx.reference.mask + 1)) if x is None else int(x)


class ClaimAgent:
    """An engine agent that says one :class:`Claim` per episode (:meth:`claims`)."""

    name: str

    def claims(self, contexts: Sequence[ProgramContext], keys: Sequence[str]) -> list[Claim]:
        """One claim per context; ``keys`` name each claim's random streams."""
        raise NotImplementedError

    def act(
        self, role: str, round: int, episodes: Sequence[Episode[ProgramContext]]
    ) -> list[Message]:
        claims = self.claims([e.context for e in episodes], [e.episode_id for e in episodes])
        return [Message(role=role, round=round, text=c.text, claim=c) for c in claims]


class ClaimCritic(ClaimAgent):
    """The level-1 critic as an engine agent: points, solves, claims.

    ``explore``: sample the line from the policy, mixed with a uniform choice at rate
    ``epsilon`` (while collecting training data), instead of taking the argmax. Suspicion is the
    sigmoid of the pointed line's logit.
    """

    def __init__(
        self,
        policy: PointerPolicy,
        seed: int = 0,
        explore: bool = False,
        epsilon: float = 0.3,
        name: str = "critic",
    ):
        self.policy = policy
        self.seed = seed
        self.explore = explore
        self.epsilon = epsilon
        self.name = name

    def claims(self, contexts: Sequence[ProgramContext], keys: Sequence[str]) -> list[Claim]:
        """One claim per context; ``keys`` name each claim's random streams."""
        generator = None
        if self.explore:
            generator = torch.Generator().manual_seed(
                int(rng(self.seed, "critic-explore", *keys[:1]).integers(2**62))
            )
        lines, logits = self.policy.choose(contexts, generator, self.epsilon)
        out = []
        for ctx, key, line, logit in zip(contexts, keys, lines, logits, strict=True):
            which, i = pointed_line(ctx, int(line))
            out.append(
                Claim(
                    author=self.name,
                    suspicion=1.0 / (1.0 + math.exp(-float(np.clip(logit, -50, 50)))),
                    input=claim_input(ctx, int(line), self.seed, key),
                    line=int(line),
                    text=f"P and R differ on this input (solved for {which} line {i + 1})",
                )
            )
        return out


class RandomInputCritic(ClaimAgent):
    """Baseline: claims a uniformly random input, reading nothing (suspicion 0.5)."""

    def __init__(self, seed: int = 0, name: str = "random_input"):
        self.seed = seed
        self.name = name

    def claims(self, contexts: Sequence[ProgramContext], keys: Sequence[str]) -> list[Claim]:
        return [
            Claim(
                author=self.name,
                suspicion=0.5,
                input=int(rng(self.seed, "random-claim", key).integers(0, ctx.reference.mask + 1)),
                text="P and R differ on this input (drawn at random)",
            )
            for ctx, key in zip(contexts, keys, strict=True)
        ]


def changed_choice(ctx: ProgramContext) -> tuple[int, bool]:
    """The candidate line of the first target line in
    :func:`~oversight.agents.critics.search.changed_targets` order (else the first choice), and
    whether that line differs between R and P."""
    targets = changed_targets(ctx)
    if not targets:
        return choices(ctx)[0], False
    program, i = targets[0]
    if program is ctx.artifact:
        return i, str(program.lines[i]) not in ctx.reference_lines
    return len(ctx.artifact) + i, str(program.lines[i]) not in ctx.artifact_lines


class SolverOnlyCritic(ClaimAgent):
    """Baseline without learning: the solver aimed at :func:`changed_choice` (suspicion 1 when
    that line changed, else 0.5)."""

    def __init__(self, seed: int = 0, name: str = "solver_only"):
        self.seed = seed
        self.name = name

    def claims(self, contexts: Sequence[ProgramContext], keys: Sequence[str]) -> list[Claim]:
        out = []
        for ctx, key in zip(contexts, keys, strict=True):
            line, changed = changed_choice(ctx)
            which, i = pointed_line(ctx, line)
            out.append(
                Claim(
                    author=self.name,
                    suspicion=1.0 if changed else 0.5,
                    input=claim_input(ctx, line, self.seed, key),
                    line=line,
                    text=f"P and R differ on this input (solved for {which} line {i + 1})",
                )
            )
        return out
