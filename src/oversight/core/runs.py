"""The run store: one folder per run with its resolved config, append-only transcripts,
metrics, checkpoints and report. Finished episodes are never lost or redone.

``config.yaml`` is the resolved config a run started with; ``run.json`` keeps a copy of it as
data, so a resume can refuse a config edited since (naming the keys). A transcript counts once
its line ends with a newline; ``oversight repair`` moves torn, corrupt and duplicated lines to
``transcripts.rejected.jsonl``.
"""

from __future__ import annotations

import json
import math
import os
import shutil
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

from oversight.core.errors import OversightError
from oversight.core.files import write_atomic
from oversight.core.jsonl import append_jsonl, finished_lines, parse_line, read_jsonl_lines
from oversight.core.records import Transcript

CONFIG = "config.yaml"
LOCK = "run.json"
TRANSCRIPTS = "transcripts.jsonl"
REJECTED = "transcripts.rejected.jsonl"
METRICS = "metrics.json"
REPORT = "report.html"


def new_run_dir(root: str | Path = "runs", name: str = "run") -> Path:
    """A fresh folder ``root/NAME-YYYYmmdd-HHMMSS[-n]``."""
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    base = Path(root) / f"{name}-{stamp}"
    path, n = base, 1
    while path.exists():
        n += 1
        path = base.with_name(f"{base.name}-{n}")
    return path


class RunStore:
    """Reads and writes one run folder."""

    def __init__(self, path: str | Path):
        self.path = Path(path)

    def create(self, config_yaml: str, resolved: Mapping[str, Any] | None = None) -> None:
        """Start the folder with its config (``resolved``: the same as data, kept to check
        resumes against)."""
        if self.path.exists() and not self.path.is_dir():
            raise OversightError(f"{self.path} is a file, not a run folder")
        if (self.path / CONFIG).exists():
            raise OversightError(
                f"{self.path} already holds a run; use --resume {self.path} to continue it"
            )
        self.path.mkdir(parents=True, exist_ok=True)
        if resolved is not None:
            write_atomic(self.path / LOCK, json.dumps({"config": resolved}, indent=1))
        write_atomic(self.path / CONFIG, config_yaml)

    def config_yaml(self) -> str:
        path = self.path / CONFIG
        if not path.is_file():
            raise OversightError(f"{self.path} is not a run folder (no {CONFIG})")
        try:
            return path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            raise OversightError(f"{path}: not UTF-8 text") from None

    def check_config(self, resolved: Mapping[str, Any]) -> None:
        """Refuse to resume with a config other than the one the run started with."""
        lock = self.path / LOCK
        if not lock.is_file():
            return  # a folder from before run.json: nothing to compare with
        try:
            started = json.loads(lock.read_text(encoding="utf-8"))["config"]
        except (ValueError, KeyError, TypeError):
            raise OversightError(f"{lock}: damaged; it should hold the run's config") from None
        changed = sorted(k for k in _differences(started, dict(resolved)) if k not in SESSION_KEYS)
        if changed:
            shown = ", ".join(changed[:8]) + (
                f" and {len(changed) - 8} more" if len(changed) > 8 else ""
            )
            raise OversightError(
                f"{self.path / CONFIG} differs from the config the run started with ({shown}); "
                f"restore it, or start a new run with the new config"
            )

    def transcripts(self) -> list[Transcript]:
        """Every finished transcript; a corrupt or duplicated line is refused with its line."""
        out: list[Transcript] = []
        seen: dict[str, int] = {}
        try:
            for line, t in read_jsonl_lines(self.path / TRANSCRIPTS, Transcript):
                if t.episode_id in seen:
                    raise OversightError(
                        f"{self.path / TRANSCRIPTS}:{line}: episode {t.episode_id!r} again "
                        f"(first on line {seen[t.episode_id]})"
                    )
                seen[t.episode_id] = line
                out.append(t)
        except OversightError as e:
            raise OversightError(
                f"{e}; `oversight repair {self.path}` moves bad lines aside"
            ) from None
        return out

    def done_ids(self) -> set[str]:
        return {t.episode_id for t in self.transcripts()}

    def append(self, transcripts: list[Transcript]) -> None:
        append_jsonl(self.path / TRANSCRIPTS, transcripts)

    def repair(self) -> tuple[int, int]:
        """Move torn, corrupt and duplicated transcript lines to ``transcripts.rejected.jsonl``
        and rewrite the rest in place; returns (kept, moved)."""
        path = self.path / TRANSCRIPTS
        if not path.is_file():
            return 0, 0
        lines, tail = finished_lines(path.read_bytes())
        kept: list[bytes] = []
        rejected: list[bytes] = []
        seen: set[str] = set()
        for i, line in lines:
            try:
                episode = parse_line(line, Transcript, f"{path}:{i}").episode_id
            except OversightError:
                episode = None
            if episode is None or episode in seen:
                rejected.append(line)
            else:
                seen.add(episode)
                kept.append(line)
        if tail.strip():  # after the last newline: a torn write
            rejected.append(tail)
        if rejected:
            with open(self.path / REJECTED, "ab") as f:
                f.write(b"".join(r + b"\n" for r in rejected))
                f.flush()
                os.fsync(f.fileno())
            write_atomic(path, b"".join(k + b"\n" for k in kept))
        return len(kept), len(rejected)

    def write_metrics(self, metrics: dict[str, Any]) -> Path:
        clean = {k: _json_number(v) for k, v in sorted(metrics.items())}
        return write_atomic(self.path / METRICS, json.dumps(clean, indent=1))

    def checkpoint(self, name: str) -> Path:
        folder = self.path / "checkpoints"
        folder.mkdir(exist_ok=True)
        return folder / name

    def discard_if_unstarted(self) -> bool:
        """Remove the folder if no work was saved in it yet (no transcript, no checkpoint): a
        start that failed early then leaves nothing that blocks the retry. True if removed."""
        if not self.path.is_dir():
            return False
        transcripts = self.path / TRANSCRIPTS
        checkpoints = self.path / "checkpoints"
        if transcripts.exists() and transcripts.stat().st_size:
            return False
        if checkpoints.is_dir() and any(checkpoints.iterdir()):
            return False
        shutil.rmtree(self.path)
        return True


SESSION_KEYS = frozenset({"cost_limit"})
"""Config keys that govern spending, not results: a resume may change them."""


def _differences(a: Any, b: Any, prefix: str = "") -> list[str]:
    """Dotted keys whose values differ between two nested mappings."""
    if isinstance(a, dict) and isinstance(b, dict):
        out = []
        for k in sorted(set(a) | set(b), key=str):
            key = f"{prefix}.{k}" if prefix else str(k)
            if k not in a or k not in b:
                out.append(key)
            else:
                out += _differences(a[k], b[k], key)
        return out
    return [] if a == b else [prefix or "config"]


def _json_number(v: Any) -> Any:
    """NaN and infinities are not JSON: they become null."""
    if isinstance(v, float) and not math.isfinite(v):
        return None
    return v
