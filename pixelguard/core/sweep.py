"""Independent PHI sweep: re-read a finished output and look for PHI, apart from the scrubber's own logic.

The scrubber decides element by element what the profile allows; a mistake there (a private block a
profile vouched for, free text nested in a kept sequence, a frame the detector missed) leaves PHI in an
output that was routed clean. The sweep is the second pair of eyes: it parses the output again from its
bytes, walks *every* remaining value (public, private, nested to any depth, file meta, the preamble,
JPEG/PNG metadata, NIfTI text fields and extensions) and reads the rendered pixels of every frame, and it
looks for two things:

- the input's own PHI values (``terms_of``: names, IDs, dates, addresses of the *original* header that
  the profile does not keep), matched on word boundaries in text values and with ``phi.matches``'s
  OCR-tolerant rules in the pixels;
- PHI patterns: person names in PN elements that are not what the scrubber writes, dates / ID-like numbers /
  e-mail / phone numbers / street addresses / titled names in free text, and dates / IDs / e-mail / phone
  numbers in text read from the pixels.

Each hit is a ``Hit`` whose ``reason`` says where (attribute keyword or tag path, frame number) and what
kind, never the value, so it is safe for logs, events and the review queue.

Callers (wired by the runners, not here): right after ``parse`` and *before* ``scrub`` (which edits the
header in place) take ``terms = terms_of(record, profile)``; after ``redact`` call
``hits = sweep(record.output_bytes, record.format, terms, detector.ocr)``; any hit is added as a finding
(``record.add_finding("sweep", summary(hits))``), which routes the object to review, and each hit is
counted with ``pixelguard.telemetry.metrics.sweep_hit(hit.kind, runner)``. In the embedded runner that is
``core/pipeline.process``; in the streaming runner the redact step already parses the original for its PHI
terms (``agents/stages.py``), so ``terms_of`` and ``sweep`` go there, after ``redact``. The reader's own
exceptions pass through; ``release_check`` turns an engine failure into an ``unverified`` finding (review),
which the streaming step retries first like redaction's (see ``core.unverified``). The terms stay
in the caller's memory; never log, store or send them.
"""
from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from functools import lru_cache

import numpy as np
from pydicom.datadict import keyword_for_tag
from pydicom.dataset import Dataset
from pydicom.multival import MultiValue
from pydicom.sequence import Sequence
from pydicom.tag import BaseTag

from . import phi
from .clean import _NOT_IDENTITY
from .parse import read_dicom
from .pixels import decode_image, dicom_stored_frames, render_dicom, render_image
from .private import PrivateKBError, creator_key, load_kb
from .profile import DEFAULT_PRIVATE_KB, PROFILES_DIR, Profile
from .record import Format, ObjectRecord, StageError
from .regions import Region
from .sweep_rules import (
    DATE_PATTERNS,
    KINDS,
    MALFORMED,
    SCRUBBER_WRITES,
    UNREADABLE,
    Hit,
    SweepTerms,
    check_ocr,
    check_text,
    conforms,
    found,
    tokens,
)
from .vocabulary import Action

Reader = Callable[[list[np.ndarray]], list[list[Region]]]

OCR_BATCH = 8  # frames per reader call: bounds the renderings held at once
MAX_BYTES_SCANNED = 1 << 20  # of one binary private/UN value: text hides in the first part of vendor blobs
_MAX_TEXT_TERMS = 2000  # terms taken from a JPEG/PNG/NIfTI input's metadata text
_PIXEL_DATA = 0x7FE00010
_METHOD_CODES = 0x00120064  # DeidentificationMethodCodeSequence
_OURS = {"DeidentificationMethod"}  # the scrubber writes it (the profile's name and options)
_BULK_VRS = {"OB", "OW", "OD", "OF", "OL", "OV"}
_NUMBER_VRS = {"US", "SS", "UL", "SL", "UV", "SV", "FL", "FD", "AT"}
_FREE_TEXT_VRS = {"LO", "LT", "ST", "UT", "SH", "UC"}
# Coded and versioned values: their digits and words are codes ("113100", "TEST"), not identifiers or names;
# no rule looks at them, as none looks at CS (code strings) or TM (a time of day identifies no one).
_CODED_KEYWORDS = {
    "CodeValue", "LongCodeValue", "URNCodeValue", "CodingSchemeVersion", "CodingSchemeDesignator",
    "ContextIdentifier", "ContextGroupVersion", "MappingResource", "MappingResourceName", "SoftwareVersions",
    "ImplementationVersionName", "ManufacturerModelName",
}
# Device and institution identity, which the Retain Device / Institution Identity options keep on purpose:
# a serial number or postcode there is the device's or the site's, not the patient's, so the pattern rules
# do not apply (the input's own values still do).
_SITE_KEYWORDS = {
    "InstitutionName", "InstitutionAddress", "InstitutionalDepartmentName", "ClinicalTrialCoordinatingCenterName",
    "ClinicalTrialProtocolEthicsCommitteeName", "ClinicalTrialSiteID", "ClinicalTrialSiteName",
    "SourceOfPreviousValues",
    "StationName", "DeviceSerialNumber", "DeviceID", "DeviceLabel", "DeviceDescription", "DetectorID", "GantryID",
    "GeneratorID", "PlateID", "CassetteID", "SourceSerialNumber", "LensSerialNumber", "LensMake", "LensModel",
    "XRayDetectorID", "XRaySourceID", "XRayDetectorLabel", "ManufacturerDeviceIdentifier", "UniqueDeviceIdentifier",
    "TreatmentMachineName", "PerformedStationName", "ScheduledStationName", "ModifyingSystem", "SourceManufacturer",
    "ScheduledProcedureStepLocation", "ScheduledStudyLocation",
}

# Header attributes whose values identify a person, place or record (besides every PN and date), when the
# profile removes or replaces them: IDs, addresses, phone numbers, and the few names that are not PN.
_IDENTIFYING = re.compile(r"(Address|Telephone|Phone|Numbers?|IDs?|Identifier|Locator|Rank)$")
_ID_KEYWORD = re.compile(r"(Numbers?|IDs?|Identifier|Locator)$")
_NEVER_EXCUSED = {f"input {keyword} value" for keyword in (
    "PatientID", "OtherPatientIDs", "PatientBirthDate", "AccessionNumber", "PatientAddress",
    "PatientTelephoneNumbers", "MedicalRecordLocator", "IssuerOfPatientID")}
_IDENTIFYING_NAMES = {
    "InstitutionName", "InstitutionalDepartmentName", "StationName", "ScheduledStationName", "PerformedStationName",
    "ClinicalTrialSponsorName", "ClinicalTrialSiteName", "ClinicalTrialCoordinatingCenterName",
    "ClinicalTrialProtocolEthicsCommitteeName", "CameraOwnerName", "ContactDisplayName",
}


def summary(hits: list[Hit], limit: int = 5) -> str:
    """One finding reason for a list of hits (the first ``limit``, then a count)."""
    reasons = list(dict.fromkeys(h.reason for h in hits))
    text = "PHI sweep: " + "; ".join(reasons[:limit])
    return text + (f"; and {len(reasons) - limit} more" if len(reasons) > limit else "")


# --- the input's values ----------------------------------------------------------------------------------

def terms_of(original: ObjectRecord, profile: Profile | None = None) -> SweepTerms:
    """PHI values of the parsed *original* (call before scrub: it edits the header in place).

    DICOM: every PN value anywhere (private included); every date, ID, name, address and phone value of
    an attribute the profile does not keep (``K``), at any depth; values the profile keeps elsewhere are
    left out, since they are in the output by design. JPEG/PNG/NIfTI: the words of their metadata text,
    which the scrubber removes entirely. The format's handler picks which of the two applies.
    """
    from pixelguard.formats import handler

    labels = handler(original.format).sweep_terms(original, profile)
    return SweepTerms({t: k for t, k in labels.items() if _usable_term(t)})


def dicom_terms(ds: Dataset, profile: Profile | None) -> dict[str, str]:
    """term -> label for a parsed DICOM input (see ``terms_of``)."""
    labels: dict[str, str] = {}
    kept: set[str] = set()
    names: dict[str, str] = {}
    _dicom_terms(ds, profile, labels, kept, names, True)
    meta = getattr(ds, "file_meta", None)
    if meta is not None:
        _dicom_terms(meta, profile, labels, kept, names, False)  # the scrubber rebuilds file meta
    # A value the profile keeps is in the output by design, and so is any input value written inside
    # it (an institution's name inside the kept Manufacturer): those are not leaks where they show up.
    # The patient's own names, IDs and birth date are never excused: kept anywhere, they are a leak.
    kept_words = [tokens(text) for text in kept]
    for term in [t for t, label in labels.items() if label not in _NEVER_EXCUSED and
                 any(found(t, joined, set(bounds)) for joined, bounds in kept_words)]:
        del labels[term]
    for term, label in names.items():
        labels.setdefault(term, label)
    return labels


def metadata_terms(texts: Iterable[tuple[str, str]]) -> dict[str, str]:
    """term -> label from (label, text) pairs of a JPEG, PNG or NIfTI input's metadata."""
    labels: dict[str, str] = {}
    for label, text in texts:
        _free_text_terms(text, f"input {label} text", labels)
        if len(labels) >= _MAX_TEXT_TERMS:
            break  # a metadata essay: its first words are enough, and matching stays fast
    return labels


_WRITTEN = {phi.normalise(value) for value in SCRUBBER_WRITES}


def _usable_term(term: str) -> bool:
    if term in _WRITTEN or term.replace("0", "") == "":
        return False
    return len(term) >= 5 if term.isdigit() else len(term) >= 3


def _dicom_terms(ds: Dataset, profile: Profile | None, labels: dict[str, str], kept: set[str],
                 names: dict[str, str], path_kept: bool) -> None:
    for tag in list(ds._dict.keys()):
        if tag == _PIXEL_DATA or tag.element == 0:
            continue
        try:
            elem = ds[tag]
            vr, value = elem.VR, elem.value
        except Exception:  # noqa: BLE001 - the scrubber removes unreadable values; nothing to learn from it
            continue
        action = _action(profile, int(tag))
        if vr == "SQ":
            inner_kept = path_kept and action not in (Action.REMOVE, Action.ZERO, Action.DUMMY)
            for item in value or ():
                _dicom_terms(item, profile, labels, kept, names, inner_kept)
            continue
        if vr == "UI" or vr in _BULK_VRS or vr in _NUMBER_VRS or value in (None, "", b""):
            continue
        texts = [str(v) for v in value] if isinstance(value, (list, tuple, MultiValue)) else [str(value)]
        keyword = elem.keyword or ""
        if path_kept and action is Action.KEEP and not tag.is_private and vr != "PN":
            kept.update(texts)  # e.g. the institution's name under Retain Institution Identity
            continue
        label = f"input {keyword} value" if keyword else \
            ("input private person name value" if tag.is_private else "input value")
        for text in texts:
            if vr == "PN":
                _name_terms(text, label, names)
            elif tag.is_private:
                continue  # private values are vendor data of unknown meaning; PN is the one sure signal
            elif vr in ("DA", "DT"):
                for form in phi.date_forms(text[:8]):
                    labels.setdefault(form, label)
            elif vr in ("LO", "SH", "UC", "LT", "ST", "UT", "AE") and \
                    (keyword in phi._PHI_KEYWORDS or keyword in _IDENTIFYING_NAMES or _IDENTIFYING.search(keyword)):
                # An ID's parts identify too ("MRN0042424" -> "0042424"); a name or address only whole:
                # "CENTER" from an institution's name would be found in every manufacturer's name.
                _id_terms(text, label, labels, parts=_ID_KEYWORD.search(keyword) is not None)


def _action(profile: Profile | None, tag: int) -> Action:
    if tag >> 16 & 1:
        return Action.REMOVE  # private: the sweep treats them as removed (their PNs are terms either way)
    if profile is None:
        return Action.REMOVE
    action = profile.action(tag)
    if action is None:
        return Action.REMOVE if profile.public_not_in_table == "remove" else Action.KEEP
    return action


# Words that fill a PN where there is no name ("Last Name^First Name", "NAME^PATIENT", "Test^S R"): matched,
# they would flag every "Patient" and "Test" in the output's descriptions and codes.
_PLACEHOLDERS = {"NAME", "PATIENT", "FIRST", "LAST", "MIDDLE", "TEST", "UNKNOWN", "ANONYMOUS", "ANONYMIZED", "NONE",
                 "PHANTOM"}


def _name_terms(text: str, label: str, labels: dict[str, str]) -> None:
    for group in text.split("="):
        words = [w for w in re.split(r"[\^\s,]+", group) if w]
        if not words or all(w.upper() in _PLACEHOLDERS for w in words):
            continue
        labels.setdefault(phi.normalise(group), label)
        for word in words:
            if word.strip(".").casefold() not in _NOT_IDENTITY and word.upper() not in _PLACEHOLDERS:
                labels.setdefault(phi.normalise(word), label)


def _id_terms(text: str, label: str, labels: dict[str, str], parts: bool) -> None:
    labels.setdefault(phi.normalise(text), label)
    if parts:
        for word in re.split(r"[\s,;/\\^]+", text):
            labels.setdefault(phi.normalise(word), label)
    for digits in re.findall(r"\d{5,}", text):  # the number inside "MRN0042424" or a phone number
        labels.setdefault(digits, label)


_STOP_WORDS = {
    "PATIENT", "NAME", "DATE", "BIRTH", "DOB", "SEX", "AGE", "MALE", "FEMALE", "STUDY", "SERIES", "IMAGE", "SCAN",
    "THE", "AND", "FOR", "WITH", "FROM", "COMMENT", "DESCRIPTION", "EXIF", "ADOBE", "XMP", "HTTP", "HTTPS", "WWW",
}


def _free_text_terms(text: str, label: str, labels: dict[str, str]) -> None:
    """Terms from metadata the scrubber removes wholesale: each word that could identify (not 'patient')."""
    for match in DATE_PATTERNS[0].finditer(text):
        labels.setdefault(phi.normalise(match.group()), label)
    for word in re.split(r"[\s,;:/\\|()\[\]\"'<>=]+", text):
        for part in [word] + word.split("^"):
            norm = phi.normalise(part)
            if norm.isalpha() and norm.replace("0", "O") in _STOP_WORDS:
                continue
            if norm.isalpha() or any(c.isdigit() for c in norm):
                labels.setdefault(norm, label)


# --- the sweep -------------------------------------------------------------------------------------------

def sweep(output: bytes, fmt: Format, terms: SweepTerms, reader: Reader | None = None) -> list[Hit]:
    """Every PHI hit in a finished output; [] when the sweep found nothing.

    ``reader`` reads text in 8-bit RGB frames (the OCR engine's ``ocr``); without one the pixels are not
    read. An output that cannot be re-read is itself a hit: it cannot be vouched for.
    """
    from pixelguard.formats import handler

    return list(dict.fromkeys(handler(fmt).sweep(output, terms, reader)))


def sweep_texts(texts: Iterable[tuple[str, str]], terms: SweepTerms, hits: list[Hit]) -> None:
    """Free text of a JPEG, PNG or NIfTI output's metadata, (label, text) pairs."""
    for label, text in texts:
        check_text(text, label, "free", terms, hits)


def sweep_image_pixels(output: bytes, reader: Reader, terms: SweepTerms, hits: list[Hit]) -> None:
    """The text an 8-bit JPEG or PNG output shows."""
    try:
        arr, _mode = decode_image(output)
    except StageError:
        hits.append(Hit("pixels", UNREADABLE, "image could not be decoded for the PHI sweep"))
    else:
        _read_frames([render_image(arr)], 0, 1, reader, terms, hits)


def sweep_dicom(output: bytes, terms: SweepTerms, reader: Reader | None) -> list[Hit]:
    hits: list[Hit] = []
    _sweep_dicom(output, terms, reader, hits)
    return hits


def _sweep_dicom(output: bytes, terms: SweepTerms, reader: Reader | None, hits: list[Hit]) -> None:
    try:
        ds = read_dicom(output)
    except StageError as exc:
        hits.append(Hit("output", UNREADABLE, f"output could not be re-read as DICOM ({exc.code})"))
        return
    preamble = getattr(ds, "preamble", None) or b""
    if preamble.strip(b"\x00"):
        check_text(printable(preamble), "file preamble", "free", terms, hits)
    meta = getattr(ds, "file_meta", None)
    if meta is not None:
        _walk(meta, "file meta ", terms, hits)
    try:
        _walk(ds, "", terms, hits)
    except RecursionError:
        hits.append(Hit("output", UNREADABLE, "sequences nested too deeply for the PHI sweep"))
    if reader is not None and _PIXEL_DATA in ds._dict:
        _sweep_dicom_pixels(ds, reader, terms, hits)


def _walk(ds: Dataset, prefix: str, terms: SweepTerms, hits: list[Hit]) -> None:
    creators: dict[int, str] = {}
    for tag in list(ds._dict.keys()):
        if tag == _PIXEL_DATA or tag.element == 0:
            continue
        where = prefix + _name(tag, ds, creators)
        try:
            elem = ds[tag]
            vr, value = elem.VR, elem.value
        except Exception as exc:  # noqa: BLE001
            hits.append(Hit(where, UNREADABLE, f"value could not be read for the PHI sweep ({exc.__class__.__name__})"))
            continue
        if tag.is_private and 0x0010 <= tag.element <= 0x00FF and isinstance(value, str):
            creators[(tag.group << 8) | tag.element] = value
        if tag == _METHOD_CODES:
            continue  # written by the scrubber (CID 7050 codes), never carried over from the input
        if vr == "SQ" or isinstance(value, Sequence):
            for index, item in enumerate(value or (), start=1):
                _walk(item, f"{prefix}item {index} of {_short_name(tag)} > ", terms, hits)
            continue
        if value in (None, "", b""):
            continue
        if isinstance(value, bytes):
            if tag.is_private or vr == "UN" or tag.group == 2 and vr == "OB" and tag.element != 1:
                check_text(printable(value[:MAX_BYTES_SCANNED]), where, "binary", terms, hits)
            continue
        texts = [str(v) for v in value] if isinstance(value, (list, tuple, MultiValue)) else [str(value)]
        if not all(conforms(vr, text) for text in texts):
            hits.append(Hit(where, MALFORMED, f"a value that is not a valid {vr}: text in a coded element is held"))
            continue
        if vr == "UI" or vr in _NUMBER_VRS or vr in _BULK_VRS:
            continue
        keyword = elem.keyword or ""
        if vr in ("CS", "TM") or keyword in _CODED_KEYWORDS or keyword in _OURS:
            continue
        if vr in ("DA", "DT") and not tag.is_private:
            # Public dates are shifted (or kept) by the profile. A shifted date equals another of the
            # input's dates by chance (1 in 3650 per pair), and the sweep cannot tell which input date an
            # output date came from, so it leaves them to the scrubber; dates in text, private elements,
            # file meta and pixels are still looked for.
            continue
        if vr == "PN":
            rule = "name"
        elif vr in _FREE_TEXT_VRS and keyword not in _SITE_KEYWORDS:
            rule = "free"
        elif vr == "UR":
            rule = "uri"
        else:
            rule = "value"  # dates, numbers, site identity: only the input's own values are looked for
        for text in texts:
            check_text(text, where, rule, terms, hits)


def _name(tag: BaseTag, ds: Dataset, creators: dict[int, str]) -> str:
    text = f"({tag.group:04X},{tag.element:04X})"
    if not tag.is_private:
        keyword = keyword_for_tag(tag)
        return keyword or text
    if 0x0010 <= tag.element <= 0x00FF:
        return f"{text} private creator"
    creator = creators.get((tag.group << 8) | (tag.element >> 8))
    if creator is None:
        try:
            creator_tag = (tag.group << 16) | (tag.element >> 8)
            creator = str(ds[creator_tag].value) if creator_tag in ds._dict else None
        except Exception:  # noqa: BLE001
            creator = None
    known = _known_creator(creator)
    # The creator string is the object's own text: only a creator the knowledge base names is quoted.
    return f"{text} private element of creator '{known}'" if known else \
        f"{text} private element of a creator unknown to the knowledge base"


def _short_name(tag: BaseTag) -> str:
    keyword = keyword_for_tag(tag) if not tag.is_private else ""
    return keyword or f"({tag.group:04X},{tag.element:04X})"


@lru_cache(maxsize=1)
def _kb_creators() -> frozenset[str]:
    try:
        kb = load_kb((PROFILES_DIR / DEFAULT_PRIVATE_KB).resolve())
    except PrivateKBError:  # without the KB every creator is just "unknown"
        return frozenset()
    return frozenset(component[2] for path in kb.safe for component in path if component[0] == "p")


def _known_creator(creator: str | None) -> str | None:
    """The knowledge base's spelling of a creator it lists (our text, safe to quote); else None."""
    key = creator_key(creator) if creator else ""
    return key if key and key in _kb_creators() else None


def _sweep_dicom_pixels(ds: Dataset, reader: Reader, terms: SweepTerms, hits: list[Hit]) -> None:
    try:
        stored = dicom_stored_frames(ds)
    except StageError:
        hits.append(Hit("pixels", UNREADABLE, "pixel data could not be decoded for the PHI sweep"))
        return
    total = stored.shape[0]
    for start in range(0, total, OCR_BATCH):
        try:
            frames = render_dicom(ds, stored[start:start + OCR_BATCH])
        except Exception as exc:  # noqa: BLE001 - a malformed LUT: the pixels cannot be vouched for
            hits.append(Hit(f"frames {start + 1}-{min(total, start + OCR_BATCH)} of {total}", UNREADABLE,
                            f"frames could not be rendered for the PHI sweep ({exc.__class__.__name__})"))
            continue
        _read_frames(frames, start, total, reader, terms, hits)


def _read_frames(frames: list[np.ndarray], start: int, total: int, reader: Reader, terms: SweepTerms,
                 hits: list[Hit]) -> None:
    for offset, regions in enumerate(reader(frames)):
        where = f"frame {start + offset + 1} of {total}" if total > 1 else "pixels"
        for region in regions:
            check_ocr(region.text, where, terms, hits)


# --- container readers -----------------------------------------------------------------------------------


def decode_text(data: bytes) -> str:
    try:
        return data.decode("utf-8").strip("\x00")
    except UnicodeDecodeError:
        return data.decode("latin-1").strip("\x00")


def printable(data: bytes) -> str:
    """Runs of four or more printable characters (as ``strings`` would show them), one per line."""
    return "\n".join(m.decode("latin-1") for m in re.findall(rb"[\x20-\x7e\xa0-\xff]{4,}", data[:MAX_BYTES_SCANNED]))


__all__ = ["Hit", "SweepTerms", "KINDS", "terms_of", "sweep", "summary", "Reader", "printable", "decode_text"]
