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
    """True when any reading of the text holds a PHI term (or is a long enough piece of one), allowing for
    the letters OCR gets wrong in small type (see ``_near``)."""
    for line in text.splitlines() or [text]:
        seen = normalise(line)
        if not seen:
            continue
        if any(holds(seen, term) for term in terms):
            return True
    return False


def holds(seen: str, term: str) -> bool:
    """Does a normalised reading hold a normalised PHI term: exactly, as a long enough piece of it, or
    within the letters OCR gets wrong?"""
    return term in seen or (len(seen) >= 4 and seen in term) or _near(term, seen)


_NEAR_MIN_LENGTH = 5  # shorter terms ("0010", a 4-letter name) would match too much of any label
# Characters that small type renders alike (after normalise: O is already 0). Reading one for the other costs
# half an edit: "D0E JANE" at 11 px reads as "D0F JANF", two misreads of one kind in seven letters, where one
# edit per four characters would let it stand.
_LOOKALIKES = frozenset(frozenset(pair) for pair in (
    "EF", "0D", "0Q", "0C", "1I", "1L", "IL", "5S", "8B", "6G", "2Z", "UV", "MN", "HN", "CG", "38", "7T", "PF",
))


def _substitution(wanted: str, got: str) -> float:
    if wanted == got:
        return 0.0
    return 0.5 if frozenset((wanted, got)) in _LOOKALIKES else 1.0


def _near(term: str, seen: str) -> bool:
    """Some stretch of ``seen`` is within one edit per four characters of ``term`` (at least one), a misread
    of a lookalike character counting half.

    Type of 9-10 px reads as "COSSI MARLG" for "ROSSI, MARCO": an exact match misses it, and phi mode would
    leave the name in place. Missing a name costs more than blacking out a label that happens to resemble
    one. The stretch may start and end anywhere in ``seen`` (Sellers' approximate substring match).
    """
    if len(term) < _NEAR_MIN_LENGTH:
        return False
    budget = max(1, len(term) // 4)
    if len(seen) < len(term) - budget:
        return False
    previous = [0.0] * (len(seen) + 1)  # row 0: the match may start at any position of seen
    for i, wanted in enumerate(term, start=1):
        current = [float(i)] + [0.0] * len(seen)
        for j, got in enumerate(seen, start=1):
            current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + _substitution(wanted, got))
        previous = current
    return min(previous) <= budget


def looks_like_phi(text: str) -> bool:
    """Dates and ID-like digit runs are redacted in phi mode even when the header does not hold them."""
    return any(
        _DATE_LIKE.search(line) or _ID_LIKE.search(line.replace(" ", "")) for line in text.splitlines() or [text]
    )
