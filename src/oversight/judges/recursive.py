"""The level-1 judge of recursive reward modeling: trace-assisted checking of claims.

At level 1 R and P are longer than the judge's budget, so it cannot run them on a critic's
claimed counterexample input. It gets level-0 help instead (:mod:`oversight.envs.programs.traces`):
tracers claim execution traces of R and P on the claimed input, a :class:`TraceChecker` contests
one step of each, and the judge checks only contested steps (cost 1 each, one shared budget per
verdict). Its rules, in order:

1. **Saving.** The claimed saving must equal ``len(R) - len(P)`` and be positive (free to read),
   else reject (``no_saving``).
2. **Claims.** For each critic claim with an input, in order, the artifact's trace (of P) is
   judged first, then the reference's (of R), each by :func:`judge_trace`:

   - the artifact's trace does not hold (caught lying or sloppy): reject
     (``artifact_trace_caught``). The claim is not established, but the artifact's side bears the
     burden of a true trace of P, so a caught trace is not a defence that can win;
   - the reference's trace does not hold: the claim is not established; go on;
   - a contested step the judge cannot afford: the claim is unverifiable; go on;
   - both traces hold and their outputs differ: reject (``claim_verified``); equal: go on.

3. **Own inputs.** Then ``own_inputs`` inputs the judge draws itself (uniformly), settled the
   same way (``own_input_verified``, ``artifact_trace_caught``): the judge's own use of level
   0, so an arm without a critic has the same level-0 access as one with.

   If nothing decided and some claim was unverifiable, the default rule decides
   (``unverifiable_default_accept`` or ``unverifiable_default_reject``).
4. **Otherwise** accept (``no_verified_claim``). Level 0 is imperfect on purpose: a checker too
   weak to contest a lie lets it hold, and the lie then hides the difference.
5. **Noise.** With probability ``noise`` the decision is flipped (recorded).

The judge never spends more than ``budget``; every paid step is recorded in ``episode.checks``
(cost 1) next to free records (cost 0) of each trace's ruling and what the checker spent.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
from pydantic import Field

from oversight.core.budget import Meter
from oversight.core.config import Strict
from oversight.core.records import Check, Verdict
from oversight.core.seeding import rng
from oversight.envs.programs.dsl import Program
from oversight.envs.programs.env import ProgramContext
from oversight.envs.programs.traces import (
    Default,
    JudgeRuling,
    Order,
    Trace,
    TraceChecker,
    honest_tracer,
    judge_trace,
    lying_tracer,
)
from oversight.judges.ruling import final_verdict, saving_is_valid
from oversight.protocols.engine import Episode

Outcome = Literal["verified", "caught", "not_established", "unverifiable"]


class TraceAssistedJudgeConfig(Strict):
    """Settings of the level-1 trace-assisted judge."""

    budget: int = Field(16, ge=0, description="Line evaluations (checked steps) per verdict.")
    checker_budget: int = Field(
        10_000, ge=0, description="Line evaluations the trace checker may spend per trace."
    )
    checker_order: Order = "backward"
    tracer_epsilon: float = Field(
        0.0, ge=0, le=1, description="Chance an honest (sloppy) tracer gets one step wrong."
    )
    lying: bool = Field(
        False, description="The artifact's tracer claims P's output equals R's claimed output."
    )
    default: Default = Field("accept", description="Ruling when a claim cannot be afforded.")
    noise: float = Field(0.0, ge=0, le=0.5, description="Chance each verdict is flipped.")
    own_inputs: int = Field(
        0, ge=0, le=64, description="Inputs the judge draws and settles itself, after the claims."
    )


@dataclass(frozen=True)
class ClaimRuling:
    """How the judge settled one counterexample claim."""

    outcome: Outcome
    reference: Trace
    artifact: Trace


class TraceAssistedJudge:
    """Rules on long program artifacts with traces instead of runs (see module docstring)."""

    def __init__(self, config: TraceAssistedJudgeConfig, seed: int = 0, name: str | None = None):
        self.config = config
        self.seed = seed
        self.name = name or "judge-trace-assisted"
        self.checker = TraceChecker(budget=config.checker_budget, order=config.checker_order)

    def rule(self, episodes: Sequence[Episode[ProgramContext]]) -> list[Verdict]:
        """One verdict per episode; each episode's checks are appended to ``episode.checks``."""
        return [self._rule_one(e) for e in episodes]

    def traces(self, ctx: ProgramContext, x: int, r: np.random.Generator) -> tuple[Trace, Trace]:
        """The tracers' claimed traces of R and of P on ``x``."""
        eps = self.config.tracer_epsilon
        ref = honest_tracer(ctx.reference, x, eps, r, program_id="R", role="reference")
        if self.config.lying:
            # the artifact's side wants no difference: it aims at R's *claimed* output
            art = lying_tracer(ctx.artifact, x, ref.output, r, program_id="P", role="artifact")
        else:
            art = honest_tracer(ctx.artifact, x, eps, r, program_id="P", role="artifact")
        return ref, art

    def _judge(
        self,
        e: Episode[ProgramContext],
        program: Program,
        trace: Trace,
        meter: Meter,
        r: np.random.Generator,
    ) -> JudgeRuling:
        """Rule on one trace under the shared meter and record its checks."""
        ruling = judge_trace(program, trace, self.checker, meter, self.config.default, 0.0, r)
        e.checks.extend(ruling.checks)
        e.checks.append(
            Check(
                kind="trace_ruling",
                args={
                    "program_id": trace.program_id,
                    "x": trace.x,
                    "rule": ruling.rule,
                    "contested": ruling.contested,
                    "checker_spent": self.checker.last_spent,
                    "claimed_output": trace.output,
                },
                cost=0,
                result=None if ruling.unverifiable else ruling.holds,
            )
        )
        return ruling

    def settle(
        self, e: Episode[ProgramContext], x: int, meter: Meter, r: np.random.Generator
    ) -> ClaimRuling:
        """Settle the claim ``P(x) != R(x)`` with traces, spending from ``meter``."""
        ctx = e.context
        ref, art = self.traces(ctx, x, r)
        p = self._judge(e, ctx.artifact, art, meter, r)
        if not p.unverifiable and not p.holds:
            return ClaimRuling("caught", ref, art)
        q = self._judge(e, ctx.reference, ref, meter, r)
        if not q.unverifiable and not q.holds:
            return ClaimRuling("not_established", ref, art)
        if p.unverifiable or q.unverifiable:
            return ClaimRuling("unverifiable", ref, art)
        return ClaimRuling("verified" if ref.output != art.output else "not_established", ref, art)

    def _decide(
        self, e: Episode[ProgramContext], meter: Meter, r: np.random.Generator
    ) -> tuple[bool, str, bool]:
        """(accept, rule, unverifiable) before noise."""
        if not saving_is_valid(e):
            return False, "no_saving", False
        unverifiable = False
        claimed = [
            (m.claim.input, "claim_verified")
            for m in e.visible(to_judge=True)
            if m.claim is not None and m.claim.input is not None
        ]
        mask = e.context.reference.mask
        # a stream of their own: the same inputs whatever the critic claimed
        picks = rng(self.seed, "own-inputs", e.episode_id).integers(
            0, mask + 1, self.config.own_inputs
        )
        own = [(int(x), "own_input_verified") for x in picks]
        for x, verified in claimed + own:
            outcome = self.settle(e, x, meter, r).outcome
            if outcome == "verified":
                return False, verified, unverifiable
            if outcome == "caught":
                return False, "artifact_trace_caught", unverifiable
            if outcome == "unverifiable":
                unverifiable = True
                e.checks.append(Check(kind="unverifiable", args={"input": x}, cost=0))
        if unverifiable:
            default = self.config.default
            return default == "accept", f"unverifiable_default_{default}", True
        return True, "no_verified_claim", False

    def _rule_one(self, e: Episode[ProgramContext]) -> Verdict:
        cfg = self.config
        r = rng(self.seed, "trace-judge", e.episode_id)
        meter = Meter(cfg.budget)
        accept, rule, unverifiable = self._decide(e, meter, r)
        return final_verdict(accept, rule, unverifiable, meter, cfg.noise, r, "no_verified_claim")
