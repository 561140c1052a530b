"""Judging in an RRM run: the level-2 judge of each supervision mode ruling on artifacts, the
level-1 judge settling the critic's claims with level-0 help, and where the critic points.

torch is imported (through the agents) at module level: import this module lazily.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from oversight.agents.critics.claim import ClaimAgent, ClaimCritic, claim_input
from oversight.core.budget import Meter
from oversight.core.errors import OversightError
from oversight.core.records import Transcript, Verdict
from oversight.core.seeding import derive_seed, rng
from oversight.envs.programs.interpreter import run_steps
from oversight.experiments.rrm.config import Supervision
from oversight.experiments.rrm.world import ArtifactKey, World
from oversight.judges.recursive import TraceAssistedJudge, TraceAssistedJudgeConfig
from oversight.protocols.engine import CRITIQUE, DIRECT, run_protocol


def judge_items(
    world: World,
    items: Sequence[ArtifactKey],
    supervision: Supervision,
    judge_config: TraceAssistedJudgeConfig,
    critic: ClaimAgent | None,
    tag: str,
    seed: int,
    arm: str = "",
) -> list[Transcript]:
    """Transcripts of the level-2 judge of one supervision mode ruling on ``items``; ``tag``
    names the episodes and random streams, ``arm`` the transcripts' arm (the mode).

    ``assisted`` and ``unassisted`` have the same trace-assisted judge, with the same level-0
    access (its own inputs, ``judge_config.own_inputs``); ``assisted`` adds the critic's claim.

    ``gold`` transcripts carry the oracle's label as their verdict (rule ``gold``).
    """
    episodes = [world.episode(it, f"{tag}/{i}") for i, it in enumerate(items)]
    if supervision == "assisted":
        if critic is None:
            raise OversightError("the assisted mode needs a critic")
        judge = TraceAssistedJudge(judge_config, seed=derive_seed(seed, tag))
        transcripts = run_protocol(CRITIQUE, episodes, {"critic": critic}, judge, arm=arm)
    elif supervision == "unassisted":
        # no critic: the same trace-assisted judge, checking only the inputs it draws itself
        judge = TraceAssistedJudge(judge_config, seed=derive_seed(seed, tag))
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
    claims: Sequence[tuple[ArtifactKey, int]],
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


def critic_lines(
    critic: ClaimCritic, world: World, items: Sequence[ArtifactKey], tag: str
) -> list[int]:
    """The line the critic points at for each item."""
    contexts = [world.context(it) for it in items]
    # the claim critic always points at a line
    return [
        int(c.line or 0) for c in critic.claims(contexts, [f"{tag}/{i}" for i in range(len(items))])
    ]
