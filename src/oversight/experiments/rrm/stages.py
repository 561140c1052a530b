"""Checkpointed stages: each stage of a seed's run is computed once and saved as it finishes,
so a killed run resumes from the stages it has, without redoing any.

torch is imported at module level (checkpoints hold state dicts): import this module lazily.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

Blob = dict[str, Any]
"""What a stage saves: state dicts, tensors and plain data (lists, numbers, strings)."""


class Stages:
    """The checkpoints of one seed, one file per stage in ``folder`` (created if missing)."""

    def __init__(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.folder = folder

    def has(self, name: str) -> bool:
        """Whether stage ``name`` is saved."""
        return (self.folder / f"{name}.pt").exists()

    def stage(self, name: str, compute: Callable[[], Blob]) -> Blob:
        """The saved blob of stage ``name`` if it has one; else ``compute()``, saved first.

        Saved atomically (a temporary file, then renamed), so a run killed while saving leaves
        either the whole checkpoint or none.
        """
        path = self.folder / f"{name}.pt"
        if path.exists():
            return torch.load(path, weights_only=True)
        blob = compute()
        tmp = path.with_suffix(".tmp")
        torch.save(blob, tmp)
        os.replace(tmp, path)
        return blob
