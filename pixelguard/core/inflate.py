"""Bounded gzip inflation: NIfTI volumes arrive as ``.nii.gz``, and a stream must never inflate past what its
header accounts for (a gzip bomb). Used by format detection, the NIfTI claim check and the NIfTI handler."""
from __future__ import annotations

import zlib

from .record import StageError


def gunzip_head(data: bytes, n: int) -> bytes | None:
    """The first ``n`` inflated bytes of a gzip stream (None when it is corrupt before them)."""
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


__all__ = ["gunzip", "gunzip_head"]
