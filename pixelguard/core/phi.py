"""The object's own PHI values, and whether a piece of OCR text matches one.

Used by the redact stage's ``phi`` mode (redact only text that matches) and by verification (any header
PHI value read back after redaction sends the object to review). OCR confuses O/0, drops spaces and
punctuation, so matching works on a normalised form. These values stay in memory: never logged or stored.
"""
from __future__ import annotations

import re
from datetime import date

from pydicom.dataset import Dataset

# Attributes whose values are the patient's (or the study's) identity in the header.
_PHI_KEYWORDS = (
    "PatientName", "PatientID", "OtherPatientIDs", "PatientBirthDate", "AccessionNumber", "StudyID",
    "IssuerOfPatientID", "PatientAddress", "PatientTelephoneNumbers", "ReferringPhysicianName",
    "PerformingPhysicianName", "OperatorsName", "InstitutionName", "StudyDate", "SeriesDate",
    "AcquisitionDate", "ContentDate", "MilitaryRank", "MedicalRecordLocator", "PatientMotherBirthName",
)
_DATE_LIKE = re.compile(r"\b(\d{1,4})[-/.](\d{1,2})[-/.](\d{1,4})\b|\b(19|20)\d{6}\b")
_ID_LIKE = re.compile(r"\d{5,}")


def normalise(text: str) -> str:
    return re.sub(r"[^0-9A-Z\u00C0-\uFFFF]", "", text.upper().replace("O", "0"))


def header_terms(ds: Dataset) -> tuple[str, ...]:
    """Normalised PHI terms of a DICOM header: each name component, each ID, each date in common forms."""
    terms: set[str] = set()
    for keyword in _PHI_KEYWORDS:
        try:
            value = ds.get(keyword)
        except Exception:  # noqa: BLE001 - a malformed value cannot be matched, and is scrubbed anyway
            continue
        if value in (None, ""):
            continue
        values = value if isinstance(value, (list, tuple)) or type(value).__name__ == "MultiValue" else [value]
        for item in values:
            text = str(item)
            if keyword.endswith("Date"):
                terms.update(date_forms(text))
                continue
            for part in re.split(r"[\^=\s,]+", text):
                if len(normalise(part)) >= 3:
                    terms.add(normalise(part))
            if len(normalise(text)) >= 3:
                terms.add(normalise(text))
    return tuple(sorted(terms))


def date_forms(value: str) -> set[str]:
    """A DICOM DA value as OCR may read it burned in: 19610203, 1961-02-03, 03/02/1961, 02/03/1961, 03.02.61."""
    value = value.strip()
    try:
        day = date(int(value[:4]), int(value[4:6]), int(value[6:8]))
    except (ValueError, IndexError):
        return {normalise(value)} if len(normalise(value)) >= 6 else set()
    forms = {day.strftime(f) for f in ("%Y%m%d", "%Y-%m-%d", "%d/%m/%Y", "%m/%d/%Y", "%d.%m.%Y", "%d/%m/%y",
                                       "%m/%d/%y", "%d.%m.%y", "%d-%b-%Y", "%d %b %Y", "%b %d %Y")}
    return {normalise(f) for f in forms}


def matches(text: str, terms: tuple[str, ...]) -> bool:
    """True when any reading of the text holds a PHI term (or is a long enough piece of one)."""
    for line in text.splitlines() or [text]:
        seen = normalise(line)
        if not seen:
            continue
        for term in terms:
            if term in seen or (len(seen) >= 4 and seen in term):
                return True
    return False


def looks_like_phi(text: str) -> bool:
    """Dates and ID-like digit runs are redacted in phi mode even when the header does not hold them."""
    return any(
        _DATE_LIKE.search(line) or _ID_LIKE.search(line.replace(" ", "")) for line in text.splitlines() or [text]
    )
