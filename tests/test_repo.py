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
    # the exact torch build lives in the constraints both commands use, not in the extras
    assert all("-c constraints.txt" in c for c in commands)
    assert "torch==2.13.0" in (ROOT / "constraints.txt").read_text().splitlines()
    assert "torch==" not in (ROOT / "pyproject.toml").read_text()
    ci_lines = (ROOT / ".ci" / "run").read_text().splitlines()
    assert commands[1] in ci_lines  # CI runs the README's test command verbatim


def _package_names() -> list[str]:
    src = ROOT / "src"
    return sorted(
        ".".join(p.parent.relative_to(src).parts) for p in (src / "oversight").rglob("__init__.py")
    )


def test_example_uses_only_public_imports():
    import ast

    packages = set(_package_names())
    tree = ast.parse((ROOT / "examples" / "compose.py").read_text())
    modules = [n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module]
    deep = [m for m in modules if m.startswith("oversight") and m not in packages]
    assert modules and not deep, f"examples/compose.py imports below a package's face: {deep}"


def test_public_names_resolve_and_package_faces_stay_light():
    """Every name in a package's ``__all__`` resolves (torch-needing ones lazily), and importing
    every package face (web and experiments aside) loads no torch."""
    faces = [p for p in _package_names() if not p.startswith(("oversight.web", "oversight.exp"))]
    code = (
        "import importlib, sys\n"
        f"faces = {faces!r}\n"
        "mods = [importlib.import_module(f) for f in faces]\n"
        "assert 'torch' not in sys.modules, 'a package face imported torch'\n"
        "for m in mods:\n"
        "    for name in getattr(m, '__all__', []):\n"
        "        getattr(m, name)\n"
        "print(sum(len(getattr(m, '__all__', [])) for m in mods))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert int(out.stdout) > 100
