"""The transcript viewer's index of one run folder, so a page reads only its own rows.

The first open of a run scans ``transcripts.jsonl`` once and stores, per transcript, its byte
offset and length in the file plus the columns the viewer filters and lists on, in a SQLite file
inside the run folder (:data:`INDEX_NAME`). The text agents wrote (message and claim texts and the
artifact's content) goes into a search table: FTS5 with the trigram tokenizer when this SQLite has
it (substring search served from the index), else a plain table that is scanned.

The index remembers the size and modification time of ``transcripts.jsonl``. A resumed run only
appends, so when the file grew the index reads just the new tail; when it shrank or its beginning
changed, the index is rebuilt from scratch (into a temporary file, swapped in atomically).

Outcomes are defined once, from ``Transcript.gold.label`` and ``Transcript.verdict.accept``, by
:func:`outcome`; :data:`OUTCOME_FILTERS` names the filters the viewer offers over them.
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from oversight.core.errors import OversightError
from oversight.core.records import SCHEMA_VERSION, Transcript

TRANSCRIPTS = "transcripts.jsonl"
INDEX_NAME = "viewer-index.sqlite"
INDEX_VERSION = 2  # bump when the tables change: an older index is then rebuilt
HEAD_BYTES = 4096  # the file's first bytes, hashed to notice a rewritten (not appended) file
BATCH = 500  # transcripts inserted per executemany

OUTCOMES: dict[str, str] = {
    "caught": "flawed artifact rejected",
    "missed": "flawed artifact accepted",
    "false_alarm": "good artifact rejected",
    "accepted_good": "good artifact accepted",
}
"""Every outcome a scored transcript (one with a verdict and a gold record) has, described."""

OUTCOME_FILTERS: dict[str, frozenset[str]] = {
    "caught": frozenset({"caught"}),
    "missed": frozenset({"missed"}),
    "false_alarm": frozenset({"false_alarm"}),
    "judge_wrong": frozenset({"missed", "false_alarm"}),
    "judge_right": frozenset({"caught", "accepted_good"}),
}
"""The viewer's outcome filters: each is a set of outcomes. ``judge_wrong`` is every scored
transcript whose verdict differs from the gold label."""


def outcome(t: Transcript) -> str | None:
    """The transcript's outcome (a key of :data:`OUTCOMES`), or None when it has no verdict or
    no gold record. Flawed means ``gold.label`` is False; rejected means ``verdict.accept`` is
    False."""
    if t.verdict is None or t.gold is None:
        return None
    if t.gold.label:
        return "accepted_good" if t.verdict.accept else "false_alarm"
    return "missed" if t.verdict.accept else "caught"


def agent_text(t: Transcript) -> str:
    """What agents wrote in a transcript, as searched: every message's text, every claim's text,
    and the artifact's content."""
    parts = [t.artifact.content]
    for m in t.messages:
        parts.append(m.text)
        if m.claim is not None and m.claim.text != m.text:
            parts.append(m.claim.text)
    return "\n".join(p for p in parts if p)


@dataclass(frozen=True)
class Filters:
    """What a page of the run view shows: all filters are optional and combine with AND.

    ``text`` is split on whitespace; every term must occur in the agents' text
    (case-insensitive substring)."""

    outcome: str | None = None
    arm: str | None = None
    protocol: str | None = None
    text: str = ""

    def __post_init__(self) -> None:
        if self.outcome is not None and self.outcome not in OUTCOME_FILTERS:
            raise OversightError(
                f"outcome {self.outcome!r} is not one of {', '.join(OUTCOME_FILTERS)}"
            )


@dataclass(frozen=True)
class Row:
    """One transcript's index entry: what the run view lists without reading the JSONL file."""

    offset: int
    length: int
    episode_id: str
    arm: str
    protocol: str
    problem_id: str
    gold_kind: str | None
    label: bool | None
    accept: bool | None
    outcome: str | None
    rule: str | None
    spent: int | None
    budget: int | None
    n_checks: int
    suspicion: float | None


_COLUMNS = [f for f in Row.__dataclass_fields__]
_BOOLS = {"label", "accept"}


@dataclass(frozen=True)
class Freshness:
    """What :meth:`RunIndex.ensure` did: ``fresh`` (nothing), ``built`` or ``appended``."""

    action: str
    added: int
    seconds: float


@cache
def fts5_available() -> bool:
    """Whether this SQLite has FTS5 with the trigram tokenizer (SQLite 3.34 and later)."""
    try:
        with sqlite3.connect(":memory:") as con:
            con.execute("CREATE VIRTUAL TABLE t USING fts5(body, tokenize='trigram')")
    except sqlite3.OperationalError:
        return False
    return True


_locks: dict[Path, threading.Lock] = {}
_locks_guard = threading.Lock()


def _lock_for(path: Path) -> threading.Lock:
    """One lock per index file, so concurrent requests in this process build it once."""
    with _locks_guard:
        return _locks.setdefault(path, threading.Lock())


class RunIndex:
    """The viewer's index of one run folder (see the module docstring).

    ``fts`` chooses the search table: None or True use FTS5 when this SQLite has it, False
    forces the scanned plain table (what an SQLite without FTS5 gets anyway)."""

    def __init__(self, run_dir: str | Path, fts: bool | None = None):
        self.run_dir = Path(run_dir)
        self.source = self.run_dir / TRANSCRIPTS
        self.path = self.run_dir / INDEX_NAME
        self.fts = fts5_available() if fts is None else fts and fts5_available()

    # -- building ----------------------------------------------------------------------------

    def ensure(self) -> Freshness:
        """Bring the index up to date with ``transcripts.jsonl`` (see the module docstring)."""
        t0 = time.perf_counter()
        with _lock_for(self.path.resolve()):
            size, mtime = self._stat()
            meta = self._meta()
            if meta is not None and (meta["size"], meta["mtime_ns"]) == (size, mtime):
                return Freshness("fresh", 0, time.perf_counter() - t0)
            if meta is not None and self._appended_since(meta, size):
                added = self._append(int(meta["indexed_bytes"]), size, mtime)
                return Freshness("appended", added, time.perf_counter() - t0)
            added = self._build(size, mtime)
            return Freshness("built", added, time.perf_counter() - t0)

    def _stat(self) -> tuple[int, int]:
        if not self.source.exists():
            return 0, 0
        st = self.source.stat()
        return st.st_size, st.st_mtime_ns

    def _meta(self) -> dict[str, int | str] | None:
        if not self.path.exists():
            return None
        try:
            with _connection(self.path) as con:
                meta = dict(con.execute("SELECT key, value FROM meta").fetchall())
        except sqlite3.DatabaseError:
            return None  # unreadable or from another layout: rebuilt
        wanted = {"version", "size", "mtime_ns", "indexed_bytes", "head", "search"}
        if not wanted <= meta.keys() or meta["version"] != INDEX_VERSION:
            return None
        if meta["search"] != ("fts5" if self.fts else "scan"):
            return None
        return meta

    def _head(self, upto: int) -> str:
        with open(self.source, "rb") as f:
            return hashlib.sha256(f.read(min(upto, HEAD_BYTES))).hexdigest()

    def _appended_since(self, meta: dict[str, int | str], size: int) -> bool:
        """True when the file still starts as indexed and only grew after the indexed part."""
        done = int(meta["indexed_bytes"])
        if size < done or not self.source.exists():
            return False
        if done == 0:
            return True
        with open(self.source, "rb") as f:
            f.seek(done - 1)
            if f.read(1) != b"\n":
                return False
        return self._head(done) == meta["head"]

    def _build(self, size: int, mtime: int) -> int:
        tmp = self.path.with_name(f"{INDEX_NAME}.tmp-{os.getpid()}-{threading.get_ident()}")
        tmp.unlink(missing_ok=True)
        try:
            with _connection(tmp) as con:
                con.execute("PRAGMA synchronous=OFF")  # a crash leaves only the temporary file
                self._create_tables(con)
                added, end = self._insert(con, 0)
                self._write_meta(con, size, mtime, end)
            os.replace(tmp, self.path)
        finally:
            tmp.unlink(missing_ok=True)
        return added

    def _append(self, start: int, size: int, mtime: int) -> int:
        with _connection(self.path) as con:
            # Take the write lock, then check no other process indexed this tail meanwhile.
            con.execute("BEGIN IMMEDIATE")
            row = con.execute("SELECT value FROM meta WHERE key = 'indexed_bytes'").fetchone()
            if row is None or row[0] != start:
                return 0
            added, end = self._insert(con, start)
            self._write_meta(con, size, mtime, end)
        return added

    def _create_tables(self, con: sqlite3.Connection) -> None:
        con.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value) WITHOUT ROWID")
        con.execute(
            "CREATE TABLE transcripts (offset INTEGER PRIMARY KEY, length INTEGER NOT NULL,"
            " episode_id TEXT NOT NULL, arm TEXT NOT NULL, protocol TEXT NOT NULL,"
            " problem_id TEXT NOT NULL, gold_kind TEXT, label INTEGER, accept INTEGER,"
            " outcome TEXT, rule TEXT, spent INTEGER, budget INTEGER, n_checks INTEGER NOT NULL,"
            " suspicion REAL)"
        )
        for column in ("episode_id", "arm", "protocol", "outcome"):
            con.execute(f"CREATE INDEX by_{column} ON transcripts ({column})")
        con.execute("CREATE TABLE skipped (offset INTEGER PRIMARY KEY, reason TEXT NOT NULL)")
        if self.fts:
            con.execute("CREATE VIRTUAL TABLE texts USING fts5(body, tokenize='trigram')")
        else:
            con.execute("CREATE TABLE texts (rowid INTEGER PRIMARY KEY, body TEXT NOT NULL)")

    def _write_meta(self, con: sqlite3.Connection, size: int, mtime: int, end: int) -> None:
        head = self._head(end) if end else ""
        meta = {
            "version": INDEX_VERSION,
            "size": size,
            "mtime_ns": mtime,
            "indexed_bytes": end,
            "head": head,
            "search": "fts5" if self.fts else "scan",
        }
        con.executemany("INSERT OR REPLACE INTO meta VALUES (?, ?)", meta.items())

    def _lines(self, start: int) -> Iterator[tuple[int, bytes]]:
        """Complete lines from byte ``start``, with their offsets; a torn last line (a crash
        mid-append) is left for a later open, when the writer will have cut or finished it."""
        if not self.source.exists():
            return
        with open(self.source, "rb") as f:
            f.seek(start)
            offset = start
            for line in f:
                if not line.endswith(b"\n"):
                    return
                if line.strip():
                    yield offset, line
                offset += len(line)

    def _insert(self, con: sqlite3.Connection, start: int) -> tuple[int, int]:
        """Index every complete line from ``start``; returns (transcripts added, end offset)."""
        rows: list[tuple[Any, ...]] = []
        texts: list[tuple[int, str]] = []
        added, end = 0, start
        for offset, line in self._lines(start):
            end = offset + len(line)
            try:
                t = self._parse(line, offset)
            except OversightError as e:  # shown on the run's page; the other lines stay readable
                con.execute("INSERT INTO skipped VALUES (?, ?)", (offset, str(e)))
                continue
            rows.append(_row(t, offset, len(line)))
            body = agent_text(t)
            texts.append((offset, body if self.fts else body.lower()))
            end = offset + len(line)
            if len(rows) >= BATCH:
                added += self._flush(con, rows, texts)
        added += self._flush(con, rows, texts)
        return added, end

    def _flush(
        self, con: sqlite3.Connection, rows: list[tuple[Any, ...]], texts: list[tuple[int, str]]
    ) -> int:
        marks = ", ".join("?" * len(_COLUMNS))
        con.executemany(f"INSERT INTO transcripts VALUES ({marks})", rows)
        con.executemany("INSERT INTO texts (rowid, body) VALUES (?, ?)", texts)
        added = len(rows)
        rows.clear()
        texts.clear()
        return added

    def _parse(self, line: bytes, offset: int) -> Transcript:
        try:
            t = Transcript.model_validate_json(line)
        except ValidationError as e:
            # The reason without the line's text: the file may not be what it claims to be.
            first = e.errors(include_input=False, include_url=False)[0]
            where = ".".join(str(p) for p in first["loc"]) or "the line"
            raise OversightError(
                f"{TRANSCRIPTS}, line at byte {offset}: not a transcript "
                f"({e.error_count()} errors; {where}: {first['msg']})"
            ) from None
        if t.schema_version != SCHEMA_VERSION:
            raise OversightError(
                f"{TRANSCRIPTS}, line at byte {offset}: schema_version {t.schema_version}, "
                f"this oversight reads {SCHEMA_VERSION}"
            )
        return t

    # -- reading -----------------------------------------------------------------------------

    def _where(self, filters: Filters, skip_outcome: bool = False) -> tuple[str, list[Any]]:
        conds: list[str] = []
        args: list[Any] = []
        if filters.outcome is not None and not skip_outcome:
            wanted = sorted(OUTCOME_FILTERS[filters.outcome])
            conds.append(f"outcome IN ({', '.join('?' * len(wanted))})")
            args += wanted
        for column in ("arm", "protocol"):
            value = getattr(filters, column)
            if value is not None:
                conds.append(f"{column} = ?")
                args.append(value)
        search, search_args = self._search(filters.text)
        if search:
            conds.append(f"offset IN (SELECT rowid FROM texts WHERE {search})")
            args += search_args
        return (" WHERE " + " AND ".join(conds)) if conds else "", args

    def _search(self, text: str) -> tuple[str, list[Any]]:
        """Every term must occur: trigram FTS5 answers terms of three or more characters from
        the index; shorter terms, and every term without FTS5, scan the bodies."""
        terms = text.split()
        conds: list[str] = []
        args: list[Any] = []
        if self.fts:
            long = [t for t in terms if len(t) >= 3]
            if long:
                conds.append("texts MATCH ?")
                args.append(" ".join('"' + t.replace('"', '""') + '"' for t in long))
            terms = [t for t in terms if len(t) < 3]
            body = "lower(body)"
        else:
            body = "body"  # stored lower-cased
        for term in terms:
            conds.append(f"instr({body}, ?) > 0")
            args.append(term.lower())
        return " AND ".join(conds), args

    def skipped(self) -> list[tuple[int, str]]:
        """Lines that are not transcripts: (byte offset, why), in file order."""
        with _connection(self.path) as con:
            return con.execute("SELECT offset, reason FROM skipped ORDER BY offset").fetchall()

    def count(self, filters: Filters | None = None) -> int:
        """How many transcripts match."""
        where, args = self._where(filters or Filters())
        with _connection(self.path) as con:
            (n,) = con.execute(f"SELECT COUNT(*) FROM transcripts{where}", args).fetchone()
        return n

    def outcome_counts(self, filters: Filters | None = None) -> dict[str, int]:
        """Per outcome filter, how many transcripts match ``filters`` with that outcome filter
        in place of its own."""
        where, args = self._where(filters or Filters(), skip_outcome=True)
        with _connection(self.path) as con:
            sql = f"SELECT outcome, COUNT(*) FROM transcripts{where} GROUP BY outcome"
            per = dict(con.execute(sql, args).fetchall())
        return {
            name: sum(per.get(o, 0) for o in wanted) for name, wanted in OUTCOME_FILTERS.items()
        }

    def page(self, filters: Filters, page: int, size: int) -> list[Row]:
        """Page ``page`` (1-based) of ``size`` matching rows, in file order."""
        if page < 1 or size < 1:
            raise OversightError(f"page and size must be at least 1, not {page} and {size}")
        where, args = self._where(filters)
        sql = (
            f"SELECT {', '.join(_COLUMNS)} FROM transcripts{where} ORDER BY offset LIMIT ? OFFSET ?"
        )
        with _connection(self.path) as con:
            rows = con.execute(sql, [*args, size, (page - 1) * size]).fetchall()
        return [_from_sql(r) for r in rows]

    def values(self, column: str) -> list[str]:
        """The distinct values of ``arm`` or ``protocol``, sorted."""
        if column not in ("arm", "protocol"):
            raise OversightError(f"values() takes arm or protocol, not {column!r}")
        with _connection(self.path) as con:
            out = [v for (v,) in con.execute(f"SELECT DISTINCT {column} FROM transcripts")]
        return sorted(out)

    def find(self, episode_id: str) -> Row | None:
        """The index entry of one episode, or None."""
        with _connection(self.path) as con:
            sql = f"SELECT {', '.join(_COLUMNS)} FROM transcripts WHERE episode_id = ?"
            r = con.execute(f"{sql} ORDER BY offset LIMIT 1", (episode_id,)).fetchone()
        return None if r is None else _from_sql(r)

    def read(self, row: Row) -> Transcript:
        """The transcript an entry points at, read from its offset alone."""
        with open(self.source, "rb") as f:
            f.seek(row.offset)
            return self._parse(f.read(row.length), row.offset)


@contextmanager
def _connection(path: Path) -> Iterator[sqlite3.Connection]:
    """A connection that commits on success, rolls back on error, and is always closed."""
    con = sqlite3.connect(path)
    try:
        with con:
            yield con
    finally:
        con.close()


def _row(t: Transcript, offset: int, length: int) -> tuple[Any, ...]:
    suspicions = [c.suspicion for c in t.claims]
    v, g = t.verdict, t.gold
    return (
        offset,
        length,
        t.episode_id,
        t.arm,
        t.protocol,
        t.problem.id,
        g.kind if g else None,
        g.label if g else None,
        v.accept if v else None,
        outcome(t),
        v.rule if v else None,
        v.spent if v else None,
        v.budget if v else None,
        len(t.checks),
        max(suspicions) if suspicions else None,
    )


def _from_sql(r: tuple[Any, ...]) -> Row:
    values: dict[str, Any] = {
        c: (bool(x) if c in _BOOLS and x is not None else x)
        for c, x in zip(_COLUMNS, r, strict=True)
    }
    return Row(**values)
