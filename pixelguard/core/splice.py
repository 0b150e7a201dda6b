"""The splicing DICOM writer: a scrubbed data set written with its unchanged elements copied as bytes.

Every element the scrub stage left as read (still a raw element, so its bytes are the original encoding) is
copied as bytes with its header rebuilt, and only the elements the profile changed go through pydicom's
encoder. After the preamble (always zeros here: the 128 bytes are free for any application's data, so the
original's are not copied) the output is byte-for-byte what pydicom's own writer produces (a test checks
that over the whole pydicom corpus), at a fraction of the cost; anything unusual (big endian, deflate, a
data set read in a different encoding than its transfer syntax says, an ambiguous VR) takes pydicom's path
instead. Used wherever the pixels are left as they came: the scrub stage's staged file
(``formats/dicom.py``) and the redact stage under ``--redaction off`` or without pixel data (``redact.py``).
"""
from __future__ import annotations

import struct

from pydicom.charset import default_encoding
from pydicom.dataelem import RawDataElement
from pydicom.dataset import Dataset
from pydicom.filebase import DicomBytesIO
from pydicom.filewriter import write_data_element, write_dataset, write_file_meta_info

_LONG_VRS = {"OB", "OD", "OF", "OL", "OV", "OW", "SQ", "SV", "UC", "UN", "UR", "UT", "UV"}
_UNDEFINED = 0xFFFFFFFF
_PREAMBLE = b"\x00" * 128 + b"DICM"


def write_spliced(ds: Dataset) -> bytes:
    """Serialise a scrubbed data set as a PS3.10 file; raw (unchanged) elements are copied as bytes."""
    meta = ds.file_meta
    ts = meta.TransferSyntaxUID
    implicit = ts.is_implicit_VR
    if not ts.is_little_endian or ts.is_deflated or ds.original_encoding not in (None, (implicit, True)):
        return _write_with_pydicom(ds)
    fp = DicomBytesIO()
    fp.is_little_endian = True
    fp.is_implicit_VR = False
    fp.write(_PREAMBLE)
    try:
        meta_bytes = _meta_bytes(meta)
        if meta_bytes is None:
            write_file_meta_info(fp, meta, enforce_standard=True)
        else:
            fp.write(meta_bytes)
        fp.is_implicit_VR = implicit
        _write_level(fp, ds, implicit)
    except Exception:  # noqa: BLE001 - e.g. an ambiguous VR ("OB or OW") that pydicom's writer resolves
        return _write_with_pydicom(ds)
    return fp.getvalue()


_SHORT = struct.Struct("<HH2sH").pack
_LONG = struct.Struct("<HH2s2xI").pack
_IMPLICIT = struct.Struct("<HHI").pack
_ITEM = b"\xfe\xff\x00\xe0"
_ITEM_END = b"\xfe\xff\x0d\xe0\x00\x00\x00\x00"
_SEQ_END = b"\xfe\xff\xdd\xe0\x00\x00\x00\x00"


def _write_level(fp: DicomBytesIO, ds: Dataset, implicit: bool,
                 parent_encoding: str | list[str] = default_encoding) -> None:
    """Write one data set level as pydicom's write_dataset would, copying raw elements as bytes."""
    original = ds.original_encoding
    if (None not in original and original != (implicit, True)) or ds.original_character_set != ds._character_set:
        write_dataset(fp, ds, parent_encoding)  # re-encoding needed: pydicom converts every element
        return
    charset = ds.get("SpecificCharacterSet", parent_encoding)
    write = fp.write
    for tag in sorted(ds._dict):
        if tag & 0xFFFF == 0 and tag >> 16 > 6:
            continue  # retired group lengths are never written
        elem = ds._dict[tag]
        if isinstance(elem, RawDataElement):
            value = elem.value
            if elem.length != _UNDEFINED and isinstance(value, bytes):
                if implicit:
                    write(_IMPLICIT(tag >> 16, tag & 0xFFFF, len(value)))
                    write(value)
                    continue
                vr = elem.VR
                if vr and vr != "SQ" and (vr in _LONG_VRS or len(value) <= 0xFFFF):
                    write((_LONG if vr in _LONG_VRS else _SHORT)(tag >> 16, tag & 0xFFFF, vr.encode(), len(value)))
                    write(value)
                    continue
        elif elem.VR == "SQ":
            _write_sequence(fp, elem, implicit, charset)
            continue
        else:
            value = _simple_bytes(elem)
            if value is not None:
                if implicit:
                    write(_IMPLICIT(tag >> 16, tag & 0xFFFF, len(value)))
                else:
                    vr = elem.VR
                    write((_LONG if vr in _LONG_VRS else _SHORT)(tag >> 16, tag & 0xFFFF, vr.encode(), len(value)))
                write(value)
                continue
        write_data_element(fp, ds.get_item(tag), charset)


# Text VRs whose encoding is the ASCII text padded to even length (UI with NUL, the rest with a space):
# what the scrub stage writes (emptied values, dummies, keyed UIDs) is encoded here without pydicom's
# per-element machinery; anything else goes through pydicom.
_ASCII_VRS = {"UI", "LO", "SH", "CS", "DA", "TM", "DT", "AS", "AE", "LT", "ST", "UT", "UC", "PN"}


def _simple_bytes(elem: object) -> bytes | None:
    value = elem.value  # type: ignore[attr-defined]
    vr = elem.VR  # type: ignore[attr-defined]
    if value is None or value == "" or value == b"":
        return b"" if vr != "SQ" else None
    if vr not in _ASCII_VRS or not isinstance(value, str) or not value.isascii() or (vr != "UI" and "\x00" in value):
        return None
    data = value.encode()
    if len(data) % 2:
        data += b"\x00" if vr == "UI" else b" "
    return data


_META_TAGS = (0x00020001, 0x00020002, 0x00020003, 0x00020010, 0x00020012, 0x00020013)


def _meta_bytes(meta: Dataset) -> bytes | None:
    """The file meta group as the scrub stage leaves it (the six standard elements), encoded directly."""
    if set(meta.keys()) - set(_META_TAGS) or 0x00020001 not in meta or 0x00020012 not in meta:
        return None
    body = bytearray()
    for tag in _META_TAGS:
        if tag not in meta:
            continue
        elem = meta[tag]
        if tag == 0x00020001:
            value = elem.value if isinstance(elem.value, bytes) else None
            if value is None:
                return None
            value = value + b"\x00" * (len(value) % 2)
            body += _LONG(0x0002, 0x0001, b"OB", len(value)) + value
            continue
        value = _simple_bytes(elem)
        if value is None:
            return None
        body += _SHORT(0x0002, tag & 0xFFFF, elem.VR.encode(), len(value)) + value
    return _SHORT(0x0002, 0x0000, b"UL", 4) + struct.pack("<I", len(body)) + bytes(body)


def _write_sequence(fp: DicomBytesIO, elem: object, implicit: bool, charset: str | list[str]) -> None:
    tag = int(elem.tag)  # type: ignore[attr-defined]
    body = DicomBytesIO()
    body.is_little_endian, body.is_implicit_VR = True, implicit
    for item in elem.value:  # type: ignore[attr-defined]
        content = DicomBytesIO()
        content.is_little_endian, content.is_implicit_VR = True, implicit
        _write_level(content, item, implicit, charset)
        raw = content.getvalue()
        if getattr(item, "is_undefined_length_sequence_item", False):
            body.write(_ITEM + b"\xff\xff\xff\xff" + raw + _ITEM_END)
        else:
            body.write(_ITEM + struct.pack("<I", len(raw)) + raw)
    undefined = bool(elem.is_undefined_length)  # type: ignore[attr-defined]
    payload = body.getvalue()
    length = _UNDEFINED if undefined else len(payload)
    if implicit:
        fp.write(_IMPLICIT(tag >> 16, tag & 0xFFFF, length))
    else:
        fp.write(_LONG(tag >> 16, tag & 0xFFFF, b"SQ", length))
    fp.write(payload)
    if undefined:
        fp.write(_SEQ_END)


def _write_with_pydicom(ds: Dataset) -> bytes:
    from .redact import write_dicom

    return write_dicom(ds)


__all__ = ["write_spliced"]
