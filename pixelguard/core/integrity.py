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

import numpy as np
import pydicom
from PIL import Image
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
    header = record.header
    if record.format is Format.DICOM:
        ds: Dataset = header
        if "PixelData" not in ds and "FloatPixelData" not in ds and "DoubleFloatPixelData" not in ds:
            return NO_PIXELS
        return PixelShape(int(ds.get("NumberOfFrames", 1) or 1), int(ds.Rows), int(ds.Columns),
                          int(ds.get("SamplesPerPixel", 1) or 1))
    if record.format is Format.NIFTI:
        shape = tuple(int(d) for d in header.detail["image"].shape) + (1, 1, 1)
        return PixelShape(int(np.prod(shape[2:])), shape[1], shape[0], 1)
    return PixelShape(1, header.height, header.width, 0)  # samples: JPEG/PNG modes may change (palette -> RGB)


def check_output(fmt: Format, output: bytes, expected: PixelShape) -> None:
    """Raise StageError("integrity", ...) unless ``output`` reads back whole with the input's geometry."""
    if not output:
        raise StageError("integrity", "the stages produced no output bytes")
    if fmt is Format.DICOM:
        _check_dicom(output, expected)
    elif fmt is Format.NIFTI:
        _check_nifti(output, expected)
    else:
        _check_image(output, expected)


def _fail(what: str) -> StageError:
    return StageError("integrity", f"the output failed its re-read: {what}; nothing was published")


def _check_dicom(output: bytes, expected: PixelShape) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            ds = pydicom.dcmread(io.BytesIO(output))  # no force: an output must be a well-formed Part 10 file
            for element in ds.iterall():
                _ = element.value  # values that do not convert (bad VR, bad length) raise here
        except Exception as exc:  # noqa: BLE001 - pydicom raises many types for a malformed file
            raise _fail(f"the DICOM does not parse ({exc.__class__.__name__})") from None
    if expected.frames == 0:
        return
    if "PixelData" not in ds and "FloatPixelData" not in ds and "DoubleFloatPixelData" not in ds:
        raise _fail("the pixel data is missing")
    got = PixelShape(int(ds.get("NumberOfFrames", 1) or 1), int(ds.get("Rows", 0)), int(ds.get("Columns", 0)),
                     int(ds.get("SamplesPerPixel", 1) or 1))
    if got != expected:
        raise _fail(f"it holds {got.describe()} where its input held {expected.describe()}")
    from pydicom.pixels import iter_pixels  # only outputs with pixels pay for it

    decoded = 0
    try:
        for frame in iter_pixels(ds):
            if frame.shape[:2] != (expected.rows, expected.columns):
                raise _fail(f"frame {decoded + 1} decodes as {frame.shape[0]}x{frame.shape[1]}")
            decoded += 1
    except StageError:
        raise
    except Exception as exc:  # noqa: BLE001 - decoders raise many types on a bad codestream
        raise _fail(f"frame {decoded + 1} of {expected.frames} does not decode ({exc.__class__.__name__})") from None
    if decoded != expected.frames:
        raise _fail(f"{decoded} frame(s) decode where {expected.frames} were expected")


def _check_image(output: bytes, expected: PixelShape) -> None:
    try:
        with Image.open(io.BytesIO(output)) as image:
            image.load()
            size = image.size
    except Exception as exc:  # noqa: BLE001
        raise _fail(f"the image does not decode ({exc.__class__.__name__})") from None
    if size != (expected.columns, expected.rows):
        raise _fail(f"the image is {size[0]}x{size[1]} where its input was {expected.columns}x{expected.rows}")


def _check_nifti(output: bytes, expected: PixelShape) -> None:
    import nibabel as nib  # only NIfTI outputs pay its import

    from .formats import gunzip

    try:
        raw = gunzip(output, 8 * 1024**3) if output[:2] == b"\x1f\x8b" else output
        cls = nib.Nifti2Image if raw[4:8] in (b"n+2\x00", b"ni2\x00") else nib.Nifti1Image
        image = cls.from_bytes(raw)
        np.asarray(image.dataobj[..., 0] if len(image.shape) > 2 else image.dataobj)  # the voxels read back
        shape = tuple(int(d) for d in image.shape) + (1, 1, 1)
    except StageError:
        raise
    except Exception as exc:  # noqa: BLE001
        raise _fail(f"the NIfTI does not read back ({exc.__class__.__name__})") from None
    got = PixelShape(int(np.prod(shape[2:])), shape[1], shape[0], 1)
    if got != expected:
        raise _fail(f"it holds {got.describe()} where its input held {expected.describe()}")
