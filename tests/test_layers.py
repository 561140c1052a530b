"""Dependencies point one way. Every import of ``oversight`` code, inside functions too, goes to
a lower layer or within its own package, modules import each other without cycles, and an
experiment never imports another experiment.

The order (lowest first; a layer may import any layer ranked below it)::

    core < envs, metrics, models, prompts, report < protocols < judges < learning < agents
         < experiments < web < cli

Layers on one rank never import each other. ``cli`` sits above ``web`` (rather than beside it,
as first drafted) because ``oversight serve`` starts the web app.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "oversight"
RANK = {
    "core": 0,
    "envs": 1,
    "metrics": 1,
    "models": 1,
    "prompts": 1,
    "report": 1,
    "protocols": 2,
    "judges": 3,
    "learning": 4,
    "agents": 5,
    "experiments": 6,
    "web": 7,
    "cli": 8,
}
SHARED_EXPERIMENT_MODULES = {
    "config",
    "inspect_log",
    "inspect_tasks",
    "registry",
    "progress",
    "skeleton",
    "sweep",
    "tournaments",
}


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path, module: str | None = None) -> list[tuple[int, str]]:
    """(line, module) for every ``oversight`` import in ``path`` (named ``module``), relative
    ones resolved; imports inside functions count."""
    out = []
    package = (module or _module_name(path)).split(".")
    if path.name != "__init__.py":
        package = package[:-1]
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                root = package[: len(package) - node.level + 1]
                base = ".".join([*root, base] if base else root)
            out.append((node.lineno, base))
            # ``from pkg import module`` imports the module
            out += [(node.lineno, f"{base}.{a.name}") for a in node.names]
    return [(line, m) for line, m in out if m == "oversight" or m.startswith("oversight.")]


def _graph() -> dict[str, list[tuple[int, str]]]:
    modules = {_module_name(p): p for p in PACKAGE.rglob("*.py")}
    graph: dict[str, list[tuple[int, str]]] = defaultdict(list)
    for name, path in modules.items():
        for line, target in _imports(path):
            while target not in modules and "." in target:
                target = target.rsplit(".", 1)[0]  # a name imported from a module
            if target in modules and target != name:
                graph[name].append((line, target))
    return graph


def _layer(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else None


def test_layers_import_downwards_only():
    bad = []
    for source, targets in _graph().items():
        here = _layer(source)
        if here is None:  # the package root re-exports the public API
            continue
        for line, target in targets:
            there = _layer(target)
            if there is None or there == here:
                continue
            if RANK[there] >= RANK[here]:
                bad.append(f"{source}:{line} imports {target} ({here} -> {there})")
    assert not bad, "imports against the layer order:\n" + "\n".join(sorted(bad))


def test_no_import_cycles():
    graph = {s: {t for _, t in ts} for s, ts in _graph().items()}
    # a package's __init__ re-exports its modules: edges from a package to its own children
    # are the public face, not a dependency of the children on each other
    graph = {s: {t for t in ts if not t.startswith(s + ".")} for s, ts in graph.items()}
    cycles = []
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                cycles.append(" -> ".join([*stack[stack.index(nxt) :], nxt]))
            elif nxt not in state:
                visit(nxt)
        stack.pop()
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node)
    assert not cycles, "import cycles:\n" + "\n".join(cycles)


def test_experiments_do_not_import_each_other():
    bad = []
    for source, targets in _graph().items():
        parts = source.split(".")
        if len(parts) < 3 or parts[1] != "experiments":
            continue
        for line, target in targets:
            other = target.split(".")
            if (
                len(other) > 2
                and other[1] == "experiments"
                and other[2] != parts[2]
                and other[2] not in SHARED_EXPERIMENT_MODULES
                and parts[2] not in SHARED_EXPERIMENT_MODULES
            ):
                bad.append(f"{source}:{line} imports {target}")
    assert not bad, "experiments importing each other:\n" + "\n".join(sorted(set(bad)))


def test_the_checker_sees_function_level_and_relative_imports(tmp_path: Path):
    module = tmp_path / "m.py"
    module.write_text(
        "def f():\n    from oversight.web import app\n    from ..core import records\n"
    )
    found = {m for _, m in _imports(module, "oversight.learning.m")}
    assert {"oversight.web", "oversight.web.app", "oversight.core.records"} <= found
