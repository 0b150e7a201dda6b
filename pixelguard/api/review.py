"""The review queue over the job store and the embedded runner's outputs.

An item is an object the runner held (``review`` in the store): why (the runner's reason), its regions with
scores (the manifest line the runner wrote beside the outputs, or the latest redo's), and its reviewers'
acts. A redo runs the original input through ``core.pipeline.process`` again, with the reviewer's boxes
filled before the text search looks (``RunOptions.manual_boxes``): the same scrub, search, verification and
release sweep as the run, and the same output identifiers. Approve moves the output out of ``review/``.
"""
from __future__ import annotations

import json
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pixelguard.core import profile as profiles
from pixelguard.core.pipeline import RunOptions, process
from pixelguard.core.record import Status
from pixelguard.core.vocabulary import RedactionMode
from pixelguard.jobstore import JobView, ObjectView
from pixelguard.jobstore.reviews import ReviewAct, ReviewLog, held_object

from .context import ApiContext
from .errors import ApiError

_ENGINE_LOCK = threading.Lock()
_ENGINE: list[Any] = []  # the OCR engine, loaded on the first redo only (a reviewer's action, not a request's)


@dataclass(frozen=True)
class Item:
    job: JobView
    obj: ObjectView
    regions: list[dict[str, Any]]
    acts: list[ReviewAct]

    @property
    def decided(self) -> bool:
        return self.obj.status != "review"


def manifest_line(ctx: ApiContext, job_id: str, input_id: str) -> dict[str, Any]:
    path = ctx.outputs / job_id / "manifest.jsonl"
    found: dict[str, Any] = {}
    if path.is_file():
        with open(path) as handle:
            for line in handle:
                if input_id in line:
                    entry = json.loads(line)
                    if entry.get("input_id") == input_id:
                        found = entry  # the last line wins: a rerun into the same folder appends
    return found


def item(ctx: ApiContext, job_id: str, input_id: str) -> Item:
    from .routes.common import job_or_404

    job = job_or_404(ctx, job_id)
    obj = held_object(ctx.store, job_id, input_id)
    if obj is None:
        raise ApiError(404, "not-found", "no such object in this job; list the queue with GET /v1/review")
    acts = ReviewLog(ctx.store).acts(job_id, input_id)
    redos = [a for a in acts if a.kind == "redo"]
    regions = redos[-1].detail.get("regions", []) if redos else manifest_line(ctx, job_id, input_id).get("regions", [])
    return Item(job, obj, list(regions or []), acts)


def output_path(ctx: ApiContext, job_id: str, obj: ObjectView) -> Path:
    if not obj.output:
        raise ApiError(404, "not-found", "this object has no output (it ended in an error)")
    path = (ctx.outputs / job_id / obj.output).resolve()
    if (ctx.outputs / job_id).resolve() not in path.parents or not path.is_file():
        raise ApiError(404, "not-found", "the output is no longer on disk; resubmit the input")
    return path


def input_path(ctx: ApiContext, job_id: str, input_id: str) -> Path:
    """The uploaded original behind an input id: the runner derived it from this very path."""
    folder = ctx.uploads / job_id
    for root, _dirs, files in os.walk(folder):
        for name in files:
            path = os.path.abspath(os.path.join(root, name))
            if ctx.derive.input_id(path) == input_id:
                return Path(path)
    raise ApiError(404, "not-found", "the original upload is no longer kept; it cannot be shown or redone")


def _engine() -> Any:
    with _ENGINE_LOCK:
        if not _ENGINE:
            from inference.base import engine

            _ENGINE.append(engine("local"))
        return _ENGINE[0]


def _profile(ctx: ApiContext, job: JobView) -> profiles.Profile:
    if job.profile_name in profiles.available():
        return profiles.load(job.profile_name)
    path = ctx.custom.path(job.profile_name, job.profile_version)  # the very version the job ran with
    if not path.is_file():
        raise ApiError(409, "profile-gone", "the custom profile version this job used is no longer on disk")
    return profiles.load_file(path)


def redo(ctx: ApiContext, job_id: str, input_id: str, boxes: list[tuple[int, int, int, int, int]],
         actor: str) -> dict[str, Any]:
    """Redact the original again with the reviewer's boxes; the new output replaces the held one."""
    current = item(ctx, job_id, input_id)
    if current.decided:
        raise ApiError(409, "decided", "this object was already decided; nothing to redo")
    held = output_path(ctx, job_id, current.obj)
    data = input_path(ctx, job_id, input_id).read_bytes()
    job = current.job
    mode = RedactionMode.parse(job.redaction, "the job's redaction") if job.redaction else None
    options = RunOptions(redaction=mode, manual_boxes=tuple(boxes))
    outcome = process(input_id, data, _profile(ctx, job), ctx.derive, _engine(), options)
    if outcome.status is Status.ERROR:
        raise ApiError(422, "redo-failed", f"the redo ended in an error ({outcome.error_code}); the held output "
                       "is unchanged")
    tmp = held.with_name(held.name + ".part")
    tmp.write_bytes(outcome.output_bytes)
    os.replace(tmp, held)
    result = {"status": outcome.status.value, "confidence": outcome.confidence, "reason": outcome.reason,
              "regions": list(outcome.stats.get("regions") or []),  # type: ignore[call-overload]
              "boxes": [list(b) for b in boxes]}
    ReviewLog(ctx.store).add(job_id, input_id, "redo", actor, outcome.reason, result)
    return result


def decide(ctx: ApiContext, job_id: str, input_id: str, approve: bool, reason: str, actor: str) -> str:
    """Approve (the output leaves ``review/``, the object is clean) or reject (an error with the reason)."""
    current = item(ctx, job_id, input_id)
    if current.decided:
        raise ApiError(409, "decided", "this object was already decided")
    held = output_path(ctx, job_id, current.obj)
    if approve:
        if "conflict:" in current.obj.reason:
            raise ApiError(409, "conflict", "this output conflicts with a published one of the same identifiers; "
                           "reject it, and resubmit the right input if the published one is wrong")
        target = ctx.outputs / job_id / held.name
        os.replace(held, target)
        ctx.store.decide_object(job_id, input_id, "clean", f"approved by a reviewer ({actor})", held.name)
        ReviewLog(ctx.store).add(job_id, input_id, "approve", actor)
        return "clean"
    held.unlink()  # a rejected output is never released; the original stays with the upload
    ctx.store.decide_object(job_id, input_id, "error", f"rejected by a reviewer: {reason}", "")
    ReviewLog(ctx.store).add(job_id, input_id, "reject", actor, reason)
    return "error"
