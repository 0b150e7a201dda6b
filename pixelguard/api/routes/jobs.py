"""``/v1/jobs``: submit a study, follow a job, read its completion report (JSON or CSV)."""
from __future__ import annotations

import csv
import io
import json
import os
import re
import shutil
import uuid
from collections import Counter
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request, Response
from starlette.concurrency import run_in_threadpool

from pixelguard.audit import profile_digest
from pixelguard.core import profile as profiles
from pixelguard.core.vocabulary import RedactionMode

from ..auth import Caller, require
from ..context import ApiContext, context
from ..custom import NAME_PATTERN
from ..errors import ApiError, responses
from ..schemas import JobAccepted, JobList, JobSummary, Report, report_row
from ..uploads import receive
from .common import READERS, JobId, audit, own_only, readable_job

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
            "profile": {"type": "string", "default": "basic", "examples": profile_names,
                        "description": "A stored or custom profile (GET /v1/profiles); a custom one's latest "
                                       "version is used and recorded"},
            "redaction": {"type": "string", "enum": [m.value for m in RedactionMode],
                          "description": "Burned-in text: all, phi or off; default: the profile's"},
        }}}}}}


async def accept(request: Request, ctx: ApiContext, who: Caller) -> JobAccepted:
    """Receive an upload, record the job and hand it to the runner (the API route and the UI's submit page)."""
    job_id = "job-" + uuid.uuid4().hex[:12]
    folder = ctx.uploads / job_id
    try:
        received = await receive(request, folder, ctx.limits)
        profile_name = received.fields.get("profile") or "basic"
        profile = _profile(ctx, profile_name)
        redaction = received.fields.get("redaction", "")
        if redaction and redaction not in {m.value for m in RedactionMode}:
            raise ApiError(422, "invalid", "redaction must be all, phi or off")
    except ApiError as refused:
        shutil.rmtree(folder, ignore_errors=True)
        audit(ctx, who, "submit", "denied", error=refused.error)
        raise
    # The ids the runner will derive from the same paths (EmbeddedRunner walks the folder as given).
    input_ids = [ctx.derive.input_id(os.path.abspath(path)) for path in received.objects]
    await run_in_threadpool(ctx.store.create_job, job_id, profile.name, profile_digest(profile), source="api",
                            runner=ctx.jobs.name, redaction=redaction, input_ids=input_ids, actor=who.actor)
    audit(ctx, who, "submit", "ok", job_id, objects=len(input_ids), archives=received.archives,
          profile=profile.name)
    ctx.jobs.submit(job_id)
    return JobAccepted(job_id=job_id, state="queued", objects=len(input_ids),
                       status_url=f"/v1/jobs/{job_id}", report_url=f"/v1/jobs/{job_id}/report")


def _profile(ctx: ApiContext, name: str) -> profiles.Profile:
    """A stored profile, or the latest version of a custom one (the job records which, by its digest)."""
    if name in profiles.available():
        return profiles.load(name)
    if ctx.jobs.name == "kafka":  # the workers load profiles by name, from their own stored set
        raise ApiError(422, "invalid", "this API submits to Kafka workers, which run the stored profiles only; "
                                       "pick one from GET /v1/profiles that is not custom")
    custom = ctx.custom.load(name) if re.fullmatch(NAME_PATTERN, name) else None
    if custom is None:
        raise ApiError(422, "invalid", "unknown profile; pick one from GET /v1/profiles")
    return custom[1]


def build(profile_names: list[str]) -> APIRouter:
    """The routes; built per application because the spec lists the stored profiles it found at start."""
    router = APIRouter(prefix="/v1/jobs", tags=["jobs"])

    @router.post("", status_code=202, response_model=JobAccepted, summary="Submit a study",
                 responses=responses(413, 415, 503), openapi_extra=_upload_body(profile_names))
    async def submit(request: Request, ctx: Annotated[ApiContext, Depends(context)],
                     who: Annotated[Caller, Depends(require("submitter"))]) -> JobAccepted:
        return await accept(request, ctx, who)

    @router.get("", response_model=JobList, summary="Jobs, newest first", responses=responses())
    def list_jobs(ctx: Annotated[ApiContext, Depends(context)], who: Annotated[Caller, Depends(require(*READERS))],
                  limit: Annotated[int, Query(ge=1, le=500)] = 50,
                  offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
                  state: Annotated[Literal["queued", "running", "done", "failed"] | None, Query()] = None) -> JobList:
        views = ctx.store.jobs(limit=limit, offset=offset, states=(state,) if state else (), actor=own_only(who))
        return JobList(jobs=[JobSummary.of(v) for v in views], limit=limit, offset=offset)

    @router.get("/{job_id}", response_model=JobSummary, summary="A job's counts by state and progress",
                responses=responses(404, 503))
    def get_job(job_id: JobId, ctx: Annotated[ApiContext, Depends(context)],
                who: Annotated[Caller, Depends(require(*READERS))]) -> JobSummary:
        view = readable_job(ctx, who, job_id)
        audit(ctx, who, "job.read", "ok", job_id)
        return JobSummary.of(view)

    @router.get("/{job_id}/report", response_model=Report, summary="The completion report, JSON or CSV",
                responses={**responses(404, 406, 503), 200: {"content": {"text/csv": {"schema": {"type": "string"}}},
                                                        "description": "The report"}})
    def get_report(job_id: JobId, request: Request, ctx: Annotated[ApiContext, Depends(context)],
                   who: Annotated[Caller, Depends(require(*READERS))],
                   format: Annotated[Literal["json", "csv"] | None, Query(
                       description="Overrides the Accept header")] = None) -> Any:
        chosen = format or _negotiate(request.headers.get("accept", ""))
        view = readable_job(ctx, who, job_id)
        objects = ctx.store.objects(job_id)
        audit(ctx, who, "report.read", "ok", job_id, objects=len(objects), format=chosen)
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
