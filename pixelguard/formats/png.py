"""PNG: chunks checked by CRC at parse, text chunks (tEXt, zTXt, iTXt, eXIf, tIME) dropped at scrub, pixels
re-encoded losslessly when text is filled. Registered in ``pixelguard.formats``.
"""
from __future__ import annotations

import io
import struct
import zlib
from collections.abc import Iterator

from PIL import Image

from pixelguard.core.claims import check_png_ihdr
from pixelguard.core.limits import DEFAULT, Limits
from pixelguard.core.parse import ImageHeader
from pixelguard.core.record import Format, StageError
from pixelguard.core.sweep import MAX_BYTES_SCANNED, decode_text, printable

from .base import FormatHandler
from .raster import RasterHandler


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
_PNG_TEXT_CHUNKS = {b"tEXt", b"zTXt", b"iTXt", b"eXIf", b"tIME"}


def strip_png(data: bytes) -> bytes:
    out = bytearray(data[:8])
    pos = 8
    while pos < len(data):
        length, ctype = struct.unpack(">I4s", data[pos:pos + 8])
        end = pos + 12 + length
        if ctype not in _PNG_TEXT_CHUNKS:
            out += data[pos:end]
        pos = end
        if ctype == b"IEND":
            break
    return bytes(out)
_PNG_IMAGE_CHUNKS = {b"IHDR", b"PLTE", b"IDAT", b"IEND", b"tRNS", b"gAMA", b"cHRM", b"sRGB", b"iCCP", b"sBIT",
                     b"bKGD", b"pHYs", b"hIST", b"sPLT", b"tIME", b"cICP", b"mDCv", b"cLLi", b"acTL", b"fcTL",
                     b"fdAT"}


def _png_chunks(data: bytes) -> Iterator[tuple[bytes, bytes]]:
    pos = 8
    while pos + 8 <= len(data):
        length = int.from_bytes(data[pos:pos + 4], "big")
        ctype = data[pos + 4:pos + 8]
        yield ctype, data[pos + 8:pos + 8 + length]
        pos += 12 + length
        if ctype == b"IEND":
            break


def _png_text(ctype: bytes, body: bytes) -> str:
    """The text of a tEXt / zTXt / iTXt chunk (its keyword left out), inflated where compressed."""
    try:
        if ctype == b"zTXt":
            _keyword, _, rest = body.partition(b"\x00")
            return decode_text(_inflate(rest[1:]))
        if ctype == b"iTXt":
            _keyword, _, rest = body.partition(b"\x00")
            compressed, rest = rest[0], rest[2:]
            _lang, _, rest = rest.partition(b"\x00")
            _translated, _, text = rest.partition(b"\x00")
            return decode_text(_inflate(text) if compressed else text)
    except (zlib.error, IndexError):
        return printable(body)
    if ctype == b"tEXt":
        return decode_text(body.partition(b"\x00")[2])
    return printable(body)


def _inflate(data: bytes) -> bytes:
    """At most MAX_BYTES_SCANNED of a compressed text chunk: an input's chunk may be a zip bomb."""
    return zlib.decompressobj().decompress(data, MAX_BYTES_SCANNED)


class PngHandler(RasterHandler):
    format = Format.PNG
    magic = b"\x89PNG\r\n\x1a\n"

    def read_header(self, data: bytes, limits: Limits) -> ImageHeader:
        return read_png(data, limits)

    def strip(self, data: bytes, header: ImageHeader) -> bytes:
        return strip_png(data)

    def metadata_texts(self, data: bytes) -> Iterator[tuple[str, str]]:
        for index, (ctype, body) in enumerate(_png_chunks(data)):
            if ctype in (b"tEXt", b"zTXt", b"iTXt", b"eXIf"):
                yield f"PNG {ctype.decode()} chunk", _png_text(ctype, body)
            elif ctype not in _PNG_IMAGE_CHUNKS:
                yield f"PNG ancillary chunk {index + 1}", printable(body)

    def encode(self, image: Image.Image) -> bytes:
        buf = io.BytesIO()
        image.save(buf, format="PNG", optimize=False)
        return buf.getvalue()


HANDLER: FormatHandler = PngHandler()  # mypy checks the class against the interface
