"""Parse stage: detect the format by content, read the header (never decode pixels), validate.

Every failure raises StageError with a reason a user can act on; reasons never quote header values.
"""
from __future__ import annotations

import io
import struct
import warnings
import zlib
from dataclasses import dataclass

import pydicom
from pydicom.dataset import Dataset
from pydicom.encaps import parse_basic_offsets, parse_fragments
from pydicom.errors import InvalidDicomError
from pydicom.pixels.utils import get_expected_length

from . import sop
from .claims import check_jpeg_sof, check_nifti_claim, check_png_ihdr, nifti_gzip_head
from .formats import gunzip, sniff
from .keys import Derivations
from .limits import DEFAULT, Limits, check_pixel_claim
from .record import Format, ObjectRecord, StageError
from .sop import SopKind

MAX_OBJECT_BYTES = DEFAULT.max_object_bytes  # larger objects are refused before they are read into memory

_UNDEFINED = 0xFFFFFFFF
_PIXEL_DATA = 0x7FE00010
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
    fmt = sniff(data)
    record = ObjectRecord(input_id=input_id, format=fmt, data=data, size=len(data))
    if fmt is Format.DICOM:
        ds = read_dicom(data, limits)
        record.header = ds
        study = _text(ds, "StudyInstanceUID")
        # The routing key keeps a study on one partition; it is the *remapped* UID so no original
        # identifier ever travels in an event key.
        record.routing_key = derive.uid(study) if study else derive.content_id(data)
    elif fmt is Format.PNG:
        record.header = read_png(data, limits)
        record.routing_key = derive.content_id(data)
    elif fmt is Format.JPEG:
        record.header = read_jpeg(data, limits)
        record.routing_key = derive.content_id(data)
    else:
        record.header = read_nifti(data, limits)
        record.routing_key = derive.content_id(data)
    return record


def _text(ds: Dataset, keyword: str) -> str:
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
    actual = raw.length if getattr(raw, "length", None) not in (None, _UNDEFINED) else len(ds.PixelData)
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
            elem = ds._dict.get(pydicom.datadict.tag_for_keyword(keyword))
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


def read_png(data: bytes, limits: Limits = DEFAULT) -> ImageHeader:
    pos, chunks, width, height = 8, [], 0, 0
    while pos < len(data):
        if pos + 8 > len(data):
            raise StageError("truncated", f"PNG ends inside a chunk header at byte {pos} of {len(data)}")
        length, ctype = struct.unpack(">I4s", data[pos:pos + 8])
        end = pos + 12 + length
        if end > len(data):
            raise StageError("truncated", f"PNG chunk at byte {pos} needs {length} bytes; the file ends first")
        body = data[pos + 8:pos + 8 + length]
        (crc,) = struct.unpack(">I", data[pos + 8 + length:end])
        if zlib.crc32(ctype + body) != crc:
            raise StageError("corrupt", f"PNG chunk at byte {pos} fails its CRC check")
        if ctype == b"IHDR":
            width, height = check_png_ihdr(body, limits)
        chunks.append(ctype.decode("latin-1"))
        pos = end
        if ctype == b"IEND":
            break
    if not chunks or chunks[0] != "IHDR":
        raise StageError("corrupt", "PNG does not start with an IHDR chunk")
    if chunks[-1] != "IEND":
        raise StageError("truncated", f"PNG has no IEND chunk (file is {len(data)} bytes)")
    if "IDAT" not in chunks:
        raise StageError("corrupt", "PNG holds no image data (IDAT)")
    return ImageHeader(width, height, {"chunks": chunks})


def read_jpeg(data: bytes, limits: Limits = DEFAULT) -> ImageHeader:
    pos, segments, width, height = 2, [], 0, 0
    while True:
        if pos + 4 > len(data):
            raise StageError("truncated", f"JPEG ends inside its header at byte {pos} of {len(data)}")
        if data[pos] != 0xFF:
            raise StageError("corrupt", f"JPEG marker expected at byte {pos}")
        marker = data[pos + 1]
        if marker == 0xFF:
            pos += 1
            continue
        (length,) = struct.unpack(">H", data[pos + 2:pos + 4])
        if pos + 2 + length > len(data):
            raise StageError("truncated", f"JPEG segment at byte {pos} runs past the end of the file")
        segments.append(marker)
        if marker in (0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF):
            width, height = check_jpeg_sof(data[pos + 4:pos + 2 + length], limits)
        pos += 2 + length
        if marker == 0xDA:  # start of scan: entropy-coded data follows
            break
    if not width or not height:
        raise StageError("corrupt", "JPEG has no frame header (SOF) before its scan")
    if data.rstrip(b"\x00")[-2:] != b"\xff\xd9":
        raise StageError("truncated", f"JPEG has no end-of-image marker (file is {len(data)} bytes)")
    return ImageHeader(width, height, {"segments": segments, "scan_offset": pos})


def read_nifti(data: bytes, limits: Limits = DEFAULT) -> ImageHeader:
    import nibabel as nib  # deferred: only NIfTI inputs pay its import

    gzipped = data[:2] == b"\x1f\x8b"
    head = nifti_gzip_head(data) if gzipped else data[:544]
    version = 2 if head[4:8] in (b"n+2\x00", b"ni2\x00") else 1
    # The header's claim bounds everything after it: a 30000^3 volume is refused here, and a gzip stream
    # is inflated only as far as the header says the object reaches (a gzip bomb stops at that bound).
    claimed = check_nifti_claim(head, version, limits)
    raw = _inflate_nifti(data, claimed, limits) if gzipped else data
    cls = nib.Nifti2Image if version == 2 else nib.Nifti1Image
    try:
        image = cls.from_bytes(raw)
    except Exception as exc:  # noqa: BLE001 - nibabel raises many types for malformed headers
        raise StageError("corrupt", f"NIfTI-{version} header could not be read ({exc.__class__.__name__})") from None
    header = image.header
    # Where nibabel will actually read the voxels from: a zero vox_offset means "after the extensions".
    offset = int(getattr(image.dataobj, "offset", header["vox_offset"]))
    shape = image.shape
    needed = offset + header.get_data_dtype().itemsize * int(_prod(shape))
    if len(raw) < needed:
        raise StageError("truncated", f"NIfTI-{version} voxel data needs {needed} bytes; the object holds {len(raw)}")
    width, height = (shape + (1, 1))[:2]
    return ImageHeader(int(width), int(height), {"version": version, "image": image, "raw": raw,
                                                 "gzipped": raw is not data})


_NIFTI_SLACK = 64 * 1024  # writers may pad after the voxel data; more than this is not padding


def _inflate_nifti(data: bytes, claimed: int, limits: Limits) -> bytes:
    bound = min(claimed + _NIFTI_SLACK, limits.max_inflated_bytes)
    try:
        return gunzip(data, bound)
    except StageError as exc:
        if exc.code != "oversized":
            raise
        raise StageError("oversized", f"gzip stream inflates beyond the {bound} bytes its NIfTI header accounts "
                                      "for (a gzip bomb, or data after the volume)") from None


def _prod(shape: tuple[int, ...]) -> int:
    out = 1
    for dim in shape:
        out *= int(dim)
    return out
