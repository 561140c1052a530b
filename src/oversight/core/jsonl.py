"""Append-only JSONL storage for records, with a schema-version check on read."""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TypeVar

from pydantic import BaseModel, ValidationError

from oversight.core.errors import OversightError
from oversight.core.records import SCHEMA_VERSION

R = TypeVar("R", bound=BaseModel)


def append_jsonl(path: str | Path, records: Iterable[BaseModel]) -> int:
    """Append records, one JSON object per line, and flush them to disk before returning.

    Each call writes whole lines and fsyncs, so a crash can lose at most a half-written last
    line, which :func:`read_jsonl` skips."""
    lines = [r.model_dump_json() + "\n" for r in records]
    if not lines:
        return 0
    _drop_torn_tail(Path(path))
    with open(path, "a", encoding="utf-8") as f:
        f.write("".join(lines))
        f.flush()
        os.fsync(f.fileno())
    return len(lines)


def _drop_torn_tail(path: Path) -> None:
    """Cut a half-written last line (left by a crash) so the next append starts clean."""
    if not path.exists() or path.stat().st_size == 0:
        return
    with open(path, "rb+") as f:
        f.seek(-1, os.SEEK_END)
        if f.read(1) == b"\n":
            return
        f.seek(0)
        data = f.read()
        f.truncate(data.rfind(b"\n") + 1)


def read_jsonl(path: str | Path, model: type[R]) -> Iterator[R]:
    """Read records. A record counts only once its line ends with a newline: a last line
    without one (a write cut short) is skipped, and the next append cuts it. A line that is not
    a JSON object of ``model`` is refused with its line number."""
    for _, record in read_jsonl_lines(path, model):
        yield record


def read_jsonl_lines(path: str | Path, model: type[R]) -> Iterator[tuple[int, R]]:
    """(line number, record) for every finished line of ``path``; see :func:`read_jsonl`."""
    path = Path(path)
    if not path.exists():
        return
    lines, _ = finished_lines(path.read_bytes())
    for i, raw in lines:
        yield i, parse_line(raw, model, f"{path}:{i}")


def finished_lines(data: bytes) -> tuple[list[tuple[int, bytes]], bytes]:
    """The non-blank lines of ``data`` that end with a newline, numbered from 1, and what
    follows the last newline: nothing, or a torn write (never a finished record)."""
    *lines, tail = data.split(b"\n")
    return [(i, raw) for i, raw in enumerate(lines, start=1) if raw.strip()], tail


def parse_line(raw: bytes, model: type[R], where: str) -> R:
    """One JSONL line as a ``model`` record; :class:`OversightError` naming ``where`` if not."""
    try:
        obj = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise OversightError(f"{where}: not valid JSON") from None
    if not isinstance(obj, dict):
        raise OversightError(f"{where}: a {type(obj).__name__}, not a JSON object")
    version = obj.get("schema_version", SCHEMA_VERSION)
    if version != SCHEMA_VERSION:
        raise OversightError(
            f"{where}: schema_version {version!r}, this oversight reads {SCHEMA_VERSION}"
        )
    try:
        return model.model_validate(obj)
    except ValidationError as e:
        first = e.errors()[0]
        field = ".".join(str(x) for x in first["loc"]) or "record"
        raise OversightError(f"{where}: {field}: {first['msg']}") from None
