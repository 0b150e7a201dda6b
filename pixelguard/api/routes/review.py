"""``/v1/review``: the queue, each item with why and its regions, previews, decisions and redos."""
from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Response
from starlette.concurrency import run_in_threadpool

from pixelguard.jobstore.reviews import held
from streams.status import check_reason

from .. import review
from ..auth import Caller, require
from ..context import ApiContext, context
from ..errors import ApiError, responses
from ..preview import render
from ..schemas import Decided, Decision, Redo, RedoResult, Region, ReviewAct, ReviewItem, ReviewQueue
from .common import InputId, JobId, audit, may_read_job

router = APIRouter(prefix="/v1/review", tags=["review"])
PNG: dict[int | str, dict[str, Any]] = {
    200: {"content": {"image/png": {"schema": {"type": "string", "format": "binary"}}},
          "description": "A PNG: the frame with its regions outlined"}}
Frame = Annotated[int | None, Query(ge=0, le=100_000,
                                    description="Frame index; default: the first with a region")]


def as_model(item: review.Item) -> ReviewItem:
    base = f"/v1/review/{item.job.job_id}/{item.obj.input_id}"
    return ReviewItem(job_id=item.job.job_id, input_id=item.obj.input_id, format=item.obj.format,
                      status=item.obj.status, reason=item.obj.reason, confidence=item.obj.confidence,
                      regions=[Region(**r) for r in item.regions],
                      acts=[ReviewAct(kind=a.kind, actor=a.actor, reason=a.reason, at=a.at) for a in item.acts],
                      redacted_preview=base + "/redacted.png", original_preview=base + "/original.png")


@router.get("", response_model=ReviewQueue, summary="Objects waiting for a reviewer", responses=responses())
def queue(ctx: Annotated[ApiContext, Depends(context)], _who: Annotated[Caller, Depends(require("reviewer"))],
          limit: Annotated[int, Query(ge=1, le=500)] = 100,
          offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0) -> ReviewQueue:
    items = [as_model(review.item(ctx, job_id, obj.input_id)) for job_id, obj in held(ctx.store, limit, offset)]
    return ReviewQueue(items=items, limit=limit, offset=offset)


@router.get("/{job_id}/{input_id}", response_model=ReviewItem, summary="One item: why, regions, acts",
            responses=responses(404))
def get_item(job_id: JobId, input_id: InputId, ctx: Annotated[ApiContext, Depends(context)],
             _who: Annotated[Caller, Depends(require("reviewer"))]) -> ReviewItem:
    return as_model(review.item(ctx, job_id, input_id))


def _preview(ctx: ApiContext, who: Caller, job_id: str, input_id: str, which: str, frame: int | None) -> Response:
    item = review.item(ctx, job_id, input_id)
    if which == "redacted":
        if not (("reviewer" in who.roles) or may_read_job(who, item.job)):
            raise ApiError(404, "not-found", "no such object in this job")
        path = review.output_path(ctx, job_id, item.obj)
    else:
        path = review.input_path(ctx, job_id, input_id)
    image, chosen = render(path.read_bytes(), ctx.derive, item.regions, frame)
    # Recorded before the image leaves: a view that cannot be audited does not happen.
    audit(ctx, who, "output.read", "ok", job_id, targets={"input_id": input_id}, view=which, frame=chosen)
    return Response(image, media_type="image/png", headers={"Cache-Control": "no-store"})


@router.get("/{job_id}/{input_id}/redacted.png", summary="The redacted output with its regions",
            responses={**responses(404, 503), **PNG}, response_class=Response)
def redacted_preview(job_id: JobId, input_id: InputId, ctx: Annotated[ApiContext, Depends(context)],
                     who: Annotated[Caller, Depends(require("reviewer", "submitter"))],
                     frame: Frame = None) -> Response:
    return _preview(ctx, who, job_id, input_id, "redacted", frame)


@router.get("/{job_id}/{input_id}/original.png", summary="The original with the regions (reviewers only)",
            responses={**responses(404, 503), **PNG}, response_class=Response)
def original_preview(job_id: JobId, input_id: InputId, ctx: Annotated[ApiContext, Depends(context)],
                     who: Annotated[Caller, Depends(require("reviewer"))], frame: Frame = None) -> Response:
    return _preview(ctx, who, job_id, input_id, "original", frame)


def _undecided(ctx: ApiContext, job_id: str, input_id: str) -> None:
    """404 or 409 before anything is recorded: the trail holds acts, not refused attempts."""
    if review.item(ctx, job_id, input_id).decided:
        raise ApiError(409, "decided", "this object was already decided")


def decide(ctx: ApiContext, who: Caller, job_id: str, input_id: str, body: Decision) -> Decided:
    reason = ""
    if body.decision == "reject":
        try:
            reason = check_reason(body.reason)
        except ValueError as exc:
            raise ApiError(422, "invalid", str(exc)) from None
    _undecided(ctx, job_id, input_id)
    audit(ctx, who, "review.decision", "ok", job_id, targets={"input_id": input_id}, decision=body.decision)
    status = review.decide(ctx, job_id, input_id, body.decision == "approve", reason, who.actor)
    return Decided(job_id=job_id, input_id=input_id, status=status)


@router.post("/{job_id}/{input_id}/decision", response_model=Decided, summary="Approve, or reject with a reason",
             responses=responses(404, 409, 503))
def post_decision(job_id: JobId, input_id: InputId, body: Decision, ctx: Annotated[ApiContext, Depends(context)],
                  who: Annotated[Caller, Depends(require("reviewer"))]) -> Decided:
    return decide(ctx, who, job_id, input_id, body)


async def redo(ctx: ApiContext, who: Caller, job_id: str, input_id: str, body: Redo) -> RedoResult:
    for box in body.boxes:
        if box.x1 <= box.x0 or box.y1 <= box.y0:
            raise ApiError(422, "invalid", "each box needs x0 < x1 and y0 < y1")
    _undecided(ctx, job_id, input_id)
    audit(ctx, who, "review.decision", "ok", job_id, targets={"input_id": input_id}, decision="redo",
          boxes=len(body.boxes))
    boxes = [(b.frame, b.x0, b.y0, b.x1, b.y1) for b in body.boxes]
    result = await run_in_threadpool(review.redo, ctx, job_id, input_id, boxes, who.actor)
    return RedoResult(job_id=job_id, input_id=input_id, status=result["status"], confidence=result["confidence"],
                      reason=result["reason"], regions=[Region(**r) for r in result["regions"]])


@router.post("/{job_id}/{input_id}/redo", response_model=RedoResult,
             summary="Add or adjust boxes, then redact and verify the original again",
             responses=responses(404, 409, 503))
async def post_redo(job_id: JobId, input_id: InputId, body: Redo, ctx: Annotated[ApiContext, Depends(context)],
                    who: Annotated[Caller, Depends(require("reviewer"))]) -> RedoResult:
    return await redo(ctx, who, job_id, input_id, body)
