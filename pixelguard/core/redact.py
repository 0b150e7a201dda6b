"""Redact stage: find burned-in text, fill it in the stored pixel values, re-encode, verify.

The detector is passed in (in-process engine embedded, Triton in streaming), so this module stays pure.
A region is filled in every frame where it is detected; a second detection pass on the redacted pixels
verifies the result, and anything still found (or found with low confidence) sends the object to review.
"""
from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Protocol

import numpy as np
from PIL import Image
from pydicom.dataset import Dataset
from pydicom.filewriter import dcmwrite
from pydicom.pixels import pack_bits
from pydicom.uid import (
    ExplicitVRBigEndian,
    ExplicitVRLittleEndian,
    JPEG2000Lossless,
    JPEGLSLossless,
    RLELossless,
)

from .pixels import decode_image, dicom_stored_frames, render_dicom, render_image
from .record import Format, ObjectRecord, StageError
from .regions import Region
from .scrub import nifti_bytes

_REENCODE_AS_IS = {RLELossless, JPEGLSLossless, JPEG2000Lossless}
_COLOUR_CODED = {"YBR_FULL", "YBR_FULL_422", "YBR_ICT", "YBR_RCT", "YBR_PARTIAL_420"}


class Detector(Protocol):
    def detect(self, frames: list[np.ndarray]) -> list[list[Region]]: ...


@dataclass(frozen=True)
class RedactionSettings:
    mode: str = "all"
    review_threshold: float = 0.6
    passes: int = 2  # detect -> fill -> detect again -> fill -> verify


def redact(record: ObjectRecord, detector: Detector, settings: RedactionSettings) -> ObjectRecord:
    if record.format is Format.NIFTI:
        # Volumes carry no burned-in annotation; their text lives in header fields the scrub stage clears.
        record.output_bytes = nifti_bytes(record)
        record.stats["pixels"] = "volume-not-scanned"
        return record
    if record.format is Format.DICOM:
        _redact_dicom(record, detector, settings)
    else:
        _redact_image(record, detector, settings)
    return record


def _redact_dicom(record: ObjectRecord, detector: Detector, settings: RedactionSettings) -> None:
    ds: Dataset = record.header
    if "PixelData" not in ds:
        record.stats["pixels"] = "none"
        record.output_bytes = write_dicom(ds)
        return
    if settings.mode == "off":
        if str(ds.get("BurnedInAnnotation", "")).upper() != "NO":
            record.add_finding("redact", "pixel redaction is off and the object may carry burned-in text")
        record.stats["pixels"] = "not-scanned"
        record.output_bytes = write_dicom(ds)
        return
    stored = dicom_stored_frames(ds)
    photometric = str(ds.get("PhotometricInterpretation", "MONOCHROME2")).strip()
    changed, verified, scores = _detect_and_fill(stored, lambda arr: render_dicom(ds, arr), detector,
                                                 settings, _fill_value(photometric, stored))
    _score(record, scores, verified, settings)
    if changed or ds.file_meta.TransferSyntaxUID == ExplicitVRBigEndian:
        # Big endian is retired: outputs are written little endian, so the stored values are re-laid too.
        _store_pixels(ds, stored)
    if verified:
        ds.BurnedInAnnotation = "NO"
    record.output_bytes = write_dicom(ds)


def _redact_image(record: ObjectRecord, detector: Detector, settings: RedactionSettings) -> None:
    if settings.mode == "off":
        record.add_finding("redact", "pixel redaction is off and the image may carry burned-in text")
        return
    arr, mode = decode_image(record.output_bytes)
    stored = np.array(arr)[np.newaxis]
    changed, verified, scores = _detect_and_fill(stored, lambda a: [render_image(f) for f in a], detector,
                                                 settings, 0)
    _score(record, scores, verified, settings)
    if changed:
        buf = io.BytesIO()
        image = Image.fromarray(stored[0], mode=mode if mode in ("L", "RGB", "RGBA", "LA") else None)
        if record.format is Format.PNG:
            image.save(buf, format="PNG", optimize=False)
        else:
            # JPEG has no lossless re-encode that every viewer reads; high quality keeps text gone and the
            # image useful. Metadata is not copied (Pillow writes only JFIF).
            image.convert("RGB" if image.mode not in ("L", "RGB") else image.mode).save(buf, format="JPEG",
                                                                                        quality=95)
        record.output_bytes = buf.getvalue()


def _detect_and_fill(stored: np.ndarray, render, detector: Detector, settings: RedactionSettings,
                     fill: float) -> tuple[bool, bool, list[float]]:
    """Detect on renderings, fill covers in the stored frames; returns (changed, verified, scores)."""
    scores: list[float] = []
    changed = False
    height, width = stored.shape[1], stored.shape[2]
    for _ in range(settings.passes):
        found = detector.detect(render(stored))
        if not any(found):
            return changed, True, scores
        for index, regions in enumerate(found):
            for region in regions:
                x0, y0, x1, y1 = region.cover(width, height)
                stored[index, y0:y1, x0:x1] = fill
                scores.append(region.score)
        changed = True
    remaining = detector.detect(render(stored))
    return changed, not any(remaining), scores


def _score(record: ObjectRecord, scores: list[float], verified: bool, settings: RedactionSettings) -> None:
    record.confidence = round(min(scores), 4) if scores else 1.0
    record.stats["text_regions"] = len(scores)
    if not verified:
        record.add_finding("redact", f"text still detected after {settings.passes} redaction passes")
    if scores and record.confidence < settings.review_threshold:
        record.add_finding("redact", f"text detection confidence {record.confidence:.2f} is below the "
                                     f"profile's review threshold {settings.review_threshold:.2f}")


def _fill_value(photometric: str, stored: np.ndarray) -> float:
    if stored.ndim == 4:
        return 0
    # The darkest stored value renders black under any window for MONOCHROME2; MONOCHROME1 is inverted.
    return float(stored.max() if photometric == "MONOCHROME1" else stored.min())


def _store_pixels(ds: Dataset, stored: np.ndarray) -> None:
    arr = stored if int(ds.get("NumberOfFrames", 1) or 1) > 1 else stored[0]
    if stored.ndim == 4 and str(ds.get("PhotometricInterpretation", "")).strip() in _COLOUR_CODED:
        ds.PhotometricInterpretation = "RGB"  # pydicom decoded the YCbCr data to RGB
    ts = ds.file_meta.TransferSyntaxUID
    try:
        if not ts.is_compressed:
            if "PlanarConfiguration" in ds:
                ds.PlanarConfiguration = 0
            if int(ds.BitsAllocated) == 1:
                ds.PixelData = pack_bits(arr)
            else:
                ds.PixelData = arr.astype(arr.dtype.newbyteorder("<")).tobytes()
            if ts == ExplicitVRBigEndian:
                ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
            ds["PixelData"].VR = "OB" if int(ds.BitsAllocated) <= 8 else "OW"
        else:
            target = ts if ts in _REENCODE_AS_IS else JPEG2000Lossless
            if "PlanarConfiguration" in ds:
                ds.PlanarConfiguration = 0
            ds.compress(target, arr, generate_instance_uid=False)
    except StageError:
        raise
    except Exception as exc:  # noqa: BLE001 - encoders raise many types
        raise StageError("encode", f"redacted pixels could not be re-encoded as {ts.name} "
                                   f"({exc.__class__.__name__})") from None


def write_dicom(ds: Dataset) -> bytes:
    buf = io.BytesIO()
    try:
        if ds.file_meta.TransferSyntaxUID == ExplicitVRBigEndian and "PixelData" not in ds:
            ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ts = ds.file_meta.TransferSyntaxUID
        if ds.original_encoding not in (None, (ts.is_implicit_VR, ts.is_little_endian)):
            # Re-encoding (big -> little endian): pydicom converts the parsed values for us.
            ds.preamble = b"\x00" * 128
            dcmwrite(buf, ds, implicit_vr=ts.is_implicit_VR, little_endian=ts.is_little_endian,
                     force_encoding=True)
        else:
            ds.save_as(buf, enforce_file_format=True)
    except Exception as exc:  # noqa: BLE001
        raise StageError("encode", f"DICOM could not be written ({exc.__class__.__name__})") from None
    return buf.getvalue()
