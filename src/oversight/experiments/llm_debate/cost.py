"""The cost of a run, estimated before it starts from the price table.

An upper-bound style estimate: every speech is counted at its full token allowance
(``max_tokens``), every judgment as elicited (the costlier mode), and a prompt as its text at
four characters per token plus the speeches before it at their word limit (1.4 tokens a word).
Calls Inspect's cache will serve are not known in advance and are counted as paid.
"""

from __future__ import annotations

from typing import Any

from oversight.agents.llm import MODEL_PARTS
from oversight.envs.text.records import TextItem
from oversight.experiments.llm_debate.config import LLMDebateConfig
from oversight.models.prices import PriceTable
from oversight.protocols.text import DEBATERS, text_protocol

CHARS_PER_TOKEN = 4
TOKENS_PER_WORD = 1.4
INSTRUCTION_TOKENS = 250  # the template's own text


def estimate_cost(
    cfg: LLMDebateConfig,
    items: list[TextItem],
    episodes: dict[str, int],
    prices: PriceTable,
    tournament: dict[tuple[str, str], int] | None = None,
) -> dict[str, Any]:
    """Calls, tokens and dollars per model for ``episodes`` (protocol -> episodes to play) and
    ``tournament`` games ((variant A, variant B) -> games to play; a best-of-n speech costs n
    speeches and n elicited judgments), with a one-line ``text`` summary. ``dollars`` is None
    when a model has no price."""
    games = tournament or {}
    if not items:
        return {"by_model": {}, "dollars": 0.0, "text": "estimated cost: nothing to play"}
    source = sum(len(it.source) for it in items) / len(items) / CHARS_PER_TOKEN
    question = sum(len(it.question) + len(" ".join(it.answers)) for it in items) / len(items)
    question /= CHARS_PER_TOKEN
    speech = cfg.word_limit * TOKENS_PER_WORD
    by_model: dict[str, dict[str, Any]] = {}

    def add(model: str, calls: int, tokens_in: float, tokens_out: float) -> None:
        m = by_model.setdefault(model, {"calls": 0, "input_tokens": 0, "output_tokens": 0})
        m["calls"] += calls
        m["input_tokens"] += int(calls * tokens_in)
        m["output_tokens"] += int(calls * tokens_out)

    for name, n in episodes.items():
        if n == 0:
            continue
        turns = [t for r in text_protocol(name, cfg.rounds).rounds for t in r.turns]
        for i, turn in enumerate(turns):
            part = MODEL_PARTS[turn.role]
            sees_source = part != "questioner"
            tokens_in = INSTRUCTION_TOKENS + question + i * speech + (source if sees_source else 0)
            add(cfg.role_model(part), n, tokens_in, cfg.max_tokens)
        judge_in = INSTRUCTION_TOKENS + question + len(turns) * speech
        add(cfg.role_model("judge"), n, judge_in, cfg.judge_max_tokens)
    variants = {v.name: v for v in cfg.tournament.variants}
    turns = [t for r in text_protocol(cfg.tournament.protocol, cfg.rounds).rounds for t in r.turns]
    for (a, b), n in games.items():
        if n == 0:
            continue
        for i, turn in enumerate(turns):
            v = variants[a if turn.role == DEBATERS[0] else b]
            tokens_in = INSTRUCTION_TOKENS + question + i * speech + source
            add(v.model or cfg.role_model("debater"), n * v.best_of_n, tokens_in, cfg.max_tokens)
            if v.best_of_n > 1:
                scorer = v.scorer_model or cfg.role_model("judge")
                scorer_in = INSTRUCTION_TOKENS + question + (i + 1) * speech
                add(scorer, n * v.best_of_n, scorer_in, cfg.judge_max_tokens)
        judge_in = INSTRUCTION_TOKENS + question + len(turns) * speech
        add(cfg.role_model("judge"), n, judge_in, cfg.judge_max_tokens)
    dollars: float | None = 0.0
    for model, m in by_model.items():
        cost = prices.cost(model, m["input_tokens"], m["output_tokens"])
        m["dollars"] = cost
        dollars = None if cost is None or dollars is None else dollars + cost
    calls = sum(m["calls"] for m in by_model.values())
    unpriced = sorted(k for k, m in by_model.items() if m["dollars"] is None)
    money = f"${dollars:.2f}" if dollars is not None else "unknown"
    text = f"estimated cost: {money} for about {calls} model calls"
    if unpriced:
        text += f" (no price for {', '.join(unpriced)}: add it to a price file, --set prices=PATH)"
    return {"by_model": by_model, "dollars": dollars, "calls": calls, "text": text}
