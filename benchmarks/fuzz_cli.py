"""Fuzz the configs and the command line: bad input must give the toolkit's own error, never a
traceback.

Usage::

    python benchmarks/fuzz_cli.py [--configs N] [--calls M] [--seed S] [--show K]

- **Configs**: ``N`` mutants of the embedded configs (a leaf replaced by a value of another kind
  or out of range, a key deleted, renamed or added, a section replaced by a scalar), each
  resolved and validated as ``oversight run`` does. Anything raised other than
  :class:`OversightError` is *foreign*.
- **CLI calls**: ``M`` calls of ``oversight`` (in process, through Typer's test runner) with
  mutated arguments: ``run`` with a mutated ``--set`` or a mutated YAML file, ``run --resume`` on
  a damaged run folder, ``repair`` and ``export`` on damaged folders, ``oracle`` on damaged
  program files, ``serve`` with bad options. The experiment itself is replaced by a stub that
  stops right after the config is accepted (the fuzz is of input handling; the experiments have
  their own tests), and ``serve`` never starts a server. A call is foreign when it ends with an
  exception other than a clean exit, or exits 2 without an ``error:`` line.

Deterministic given ``--seed``; the last line gives the counts::

    fuzz-cli: 1000 configs (135 valid), 1000 CLI calls (700 refused, 300 accepted), 0 foreign
    exceptions

The exit code is 1 when anything was foreign.
"""

from __future__ import annotations

import argparse
import copy
import random
import shutil
import sys
import tempfile
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml
from typer.testing import CliRunner

from oversight.cli import app
from oversight.core.errors import OversightError
from oversight.experiments import skeleton
from oversight.experiments.config import embedded_configs, read_yaml
from oversight.experiments.registry import resolve

AWKWARD: list[Any] = [
    -1,
    0,
    2**70,
    -(2**70),
    1e308,
    float("nan"),
    float("inf"),
    -0.5,
    1.5,
    "",
    "[/]",
    "[red]x[/red]",
    "\x00",
    "é",
    True,
    None,
    [],
    [None],
    [-1, "a"],
    {},
    {"a": 1},
    "1; rm -rf /",
    "0x10",
]


class Stopped(Exception):
    """Raised by the stub experiment once a config got through validation."""


def _leaves(data: Any, path: tuple = ()) -> list[tuple]:
    if isinstance(data, dict):
        out = [path] if path else []
        for k, v in data.items():
            out += _leaves(v, (*path, k))
        return out
    if isinstance(data, list):
        out = [path]
        for i, v in enumerate(data):
            out += _leaves(v, (*path, i))
        return out
    return [path]


def _set(data: Any, path: tuple, value: Any) -> None:
    for p in path[:-1]:
        data = data[p]
    data[path[-1]] = value


def mutate_config(data: dict[str, Any], r: random.Random) -> dict[str, Any]:
    """One to three mutations of a config mapping."""
    out = copy.deepcopy(data)
    for _ in range(r.choice((1, 1, 2, 3))):
        paths = _leaves(out)
        if not paths:
            break
        path = r.choice(paths)
        op = r.random()
        try:
            if op < 0.6:
                _set(out, path, copy.deepcopy(r.choice(AWKWARD)))
            elif op < 0.75 and isinstance(path[-1], str):
                parent = out
                for p in path[:-1]:
                    parent = parent[p]
                del parent[path[-1]]
            elif op < 0.85 and isinstance(path[-1], str):
                parent = out
                for p in path[:-1]:
                    parent = parent[p]
                parent[path[-1] + r.choice(("s", "_", "x"))] = parent.pop(path[-1])
            else:
                parent = out
                for p in path[:-1]:
                    parent = parent[p]
                if isinstance(parent, dict):
                    parent[r.choice(("typo", "seeed", "judge.budget"))] = r.choice(AWKWARD)
        except (KeyError, IndexError, TypeError):
            continue
    return out


def fuzz_configs(n: int, r: random.Random, foreign: list[str]) -> int:
    names = sorted(embedded_configs())
    bases = {name: read_yaml(name, name) for name in names}
    valid = 0
    for i in range(n):
        name = r.choice(names)
        data = mutate_config(bases[name], r)
        try:
            resolve(data)
            valid += 1
        except OversightError:
            pass
        except Exception:
            foreign.append(f"config #{i} ({name}): {traceback.format_exc(limit=3)}")
    return valid


def _override(r: random.Random) -> str:
    key = r.choice(
        (
            "seed",
            "problems",
            "judge.budget",
            "judge.strategy",
            "generator.bits",
            "attack.families",
            "attack.subtlety_bits",
            "critic_budget_sweep",
            "audit_budgets",
            "batch",
            "experiment",
            "nope",
            "judge",
            "judge.budget.x",
            "modes",
            "level0_sweep",
            "seeds",
            "",
        )
    )
    value = r.choice(
        ("-1", "0", "1e999", "[/]", "[1,", "{a: 1}", "null", "x", "[0]", "7", "'", "[-1]", "")
    )
    return r.choice((f"{key}={value}", key, f"={value}", f"{key}=={value}"))


def _damaged_run(root: Path, r: random.Random, template: Path) -> Path:
    run = root / f"run{r.randrange(10**9)}"
    shutil.copytree(template, run)
    target = r.choice(("config.yaml", "run.json", "transcripts.jsonl", "metrics.json", None))
    if target is None:
        shutil.rmtree(run)
        run.mkdir()
        return run
    path = run / target
    data = path.read_bytes() if path.exists() else b""
    op = r.random()
    if op < 0.3 and data:
        cut = r.randrange(len(data))
        path.write_bytes(data[:cut])
    elif op < 0.5:
        path.write_bytes(r.choice((b"", b"\x80\xff", b"[1, 2]\n", b"null\n", b"- a\n- b\n")))
    elif op < 0.7 and data:
        lines = data.split(b"\n")
        lines.insert(r.randrange(len(lines)), r.choice(lines))
        path.write_bytes(b"\n".join(lines))
    elif op < 0.85:
        path.unlink(missing_ok=True)
        path.mkdir()
    else:
        path.write_bytes(data.replace(b"seed: 0", b"seed: 1").replace(b"budget", b"budgte"))
    return run


def fuzz_calls(n: int, r: random.Random, foreign: list[str], root: Path) -> dict[str, int]:
    """Play ``n`` calls; returns how many were refused (exit 2) and how many accepted."""
    runner = CliRunner()
    real_main = skeleton.main

    def stub(*_: Any, **__: Any) -> Any:
        raise Stopped

    template = root / "template"
    made = runner.invoke(
        app,
        [
            "run",
            "offense-defense-quick",
            "--out",
            str(template),
            "--quiet",
            "--set",
            "problems=1",
            "--set",
            "learned.enabled=false",
            "--set",
            "adaptive.enabled=false",
        ],
    )
    if made.exit_code != 0:
        raise SystemExit(f"could not make the template run: {made.output}")
    good = "out = x\nif x == 3: out = 7\n"

    def run_set() -> list[str]:
        sets = [a for _ in range(r.randint(1, 3)) for a in ("--set", _override(r))]
        return [
            "run",
            r.choice(("offense-defense-quick", "rrm-quick", "nope", "")),
            *sets,
            "--out",
            str(root / f"o{r.randrange(10**9)}"),
        ]

    def run_file() -> list[str]:
        base = read_yaml("offense-defense-quick", "offense-defense-quick")
        text = yaml.safe_dump(mutate_config(base, r))
        if r.random() < 0.3:
            text = text[: r.randrange(len(text) + 1)] + r.choice(("\x00", ": [", "\t", "- -"))
        path = root / f"c{r.randrange(10**9)}.yaml"
        path.write_bytes(text.encode("utf-8", "surrogatepass"))
        return ["run", str(path), "--out", str(root / f"o{r.randrange(10**9)}")]

    def resume() -> list[str]:
        return ["run", "--resume", str(_damaged_run(root, r, template))]

    def repair_or_export() -> list[str]:
        run = _damaged_run(root, r, template)
        if r.random() < 0.5:
            return ["repair", str(run)]
        return [
            "export",
            str(run),
            "--labels",
            r.choice(("judge", "gold", "[/]")),
            "--out",
            str(root / f"e{r.randrange(10**9)}"),
        ]

    def oracle() -> list[str]:
        a, b = root / f"r{r.randrange(10**9)}.dsl", root / f"p{r.randrange(10**9)}.dsl"
        for path in (a, b):
            data = bytearray(good.encode())
            for _ in range(r.randint(0, 3)):
                data.insert(r.randrange(len(data) + 1), r.randrange(256))
            path.write_bytes(bytes(data))
        if r.random() < 0.1:
            b.unlink()
            b.mkdir()
        return ["oracle", str(a), str(b), "--bits", r.choice(("8", "0", "-3", "99", "x"))]

    def serve() -> list[str]:
        return [
            "serve",
            "--port",
            r.choice(("-1", "70000", "0", "abc")),
            "--admin-secret",
            r.choice(("short", "a-long-enough-secret")),
            "--db",
            str(root),
        ]

    calls: list[Callable[[], list[str]]] = [
        run_set,
        run_set,
        run_file,
        resume,
        repair_or_export,
        oracle,
        serve,
    ]
    tally = {"refused": 0, "accepted": 0}
    skeleton.main = stub  # type: ignore[assignment]
    try:
        for i in range(n):
            args = r.choice(calls)()
            result = runner.invoke(app, args)
            exc = result.exception
            tally["refused" if result.exit_code == 2 else "accepted"] += 1
            clean = exc is None or isinstance(exc, SystemExit | Stopped)
            if not clean or (
                result.exit_code == 2
                and "error:" not in result.output
                and "Usage:" not in result.output
            ):
                shown = "".join(traceback.format_exception(exc, limit=3)) if exc else result.output
                foreign.append(f"call #{i} {args}: {shown}")
    finally:
        skeleton.main = real_main  # type: ignore[assignment]
    return tally


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--configs", type=int, default=1000)
    parser.add_argument("--calls", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--show", type=int, default=3)
    args = parser.parse_args()
    r = random.Random(args.seed)
    foreign: list[str] = []
    valid = fuzz_configs(args.configs, r, foreign)
    with tempfile.TemporaryDirectory() as tmp:
        tally = fuzz_calls(args.calls, r, foreign, Path(tmp))
    for report in foreign[: args.show]:
        print(report, file=sys.stderr)
    print(
        f"fuzz-cli: {args.configs} configs ({valid} valid), {args.calls} CLI calls "
        f"({tally['refused']} refused, {tally['accepted']} accepted), "
        f"{len(foreign)} foreign exceptions"
    )
    sys.exit(1 if foreign else 0)


if __name__ == "__main__":
    main()
