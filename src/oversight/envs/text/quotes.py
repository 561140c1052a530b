"""Quotes from a hidden source: extraction, verification as character spans, and rendering.

Agents quote the source (which the judge never sees) inside ``<quote>...</quote>``. A quote is
**verified** when its text occurs in the source after whitespace normalisation: every run of
whitespace (spaces, tabs, newlines, any Unicode whitespace) becomes one space and both ends are
stripped, on the quote and on the source alike; matching is otherwise exact (case, punctuation
and ellipses count). A verified quote stores the character span ``[start, end)`` of its first
occurrence in the *original* source. An empty quote is never verified.

The judge sees each quote as ``<v_quote>...</v_quote>`` (verified) or ``<u_quote>...</u_quote>``
(unverified). Anything an agent writes that looks like that markup (opening or closing tags,
any case, with attributes or spaces) is escaped to ``&lt;...&gt;`` first, so an agent cannot
forge a verified quote; :func:`neutralize_markup` does the same for any tag names a caller
passes (e.g. a judge's answer tags).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import lru_cache

import numpy as np
from pydantic import BaseModel, ConfigDict

QUOTE_TAG = "quote"
VERIFIED_TAG = "v_quote"
UNVERIFIED_TAG = "u_quote"
JUDGE_TAGS = (VERIFIED_TAG, UNVERIFIED_TAG)

_QUOTE_RE = re.compile(rf"<{QUOTE_TAG}>(.*?)</{QUOTE_TAG}>", re.IGNORECASE | re.DOTALL)
_RENDERED_RE = re.compile(rf"<({VERIFIED_TAG}|{UNVERIFIED_TAG})>(.*?)</\1>", re.DOTALL)
_WS_RE = re.compile(r"\s+")
_WORD_RUN_RE = re.compile(r"\S+")


class Quote(BaseModel):
    """One quote an agent made. ``start``/``end`` (a half-open span in the original source)
    are set exactly when the quote is verified; ``at`` is the span of the whole
    ``<quote>...</quote>`` element in the agent's text."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    text: str
    start: int | None = None
    end: int | None = None
    at: tuple[int, int] = (0, 0)

    @property
    def verified(self) -> bool:
        return self.start is not None


def normalize_whitespace(text: str) -> str:
    """Collapse every whitespace run to one space and strip both ends."""
    return _WS_RE.sub(" ", text).strip()


class SourceIndex:
    """A source prepared for repeated quote look-ups (normalised once)."""

    def __init__(self, source: str):
        self.source = source
        chars: list[str] = []
        origin: list[int] = []  # normalised position -> original position
        for m in _WORD_RUN_RE.finditer(source):
            if chars:
                chars.append(" ")
                origin.append(m.start() - 1)  # the whitespace just before this run
            chars.append(m.group())
            origin.extend(range(m.start(), m.end()))
        self.normalized = "".join(chars)
        # A compact array: long sources (whole articles) stay cheap to keep cached.
        self._origin = np.asarray(origin, dtype=np.int64)

    def find(self, quote: str) -> tuple[int, int] | None:
        """The original-source span of the first occurrence of ``quote``, or ``None``."""
        needle = normalize_whitespace(quote)
        if not needle:
            return None
        pos = self.normalized.find(needle)
        if pos < 0:
            return None
        return int(self._origin[pos]), int(self._origin[pos + len(needle) - 1]) + 1


@lru_cache(maxsize=64)
def source_index(source: str) -> SourceIndex:
    """A shared :class:`SourceIndex` of ``source`` (recently used sources are cached)."""
    return SourceIndex(source)


def extract_quotes(text: str) -> list[tuple[str, tuple[int, int]]]:
    """The raw content of every ``<quote>...</quote>`` in ``text`` with the element's span.

    Tags match in any case; an unclosed ``<quote>`` is plain text."""
    return [(m.group(1), (m.start(), m.end())) for m in _QUOTE_RE.finditer(text)]


def verify_quotes(text: str, source: str | SourceIndex) -> list[Quote]:
    """Every quote in ``text``, verified against ``source`` (spans set when found)."""
    index = source if isinstance(source, SourceIndex) else SourceIndex(source)
    out = []
    for raw, at in extract_quotes(text):
        span = index.find(raw)
        start, end = span if span is not None else (None, None)
        out.append(Quote(text=raw, start=start, end=end, at=at))
    return out


@lru_cache(maxsize=64)
def _tag_patterns(tags: tuple[str, ...]) -> tuple[re.Pattern[str], re.Pattern[str]]:
    names = "|".join(re.escape(t) for t in tags)
    tag = re.compile(rf"<(\s*/?\s*(?:{names})\b[^<>]*)>", re.IGNORECASE)
    # A tag missing its ">" is escaped too: a later tag's ">" must not complete it.
    opener = re.compile(rf"<(?=\s*/?\s*(?:{names})\b)", re.IGNORECASE)
    return tag, opener


def neutralize_markup(text: str, tags: Iterable[str] = JUDGE_TAGS) -> str:
    """Escape anything in ``text`` that looks like an opening or closing tag named in ``tags``
    (case-insensitive, with optional spaces and attributes) as ``&lt;...&gt;``."""
    names = tuple(tags)
    if not names or "<" not in text:
        return text
    tag, opener = _tag_patterns(names)
    return opener.sub("&lt;", tag.sub(r"&lt;\1&gt;", text))


def render_for_judge(text: str, source: str | SourceIndex) -> str:
    """``text`` as the judge sees it: each quote wrapped as verified or unverified, and any
    judge-quote markup the agent wrote escaped (inside quotes too)."""
    index = source if isinstance(source, SourceIndex) else SourceIndex(source)
    parts: list[str] = []
    last = 0
    for q in verify_quotes(text, index):
        a, b = q.at
        parts.append(neutralize_markup(text[last:a]))
        tag = VERIFIED_TAG if q.verified else UNVERIFIED_TAG
        parts.append(f"<{tag}>{neutralize_markup(q.text)}</{tag}>")
        last = b
    parts.append(neutralize_markup(text[last:]))
    return "".join(parts)


def parse_rendered(text: str) -> list[tuple[str, bool]]:
    """The quotes of judge-facing text from :func:`render_for_judge`: (text, verified)."""
    return [(m.group(2), m.group(1) == VERIFIED_TAG) for m in _RENDERED_RE.finditer(text)]
