"""The judging app: :func:`create_app` builds it (FastAPI, server-rendered Jinja2 pages).

Pages: ``/admin`` (sign in with the admin secret; create studies, see judge links, results and
exports), ``/j/TOKEN`` (a judge's page: one item at a time), ``/runs`` (the transcript viewer,
admin only, when :mod:`oversight.web.viewer` is present). A JSON API under ``/api`` (admin
secret as a bearer token) creates studies, enqueues items and reads verdicts; the human judge
(:mod:`oversight.judges.human`) uses it.
"""

from __future__ import annotations

import importlib.util
import json
import os
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Form, HTTPException, Request
from fastapi import Path as PathParam
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from pydantic import BaseModel, ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from oversight.core.errors import BudgetExceeded, OversightError
from oversight.core.records import Transcript
from oversight.core.runs import TRANSCRIPTS
from oversight.learning.export import Row
from oversight.metrics.estimate import format_estimate
from oversight.web import judging, loading, results, studies
from oversight.web.db import Database
from oversight.web.models import Judge, Study
from oversight.web.security import (
    ADMIN_COOKIE,
    ADMIN_PRINCIPAL,
    CSRF_COOKIE,
    HEADERS,
    LOGIN_WINDOW,
    SESSION_SECONDS,
    Guard,
    new_token,
)

HERE = Path(__file__).parent
VIEWER_PREFIX = "/runs"
EXPORTS = ("transcripts.jsonl", "preference.jsonl", "unpaired.jsonl")
SYNC_BYTES = 1 << 20
"""Data sets up to this size load within the creating request; larger ones on a thread."""


class NewStudy(BaseModel):
    """API body: a study spec with its transcripts inline or a server-side path."""

    spec: studies.StudySpec
    transcripts: list[Transcript] | None = None
    source: str | None = None


class NewItems(BaseModel):
    """API body: transcripts to enqueue under one arm (their judge-visible messages are shown)."""

    arm: str
    transcripts: list[Transcript]


def get_session(request: Request) -> Iterator[Session]:
    """One session per request, committed when the request succeeds."""
    with request.app.state.db.session() as s:
        yield s


SessionDep = Annotated[Session, Depends(get_session)]
RowId = Annotated[int, PathParam(ge=1, le=2**63 - 1)]
"""A database id in a URL: a number SQLite can hold (anything else is no page)."""


def create_app(
    db_url: str | Path = "oversight.db",
    admin_secret: str | None = None,
    runs_dir: str | Path | None = None,
) -> FastAPI:
    """The app on database ``db_url`` (a URL or an SQLite path; migrated at startup).

    ``admin_secret`` (8 characters or more) guards the admin pages and the API; ``runs_dir``
    is the folder of run folders the transcript viewer opens."""
    if not admin_secret:
        raise OversightError("an admin secret is needed (--admin-secret or OVERSIGHT_ADMIN_SECRET)")
    guard = Guard(admin_secret)
    db = Database(db_url)
    templates = Jinja2Templates(directory=HERE / "templates")
    templates.env.globals["runs_viewer"] = False
    templates.env.filters["estimate"] = format_estimate

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        yield
        db.dispose()

    app = FastAPI(
        title="oversight", lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url=None
    )
    app.state.db = db
    app.state.runs_dir = Path(runs_dir) if runs_dir is not None else None
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")

    @app.middleware("http")
    async def security_headers(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        response = await call_next(request)
        # A page that sets its own policy (the viewer's) keeps it; every other response,
        # error pages included, gets the strict headers.
        for name, value in HEADERS.items():
            response.headers.setdefault(name, value)
        return response

    def page(request: Request, name: str, status: int = 200, **context: Any) -> HTMLResponse:
        """Render a template with a CSRF token for the page's principal; set the nonce cookie."""
        nonce = request.cookies.get(CSRF_COOKIE) or new_token()
        principal = context.get("principal", ADMIN_PRINCIPAL)
        context["csrf"] = guard.csrf_token(nonce, principal)
        response = templates.TemplateResponse(request, name, context, status_code=status)
        if request.cookies.get(CSRF_COOKIE) != nonce:
            response.set_cookie(CSRF_COOKIE, nonce, httponly=True, samesite="strict")
        return response

    def require_csrf(request: Request, token: str | None, principal: str) -> None:
        if not guard.csrf_ok(request, token, principal):
            raise HTTPException(403, "the form is missing a valid CSRF token; reload the page")

    def admin_page(request: Request) -> None:
        if not guard.is_admin(request):
            raise HTTPException(303, headers={"Location": "/admin/login"})

    def admin_api(request: Request) -> None:
        auth = request.headers.get("authorization", "")
        if not (auth.startswith("Bearer ") and guard.secret_ok(auth.removeprefix("Bearer "))):
            raise HTTPException(401, "the API needs the admin secret as a bearer token")

    def judge_of(session: Session, token: str) -> Judge:
        judge = session.scalar(select(Judge).where(Judge.token == token))
        if judge is None:
            raise HTTPException(404, "unknown link")
        if judge.revoked:
            raise HTTPException(410, "this link was revoked; ask the study's organiser")
        return judge

    def study_of(session: Session, study_id: int) -> Study:
        study = session.get(Study, study_id)
        if study is None:
            raise HTTPException(404, f"no study {study_id}")
        return study

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> Response:
        if exc.status_code == 303:
            assert exc.headers is not None  # every 303 is raised with its Location header
            return RedirectResponse(exc.headers["Location"], status_code=303)
        if request.url.path.startswith("/api"):
            return JSONResponse({"error": exc.detail}, status_code=exc.status_code)
        return page(request, "error.html", exc.status_code, message=exc.detail)

    @app.exception_handler(RequestValidationError)
    async def bad_request(request: Request, exc: RequestValidationError) -> Response:
        errors = exc.errors()
        # A path that cannot name anything (an id out of range, say) is a page that is not
        # there; a bad query or form value is the caller's to fix.
        status = 404 if any(e["loc"][:1] == ("path",) for e in errors) else 422
        where = ".".join(str(p) for p in errors[0]["loc"][1:]) if errors else ""
        message = "no such page" if status == 404 else f"{where}: {errors[0]['msg']}"
        if request.url.path.startswith("/api"):
            return JSONResponse({"error": message}, status_code=status)
        return page(request, "error.html", status, message=message)

    @app.exception_handler(OversightError)
    async def user_error(request: Request, exc: OversightError) -> Response:
        if request.url.path.startswith("/api"):
            return JSONResponse({"error": str(exc)}, status_code=400)
        return page(request, "error.html", 400, message=str(exc))

    # --- the landing page and admin sign-in -------------------------------------------------

    @app.get("/", response_class=HTMLResponse)
    def home(request: Request) -> HTMLResponse:
        return page(request, "home.html")

    @app.get("/admin/login", response_class=HTMLResponse)
    def login_form(request: Request) -> HTMLResponse:
        return page(request, "login.html")

    @app.post("/admin/login")
    def login(
        request: Request, secret: Annotated[str, Form()], csrf: Annotated[str, Form()] = ""
    ) -> Response:
        require_csrf(request, csrf, ADMIN_PRINCIPAL)
        client = request.client.host if request.client else ""
        if guard.login_blocked(client):
            message = f"too many failed sign-ins; wait {LOGIN_WINDOW:.0f} seconds"
            return page(request, "login.html", 429, message=message)
        if not guard.secret_ok(secret):
            guard.login_failed(client)
            return page(request, "login.html", 403, message="wrong secret")
        response = RedirectResponse("/admin", status_code=303)
        response.set_cookie(
            ADMIN_COOKIE,
            guard.session_cookie(),
            max_age=SESSION_SECONDS,
            httponly=True,
            samesite="strict",
        )
        return response

    @app.post("/admin/logout")
    def logout(request: Request, csrf: Annotated[str, Form()] = "") -> Response:
        require_csrf(request, csrf, ADMIN_PRINCIPAL)
        guard.end_session(request)
        response = RedirectResponse("/", status_code=303)
        response.delete_cookie(ADMIN_COOKIE)
        return response

    # --- admin pages --------------------------------------------------------------------------

    @app.get("/admin", response_class=HTMLResponse, dependencies=[Depends(admin_page)])
    def admin_home(request: Request, session: SessionDep) -> HTMLResponse:
        rows = session.scalars(select(Study).order_by(Study.id.desc())).all()
        return page(
            request,
            "admin.html",
            studies=rows,
            defaults=studies.DEFAULT_INSTRUCTIONS,
            runs_dir=app.state.runs_dir,
        )

    @app.post("/admin/studies", dependencies=[Depends(admin_page)])
    async def admin_create(request: Request) -> Response:
        """Create a study from a run folder or an uploaded JSONL file: checked in the request,
        its items stored in small transactions (on a thread for a large file)."""
        form = await request.form()
        require_csrf(request, str(form.get("csrf", "")), ADMIN_PRINCIPAL)
        fields = {k: v for k, v in form.items() if isinstance(v, str)}
        spec = _spec_from_form(fields)
        upload = form.get("dataset")
        source = fields.get("source", "").strip()
        if isinstance(upload, UploadFile) and upload.filename:
            path, owned = await _save_upload(upload), True
        elif source:
            path, owned = _jsonl_of(_source_path(source)), False
        else:
            raise OversightError("give a run folder or upload a JSONL data set of transcripts")
        try:
            plan = await run_in_threadpool(loading.prepare, path, spec)
        except BaseException:
            if owned:
                path.unlink(missing_ok=True)
            raise
        study_id = await run_in_threadpool(loading.start, db, spec, plan)
        if path.stat().st_size > SYNC_BYTES:
            loading.start_loading(db, study_id, spec, plan, path, owned)
        else:
            await run_in_threadpool(loading.load, db, study_id, spec, plan, path, owned)
        return RedirectResponse(f"/admin/studies/{study_id}", status_code=303)

    async def _save_upload(upload: UploadFile) -> Path:
        """The upload in a temporary file, copied a megabyte at a time."""
        fd, name = tempfile.mkstemp(prefix="oversight-upload-", suffix=".jsonl")
        with os.fdopen(fd, "wb") as out:
            while chunk := await upload.read(1 << 20):
                out.write(chunk)
        return Path(name)

    def _jsonl_of(path: Path) -> Path:
        if path.is_dir():
            if not (path / TRANSCRIPTS).is_file():
                raise OversightError(f"{path} is not a run folder (no {TRANSCRIPTS})")
            return path / TRANSCRIPTS
        if not path.is_file():
            raise OversightError(f"no such run folder or JSONL file: {path}")
        return path

    def _spec_from_form(form: dict[str, str]) -> studies.StudySpec:
        def number(key: str, default: int | None) -> int | None:
            raw = form.get(key, "").strip()
            if not raw:
                return default
            try:
                return int(raw)
            except ValueError:
                raise OversightError(f"{key}: {raw!r} is not a whole number") from None

        try:
            return studies.StudySpec(
                name=form.get("name", "").strip(),
                instructions=form.get("instructions", "").strip() or studies.DEFAULT_INSTRUCTIONS,
                arms=studies.parse_arms(form.get("arms", "")),
                judges=number("judges", 2),
                judgments_per_item=number("judgments_per_item", 1),
                budget=number("budget", None),
                catch_trials=number("catch_trials", 0),
                items=number("items", None),
                seed=number("seed", 0),
                time_limit=number("time_limit", None),
            )
        except ValidationError as e:
            raise OversightError(_validation_message(e)) from None

    def _source_path(source: str) -> Path:
        """A server-side source: as given, or relative to the runs folder when that exists."""
        path = Path(source).expanduser()
        runs = app.state.runs_dir
        if not path.is_absolute() and runs is not None and (runs / path).exists():
            return runs / path
        return path

    @app.get(
        "/admin/studies/{study_id}", response_class=HTMLResponse, dependencies=[Depends(admin_page)]
    )
    def admin_study(request: Request, study_id: RowId, session: SessionDep) -> HTMLResponse:
        study = study_of(session, study_id)
        base = str(request.base_url).rstrip("/")
        rows = [(j, f"{base}/j/{j.token}", *judging.progress(session, j)) for j in study.judges]
        n_catch = sum(1 for i in study.items if i.is_catch)
        return page(
            request, "study.html", study=study, judges=rows, n_catch=n_catch, exports=EXPORTS
        )

    @app.post("/admin/studies/{study_id}/judges/{judge_id}/revoke")
    def admin_revoke(
        request: Request,
        study_id: RowId,
        judge_id: RowId,
        session: SessionDep,
        csrf: Annotated[str, Form()] = "",
    ) -> Response:
        admin_page(request)
        require_csrf(request, csrf, ADMIN_PRINCIPAL)
        judge = session.get(Judge, judge_id)
        if judge is None or judge.study_id != study_of(session, study_id).id:
            raise HTTPException(404, f"study {study_id} has no judge {judge_id}")
        judge.revoked = True
        return RedirectResponse(f"/admin/studies/{study_id}", status_code=303)

    @app.post("/admin/studies/{study_id}/judges")
    def admin_add_judges(
        request: Request,
        study_id: RowId,
        session: SessionDep,
        count: Annotated[int, Form()] = 1,
        csrf: Annotated[str, Form()] = "",
    ) -> Response:
        admin_page(request)
        require_csrf(request, csrf, ADMIN_PRINCIPAL)
        studies.add_judges(session, study_of(session, study_id), count)
        return RedirectResponse(f"/admin/studies/{study_id}", status_code=303)

    @app.get(
        "/admin/studies/{study_id}/results",
        response_class=HTMLResponse,
        dependencies=[Depends(admin_page)],
    )
    def admin_results(request: Request, study_id: RowId, session: SessionDep) -> HTMLResponse:
        study = study_of(session, study_id)
        res = results.study_results(session, study)
        return page(request, "results.html", study=study, res=res, exports=EXPORTS)

    @app.get("/admin/studies/{study_id}/export/{name}", dependencies=[Depends(admin_page)])
    def admin_export(study_id: RowId, name: str, session: SessionDep) -> Response:
        study = study_of(session, study_id)
        if name == "transcripts.jsonl":
            lines = [t.model_dump_json() for t in results.study_transcripts(session, study)]
        elif name in ("preference.jsonl", "unpaired.jsonl"):
            make: Callable[[Session, Study], list[Any]] = (
                results.preference_rows if name == "preference.jsonl" else results.unpaired_rows
            )
            rows: list[Row] = make(session, study)
            lines = [r.to_json() for r in rows]
        else:
            raise HTTPException(404, f"no export {name!r}; exports: {', '.join(EXPORTS)}")
        body = "".join(line + "\n" for line in lines)
        disposition = f'attachment; filename="study-{study.id}-{name}"'
        return Response(
            body, media_type="application/x-ndjson", headers={"Content-Disposition": disposition}
        )

    # --- judges -------------------------------------------------------------------------------

    def judge_page(
        request: Request, session: Session, judge: Judge, status: int = 200, error: str = ""
    ) -> HTMLResponse:
        done, total = judging.progress(session, judge)
        a = judging.next_assignment(session, judge)
        # An admin opening a judge's link sees the page without starting the judge's clock.
        seen = not guard.is_admin(request)
        item = judging.view(session, a, seen) if a is not None else None
        return page(
            request,
            "judge.html",
            status,
            principal=judge.token,
            judge=judge,
            study=judge.study,
            item=item,
            done=done,
            total=total,
            error=error,
        )

    @app.get("/j/{token}", response_class=HTMLResponse)
    def judge_home(request: Request, token: str, session: SessionDep) -> HTMLResponse:
        return judge_page(request, session, judge_of(session, token))

    @app.post("/j/{token}/a/{assignment_id}/check")
    def judge_check(
        request: Request,
        token: str,
        assignment_id: RowId,
        action: Annotated[str, Form()],
        csrf: Annotated[str, Form()] = "",
        program: Annotated[str, Form()] = "reference",
        x: Annotated[str, Form()] = "",
        claim: Annotated[int, Form()] = 0,
    ) -> Response:
        failure: tuple[int, str] | None
        with db.session() as session:
            judge = judge_of(session, token)
            require_csrf(request, csrf, judge.token)
            try:
                a = judging.own_assignment(session, judge, assignment_id)
                if action == "eval_line":
                    judging.evaluate_line(session, a, program, x)
                elif action == "run_both":
                    judging.run_both(session, a, x)
                elif action == "check_claim":
                    judging.check_claim(session, a, claim)
                else:
                    raise OversightError(
                        f"action: {action!r}; allowed: eval_line, run_both, check_claim"
                    )
            except judging.NotAssigned as e:
                raise HTTPException(404, str(e)) from None
            except OversightError as e:
                conflict = isinstance(e, BudgetExceeded | judging.NeverShown | judging.TimeUp)
                failure = (409 if conflict else 400, str(e))
            else:
                failure = None
        if failure is not None:
            with db.session() as session:
                return judge_page(request, session, judge_of(session, token), *failure)
        return RedirectResponse(f"/j/{token}", status_code=303)

    @app.post("/j/{token}/a/{assignment_id}/verdict")
    def judge_verdict(
        request: Request,
        token: str,
        assignment_id: RowId,
        sure: Annotated[float, Form()],
        decision: Annotated[str, Form()] = "",
        answer: Annotated[int | None, Form()] = None,
        csrf: Annotated[str, Form()] = "",
        reason: Annotated[str, Form()] = "",
    ) -> Response:
        """A program item's decision (accept or reject), or a text item's ``answer``: the
        displayed answer chosen, with ``sure`` its probability in percent."""
        with db.session() as session:
            judge = judge_of(session, token)
            require_csrf(request, csrf, judge.token)
            try:
                a = judging.own_assignment(session, judge, assignment_id)
                if a.item.problem["env"] == judging.TEXT_ENV:
                    judging.submit_choice(session, a, answer, sure / 100, reason.strip())
                elif decision not in ("accept", "reject"):
                    raise OversightError(f"decision: {decision!r}; allowed: accept, reject")
                else:
                    judging.submit_verdict(
                        session, a, decision == "accept", sure / 100, reason.strip()
                    )
            except judging.NotAssigned as e:
                raise HTTPException(404, str(e)) from None
            except judging.NeverShown as e:
                raise HTTPException(409, str(e)) from None
            except judging.TimeUp as e:
                late = str(e)  # the item's closing is committed; the verdict is not taken
            else:
                late = ""
        if late:
            with db.session() as session:
                return judge_page(request, session, judge_of(session, token), 409, late)
        return RedirectResponse(f"/j/{token}", status_code=303)

    # --- JSON API (admin secret as bearer token) ---------------------------------------------

    @app.post("/api/studies", dependencies=[Depends(admin_api)])
    def api_create(body: NewStudy, session: SessionDep) -> dict[str, Any]:
        if (body.transcripts is None) == (body.source is None):
            raise OversightError("give exactly one of transcripts and source")
        if body.transcripts is not None:
            return _study_json(studies.create_study(session, body.spec, body.transcripts))
        # a server-side file streams in, as from the admin form (here within the request)
        path = _jsonl_of(_source_path(body.source or ""))
        plan = loading.prepare(path, body.spec)
        study_id = loading.start(db, body.spec, plan)
        loading.load(db, study_id, body.spec, plan, path)
        study = study_of(session, study_id)
        state = study.design.get("loading", {})
        if state.get("state") == "failed":
            raise OversightError(f"study {study_id}: loading failed: {state.get('error')}")
        return _study_json(study)

    @app.get("/api/studies/{study_id}", dependencies=[Depends(admin_api)])
    def api_study(study_id: RowId, session: SessionDep) -> dict[str, Any]:
        return _study_json(study_of(session, study_id))

    @app.post("/api/studies/{study_id}/items", dependencies=[Depends(admin_api)])
    def api_items(study_id: RowId, body: NewItems, session: SessionDep) -> dict[str, Any]:
        study = study_of(session, study_id)
        new = [
            studies.NewItem(
                key=t.artifact.id,
                problem=t.problem,
                artifact=t.artifact,
                gold=t.gold,
                messages={body.arm: [m.model_dump() for m in t.messages if m.visible_to_judge]},
            )
            for t in body.transcripts
        ]
        return {"keys": [i.key for i in studies.add_items(session, study, new)]}

    @app.get("/api/studies/{study_id}/verdicts", dependencies=[Depends(admin_api)])
    def api_verdicts(study_id: RowId, session: SessionDep, arm: str | None = None) -> Response:
        study = study_of(session, study_id)
        out = [
            json.loads(t.model_dump_json())
            for t in results.study_transcripts(session, study)
            if arm is None or t.arm == arm
        ]
        return JSONResponse(out)

    if importlib.util.find_spec("oversight.web.viewer") is not None:
        from oversight.web import viewer

        app.include_router(viewer.router, prefix=VIEWER_PREFIX, dependencies=[Depends(admin_page)])
        templates.env.globals["runs_viewer"] = True
    app.state.viewer = bool(templates.env.globals["runs_viewer"])
    return app


def _study_json(study: Study) -> dict[str, Any]:
    return {
        "id": study.id,
        "name": study.name,
        "arms": study.arms,
        "budget": study.budget,
        "judgments_per_item": study.judgments_per_item,
        "judges": [{"name": j.name, "token": j.token} for j in study.judges],
        "items": len(study.items),
    }


def _validation_message(e: ValidationError) -> str:
    return "; ".join(f"{'.'.join(map(str, err['loc']))}: {err['msg']}" for err in e.errors())
