"""Scrub stage: apply the profile's metadata actions (pure: header + profile + keys -> new header).

DICOM: every element is looked up in the profile compiled from PS3.15 Table E.1-1 (see profile.py for the
actions and how combined codes resolve) and removed (X), emptied (Z), replaced by a dummy (D), kept (K),
cleaned (C: free text loses every token matching a PHI value of the same header, see clean.py), shifted
(S: dates move by the per-patient keyed offset, see dates.py), kept with review (G, overlays) or remapped
(U: keyed-HMAC ``2.25.`` UIDs, so one input UID maps to one output UID in every run and process).
Sequences are recursed to any depth. Private elements go, unless Retain Safe Private keeps those the TCIA
knowledge base marks safe (matched by creator + group + offset along their path, see private.py).
Kept elements are never converted, so their original bytes pass through; an element whose value cannot be
read is removed and the object flagged for review, naming the tag only.
JPEG/PNG/NIfTI: the metadata containers that can carry free text are removed or cleared; pixels untouched.
"""
from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache

from pydicom.datadict import DicomDictionary
from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.multival import MultiValue
from pydicom.sequence import Sequence
from pydicom.tag import BaseTag
from pydicom.uid import PYDICOM_IMPLEMENTATION_UID, ExplicitVRLittleEndian, ImplicitVRLittleEndian

from . import sop
from .clean import PhiTerms
from .dates import cap_age, shift_da, shift_dt
from .keys import Derivations
from .private import private_component, public_component
from .profile import OPTIONS, Profile
from .record import ObjectRecord, StageError
from .sop import SopRule
from .vocabulary import Action

_DUMMY_TEXT = "ANONYMIZED"
_DUMMY: dict[str, object] = {
    "AE": "ANONYMIZED", "AS": "000Y", "CS": "ANONYMIZED", "DA": "19000101", "DS": "0", "DT": "19000101000000",
    "IS": "0", "LO": _DUMMY_TEXT, "LT": _DUMMY_TEXT, "PN": "ANONYMIZED", "SH": _DUMMY_TEXT, "ST": _DUMMY_TEXT,
    "TM": "000000", "UC": _DUMMY_TEXT, "UR": "http://anonymized.invalid", "UT": _DUMMY_TEXT,
    "FL": 0.0, "FD": 0.0, "SL": 0, "SS": 0, "UL": 0, "US": 0, "SV": 0, "UV": 0,
    "OB": b"\x00\x00", "OW": b"\x00\x00", "OD": b"", "OF": b"", "OL": b"", "OV": b"", "UN": b"\x00\x00",
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
_PATIENT_AGE = 0x00101010
_PIXEL_DATA = 0x7FE00010
_KEEP_ALWAYS = {_PIXEL_DATA, 0x00080016, 0x00080005}  # pixels (redact stage), SOPClassUID, character set
_TEXT_VRS = {"LO", "SH", "ST", "LT", "UT", "UC", "PN", "AE", "CS"}
# Free text that a Clean option cleans where the table does not list the attribute (e.g. TextValue and
# UnformattedTextValue inside Content / Graphic Annotation sequences).
_FREE_TEXT_VRS = {"LO", "SH", "ST", "LT", "UT", "UC"}
_ID_WORDS = ("ID", "Number", "Identifier", "Numbers", "IDs")
_OVERLAY_DATA = 0x3000


def scrub(record: ObjectRecord, profile: Profile, derive: Derivations) -> ObjectRecord:
    from pixelguard.formats import handler

    handler(record.format).scrub(record, profile, derive)
    return record


# --- DICOM -----------------------------------------------------------------------------------------------

def scrub_dicom(record: ObjectRecord, profile: Profile, derive: Derivations) -> None:
    ds: Dataset = record.header
    _apply_sop_rule(record, profile, str(ds.get("SOPClassUID", "")))
    patient_id = scrub_dataset(ds, profile, derive, record)
    if patient_id:
        pseudonym = derive.pseudonym("PatientID", patient_id)
        _put(ds, _PATIENT_ID, "LO", pseudonym)
        record.pseudonyms["PatientID"] = pseudonym
        record.crosswalk[f"PatientID:{patient_id}"] = pseudonym
    marks = _marks(profile)
    for tag, vr, value in marks[0]:
        _put(ds, tag, vr, value)
    _put(ds, 0x00120064, "SQ", Sequence([_code(*code) for code in marks[1]]))  # DeidentificationMethodCodeSequence
    sop_uid = _value_text(ds, "SOPInstanceUID")
    if not sop_uid:
        # A name we can give: keyed on the content, so the same input is named the same in every run.
        sop_uid = derive.uid("content:" + derive.content_id(record.data))
        _put(ds, 0x00080018, "UI", sop_uid)
        record.stats["sop-instance-uid"] = "assigned"
    record.output_id = sop_uid
    _fix_file_meta(ds, sop_uid)


def _apply_sop_rule(record: ObjectRecord, profile: Profile, sop_class: str) -> None:
    kind = sop.kind_of(sop_class)
    rule = profile.sop_rules.get(kind, sop.DEFAULT_RULES[kind])
    record.stats["sop-kind"] = kind.value
    where = f"profile '{profile.name}' (sop_classes: {kind.value}: {rule.value})"
    if rule is SopRule.REJECT:
        raise StageError("refused-by-profile", f"{sop.describe(sop_class)} objects are refused by {where}; "
                                               "set that rule to review or deidentify to accept them")
    if rule is SopRule.REVIEW:
        record.add_finding("scrub", f"{sop.describe(sop_class)} objects are held for a reviewer by {where}: "
                                    "their content cannot be fully checked by machine")


def scrub_dataset(ds: Dataset, profile: Profile, derive: Derivations, record: ObjectRecord | None = None) -> str:
    """Apply the profile to ``ds`` in place (every level); return the original PatientID ("" if none).

    Pure apart from ``record`` (findings, stats). Elements whose value cannot be read are removed and the
    object flagged for review; anything that leaves the data set unusable raises StageError.
    """
    patient_id = _value_text(ds, "PatientID")
    context = _Context(profile, derive, record, ds, patient_id)
    try:
        _scrub_level(ds, context, (), 0, False)
    except StageError:
        raise
    except RecursionError:
        raise StageError("corrupt", "DICOM sequences are nested too deeply to scrub") from None
    except Exception as exc:  # noqa: BLE001 - malformed values surface as many exception types
        raise StageError("bad-value", f"DICOM data set could not be scrubbed ({exc.__class__.__name__})") from None
    if context.unreadable and record is not None:
        tags = ", ".join(f"({t >> 16:04X},{t & 0xFFFF:04X})" for t in sorted(context.unreadable)[:5])
        record.add_finding("scrub", f"{len(context.unreadable)} element(s) with unreadable values were removed "
                                    f"instead of processed by the profile: {tags}")
    if context.overlay_kept and record is not None:
        record.add_finding("scrub", "overlay data kept under Clean Graphics has not been checked for "
                                    "burned-in text")
    return patient_id


class _Context:
    def __init__(self, profile: Profile, derive: Derivations, record: ObjectRecord | None, ds: Dataset,
                 patient_id: str) -> None:
        self.profile = profile
        self.derive = derive
        self.record = record
        self.unreadable: set[int] = set()
        self.overlay_kept = False
        self._offset: int | None = None
        self._patient_key = patient_id
        self.terms: PhiTerms | None = None
        meta = getattr(ds, "file_meta", None)
        syntax = meta.get("TransferSyntaxUID") if meta is not None else None
        # Raw implicit VR elements may stay raw only if the output is implicit VR too (see _apply_raw).
        self.implicit = bool(syntax is not None and syntax.is_implicit_VR and ds.original_encoding[0] is True)
        if profile.cleans_text:
            self.terms = PhiTerms()
            _gather_terms(ds, profile, self.terms, 0)
        if profile.shifts_dates and not patient_id:
            # No PatientID: name + birth date, then the study, keep one patient's dates moving together.
            name, birth = _value_text(ds, "PatientName"), _value_text(ds, "PatientBirthDate")
            self._patient_key = f"name:{name}|{birth}" if name or birth else \
                f"study:{_value_text(ds, 'StudyInstanceUID')}"

    @property
    def offset_days(self) -> int:
        if self._offset is None:
            self._offset = self.derive.date_offset_days(self._patient_key)
        return self._offset


def _gather_terms(ds: Dataset, profile: Profile, terms: PhiTerms, depth: int) -> None:
    """Collect the values the profile treats as identifying (not kept, not cleaned) as PHI terms."""
    for tag in list(ds._dict.keys()):
        if tag.is_private or tag == _PIXEL_DATA or tag.element == 0:
            continue
        action = profile.action(int(tag))
        if action is None or action in (Action.KEEP, Action.CLEAN, Action.GRAPHICS):
            continue
        try:
            elem = ds[tag]
            vr, value = elem.VR, elem.value
            if vr == "SQ":
                for item in value or ():
                    _gather_terms(item, profile, terms, depth + 1)
                continue
            if value in (None, "", b""):
                continue
            values = [str(v) for v in value] if isinstance(value, (list, tuple, MultiValue)) else [str(value)]
        except Exception:  # noqa: BLE001 - an unreadable value is handled (removed) by the scrub itself
            continue
        for text in values:
            if vr == "PN":
                terms.add_name(text)
            elif vr == "DA":
                terms.add_date(text)
            elif vr == "DT":
                terms.add_date(text[:8])
            elif vr in ("LO", "SH", "AE", "UC"):
                keyword = elem.keyword or ""
                terms.add_id(text, parts=keyword.endswith(_ID_WORDS))


def _scrub_level(ds: Dataset, ctx: _Context, path: tuple, depth: int, clean_mode: bool) -> None:
    profile = ctx.profile
    creators: dict[int, int] = {}  # (group << 8 | block) -> creator tag, for private blocks
    kept_blocks: set[tuple[int, int]] = set()
    for tag in list(ds._dict.keys()):
        group, element = tag >> 16, tag & 0xFFFF
        if element == 0x0000:
            del ds[tag]  # group lengths are retired and would be wrong after scrubbing
            continue
        if group & 1:
            if 0x0010 <= element <= 0x00FF:
                creators[(group << 8) | element] = tag  # decided after the block's elements
                continue
            if _scrub_private(ds, tag, ctx, path, depth, clean_mode):
                kept_blocks.add((group, element >> 8))
            continue
        if depth == 0 and tag in _KEEP_ALWAYS:
            continue
        action = profile.action(int(tag))
        if action is None:
            if profile.public_not_in_table == "remove":
                del ds[tag]
                continue
            # W: an instance-like UID the table does not list (e.g. MultiFrameSourceSOPInstanceUID)
            # is remapped like the listed ones, so references stay consistent; T: kept, free text cleaned.
            action = Action.REMAP_INSTANCE_UID if _unlisted_instance_uid(int(tag)) and profile.remaps_unlisted_uids \
                else Action.CLEAN_FREE_TEXT if clean_mode else Action.KEEP
        _apply(ds, tag, action, ctx, path, depth, clean_mode)
    for key, creator in creators.items():
        if (key >> 8, key & 0xFF) not in kept_blocks:
            del ds[creator]


def _scrub_private(ds: Dataset, tag: int, ctx: _Context, path: tuple, depth: int, clean_mode: bool) -> bool:
    """Remove a private element unless the profile keeps it; True when kept."""
    profile = ctx.profile
    if profile.private_kb is None and not profile.private_overrides:
        del ds[tag]
        return False
    group, element = tag >> 16, tag & 0xFFFF
    creator_tag = (group << 16) | (element >> 8)
    try:
        creator = ds[creator_tag].value if element >= 0x1000 and creator_tag in ds._dict else None
    except Exception:  # noqa: BLE001
        creator = None
    if not isinstance(creator, str) or not creator.strip():
        del ds[tag]  # an element without a readable creator cannot be vouched for
        return False
    own = private_component(group, creator, element & 0xFF)
    if profile.private_path_action(path + (own,)) is not Action.KEEP:
        del ds[tag]
        return False
    try:
        elem = ds[tag]
        if elem.VR == "SQ":
            for item in elem.value:
                _scrub_level(item, ctx, path + (own,), depth + 1, clean_mode)
    except StageError:
        raise
    except Exception:  # noqa: BLE001
        ctx.unreadable.add(int(tag))
        del ds[tag]
        return False
    return True


def _apply(ds: Dataset, tag: BaseTag, action: Action, ctx: _Context, path: tuple, depth: int, clean_mode: bool) -> None:
    if action is Action.REMOVE:
        del ds[tag]
        return
    raw = ds._dict[tag]
    if not isinstance(raw, DataElement) and _apply_raw(ds, tag, raw, action, ctx):
        return
    try:
        elem = ds[tag]  # converts the raw element; malformed values raise here
        if elem.VR == "SQ":
            _apply_sequence(elem, action, ctx, path, depth, clean_mode)
        else:
            _apply_value(elem, action, ctx)
    except StageError:
        raise
    except RecursionError:
        raise
    except Exception:  # noqa: BLE001 - a wrong VR or undecodable value: drop it rather than keep PHI
        ctx.unreadable.add(int(tag))
        del ds[tag]


def _apply_raw(ds: Dataset, tag: BaseTag, raw: object, action: Action, ctx: _Context) -> bool:
    """Apply K, Z, D and U to a not-yet-converted element without pydicom's conversion; False to fall back.

    Kept elements stay raw, so their original bytes pass through untouched. Sequences and UN are always
    converted: the dictionary may reveal a sequence to recurse into (a UN-encoded SQ is common after a trip
    through an older PACS). Implicit VR elements are kept raw only when the output stays implicit VR
    (the writer needs no VR then).
    """
    vr = getattr(raw, "VR", None)
    if vr is None:
        if not ctx.implicit:
            return False
        vr = _dictionary_vr(tag)
    if vr is None or vr in ("SQ", "UN") or " " in vr:
        return False
    if action is Action.KEEP:
        return not (tag == _PATIENT_AGE and ctx.profile.max_age_years)
    if action is Action.ZERO:
        ds._dict[tag] = DataElement(tag, vr, b"" if vr in _BINARY_VRS else None)
        return True
    if action is Action.DUMMY and vr != "UI":
        ds._dict[tag] = DataElement(tag, vr, _DUMMY.get(vr, _DUMMY_TEXT))
        return True
    if action in (Action.UID, Action.DUMMY, Action.REMAP_INSTANCE_UID) and vr == "UI":
        value = raw.value  # type: ignore[attr-defined]
        if not isinstance(value, bytes):
            return False
        try:
            text = value.decode("ascii")
        except UnicodeDecodeError:
            return False  # conversion decides: removed as unreadable
        keep_standard = action is Action.REMAP_INSTANCE_UID
        parts = []
        for part in text.split("\\"):
            part = part.strip("\x00 ")
            parts.append(part if not part or keep_standard and part.startswith(_DICOM_ROOT) else ctx.derive.uid(part))
        ds._dict[tag] = DataElement(tag, "UI", parts[0] if len(parts) == 1 else parts)
        return True
    return False


@lru_cache(maxsize=4096)
def _dictionary_vr(tag: int) -> str | None:
    entry = DicomDictionary.get(tag)
    return entry[0] if entry is not None else None


def _apply_sequence(elem: DataElement, action: Action, ctx: _Context, path: tuple, depth: int,
                    clean_mode: bool) -> None:
    if action in (Action.ZERO, Action.DUMMY):
        elem.value = Sequence([])
        return
    inner_clean = clean_mode or action in (Action.CLEAN, Action.GRAPHICS, Action.CLEAN_FREE_TEXT)
    inner_path = path + (public_component(int(elem.tag)),)
    for item in elem.value:  # K, U (X/Z/U*), C, G: keep the sequence, scrub its items to any depth
        _scrub_level(item, ctx, inner_path, depth + 1, inner_clean)


def _apply_value(elem: DataElement, action: Action, ctx: _Context) -> None:
    vr = elem.VR
    if action is Action.KEEP:
        if int(elem.tag) == _PATIENT_AGE and ctx.profile.max_age_years and elem.value:
            capped = cap_age(str(elem.value), ctx.profile.max_age_years)
            elem.value = capped if capped is not None else None
        return
    if action is Action.ZERO:
        elem.value = None if vr not in _BINARY_VRS else b""
    elif action is Action.UID or (action in (Action.DUMMY, Action.CLEAN) and vr == "UI"):
        if vr == "UI":
            elem.value = _remap_uids(elem.value, ctx.derive.uid)
        else:
            elem.value = _DUMMY.get(vr, _DUMMY_TEXT)
    elif action is Action.DUMMY:
        elem.value = _DUMMY.get(vr, _DUMMY_TEXT)
    elif action is Action.REMAP_INSTANCE_UID:
        if vr == "UI":
            elem.value = _remap_uids(elem.value, lambda v: v if v.startswith(_DICOM_ROOT) else ctx.derive.uid(v))
    elif action is Action.SHIFT or (action is Action.CLEAN and vr in ("DA", "DT", "TM")):
        _shift(elem, ctx)
    elif action in (Action.CLEAN, Action.GRAPHICS, Action.CLEAN_FREE_TEXT):
        if vr in (_FREE_TEXT_VRS if action is Action.CLEAN_FREE_TEXT else _TEXT_VRS):
            _clean(elem, ctx)
        elif action is Action.GRAPHICS:
            if int(elem.tag) >> 16 & 0xFF00 == 0x6000 and int(elem.tag) & 0xFFFF == _OVERLAY_DATA and elem.value:
                ctx.overlay_kept = True
        elif action is Action.CLEAN:
            elem.value = None if vr not in _BINARY_VRS else b""  # nothing to clean token by token: empty
    else:
        raise StageError("bad-profile", f"unhandled action {action!r}")


_BINARY_VRS = {"OB", "OW", "OD", "OF", "OL", "OV", "UN"}


def _shift(elem: DataElement, ctx: _Context) -> None:
    vr, value = elem.VR, elem.value
    if vr == "TM" or value in (None, ""):
        return  # whole-day shifts keep the time of day, so intervals survive
    if not ctx.profile.shifts_dates:
        elem.value = None
        return
    text = "\\".join(str(v) for v in value) if isinstance(value, (list, tuple, MultiValue)) else str(value)
    if vr == "DA":
        shifted = shift_da(text, ctx.offset_days)
    elif vr == "DT":
        shifted = shift_dt(text, ctx.offset_days)
    else:
        shifted = None  # e.g. Timezone Offset From UTC, binary timestamps: no safe shift, so emptied
    elem.value = shifted if shifted else (None if vr not in _BINARY_VRS else b"")


def _clean(elem: DataElement, ctx: _Context) -> None:
    terms = ctx.terms
    if terms is None or not terms or elem.value in (None, ""):
        return
    value = elem.value
    if isinstance(value, (list, tuple, MultiValue)):
        elem.value = terms.clean_values(str(v) for v in value)
    elif not isinstance(value, bytes):
        elem.value = terms.clean(str(value))


_DICOM_ROOT = "1.2.840.10008."  # registered DICOM UIDs (classes, transfer syntaxes): never identifying


@lru_cache(maxsize=4096)
def _unlisted_instance_uid(tag: int) -> bool:
    """A public UI attribute that names an instance (not a class or transfer syntax); see the W action."""
    entry = DicomDictionary.get(tag)
    if entry is None or entry[0] != "UI":
        return False
    keyword = entry[4]
    return not any(word in keyword for word in ("Class", "TransferSyntax"))


def _remap_uids(value: object, uid: Callable[[str], str]) -> object:
    if value is None or value == "":
        return value
    if isinstance(value, (list, tuple, MultiValue)):
        return [uid(str(v)) for v in value]
    return uid(str(value))


def _value_text(ds: Dataset, keyword: str) -> str:
    try:
        value = ds.get(keyword)
    except Exception:  # noqa: BLE001
        return ""
    return str(value).strip() if value not in (None, "") else ""


def _marks(profile: Profile) -> tuple[tuple[tuple[int, str, str], ...], tuple[tuple[str, str], ...]]:
    return _marks_for(profile.name, profile.options)


@lru_cache(maxsize=64)
def _marks_for(name: str, options: tuple[str, ...]) -> tuple[tuple[tuple[int, str, str], ...],
                                                            tuple[tuple[str, str], ...]]:
    """The de-identification attributes a profile sets (PS3.15 E.1.1 / PS3.3 C.12.1), computed once."""
    applied = ("basic",) + options
    method = (f"PixelGuard {name}: " + "; ".join(CID_7050[option][1] for option in applied))[:64]
    longitudinal = "UNMODIFIED" if "rtnLongFullDatesOpt" in options else \
        "MODIFIED" if "rtnLongModifDatesOpt" in options else "REMOVED"
    elements = ((0x00120062, "CS", "YES"),  # PatientIdentityRemoved
                (0x00120063, "LO", method),  # DeidentificationMethod
                (0x00280303, "CS", longitudinal))  # LongitudinalTemporalInformationModified
    return elements, tuple(CID_7050[option] for option in applied)


def _put(ds: Dataset, tag: int, vr: str, value: object) -> None:
    """Set an element directly (pydicom's attribute path validates and looks up keywords on every call)."""
    elem = DataElement(tag, vr, value)
    ds._dict[elem.tag] = elem


def _code(value: str, meaning: str) -> Dataset:
    item = Dataset()
    _put(item, 0x00080100, "SH", value)  # CodeValue
    _put(item, 0x00080102, "SH", "DCM")  # CodingSchemeDesignator
    _put(item, 0x00080104, "LO", meaning)  # CodeMeaning
    return item


def _fix_file_meta(ds: Dataset, sop_instance_uid: str) -> None:
    meta = getattr(ds, "file_meta", None) or FileMetaDataset()
    if "TransferSyntaxUID" not in meta:
        # A data set without file meta (no preamble): record the encoding it was actually read with.
        meta.TransferSyntaxUID = ImplicitVRLittleEndian if ds.is_implicit_VR else ExplicitVRLittleEndian
    for tag in list(meta.keys()):
        if tag not in (0x00020001, 0x00020002, 0x00020003, 0x00020010, 0x00020012, 0x00020013):
            del meta[tag]  # e.g. SourceApplicationEntityTitle, private meta information
    if 0x00020001 not in meta:
        _put(meta, 0x00020001, "OB", b"\x00\x01")  # FileMetaInformationVersion
    _put(meta, 0x00020002, "UI", str(ds.get("SOPClassUID", "1.2.840.10008.5.1.4.1.1.7")))
    _put(meta, 0x00020003, "UI", sop_instance_uid)
    # PS3.10: the implementation that wrote the file is us; the original writer's UID would otherwise
    # survive as a fingerprint of the source site's software.
    _put(meta, 0x00020012, "UI", PYDICOM_IMPLEMENTATION_UID)
    _put(meta, 0x00020013, "SH", "PIXELGUARD")
    ds.file_meta = meta
    # The 128-byte preamble is free for any application's use (TIFF headers, vendor tags): never copy it.
    ds.preamble = b"\x00" * 128


# --- JPEG / PNG / NIfTI ----------------------------------------------------------------------------------


__all__ = ["scrub", "scrub_dicom", "scrub_dataset", "OPTIONS"]
