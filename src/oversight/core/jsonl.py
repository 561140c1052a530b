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
    """Read records; a truncated final line (from a crash mid-write) is skipped."""
    path = Path(path)
    if not path.exists():
        return
    with open(path, encoding="utf-8") as f:
        lines = f.readlines()
    for i, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError:
            if i == len(lines) and not line.endswith("\n"):
                return  # torn last write
            raise OversightError(f"{path}:{i}: not valid JSON") from None
        version = obj.get("schema_version", SCHEMA_VERSION)
        if version != SCHEMA_VERSION:
            raise OversightError(
                f"{path}:{i}: schema_version {version}, this oversight reads {SCHEMA_VERSION}"
            )
        try:
            yield model.model_validate(obj)
        except ValidationError as e:
            raise OversightError(f"{path}:{i}: {e}") from None
