"""Reading comprehension with a hidden source: items, quotes verified as spans, generated
stories, loaders (QuALITY, GPQA, JSONL) and :class:`TextEnv` (every display a protocol needs)."""

from __future__ import annotations

from oversight.envs.text.env import (
    TEXT_PROTOCOLS,
    TextEnv,
    annotate_quotes,
    displays,
    text_positions,
)
from oversight.envs.text.loaders import load_items
from oversight.envs.text.quotes import Quote, verify_quotes
from oversight.envs.text.records import (
    TextContext,
    TextItem,
    judge_view,
    text_episode,
)
from oversight.envs.text.stories import StoryConfig, generate_stories

__all__ = [
    "TEXT_PROTOCOLS",
    "Quote",
    "StoryConfig",
    "TextContext",
    "TextEnv",
    "TextItem",
    "annotate_quotes",
    "displays",
    "generate_stories",
    "judge_view",
    "load_items",
    "text_episode",
    "text_positions",
    "verify_quotes",
]
