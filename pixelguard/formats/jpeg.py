"""JPEG: segments walked up to the scan at parse, APPn (but JFIF, ICC, Adobe) and COM segments dropped at scrub,
re-encoded at quality 95 when text is filled. Registered in ``pixelguard.formats``.
"""
from __future__ import annotations

import io
import struct
from collections.abc import Iterator

from PIL import Image

from pixelguard.core.claims import check_jpeg_sof
from pixelguard.core.limits import DEFAULT, Limits
from pixelguard.core.parse import ImageHeader
from pixelguard.core.record import Format, StageError
from pixelguard.core.sweep import decode_text, printable

from .base import FormatHandler
from .raster import RasterHandler


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
# APP0 (JFIF), APP2 (ICC profile) and APP14 (Adobe colour transform) describe how to render pixels; every
# other APPn (EXIF/XMP in APP1, IPTC in APP13, vendor blocks) and COM can carry free text.
_JPEG_KEEP_APP = {0xE0, 0xE2, 0xEE}


def strip_jpeg(data: bytes, header: ImageHeader) -> bytes:
    out = bytearray(data[:2])
    pos = 2
    scan = header.detail["scan_offset"]
    assert isinstance(scan, int)  # parse_jpeg always records it
    while pos < scan:
        marker = data[pos + 1]
        if marker == 0xFF:
            pos += 1
            continue
        (length,) = struct.unpack(">H", data[pos + 2:pos + 4])
        segment = data[pos:pos + 2 + length]
        drop = (0xE0 <= marker <= 0xEF and marker not in _JPEG_KEEP_APP) or marker == 0xFE or \
            (marker == 0xE0 and segment[4:9] != b"JFIF\x00")  # APP0 that is not JFIF, e.g. JFXX thumbnails
        if not drop:
            out += segment
        pos += 2 + length
    out += data[scan:]
    return bytes(out)
def _jpeg_segments(data: bytes) -> Iterator[tuple[int, bytes]]:
    pos = 2
    while pos + 4 <= len(data) and data[pos] == 0xFF:
        marker = data[pos + 1]
        if marker == 0xFF:
            pos += 1
            continue
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:
            pos += 2
            continue
        length = int.from_bytes(data[pos + 2:pos + 4], "big")
        yield marker, data[pos + 4:pos + 2 + length]
        if marker == 0xDA:
            break
        pos += 2 + length


class JpegHandler(RasterHandler):
    format = Format.JPEG
    magic = b"\xff\xd8\xff"  # SOI, then the first segment's marker

    def read_header(self, data: bytes, limits: Limits) -> ImageHeader:
        return read_jpeg(data, limits)

    def strip(self, data: bytes, header: ImageHeader) -> bytes:
        return strip_jpeg(data, header)

    def metadata_texts(self, data: bytes) -> Iterator[tuple[str, str]]:
        for marker, body in _jpeg_segments(data):
            if marker == 0xFE:
                yield "JPEG comment", decode_text(body)
            elif 0xE0 <= marker <= 0xEF and marker not in _JPEG_KEEP_APP:
                yield f"JPEG APP{marker - 0xE0} segment", printable(body)

    def encode(self, image: Image.Image) -> bytes:
        # JPEG has no lossless re-encode that every viewer reads; high quality keeps text gone and the
        # image useful. Metadata is not copied (Pillow writes only JFIF).
        buf = io.BytesIO()
        image.convert("RGB" if image.mode not in ("L", "RGB") else image.mode).save(buf, format="JPEG", quality=95)
        return buf.getvalue()


HANDLER: FormatHandler = JpegHandler()  # mypy checks the class against the interface
