"""The probe critic: a trained policy over probes, and a suspicion score, learned only from the
judge's confirmations.

A *probe* aims at one target line (a guard or a comparison of P, or of R for a guard P dropped)
with one of two tools, both paid from the critic's budget in line evaluations:

- ``solve``: ``solves_per_line`` calls of the backward solver (each charged
  :func:`~oversight.envs.programs.solver.solve_cost`), then the candidates tested on R and P;
- ``slice``: uniform random inputs run through the line's backward slice only (the few lines it
  depends on, :func:`~oversight.envs.programs.dsl.backward_slice`, so each costs the slice's
  length, not ``len(R) + len(P)``); the inputs that make the line fire are tested on R and P.
  This reaches triggers no solver inverts (mixing, hashing) at a fraction of the cost of
  testing whole programs, as far as the slice is short.

The policy (:class:`ProbeNet`) reads per-line features (read from the text, never run, with the
solver column off so that every solver call is paid for) and scores every (line, tool) pair,
and random testing as one more option; the critic runs, best first, the probes that score above
random testing (at most ``max_probes``) until one finds a difference, then spends what is left
on random tests of the whole programs. A second head gives the suspicion
reported when nothing was found (below :data:`~oversight.agents.critics.search.STRUCTURE_CAP`).

Training (:func:`collect_examples`, :func:`train_probe`) plays every probe of every training
artifact, and random testing, each on its own budget; lets the judge rule on each claimed
input; and fits the scores to which options the judge confirmed and the suspicion head to
whether any was. It reads contexts and transcripts only: no gold, no maker, no artifact id.

torch is imported at module level: import this module lazily.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from pydantic import Field
from torch import nn

from oversight.agents.critics.search import FOUND, STRUCTURE_CAP, Tester, critic_budget
from oversight.core.config import Strict
from oversight.core.errors import OversightError
from oversight.core.files import atomic_path, read_checkpoint
from oversight.core.records import Artifact, Claim, Message, Problem, Transcript
from oversight.core.seeding import deterministic_torch, rng
from oversight.envs.programs.dsl import OUTPUT_VAR, Expr, Line, Program, backward_slice
from oversight.envs.programs.env import ProgramContext
from oversight.envs.programs.features import (
    N_FEATURES,
    candidate_programs,
    candidate_targets,
    line_features,
)
from oversight.envs.programs.interpreter import CompiledProgram, dtype_for
from oversight.judges.budgeted import BudgetedJudge
from oversight.learning.tensors import pad_features
from oversight.protocols.engine import CRITIQUE, Episode, run_protocol

TOOLS = ("solve", "slice")
RANDOM = "random"  # the alternative to every probe: random tests of the whole programs
N_INPUTS = N_FEATURES + 1  # line features and the target's slice length
_FORMAT = "oversight.probe/2"


class ProbeConfig(Strict):
    """Capability and allocation of a probe critic."""

    budget_fraction: float = Field(
        1 / 512, gt=0, le=1, description="Compute as a share of an exhaustive scan of R and P."
    )
    hidden: int = Field(16, ge=2, le=512, description="Width of the policy network.")
    solves_per_line: int = Field(4, ge=1, le=64)
    slice_share: float = Field(
        0.25, gt=0, le=1, description="Share of the budget one slice probe may spend sampling."
    )
    max_probes: int = Field(6, ge=0, le=256, description="Probes tried before random tests.")


# --- features and probes ---------------------------------------------------------------------


def probe_features(ctx: ProgramContext) -> np.ndarray:
    """``(len(P) + len(R), N_INPUTS)``: line features (solver column off) and, for target
    lines, the backward slice's length as a share of its program."""
    rows = line_features(ctx, solver=False)
    extra = np.zeros((len(rows), 1), dtype=np.float32)
    candidates = candidate_programs(ctx)
    for j in candidate_targets(ctx):
        program, i = candidates[j]
        extra[j, 0] = len(backward_slice(program, i)) / len(program)
    return np.concatenate([rows, extra], axis=1)


def _flag_program(program: Program, index: int) -> Program:
    """The backward slice of line ``index`` ending in ``out = <its condition>`` (1 where the
    guard fires or the comparison holds)."""
    line = program.lines[index]
    keep = backward_slice(program, index)[:-1]
    if line.guard is not None:
        g = line.guard
        flag = Line(OUTPUT_VAR, Expr(g.cmp, (g.left, g.right)))
    else:
        flag = Line(OUTPUT_VAR, line.expr)
    return Program((*(program.lines[k] for k in keep), flag), program.bits)


def run_probe(
    ctx: ProgramContext,
    target: int,
    tool: str,
    tester: Tester,
    r: np.random.Generator,
    config: ProbeConfig,
) -> bool:
    """Run one probe within ``tester``'s budget; whether it found a difference."""
    program, i = candidate_programs(ctx)[target]
    if tool == "solve":
        tries = (tester.solve(program, i, r) for _ in range(config.solves_per_line))
        xs = list(dict.fromkeys(x for x in tries if x is not None))
        return bool(xs) and tester.test(xs) is not None
    sliced = _flag_program(program, i)
    chunk = int((tester.meter.limit or 0) * config.slice_share)
    spend = min(chunk, (tester.meter.left or 0) - tester.cost)  # keep one full test
    n = max(0, spend // len(sliced))
    if n == 0:
        return False
    tester.meter.charge(n * len(sliced))
    draws = r.integers(0, program.mask + 1, size=n)
    fires = CompiledProgram(sliced)(draws.astype(dtype_for(program.bits))) != 0
    firing = list(dict.fromkeys(int(x) for x in draws[fires]))
    return bool(firing) and tester.test(firing) is not None


def probe_pairs(ctx: ProgramContext) -> list[tuple[int, str]]:
    """Every (target line, tool) pair of a context, in a fixed order."""
    return [(j, tool) for j in candidate_targets(ctx) for tool in TOOLS]


# --- the network -----------------------------------------------------------------------------


class ProbeNet(nn.Module):
    """Per-line MLP; mean and max pooled into a context vector; a tool head per line (its row
    and the context) and a suspicion head (the context)."""

    def __init__(self, hidden: int = 16, n_inputs: int = N_INPUTS):
        super().__init__()
        self.hidden = hidden
        self.n_inputs = n_inputs
        self.line = nn.Sequential(
            nn.Linear(n_inputs, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU()
        )
        self.tool = nn.Linear(3 * hidden, len(TOOLS))
        self.context = nn.Linear(2 * hidden, 2)  # suspicion, and "test at random instead"

    def forward(
        self, x: torch.Tensor, lengths: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``(B, L, len(TOOLS))`` tool logits, ``(B,)`` suspicion logits and ``(B,)`` logits of
        spending the whole budget on random tests."""
        h = self.line(x)
        mask = (torch.arange(x.shape[1])[None, :] < lengths[:, None]).unsqueeze(-1)
        mean = (h * mask).sum(1) / lengths.clamp(min=1)[:, None]
        top = h.masked_fill(~mask, 0.0).amax(1)  # ReLU outputs are >= 0, so 0 pads safely
        context = torch.cat([mean, top], dim=1)
        per_line = torch.cat([h, context[:, None, :].expand(-1, h.shape[1], -1)], dim=2)
        heads = self.context(context)
        return self.tool(per_line), heads[:, 0], heads[:, 1]


def new_net(seed: int, hidden: int) -> ProbeNet:
    """A freshly initialised network (deterministic in ``seed``)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return ProbeNet(hidden).eval()


@dataclass(frozen=True)
class Scores:
    """The network's reading of one context: tool logits ``(L, len(TOOLS))``, the suspicion
    logit, and the logit of random testing (probes scoring below it are not run)."""

    tools: np.ndarray
    suspicion: float
    random: float


def score(net: ProbeNet, features: Sequence[np.ndarray]) -> list[Scores]:
    """The network's :class:`Scores` of each context."""
    if not features:
        return []
    x, lengths = pad_features(features)
    with torch.no_grad():
        tools, suspicion, random = net(x, lengths)
    return [
        Scores(tools[b, : int(lengths[b])].numpy(), float(suspicion[b]), float(random[b]))
        for b in range(len(features))
    ]


# --- the critic ------------------------------------------------------------------------------


class ProbeCritic:
    """Runs its best-scored probes, then random tests (see the module docstring). Without a
    net it plays probes in a seeded random order with suspicion 0: the untrained policy."""

    def __init__(
        self, config: ProbeConfig, net: ProbeNet | None, seed: int = 0, name: str = "critic-probe"
    ):
        self.config = config
        self.net = net
        self.seed = seed
        self.name = name

    def critique(self, ctx: ProgramContext, key: str, scored: Scores | None = None) -> Claim:
        """One claim about one artifact; ``key`` names the random stream; ``scored`` may carry
        the network's output when already computed in a batch."""
        r = rng(self.seed, self.name, key)
        if self.net is not None and scored is None:
            scored = score(self.net, [probe_features(ctx)])[0]
        pairs = probe_pairs(ctx)
        if scored is None:
            order = [pairs[k] for k in r.permutation(len(pairs))]
        else:
            logit = {p: float(scored.tools[p[0], TOOLS.index(p[1])]) for p in pairs}
            order = sorted(
                (p for p in pairs if logit[p] > scored.random), key=lambda p: (-logit[p], p)
            )
        tester = Tester(ctx, critic_budget(ctx, self.config.budget_fraction))
        hit: tuple[int, str] | None = None
        for target, tool in order[: self.config.max_probes]:
            if run_probe(ctx, target, tool, tester, r, self.config):
                hit = (target, tool)
                break
        if tester.found is None:
            tester.random(r)
        found = tester.found
        suspicion = 0.0 if scored is None else STRUCTURE_CAP * _sigmoid(scored.suspicion)
        text = "no counterexample found"
        if found is not None:
            suspicion = FOUND
            how = f" ({hit[1]} probe at candidate line {hit[0]})" if hit else " (random test)"
            text = "P and R differ on this input" + how
        return Claim(
            author=self.name,
            suspicion=suspicion,
            input=found,
            line=hit[0] if hit else None,
            text=text,
            compute_spent=tester.meter.spent,
        )

    def act(
        self, role: str, round: int, episodes: Sequence[Episode[ProgramContext]]
    ) -> list[Message]:
        contexts = [e.context for e in episodes]
        batch: Sequence[Scores | None] = [None] * len(episodes)
        if self.net is not None:
            batch = score(self.net, [probe_features(c) for c in contexts])
        out = []
        for e, scored in zip(episodes, batch, strict=True):
            claim = self.critique(e.context, e.episode_id, scored)
            out.append(Message(role=role, round=round, text=claim.text, claim=claim))
        return out


def _sigmoid(v: float) -> float:
    return 1.0 / (1.0 + math.exp(-max(-60.0, min(60.0, v))))


# --- training from confirmations ---------------------------------------------------------------


@dataclass(frozen=True)
class ProbeExample:
    """One training artifact: its features and, per (line, tool), whether the judge confirmed
    the input that probe found (``labels`` is ``(L, len(TOOLS))``; ``targets`` marks the
    rows that are target lines), and whether random testing did."""

    features: np.ndarray
    targets: np.ndarray
    labels: np.ndarray
    random: bool  # whether random tests with the whole budget found a confirmed input


class _FixedProbes:
    """Plays one given probe per episode (exploration: every probe gets its own budget)."""

    name = "critic-probe-explore"

    def __init__(self, config: ProbeConfig, plan: dict[str, tuple[int, str]], seed: int):
        self.config, self.plan, self.seed = config, plan, seed

    def act(
        self, role: str, round: int, episodes: Sequence[Episode[ProgramContext]]
    ) -> list[Message]:
        out = []
        for e in episodes:
            target, tool = self.plan[e.episode_id]
            r = rng(self.seed, "probe-explore", e.episode_id)
            tester = Tester(e.context, critic_budget(e.context, self.config.budget_fraction))
            if tool == RANDOM:
                tester.random(r)
            else:
                run_probe(e.context, target, tool, tester, r, self.config)
            claim = Claim(
                author="critic-probe-explore",
                input=tester.found,
                line=target,
                text=tool,
                compute_spent=tester.meter.spent,
            )
            out.append(Message(role=role, round=round, text=tool, claim=claim))
        return out


def collect_examples(
    contexts: Sequence[ProgramContext],
    judge: BudgetedJudge,
    config: ProbeConfig,
    seed: int,
    key: str,
) -> list[ProbeExample]:
    """Play every probe of every context on its own budget and keep what the judge confirmed.

    Episodes are named ``KEY/INDEX/PROBE`` from positions only, so the examples depend on the
    contexts and nothing else about the artifacts.
    """
    problem = Problem(id="probe-training", env="programs", seed=0, data={})
    episodes: list[Episode[ProgramContext]] = []
    plan: dict[str, tuple[int, str]] = {}
    for a, ctx in enumerate(contexts):
        for p, pair in enumerate([*probe_pairs(ctx), (-1, RANDOM)]):
            eid = f"{key}/{a}/{p}"
            plan[eid] = pair
            artifact = Artifact(
                id=eid,
                problem_id=problem.id,
                content=str(ctx.artifact),
                claimed_saving=float(ctx.claimed_saving),
            )
            episodes.append(Episode(eid, problem, artifact, ctx))
    critic = _FixedProbes(config, plan, seed)
    transcripts = run_protocol(CRITIQUE, episodes, {"critic": critic}, judge)
    confirmed = {t.episode_id: _confirmed(t) for t in transcripts}
    out = []
    for a, ctx in enumerate(contexts):
        features = probe_features(ctx)
        targets = np.zeros(len(features), dtype=bool)
        labels = np.zeros((len(features), len(TOOLS)), dtype=np.float32)
        for p, (j, tool) in enumerate(probe_pairs(ctx)):
            targets[j] = True
            labels[j, TOOLS.index(tool)] = float(confirmed[f"{key}/{a}/{p}"])
        random = confirmed[f"{key}/{a}/{len(probe_pairs(ctx))}"]
        out.append(ProbeExample(features, targets, labels, random))
    return out


def _confirmed(t: Transcript) -> bool:
    """Whether the judge rejected because it checked a claimed input itself."""
    return t.verdict is not None and not t.verdict.accept and t.verdict.rule == "claim_verified"


def train_probe(
    examples: Sequence[ProbeExample],
    net: ProbeNet,
    seed: int,
    epochs: int = 40,
    lr: float = 1e-2,
    batch_size: int = 64,
) -> ProbeNet:
    """Fit ``net`` in place (warm start) on the judge's confirmations: binary cross-entropy of
    every probe's logit and of the random-testing logit, a listwise term (the softmax over an
    artifact's probes and random testing should put its mass on what was confirmed), and the
    suspicion head against "something was confirmed". Deterministic given the examples and
    ``seed``."""
    if not examples:
        return net.eval()
    with deterministic_torch():
        x, lengths = pad_features([e.features for e in examples])
        width = x.shape[1]
        targets = torch.zeros((len(examples), width), dtype=torch.bool)
        labels = torch.zeros((len(examples), width, len(TOOLS)))
        for row, e in enumerate(examples):
            targets[row, : len(e.targets)] = torch.from_numpy(e.targets)
            labels[row, : len(e.labels)] = torch.from_numpy(e.labels)
        random_hit = torch.tensor([float(e.random) for e in examples])
        any_hit = torch.maximum(labels.flatten(1).amax(1), random_hit)
        shuffle = torch.Generator().manual_seed(seed)
        opt = torch.optim.Adam(net.parameters(), lr=lr, weight_decay=1e-4)
        net.train()
        for _ in range(epochs):
            perm = torch.randperm(len(examples), generator=shuffle)
            for start in range(0, len(examples), batch_size):
                b = perm[start : start + batch_size]
                tools, suspicion, random_logit = net(x[b], lengths[b])
                mask = targets[b].unsqueeze(-1).expand_as(tools)
                logits = torch.cat(
                    [tools.masked_fill(~mask, -1e9).flatten(1), random_logit[:, None]], 1
                )
                hits = torch.cat([labels[b].flatten(1), random_hit[b][:, None]], 1)
                valid = torch.cat(
                    [mask.flatten(1), torch.ones_like(random_logit[:, None], dtype=torch.bool)], 1
                )
                bce = F.binary_cross_entropy_with_logits(logits[valid], hits[valid])
                log_all = torch.logsumexp(logits, dim=1)
                log_hit = torch.logsumexp(logits.masked_fill(hits <= 0, -1e9), dim=1)
                rows = any_hit[b] > 0
                listwise = (log_all - log_hit)[rows].mean() if rows.any() else logits.sum() * 0
                sus = F.binary_cross_entropy_with_logits(suspicion, any_hit[b])
                loss = bce + listwise + sus
                opt.zero_grad()
                loss.backward()
                opt.step()
        return net.eval()


# --- persistence -----------------------------------------------------------------------------


def net_state(net: ProbeNet) -> dict[str, object]:
    """What a checkpoint stores of ``net``."""
    return {
        "format": _FORMAT,
        "hidden": net.hidden,
        "n_inputs": net.n_inputs,
        "state": net.state_dict(),
    }


def net_from_state(blob: dict[str, object], where: str) -> ProbeNet:
    """The network :func:`net_state` described; one-line error for anything else."""
    if blob.get("format") != _FORMAT or blob.get("n_inputs") != N_INPUTS:
        raise OversightError(f"{where}: not a probe-critic checkpoint of this version")
    net = ProbeNet(int(blob["hidden"]), int(blob["n_inputs"]))  # type: ignore[call-overload]
    net.load_state_dict(blob["state"])  # type: ignore[arg-type]
    return net.eval()


def save_net(net: ProbeNet, path: Path) -> None:
    with atomic_path(path) as tmp:
        torch.save(net_state(net), tmp)


def load_net(path: Path) -> ProbeNet:
    blob = read_checkpoint(path, lambda p: torch.load(p, weights_only=True), "probe critic")
    return net_from_state(blob, str(path))
