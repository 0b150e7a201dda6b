"""Redact stage: burned-in text out of each format's pixels, then re-encoded.

The text search itself (detect, fill, verify) is ``core.textsearch``; this module turns a record's
pixels into stored frames for it and writes the result back in the object's own encoding.
Used by ``core.pipeline`` (embedded runner) and ``agents.stages`` (streaming runner).
"""
from __future__ import annotations

import io

import numpy as np
from pydicom.dataset import Dataset
from pydicom.filewriter import dcmwrite
from pydicom.pixels import convert_color_space, pack_bits
from pydicom.uid import (
    ExplicitVRBigEndian,
    ExplicitVRLittleEndian,
    JPEG2000Lossless,
    JPEGLSLossless,
    RLELossless,
)

from .limits import Deadline
from .pixel_rules import boxes_for
from .pixels import dicom_stored_frames, render_dicom
from .record import ObjectRecord, StageError
from .splice import write_spliced
from .textsearch import Detector, RedactionSettings, detect_and_fill, fill_manual, score
from .vocabulary import RedactionMode

_REENCODE_AS_IS = {RLELossless, JPEGLSLossless, JPEG2000Lossless}
_COLOUR_CODED = {"YBR_FULL", "YBR_FULL_422", "YBR_ICT", "YBR_RCT", "YBR_PARTIAL_420"}


def redact(record: ObjectRecord, detector: Detector, settings: RedactionSettings,
           deadline: Deadline | None = None) -> ObjectRecord:
    from pixelguard.formats import handler

    handler(record.format).redact(record, detector, settings, deadline)
    return record


def redact_dicom(record: ObjectRecord, detector: Detector, settings: RedactionSettings,
                  deadline: Deadline | None) -> None:
    ds: Dataset = record.header
    if "PixelData" not in ds:
        record.stats["pixels"] = "none"
        record.output_bytes = write_spliced(ds)  # pixels untouched: unchanged elements copied as bytes
        return
    if settings.mode is RedactionMode.OFF:
        if str(ds.get("BurnedInAnnotation", "")).upper() != "NO":
            record.add_finding("redact", "pixel redaction is off and the object may carry burned-in text")
        record.stats["pixels"] = "not-scanned"
        record.output_bytes = write_spliced(ds)  # pixels untouched: unchanged elements copied as bytes
        return
    stored = dicom_stored_frames(ds)
    photometric = str(ds.get("PhotometricInterpretation", "MONOCHROME2")).strip()
    fill = _fill_value(photometric, stored)
    ruled = boxes_for(ds)
    for x0, y0, x1, y1 in ruled:  # known fixed banners: filled on every frame, before OCR looks
        stored[:, y0:y1, x0:x1] = fill
    record.stats["rule_boxes"] = len(ruled)
    regions: list[dict[str, object]] = [{"frame": -1, "box": list(box), "score": 1.0, "kind": "rule"}
                                        for box in ruled]  # frame -1: every frame
    regions += fill_manual(stored, settings, fill)
    record.stats["regions"] = regions
    changed, problems, scores = detect_and_fill(stored, lambda arr: render_dicom(ds, arr), detector,
                                                 settings, fill, deadline, regions)
    score(record, scores, problems, settings)
    if changed or ruled or settings.manual_boxes or ds.file_meta.TransferSyntaxUID == ExplicitVRBigEndian:
        # Big endian is retired: outputs are written little endian, so the stored values are re-laid too.
        _store_pixels(ds, stored, settings.encoding)
    if not problems:
        ds.BurnedInAnnotation = "NO"
    record.output_bytes = write_dicom(ds)


def _fill_value(photometric: str, stored: np.ndarray) -> float:
    if stored.ndim == 4:
        return 0
    # The darkest stored value renders black under any window for MONOCHROME2; MONOCHROME1 is inverted.
    return float(stored.max() if photometric == "MONOCHROME1" else stored.min())


def _store_pixels(ds: Dataset, stored: np.ndarray, encoding: str = "original") -> None:
    arr = stored if int(ds.get("NumberOfFrames", 1) or 1) > 1 else stored[0]
    ts = ds.file_meta.TransferSyntaxUID
    photometric = str(ds.get("PhotometricInterpretation", "")).strip()
    if stored.ndim == 4 and photometric in _COLOUR_CODED:
        # pydicom decoded YCbCr to RGB. Native and RLE data can carry YBR_FULL again (so the photometric
        # interpretation is kept); the others are stored as RGB, which every lossless codec accepts.
        if photometric == "YBR_FULL" and (not ts.is_compressed or ts == RLELossless) and encoding == "original":
            arr = convert_color_space(arr, "RGB", "YBR_FULL")
        else:
            ds.PhotometricInterpretation = "RGB"
    try:
        if "PlanarConfiguration" in ds:
            ds.PlanarConfiguration = 0  # we write interleaved samples
        if encoding == "htj2k":
            _encode_htj2k(ds, arr)
        elif not ts.is_compressed:
            if int(ds.BitsAllocated) == 1:
                ds.PixelData = pack_bits(arr)
            else:
                ds.PixelData = arr.astype(arr.dtype.newbyteorder("<")).tobytes()
            if ts == ExplicitVRBigEndian:
                ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
            ds["PixelData"].VR = "OB" if int(ds.BitsAllocated) <= 8 else "OW"
        else:
            # Lossless re-encode: the original syntax where pydicom has an encoder, else JPEG 2000 lossless.
            target = ts if ts in _REENCODE_AS_IS else JPEG2000Lossless
            ds.compress(target, arr, generate_instance_uid=False)
    except StageError:
        raise
    except Exception as exc:  # noqa: BLE001 - encoders raise many types
        raise StageError("encode", f"redacted pixels could not be re-encoded as {ts.name} "
                                   f"({exc.__class__.__name__})") from None


HTJ2K_LOSSLESS = "1.2.840.10008.1.2.4.201"


def _encode_htj2k(ds: Dataset, arr: np.ndarray) -> None:
    """HTJ2K lossless (OpenJPH through imagecodecs), one codestream per frame, encapsulated."""
    import imagecodecs  # optional output codec
    from pydicom.encaps import encapsulate
    from pydicom.uid import UID

    frames = arr if int(ds.get("NumberOfFrames", 1) or 1) > 1 else arr[np.newaxis]
    # Native byte order: pydicom decodes a big-endian object to big-endian arrays, whose bytes OpenJPH would
    # take for little-endian values.
    native = [np.ascontiguousarray(f, dtype=f.dtype.newbyteorder("=")) for f in frames]
    ds.PixelData = encapsulate([bytes(imagecodecs.htj2k_encode(f)) for f in native])
    ds["PixelData"].VR = "OB"
    ds["PixelData"].is_undefined_length = True
    ds.file_meta.TransferSyntaxUID = UID(HTJ2K_LOSSLESS)
    if "LossyImageCompression" not in ds:
        ds.LossyImageCompression = "00"


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
