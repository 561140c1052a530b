"""Files that are whole or absent: atomic writes, and checkpoints that fail in one clear line."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from oversight.core.errors import OversightError

T = TypeVar("T")


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """A temporary path beside ``path`` to write to; on success it replaces ``path`` in one
    step (a crash leaves the old file or none, never a torn one). Parent folders are made."""
    final = Path(path)
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = final.with_name(f".{final.name}.tmp")
    try:
        yield tmp
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp, final)
    finally:
        tmp.unlink(missing_ok=True)


def write_atomic(path: str | Path, data: str | bytes) -> Path:
    """Write ``data`` (text as UTF-8) to ``path`` atomically; return the path."""
    with atomic_path(path) as tmp:
        if isinstance(data, str):
            tmp.write_text(data, encoding="utf-8")
        else:
            tmp.write_bytes(data)
    return Path(path)


def read_checkpoint(path: str | Path, load: Callable[[Path], T], what: str) -> T:
    """``load(path)``, with any failure to read it (missing, empty, truncated, not the format)
    turned into one :class:`OversightError` naming the file."""
    path = Path(path)
    if not path.is_file():
        raise OversightError(f"{path}: no {what} checkpoint there")
    try:
        return load(path)
    except OversightError:
        raise
    except Exception as e:  # torch and pickle raise many kinds for a damaged file
        reason: Any = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise OversightError(
            f"{path}: unreadable {what} checkpoint ({reason}); delete it to rebuild it"
        ) from None
