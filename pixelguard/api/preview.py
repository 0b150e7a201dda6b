"""Previews: one frame of an object rendered to PNG with its regions drawn, and PNG/JPEG exports.

Which frame: the one asked for, else the first frame holding a region, else the first. Windowing: the
object's own (DICOM Window Center/Width or VOI LUT, after the modality LUT), else its full range stretched
to 8 bits; colour as stored (YBR converted to RGB). These are ``core.pixels``'s renderings: what the OCR saw.
"""
from __future__ import annotations

import io
from collections.abc import Sequence
from typing import Any

import numpy as np
from PIL import Image, ImageDraw

from pixelguard.core.keys import Derivations
from pixelguard.core.parse import parse
from pixelguard.core.pixels import decode_image, dicom_stored_frames, render_dicom, render_image
from pixelguard.core.record import Format, StageError

from .errors import ApiError

COLOURS = {"filled": (0, 200, 0), "refilled": (0, 140, 0), "left": (230, 30, 30), "rule": (40, 120, 255),
           "manual": (255, 150, 0)}


def frames_of(data: bytes, derive: Derivations) -> tuple[Format, int, Any]:
    """(format, frame count, a renderer of frame i) for a DICOM, PNG or JPEG object."""
    try:
        record = parse("preview", data, derive)
        if record.format is Format.DICOM:
            ds = record.header
            if "PixelData" not in ds:
                raise ApiError(422, "no-pixels", "this object has no pixel data to show")
            stored = dicom_stored_frames(ds)
            return record.format, int(stored.shape[0]), lambda i: render_dicom(ds, stored[i:i + 1])[0]
        if record.format in (Format.PNG, Format.JPEG):
            arr, _mode = decode_image(data)
            return record.format, 1, lambda _i: render_image(np.asarray(arr))
    except StageError as exc:
        raise ApiError(422, "undecodable", f"the object cannot be rendered ({exc.code})") from None
    raise ApiError(422, "no-preview", "previews and image exports exist for DICOM, PNG and JPEG objects only; "
                   "download the object itself")


def pick_frame(count: int, regions: Sequence[dict[str, Any]], asked: int | None) -> int:
    if asked is not None:
        if not 0 <= asked < count:
            raise ApiError(422, "invalid", f"frame must be between 0 and {count - 1}")
        return asked
    framed = sorted(int(r["frame"]) for r in regions if int(r.get("frame", 0)) >= 0)
    return framed[0] if framed and framed[0] < count else 0


def render(data: bytes, derive: Derivations, regions: Sequence[dict[str, Any]], frame: int | None,
           image_format: str = "PNG") -> tuple[bytes, int]:
    """The chosen frame with ``regions`` outlined (none: a plain export); returns (bytes, frame)."""
    _fmt, count, frame_at = frames_of(data, derive)
    chosen = pick_frame(count, regions, frame)
    image = Image.fromarray(np.ascontiguousarray(frame_at(chosen)).astype(np.uint8), "RGB")
    draw = ImageDraw.Draw(image)
    for region in regions:
        if int(region.get("frame", 0)) not in (-1, chosen):
            continue
        x0, y0, x1, y1 = (int(v) for v in region["box"])
        draw.rectangle((x0, y0, max(x0, x1 - 1), max(y0, y1 - 1)),
                       outline=COLOURS.get(str(region.get("kind")), (255, 255, 0)), width=2)
    out = io.BytesIO()
    image.save(out, format=image_format, **({"quality": 92} if image_format == "JPEG" else {}))
    return out.getvalue(), chosen
