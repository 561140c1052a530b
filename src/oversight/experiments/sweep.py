"""Sweeps: one config run at every point of a grid of overrides and for several seeds, each
(point, seed) into a run folder of its own, then merged into one table and plot.

The runs are Ray tasks (a local Ray cluster by default, or an existing one at ``address``), or,
without Ray, processes of a local pool with the same interface. A sweep is resumable: a run
folder with its ``metrics.json`` is finished and skipped; one without is resumed from its
checkpoints. Every point's config is validated before any work starts.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
import os
import re
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from oversight.core.errors import OversightError
from oversight.core.files import write_atomic
from oversight.core.runs import CONFIG, METRICS
from oversight.experiments.config import apply_overrides, read_yaml
from oversight.experiments.progress import progress_bar
from oversight.metrics.estimate import Estimate, format_estimate
from oversight.metrics.rates import t_interval
from oversight.report.model import Figure, Report, Section, Table

BACKENDS = ("auto", "ray", "local")
SWEEP = "sweep.json"
"""The merged results in a sweep folder: every run's metrics and every point's estimates."""
_DEFAULT_METRICS = 4  # metrics tabulated and plotted when no --metric is given


@dataclass(frozen=True)
class Run:
    """One run of a sweep: its grid point (``key=value`` overrides), its seed, and every
    override it runs with (the fixed ones, the point's, the seed's)."""

    point: tuple[str, ...]
    seed: int
    overrides: tuple[str, ...]

    @property
    def folder(self) -> str:
        """The run folder's name: the point and the seed, made safe for a file name."""
        text = "_".join([*self.point, f"seed={self.seed}"])
        safe = re.sub(r"[^A-Za-z0-9_=.,+-]+", "-", text)
        if len(safe) > 80:  # long lists of values: keep a readable head, unique by hash
            safe = safe[:60] + "-" + hashlib.sha1(text.encode()).hexdigest()[:10]
        return safe


def split_values(text: str) -> list[str]:
    """``v1,v2`` split on the commas outside brackets (``[0,1],[2]`` is two values)."""
    values, depth, current = [], 0, ""
    for ch in text:
        depth += ch in "[{("
        depth -= ch in "]})"
        if ch == "," and depth == 0:
            values.append(current)
            current = ""
        else:
            current += ch
    values.append(current)
    return [v.strip() for v in values]


def parse_grid(items: Sequence[str]) -> list[tuple[str, list[str]]]:
    """``key=v1,v2`` options as (key, values); an error naming the bad option otherwise."""
    grid: list[tuple[str, list[str]]] = []
    for item in items:
        key, sep, raw = item.partition("=")
        values = split_values(raw)
        if not sep or not key or not all(values):
            raise OversightError(f"--grid takes KEY=V1,V2,..., got {item!r}")
        if key in (k for k, _ in grid):
            raise OversightError(f"--grid {key}: given twice; list all its values in one option")
        grid.append((key, values))
    if not grid:
        raise OversightError("--grid: give at least one KEY=V1,V2,...")
    return grid


def seed_override(fields: Sequence[str], seed: int) -> str:
    """The override that gives a config seed ``seed``: its ``seed`` key, else ``seeds: [s]``."""
    if "seed" in fields:
        return f"seed={seed}"
    if "seeds" in fields:
        return f"seeds=[{seed}]"
    raise OversightError("--seeds: this experiment's config has no seed or seeds key")


def plan(
    source: str | None, grid: Sequence[str], seeds: int, fixed: Sequence[str] = ()
) -> list[Run]:
    """Every (grid point, seed), in order; each run's config is validated here, so a bad key
    or value is refused (naming the key) before any run starts."""
    from oversight.experiments.registry import DEFAULT_CONFIG, resolve

    if seeds < 1:
        raise OversightError(f"--seeds: at least 1, got {seeds}")
    axes = parse_grid(grid)
    base = read_yaml(source, DEFAULT_CONFIG)
    exp, _ = resolve(apply_overrides(dict(base), list(fixed)))
    fields = list(exp.config.model_fields)
    taken = [k for k, _ in axes if k in ("seed", "seeds")]
    if taken:
        raise OversightError(f"--grid {taken[0]}: seeds come from --seeds N (seeds 0..N-1)")
    runs = []
    for values in itertools.product(*(vs for _, vs in axes)):
        point = tuple(f"{k}={v}" for (k, _), v in zip(axes, values, strict=True))
        for seed in range(seeds):
            run = Run(point, seed, (*fixed, *point, seed_override(fields, seed)))
            try:
                resolve(apply_overrides(read_yaml(source, DEFAULT_CONFIG), list(run.overrides)))
            except OversightError as e:
                raise OversightError(f"grid point {', '.join(point)}: {e}") from None
            runs.append(run)
    return runs


def run_one(source: str | None, run: Run, root: str) -> dict[str, Any]:
    """Run one run of a sweep into ``root/<run.folder>``: skipped when finished (its
    ``metrics.json`` exists), resumed when started; its metrics."""
    from oversight.experiments import registry
    from oversight.experiments.skeleton import main

    path = Path(root) / run.folder
    if not (path / METRICS).exists():
        if (path / CONFIG).exists():
            exp, cfg, store = registry.resume(path)
        else:
            exp, cfg, store = registry.start(source, list(run.overrides), path)
        main(exp, cfg, store, progress=False)
    return dict(json.loads((path / METRICS).read_text()))


def _single_thread() -> None:
    """Worker set-up: one thread per run, so parallel runs do not oversubscribe the cores."""
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[var] = "1"


def execute(
    source: str | None,
    runs: Sequence[Run],
    root: Path,
    workers: int,
    backend: str = "auto",
    address: str | None = None,
    progress: bool = True,
) -> list[dict[str, Any]]:
    """Every run's metrics, in ``runs`` order: Ray tasks (``backend="ray"``, or ``"auto"`` when
    Ray is installed), else a local process pool of ``workers``."""
    if workers < 1:
        raise OversightError(f"--workers: at least 1, got {workers}")
    if backend not in BACKENDS:
        raise OversightError(
            f"--backend: unknown value {backend!r}; allowed: {', '.join(BACKENDS)}"
        )
    if backend == "auto":
        try:
            import ray  # noqa: F401
        except ImportError:
            backend = "local"
        else:
            backend = "ray"
    if source is not None and Path(source).is_file():
        source = str(Path(source).resolve())  # workers may start elsewhere
    root = root.resolve()
    root.mkdir(parents=True, exist_ok=True)
    out: dict[int, dict[str, Any]] = {}
    with progress_bar(progress) as bar:
        task = bar.add_task(f"sweep ({backend}, {workers} workers)", total=len(runs))

        def done(i: int, metrics: dict[str, Any]) -> None:
            out[i] = metrics
            bar.advance(task)

        if backend == "ray":
            _on_ray(source, runs, root, workers, address, done)
        else:
            _on_pool(source, runs, root, workers, done)
    return [out[i] for i in range(len(runs))]


def _on_pool(
    source: str | None,
    runs: Sequence[Run],
    root: Path,
    workers: int,
    done: Callable[[int, dict[str, Any]], None],
) -> None:
    import multiprocessing as mp

    # spawn: a fresh interpreter per worker, whose thread settings apply before torch loads
    context = mp.get_context("spawn")
    with ProcessPoolExecutor(workers, mp_context=context, initializer=_single_thread) as pool:
        futures = {pool.submit(run_one, source, r, str(root)): i for i, r in enumerate(runs)}
        for f in as_completed(futures):
            done(futures[f], f.result())


def _on_ray(
    source: str | None,
    runs: Sequence[Run],
    root: Path,
    workers: int,
    address: str | None,
    done: Callable[[int, dict[str, Any]], None],
) -> None:
    try:
        import ray
    except ImportError:
        raise OversightError(
            "--backend ray: Ray is not installed (pip install 'oversight[sweep]')"
        ) from None
    started = not ray.is_initialized()
    if started:
        # Ray gives a task of one CPU one thread (OMP_NUM_THREADS=1) by itself
        kwargs: dict[str, Any] = {"address": address}
        if address is None:  # a local cluster of exactly ``workers`` CPUs
            kwargs |= {"num_cpus": workers, "include_dashboard": False}
        ray.init(**kwargs, log_to_driver=False, configure_logging=False)
    try:
        remote = ray.remote(num_cpus=1, max_retries=0)(run_one)
        todo = list(enumerate(runs))
        running: dict[Any, int] = {}
        while todo or running:
            while todo and len(running) < workers:  # at most ``workers`` runs at a time
                i, run = todo.pop(0)
                running[remote.remote(source, run, str(root))] = i
            ready, _ = ray.wait(list(running), num_returns=1)
            for ref in ready:
                done(running.pop(ref), ray.get(ref))
    finally:
        if started:
            ray.shutdown()


# -- merging


@dataclass
class Merged:
    """A sweep's results: per grid point, each metric's mean over seeds with a t-interval."""

    axes: list[tuple[str, list[str]]]
    runs: list[Run]
    metrics: list[dict[str, Any]]
    keys: list[str]

    def points(self) -> list[tuple[str, ...]]:
        """The grid points, in grid order."""
        return list(dict.fromkeys(r.point for r in self.runs))

    def estimate(self, point: tuple[str, ...], key: str) -> Estimate:
        """``key``'s mean over the point's seeds, with a 95% t-interval."""
        values = [
            _number(m.get(key))
            for r, m in zip(self.runs, self.metrics, strict=True)
            if r.point == point
        ]
        bounds = (0.0, 1.0) if _is_rate(key) else ()
        return t_interval([v for v in values if v is not None], *bounds)

    def table(self) -> Table:
        """One row per grid point: its values, the seeds, each metric's mean [interval]."""
        rows = []
        for point in self.points():
            seeds = sum(r.point == point for r in self.runs)
            cells = [p.partition("=")[2] for p in point]
            rows.append(
                [*cells, seeds, *(format_estimate(self.estimate(point, k)) for k in self.keys)]
            )
        return Table(
            "Sweep: mean over seeds [95% t-interval]",
            [*(k for k, _ in self.axes), "seeds", *self.keys],
            rows,
        )

    def by_metric(self) -> Table:
        """The same, one row per metric and one column per grid point (for a terminal)."""
        points = self.points()
        return Table(
            "Sweep: mean over seeds [95% t-interval]",
            ["metric", *(", ".join(p) for p in points)],
            [[k, *(format_estimate(self.estimate(p, k)) for p in points)] for k in self.keys],
        )

    def as_json(self) -> dict[str, Any]:
        return {
            "grid": [{"key": k, "values": vs} for k, vs in self.axes],
            "runs": [
                {"point": list(r.point), "seed": r.seed, "folder": r.folder, "metrics": m}
                for r, m in zip(self.runs, self.metrics, strict=True)
            ],
            "points": [
                {
                    "point": list(point),
                    **{f: v for k in self.keys for f, v in self.estimate(point, k).flat(k).items()},
                }
                for point in self.points()
            ],
        }


def _is_rate(key: str) -> bool:
    """Whether a metric is a share (its interval is clipped to [0, 1]), by its name."""
    return any(word in key for word in ("rate", "accuracy", "precision", "share"))


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def default_keys(metrics: Sequence[dict[str, Any]]) -> list[str]:
    """The metrics shown when none is asked for: numeric keys every run has, not an interval's
    bound or size, alphabetically, the first few."""
    common = set.intersection(*(set(m) for m in metrics)) if metrics else set()
    keys = sorted(
        k
        for k in common
        if not k.endswith((".ci_low", ".ci_high", ".n"))
        and all(_number(m[k]) is not None for m in metrics)
    )
    return keys[:_DEFAULT_METRICS]


def merge(
    runs: Sequence[Run], metrics: Sequence[dict[str, Any]], keys: Sequence[str] = ()
) -> Merged:
    """The merged results; ``keys`` are the metrics to estimate (default :func:`default_keys`);
    an unknown key is refused with the keys the runs have."""
    have = set().union(*(set(m) for m in metrics)) if metrics else set()
    unknown = [k for k in keys if k not in have]
    if unknown:
        close = sorted(h for h in have if any(u.split(".")[0] in h for u in unknown))[:10]
        raise OversightError(
            f"--metric: no run has {', '.join(unknown)}"
            + (f"; similar keys: {', '.join(close)}" if close else "")
        )
    axes: list[tuple[str, list[str]]] = []
    for i, part in enumerate(runs[0].point if runs else ()):
        key = part.partition("=")[0]
        axes.append((key, list(dict.fromkeys(r.point[i].partition("=")[2] for r in runs))))
    return Merged(axes, list(runs), list(metrics), list(keys) or default_keys(metrics))


def write(merged: Merged, root: Path) -> Report:
    """``sweep.json`` and ``report.html`` in the sweep folder; the report."""
    from oversight.report import plots
    from oversight.report.html import write_report

    write_atomic(root / SWEEP, json.dumps(merged.as_json(), indent=1, default=float))
    figures = [_plot(merged, key, plots) for key in merged.keys]
    report = Report(
        "Sweep",
        sections=[
            Section(
                "Results",
                f"{len(merged.runs)} runs: {len(merged.points())} grid points × seeds. Each "
                "run's folder is under this one; every metric of every run is in sweep.json.",
                tables=[merged.table()],
                figures=figures,
            )
        ],
    )
    write_report(report, root / "report.html")
    return report


def _plot(merged: Merged, key: str, plots: Any) -> Figure:
    """``key`` against the first grid key (as a number when every value is one, else by
    position), one line per combination of the other keys, the band its interval."""
    first, values = merged.axes[0]
    numbers = [_number(_yaml_value(v)) for v in values]
    xs = [float(x) if x is not None else float(i) for i, x in enumerate(numbers)]
    numeric = all(x is not None for x in numbers)
    series = {}
    for rest in dict.fromkeys(p[1:] for p in merged.points()):
        ests = [merged.estimate((f"{first}={v}", *rest), key) for v in values]
        series[", ".join(rest) or key] = plots.Series(
            xs, [e.value for e in ests], [e.ci_low for e in ests], [e.ci_high for e in ests]
        )
    xlabel = (
        first if numeric else f"{first}: " + ", ".join(f"{i} {v}" for i, v in enumerate(values))
    )
    png = plots.line_plot(series, title=key, xlabel=xlabel, ylabel=key)
    return Figure(f"{key} against {first}", png, "mean over seeds, shaded: 95% t-interval")


def _yaml_value(text: str) -> Any:
    import yaml

    try:
        return yaml.safe_load(text)
    except yaml.YAMLError:
        return text
