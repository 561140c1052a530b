"""The typed core: records, the run folder, seeding, budgets, errors and the strict config
base. Nothing here imports torch, an LLM client or a web framework."""

from __future__ import annotations

from oversight.core.budget import Meter
from oversight.core.config import Strict
from oversight.core.errors import BudgetExceeded, OversightError
from oversight.core.jsonl import append_jsonl, read_jsonl
from oversight.core.records import (
    SCHEMA_VERSION,
    Artifact,
    Check,
    Claim,
    Gold,
    Message,
    Problem,
    Record,
    Transcript,
    Verdict,
)
from oversight.core.runs import RunStore, new_run_dir
from oversight.core.seeding import derive_seed, rng

__all__ = [
    "SCHEMA_VERSION",
    "Artifact",
    "BudgetExceeded",
    "Check",
    "Claim",
    "Gold",
    "Message",
    "Meter",
    "OversightError",
    "Problem",
    "Record",
    "RunStore",
    "Strict",
    "Transcript",
    "Verdict",
    "append_jsonl",
    "derive_seed",
    "new_run_dir",
    "read_jsonl",
    "rng",
]
