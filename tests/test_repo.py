"""Repository-level checks: lint, types, the example script, the README's set-up commands."""

import runpy
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_ruff_is_clean():
    ruff = shutil.which("ruff") or f"{sys.executable} -m ruff"
    for args in (["check"], ["format", "--check"]):
        result = subprocess.run(
            [*ruff.split(), *args, "src", "tests", "benchmarks", "examples"],
            cwd=ROOT,
            capture_output=True,
            text=True,
        )
        assert result.returncode == 0, result.stdout + result.stderr


def test_mypy_is_clean():
    # Files, plugins and strictness come from [tool.mypy] in pyproject.toml; the incremental
    # cache (.mypy_cache) makes a repeated run take seconds.
    result = subprocess.run(
        [sys.executable, "-m", "mypy"], cwd=ROOT, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_example_runs(capsys):
    runpy.run_path(str(ROOT / "examples" / "compose.py"), run_name="__main__")
    out = capsys.readouterr().out
    assert "critique: caught" in out and "direct: caught" in out


def test_readme_and_ci_agree():
    readme = (ROOT / "README.md").read_text().splitlines()
    commands = [line.strip() for line in readme[:6] if "pip install" in line]
    assert len(commands) == 2 and commands[0].endswith("oversight run")
    assert "torch==2.13.0" in (ROOT / "pyproject.toml").read_text()
    ci_lines = (ROOT / ".ci" / "run").read_text().splitlines()
    assert commands[1] in ci_lines  # CI runs the README's test command verbatim
