"""``/ui/``: jobs, submit, report, profiles and review pages over the API's own services."""
from __future__ import annotations

import inspect
from collections import Counter, OrderedDict
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Form, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from pydantic import ValidationError

from pixelguard.core import profile as profiles
from pixelguard.jobstore.reviews import held

from .. import review
from ..auth import Caller, require
from ..context import ApiContext, context
from ..custom import ProfileBody
from ..errors import ApiError
from ..routes import jobs as job_routes
from ..routes import profiles as profile_routes
from ..routes import review as review_routes
from ..routes.common import READERS, audit, own_only, readable_job
from ..schemas import Box, Decision, JobSummary, Redo
from . import charts

HERE = Path(__file__).resolve().parent
templates = Jinja2Templates(directory=str(HERE / "templates"))  # autoescape on for .html
BASIC_GROUP = "Basic Application Level Confidentiality Profile"
Ctx = Annotated[ApiContext, Depends(context)]


def page(request: Request, name: str, status: int = 200, **values: Any) -> HTMLResponse:
    return templates.TemplateResponse(request, name, values, status_code=status)


def group_rows(rows: list[Any]) -> OrderedDict[str, list[Any]]:
    """Field table rows grouped by what decided them: the basic profile, one of the options, or an override."""
    groups: OrderedDict[str, list[Any]] = OrderedDict([(BASIC_GROUP, [])])
    for title in profiles.OPTIONS.values():
        groups[title] = []
    groups["Overrides"] = []
    for row in rows:
        if row.why.startswith("override"):
            groups["Overrides"].append(row)
            continue
        group = next((title for title in profiles.OPTIONS.values() if title in row.why), BASIC_GROUP)
        groups[group].append(row)
    return OrderedDict((k, v) for k, v in groups.items() if v)


def build() -> APIRouter:
    router = APIRouter(prefix="/ui", include_in_schema=False)

    @router.get("", response_class=HTMLResponse)
    @router.get("/", response_class=HTMLResponse)
    def home() -> Response:
        return RedirectResponse("/ui/jobs", status_code=303)

    @router.get("/jobs", response_class=HTMLResponse)
    def jobs_page(request: Request, ctx: Ctx, who: Annotated[Caller, Depends(require(*READERS))]) -> Response:
        return page(request, "jobs.html", jobs=_jobs(ctx, who))

    @router.get("/jobs/table", response_class=HTMLResponse)
    def jobs_table(request: Request, ctx: Ctx, who: Annotated[Caller, Depends(require(*READERS))]) -> Response:
        return page(request, "_jobs_table.html", jobs=_jobs(ctx, who))

    @router.get("/submit", response_class=HTMLResponse)
    def submit_page(request: Request, ctx: Ctx, _who: Annotated[Caller, Depends(require("submitter"))]) -> Response:
        names = profiles.available() + ctx.custom.store.names()
        return page(request, "submit.html", profiles=names)

    @router.post("/submit", response_class=HTMLResponse)
    async def submit(request: Request, ctx: Ctx, who: Annotated[Caller, Depends(require("submitter"))]) -> Response:
        accepted = await job_routes.accept(request, ctx, who)
        return RedirectResponse(f"/ui/jobs/{accepted.job_id}", status_code=303)

    def report_values(ctx: ApiContext, who: Caller, job_id: str) -> dict[str, Any]:
        view = readable_job(ctx, who, job_id)
        objects = ctx.store.objects(job_id)
        audit(ctx, who, "report.read", "ok", job_id, objects=len(objects), format="html")
        durations = [o.duration_s for o in objects if o.duration_s is not None]
        return {"job": JobSummary.of(view), "objects": objects,
                "failures": [o for o in objects if o.status == "error"],
                "held": [o for o in objects if o.status == "review"],
                "formats": Counter(o.format for o in objects if o.format),
                "state_bars": charts.state_bars(view.counts), "timing_bars": charts.timing_bars(durations),
                "slowest": max(durations, default=0.0)}

    @router.get("/jobs/{job_id}", response_class=HTMLResponse)
    def report_page(job_id: str, request: Request, ctx: Ctx,
                    who: Annotated[Caller, Depends(require(*READERS))]) -> Response:
        return page(request, "report.html", **report_values(ctx, who, job_id))

    @router.get("/jobs/{job_id}/progress", response_class=HTMLResponse)
    def report_progress(job_id: str, request: Request, ctx: Ctx,
                        who: Annotated[Caller, Depends(require(*READERS))]) -> Response:
        view = readable_job(ctx, who, job_id)
        response = page(request, "_progress.html", job=JobSummary.of(view))
        if view.state in ("done", "failed"):
            response.headers["HX-Refresh"] = "true"  # the full report replaces the progress bar
        return response

    # --- profiles -----------------------------------------------------------------------------------

    @router.get("/profiles", response_class=HTMLResponse)
    def profiles_page(request: Request, ctx: Ctx) -> Response:
        return page(request, "profiles.html", profiles=profile_routes.list_profiles(ctx).profiles,
                    stored=profiles.available(), options=profiles.OPTIONS)

    @router.get("/profiles/{name}", response_class=HTMLResponse)
    def profile_page(name: str, request: Request, ctx: Ctx) -> Response:
        detail = profile_routes.detail(ctx, name)
        return page(request, "profile.html", profile=detail, groups=group_rows(detail.fields),
                    stored=profiles.available(), options=profiles.OPTIONS, errors=[])

    @router.post("/profiles", response_class=HTMLResponse)
    def save_profile(request: Request, ctx: Ctx, who: Annotated[Caller, Depends(require("profile-admin"))],
                     name: Annotated[str, Form()], extends: Annotated[str, Form()] = "basic",
                     description: Annotated[str, Form()] = "", overrides: Annotated[str, Form()] = "",
                     options: Annotated[list[str] | None, Form()] = None) -> Response:
        try:
            body = ProfileBody(name=name, extends=extends, description=description, options=options or [],
                               overrides=_overrides(overrides))
        except (ValidationError, ValueError) as exc:
            raise ApiError(422, "invalid", _first_error(exc)) from None
        new = ctx.custom.store.latest(name) is None
        profile_routes.save(ctx, who, body, new=new)
        return RedirectResponse(f"/ui/profiles/{name}", status_code=303)

    # --- review -------------------------------------------------------------------------------------

    @router.get("/review", response_class=HTMLResponse)
    def review_queue(request: Request, ctx: Ctx, _who: Annotated[Caller, Depends(require("reviewer"))]) -> Response:
        items = [review.item(ctx, job_id, obj.input_id) for job_id, obj in held(ctx.store, 200, 0)]
        return page(request, "review_queue.html", items=items)

    @router.get("/review/{job_id}/{input_id}", response_class=HTMLResponse)
    def review_page(job_id: str, input_id: str, request: Request, ctx: Ctx,
                    _who: Annotated[Caller, Depends(require("reviewer"))]) -> Response:
        return page(request, "review_item.html", item=review.item(ctx, job_id, input_id))

    @router.get("/review/{job_id}/{input_id}/{which}.png")
    def review_image(job_id: str, input_id: str, which: str, ctx: Ctx,
                     who: Annotated[Caller, Depends(require("reviewer"))]) -> Response:
        if which not in ("original", "redacted"):
            raise ApiError(404, "not-found", "previews are original.png and redacted.png")
        return review_routes._preview(ctx, who, job_id, input_id, which, None)

    @router.post("/review/{job_id}/{input_id}/decision", response_class=HTMLResponse)
    def review_decision(job_id: str, input_id: str, ctx: Ctx, who: Annotated[Caller, Depends(require("reviewer"))],
                        decision: Annotated[str, Form()], reason: Annotated[str, Form()] = "") -> Response:
        if decision not in ("approve", "reject"):
            raise ApiError(422, "invalid", "decision must be approve or reject")
        review_routes.decide(ctx, who, job_id, input_id, Decision(decision=decision, reason=reason[:200]))  # type: ignore[arg-type]
        return RedirectResponse(f"/ui/review/{job_id}/{input_id}", status_code=303)

    @router.post("/review/{job_id}/{input_id}/redo", response_class=HTMLResponse)
    async def review_redo(job_id: str, input_id: str, ctx: Ctx, who: Annotated[Caller, Depends(require("reviewer"))],
                          frame: Annotated[int, Form()], x0: Annotated[int, Form()], y0: Annotated[int, Form()],
                          x1: Annotated[int, Form()], y1: Annotated[int, Form()]) -> Response:
        try:
            body = Redo(boxes=[Box(frame=frame, x0=x0, y0=y0, x1=x1, y1=y1)])
        except ValidationError as exc:
            raise ApiError(422, "invalid", _first_error(exc)) from None
        await review_routes.redo(ctx, who, job_id, input_id, body)
        return RedirectResponse(f"/ui/review/{job_id}/{input_id}", status_code=303)

    return router


def _jobs(ctx: ApiContext, who: Caller) -> list[JobSummary]:
    return [JobSummary.of(v) for v in ctx.store.jobs(limit=100, actor=own_only(who))]


def _overrides(text: str) -> dict[str, str]:
    """``Keyword: ACTION`` lines (or ``(gggg,eeee): ACTION``) as the overrides mapping."""
    found: dict[str, str] = {}
    for line in text.splitlines():
        if not line.strip():
            continue
        key, sep, action = line.rpartition(":")
        if not sep or not key.strip() or not action.strip():
            raise ValueError("each override line is 'Attribute: ACTION', e.g. 'PatientAge: K'")
        found[key.strip()] = action.strip()
    return found


def _first_error(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        err = exc.errors()[0]
        return f"{'.'.join(str(p) for p in err.get('loc', ()))}: {err.get('msg', 'invalid')}"
    return str(exc)


def install(app: FastAPI) -> None:
    app.mount("/ui/static", StaticFiles(directory=str(HERE / "static")), name="ui-static")
    app.include_router(build())

    handler = app.exception_handlers[ApiError]

    async def ui_or_json(request: Request, exc: Exception) -> Response:
        # The UI's pages answer refusals as a page; /v1 keeps its JSON error body.
        if request.url.path.startswith("/ui/") and isinstance(exc, ApiError):
            if exc.status == 401 and request.url.path not in SSO_PATHS and _sso_login(request):
                # Not signed in, or the session ended: to the identity provider's login page, once.
                return RedirectResponse("/ui/login", status_code=303)
            return page(request, "error.html", status=exc.status, error=exc.error, reason=exc.reason)
        answer = handler(request, exc)
        return await answer if inspect.isawaitable(answer) else answer

    app.add_exception_handler(ApiError, ui_or_json)


SSO_PATHS = frozenset({"/ui/login", "/ui/callback", "/ui/logout"})  # pixelguard/api/login.py


def _sso_login(request: Request) -> bool:
    """Whether single sign-on's login route is served (not under --no-auth)."""
    return getattr(request.app.state, "sso", None) is not None
