"""Structure-aware fuzz cases for the core stages, shared by ``bench/fuzz.py`` and ``tests/core/test_fuzz.py``.

Every case starts from a *valid* seed built here (DICOM written element by element, PNG chunk by chunk, JPEG
segment by segment, NIfTI through nibabel, plus a few of pydicom's bundled test files), carrying fake PHI, and
applies one to three mutations that know the format's structure: wrong lengths and VRs, deep undefined-length
nesting, absurd pixel claims (decompression bombs), broken encapsulation and offset tables, bad character sets,
gzip bombs. Byte-level noise alone rarely gets past a CRC or a length check; these mutations do, so the cases
reach the parsers, scrubbers and decoders behind them.

All choices go through a ``Source`` so the same mutators run from a seeded ``random.Random`` (the bench: case
*i* of seed *s* is the same whatever else runs) and from hypothesis (the CI test: shrinking works).
"""
from __future__ import annotations

import functools
import io
import random
import struct
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

T = TypeVar("T")

# Fake PHI carried by the seeds. No error reason may ever contain these (reasons are written by us).
PHI_NAME = "FUZZPATIENT^SECRET"
PHI_ID = "FUZZID-4711"
PHI_INSTITUTION = "SECRETCLINIC"
PHI_STRINGS = ("FUZZPATIENT", "SECRET", "FUZZID")


class Source(Protocol):
    def integer(self, lo: int, hi: int) -> int: ...

    def choice(self, options: Sequence[T]) -> T: ...

    def binary(self, lo: int, hi: int) -> bytes: ...


class RandomSource:
    """Choices from a seeded ``random.Random``: reproducible from (seed, index)."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng

    def integer(self, lo: int, hi: int) -> int:
        return self.rng.randint(lo, hi)

    def choice(self, options: Sequence[T]) -> T:
        return options[self.rng.randrange(len(options))]

    def binary(self, lo: int, hi: int) -> bytes:
        return self.rng.randbytes(self.rng.randint(lo, hi))


class DrawSource:
    """Choices drawn from hypothesis (``st.data()`` or inside ``st.composite``), so failures shrink."""

    def __init__(self, draw: Callable[[Any], Any]) -> None:
        from hypothesis import strategies as st

        self.draw, self.st = draw, st

    def integer(self, lo: int, hi: int) -> int:
        return self.draw(self.st.integers(lo, hi))

    def choice(self, options: Sequence[T]) -> T:
        return options[self.draw(self.st.integers(0, len(options) - 1))]

    def binary(self, lo: int, hi: int) -> bytes:
        return self.draw(self.st.binary(min_size=lo, max_size=hi))


def chance(src: Source, one_in: int) -> bool:
    return src.integer(1, one_in) == 1


@dataclass
class Case:
    fmt: str
    seed: str
    mutations: list[str]
    data: bytes = field(repr=False)

    @property
    def label(self) -> str:
        return f"{self.fmt}/{self.seed}:{'+'.join(self.mutations) or 'none'}"


# --- DICOM: a tiny element-level writer, so lengths, VRs and nesting can be wrong on purpose -------------

_LONG_VRS = {"OB", "OD", "OF", "OL", "OV", "OW", "SQ", "UC", "UN", "UR", "UT", "SV", "UV"}
EXPLICIT_LE = "1.2.840.10008.1.2.1"
IMPLICIT_LE = "1.2.840.10008.1.2"
EXPLICIT_BE = "1.2.840.10008.1.2.2"
DEFLATED = "1.2.840.10008.1.2.1.99"
RLE = "1.2.840.10008.1.2.5"
JPEG_BASELINE = "1.2.840.10008.1.2.4.50"
JPEG_LS = "1.2.840.10008.1.2.4.80"
J2K_LOSSLESS = "1.2.840.10008.1.2.4.90"
COMPRESSED = (RLE, JPEG_BASELINE, JPEG_LS, J2K_LOSSLESS)
SECONDARY_CAPTURE = "1.2.840.10008.5.1.4.1.1.7"
UNDEFINED = 0xFFFFFFFF


@dataclass
class Encap:
    """Encapsulated pixel data (PS3.5 A.4): a Basic Offset Table item, then one item per fragment."""

    fragments: list[bytes]
    bot: list[int] | None = None
    item_tag: int = 0xFFFEE000
    fragment_lengths: dict[int, int] = field(default_factory=dict)  # fragment index -> wrong length
    delimiter: bool = True


@dataclass
class Nest:
    """A sequence nested ``depth`` levels deep (items inside sequences inside items ...)."""

    depth: int
    undefined: bool = True
    leaf: bytes = b""


@dataclass
class El:
    tag: int
    vr: str
    value: bytes | list[list[El]] | Encap | Nest
    length: int | None = None  # a wrong length written instead of the real one
    undefined: bool = False  # sequences and items with undefined length + delimiters


@dataclass
class DicomSeed:
    ts: str
    meta: list[El]
    elements: list[El]
    preamble: bool = True
    cut_tail: int = 0

    def encode(self) -> bytes:
        meta = b"".join(_encode(e, True, True) for e in self.meta)
        group = _encode(El(0x00020000, "UL", struct.pack("<I", len(meta))), True, True)
        explicit = self.ts != IMPLICIT_LE
        little = self.ts != EXPLICIT_BE
        body = b"".join(_encode(e, explicit, little) for e in self.elements)
        if self.ts == DEFLATED:
            comp = zlib.compressobj(6, zlib.DEFLATED, -zlib.MAX_WBITS)
            body = comp.compress(body) + comp.flush()
        head = b"\x00" * 128 + b"DICM" if self.preamble else b""
        return head + group + meta + body

    def find(self, tag: int) -> El | None:
        return next((e for e in self.elements if e.tag == tag), None)

    def set(self, tag: int, vr: str, value: bytes) -> None:
        el = self.find(tag)
        if el is None:
            self.elements.append(El(tag, vr, value))
            self.elements.sort(key=lambda e: e.tag)
        else:
            el.value, el.vr, el.length = value, vr, None


def _head(tag: int, vr: str, length: int, explicit: bool, little: bool) -> bytes:
    e = "<" if little else ">"
    group, elem = tag >> 16, tag & 0xFFFF
    tag_bytes = struct.pack(e + "HH", group, elem)
    if group == 0xFFFE or not explicit:
        return tag_bytes + struct.pack(e + "I", length & 0xFFFFFFFF)
    raw_vr = vr.encode("latin-1")[:2].ljust(2, b" ")
    if vr in _LONG_VRS:
        return tag_bytes + raw_vr + b"\x00\x00" + struct.pack(e + "I", length & 0xFFFFFFFF)
    return tag_bytes + raw_vr + struct.pack(e + "H", length & 0xFFFF)


def _item(body: bytes, undefined: bool, explicit: bool, little: bool) -> bytes:
    if undefined:
        return (_head(0xFFFEE000, "", UNDEFINED, explicit, little) + body
                + _head(0xFFFEE00D, "", 0, explicit, little))
    return _head(0xFFFEE000, "", len(body), explicit, little) + body


def _encode(el: El, explicit: bool, little: bool) -> bytes:
    value = el.value
    if isinstance(value, Nest):
        return _encode_nest(el, value, explicit, little)
    if isinstance(value, Encap):
        return _encode_encap(el, value, explicit, little)
    if isinstance(value, list):
        items = b"".join(_item(b"".join(_encode(c, explicit, little) for c in item), el.undefined, explicit, little)
                         for item in value)
        if el.undefined:
            body = items + _head(0xFFFEE0DD, "", 0, explicit, little)
            return _head(el.tag, el.vr, UNDEFINED if el.length is None else el.length, explicit, little) + body
        return _head(el.tag, el.vr, len(items) if el.length is None else el.length, explicit, little) + items
    return _head(el.tag, el.vr, len(value) if el.length is None else el.length, explicit, little) + value


def _encode_nest(el: El, nest: Nest, explicit: bool, little: bool) -> bytes:
    # Built by repetition, not recursion: depths beyond Python's recursion limit are the point.
    inner_tag = 0x00081115  # ReferencedSeriesSequence, nested into itself
    if nest.undefined:
        seq = _head(inner_tag, "SQ", UNDEFINED, explicit, little)
        item_open = _head(0xFFFEE000, "", UNDEFINED, explicit, little)
        item_close = _head(0xFFFEE00D, "", 0, explicit, little)
        seq_close = _head(0xFFFEE0DD, "", 0, explicit, little)
        opening = _head(el.tag, "SQ", UNDEFINED, explicit, little) + item_open
        closing = item_close + seq_close
        return opening + (seq + item_open) * (nest.depth - 1) + nest.leaf + (closing * (nest.depth - 1)) + closing
    body = nest.leaf
    for level in range(nest.depth):
        body = _head(0xFFFEE000, "", len(body), explicit, little) + body
        tag = el.tag if level == nest.depth - 1 else inner_tag
        body = _head(tag, "SQ", len(body), explicit, little) + body
    return body


def _encode_encap(el: El, encap: Encap, explicit: bool, little: bool) -> bytes:
    e = "<" if little else ">"
    bot = b"".join(struct.pack(e + "I", o & 0xFFFFFFFF) for o in (encap.bot or []))
    out = [_head(el.tag, "OB", UNDEFINED if el.length is None else el.length, explicit, little),
           _head(0xFFFEE000, "", len(bot), explicit, little), bot]
    for index, frag in enumerate(encap.fragments):
        length = encap.fragment_lengths.get(index, len(frag))
        out.append(_head(encap.item_tag, "", length, explicit, little) + frag)
    if encap.delimiter:
        out.append(_head(0xFFFEE0DD, "", 0, explicit, little))
    return b"".join(out)


def _text(value: str | bytes, pad: bytes = b" ") -> bytes:
    raw = value.encode("latin-1") if isinstance(value, str) else value
    return raw + pad if len(raw) % 2 else raw


def _uid(value: str) -> bytes:
    return _text(value, b"\x00")


def _us(value: int, little: bool = True) -> bytes:
    return struct.pack("<H" if little else ">H", value & 0xFFFF)


def _offsets(fragments: list[bytes]) -> list[int]:
    out, pos = [], 0
    for frag in fragments:
        out.append(pos)
        pos += 8 + len(frag)
    return out


def _pixels(src: Source, rows: int, cols: int, frames: int, samples: int, bits: int) -> Any:
    import numpy as np

    # A smooth gradient with a little noise: cheap for the OCR detector (noise or marks would make it read
    # blobs with two OCR engines in every case, ten times the cost), yet not blank. Text is in the bundled
    # pydicom files' pixels where there is any.
    top = 255 if bits == 8 else 4095
    rng = np.random.default_rng(src.integer(0, 2**16))
    ramp = np.add.outer(np.linspace(0, top * 0.4, rows), np.linspace(0, top * 0.3, cols))
    arr = ramp[np.newaxis] + rng.normal(0, top * 0.01, size=(frames, rows, cols))
    arr = np.clip(arr, 0, top).astype(np.uint8 if bits == 8 else np.uint16)
    return np.repeat(arr[..., np.newaxis], samples, axis=-1) if samples > 1 else arr


@functools.lru_cache(maxsize=256)
def _compress_frames(
    ts: str, rows: int, cols: int, frames: int, samples: int, bits: int, seed: int
) -> tuple[bytes, ...]:
    import imagecodecs
    from pydicom.pixels.encoders import RLELosslessEncoder

    arr = _pixels(RandomSource(random.Random(seed)), rows, cols, frames, samples, bits)
    out = []
    for frame in arr:
        if ts == RLE:
            out.append(RLELosslessEncoder.encode(frame.tobytes(), rows=rows, columns=cols, samples_per_pixel=samples,
                                                 bits_allocated=bits, bits_stored=bits, pixel_representation=0,
                                                 photometric_interpretation="RGB" if samples == 3 else "MONOCHROME2",
                                                 number_of_frames=1, planar_configuration=0))
        elif ts == JPEG_BASELINE:
            out.append(bytes(imagecodecs.jpeg8_encode(frame, level=90)))
        elif ts == JPEG_LS:
            out.append(bytes(imagecodecs.jpegls_encode(frame, level=0)))
        else:
            out.append(bytes(imagecodecs.jpeg2k_encode(frame, level=0, codecformat="j2k", reversible=True)))
    return tuple(f + b"\x00" if len(f) % 2 else f for f in out)


def dicom_seed(src: Source) -> DicomSeed:
    """A small, valid DICOM object with fake PHI in the places de-identification must clear."""
    ts = src.choice((EXPLICIT_LE, EXPLICIT_LE, IMPLICIT_LE, EXPLICIT_BE, DEFLATED) + COMPRESSED)
    little = ts != EXPLICIT_BE
    samples = src.choice((1, 1, 3))
    bits = 8 if samples == 3 or ts == JPEG_BASELINE else src.choice((8, 16))
    # Near-square frames: the detector scales the short side up to 736 px, so a thin frame costs as much
    # as a 2000 px one and would dominate the run without finding anything new.
    rows = src.integer(8, 96)
    cols = max(8, rows * src.integer(75, 133) // 100)
    frames = src.choice((1, 1, 1, 2))
    if ts == JPEG_BASELINE:
        rows, cols = max(rows, 16), max(cols, 16)
    charset = src.choice(("", "ISO_IR 100", "ISO_IR 192"))
    name = PHI_NAME.encode() if charset != "ISO_IR 192" else "FUZZPATIENT^SECRET=Ýñ".encode()
    sop_instance = f"1.2.826.0.1.3680043.10.{src.integer(1, 10**6)}"
    study = f"1.2.826.0.1.3680043.11.{src.integer(1, 10**6)}"
    photometric = "RGB" if samples == 3 else "MONOCHROME2"
    if samples == 3 and ts == JPEG_BASELINE:
        photometric = "YBR_FULL_422"
    nested_phi = [[El(0x00100020, "LO", _text(PHI_ID)), El(0x00100022, "CS", _text("TEXT"))]]
    elements = [
        El(0x00080016, "UI", _uid(SECONDARY_CAPTURE)),
        El(0x00080018, "UI", _uid(sop_instance)),
        El(0x00080020, "DA", _text("20240131")),
        El(0x00080030, "TM", _text("101112.5")),
        El(0x00080060, "CS", _text("OT")),
        El(0x00080080, "LO", _text(PHI_INSTITUTION)),
        El(0x00081030, "LO", _text("FUZZ STUDY FOR FUZZPATIENT")),
        El(0x00100010, "PN", _text(name)),
        El(0x00100020, "LO", _text(PHI_ID)),
        El(0x00100030, "DA", _text("19700101")),
        El(0x00101002, "SQ", nested_phi, undefined=src.choice((True, False))),
        El(0x00090010, "LO", _text("FUZZ PRIVATE")),
        El(0x00091001, "LO", _text(PHI_NAME)),
        El(0x0020000D, "UI", _uid(study)),
        El(0x0020000E, "UI", _uid(study + ".1")),
        El(0x00280002, "US", _us(samples, little)),
        El(0x00280004, "CS", _text(photometric)),
        El(0x00280010, "US", _us(rows, little)),
        El(0x00280011, "US", _us(cols, little)),
        El(0x00280100, "US", _us(bits, little)),
        El(0x00280101, "US", _us(bits if ts != JPEG_BASELINE else 8, little)),
        El(0x00280102, "US", _us(bits - 1, little)),
        El(0x00280103, "US", _us(0, little)),
    ]
    if charset:
        elements.insert(0, El(0x00080005, "CS", _text(charset)))
    if samples == 3:
        elements.append(El(0x00280006, "US", _us(0, little)))
    if frames > 1:
        elements.append(El(0x00280008, "IS", _text(str(frames))))
    if ts in COMPRESSED:
        fragments = list(_compress_frames(ts, rows, cols, frames, samples, bits, src.integer(0, 7)))
        bot = _offsets(fragments) if frames > 1 and src.choice((True, False)) else None
        elements.append(El(0x7FE00010, "OB", Encap(fragments, bot)))
    else:
        arr = _pixels(src, rows, cols, frames, samples, bits)
        raw = arr.astype(arr.dtype.newbyteorder("<" if little else ">")).tobytes()
        if len(raw) % 2:
            raw += b"\x00"
        elements.append(El(0x7FE00010, "OB" if bits == 8 else "OW", raw))
    elements.sort(key=lambda e: e.tag)
    meta = [
        El(0x00020001, "OB", b"\x00\x01"),
        El(0x00020002, "UI", _uid(SECONDARY_CAPTURE)),
        El(0x00020003, "UI", _uid(sop_instance)),
        El(0x00020010, "UI", _uid(ts)),
        El(0x00020012, "UI", _uid("1.2.826.0.1.3680043.10.99")),
    ]
    return DicomSeed(ts, meta, elements)


def _all_elements(elements: list[El]) -> list[El]:
    out = []
    for el in elements:
        out.append(el)
        if isinstance(el.value, list):
            for item in el.value:
                out.extend(_all_elements(item))
    return out


_WRONG_VRS = ("SQ", "UN", "OB", "OW", "US", "UL", "FD", "AT", "XX", "\x00\x00", "ab", "UT", "DA", "PN", "SS", "OF")


def mut_wrong_length(src: Source, seed: DicomSeed) -> str:
    el = src.choice(_all_elements(seed.elements))
    real = len(el.value) if isinstance(el.value, bytes) else 0
    el.length = src.choice((real + 1, max(real - 1, 0), real + 2, 0, UNDEFINED, 0xFFFFFFFE, 0x7FFFFFFF,
                            real * 1000 + 7, src.integer(0, 2**32 - 1)))
    return "wrong-length"


def mut_wrong_vr(src: Source, seed: DicomSeed) -> str:
    el = src.choice(_all_elements(seed.elements))
    el.vr = src.choice(_WRONG_VRS)
    if el.vr == "SQ" and isinstance(el.value, bytes) and chance(src, 2):
        el.length = UNDEFINED
    return "wrong-vr"


def mut_deep_nesting(src: Source, seed: DicomSeed) -> str:
    depth = src.choice((2, 8, 64, 200, 600, 1200, 3000, 10000))
    leaf = _encode(El(0x00100010, "PN", _text(PHI_NAME)), seed.ts != IMPLICIT_LE, seed.ts != EXPLICIT_BE)
    undefined = src.choice((True, True, False))
    tag = src.choice((0x00081115, 0x00400275, 0x00091002))
    seed.elements.append(El(tag, "SQ", Nest(depth, undefined, leaf if chance(src, 2) else b"")))
    seed.elements.sort(key=lambda e: e.tag)
    if chance(src, 3):  # never closed: the file ends inside the nesting
        seed.elements = [e for e in seed.elements if e.tag <= tag]
        seed.cut_tail = src.integer(8, 64)
    return f"deep-nesting-{depth}"


def mut_absurd_claim(src: Source, seed: DicomSeed) -> str:
    little = seed.ts != EXPLICIT_BE
    which = src.choice(("rows-cols", "frames", "bits", "samples", "all"))
    if which in ("rows-cols", "all"):
        seed.set(0x00280010, "US", _us(src.choice((65535, 0, 30000, 1)), little))
        seed.set(0x00280011, "US", _us(src.choice((65535, 0, 30000, 1)), little))
    if which in ("frames", "all"):
        seed.set(0x00280008, "IS", _text(src.choice(("1000", "2147483647", "-1", "0", "abc", "1e9", "99999999",
                                                       " 5", "3\\4"))))
    if which == "bits":
        for tag in (0x00280100, 0x00280101):
            seed.set(tag, "US", _us(src.choice((0, 1, 3, 12, 32, 64, 255, 65535)), little))
    if which == "samples":
        seed.set(0x00280002, "US", _us(src.choice((0, 2, 4, 255, 65535)), little))
    return f"absurd-{which}"


def mut_encapsulation(src: Source, seed: DicomSeed) -> str:
    pixel = seed.find(0x7FE00010)
    if pixel is None or not isinstance(pixel.value, Encap):
        # Claim a compressed syntax for native pixel data (or the reverse: below) - a common real-world lie.
        seed.meta[3].value = _uid(src.choice(COMPRESSED))
        return "encap-native-claimed-compressed"
    encap = pixel.value
    which = src.choice(("item-tag", "fragment-length", "no-delimiter", "bot-garbage", "eot-garbage", "empty",
                        "many-fragments", "truncated-fragment", "defined-length", "native-syntax"))
    if which == "item-tag":
        encap.item_tag = src.choice((0xFFFEE00D, 0xFFFEE0DD, 0x7FE00010, 0x00000000, 0xFFFFFFFF))
    elif which == "fragment-length" and encap.fragments:
        index = src.integer(0, len(encap.fragments) - 1)
        encap.fragment_lengths[index] = src.choice((0, 1, len(encap.fragments[index]) + 10, 0xFFFFFFFF,
                                                    0x7FFFFFFF, len(encap.fragments[index]) // 2))
    elif which == "no-delimiter":
        encap.delimiter = False
    elif which == "bot-garbage":
        encap.bot = src.choice(([0xFFFFFFF0] * max(len(encap.fragments), 1), [0, 0, 0, 0, 0, 0],
                                [7, 3], [1], list(range(0, 4 * 1000, 4)), [2**31]))
    elif which == "eot-garbage":
        count = src.choice((1, 2, 5, 1000))
        offsets = b"".join(
            struct.pack("<Q", src.choice((0, 2**63, 8, 2**40 + src.integer(0, 99)))) for _ in range(count)
        )
        lengths = b"".join(struct.pack("<Q", src.choice((0, 2**63, 16, 2**40))) for _ in range(src.choice((count, 1))))
        seed.elements += [El(0x7FE00001, "OV", offsets), El(0x7FE00002, "OV", lengths)]
        seed.elements.sort(key=lambda e: e.tag)
    elif which == "empty":
        encap.fragments = src.choice(([], [b""], [b"", b""]))
    elif which == "many-fragments":
        whole = b"".join(encap.fragments)
        step = src.choice((2, 4, 16))
        encap.fragments = [whole[i:i + step] for i in range(0, len(whole), step)]
    elif which == "truncated-fragment" and encap.fragments:
        index = src.integer(0, len(encap.fragments) - 1)
        frag = encap.fragments[index]
        encap.fragments[index] = frag[: src.integer(0, max(len(frag) - 1, 0)) & ~1]
    elif which == "defined-length":
        pixel.length = len(_encode_encap(pixel, encap, True, True)) - 12
    else:
        seed.meta[3].value = _uid(src.choice((EXPLICIT_LE, IMPLICIT_LE)))
    return f"encap-{which}"


_CHARSETS = ("ISO_IR 999", "\\", "ISO 2022 IR 87\\GARBAGE", "GB18030", "ISO_IR 192\\ISO_IR 100", "", "ISO 2022 IR 6",
             "ISO 2022 IR 13\\ISO 2022 IR 87", "ISO_IR 13", "UTF-8", "ISO-IR 100", "\x00\x00", "ISO_IR 100\\\\\\")
_BAD_TEXT = (b"FUZZPATIENT^SECRET\xff\xfe\x80", b"\xc3\x28SECRET", b"\x1b$B\x1b(B\x1b$)C\x0e\xff",
             b"\xed\xa0\x80FUZZ", b"FUZZ\x00PATIENT", "FUZZPATIENT^SECRET=患者".encode("gb18030"),
             b"\\\\\\\\", b"=^^^^=", "Ÿ".encode("utf-16"), b"\xe0\x80\x80")


def mut_charset(src: Source, seed: DicomSeed) -> str:
    seed.set(0x00080005, "CS", _text(src.choice(_CHARSETS)))
    if chance(src, 2):
        tag = src.choice((0x00100010, 0x00081030, 0x00080080, 0x00091001))
        seed.set(tag, "PN" if tag == 0x00100010 else "LO", _text(src.choice(_BAD_TEXT)))
    return "charset"


def mut_text_value(src: Source, seed: DicomSeed) -> str:
    tag, vr = src.choice(((0x00100010, "PN"), (0x00100030, "DA"), (0x00080020, "DA"), (0x00080030, "TM"),
                          (0x0020000D, "UI"), (0x00080018, "UI"), (0x00100020, "LO"), (0x00101010, "AS"),
                          (0x00081030, "LO"), (0x00080016, "UI"), (0x00200013, "IS"), (0x00281050, "DS")))
    value = src.choice((b"", b" ", b"\x00", b"20241399", b"abc", b"1e999", b"nan", b"-0", b"\\" * 64,
                        b"9" * 70, b"FUZZPATIENT^SECRET" * 400, b"1.2.3.", b"1..2", b"2024-01-31",
                        b"19000101\\20991231\\x", b"250000", b"-20240101", src.binary(0, 40)))
    seed.set(tag, vr, _text(value))
    return f"text-{vr}"


def mut_transfer_syntax(src: Source, seed: DicomSeed) -> str:
    seed.meta[3].value = _uid(src.choice((EXPLICIT_LE, IMPLICIT_LE, EXPLICIT_BE, DEFLATED, "1.2.3.4", "",
                                         "1.2.840.10008.1.2.4.201", "1.2.840.10008.1.2.4.100", "\x00" * 8)))
    return "transfer-syntax"


def mut_drop(src: Source, seed: DicomSeed) -> str:
    if chance(src, 4) and seed.meta:
        seed.meta.pop(src.integer(0, len(seed.meta) - 1))
        return "drop-meta"
    keep = [e for e in seed.elements if e.tag not in (0x7FE00010,)] or seed.elements
    tag = src.choice((0x00080016, 0x7FE00010, 0x00280010, 0x00280100, 0x00280004, src.choice(keep).tag))
    seed.elements = [e for e in seed.elements if e.tag != tag]
    return "drop"


def mut_reorder(src: Source, seed: DicomSeed) -> str:
    if chance(src, 2) and seed.elements:
        seed.elements.insert(src.integer(0, len(seed.elements)), src.choice(seed.elements))
        return "duplicate"
    i, j = src.integer(0, len(seed.elements) - 1), src.integer(0, len(seed.elements) - 1)
    seed.elements[i], seed.elements[j] = seed.elements[j], seed.elements[i]
    return "reorder"


def mut_pixel_length(src: Source, seed: DicomSeed) -> str:
    pixel = seed.find(0x7FE00010)
    if pixel is None or not isinstance(pixel.value, bytes):
        return mut_encapsulation(src, seed)
    raw = pixel.value
    pixel.value = src.choice((raw[: len(raw) // 2], raw + b"\x00" * src.choice((2, 4, 1000)), b"", raw[:-2],
                              raw * 2))
    return "pixel-length"


DICOM_MUTATORS: tuple[Callable[[Source, DicomSeed], str], ...] = (
    mut_wrong_length, mut_wrong_vr, mut_deep_nesting, mut_absurd_claim, mut_encapsulation, mut_charset,
    mut_text_value, mut_transfer_syntax, mut_drop, mut_reorder, mut_pixel_length)


def dicom_case(src: Source) -> Case:
    seed = dicom_seed(src)
    mutations = [src.choice(DICOM_MUTATORS)(src, seed) for _ in range(src.integer(1, 3))]
    data = seed.encode()
    if seed.cut_tail:  # the file ends inside a deep nesting, before its closing delimiters
        data = data[: len(data) - seed.cut_tail]
    return Case("dicom", seed.ts, mutations, _bytes_noise(src, data, mutations, 132))


@functools.lru_cache(maxsize=16)
def _testdata(name: str) -> bytes:
    from pydicom.data import get_testdata_file

    with open(get_testdata_file(name), "rb") as fh:
        return fh.read()


_TESTDATA = ("CT_small.dcm", "MR_small.dcm", "rtplan.dcm", "SC_rgb_rle.dcm", "JPEG2000.dcm", "MR_small_RLE.dcm",
             "SC_rgb_small_odd.dcm", "SC_rgb_jpeg_dcmtk.dcm", "emri_small.dcm")


def testdata_case(src: Source) -> Case:
    """One of pydicom's bundled files, patched through pydicom (PHI added, attributes made absurd)."""
    import pydicom

    name = src.choice(_TESTDATA)
    ds = pydicom.dcmread(io.BytesIO(_testdata(name)), force=True)
    ds.PatientName = PHI_NAME
    ds.PatientID = PHI_ID
    mutations = []
    which = src.choice(("rows", "frames", "bits", "photometric", "lut", "planar", "none"))
    if which == "rows":
        ds.Rows, ds.Columns = src.choice(
            ((65535, 65535), (0, 1), (1, 0), (int(ds.get("Rows", 8)) * 2, int(ds.get("Columns", 8))))
        )
    elif which == "frames":
        ds.NumberOfFrames = src.choice((0, 1000, 2**31 - 1, 2))
    elif which == "bits":
        ds.BitsStored = src.choice((0, 1, 17, 40))
        ds.HighBit = src.choice((0, 63, 255))
    elif which == "photometric":
        ds.PhotometricInterpretation = src.choice(("PALETTE COLOR", "YBR_FULL", "MONOCHROME1", "XYZ", "RGB"))
    elif which == "lut":
        ds.WindowCenter, ds.WindowWidth = src.choice(((0, 0), (-1e30, 1e-30), (40, -5)))
        ds.RescaleSlope = src.choice((0, -1, 1e308, float("nan")))
        ds.RescaleIntercept = src.choice((0, -1e308))  # pydicom applies the slope only with an intercept
    elif which == "planar":
        ds.PlanarConfiguration = src.choice((1, 2, 65535))
    mutations.append(f"pydicom-{which}")
    buf = io.BytesIO()
    ds.save_as(buf)
    return Case("dicom", name, mutations, _bytes_noise(src, buf.getvalue(), mutations, 132))


# --- byte noise (applied on top of the structure, sometimes) -------------------------------------------

_BOUNDARY = (b"\x00\x00", b"\xff\xff", b"\x00\x00\x00\x00", b"\xff\xff\xff\xff", b"\x7f\xff\xff\xff",
             b"\x80\x00\x00\x00", b"\x01\x00", b"\x00\x01")


def mutate_bytes(src: Source, data: bytearray, keep_head: int = 0) -> str:
    """One byte-level mutation in place after ``keep_head`` bytes; returns its name."""
    if len(data) <= keep_head + 4:
        return "bytes-none"
    pos = src.integer(keep_head, len(data) - 1)
    which = src.choice(("flip", "boundary", "truncate", "insert", "duplicate"))
    if which == "flip":
        data[pos] ^= 1 << src.integer(0, 7)
    elif which == "boundary":
        value = src.choice(_BOUNDARY)
        data[pos:pos + len(value)] = value
    elif which == "truncate":
        del data[pos:]
    elif which == "insert":
        data[pos:pos] = src.binary(1, 16)
    else:
        end = min(len(data), pos + src.integer(1, 64))
        data[pos:pos] = data[pos:end]
    return f"bytes-{which}"


def _bytes_noise(src: Source, data: bytes, mutations: list[str], keep_head: int) -> bytes:
    if not chance(src, 6):
        return data
    buf = bytearray(data)
    mutations.append(mutate_bytes(src, buf, keep_head))
    return bytes(buf)


# --- PNG: chunks with recomputed CRCs, so mutations reach the decoder ----------------------------------

@dataclass
class Chunk:
    ctype: bytes
    body: bytes
    length: int | None = None
    bad_crc: bool = False

    def encode(self) -> bytes:
        crc = zlib.crc32(self.ctype + self.body) ^ (0xFFFF if self.bad_crc else 0)
        length = len(self.body) if self.length is None else self.length
        return struct.pack(">I", length & 0xFFFFFFFF) + self.ctype + self.body + struct.pack(">I", crc)


PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def split_png(data: bytes) -> list[Chunk]:
    pos, out = 8, []
    while pos + 12 <= len(data):
        length, ctype = struct.unpack(">I4s", data[pos:pos + 8])
        out.append(Chunk(ctype, data[pos + 8:pos + 8 + length]))
        pos += 12 + length
    return out


def join_png(chunks: list[Chunk]) -> bytes:
    return PNG_MAGIC + b"".join(c.encode() for c in chunks)


def _image_array(src: Source, mode: str, width: int, height: int) -> Any:

    channels = {"L": 1, "RGB": 3, "RGBA": 4, "LA": 2, "I;16": 1, "P": 1}[mode]
    arr = _pixels(src, height, width, 1, channels, 16 if mode == "I;16" else 8)[0]
    if channels in (2, 4):
        arr[..., -1] = 255  # opaque alpha
    return arr


def png_seed(src: Source) -> bytes:
    from PIL import Image, PngImagePlugin

    mode = src.choice(("L", "RGB", "RGBA", "LA", "I;16", "P"))
    height = src.integer(8, 96)
    width = max(8, height * src.integer(75, 133) // 100)
    arr = _image_array(src, mode, width, height)
    image = Image.fromarray(arr)  # the dtype and channel count pick L, LA, RGB, RGBA or I;16
    if mode == "P":
        image = image.convert("P")
    info = PngImagePlugin.PngInfo()
    info.add_text("Patient", PHI_NAME)
    info.add_text("Comment", f"{PHI_ID} at {PHI_INSTITUTION}", zip=True)
    info.add_itxt("Author", PHI_NAME, lang="en", tkey="Author")
    buf = io.BytesIO()
    image.save(buf, format="PNG", pnginfo=info, interlace=src.choice((False, True)))
    return buf.getvalue()


def _ihdr(chunks: list[Chunk]) -> Chunk | None:
    return next((c for c in chunks if c.ctype == b"IHDR" and len(c.body) == 13), None)


def png_mutate(src: Source, chunks: list[Chunk]) -> str:
    which = src.choice(("ihdr-huge", "ihdr-fields", "idat-tiny", "idat-bomb", "chunk-length", "bad-crc", "drop",
                        "duplicate-ihdr", "reorder", "text-bytes", "ztxt-bomb", "split-idat", "idat-noise"))
    ihdr = _ihdr(chunks)
    if which == "ihdr-huge" and ihdr:
        width, height = src.choice(((100000, 100000), (65535, 65535), (2**31 - 1, 1), (1, 2**31 - 1),
                                    (0, 16), (16, 0), (2**32 - 1, 2**32 - 1), (20000, 20000)))
        ihdr.body = struct.pack(">II", width, height) + ihdr.body[8:]
    elif which == "ihdr-fields" and ihdr:
        body = bytearray(ihdr.body)
        body[src.integer(8, 12)] = src.choice((0, 1, 3, 5, 7, 16, 32, 255))
        ihdr.body = bytes(body)
    elif which == "idat-tiny":
        chunks[:] = [c for c in chunks if c.ctype != b"IDAT"]
        chunks.insert(max(len(chunks) - 1, 0), Chunk(b"IDAT", zlib.compress(b"\x00" * src.choice((0, 1, 16, 4096)))))
    elif which == "idat-bomb":
        chunks[:] = [c for c in chunks if c.ctype != b"IDAT"]
        chunks.insert(max(len(chunks) - 1, 0), Chunk(b"IDAT", _zeros_zlib(src.choice((1, 16, 64)))))
    elif which == "chunk-length" and chunks:
        chunk = src.choice(chunks)
        chunk.length = src.choice((0, len(chunk.body) + 1, max(len(chunk.body) - 1, 0), 0xFFFFFFFF, 0x7FFFFFFF))
    elif which == "bad-crc" and chunks:
        src.choice(chunks).bad_crc = True
    elif which == "drop" and chunks:
        ctype = src.choice((b"IHDR", b"IDAT", b"IEND", b"PLTE", src.choice(chunks).ctype))
        chunks[:] = [c for c in chunks if c.ctype != ctype]
    elif which == "duplicate-ihdr" and ihdr:
        chunks.insert(src.integer(1, len(chunks)), Chunk(b"IHDR", ihdr.body))
    elif which == "reorder" and len(chunks) > 1:
        i, j = src.integer(0, len(chunks) - 1), src.integer(0, len(chunks) - 1)
        chunks[i], chunks[j] = chunks[j], chunks[i]
    elif which == "text-bytes":
        body = src.choice((b"Patient\x00" + PHI_NAME.encode() + b"\xff\xfe",
                           b"\x00" * 80, b"K" * 100 + b"\x00v", b"Patient\x00\x00\x00\x00\x00\xff",
                           b"iTXt\x00\x01\x00en\x00\x00" + b"x\x9c\xff\xff"))
        chunks.insert(1, Chunk(src.choice((b"tEXt", b"iTXt", b"zTXt", b"eXIf", b"iCCP")), body))
    elif which == "ztxt-bomb":
        ctype = src.choice((b"zTXt", b"iCCP"))
        chunks.insert(1, Chunk(ctype, b"Patient\x00\x00" + _zeros_zlib(src.choice((1, 16)))))
    elif which == "split-idat":
        idat = b"".join(c.body for c in chunks if c.ctype == b"IDAT")
        step = src.choice((1, 7, 64))
        pieces = [Chunk(b"IDAT", idat[i:i + step]) for i in range(0, len(idat), step)]
        rest = [c for c in chunks if c.ctype != b"IDAT"]
        chunks[:] = rest[:-1] + pieces + rest[-1:]
    elif which == "idat-noise":
        for chunk in chunks:
            if chunk.ctype == b"IDAT" and chunk.body:
                body = bytearray(chunk.body)
                mutate_bytes(src, body, 2)
                chunk.body = bytes(body)
                break
    return f"png-{which}"


@functools.lru_cache(maxsize=8)
def _zeros_zlib(mib: int) -> bytes:
    comp = zlib.compressobj(9)
    block = b"\x00" * (1 << 20)
    return b"".join(comp.compress(block) for _ in range(mib)) + comp.flush()


def png_case(src: Source) -> Case:
    chunks = split_png(png_seed(src))
    mutations = [png_mutate(src, chunks) for _ in range(src.integer(1, 3))]
    return Case("png", "pillow", mutations, _bytes_noise(src, join_png(chunks), mutations, 8))


# --- JPEG: segments up to the first scan, the scan and whatever follows kept as bytes ------------------

@dataclass
class Segment:
    marker: int
    body: bytes
    length: int | None = None

    def encode(self) -> bytes:
        length = len(self.body) + 2 if self.length is None else self.length
        return bytes((0xFF, self.marker)) + struct.pack(">H", length & 0xFFFF) + self.body


_SOF = (0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF)


def split_jpeg(data: bytes) -> tuple[list[Segment], bytes]:
    pos, segments = 2, []
    while pos + 4 <= len(data) and data[pos] == 0xFF:
        marker = data[pos + 1]
        (length,) = struct.unpack(">H", data[pos + 2:pos + 4])
        segments.append(Segment(marker, data[pos + 4:pos + 2 + length]))
        pos += 2 + length
        if marker == 0xDA:
            break
    return segments, data[pos:]


def join_jpeg(segments: list[Segment], rest: bytes) -> bytes:
    return b"\xff\xd8" + b"".join(s.encode() for s in segments) + rest


def jpeg_seed(src: Source) -> bytes:
    from PIL import Image

    mode = src.choice(("L", "RGB", "CMYK"))
    height = src.integer(8, 96)
    width = max(8, height * src.integer(75, 133) // 100)
    arr = _image_array(src, "RGB" if mode != "L" else "L", width, height)
    image = Image.fromarray(arr)
    if mode == "CMYK":
        image = image.convert("CMYK")
    buf = io.BytesIO()
    exif = Image.Exif()
    exif[0x013B] = PHI_NAME  # Artist
    exif[0x010E] = f"{PHI_ID} {PHI_INSTITUTION}"  # ImageDescription
    image.save(buf, format="JPEG", quality=src.choice((50, 90)), progressive=src.choice((False, True)),
               exif=exif.tobytes(), comment=PHI_NAME.encode(),
               subsampling=src.choice((0, 1, 2)) if mode == "RGB" else -1)
    return buf.getvalue()


def jpeg_mutate(src: Source, segments: list[Segment], rest: list[bytes]) -> str:
    which = src.choice(("sof-huge", "sof-zero", "sof-components", "segment-length", "drop", "dqt", "dht",
                        "scan-noise", "many-scans", "com-bytes", "exif-garbage", "no-eoi", "sos-first"))
    sof = next((s for s in segments if s.marker in _SOF and len(s.body) >= 6), None)
    if which == "sof-huge" and sof:
        height, width = src.choice(((65535, 65535), (65535, 1), (1, 65535), (30000, 30000), (20000, 20000)))
        sof.body = sof.body[:1] + struct.pack(">HH", height, width) + sof.body[5:]
    elif which == "sof-zero" and sof:
        sof.body = sof.body[:1] + struct.pack(">HH", src.choice((0, 1)), src.choice((0, 1))) + sof.body[5:]
    elif which == "sof-components" and sof:
        body = bytearray(sof.body)
        if chance(src, 2):
            body[5] = src.choice((0, 2, 5, 255))
        elif len(body) > 7:
            body[7] = src.choice((0x00, 0xFF, 0x44, 0x0F, 0xF0))  # sampling factors
        body[0] = src.choice((body[0], 12, 16, 0, 1))  # precision
        sof.body = bytes(body)
    elif which == "segment-length" and segments:
        seg = src.choice(segments)
        seg.length = src.choice((0, 1, 2, len(seg.body) + 3, len(seg.body) + 100, 65535))
    elif which == "drop" and segments:
        marker = src.choice((0xC0, 0xC2, 0xC4, 0xDB, 0xDA, src.choice(segments).marker))
        segments[:] = [s for s in segments if s.marker != marker]
    elif which in ("dqt", "dht"):
        marker = 0xDB if which == "dqt" else 0xC4
        for seg in segments:
            if seg.marker == marker and seg.body:
                body = bytearray(seg.body)
                body[src.integer(0, len(body) - 1)] = src.choice((0, 0xFF, 0x1F, 0x10))
                seg.body = bytes(body[: src.choice((len(body), max(1, len(body) // 2)))])
                break
    elif which == "scan-noise" and rest[0]:
        body = bytearray(rest[0])
        mutate_bytes(src, body, 0)
        rest[0] = bytes(body)
    elif which == "many-scans":
        sos = next((s for s in segments if s.marker == 0xDA), None)
        if sos and len(rest[0]) < 65536:  # a few hundred bytes of scan, repeated: small input, many scans
            scan = rest[0][: min(512, max(0, len(rest[0]) - 2))]
            rest[0] = (scan + sos.encode()) * src.choice((10, 200, 2000)) + b"\xff\xd9"
    elif which == "com-bytes":
        segments.insert(0, Segment(0xFE, src.choice((b"\xff\xfe" + PHI_NAME.encode(), b"\x00" * 65000, b""))))
    elif which == "exif-garbage":
        segments.insert(0, Segment(0xE1, b"Exif\x00\x00" + src.choice((b"MM\x00\x2a\xff\xff\xff\xff", b"II*\x00"
                                                                     + b"\x08\x00\x00\x00\xff\xff" + b"\x00" * 20,
                                                                     src.binary(0, 64)))))
    elif which == "no-eoi":
        rest[0] = rest[0].rstrip(b"\x00")[:-2]
    elif which == "sos-first":
        sos = [s for s in segments if s.marker == 0xDA]
        segments[:] = sos + [s for s in segments if s.marker != 0xDA]
    return f"jpeg-{which}"


def jpeg_case(src: Source) -> Case:
    segments, tail = split_jpeg(jpeg_seed(src))
    rest = [tail]
    mutations = [jpeg_mutate(src, segments, rest) for _ in range(src.integer(1, 3))]
    return Case("jpeg", "pillow", mutations, _bytes_noise(src, join_jpeg(segments, rest[0]), mutations, 2))


# --- NIfTI: header fields by offset (nibabel's own layout), gzip wrapping and gzip bombs ---------------

def nifti_seed(src: Source) -> tuple[bytes, int]:
    import nibabel as nib
    import numpy as np

    version = src.choice((1, 1, 2))
    shape = tuple(src.integer(2, 12) for _ in range(src.choice((2, 3, 3, 4))))
    dtype = src.choice((np.uint8, np.int16, np.float32, np.float64))
    arr = np.random.default_rng(src.integer(0, 2**16)).integers(0, 100, size=shape).astype(dtype)
    cls = nib.Nifti1Image if version == 1 else nib.Nifti2Image
    image = cls(arr, np.eye(4))
    image.header["descrip"] = PHI_NAME.encode()
    image.header["aux_file"] = PHI_ID.encode()
    if chance(src, 2):
        image.header.extensions.append(nib.nifti1.Nifti1Extension("comment", PHI_NAME.encode()))
    return image.to_bytes(), version


_N1 = {"sizeof_hdr": (0, "<i"), "dim": (40, "<h"), "datatype": (70, "<h"), "bitpix": (72, "<h"),
       "vox_offset": (108, "<f"), "scl_slope": (112, "<f"), "descrip": (148, None)}
_N2 = {"sizeof_hdr": (0, "<i"), "dim": (16, "<q"), "datatype": (12, "<h"), "bitpix": (14, "<h"),
       "vox_offset": (168, "<q"), "scl_slope": (176, "<d"), "descrip": (240, None)}


def _put(raw: bytearray, version: int, name: str, value: Any, index: int = 0) -> None:
    offset, fmt = (_N1 if version == 1 else _N2)[name]
    if fmt is None:
        raw[offset:offset + 80] = value.ljust(80, b"\x00")[:80]
        return
    size = struct.calcsize(fmt)
    if fmt[-1] in "hiq":
        bits = size * 8
        value = value if value == value else -1  # NaN has no integer form (NIfTI-2's vox_offset is int64)
        value = max(-(2 ** (bits - 1)), min(2 ** (bits - 1) - 1, int(value)))
    raw[offset + index * size: offset + (index + 1) * size] = struct.pack(fmt, value)


def nifti_mutate(src: Source, raw: bytearray, version: int) -> str:
    which = src.choice(("dims-huge", "dim0", "dims-negative", "datatype", "bitpix", "vox-offset", "sizeof-hdr",
                        "extension", "scale", "descrip-bytes", "truncate-data"))
    if which == "dims-huge":
        dims = src.choice(((3, 30000, 30000, 30000), (3, 32767, 32767, 32767), (4, 100, 100, 100, 32767),
                           (3, 1000, 1000, 1000), (7, 2, 2, 2, 2, 2, 2, 32767)))
        for i, d in enumerate(dims):
            _put(raw, version, "dim", d, i)
    elif which == "dim0":
        _put(raw, version, "dim", src.choice((0, 8, 9, -1, 255, 32767)), 0)
    elif which == "dims-negative":
        _put(raw, version, "dim", src.choice((-1, -32768, 0)), src.integer(1, 3))
    elif which == "datatype":
        _put(raw, version, "datatype", src.choice((0, 1, 3, 32, 128, 1792, 2304, 255, -1, 32767)))
    elif which == "bitpix":
        _put(raw, version, "bitpix", src.choice((0, 1, 7, 64, 128, -8, 32767)))
    elif which == "vox-offset":
        _put(raw, version, "vox_offset", src.choice((0, 1, 100, 351, 2**24, -352, 1e30, float("nan"))))
    elif which == "sizeof-hdr":
        _put(raw, version, "sizeof_hdr", src.choice((0, 347, 349, 540 if version == 1 else 348, -1, 2**31 - 1)))
    elif which == "extension":
        start = 348 if version == 1 else 540
        raw[start:start + 4] = bytes((1, 0, 0, 0))  # "extensions follow"
        esize = src.choice((0, 8, 7, 16, 2**31 - 1, -16))
        ext = struct.pack("<ii", esize, src.choice((6, 4, 0, 999, -1))) + PHI_NAME.encode()
        raw[start + 4:start + 4 + len(ext)] = ext
    elif which == "scale":
        _put(raw, version, "scl_slope", src.choice((float("nan"), float("inf"), 0.0, -1e38, 1e-45)))
    elif which == "descrip-bytes":
        _put(raw, version, "descrip", src.choice((b"\xff\xfe" + PHI_NAME.encode(), b"\x00" * 80, b"\x80" * 80)))
    else:
        del raw[max(348, len(raw) - src.integer(1, 64)):]
    return f"nifti-{which}"


@functools.lru_cache(maxsize=2)
def gzip_bomb(header: bytes, inflated_gib: float) -> bytes:
    """A valid gzip stream: ``header`` then zeros, inflating to ``inflated_gib`` GiB (~1 MB per GiB).

    Built in a second or two: after a full flush deflate forgets its history, so one compressed MiB of
    zeros is a self-contained piece that can be repeated; only the CRC needs every inflated byte.
    """
    comp = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    block = b"\x00" * (1 << 20)
    first = comp.compress(header) + comp.flush(zlib.Z_FULL_FLUSH)
    piece = comp.compress(block) + comp.flush(zlib.Z_FULL_FLUSH)
    count = int(inflated_gib * 1024)
    last = comp.flush(zlib.Z_FINISH)
    crc = zlib.crc32(header)
    for _ in range(count):
        crc = zlib.crc32(block, crc)
    size = len(header) + count * len(block)
    gzip_header = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\xff"
    return gzip_header + first + piece * count + last + struct.pack("<II", crc, size & 0xFFFFFFFF)


def gzip_member(raw: bytes) -> bytes:
    comp = zlib.compressobj(6, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    return comp.compress(raw) + comp.flush()


def nifti_case(src: Source, bombs: bool = True) -> Case:
    raw_bytes, version = nifti_seed(src)
    raw = bytearray(raw_bytes)
    mutations = [nifti_mutate(src, raw, version) for _ in range(src.integer(1, 3))]
    data = bytes(raw)
    wrap = src.choice(("plain", "gzip", "gzip", "gzip-truncated", "gzip-trailing", "gzip-bomb"))
    if wrap == "gzip-bomb" and not bombs:
        wrap = "gzip"
    if wrap == "gzip":
        data = gzip_member(data)
    elif wrap == "gzip-truncated":
        data = gzip_member(data)
        data = data[: src.integer(10, max(10, len(data) - 1))]
    elif wrap == "gzip-trailing":
        data = gzip_member(data) + src.choice((b"\x00" * 8, gzip_member(b"FUZZPATIENT^SECRET"), b"garbage!"))
    elif wrap == "gzip-bomb":
        header = raw_bytes[: 352 if version == 1 else 544]
        data = gzip_bomb(header, 5.0)
    mutations.append(wrap)
    return Case("nifti", f"nifti{version}", mutations, _bytes_noise(src, data, mutations, 0 if wrap != "plain" else 4))


# --- one case ------------------------------------------------------------------------------------------

def make_case(src: Source, bombs: bool = True) -> Case:
    """A mutated object of any format. ``bombs=False`` leaves out the multi-GB gzip bomb (costly to build)."""
    kind = src.choice(("dicom", "dicom", "dicom", "testdata", "png", "jpeg", "nifti"))
    if kind == "dicom":
        return dicom_case(src)
    if kind == "testdata":
        return testdata_case(src)
    if kind == "png":
        return png_case(src)
    if kind == "jpeg":
        return jpeg_case(src)
    return nifti_case(src, bombs)


def case_at(seed: int, index: int, bombs: bool = True) -> Case:
    """Case ``index`` of run ``seed``: independent of every other case, so any one can be regenerated."""
    return make_case(RandomSource(random.Random(f"pixelguard-fuzz:{seed}:{index}")), bombs)


def cases(bombs: bool = False):
    """The same generator as a hypothesis strategy (shrinks to the smallest failing choices)."""
    from hypothesis import strategies as st

    @st.composite
    def _case(draw: Callable[[Any], Any]) -> Case:
        return make_case(DrawSource(draw), bombs)

    return _case()


# --- explicit decompression bombs (one per format) -----------------------------------------------------

def bomb_dicom() -> bytes:
    """Native DICOM claiming 65535 x 65535 x 1000 frames, 16-bit, with a few bytes of pixel data."""
    seed = dicom_seed(RandomSource(random.Random(1)))
    seed.ts = EXPLICIT_LE
    seed.meta[3].value = _uid(EXPLICIT_LE)
    seed.elements = [e for e in seed.elements if e.tag != 0x00080005]
    for tag, value in ((0x00280010, 65535), (0x00280011, 65535), (0x00280100, 16), (0x00280101, 16),
                       (0x00280102, 15), (0x00280002, 1)):
        seed.set(tag, "US", _us(value))
    seed.set(0x00280004, "CS", _text("MONOCHROME2"))
    seed.set(0x00280008, "IS", _text("1000"))
    seed.set(0x7FE00010, "OW", b"\x00" * 64)
    return seed.encode()


def bomb_dicom_encapsulated() -> bytes:
    """RLE DICOM claiming 65535 x 65535 x 1000 frames with one tiny fragment."""
    seed = dicom_seed(RandomSource(random.Random(1)))
    seed.ts = RLE
    seed.meta[3].value = _uid(RLE)
    for tag, value in ((0x00280010, 65535), (0x00280011, 65535), (0x00280100, 8), (0x00280101, 8),
                       (0x00280102, 7), (0x00280002, 1)):
        seed.set(tag, "US", _us(value))
    seed.set(0x00280004, "CS", _text("MONOCHROME2"))
    seed.set(0x00280008, "IS", _text("1000"))
    seed.set(0x7FE00010, "OB", b"")
    seed.find(0x7FE00010).value = Encap([b"\x01\x00\x00\x00" + struct.pack("<I", 64) + b"\x00" * 56 + b"\x81\x00"])
    return seed.encode()


def bomb_png() -> bytes:
    chunks = split_png(png_seed(RandomSource(random.Random(2))))
    ihdr = _ihdr(chunks)
    assert ihdr is not None
    ihdr.body = struct.pack(">II", 100000, 100000) + ihdr.body[8:]
    chunks[:] = [c for c in chunks if c.ctype != b"IDAT"]
    chunks.insert(len(chunks) - 1, Chunk(b"IDAT", zlib.compress(b"\x00" * 1024)))
    return join_png(chunks)


def bomb_jpeg() -> bytes:
    segments, rest = split_jpeg(jpeg_seed(RandomSource(random.Random(3))))
    sof = next(s for s in segments if s.marker in _SOF)
    sof.body = sof.body[:1] + struct.pack(">HH", 65535, 65535) + sof.body[5:]
    return join_jpeg(segments, rest)


def bomb_nifti(gzipped: bool = False) -> bytes:
    raw_bytes, version = nifti_seed(RandomSource(random.Random(4)))
    raw = bytearray(raw_bytes)
    for i, d in enumerate((3, 30000, 30000, 30000)):
        _put(raw, version, "dim", d, i)
    return gzip_member(bytes(raw)) if gzipped else bytes(raw)


def bomb_gzip(inflated_gib: float = 5.0) -> bytes:
    """A valid small NIfTI-1 header whose gzip stream then inflates to many GB of zeros."""
    import nibabel as nib
    import numpy as np

    image = nib.Nifti1Image(np.zeros((8, 8, 8), dtype=np.uint8), np.eye(4))
    image.header["descrip"] = PHI_NAME.encode()
    return gzip_bomb(image.to_bytes()[:352], inflated_gib)


BOMBS: dict[str, Callable[[], bytes]] = {
    "dicom-65535x65535x1000": bomb_dicom,
    "dicom-rle-65535x65535x1000": bomb_dicom_encapsulated,
    "png-ihdr-100000x100000": bomb_png,
    "jpeg-sof-65535x65535": bomb_jpeg,
    "nifti-dims-30000^3": bomb_nifti,
    "nifti-gz-dims-30000^3": lambda: bomb_nifti(gzipped=True),
    "nifti-gzip-bomb-5GiB": bomb_gzip,
}
