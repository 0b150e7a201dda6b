"""Re-read every output before it is published, and compare it with what its input was.

Both runners call :func:`check_output` after redaction: the output's bytes are parsed again from scratch
(the whole DICOM, not only its header), every frame is decoded one at a time (bounded memory), and the
geometry is compared with the input's (:class:`PixelShape`, taken at parse). A broken encoder, a writer
that dropped the pixel data or a frame count that changed is an ``integrity`` error, never a clean object.
"""
from __future__ import annotations

import io
import warnings
from dataclasses import dataclass

import pydicom
from pydicom.dataset import Dataset

from .record import Format, ObjectRecord, StageError


@dataclass(frozen=True)
class PixelShape:
    """Frames x rows x columns x samples of an object's pixels (0 frames: the object has none)."""

    frames: int
    rows: int
    columns: int
    samples: int = 1

    def describe(self) -> str:
        return f"{self.frames} frame(s) of {self.rows}x{self.columns}x{self.samples}"


NO_PIXELS = PixelShape(0, 0, 0, 0)


def input_shape(record: ObjectRecord) -> PixelShape:
    """The geometry the input claims (parse has already checked that it is consistent)."""
    from pixelguard.formats import handler

    return handler(record.format).input_shape(record)


def dicom_shape(ds: Dataset) -> PixelShape:
    if "PixelData" not in ds and "FloatPixelData" not in ds and "DoubleFloatPixelData" not in ds:
        return NO_PIXELS
    return PixelShape(int(ds.get("NumberOfFrames", 1) or 1), int(ds.Rows), int(ds.Columns),
                      int(ds.get("SamplesPerPixel", 1) or 1))


def check_output(fmt: Format, output: bytes, expected: PixelShape, *, decode_frames: bool = True) -> None:
    """Raise StageError("integrity", ...) unless ``output`` reads back whole with the input's geometry.

    ``decode_frames=False`` when the stages left the pixel data as it came (``--redaction off``): the output's
    pixel data is then the input's, byte for byte, and only the rest is read back.
    """
    from pixelguard.formats import handler

    if not output:
        raise StageError("integrity", "the stages produced no output bytes")
    handler(fmt).check_output(output, expected, decode_frames)


def fail(what: str) -> StageError:
    return StageError("integrity", f"the output failed its re-read: {what}; nothing was published")


def check_dicom(output: bytes, expected: PixelShape, decode_frames: bool = True) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            ds = pydicom.dcmread(io.BytesIO(output))  # no force: an output must be a well-formed Part 10 file
            for element in ds.iterall():
                _ = element.value  # values that do not convert (bad VR, bad length) raise here
        except Exception as exc:  # noqa: BLE001 - pydicom raises many types for a malformed file
            raise fail(f"the DICOM does not parse ({exc.__class__.__name__})") from None
    if expected.frames == 0:
        return
    if "PixelData" not in ds and "FloatPixelData" not in ds and "DoubleFloatPixelData" not in ds:
        raise fail("the pixel data is missing")
    got = PixelShape(int(ds.get("NumberOfFrames", 1) or 1), int(ds.get("Rows", 0)), int(ds.get("Columns", 0)),
                     int(ds.get("SamplesPerPixel", 1) or 1))
    if got != expected:
        raise fail(f"it holds {got.describe()} where its input held {expected.describe()}")
    if not decode_frames:
        return
    from pydicom.pixels import iter_pixels  # only outputs with pixels pay for it

    decoded = 0
    try:
        for frame in iter_pixels(ds):
            if frame.shape[:2] != (expected.rows, expected.columns):
                raise fail(f"frame {decoded + 1} decodes as {frame.shape[0]}x{frame.shape[1]}")
            decoded += 1
    except StageError:
        raise
    except Exception as exc:  # noqa: BLE001 - decoders raise many types on a bad codestream
        raise fail(f"frame {decoded + 1} of {expected.frames} does not decode ({exc.__class__.__name__})") from None
    if decoded != expected.frames:
        raise fail(f"{decoded} frame(s) decode where {expected.frames} were expected")


