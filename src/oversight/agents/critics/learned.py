"""A learned critic: a small pointer network that says where to aim the backward solver.

The critic reads R and P (free) and lists *candidate lines*: the lines of P followed by the lines
of R, so that it can point at a guard of R that P dropped. Candidate index ``j`` means line ``j``
of P when ``j < len(P)`` and line ``j - len(P)`` of R otherwise (:func:`pointed_line`); a claim's
``line`` uses this numbering.

Per artifact it ranks the candidates the solver can aim at (guards and comparisons with a
constant, :func:`~oversight.envs.programs.solver.target_lines`), then, line by line in that
order, asks the solver for up to ``solves_per_line`` inputs and tests them in a batch with the
same :class:`~oversight.agents.critics.Tester` and budget as the search critics, until P and R
differ or the budget is spent; every solver call is charged to that budget. There is no random-
testing fallback, so the ``random`` pointer (a seeded random order: same solver, same budget)
isolates what the ranking is worth.

The ranking comes from :class:`PointerNet`: per-line features (:func:`pointer_features`,
computed by reading only, no solver call) go through a per-line MLP and one transformer encoder
layer over the candidate sequence, and a linear head gives one logit per line: the chance that
aiming the solver at that line yields a counterexample the judge confirms. It is trained
(:func:`train_pointer`) only on the judge's confirmations recorded in transcripts
(:func:`examples_from_transcripts`), never on gold; :func:`collect_and_train` alternates
collecting and training.

torch is imported at module level: import this module lazily (nothing in ``oversight`` imports
it at import time), so that ``import oversight`` works without torch.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from oversight.agents.critics.search import (
    FOUND,
    STRUCTURE_CAP,
    CriticConfig,
    Tester,
    critic_budget,
    structural_suspicion,
)
from oversight.core.errors import OversightError
from oversight.core.files import atomic_path, read_checkpoint
from oversight.core.records import Claim, Message, Transcript
from oversight.core.seeding import derive_seed, deterministic_torch, rng
from oversight.envs.programs.env import ProgramContext, ProgramEnv
from oversight.envs.programs.features import (
    N_FEATURES,
    candidate_programs,
    candidate_targets,
    line_features,
    pointed_line,
)
from oversight.learning.tensors import pad_features
from oversight.protocols.engine import CRITIQUE, Episode, Judge, run_protocol

Pointer = Literal["learned", "random"]

_FORMAT = "oversight.pointer/2"  # 2: features without the solver column


# --- the network -----------------------------------------------------------------------------


class PointerNet(nn.Module):
    """Per-line MLP, one transformer encoder layer over the candidate sequence, one logit per
    line.

    The encoder layer is written out (multi-head self-attention and a feed-forward block, each
    residual and layer-normed) so that training can evaluate it at the pointed line only: the
    query of one line against the keys of all lines costs O(L) rather than O(L**2), which keeps
    CPU training to seconds. Line order reaches the model through the position features.
    """

    def __init__(self, n_features: int = N_FEATURES, hidden: int = 32, heads: int = 4):
        super().__init__()
        if hidden % heads:
            raise ValueError(f"hidden ({hidden}) must be a multiple of heads ({heads})")
        self.n_features = n_features
        self.hidden = hidden
        self.heads = heads
        self.embed = nn.Sequential(
            nn.Linear(n_features, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU()
        )
        self.query = nn.Linear(hidden, hidden)
        self.key_value = nn.Linear(hidden, 2 * hidden)
        self.attn_out = nn.Linear(hidden, hidden)
        self.norm1 = nn.LayerNorm(hidden)
        self.feed = nn.Sequential(
            nn.Linear(hidden, 2 * hidden), nn.ReLU(), nn.Linear(2 * hidden, hidden)
        )
        self.norm2 = nn.LayerNorm(hidden)
        self.head = nn.Linear(hidden, 1)

    def forward(
        self, x: torch.Tensor, lengths: torch.Tensor, index: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Logits for padded features ``x`` of shape ``(batch, max_len, F)``.

        Without ``index``: shape ``(batch, max_len)``, entries past each length meaningless.
        With ``index`` of shape ``(batch,)`` (one line per sequence): shape ``(batch,)``, that
        line's logit only; of shape ``(batch, k)``: those lines' logits, ``(batch, k)``.
        """
        batch, width, _ = x.shape
        h = self.embed(x)
        keys, values = self.key_value(h).chunk(2, dim=-1)
        if index is None:
            rows = h
        elif index.dim() == 1:
            rows = h[torch.arange(batch), index].unsqueeze(1)
        else:
            rows = h.gather(1, index.unsqueeze(-1).expand(-1, -1, h.shape[-1]))
        d = self.hidden // self.heads

        def split(t: torch.Tensor) -> torch.Tensor:  # (batch, n, hidden) -> (batch, heads, n, d)
            return t.reshape(batch, t.shape[1], self.heads, d).transpose(1, 2)

        scores = split(self.query(rows)) @ split(keys).transpose(-1, -2) / math.sqrt(d)
        padding = torch.arange(width)[None, :] >= lengths[:, None]
        scores = scores.masked_fill(padding[:, None, None, :], float("-inf"))
        mixed = (torch.softmax(scores, dim=-1) @ split(values)).transpose(1, 2)
        z = self.norm1(rows + self.attn_out(mixed.reshape(batch, rows.shape[1], self.hidden)))
        z = self.norm2(z + self.feed(z))
        logits = self.head(z).squeeze(-1)
        return logits.squeeze(1) if index is not None and index.dim() == 1 else logits


def new_pointer(seed: int, hidden: int = 32) -> PointerNet:
    """An untrained pointer, initialised from ``seed`` without touching torch's global RNG."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return PointerNet(hidden=hidden).eval()


def pointer_features(ctx: ProgramContext) -> np.ndarray:
    """What the pointer reads: :func:`line_features` without the ``solver_yields`` column,
    whose solver calls this budgeted critic would have to pay for before pointing."""
    return line_features(ctx, solver=False)


def pointer_logits(net: PointerNet, features: Sequence[np.ndarray]) -> list[np.ndarray]:
    """One logit per candidate line for each feature array (one batched forward pass)."""
    if not features:
        return []
    x, lengths = pad_features(features)
    was_training = net.training
    net.eval()
    with torch.no_grad():
        logits = net(x, lengths).numpy()
    net.train(was_training)
    return [logits[k, : len(f)].astype(np.float64) for k, f in enumerate(features)]


# --- the critic ------------------------------------------------------------------------------


def _sigmoid(v: float) -> float:
    return 1.0 / (1.0 + math.exp(-v)) if v >= 0 else math.exp(v) / (1.0 + math.exp(v))


class LearnedCritic:
    """Aims the solver at lines ranked by a pointer (learned, or random as the ablation).

    ``pointer`` defaults from ``config.kind`` (``learned`` or ``pointer_random``). With
    probability ``epsilon`` per artifact the order is random (exploration while collecting
    training data). A learned pointer without ``net`` uses an untrained net seeded by ``seed``.
    """

    def __init__(
        self,
        config: CriticConfig,
        pointer: Pointer | None = None,
        net: PointerNet | None = None,
        seed: int = 0,
        epsilon: float = 0.0,
        name: str | None = None,
    ):
        implied_by: dict[str, Pointer] = {"learned": "learned", "pointer_random": "random"}
        implied = implied_by.get(config.kind)
        if pointer is None:
            if implied is None:
                raise ValueError(
                    f"LearnedCritic needs kind learned or pointer_random, not {config.kind!r}"
                )
            pointer = implied
        if pointer not in ("learned", "random"):
            raise ValueError(f"pointer must be learned or random, not {pointer!r}")
        if implied is not None and implied != pointer:
            raise ValueError(f"pointer {pointer!r} contradicts config kind {config.kind!r}")
        if not 0.0 <= epsilon <= 1.0:
            raise ValueError(f"epsilon must be in [0, 1], got {epsilon}")
        self.config = config
        self.pointer: Pointer = pointer
        self.seed = seed
        self.epsilon = epsilon
        self.net = net if net is not None or pointer == "random" else new_pointer(seed)
        self.name = name or ("critic-learned" if pointer == "learned" else "critic-pointer_random")

    def logits(self, contexts: Sequence[ProgramContext]) -> list[np.ndarray] | None:
        """The pointer's logits per candidate line of each context (None for a random pointer)."""
        if self.pointer != "learned" or self.net is None:
            return None
        return pointer_logits(self.net, [pointer_features(c) for c in contexts])

    def critique(self, ctx: ProgramContext, key: str, logits: np.ndarray | None = None) -> Claim:
        """One claim about one artifact; ``key`` names the random stream. ``logits`` may be
        passed when already computed (e.g. batched by :meth:`act`)."""
        r = rng(self.seed, self.name, key)
        if self.pointer == "learned" and logits is None:
            batch = self.logits([ctx])
            assert batch is not None  # a learned pointer always has a net
            logits = batch[0]
        targets = candidate_targets(ctx)
        explore = r.random() < self.epsilon  # drawn always, so streams don't depend on epsilon
        if logits is None or explore:
            order = [targets[k] for k in r.permutation(len(targets))]
        else:
            order = sorted(targets, key=lambda j: (-logits[j], j))
        tester = Tester(ctx, critic_budget(ctx, self.config.budget_fraction))
        hit = self._search(ctx, order, tester, r)
        found = tester.found
        if found is not None:
            suspicion = FOUND
        elif logits is not None:
            best = max((logits[j] for j in targets), default=-math.inf)
            suspicion = STRUCTURE_CAP * _sigmoid(best) if targets else 0.0
        else:
            suspicion = structural_suspicion(ctx)
        line = hit if hit is not None else (order[0] if order else None)
        if found is not None and line is not None:
            which, i = pointed_line(ctx, line)
            text = f"P and R differ on this input (solved for {which} line {i + 1})"
        else:
            text = "no counterexample found"
        return Claim(
            author=self.name,
            suspicion=suspicion,
            input=found,
            line=line,
            text=text,
            compute_spent=tester.meter.spent,
        )

    def _search(
        self, ctx: ProgramContext, order: Sequence[int], tester: Tester, r: np.random.Generator
    ) -> int | None:
        """Test solver candidates line by line; the candidate index that found a difference."""
        candidates = candidate_programs(ctx)
        for j in order:
            if not tester.tests_left:
                break
            program, i = candidates[j]
            tries = (tester.solve(program, i, r) for _ in range(self.config.solves_per_line))
            # Duplicates would only waste budget.
            xs = list(dict.fromkeys(x for x in tries if x is not None))
            if xs and tester.test(xs) is not None:
                return j
        return None

    def act(
        self, role: str, round: int, episodes: Sequence[Episode[ProgramContext]]
    ) -> list[Message]:
        contexts = [e.context for e in episodes]
        pointed = self.logits(contexts)
        batch: Sequence[np.ndarray | None] = pointed if pointed else [None] * len(episodes)
        out = []
        for e, logits in zip(episodes, batch, strict=True):
            claim = self.critique(e.context, e.episode_id, logits)
            out.append(Message(role=role, round=round, text=claim.text, claim=claim))
        return out


# --- training --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Example:
    """One training example: the candidate features, the line pointed at, and whether the
    judge confirmed the counterexample found by aiming there."""

    features: np.ndarray
    line: int
    confirmed: bool


def _judge_confirmed(transcript: Transcript, role: str, x: int) -> bool:
    """Whether the judge ran R and P on the claimed input and saw them differ."""
    for check in transcript.checks:
        why = str(check.args.get("why", ""))
        if check.kind != "run_both" or not why.startswith("claim by"):
            continue
        if why != f"claim by {role}" or check.args.get("input") != x:
            continue
        result = check.result or {}
        if result.get("reference") != result.get("artifact"):
            return True
    return False


def examples_from_transcripts(
    transcripts: Sequence[Transcript], contexts: Sequence[ProgramContext] | None = None
) -> list[Example]:
    """Training examples from the judge's checks of pointed claims (never from gold).

    ``contexts`` align with ``transcripts``; when omitted they are parsed from each transcript's
    problem and artifact. Claims without a line are skipped; a claim without an input, or whose
    input the judge did not confirm, labels its line unconfirmed.
    """
    if contexts is None:
        contexts = [ProgramEnv.context(t.problem, t.artifact) for t in transcripts]
    out: list[Example] = []
    for t, ctx in zip(transcripts, contexts, strict=True):
        features: np.ndarray | None = None
        for m in t.messages:
            claim = m.claim
            if claim is None or claim.line is None:
                continue
            if features is None:
                features = pointer_features(ctx)
            if not 0 <= claim.line < len(features):
                continue  # a pointer in some other numbering
            confirmed = claim.input is not None and _judge_confirmed(t, m.role, claim.input)
            out.append(Example(features, claim.line, confirmed))
    return out


def train_pointer(
    examples: Sequence[Example],
    seed: int,
    epochs: int = 30,
    lr: float = 1e-2,
    hidden: int = 32,
    batch_size: int = 128,
    weight_decay: float = 1e-4,
) -> PointerNet:
    """Fit a pointer by binary cross-entropy of each pointed line's logit against
    ``confirmed``. Deterministic: the same examples and seed give bit-identical parameters
    (single thread, deterministic kernels, a seeded generator for shuffling)."""
    with deterministic_torch():
        net = new_pointer(seed, hidden).train()
        if not examples:
            return net.eval()
        x, lengths = pad_features([e.features for e in examples])
        lines = torch.tensor([e.line for e in examples], dtype=torch.int64)
        labels = torch.tensor([float(e.confirmed) for e in examples], dtype=torch.float32)
        shuffle = torch.Generator().manual_seed(seed)
        opt = torch.optim.Adam(net.parameters(), lr=lr, weight_decay=weight_decay)
        n = len(examples)
        for _ in range(epochs):
            perm = torch.randperm(n, generator=shuffle)
            for start in range(0, n, batch_size):
                b = perm[start : start + batch_size]
                # Trim padding to the batch's longest sequence: less work per step.
                width = int(lengths[b].max())
                picked = net(x[b, :width], lengths[b], lines[b])
                loss = F.binary_cross_entropy_with_logits(picked, labels[b])
                opt.zero_grad()
                loss.backward()
                opt.step()
        return net.eval()


def collect_and_train(
    make_episodes: Callable[[], list[Episode[ProgramContext]]],
    judge: Judge[ProgramContext],
    config: CriticConfig,
    seed: int,
    rounds: int = 2,
    epsilon: float = 0.3,
    epochs: int = 30,
    lr: float = 1e-2,
) -> tuple[PointerNet, list[Example]]:
    """Alternate collecting judge confirmations and training, ``rounds`` times.

    Round 0 points at random (an untrained net, epsilon 1); later rounds use the latest net with
    ``epsilon`` exploration. Each round plays :data:`CRITIQUE` on fresh ``make_episodes()`` and
    trains a new net on every example so far. Returns the last net and all examples.
    """
    if rounds < 1:
        raise ValueError(f"rounds must be at least 1, got {rounds}")
    config = config.model_copy(update={"kind": "learned"})
    net = new_pointer(seed)
    examples: list[Example] = []
    for rnd in range(rounds):
        critic = LearnedCritic(
            config,
            pointer="learned",
            net=net,
            # A fresh stream per round, so exploration does not repeat itself.
            seed=derive_seed(seed, "collect", rnd),
            epsilon=1.0 if rnd == 0 else epsilon,
        )
        episodes = make_episodes()
        transcripts = run_protocol(CRITIQUE, episodes, {"critic": critic}, judge)
        examples += examples_from_transcripts(transcripts, [e.context for e in episodes])
        net = train_pointer(examples, seed, epochs=epochs, lr=lr)
    return net, examples


# --- persistence -----------------------------------------------------------------------------


def save_pointer(net: PointerNet, path: str | Path) -> None:
    """Write the pointer's parameters and hyperparameters to ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    blob = {
        "format": _FORMAT,
        "n_features": net.n_features,
        "hidden": net.hidden,
        "heads": net.heads,
        "state_dict": net.state_dict(),
    }
    with atomic_path(path) as tmp:
        torch.save(blob, tmp)


def load_pointer(path: str | Path) -> PointerNet:
    """Read a pointer written by :func:`save_pointer`."""
    blob = read_checkpoint(
        path, lambda p: torch.load(p, map_location="cpu", weights_only=True), "pointer"
    )
    if blob.get("format") != _FORMAT:
        raise OversightError(f"{path} is not a pointer checkpoint ({_FORMAT})")
    if blob["n_features"] != N_FEATURES:
        raise OversightError(
            f"{path} was trained on {blob['n_features']} features; this version has {N_FEATURES}"
        )
    net = PointerNet(
        n_features=int(blob["n_features"]), hidden=int(blob["hidden"]), heads=int(blob["heads"])
    )
    net.load_state_dict(blob["state_dict"])
    return net.eval()
