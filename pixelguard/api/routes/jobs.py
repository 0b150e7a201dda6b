"""``/v1/jobs``: submit a study, follow a job, read its completion report (JSON or CSV)."""
from __future__ import annotations

import csv
import io
import json
import os
import shutil
import uuid
from collections import Counter
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi import Path as PathParam
from starlette.concurrency import run_in_threadpool

from pixelguard.audit import AuditError, profile_digest, record_audit
from pixelguard.core import profile as profiles
from pixelguard.core.vocabulary import RedactionMode
from pixelguard.jobstore import JobNotFound, JobView

from ..auth import Caller, require
from ..context import ApiContext, context
from ..errors import ApiError, responses
from ..schemas import JobAccepted, JobList, JobSummary, Report, report_row
from ..uploads import receive

JobId = Annotated[str, PathParam(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$", description="A job id")]
# DESIGN.md "Who may do what": submitters read their own jobs; reviewers (the review queue's context) and
# auditors every job.
READERS = ("submitter", "reviewer", "auditor")
CSV_COLUMNS = ("job_id", "profile", "profile_version", "seq", "input_id", "status", "reason", "confidence",
               "format", "duration_s", "output_id", "output", "sweep_hits", "finished_at")


def _upload_body(profile_names: list[str]) -> dict[str, Any]:
    """The request body as the spec shows it (the route parses the stream itself, so FastAPI cannot infer it)."""
    return {"requestBody": {"required": True, "content": {"multipart/form-data": {"schema": {
        "type": "object", "required": ["files"],
        "properties": {
            "files": {"type": "array", "items": {"type": "string", "format": "binary"},
                      "description": "The objects (DICOM, JPEG, PNG, NIfTI), or one zip/tar of a study. "
                                     "File names are not kept."},
            "profile": {"type": "string", "enum": profile_names, "default": "basic",
                        "description": "A stored profile (GET /v1/profiles)"},
            "redaction": {"type": "string", "enum": [m.value for m in RedactionMode],
                          "description": "Burned-in text: all, phi or off; default: the profile's"},
        }}}}}}


def _audit(ctx: ApiContext, who: Caller, action: str, outcome: str, job_id: str | None = None,
           **detail: object) -> None:
    try:
        record_audit(action, outcome, actor=who.actor, job_id=job_id, detail=detail, log=ctx.audit)
    except AuditError as exc:
        # An access that cannot be recorded must not happen.
        raise ApiError(503, "audit-unavailable", f"the audit trail cannot be written ({exc}); nothing was done") \
            from None


def build(profile_names: list[str]) -> APIRouter:
    """The routes; built per application because the spec lists the stored profiles it found at start."""
    router = APIRouter(prefix="/v1/jobs", tags=["jobs"])

    @router.post("", status_code=202, response_model=JobAccepted, summary="Submit a study",
                 responses=responses(413, 415, 503), openapi_extra=_upload_body(profile_names))
    async def submit(request: Request, ctx: Annotated[ApiContext, Depends(context)],
                     who: Annotated[Caller, Depends(require("submitter"))]) -> JobAccepted:
        job_id = "job-" + uuid.uuid4().hex[:12]
        folder = ctx.uploads / job_id
        try:
            received = await receive(request, folder, ctx.limits)
            profile_name = received.fields.get("profile") or "basic"
            if profile_name not in profiles.available():
                raise ApiError(422, "invalid", "unknown profile; pick a stored one from GET /v1/profiles")
            redaction = received.fields.get("redaction", "")
            if redaction and redaction not in {m.value for m in RedactionMode}:
                raise ApiError(422, "invalid", "redaction must be all, phi or off")
        except ApiError as refused:
            shutil.rmtree(folder, ignore_errors=True)
            _audit(ctx, who, "submit", "denied", error=refused.error)
            raise
        profile = profiles.load(profile_name)
        # The ids the runner will derive from the same paths (EmbeddedRunner walks the folder as given).
        input_ids = [ctx.derive.input_id(os.path.abspath(path)) for path in received.objects]
        await run_in_threadpool(ctx.store.create_job, job_id, profile.name, profile_digest(profile), source="api",
                                redaction=redaction, input_ids=input_ids, actor=who.actor)
        _audit(ctx, who, "submit", "ok", job_id, objects=len(input_ids), archives=received.archives,
               profile=profile.name)
        ctx.jobs.submit(job_id)
        return JobAccepted(job_id=job_id, state="queued", objects=len(input_ids),
                           status_url=f"/v1/jobs/{job_id}", report_url=f"/v1/jobs/{job_id}/report")

    @router.get("", response_model=JobList, summary="Jobs, newest first (a submitter's own only)",
                responses=responses())
    def list_jobs(ctx: Annotated[ApiContext, Depends(context)], who: Annotated[Caller, Depends(require(*READERS))],
                  limit: Annotated[int, Query(ge=1, le=500)] = 50,
                  offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
                  state: Annotated[Literal["queued", "running", "done", "failed"] | None, Query()] = None) -> JobList:
        views = ctx.store.jobs(limit=limit, offset=offset, states=(state,) if state else (),
                               actor=own_only(who))
        return JobList(jobs=[JobSummary.of(v) for v in views], limit=limit, offset=offset)

    @router.get("/{job_id}", response_model=JobSummary, summary="A job's counts by state and progress",
                responses=responses(404, 503))
    def get_job(job_id: JobId, ctx: Annotated[ApiContext, Depends(context)],
                who: Annotated[Caller, Depends(require(*READERS))]) -> JobSummary:
        view = _job(ctx, job_id, who)
        _audit(ctx, who, "job.read", "ok", job_id)
        return JobSummary.of(view)

    @router.get("/{job_id}/report", response_model=Report, summary="The completion report, JSON or CSV",
                responses={**responses(404, 406, 503),
                           200: {"content": {"text/csv": {"schema": {"type": "string"}}}, "description": "The report"}})
    def get_report(job_id: JobId, request: Request, ctx: Annotated[ApiContext, Depends(context)],
                   who: Annotated[Caller, Depends(require(*READERS))],
                   format: Annotated[Literal["json", "csv"] | None, Query(
                       description="Overrides the Accept header")] = None) -> Any:
        chosen = format or _negotiate(request.headers.get("accept", ""))
        view = _job(ctx, job_id, who)
        objects = ctx.store.objects(job_id)
        _audit(ctx, who, "report.read", "ok", job_id, objects=len(objects), format=chosen)
        rows = [report_row(obj) for obj in objects]
        if chosen == "csv":
            return Response(_csv(view.job_id, view.profile_name, view.profile_version, rows),
                            media_type="text/csv; charset=utf-8")
        formats = Counter(obj.format for obj in objects if obj.status != "pending" and obj.format)
        # Built as plain data and serialised once: the spec's model (Report) is what this matches, and the
        # schemathesis test holds it to that.
        report = {"job": JobSummary.of(view).model_dump(mode="json"), "formats": dict(formats),
                  "output_folder": str(ctx.outputs / job_id), "objects": rows}
        return Response(json.dumps(report, separators=(",", ":")), media_type="application/json")

    return router


def own_only(who: Caller) -> str | None:
    """The actor whose jobs a listing is limited to: a submitter's own; None (all) for reviewers and auditors."""
    return None if who.roles & {"reviewer", "auditor"} else who.actor


def _job(ctx: ApiContext, job_id: str, who: Caller) -> JobView:
    try:
        view = ctx.store.job(job_id)
    except JobNotFound:
        view = None
    # Another submitter's job answers as absent: its existence is not theirs to learn. A job started from a
    # terminal (no actor) is the local operator's, readable by any submitter.
    if view is None or not (who.roles & {"reviewer", "auditor"} or view.actor in ("", who.actor)):
        raise ApiError(404, "not-found", "no such job; list them with GET /v1/jobs")
    return view


def _negotiate(accept: str) -> str:
    """JSON unless the client asks for CSV (and not JSON) first; 406 when it accepts neither."""
    kinds = [part.split(";", 1)[0].strip().lower() for part in accept.split(",") if part.strip()]
    if not kinds:
        return "json"
    for kind in kinds:
        if kind in ("application/json", "application/*", "*/*"):
            return "json"
        if kind in ("text/csv", "text/*"):
            return "csv"
    raise ApiError(406, "not-acceptable", "the report comes as application/json or text/csv; ask for one "
                   "(Accept header or ?format=csv)")


def _csv(job_id: str, profile: str, version: str, rows: list[dict[str, object]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(CSV_COLUMNS)
    fixed = {"job_id": job_id, "profile": profile, "profile_version": version}
    writer.writerows([fixed.get(column) or ("" if row.get(column) is None else row[column])
                      for column in CSV_COLUMNS] for row in rows)
    return out.getvalue()
