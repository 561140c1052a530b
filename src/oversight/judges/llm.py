"""An LLM judge for text protocols: a probability for every displayed answer.

The judge reads what :func:`~oversight.envs.text.records.judge_view` shows (question, options,
every message with quotes marked verified or unverified), never the source. Before that,
anything a speaker wrote that looks like the judge's own markup (``<probability>``,
``<answer>``) or the quote marks is escaped, so a speaker cannot plant a score.

Probabilities come from one of two modes (``probs``):

- ``logprobs``: the judge answers with one letter; its probability per answer is the
  log-probability mass of each option letter at the first answer token, normalised over the
  option letters (tokens that differ only in surrounding spaces count for the same letter);
- ``elicit``: the judge reasons, then writes ``<probability answer="X">p</probability>`` for
  every option; for each option its **last** well-formed tag counts (earlier ones may be
  quotes of the speakers), and the values are normalised to sum to 1.

``auto`` asks for log-probabilities and, as soon as the provider returns none, elicits instead
(for that call and every later one). A reply that cannot be parsed, or a refusal, gives equal
probabilities, ``choice=None`` and is recorded (rule and a zero-cost ``llm_judge`` check with
the raw reply): it never stops the run.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from typing import Literal

from oversight.core.records import Check, Message, Verdict
from oversight.envs.text.quotes import JUDGE_TAGS, neutralize_markup
from oversight.envs.text.records import LETTERS, TextContext, judge_view
from oversight.models.base import ChatModel, Generation, Sampling, UsageLedger, generate_batch
from oversight.prompts import PromptSet
from oversight.protocols.engine import Episode

ProbMode = Literal["auto", "logprobs", "elicit"]
JUDGE_MARKUP = ("probability", "answer")
PROTECTED_TAGS = (*JUDGE_MARKUP, *JUDGE_TAGS)
"""Tags a speaker may not write: the judge's score markup and the verified-quote marks."""

DISPLAY_NAMES = {
    "debater_a": "Debater A",
    "debater_b": "Debater B",
    "consultant": "Consultant",
    "judge_questions": "Judge",
    "answerer": "Answerer",
    "critic": "Critic",
}
TOP_LOGPROBS = 20
JUDGE_FAILURES = ("parse_failure", "refusal")
"""How a judgment can fail to be read; its verdict's rule is ``llm_<failure>``."""


def judgment_failed(v: Verdict | None) -> bool:
    """Whether ``v`` is a judgment that was not read (unparsed or refused)."""
    return v is not None and v.rule in {f"llm_{k}" for k in JUDGE_FAILURES}


_PROB_TAG = re.compile(
    r"<probability\s+answer\s*=\s*[\"']?([A-Z])[\"']?\s*>\s*([0-9]*\.?[0-9]+)\s*(%?)\s*"
    r"</probability>",
    re.IGNORECASE,
)
_REFUSAL = re.compile(
    r"^\s*(i'?m sorry|i am sorry|i can(?:'|no)t|i cannot|i won'?t|i will not|i'm unable|"
    r"i am unable|as an ai)\b",
    re.IGNORECASE,
)


def neutralize(text: str) -> str:
    """``text`` with the judge's markup and the quote marks escaped (``<quote>`` stays: the
    environment verifies those)."""
    return neutralize_markup(text, PROTECTED_TAGS)


def speaker_view(messages: Sequence[Message]) -> list[Message]:
    """Messages as the judge may read them: protected markup escaped."""
    return [m.model_copy(update={"text": neutralize(m.text)}) for m in messages]


def looks_like_refusal(g: Generation) -> bool:
    """The provider stopped on its content filter, or the reply opens with a refusal."""
    return g.refused or bool(_REFUSAL.match(g.text))


def parse_elicited(text: str, n: int) -> list[float] | None:
    """Probabilities from the last well-formed tag per option (``n`` options), normalised; None
    when an option has no tag, a value is out of [0, 1] (or 0-100 with ``%``), or all are 0."""
    last: dict[int, float] = {}
    for m in _PROB_TAG.finditer(text):
        k = LETTERS.find(m.group(1).upper())
        if not 0 <= k < n:
            continue
        last[k] = float(m.group(2)) / (100 if m.group(3) else 1)
    if len(last) < n or any(not 0 <= v <= 1 for v in last.values()):
        return None
    total = sum(last.values())
    if total <= 0:
        return None
    return [last[k] / total for k in range(n)]


def parse_logprobs(g: Generation, n: int) -> list[float] | None:
    """Normalised probability per option letter at the first output position where any of
    the top tokens is one of them; None when there is no such position."""
    for position in g.logprobs or ():
        mass = [0.0] * n
        for token, logprob in position.items():
            k = _letter(token)
            if 0 <= k < n:
                mass[k] += math.exp(logprob)
        if sum(mass) > 0:
            return [m / sum(mass) for m in mass]
    return None


def _letter(token: str) -> int:
    """The option index a token spells (``"A"``, ``" A"``, byte-level ``"ĠA"``, SentencePiece
    ``"▁A"``), or -1."""
    t = token.strip().lstrip("Ġ▁").strip()
    return LETTERS.find(t) if len(t) == 1 else -1


class LLMJudge:
    """Rules text episodes with a language model; see the module docstring."""

    def __init__(
        self,
        model: ChatModel,
        prompts: PromptSet | None = None,
        probs: ProbMode = "auto",
        max_tokens: int = 512,
        temperature: float | None = None,
        ledger: UsageLedger | None = None,
        name: str = "",
    ):
        if probs not in ("auto", "logprobs", "elicit"):
            raise ValueError(f"probs: unknown value {probs!r}; allowed: auto, logprobs, elicit")
        self.model = model
        self.prompts = prompts or PromptSet()
        self.mode = probs
        self.max_tokens = max_tokens
        self.temperature = temperature
        self.ledger = ledger
        self.name = name or f"llm-judge:{model.name}"

    def prompt(self, e: Episode[TextContext], mode: Literal["logprobs", "elicit"]) -> str:
        ctx = e.context
        shown = speaker_view(e.visible(to_judge=True))
        return self.prompts.render(
            "judge",
            transcript=judge_view(ctx, shown, DISPLAY_NAMES),
            letters=list(LETTERS[: len(ctx.answers)]),
            mode=mode,
        )

    def rule(self, episodes: Sequence[Episode[TextContext]]) -> list[Verdict]:
        out: list[Verdict | None] = [None] * len(episodes)
        todo = list(range(len(episodes)))
        if self.mode in ("auto", "logprobs") and todo:
            sampling = Sampling(
                max_tokens=1, temperature=self.temperature, top_logprobs=TOP_LOGPROBS
            )
            replies = self._ask([episodes[i] for i in todo], "logprobs", sampling)
            rest = []
            for i, g in zip(todo, replies, strict=True):
                if g.logprobs is None and self.mode == "auto" and not looks_like_refusal(g):
                    rest.append(i)
                else:
                    n = len(episodes[i].context.answers)
                    out[i] = self._verdict(episodes[i], g, "logprobs", parse_logprobs(g, n))
            if rest:
                self.mode = "elicit"  # this provider gives no log-probabilities
            todo = rest
        if todo:
            sampling = Sampling(max_tokens=self.max_tokens, temperature=self.temperature)
            replies = self._ask([episodes[i] for i in todo], "elicit", sampling)
            for i, g in zip(todo, replies, strict=True):
                n = len(episodes[i].context.answers)
                out[i] = self._verdict(episodes[i], g, "elicit", parse_elicited(g.text, n))
        return [v for v in out if v is not None]

    def _ask(
        self,
        episodes: Sequence[Episode[TextContext]],
        mode: Literal["logprobs", "elicit"],
        s: Sampling,
    ) -> list[Generation]:
        prompts = [self.prompt(e, mode) for e in episodes]
        ids = [e.episode_id for e in episodes]
        return generate_batch(self.model, prompts, s, self.ledger, ids, role="judge")

    def _verdict(
        self, e: Episode[TextContext], g: Generation, mode: str, probs: list[float] | None
    ) -> Verdict:
        ctx = e.context
        n = len(ctx.answers)
        if probs is None:
            status = "refusal" if looks_like_refusal(g) else "parse_failure"
            probs = [1.0 / n] * n
            choice = None
        else:
            status = "ok"
            top = max(probs)
            best = [k for k, p in enumerate(probs) if p == top]
            choice = best[0] if len(best) == 1 else None
        e.checks.append(
            Check(
                kind="llm_judge",
                cost=0,
                args={"model": g.model, "mode": mode},
                result={"status": status, "reply": g.text, "cached": g.cached},
            )
        )
        rule = f"llm_{mode}" if status == "ok" else f"llm_{status}"
        return Verdict(
            accept=choice == ctx.proposed,
            confidence=probs[ctx.proposed],
            rule=rule,
            choice=choice,
            probs=probs,
        )
