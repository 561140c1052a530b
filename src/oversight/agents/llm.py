"""LLM speakers for text protocols: debaters, consultants, answerers, critics and the judge's
questioner, all one class implementing the engine's batched ``Agent.act``.

A turn renders the role's prompt template for every episode of the batch, sends the batch to
the model at once (:func:`~oversight.models.base.generate_batch`) and parses each reply: the
message is the reply's **last** well-formed ``<argument>`` (``<question>`` for the questioner).
Every message carries a :class:`~oversight.core.records.Claim` whose ``kind`` records how the
reply was read: ``argument`` / ``question``, ``parse_failure`` (no such tag: the whole reply
is the message) or ``refusal`` (the provider's content filter, or a reply that opens with a
refusal); ``text`` keeps the raw reply when it was not parsed, ``compute_spent`` the output
tokens. The judge sees the message with its protected markup escaped; nothing here stops a run.

Best-of-n (``best_of_n`` > 1, for roles that argue an answer): the speaker samples n replies
per episode, all episodes' candidates in one batch, has ``scorer`` (a judge, e.g. a copy of
the protocol's judge) rule on the transcript so far plus each candidate, and keeps the
candidate whose verdict gives its own answer the highest probability (the first on a tie);
``compute_spent`` then counts every candidate's output tokens. The n prompts of an episode are
identical, so the candidates differ only by sampling (a temperature above 0 is needed), and
Inspect's cache keys a call by its prompt and settings; the n candidates carry distinct
``Sampling.sample`` numbers, so each has its own cache entry and a rerun served from the cache
still compares n different replies.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

from oversight.core.records import Claim, Message, Verdict
from oversight.envs.text.quotes import render_for_judge
from oversight.envs.text.records import LETTERS, TextContext, judge_view
from oversight.judges.llm import DISPLAY_NAMES, looks_like_refusal, neutralize
from oversight.models.base import ChatModel, Generation, Sampling, UsageLedger, generate_batch
from oversight.prompts import PromptSet
from oversight.protocols.engine import Episode, Judge

ROLE_TEMPLATES: dict[str, str] = {
    "debater_a": "debater",
    "debater_b": "debater",
    "consultant": "consultant",
    "answerer": "consultant",
    "critic": "critic",
    "judge_questions": "questioner",
}
"""The template each text-protocol role speaks with."""

MODEL_PARTS: dict[str, str] = {
    "debater_a": "debater",
    "debater_b": "debater",
    "consultant": "consultant",
    "answerer": "critic",
    "critic": "critic",
    "judge_questions": "questioner",
}
"""Which model part (debater, consultant, critic, questioner; the judge is the fifth) speaks
each role: a run's per-part model keys, an Inspect task's model roles."""

_TAGS = {"questioner": "question"}


def last_tag(text: str, tag: str) -> str | None:
    """The content of the last well-formed ``<tag>...</tag>`` in ``text`` (any case)."""
    found = re.findall(rf"<{tag}>(.*?)</{tag}>", text, re.IGNORECASE | re.DOTALL)
    return found[-1].strip() if found else None


def render_messages(ctx: TextContext, messages: Sequence[Message]) -> str:
    """Earlier messages as a speaker reads them: quotes marked verified or not, as the judge
    sees them, one ``[Speaker, round r]`` paragraph each (rounds counted from 1)."""
    return "\n\n".join(
        f"[{DISPLAY_NAMES.get(m.role, m.role)}, round {m.round + 1}] "
        f"{render_for_judge(neutralize(m.text), ctx.index)}"
        for m in messages
    )


class LLMSpeaker:
    """Speaks any text-protocol role with a language model; ``templates`` maps roles to
    template names (default :data:`ROLE_TEMPLATES`)."""

    def __init__(
        self,
        model: ChatModel,
        prompts: PromptSet | None = None,
        word_limit: int = 150,
        max_tokens: int = 600,
        temperature: float | None = None,
        ledger: UsageLedger | None = None,
        templates: Mapping[str, str] | None = None,
        simultaneous: bool = False,
        name: str = "",
        best_of_n: int = 1,
        scorer: Judge[TextContext] | None = None,
    ):
        if best_of_n < 1:
            raise ValueError(f"best_of_n must be 1 or more, got {best_of_n}")
        if best_of_n > 1 and scorer is None:
            raise ValueError("best_of_n > 1 needs a scorer (a judge that rules on candidates)")
        self.model = model
        self.prompts = prompts or PromptSet()
        self.word_limit = word_limit
        self.sampling = Sampling(max_tokens=max_tokens, temperature=temperature)
        self.ledger = ledger
        self.templates = dict(templates or ROLE_TEMPLATES)
        self.simultaneous = simultaneous
        self.name = name or f"llm:{model.name}"
        self.best_of_n = best_of_n
        self.scorer = scorer

    def prompt(self, role: str, round: int, e: Episode[TextContext]) -> str:
        if role not in self.templates:
            raise KeyError(f"no prompt template for role {role!r}; roles: {sorted(self.templates)}")
        ctx = e.context
        variables: dict[str, object] = {
            "name": DISPLAY_NAMES.get(role, role),
            "question": ctx.question,
            "answers": [{"letter": LETTERS[i], "text": a} for i, a in enumerate(ctx.answers)],
            "source": ctx.source,
            "transcript": render_messages(ctx, e.messages),
            "round": round,
            "word_limit": self.word_limit,
            "simultaneous": self.simultaneous,
            "question_asked": any(m.role == "judge_questions" for m in e.messages),
        }
        if role in ctx.positions:
            mine = ctx.position(role)
            other = next((p for r, p in ctx.positions.items() if r != role), 1 - mine)
            variables |= {
                "letter": LETTERS[mine],
                "answer": ctx.answers[mine],
                "opponent_letter": LETTERS[other],
                "opponent_answer": ctx.answers[other],
            }
        template = self.templates[role]
        if template == "questioner":
            shown = [m.model_copy(update={"text": neutralize(m.text)}) for m in e.messages]
            variables["transcript"] = judge_view(ctx, shown, DISPLAY_NAMES)
        return self.prompts.render(template, **variables)

    def act(self, role: str, round: int, episodes: Sequence[Episode[TextContext]]) -> list[Message]:
        prompts = [self.prompt(role, round, e) for e in episodes]
        tag = _TAGS.get(self.templates[role], "argument")
        argues = self.best_of_n > 1 and all(role in e.context.positions for e in episodes)
        n = self.best_of_n if argues else 1
        draws = [self.sampling.model_copy(update={"sample": k}) for k in range(n)]
        replies = generate_batch(
            self.model,
            [p for p in prompts for _ in range(n)],
            draws * len(prompts),
            self.ledger,
            [e.episode_id for e in episodes for _ in range(n)],
            role=role,
        )
        said = [self._message(role, round, g, tag) for g in replies]
        return said if n == 1 else self._best(role, episodes, said, n)

    def _best(
        self, role: str, episodes: Sequence[Episode[TextContext]], candidates: list[Message], n: int
    ) -> list[Message]:
        """Per episode, the candidate (``n`` in a row) the scorer favours most for ``role``."""
        assert self.scorer is not None
        trials = [
            # Fresh check lists: the scorer's checks must not enter the real transcript.
            Episode(e.episode_id, e.problem, e.artifact, e.context, [*e.messages, m], [])
            for i, e in enumerate(episodes)
            for m in candidates[i * n : (i + 1) * n]
        ]
        verdicts = self.scorer.rule(trials)
        out = []
        for i, e in enumerate(episodes):
            mine = e.context.position(role)
            scores = [_favour(v, mine) for v in verdicts[i * n : (i + 1) * n]]
            best = candidates[i * n + scores.index(max(scores))]
            spent = sum(m.claim.compute_spent for m in candidates[i * n : (i + 1) * n] if m.claim)
            claim = best.claim.model_copy(update={"compute_spent": spent}) if best.claim else None
            out.append(best.model_copy(update={"claim": claim}))
        return out

    def _message(self, role: str, round: int, g: Generation, tag: str) -> Message:
        body = last_tag(g.text, tag)
        if body is not None:
            kind, text, raw = tag, body, ""
        else:
            kind = "refusal" if looks_like_refusal(g) else "parse_failure"
            text, raw = g.text.strip(), g.text
        claim = Claim(author=self.name, kind=kind, text=raw, compute_spent=g.output_tokens)
        return Message(role=role, round=round, text=text, claim=claim)


def _favour(v: Verdict, answer: int) -> float:
    """How strongly verdict ``v`` backs displayed ``answer``: its probability, else 1 when it
    chose that answer, 1/2 with no choice, 0 otherwise."""
    if v.probs is not None:
        return v.probs[answer]
    return 0.5 if v.choice is None else float(v.choice == answer)
