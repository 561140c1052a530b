"""The text environment: each item shown in every display a protocol needs.

A *display* of an item shows two answers (the correct one and its distractor, in either order)
and, for consultancy and critique, proposes either of them; the roles of each protocol argue
fixed displayed answers (:func:`text_positions`). :class:`TextEnv` turns items into judged
cases, one per display, and rebuilds a case's context from its records alone.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Literal

from oversight.core.errors import OversightError
from oversight.core.records import Artifact, Problem, Transcript
from oversight.envs.base import Case
from oversight.envs.text.records import TextContext, TextItem, quote_records, text_episode

TextProtocolName = Literal[
    "debate-sequential", "debate-simultaneous", "consultancy", "critique", "direct"
]
TEXT_PROTOCOLS: tuple[str, ...] = (
    "debate-sequential",
    "debate-simultaneous",
    "consultancy",
    "critique",
    "direct",
)
DEBATERS = ("debater_a", "debater_b")
CONSULTANT = "consultant"
QUESTIONER = "judge_questions"
ANSWERER = "answerer"
CRITIC = "critic"


def text_positions(name: str, proposed: int) -> dict[str, int]:
    """Role -> displayed answer it argues, for two displayed answers and ``proposed`` (0/1)."""
    if proposed not in (0, 1):
        raise ValueError(f"proposed must be 0 or 1 with two displayed answers, got {proposed}")
    if name.startswith("debate"):
        return {DEBATERS[0]: 0, DEBATERS[1]: 1}
    if name == "consultancy":
        return {CONSULTANT: proposed}
    if name == "critique":
        return {ANSWERER: proposed, CRITIC: 1 - proposed}
    if name == "direct":
        return {}
    raise ValueError(f"unknown text protocol {name!r}; allowed: {', '.join(TEXT_PROTOCOLS)}")


def displays(protocol: str, item: TextItem) -> Iterator[tuple[str, Case[TextContext]]]:
    """(tag, case) for every display of ``item`` under ``protocol``: both answer orders, and
    for consultancy and critique both proposed answers."""
    both = protocol in ("consultancy", "critique")
    for o, shown in enumerate(item.pair_orders()):
        for proposed in (0, 1) if both else (0,):
            tag = f"o{o}p{proposed}"
            yield tag, text_episode(item, shown, text_positions(protocol, proposed), proposed, tag)


class TextEnv:
    """Items (generated stories or a loaded data set) under one text protocol."""

    name = "text"

    def __init__(self, items: Sequence[TextItem], protocol: str):
        if protocol not in TEXT_PROTOCOLS:
            raise OversightError(
                f"unknown text protocol {protocol!r}; allowed: {', '.join(TEXT_PROTOCOLS)}"
            )
        self.items = list(items)
        self.protocol = protocol
        self._by_id = {it.id: it for it in self.items}

    def cases(self, index: int) -> Iterator[Case[TextContext]]:
        """Every display of item ``index``; each case's ``meta`` names the item and display."""
        item = self.items[index]
        for tag, case in displays(self.protocol, item):
            case.meta = {"item": item.id, "display": tag}
            yield case

    def all_cases(self) -> list[Case[TextContext]]:
        """The cases of every item, in item order."""
        return [c for i in range(len(self.items)) for c in self.cases(i)]

    def context(self, problem: Problem, artifact: Artifact) -> TextContext:
        """The display ``artifact`` names (``ITEM/oOpP``), rebuilt from the item."""
        item_id, _, tag = artifact.id.rpartition("/")
        item = self._by_id.get(item_id)
        if item is None or len(tag) != 4 or tag[0] != "o" or tag[2] != "p":
            raise OversightError(f"artifact {artifact.id!r} names no display of these items")
        order, proposed = int(tag[1]), int(tag[3])
        shown = item.pair_orders()[order]
        case = text_episode(item, shown, text_positions(self.protocol, proposed), proposed, tag)
        return case.context


def annotate_quotes(case: Case[TextContext], transcript: Transcript) -> dict[str, object]:
    """Transcript meta for a played text case: every quote, verified against the source."""
    return {"quotes": quote_records(case.context, transcript.messages)}
