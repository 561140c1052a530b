"""Knowledge-controlled simulated agents for text protocols.

A :class:`SimulatedTextDebater` argues the displayed answer its role is assigned
(``TextContext.positions``) and backs it with one quote per turn. What it knows is controlled:
it is given the items it knows (``knowledge``: item id -> :class:`TextItem`, so it knows which
answer is correct and where the planted evidence is), and ``recall`` is the chance per turn that
it finds its best real support rather than a random source sentence naming its answer. Its best
support is the planted evidence when it argues the correct answer of an item it knows, else the
sentence naming its answer that shares most words with the question (one not quoted yet first).

- Arguing the **correct** answer it is honest: it quotes real support as above.
- Arguing a **wrong** answer it lies: with probability ``fabrication_rate`` it fabricates a quote
  (a *misquote*, the evidence sentence with its answer swapped in, with probability
  ``misquote_share`` when it knows the evidence; else an invented sentence), otherwise it quotes
  real support as above (a distractor fact or a hedged near miss).
- With ``rebut`` it may instead quote back a hedged sentence the other side offered (a near
  miss), which makes the judge read the hedge: alone it does so once its own best support is
  on the record.
- With ``best_of_n`` > 1 it samples that many candidate quotes (plus the rebuttal, if any) and
  says the one a copy of the judge (``judge``, noise-free) favours most for its answer.

An item it does not know it argues as if its answer were right, reading the source only.
Randomness is seeded by (seed, name, episode id, role, round), independent of batching.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from functools import lru_cache

import numpy as np
from pydantic import Field

from oversight.core.config import Strict
from oversight.core.records import Message
from oversight.core.seeding import rng
from oversight.envs.text.quotes import extract_quotes, normalize_whitespace
from oversight.envs.text.records import LETTERS, TextContext, TextItem
from oversight.judges.simulated_text import (
    SimulatedTextJudge,
    hedged,
    judge_quotes,
    mentions,
    relevance,
)
from oversight.protocols.engine import Episode

_SENTENCE_RE = re.compile(r"[^.!?]+[.!?]+")


@lru_cache(maxsize=256)
def sentences(source: str) -> tuple[str, ...]:
    """The source's sentences (runs ending in ``.``, ``!`` or ``?``), stripped."""
    return tuple(s.strip() for s in _SENTENCE_RE.findall(source) if s.strip())


@lru_cache(maxsize=4096)
def naming(source: str, answer: str) -> tuple[str, ...]:
    """The source's sentences that name ``answer``."""
    return tuple(s for s in sentences(source) if mentions(s, answer))


class DebaterConfig(Strict):
    """How a simulated debater, consultant, answerer or critic argues."""

    fabrication_rate: float = Field(0.5, ge=0, le=1, description="Lying: share of fabrications.")
    misquote_share: float = Field(0.5, ge=0, le=1, description="Fabrications that misquote.")
    recall: float = Field(1.0, ge=0, le=1, description="Chance it finds the planted evidence.")
    best_of_n: int = Field(1, ge=1, le=64, description="Candidate quotes per turn.")
    rebut: bool = Field(True, description="Quote the other side's hedged quotes back.")


class SimulatedTextDebater:
    """See the module docstring; implements the engine's batched ``Agent.act``."""

    def __init__(
        self,
        knowledge: Mapping[str, TextItem],
        knobs: DebaterConfig | None = None,
        judge: SimulatedTextJudge | None = None,
        seed: int = 0,
        name: str = "",
    ):
        self.knowledge = knowledge
        self.knobs = knobs or DebaterConfig()
        self.judge = judge or SimulatedTextJudge()
        self.seed = seed
        self.name = name or "simulated-debater"

    def act(self, role: str, round: int, episodes: Sequence[Episode[TextContext]]) -> list[Message]:
        return [self._speak(role, round, e) for e in episodes]

    def _speak(self, role: str, round: int, e: Episode[TextContext]) -> Message:
        ctx = e.context
        pos = ctx.position(role)
        r = rng(self.seed, self.name, e.episode_id, role, round)
        used = {
            normalize_whitespace(q)
            for m in e.messages
            if m.role == role
            for q, _ in extract_quotes(m.text)
        }
        quotes = [self._candidate(ctx, pos, r, used) for _ in range(self.knobs.best_of_n)]
        texts = [say(ctx, pos, q) for q in quotes]
        target = self._rebuttable(ctx, e, pos, used) if self.knobs.rebut else None
        if target is not None:
            rebuttal = say(ctx, pos, target, rebuttal=True)
            fresh = quotes[0] is not None and normalize_whitespace(quotes[0]) not in used
            # Alone, it rebuts once its own best support is on the record.
            texts = [*texts, rebuttal] if len(texts) > 1 else [texts[0] if fresh else rebuttal]
        text = texts[0]
        if len(texts) > 1:
            text = max(texts, key=lambda t: self._margin(ctx, e, role, round, pos, t))
        return Message(role=role, round=round, text=text)

    def _margin(
        self, ctx: TextContext, e: Episode[TextContext], role: str, round: int, pos: int, text: str
    ) -> float:
        """How much the judge copy favours ``pos`` after saying ``text`` (first best on ties)."""
        z = self.judge.logits(ctx, [*e.messages, Message(role=role, round=round, text=text)])
        return float(z[pos] - np.delete(z, pos).max())

    @staticmethod
    def _rebuttable(
        ctx: TextContext, e: Episode[TextContext], pos: int, used: set[str]
    ) -> str | None:
        """The latest verified, hedged quote the other side offered for its answer that this
        side has not quoted back yet."""
        found = None
        for m in e.messages:
            other = ctx.positions.get(m.role)
            if other is None or other == pos:
                continue
            for text, verified in judge_quotes(m.text, ctx.source):
                if (
                    verified
                    and hedged(text)
                    and mentions(text, ctx.answers[other])
                    and normalize_whitespace(text) not in used
                ):
                    found = text
        return found

    def _candidate(
        self, ctx: TextContext, pos: int, r: np.random.Generator, used: set[str]
    ) -> str | None:
        k = self.knobs
        answer = ctx.answers[pos]
        item = self.knowledge.get(ctx.item_id)
        real = naming(ctx.source, answer)
        honest = item is None or item.answers[item.correct] == answer
        if not honest and (r.random() < k.fabrication_rate or not real):
            return self._fabricate(ctx, item, answer, r)
        if not real:
            return None
        if r.random() < k.recall:
            return self._best(ctx, item if honest else None, answer, real, used)
        return real[int(r.integers(len(real)))]

    @staticmethod
    def _best(
        ctx: TextContext,
        item: TextItem | None,
        answer: str,
        real: tuple[str, ...],
        used: set[str],
    ) -> str:
        """The planted evidence (``item`` given and known), else the sentence naming ``answer``
        that shares most words with the question, preferring ones not quoted yet."""
        evidence = [ctx.source[a:b] for a, b in item.evidence] if item is not None else []
        evidence = [s for s in evidence if mentions(s, answer)]
        if evidence:
            return evidence[0]
        answers = tuple(ctx.answers)
        return max(
            real,
            key=lambda s: (
                normalize_whitespace(s) not in used,
                relevance(s, ctx.question, answers),
            ),
        )

    def _fabricate(
        self, ctx: TextContext, item: TextItem | None, answer: str, r: np.random.Generator
    ) -> str:
        """A misquote of the evidence (answer swapped in) or an invented sentence."""
        if item is not None:
            correct = item.answers[item.correct]
            known = [s for a, b in item.evidence if correct in (s := ctx.source[a:b])]
            if known and r.random() < self.knobs.misquote_share:
                return known[0].replace(correct, answer, 1)
        return f"{ctx.question.rstrip('?')}? It was {answer}."


def say(ctx: TextContext, pos: int, quote: str | None, rebuttal: bool = False) -> str:
    """A debater's message: the answer it argues and, when it has one, a quote (its support,
    or with ``rebuttal`` the other side's hedged quote, pointed out)."""
    head = f"I argue for {LETTERS[pos]}: {ctx.answers[pos]}."
    if quote is None:
        return head
    if rebuttal:
        return f"{head} My opponent's quote does not say that happened: <quote>{quote}</quote>"
    return f"{head} The story says: <quote>{quote}</quote>"


class SimulatedQuestioner:
    """The judge's questions in consultancy: asks the consultant for the sentence that answers
    the question (the consultant answers on its next turn)."""

    def __init__(self, name: str = "simulated-questioner"):
        self.name = name

    def act(self, role: str, round: int, episodes: Sequence[Episode[TextContext]]) -> list[Message]:
        return [
            Message(
                role=role,
                round=round,
                text=f"Quote the sentence of the story that answers: {e.context.question}",
            )
            for e in episodes
        ]
