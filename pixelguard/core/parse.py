"""Parse stage: detect the format by content, read the header (never decode pixels), validate.

The stage asks the format's handler (``pixelguard.formats``) to read the header; the DICOM reader lives here.

Every failure raises StageError with a reason a user can act on; reasons never quote header values.
"""
from __future__ import annotations

import io
import struct
import warnings
from dataclasses import dataclass

import pydicom
from pydicom.dataset import Dataset
from pydicom.encaps import parse_basic_offsets, parse_fragments
from pydicom.errors import InvalidDicomError
from pydicom.pixels.utils import get_expected_length
from pydicom.tag import BaseTag

from . import sop
from .keys import Derivations
from .limits import DEFAULT, Limits, check_pixel_claim
from .record import ObjectRecord, StageError
from .sop import SopKind

MAX_OBJECT_BYTES = DEFAULT.max_object_bytes  # larger objects are refused before they are read into memory

_UNDEFINED = 0xFFFFFFFF
_PIXEL_DATA = BaseTag(0x7FE00010)
_FLOAT_PIXEL_DATA = 0x7FE00008
_DOUBLE_PIXEL_DATA = 0x7FE00009
_MEDIA_STORAGE_DIRECTORY = "1.2.840.10008.1.3.10"


@dataclass(frozen=True)
class ImageHeader:
    """Minimal header facts for non-DICOM objects (JPEG/PNG: segment/chunk layout; NIfTI: header)."""

    width: int
    height: int
    detail: dict[str, object]


def parse(input_id: str, data: bytes, derive: Derivations, limits: Limits = DEFAULT) -> ObjectRecord:
    if len(data) > limits.max_object_bytes:
        raise StageError("oversized", f"object is {len(data)} bytes; the limit is {limits.max_object_bytes}")
    from pixelguard.formats import detect, handler

    fmt = detect(data)
    record = ObjectRecord(input_id=input_id, format=fmt, data=data, size=len(data))
    plugin = handler(fmt)
    record.header = plugin.read_header(data, limits)
    record.routing_key = plugin.routing_key(record, derive)
    return record


def text_value(ds: Dataset, keyword: str) -> str:
    """A header value as text; "" when absent or malformed (validation reports malformed values)."""
    try:
        value = ds.get(keyword)
    except Exception:  # noqa: BLE001 - a malformed value is reported by validation, not here
        return ""
    return str(value).strip() if value else ""


def read_dicom(data: bytes, limits: Limits = DEFAULT) -> Dataset:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            ds = pydicom.dcmread(io.BytesIO(data), force=True)
        except InvalidDicomError:
            raise StageError("corrupt", "not a valid DICOM file (no readable data set)") from None
        except (EOFError, struct.error, OSError) as exc:
            raise StageError("truncated", f"DICOM ends inside an element header ({exc.__class__.__name__})") from None
        except Exception as exc:  # noqa: BLE001 - pydicom raises many types for malformed input
            raise StageError("corrupt", f"DICOM could not be read ({exc.__class__.__name__})") from None
    for warning in caught:
        if "End of file reached" in str(warning.message):
            raise StageError("truncated", f"DICOM ends before its last sequence or pixel data is closed "
                                          f"(file is {len(data)} bytes)")
    elements = list(ds._dict.values())
    if not elements:
        raise StageError("corrupt", "DICOM data set holds no elements")
    last = elements[-1]
    length = getattr(last, "length", None)
    value = getattr(last, "value", None)
    if length not in (None, _UNDEFINED) and isinstance(value, bytes) and len(value) < length:
        raise StageError("truncated", f"DICOM element ({last.tag >> 16:04X},{last.tag & 0xFFFF:04X}) declares "
                                      f"{length} bytes but the file ends after {len(value)}")
    meta = getattr(ds, "file_meta", None)
    try:
        media_class = str(meta.get("MediaStorageSOPClassUID", "")) if meta is not None else ""
    except Exception:  # noqa: BLE001 - an unknown VR or a bad length in group 0002
        raise StageError("corrupt", "the DICOM file meta information does not read (group 0002 holds a "
                                    "malformed element)") from None
    if media_class == _MEDIA_STORAGE_DIRECTORY:
        raise StageError("unsupported", "DICOMDIR (a file-set directory, not an image object): "
                                        "de-identify the files it indexes instead")
    if "SOPClassUID" not in ds:
        raise StageError("corrupt", "DICOM data set has no SOPClassUID: not a composite object")
    _check_key_values(ds)
    _check_transfer_syntax(ds)
    _check_pixel_module(ds, limits)
    return ds


def _check_pixel_module(ds: Dataset, limits: Limits) -> None:
    """An image object must carry a whole pixel module: geometry, pixel data, lengths and frames that agree.

    Checked from the header alone (nothing is decoded), so a cut or inconsistent file is an error with a
    reason before any stage trusts it, and an absurd claim is refused before a decoder allocates for it.
    """
    sop_class = str(ds.get("SOPClassUID", "")).strip()
    kind = sop.kind_of(sop_class)
    elements = ds._dict
    has_pixels = _PIXEL_DATA in elements or _FLOAT_PIXEL_DATA in elements or _DOUBLE_PIXEL_DATA in elements
    missing = [k for k in ("Rows", "Columns", "BitsAllocated") if k not in ds] + ([] if has_pixels else ["PixelData"])
    if kind is SopKind.IMAGE and missing:
        code = "truncated" if not has_pixels and "Rows" in ds else "corrupt"
        raise StageError(code, f"{sop.describe(sop_class)} object lacks its image pixel module "
                               f"({', '.join(missing)}): an image without its pixels is never published; "
                               "send the complete file")
    if not has_pixels:
        if "Rows" in ds and "Columns" in ds and "BitsAllocated" in ds:
            raise StageError("truncated", "DICOM image has Rows/Columns but no Pixel Data element "
                                          "(the file was cut before it)")
        return
    if missing:
        raise StageError("corrupt", f"DICOM holds pixel data but lacks {', '.join(missing)} to lay it out")
    try:
        rows, cols = int(ds.Rows), int(ds.Columns)
        samples = int(ds.get("SamplesPerPixel", 1) or 1)
        frames = int(ds.get("NumberOfFrames", 1) or 1)
        bits = int(ds.BitsAllocated)
    except (TypeError, ValueError):
        raise StageError("corrupt", "DICOM image attributes Rows/Columns/BitsAllocated are not numbers") from None
    check_pixel_claim(rows, cols, samples, frames, bits, limits)
    if _PIXEL_DATA not in elements:
        return  # float/double pixel data: native only; pydicom checks its length when decoding
    raw = elements[_PIXEL_DATA]
    meta = getattr(ds, "file_meta", None)
    ts = meta.get("TransferSyntaxUID") if meta is not None else None
    if getattr(raw, "length", None) == _UNDEFINED or (ts is not None and ts.is_compressed):
        _check_fragments(ds.PixelData, frames)
        return
    try:
        expected = get_expected_length(ds, unit="bytes")  # knows YBR_FULL_422's 2 bytes a pixel and 1-bit packing
    except Exception:  # noqa: BLE001 - an attribute it needs is malformed
        raise StageError("corrupt", "DICOM image attributes do not describe a pixel layout") from None
    length = getattr(raw, "length", None)
    actual = length if length not in (None, _UNDEFINED) else len(ds.PixelData)
    if actual < expected:
        raise StageError("truncated", f"pixel data holds {actual} bytes; {rows}x{cols}x{samples}x{frames} at "
                                      f"{bits} bits needs {expected}")


def _check_fragments(pixel_data: bytes, frames: int) -> None:
    """Encapsulated pixel data: items that parse, and at least one fragment for every frame."""
    try:
        count, _offsets = parse_fragments(pixel_data)
        table = parse_basic_offsets(pixel_data)
    except Exception as exc:  # noqa: BLE001 - malformed item tags or lengths surface as several types
        raise StageError("corrupt", f"encapsulated pixel data is malformed ({exc.__class__.__name__}): "
                                    "its items or offset table do not parse") from None
    if count == 0:
        raise StageError("corrupt", "encapsulated pixel data holds no fragments")
    if count < frames:
        raise StageError("truncated", f"encapsulated pixel data holds {count} fragment(s) for {frames} frames")
    if table and len(table) != frames:
        raise StageError("corrupt", f"the basic offset table lists {len(table)} frame(s); the header claims {frames}")


# Attributes the stages read to decide what an object is and how its pixels are laid out.
_KEY_ATTRIBUTES = ("SOPClassUID", "SOPInstanceUID", "StudyInstanceUID", "SeriesInstanceUID", "SpecificCharacterSet",
                   "Rows", "Columns", "BitsAllocated", "BitsStored", "HighBit", "SamplesPerPixel",
                   "PixelRepresentation", "PlanarConfiguration", "NumberOfFrames", "PhotometricInterpretation",
                   "BurnedInAnnotation")


def _check_key_values(ds: Dataset) -> None:
    """Key attributes must decode under their VR (a UI written as UL, a US of 3 bytes): pydicom raises on first
    access, which would otherwise happen deep inside a later stage."""
    for keyword in _KEY_ATTRIBUTES:
        try:
            ds.get(keyword)
        except Exception as exc:  # noqa: BLE001 - pydicom raises several types for undecodable values
            tag = pydicom.datadict.tag_for_keyword(keyword)
            elem = ds._dict.get(BaseTag(tag)) if tag is not None else None
            vr = getattr(elem, "VR", "?")
            raise StageError("corrupt", f"{keyword} cannot be read as its VR {vr} ({exc.__class__.__name__}): "
                                        "the element's length or VR is wrong") from None


def _check_transfer_syntax(ds: Dataset) -> None:
    """A Transfer Syntax UID that names no transfer syntax: pydicom guessed the encoding, nobody can decode it."""
    from pydicom.uid import UID

    meta = getattr(ds, "file_meta", None)
    syntax = meta.get("TransferSyntaxUID") if meta is not None else None
    if syntax is not None and not UID(str(syntax)).is_transfer_syntax:  # an empty value reads as a plain str
        raise StageError("unsupported", "Transfer Syntax UID (0002,0010) is not a transfer syntax DICOM or "
                                        "pydicom knows: the pixel data cannot be decoded or re-encoded")


