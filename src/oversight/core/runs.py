"""The run store: one folder per run with its resolved config, append-only transcripts,
metrics, checkpoints and report. Finished episodes are never lost or redone."""

from __future__ import annotations

import json
import math
from datetime import datetime
from pathlib import Path
from typing import Any

from oversight.core.errors import OversightError
from oversight.core.jsonl import append_jsonl, read_jsonl
from oversight.core.records import Transcript

CONFIG = "config.yaml"
TRANSCRIPTS = "transcripts.jsonl"
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

    def create(self, config_yaml: str) -> None:
        if (self.path / CONFIG).exists():
            raise OversightError(
                f"{self.path} already holds a run; use --resume {self.path} to continue it"
            )
        self.path.mkdir(parents=True, exist_ok=True)
        (self.path / CONFIG).write_text(config_yaml)

    def config_yaml(self) -> str:
        path = self.path / CONFIG
        if not path.exists():
            raise OversightError(f"{self.path} is not a run folder (no {CONFIG})")
        return path.read_text()

    def transcripts(self) -> list[Transcript]:
        return list(read_jsonl(self.path / TRANSCRIPTS, Transcript))

    def done_ids(self) -> set[str]:
        return {t.episode_id for t in self.transcripts()}

    def append(self, transcripts: list[Transcript]) -> None:
        append_jsonl(self.path / TRANSCRIPTS, transcripts)

    def write_metrics(self, metrics: dict[str, Any]) -> Path:
        clean = {k: _json_number(v) for k, v in sorted(metrics.items())}
        path = self.path / METRICS
        path.write_text(json.dumps(clean, indent=1))
        return path

    def checkpoint(self, name: str) -> Path:
        folder = self.path / "checkpoints"
        folder.mkdir(exist_ok=True)
        return folder / name


def _json_number(v: Any) -> Any:
    """NaN and infinities are not JSON: they become null."""
    if isinstance(v, float) and not math.isfinite(v):
        return None
    return v
