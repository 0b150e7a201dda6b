"""NIfTI-1 and NIfTI-2, plain or gzip: the header's claim checked before inflating, free-text fields and
extensions cleared at scrub, written back gzip-compressed. Volumes carry no burned-in annotation, so the pixel
search does not run on them. Registered in ``pixelguard.formats``.
"""
from __future__ import annotations

import gzip
import struct
from collections.abc import Iterator
from typing import Any

import numpy as np

from pixelguard.core.claims import check_nifti_claim, nifti_gzip_head
from pixelguard.core.inflate import gunzip, gunzip_head
from pixelguard.core.integrity import PixelShape, fail
from pixelguard.core.keys import Derivations
from pixelguard.core.limits import DEFAULT, Deadline, Limits
from pixelguard.core.parse import ImageHeader
from pixelguard.core.profile import Profile
from pixelguard.core.record import Format, ObjectRecord, StageError
from pixelguard.core.sweep import Reader, decode_text, metadata_terms, printable, sweep_texts
from pixelguard.core.sweep_rules import UNREADABLE, Hit, SweepTerms
from pixelguard.core.textsearch import Detector, RedactionSettings

from .base import GZIP_MAGIC, FormatHandler, Match

# nibabel is imported where a volume is read: every run asks this handler to detect, few runs see a NIfTI.
_MAGICS_2 = {b"n+2\x00", b"ni2\x00"}
_MAGICS = {b"n+1\x00", b"ni1\x00"} | _MAGICS_2


def _version(head: bytes) -> int:
    return 2 if head[4:8] in _MAGICS_2 else 1


def _magic(head: bytes) -> bool:
    if len(head) >= 348 and head[344:348] in _MAGICS:  # NIfTI-1
        return True
    return len(head) >= 8 and head[4:8] in _MAGICS and struct.unpack("<i", head[:4])[0] == 540  # NIfTI-2


def _image_class(raw: bytes) -> Any:
    import nibabel as nib

    return nib.Nifti2Image if _version(raw) == 2 else nib.Nifti1Image


def read_nifti(data: bytes, limits: Limits = DEFAULT) -> ImageHeader:
    gzipped = data[:2] == b"\x1f\x8b"
    head = nifti_gzip_head(data) if gzipped else data[:544]
    version = _version(head)
    # The header's claim bounds everything after it: a 30000^3 volume is refused here, and a gzip stream
    # is inflated only as far as the header says the object reaches (a gzip bomb stops at that bound).
    claimed = check_nifti_claim(head, version, limits)
    raw = _inflate_nifti(data, claimed, limits) if gzipped else data
    cls = _image_class(raw)
    try:
        image = cls.from_bytes(raw)
    except Exception as exc:  # noqa: BLE001 - nibabel raises many types for malformed headers
        raise StageError("corrupt", f"NIfTI-{version} header could not be read ({exc.__class__.__name__})") from None
    header = image.header
    # Where nibabel will actually read the voxels from (the claim check has put it past the header).
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
def _scrub_nifti(record: ObjectRecord) -> None:
    image = record.header.detail["image"]
    header = image.header
    for field_name in ("descrip", "aux_file", "intent_name", "db_name"):
        if field_name in header:
            header[field_name] = b""
    header.extensions.clear()
    record.header.detail["image"] = image


def nifti_bytes(record: ObjectRecord) -> bytes:
    try:
        raw = record.header.detail["image"].to_bytes()
    except Exception as exc:  # noqa: BLE001 - nibabel re-derives scaling on write and raises several types
        raise StageError("corrupt", f"NIfTI volume cannot be written back ({exc.__class__.__name__}): its voxel "
                                    "scaling (scl_slope/scl_inter) or data type overflows") from None
    # mtime=0: same input -> same output bytes (idempotent outputs).
    return gzip.compress(raw, compresslevel=6, mtime=0)
def _nifti_texts(data: bytes) -> Iterator[tuple[str, str]]:
    try:
        raw = gunzip(data, DEFAULT.max_inflated_bytes) if data[:2] == b"\x1f\x8b" else data
        cls = _image_class(raw)
        header = cls.from_bytes(raw).header
    except StageError:
        raise
    except Exception as exc:  # noqa: BLE001 - nibabel raises many types for malformed headers
        raise StageError("corrupt", f"NIfTI header could not be read ({exc.__class__.__name__})") from None
    for name in ("descrip", "aux_file", "intent_name", "db_name"):
        if name in header:
            yield f"NIfTI {name}", decode_text(bytes(np.asarray(header[name]).tobytes()))
    for index, extension in enumerate(header.extensions, start=1):
        content = extension.get_content()
        yield f"NIfTI extension {index}", printable(content if isinstance(content, bytes) else str(content).encode())
def _check_nifti(output: bytes, expected: PixelShape) -> None:
    try:
        raw = gunzip(output, 8 * 1024**3) if output[:2] == b"\x1f\x8b" else output
        cls = _image_class(raw)
        image = cls.from_bytes(raw)
        np.asarray(image.dataobj[..., 0] if len(image.shape) > 2 else image.dataobj)  # the voxels read back
        shape = tuple(int(d) for d in image.shape) + (1, 1, 1)
    except StageError:
        raise
    except Exception as exc:  # noqa: BLE001
        raise fail(f"the NIfTI does not read back ({exc.__class__.__name__})") from None
    got = PixelShape(int(np.prod(shape[2:])), shape[1], shape[0], 1)
    if got != expected:
        raise fail(f"it holds {got.describe()} where its input held {expected.describe()}")


class NiftiHandler:
    format = Format.NIFTI

    def detect(self, data: bytes) -> Match:
        if _magic(data):
            return Match.MAGIC
        if data[:2] == GZIP_MAGIC:  # .nii.gz: only a header's worth is inflated to read the magic
            head = gunzip_head(data, 352)
            if head is not None and _magic(head):
                return Match.MAGIC
        return Match.NONE

    def read_header(self, data: bytes, limits: Limits) -> ImageHeader:
        return read_nifti(data, limits)

    def routing_key(self, record: ObjectRecord, derive: Derivations) -> str:
        return derive.content_id(record.data)

    def submit_key(self, data: bytes, derive: Derivations) -> str:
        return derive.content_id(data)

    def phi_terms(self, record: ObjectRecord) -> tuple[str, ...]:
        return ()

    def input_shape(self, record: ObjectRecord) -> PixelShape:
        shape = tuple(int(d) for d in record.header.detail["image"].shape) + (1, 1, 1)
        return PixelShape(int(np.prod(shape[2:])), shape[1], shape[0], 1)

    def scrub(self, record: ObjectRecord, profile: Profile, derive: Derivations) -> None:
        _scrub_nifti(record)
        record.output_id = derive.content_id(record.data)

    def scrubbed_bytes(self, record: ObjectRecord) -> bytes:
        return nifti_bytes(record)

    def restore(self, record: ObjectRecord, staged: bytes) -> None:
        return None  # the re-parsed header is the scrubbed one

    def redact(self, record: ObjectRecord, detector: Detector, settings: RedactionSettings,
               deadline: Deadline | None) -> None:
        # Volumes carry no burned-in annotation; their text lives in header fields the scrub stage clears.
        record.output_bytes = nifti_bytes(record)
        record.stats["pixels"] = "volume-not-scanned"

    def check_output(self, output: bytes, expected: PixelShape, decode_frames: bool) -> None:
        _check_nifti(output, expected)  # re-written from the parsed volume: always read back

    def sweep_terms(self, original: ObjectRecord, profile: Profile | None) -> dict[str, str]:
        return metadata_terms(_nifti_texts(original.data))

    def sweep(self, output: bytes, terms: SweepTerms, reader: Reader | None) -> list[Hit]:
        hits: list[Hit] = []
        try:
            sweep_texts(list(_nifti_texts(output)), terms, hits)
        except StageError:
            hits.append(Hit("output", UNREADABLE, "NIfTI output could not be re-read for the PHI sweep"))
        return hits


HANDLER: FormatHandler = NiftiHandler()  # mypy checks the class against the interface
