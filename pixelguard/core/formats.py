"""Format detection by content, never by file name or extension."""
from __future__ import annotations

import struct
import zlib

from .record import Format, StageError

_PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
_NIFTI_MAGICS = {b"n+1\x00", b"ni1\x00", b"n+2\x00", b"ni2\x00"}
# DICOM without the 128-byte preamble (PS3.10 allows raw datasets): a plausible first element tag.
_RAW_DICOM_GROUPS = {0x0002, 0x0008}


def sniff(data: bytes) -> Format:
    """Return the object's format or raise StageError("unknown-format").

    NIfTI may be gzip-compressed (``.nii.gz``): only the gzip header plus the first 352 bytes are
    inflated to read the magic, so a large volume is never decompressed just to be identified.
    """
    if not data:
        raise StageError("empty", "empty object (0 bytes)")
    if len(data) >= 132 and data[128:132] == b"DICM":
        return Format.DICOM
    if data.startswith(_PNG_MAGIC):
        return Format.PNG
    if data.startswith(b"\xff\xd8\xff"):
        return Format.JPEG
    if _nifti_magic(data):
        return Format.NIFTI
    if data[:2] == b"\x1f\x8b":
        head = _gunzip_head(data, 352)
        if head is not None and _nifti_magic(head):
            return Format.NIFTI
        raise StageError("unknown-format", "gzip stream that does not hold a NIfTI header")
    if _raw_dicom(data):
        return Format.DICOM
    raise StageError("unknown-format", f"not DICOM, JPEG, PNG or NIfTI (first bytes {data[:4].hex()})")


def _nifti_magic(head: bytes) -> bool:
    if len(head) >= 348 and head[344:348] in _NIFTI_MAGICS:
        return True
    return len(head) >= 8 and head[4:8] in _NIFTI_MAGICS and struct.unpack("<i", head[:4])[0] == 540


def gunzip_head(data: bytes, n: int) -> bytes | None:
    """The first ``n`` inflated bytes of a gzip stream (None when it is corrupt before them)."""
    return _gunzip_head(data, n)


def _gunzip_head(data: bytes, n: int) -> bytes | None:
    try:
        dec = zlib.decompressobj(16 + zlib.MAX_WBITS)
        return dec.decompress(data, n + 16)[:n]
    except zlib.error:
        return None


def gunzip(data: bytes, limit: int) -> bytes:
    """Inflate a gzip object, refusing to produce more than ``limit`` bytes (a zip bomb guard)."""
    dec = zlib.decompressobj(16 + zlib.MAX_WBITS)
    try:
        out = dec.decompress(data, limit + 1)
    except zlib.error as exc:
        raise StageError("corrupt", f"gzip stream is corrupt ({exc.__class__.__name__})") from None
    if len(out) > limit:
        raise StageError("oversized", f"gzip stream inflates beyond the {limit} byte limit")
    if not dec.eof:
        raise StageError("truncated", f"gzip stream ends early after {len(data)} bytes")
    if dec.unused_data.strip(b"\x00"):
        # A second gzip member or trailing garbage would be dropped without a word: refuse instead.
        raise StageError("corrupt", f"{len(dec.unused_data)} bytes follow the end of the gzip stream; "
                                    "re-compress the object as one gzip stream")
    return out


def _raw_dicom(data: bytes) -> bool:
    if len(data) < 8:
        return False
    little, big = struct.unpack("<H", data[:2])[0], struct.unpack(">H", data[:2])[0]
    if little not in _RAW_DICOM_GROUPS and big not in _RAW_DICOM_GROUPS:
        return False
    vr = data[4:6]
    # Explicit VR: two uppercase letters; implicit VR: a small little-endian length.
    return vr.isalpha() and vr.isupper() or struct.unpack("<I", data[4:8])[0] < 0x10000


__all__ = ["sniff", "gunzip", "gunzip_head"]
