"""Pixel preparation: stored values -> 8-bit RGB renderings for OCR, and stored values back to bytes.

Rendering follows PS3.3's pipeline (Modality LUT, then VOI LUT, then Presentation), via pydicom's own
transforms; redaction writes into the *stored* values so the output keeps its bit depth.
"""
from __future__ import annotations

import contextlib
import io

import numpy as np
from PIL import Image
from pydicom.dataset import Dataset
from pydicom.pixels import apply_color_lut, apply_modality_lut, apply_voi_lut, iter_pixels, pixel_array

from .record import StageError


def dicom_stored_frames(ds: Dataset) -> np.ndarray:
    """All frames as (F, H, W) or (F, H, W, S); colour is RGB (pydicom converts YCbCr on decode)."""
    try:
        # Not ``ds.pixel_array``: pydicom caches that array on the dataset, and callers fill regions in the
        # result. A second decode of the same dataset (a retried redaction) would see those fills and take
        # the pixels as already clean, while PixelData still holds the text.
        arr = _decode(ds)
    except (KeyboardInterrupt, SystemExit, GeneratorExit, StageError):
        raise
    # BaseException: the Rust RLE decoder (pylibjpeg-rle) panics on a bad segment with pyo3's PanicException,
    # which is not an Exception and would escape every handler up to the runner.
    except BaseException as exc:  # noqa: BLE001 - decoders raise many types on corrupt codestreams
        raise StageError("undecodable", f"pixel data could not be decoded ({exc.__class__.__name__}: "
                                        f"transfer syntax {_ts_name(ds)})") from None
    frames = int(ds.get("NumberOfFrames", 1) or 1)
    samples = int(ds.get("SamplesPerPixel", 1) or 1)
    if frames == 1:
        arr = arr[np.newaxis]
    if arr.ndim == 3 and samples > 1 and frames == 1 and arr.shape[-1] != samples:
        raise StageError("corrupt", "pixel array shape does not match SamplesPerPixel")
    _check_decoded_shape(arr, samples)
    return np.ascontiguousarray(arr)


def _decode(ds: Dataset) -> np.ndarray:
    try:
        frames, samples = int(ds.get("NumberOfFrames", 1) or 1), int(ds.get("SamplesPerPixel", 1) or 1)
    except (TypeError, ValueError):
        frames = samples = 1  # unreadable: pydicom's own decode judges the pixel data
    return _colour_frames(ds, frames) if frames > 1 and samples > 1 else pixel_array(ds)


def _colour_frames(ds: Dataset, frames: int) -> np.ndarray:
    """A colour multi-frame object decoded frame by frame into one array.

    pydicom converts YCbCr to RGB in float64 over the whole array at once: a 120-frame 640x480 ultrasound
    cine (110 MB decoded) peaked at 950 MB in that conversion. One frame at a time, it is one frame's worth.
    """
    out: np.ndarray | None = None
    count = 0
    for index, frame in enumerate(iter_pixels(ds)):
        if out is None:
            out = np.empty((frames, *frame.shape), dtype=frame.dtype)
        if index >= frames or frame.shape != out.shape[1:]:
            raise StageError("corrupt", "decoded frames do not match NumberOfFrames and the frame size")
        out[index] = frame
        count = index + 1
    if out is None or count != frames:
        raise StageError("corrupt", f"pixel data holds {count} of the {frames} frames NumberOfFrames gives")
    return out


def _check_decoded_shape(arr: np.ndarray, samples: int) -> None:
    # An unreadable NumberOfFrames (pydicom then assumes 1) over pixel data for several frames decodes to
    # one more axis than the header describes; every later step would index it wrongly.
    if arr.ndim != (4 if samples > 1 else 3):
        raise StageError("corrupt", f"decoded pixel data has {arr.ndim - 1} axes per frame; NumberOfFrames and "
                                    "SamplesPerPixel describe a different layout")


def _ts_name(ds: Dataset) -> str:
    meta = getattr(ds, "file_meta", None)
    ts = meta.get("TransferSyntaxUID") if meta is not None else None
    return ts.name if ts is not None else "unknown"


def render_dicom(ds: Dataset, stored: np.ndarray) -> list[np.ndarray]:
    """8-bit RGB renderings of every frame, as a reader would see them on screen."""
    photometric = str(ds.get("PhotometricInterpretation", "MONOCHROME2")).strip()
    if photometric == "PALETTE COLOR":
        rendered = _palette(stored, ds)
        return [_to_uint8_rgb(frame) for frame in rendered.reshape((-1,) + rendered.shape[-3:])]
    if stored.ndim == 4:  # colour
        return [_to_uint8_rgb(frame) for frame in stored]
    out = []
    for frame in stored:
        value = _finite(apply_modality_lut(frame, ds))
        if "WindowCenter" in ds or "VOILUTSequence" in ds:
            # a malformed window falls back to the full range
            with contextlib.suppress(Exception):
                value = apply_voi_lut(value, ds, prefer_lut=True)
        gray = _stretch(np.asarray(value, dtype=np.float64))
        if photometric == "MONOCHROME1":
            gray = 255 - gray
        out.append(np.repeat(gray[..., np.newaxis], 3, axis=2))
    return out


def _finite(value: np.ndarray) -> np.ndarray:
    # A Rescale Slope of NaN or 1e308 turns every value into NaN or inf: no screen shows such an image, and
    # its "rendering" is noise the OCR would spend minutes reading.
    if np.issubdtype(np.asarray(value).dtype, np.floating) and not np.isfinite(value).all():
        raise StageError("corrupt", "Rescale Slope/Intercept or the Modality LUT turn pixel values into "
                                    "NaN or infinity: the image cannot be displayed, so it cannot be checked")
    return value


def _palette(stored: np.ndarray, ds: Dataset) -> np.ndarray:
    try:
        return apply_color_lut(stored, ds)
    except Exception as exc:  # noqa: BLE001 - pydicom raises several types for a missing or broken palette
        raise StageError("corrupt", f"PALETTE COLOR image has no usable palette lookup table "
                                    f"({exc.__class__.__name__}): it cannot be shown, so it cannot be checked "
                                    "for burned-in text") from None


def _stretch(value: np.ndarray) -> np.ndarray:
    low, high = float(np.min(value)), float(np.max(value))
    if high <= low:
        return np.zeros(value.shape, dtype=np.uint8)
    return ((value - low) * (255.0 / (high - low))).round().astype(np.uint8)


def _to_uint8_rgb(frame: np.ndarray) -> np.ndarray:
    if frame.dtype == np.uint8:
        return np.ascontiguousarray(frame[..., :3])
    return np.stack([_stretch(frame[..., c].astype(np.float64)) for c in range(3)], axis=-1)


def decode_image(data: bytes) -> tuple[np.ndarray, str]:
    """JPEG/PNG -> (array, Pillow mode)."""
    try:
        with Image.open(io.BytesIO(data)) as opened:
            opened.load()
            if opened.mode in ("L", "RGB", "RGBA", "I;16", "I", "LA"):
                return np.asarray(opened), opened.mode
            return np.asarray(opened.convert("RGB")), "RGB"
    except Exception as exc:  # noqa: BLE001
        raise StageError("undecodable", f"image pixels could not be decoded ({exc.__class__.__name__})") from None


def render_image(arr: np.ndarray) -> np.ndarray:
    if arr.ndim == 3 and arr.shape[-1] == 2:  # grey + alpha (PNG "LA"): the grey is what is seen
        arr = arr[..., 0]
    if arr.ndim == 2:
        gray = arr if arr.dtype == np.uint8 else _stretch(arr.astype(np.float64))
        return np.repeat(gray[..., np.newaxis], 3, axis=2)
    return _to_uint8_rgb(arr)
