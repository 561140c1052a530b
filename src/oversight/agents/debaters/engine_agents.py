"""Pixel debaters and the sparse judge as engine actors, so a pixel debate runs on the same
protocol engine as every other game (rules from :class:`~oversight.protocols.rules.DebateRules`).

The experiment's array-based solvers play thousands of games at once; these actors play one
turn at a time through :func:`~oversight.protocols.engine.run_protocol`, with every reveal a
message in the transcript. A reveal is a :class:`~oversight.core.records.Claim` of kind
``reveal`` whose ``input`` is the pixel index (0..63).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from oversight.core.records import Claim, Message, Verdict
from oversight.envs.digits.game import NO_PRECOMMIT, honest_margin
from oversight.protocols.engine import Episode


class PixelLogits(Protocol):
    """The judge the actors consult (e.g. :class:`~oversight.judges.sparse_pixel.SparsePixelJudge`):
    logits over the ten labels per image, from the pixels each mask reveals."""

    def logits(self, images: np.ndarray, masks: np.ndarray) -> np.ndarray: ...


@dataclass(frozen=True)
class PixelDebateContext:
    """One image under debate: the honest side argues ``true_label``, the liar ``lie``
    (``None``: no precommitment, any wrong answer wins for the liar)."""

    image: np.ndarray  # (64,) in [0, 1]
    true_label: int
    lie: int | None
    honest_role: str = "honest"

    @property
    def objective(self) -> int:
        if self.lie is None:
            return NO_PRECOMMIT
        return self.lie - int(self.lie > self.true_label)  # wrong labels, true one skipped


def revealed(episode: Episode[PixelDebateContext]) -> list[int]:
    """Pixels revealed so far, in order."""
    return [
        m.claim.input
        for m in episode.messages
        if m.claim is not None and m.claim.kind == "reveal" and m.claim.input is not None
    ]


def _mask(pixels: Sequence[int]) -> np.ndarray:
    mask = np.zeros(64, dtype=bool)
    mask[list(pixels)] = True
    return mask


class GreedyPixelDebater:
    """Reveals the unrevealed nonzero pixel with the best immediate judge margin for its side
    (lowest pixel index on ties); ``judge`` is the judge it plans against."""

    def __init__(self, judge: PixelLogits, name: str = "greedy-debater"):
        self.judge = judge
        self.name = name

    def act(
        self, role: str, round: int, episodes: Sequence[Episode[PixelDebateContext]]
    ) -> list[Message]:
        out = []
        for e in episodes:
            ctx = e.context
            shown = revealed(e)
            free = [int(p) for p in np.flatnonzero(ctx.image) if p not in shown]
            masks = np.stack([_mask([*shown, p]) for p in free])
            logits = self.judge.logits(np.broadcast_to(ctx.image, masks.shape), masks)
            margin = honest_margin(logits, ctx.true_label, ctx.objective)
            pick = free[int(np.argmax(margin if role == ctx.honest_role else -margin))]
            claim = Claim(author=self.name, kind="reveal", input=pick)
            out.append(Message(role=role, text=f"reveal pixel {pick}", claim=claim))
        return out


class PixelDebateJudge:
    """Rules from the revealed pixels only: ``accept`` means it sides with the honest answer;
    ``confidence`` is its probability for it (over the two committed labels, or all ten)."""

    def __init__(self, judge: PixelLogits, name: str = "sparse-judge"):
        self.judge = judge
        self.name = name

    def rule(self, episodes: Sequence[Episode[PixelDebateContext]]) -> list[Verdict]:
        out = []
        for e in episodes:
            ctx = e.context
            logits = self.judge.logits(ctx.image[None], _mask(revealed(e))[None])[0]
            margin = float(honest_margin(logits[None], ctx.true_label, ctx.objective)[0])
            z = logits.astype(np.float64)
            if ctx.lie is not None:
                z = z[[ctx.true_label, ctx.lie]]
                p = 1.0 / (1.0 + np.exp(z[1] - z[0]))
            else:
                e_z = np.exp(z - z.max())
                p = float(e_z[ctx.true_label] / e_z.sum())
            out.append(Verdict(accept=margin > 0, confidence=float(p), rule="sparse_judge"))
        return out
