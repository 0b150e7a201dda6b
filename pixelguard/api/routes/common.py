"""What several route modules share: the audit call that refuses an unrecorded access, and job lookup."""
from __future__ import annotations

from typing import Annotated

from fastapi import Path as PathParam

from pixelguard.audit import AuditError, record_audit
from pixelguard.jobstore import JobNotFound, JobView

from ..auth import Caller
from ..context import ApiContext
from ..errors import ApiError

JobId = Annotated[str, PathParam(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$", description="A job id")]
InputId = Annotated[str, PathParam(pattern=r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$",
                                   description="An object's opaque input id (from the report or the queue)")]


def audit(ctx: ApiContext, who: Caller, action: str, outcome: str, job_id: str | None = None,
          targets: dict[str, str] | None = None, **detail: object) -> None:
    try:
        record_audit(action, outcome, actor=who.actor, job_id=job_id, targets=targets, detail=detail, log=ctx.audit)
    except AuditError as exc:
        # An access that cannot be recorded must not happen.
        raise ApiError(503, "audit-unavailable", f"the audit trail cannot be written ({exc}); nothing was done") \
            from None


def job_or_404(ctx: ApiContext, job_id: str) -> JobView:
    try:
        return ctx.store.job(job_id)
    except JobNotFound:
        raise ApiError(404, "not-found", "no such job; list them with GET /v1/jobs") from None


READERS = ("submitter", "reviewer", "auditor")


def readable_job(ctx: ApiContext, who: Caller, job_id: str) -> JobView:
    """The job, if this caller may read it; another submitter's job is answered as not found (no probing)."""
    job = job_or_404(ctx, job_id)
    if not may_read_job(who, job):
        raise ApiError(404, "not-found", "no such job; list them with GET /v1/jobs")
    return job


def own_only(who: Caller) -> str | None:
    """The actor whose jobs a listing is limited to: a submitter's own; None (all) for reviewers and auditors."""
    return None if who.roles & {"reviewer", "auditor"} else who.actor


def may_read_job(who: Caller, job: JobView) -> bool:
    """A submitter reads their own jobs' reports and redacted outputs; a reviewer or auditor reads any."""
    if who.roles & {"reviewer", "auditor"}:
        return True
    return "submitter" in who.roles and (not job.actor or job.actor == who.actor)
