"""The fuzzers in benchmarks/ at a small size: bad programs, configs and CLI calls give the
toolkit's own errors only (the full sizes run from the command line)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


@pytest.mark.parametrize(
    ("script", "args"),
    [
        ("fuzz_dsl.py", ["--n", "3000", "--seed", "5"]),
        ("fuzz_cli.py", ["--configs", "300", "--calls", "80", "--seed", "5"]),
    ],
)
def test_fuzzers_find_nothing_foreign(script: str, args: list[str]):
    done = subprocess.run(
        [sys.executable, str(BENCHMARKS / script), *args], capture_output=True, text=True
    )
    last = done.stdout.strip().splitlines()[-1]
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert " 0 foreign exceptions" in last
