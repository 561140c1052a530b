"""The transcript viewer: browse the run folders under a root, filter and search a run's
transcripts, and read one transcript with its checks, verdict, gold and program diff.

Mount :data:`router` on an app whose ``app.state.runs_dir`` is the folder holding run folders
(a :class:`~pathlib.Path`; every run folder is a direct child, as made by
:class:`~oversight.core.runs.RunStore`)::

    app.state.runs_dir = Path("runs")
    app.include_router(oversight.web.viewer.router, prefix="/runs")

Pages (paths relative to the prefix):

- ``/``: the run folders, newest first;
- ``/{run}``: one run's transcripts, paginated (``page``, ``size``), filtered by ``outcome`` (see
  :data:`~oversight.web.run_index.OUTCOME_FILTERS`), ``arm``, ``protocol`` and searched (``q``:
  every whitespace-separated term must occur in what agents wrote); an empty value means no
  filter. The first open builds the run's index (:mod:`oversight.web.run_index`);
- ``/{run}/episodes/{episode_id}``: one transcript;
- ``/{run}/report``: the run's ``report.html``;
- ``/_static/viewer.css``: the pages' style sheet.

Everything an agent wrote is rendered through Jinja with autoescaping on, so it shows as text.
As a second line of defence every page is sent with a Content-Security-Policy that allows no
script at all and styles only from the style sheet (:data:`PAGE_CSP`); the report, which has
inline styles and ``data:`` images but no script, gets its own (:data:`REPORT_CSP`).
"""

from __future__ import annotations

import difflib
import json
import sqlite3
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import FileResponse, HTMLResponse
from fastapi.templating import Jinja2Templates
from jinja2 import Environment, FileSystemLoader

from oversight.core.errors import OversightError
from oversight.core.records import Transcript
from oversight.core.runs import CONFIG, METRICS, REPORT
from oversight.web.run_index import (
    INDEX_NAME,
    OUTCOME_FILTERS,
    OUTCOMES,
    TRANSCRIPTS,
    Filters,
    RunIndex,
)
from oversight.web.run_index import (
    outcome as outcome_of,
)

TEMPLATES = Path(__file__).parent / "templates"
DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 500

PAGE_CSP = (
    "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'"
)
REPORT_CSP = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src data:; form-action 'none'; "
    "frame-ancestors 'none'; base-uri 'none'"
)

router = APIRouter()
"""The viewer's routes; include it with a prefix such as ``/runs``."""

_env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=True)
_env.filters["compact"] = lambda v: json.dumps(v, sort_keys=True, default=str)
_templates = Jinja2Templates(env=_env)


def runs_root(request: Request) -> Path:
    """The folder holding run folders, from ``app.state.runs_dir``."""
    root = getattr(request.app.state, "runs_dir", None)
    if root is None:
        raise HTTPException(
            404, "no runs folder is configured: app.state.runs_dir names the folder of run folders"
        )
    return Path(root)


def _render(request: Request, name: str, context: dict[str, Any]) -> HTMLResponse:
    response = _templates.TemplateResponse(request, name, context)
    response.headers["Content-Security-Policy"] = PAGE_CSP
    return response


def _is_run(path: Path) -> bool:
    return path.is_dir() and ((path / CONFIG).exists() or (path / TRANSCRIPTS).exists())


def run_folder(request: Request, run: str) -> Path:
    """The run folder named ``run``: a direct child of the runs root, never a path outside it
    (anything else is a 404)."""
    root = runs_root(request).resolve()
    if run in ("", ".", "..") or any(c in run for c in "/\\\0"):
        raise HTTPException(404, f"no run named {run!r}")
    path = (root / run).resolve()
    if path.parent != root or not _is_run(path):
        raise HTTPException(404, f"no run named {run!r}")
    if (path / TRANSCRIPTS).is_symlink():  # it could point at any file the server can read
        raise HTTPException(404, f"run {run!r}: {TRANSCRIPTS} is a symbolic link; not shown")
    return path


def _open_index(path: Path) -> RunIndex:
    index = RunIndex(path)
    try:
        index.ensure()
    except (OversightError, OSError, sqlite3.Error) as e:  # bad lines; an unwritable folder
        raise HTTPException(500, f"cannot index {path.name}: {e}") from None
    return index


@dataclass(frozen=True)
class RunSummary:
    name: str
    modified: datetime
    size: int
    indexed: int | None
    has_report: bool


def _summary(path: Path) -> RunSummary:
    source = path / TRANSCRIPTS
    indexed = None
    if (path / INDEX_NAME).exists():
        try:
            indexed = RunIndex(path).count()
        except sqlite3.DatabaseError:  # a foreign or damaged file: the run page rebuilds it
            indexed = None
    stamp = max(p.stat().st_mtime for p in (path, source) if p.exists())
    return RunSummary(
        name=path.name,
        modified=datetime.fromtimestamp(stamp),
        size=source.stat().st_size if source.exists() else 0,
        indexed=indexed,
        has_report=(path / REPORT).exists(),
    )


@router.get("/", response_class=HTMLResponse, name="viewer_runs")
def list_runs(request: Request) -> HTMLResponse:
    """The run folders under the runs root, newest first."""
    root = runs_root(request)
    runs = [_summary(p) for p in root.iterdir() if _is_run(p)] if root.is_dir() else []
    runs.sort(key=lambda r: r.modified, reverse=True)
    return _render(request, "viewer/runs.html", {"runs": runs, "root": str(root)})


@router.get("/{run}", response_class=HTMLResponse, name="viewer_run")
def run_page(
    request: Request,
    run: str,
    outcome: str = "",
    arm: str = "",
    protocol: str = "",
    q: str = "",
    page: int = Query(1, ge=1),
    size: int = Query(DEFAULT_PAGE_SIZE, ge=1, le=MAX_PAGE_SIZE),
) -> HTMLResponse:
    """One run's transcripts, filtered and paginated."""
    path = run_folder(request, run)
    try:
        filters = Filters(outcome or None, arm or None, protocol or None, q)
    except OversightError as e:
        raise HTTPException(422, str(e)) from None
    index = _open_index(path)
    total = index.count(filters)
    pages = max(1, -(-total // size))
    rows = index.page(filters, page, size)
    params = {"outcome": outcome, "arm": arm, "protocol": protocol, "q": q, "size": size}
    base = str(request.url_for("viewer_run", run=quote(run, safe="")))

    def link(**changes: Any) -> str:
        query = {k: v for k, v in {**params, **changes}.items() if v not in ("", None)}
        if query.get("size") == DEFAULT_PAGE_SIZE:
            del query["size"]
        return f"{base}?{urlencode(query)}" if query else base

    metrics = None
    if (path / METRICS).exists():
        metrics = json.loads((path / METRICS).read_text())
    context = {
        "run": run,
        "rows": rows,
        "total": total,
        "all": index.count(),
        "page": page,
        "pages": pages,
        "size": size,
        "params": params,
        "outcome_counts": index.outcome_counts(filters),
        "outcome_filters": OUTCOME_FILTERS,
        "outcomes": OUTCOMES,
        "arms": index.values("arm"),
        "protocols": index.values("protocol"),
        "link": link,
        "episode_url": lambda episode_id: _episode_url(request, run, episode_id),
        "config": (path / CONFIG).read_text() if (path / CONFIG).exists() else None,
        "metrics": metrics,
        "has_report": (path / REPORT).exists(),
        "skipped": index.skipped(),
    }
    return _render(request, "viewer/run.html", context)


def _episode_url(request: Request, run: str, episode_id: str) -> str:
    return str(
        request.url_for(
            "viewer_transcript", run=quote(run, safe=""), episode_id=quote(episode_id, safe="/")
        )
    )


@dataclass(frozen=True)
class DiffRow:
    """One line of the reference-to-candidate diff: ``tag`` is ``=``, ``-`` (only in the
    reference) or ``+`` (only in the candidate); numbers are 1-based; ``claimed`` marks a line a
    claim points at."""

    tag: str
    ref_no: int | None
    cand_no: int | None
    text: str
    claimed: bool


def program_diff(t: Transcript) -> list[DiffRow] | None:
    """The line diff from the reference program (``problem.data["reference"]``) to the
    candidate (``artifact.content``), for the program environment; None for other envs.

    A claim's ``line`` points into the candidate's lines followed by the reference's (see
    :class:`~oversight.core.records.Claim`); those lines are marked."""
    reference = t.problem.data.get("reference")
    if t.problem.env != "programs" or not isinstance(reference, str):
        return None
    ref = reference.splitlines()
    cand = t.artifact.content.splitlines()
    pointed = {c.line for c in t.claims if c.line is not None}
    cand_claimed = {i for i in pointed if i < len(cand)}
    ref_claimed = {i - len(cand) for i in pointed if i >= len(cand)}
    rows: list[DiffRow] = []
    matcher = difflib.SequenceMatcher(None, ref, cand, autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            for i, j in zip(range(i1, i2), range(j1, j2), strict=True):
                rows.append(DiffRow("=", i + 1, j + 1, cand[j], j in cand_claimed))
            continue
        for i in range(i1, i2):
            rows.append(DiffRow("-", i + 1, None, ref[i], i in ref_claimed))
        for j in range(j1, j2):
            rows.append(DiffRow("+", None, j + 1, cand[j], j in cand_claimed))
    return rows


def _differs(result: Any) -> bool | None:
    """For a check that ran both programs, whether their outputs differ; None otherwise."""
    if isinstance(result, dict) and {"reference", "artifact"} <= result.keys():
        return result["reference"] != result["artifact"]
    return None


@router.get(
    "/{run}/episodes/{episode_id:path}", response_class=HTMLResponse, name="viewer_transcript"
)
def transcript_page(request: Request, run: str, episode_id: str) -> HTMLResponse:
    """One transcript: messages and claims, the judge's checks with their costs, the verdict,
    gold, and for programs the diff between reference and candidate."""
    path = run_folder(request, run)
    index = _open_index(path)
    row = index.find(episode_id)
    if row is None:
        raise HTTPException(404, f"run {run!r} has no episode {episode_id!r}")
    t = index.read(row)
    diff = program_diff(t)
    n_cand = len(t.artifact.content.splitlines())
    data = {k: v for k, v in t.problem.data.items() if not (diff is not None and k == "reference")}
    context = {
        "run": run,
        "t": t,
        "outcome": outcome_of(t),
        "outcomes": OUTCOMES,
        "diff": diff,
        "n_cand": n_cand,
        "problem_data": data,
        "checks": [(c, _differs(c.result)) for c in t.checks],
        "check_cost": sum(c.cost for c in t.checks),
        "run_url": str(request.url_for("viewer_run", run=quote(run, safe=""))),
    }
    return _render(request, "viewer/transcript.html", context)


@router.get("/{run}/report", name="viewer_report")
def report(request: Request, run: str) -> FileResponse:
    """The run's own ``report.html``."""
    path = run_folder(request, run) / REPORT
    if not path.exists():
        raise HTTPException(404, f"run {run!r} has no {REPORT}")
    headers = {"Content-Security-Policy": REPORT_CSP}
    return FileResponse(path, media_type="text/html", headers=headers)


@router.get("/_static/viewer.css", name="viewer_css")
def style_sheet() -> FileResponse:
    """The pages' only style sheet."""
    return FileResponse(TEMPLATES / "viewer" / "viewer.css", media_type="text/css")
