"""``/v1/jobs/{id}/outputs/{input_id}``: a released (clean) output, as it is or exported as PNG/JPEG.

Only outputs: originals are never served here, and an output still held for review is not released until a
reviewer approves it. PNG/JPEG exports render one frame (see ``api.preview`` for which, and the windowing).
"""
from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Response

from ..auth import Caller, require
from ..context import ApiContext, context
from ..errors import ApiError, responses
from ..preview import render
from ..review import output_path
from .common import READERS, InputId, JobId, audit, readable_job

router = APIRouter(prefix="/v1/jobs", tags=["outputs"])
MEDIA = {"dicom": "application/dicom", "png": "image/png", "jpeg": "image/jpeg", "nifti": "application/gzip"}
# The written file's extension, not the input's format, says what it is: a job may ask for PNG/JPEG exports
# (``--output-format``), and a multi-frame export is one zip of frames.
BY_EXTENSION = {".dcm": "application/dicom", ".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg",
                ".zip": "application/zip", ".nii": "application/octet-stream", ".gz": "application/gzip"}
BINARY = {"schema": {"type": "string", "format": "binary"}}


def download(ctx: ApiContext, who: Caller, job_id: str, input_id: str, as_: str, frame: int | None) -> Response:
    readable_job(ctx, who, job_id)
    obj = next((o for o in ctx.store.objects(job_id) if o.input_id == input_id), None)
    if obj is None:
        raise ApiError(404, "not-found", "no such object in this job; see the job's report")
    if obj.status != "clean":
        raise ApiError(409, "not-released", "only clean outputs are released: this one is "
                       f"{obj.status}" + ("; a reviewer must approve it first" if obj.status == "review" else ""))
    data = output_path(ctx, job_id, obj).read_bytes()
    name = obj.output.rsplit("/", 1)[-1]
    frame_used: int | None = None
    suffix = "." + name.rsplit(".", 1)[-1].lower() if "." in name else ""
    if as_ == "native":
        body, media = data, BY_EXTENSION.get(suffix, MEDIA.get(obj.format, "application/octet-stream"))
    elif suffix == ".zip":
        raise ApiError(409, "already-exported", "this output is already the job's exported frames (a zip); "
                       "download it with as=native")
    else:
        body, frame_used = render(data, ctx.derive, [], frame, "PNG" if as_ == "png" else "JPEG")
        media, name = MEDIA[as_], name.split(".", 1)[0] + (".png" if as_ == "png" else ".jpg")
    audit(ctx, who, "output.read", "ok", job_id, targets={"input_id": input_id}, export=as_,
          frame=frame_used)
    return Response(body, media_type=media, headers={"Content-Disposition": f'attachment; filename="{name}"',
                                                      "Cache-Control": "no-store"})


@router.get("/{job_id}/outputs/{input_id}", summary="Download a clean output (as it is, or one frame as PNG/JPEG)",
            response_class=Response,
            responses={**responses(404, 409, 503), 200: {"description": "The output", "content": {
                m: BINARY for m in sorted({*MEDIA.values(), *BY_EXTENSION.values()})}}})
def get_output(job_id: JobId, input_id: InputId, ctx: Annotated[ApiContext, Depends(context)],
               who: Annotated[Caller, Depends(require(*READERS))],
               as_: Annotated[Literal["native", "png", "jpeg"], Query(
                   alias="as", description="native: the output file itself (DICOM for DICOM); png or jpeg: "
                                           "one frame rendered with the object's own window")] = "native",
               frame: Annotated[int | None, Query(ge=0, le=100_000)] = None) -> Response:
    return download(ctx, who, job_id, input_id, as_, frame)


