"""Scrub stage: apply the profile's metadata actions (pure: header + profile + keys -> new header).

DICOM: every element is looked up in the profile compiled from PS3.15 Table E.1-1 and removed (X), emptied
(Z), replaced by a dummy (D), kept (K), cleaned (C) or remapped (U); sequences are recursed to any depth.
JPEG/PNG/NIfTI: the metadata containers that can carry free text are removed or cleared; pixels untouched.
"""
from __future__ import annotations

import struct
from collections.abc import Callable

from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence
from pydicom.uid import UID, ExplicitVRLittleEndian, ImplicitVRLittleEndian

from .keys import Derivations
from .parse import ImageHeader
from .profile import OPTIONS, Profile
from .record import Format, ObjectRecord, StageError

_DUMMY_TEXT = "ANONYMIZED"
_DUMMY: dict[str, object] = {
    "AE": "ANONYMIZED", "AS": "000Y", "CS": "ANONYMIZED", "DA": "19000101", "DS": "0", "DT": "19000101000000",
    "IS": "0", "LO": _DUMMY_TEXT, "LT": _DUMMY_TEXT, "PN": "ANONYMIZED", "SH": _DUMMY_TEXT, "ST": _DUMMY_TEXT,
    "TM": "000000", "UC": _DUMMY_TEXT, "UR": "", "UT": _DUMMY_TEXT, "FL": 0.0, "FD": 0.0, "SL": 0, "SS": 0,
    "UL": 0, "US": 0, "SV": 0, "UV": 0, "OB": b"\x00\x00", "OW": b"\x00\x00", "OD": b"", "OF": b"", "OL": b"",
    "OV": b"", "UN": b"",
}
# PS3.16 CID 7050 (De-identification Method): code for the Basic profile and each option.
CID_7050 = {
    "basic": ("113100", "Basic Application Confidentiality Profile"),
    "rtnSafePrivOpt": ("113111", "Retain Safe Private Option"),
    "rtnUIDsOpt": ("113110", "Retain UIDs Option"),
    "rtnDevIdOpt": ("113109", "Retain Device Identity Option"),
    "rtnInstIdOpt": ("113112", "Retain Institution Identity Option"),
    "rtnPatCharsOpt": ("113108", "Retain Patient Characteristics Option"),
    "rtnLongFullDatesOpt": ("113106", "Retain Longitudinal Temporal Information Full Dates Option"),
    "rtnLongModifDatesOpt": ("113107", "Retain Longitudinal Temporal Information Modified Dates Option"),
    "cleanDescOpt": ("113105", "Clean Descriptors Option"),
    "cleanStructContOpt": ("113104", "Clean Structured Content Option"),
    "cleanGraphOpt": ("113103", "Clean Graphics Option"),
}
_PATIENT_ID = 0x00100020
_PIXEL_DATA = 0x7FE00010
_KEEP_ALWAYS = {_PIXEL_DATA, 0x00080016, 0x00080005}  # pixels (redact stage), SOPClassUID, character set


def scrub(record: ObjectRecord, profile: Profile, derive: Derivations) -> ObjectRecord:
    if record.format is Format.DICOM:
        _scrub_dicom(record, profile, derive)
    elif record.format is Format.JPEG:
        record.output_bytes = strip_jpeg(record.data, record.header)
    elif record.format is Format.PNG:
        record.output_bytes = strip_png(record.data)
    else:
        _scrub_nifti(record)
    if record.format is not Format.DICOM:
        record.output_id = derive.content_id(record.data)
    return record


# --- DICOM -----------------------------------------------------------------------------------------------

def _scrub_dicom(record: ObjectRecord, profile: Profile, derive: Derivations) -> None:
    ds: Dataset = record.header
    patient_id = _value_text(ds, "PatientID")
    context = _Context(profile, derive, record)
    try:
        _scrub_dataset(ds, context, depth=0)
    except StageError:
        raise
    except Exception as exc:  # noqa: BLE001 - malformed values surface as many exception types
        raise StageError("bad-value", f"DICOM value could not be scrubbed ({exc.__class__.__name__})") from None
    if patient_id:
        pseudonym = derive.pseudonym("PatientID", patient_id)
        ds.PatientID = pseudonym
        record.pseudonyms["PatientID"] = pseudonym
        record.crosswalk[f"PatientID:{patient_id}"] = pseudonym
    ds.PatientIdentityRemoved = "YES"
    applied = ("basic",) + profile.options
    ds.DeidentificationMethod = f"PixelGuard {profile.name}: " + "; ".join(
        CID_7050[name][1] for name in applied)[:64 - len(f"PixelGuard {profile.name}: ")]
    ds.DeidentificationMethodCodeSequence = Sequence([_code(*CID_7050[name]) for name in applied])
    ds.LongitudinalTemporalInformationModified = (
        "UNMODIFIED" if "rtnLongFullDatesOpt" in profile.options else
        "MODIFIED" if "rtnLongModifDatesOpt" in profile.options else "REMOVED")
    sop = _value_text(ds, "SOPInstanceUID")
    if not sop:
        raise StageError("corrupt", "DICOM object has no SOPInstanceUID to name its output by")
    record.output_id = sop
    _fix_file_meta(ds, sop)


class _Context:
    def __init__(self, profile: Profile, derive: Derivations, record: ObjectRecord) -> None:
        self.profile = profile
        self.derive = derive
        self.record = record


def _scrub_dataset(ds: Dataset, ctx: _Context, depth: int) -> None:
    for tag in list(ds._dict.keys()):
        if tag.is_private:
            # Basic profile: private elements go. (Retain Safe Private is handled by the metadata issue's
            # private-tag knowledge base; until then we keep nothing we cannot vouch for.)
            del ds[tag]
            continue
        if tag.element == 0x0000:
            del ds[tag]  # group lengths are retired and would be wrong after scrubbing
            continue
        if depth == 0 and tag in _KEEP_ALWAYS:
            continue
        action = ctx.profile.action(int(tag))
        if action is None:
            if ctx.profile.public_not_in_table == "remove" and tag not in _KEEP_ALWAYS:
                del ds[tag]
                continue
            action = "K"
        _apply(ds, tag, action, ctx, depth)


def _apply(ds: Dataset, tag: int, action: str, ctx: _Context, depth: int) -> None:
    if action == "X":
        del ds[tag]
        return
    elem = ds[tag]  # converts the raw element; malformed values raise here
    if elem.VR == "SQ":
        if action in ("Z", "D"):
            elem.value = Sequence([])
            return
        for item in elem.value:  # K, U (X/Z/U*) and C: clean the items, to any depth
            _scrub_dataset(item, ctx, depth + 1)
        return
    if action == "K":
        return
    if action == "Z":
        elem.value = None if elem.VR not in ("OB", "OW", "UN") else b""
    elif action == "U" or (action in ("D", "C") and elem.VR == "UI"):
        elem.value = _remap_uids(elem.value, ctx.derive.uid)
    elif action in ("D", "C"):
        # C (clean) needs the descriptor cleaner of the metadata issue; until then a dummy is the
        # safe reading of "when in doubt, remove".
        elem.value = _DUMMY.get(elem.VR, _DUMMY_TEXT)
    else:
        raise StageError("bad-profile", f"unhandled action {action!r}")


def _remap_uids(value: object, uid: Callable[[str], str]) -> object:
    if value is None or value == "":
        return value
    if isinstance(value, (list, tuple)) or hasattr(value, "__iter__") and not isinstance(value, str):
        return [uid(str(v)) for v in value]
    return uid(str(value))


def _value_text(ds: Dataset, keyword: str) -> str:
    try:
        value = ds.get(keyword)
    except Exception:  # noqa: BLE001
        return ""
    return str(value).strip() if value not in (None, "") else ""


def _code(value: str, meaning: str) -> Dataset:
    item = Dataset()
    item.CodeValue = value
    item.CodingSchemeDesignator = "DCM"
    item.CodeMeaning = meaning
    return item


def _fix_file_meta(ds: Dataset, sop_instance_uid: str) -> None:
    meta = getattr(ds, "file_meta", None) or FileMetaDataset()
    if "TransferSyntaxUID" not in meta:
        # A data set without file meta (no preamble): record the encoding it was actually read with.
        meta.TransferSyntaxUID = ImplicitVRLittleEndian if ds.is_implicit_VR else ExplicitVRLittleEndian
    for tag in list(meta.keys()):
        if tag not in (0x00020001, 0x00020002, 0x00020003, 0x00020010, 0x00020012, 0x00020013):
            del meta[tag]  # e.g. SourceApplicationEntityTitle, private meta information
    meta.MediaStorageSOPClassUID = ds.get("SOPClassUID", UID("1.2.840.10008.5.1.4.1.1.7"))
    meta.MediaStorageSOPInstanceUID = sop_instance_uid
    ds.file_meta = meta


# --- JPEG / PNG / NIfTI ----------------------------------------------------------------------------------

# APP0 (JFIF), APP2 (ICC profile) and APP14 (Adobe colour transform) describe how to render pixels; every
# other APPn (EXIF/XMP in APP1, IPTC in APP13, vendor blocks) and COM can carry free text.
_JPEG_KEEP_APP = {0xE0, 0xE2, 0xEE}


def strip_jpeg(data: bytes, header: ImageHeader) -> bytes:
    out = bytearray(data[:2])
    pos = 2
    scan = int(header.detail["scan_offset"])  # type: ignore[arg-type]
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


def _scrub_nifti(record: ObjectRecord) -> None:
    image = record.header.detail["image"]
    header = image.header
    for field_name in ("descrip", "aux_file", "intent_name", "db_name"):
        if field_name in header:
            header[field_name] = b""
    header.extensions.clear()
    record.header.detail["image"] = image


def nifti_bytes(record: ObjectRecord) -> bytes:
    import gzip

    raw = record.header.detail["image"].to_bytes()
    # mtime=0: same input -> same output bytes (idempotent outputs).
    return gzip.compress(raw, compresslevel=6, mtime=0)


__all__ = ["scrub", "strip_jpeg", "strip_png", "nifti_bytes", "OPTIONS"]
