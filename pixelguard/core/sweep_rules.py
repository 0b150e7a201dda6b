"""The sweep's rules: what counts as PHI in a text value or in text read from pixels (see sweep.py).

Pure string rules, kept apart from the walking so they can be read (and tuned) in one place. Every rule
is written not to flag what de-identification leaves behind: shifted dates in DA/DT/TM elements, keyed
``2.25.`` UIDs (never checked), the scrubber's dummies, ``PG`` pseudonyms and ``XXXX`` cleaning marks, coded
values (CodeValue and the like), and labels burned into images (L, R, "5 cm", "120 kV").
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

from . import phi
from .clean import _NOT_IDENTITY

# Hit kinds: the metric's label values (codes, never values).
INPUT_VALUE = "input-value"
PERSON_NAME = "person-name"
DATE = "date"
ID = "id"
EMAIL = "email"
PHONE = "phone"
ADDRESS = "address"
UNREADABLE = "unreadable"
MALFORMED = "malformed"
KINDS = (INPUT_VALUE, PERSON_NAME, DATE, ID, EMAIL, PHONE, ADDRESS, UNREADABLE, MALFORMED)

# The character repertoire of each coded VR (PS3.5 Table 6.2-1), loosened where real devices stray
# (lower-case CS, ACR-NEMA dotted dates, spaces). The sweep skips these VRs' values as codes, so a value
# outside its VR's grammar is text hiding where no one looks: held, whatever it says.
_VR_GRAMMAR = {
    "UI": re.compile(r"[0-9.]{0,64}"),
    "DA": re.compile(r"[0-9.\- ]{0,18}"),
    "TM": re.compile(r"[0-9.:\- ]{0,28}"),
    "DT": re.compile(r"[0-9.+\- ]{0,54}"),
    "DS": re.compile(r"[0-9+\-eE. ]{0,16}"),
    "IS": re.compile(r"[0-9+\- ]{0,12}"),
    "AS": re.compile(r"[0-9 ]{0,3}[DWMYdwmy]?"),
    "CS": re.compile(r"[A-Za-z0-9 _.\-+/]{0,64}"),
}


def conforms(vr: str, text: str) -> bool:
    """Does ``text`` (one value) keep to its coded VR's repertoire? Other VRs always do."""
    grammar = _VR_GRAMMAR.get(vr)
    return grammar is None or grammar.fullmatch(text.strip("\x00 ")) is not None


@dataclass(frozen=True)
class Hit:
    """One finding of the sweep. ``where`` and ``what`` are written by us, never copied from the object."""

    where: str
    kind: str
    what: str

    @property
    def reason(self) -> str:
        return f"{self.where}: {self.what}"

    def __str__(self) -> str:
        return self.reason


@dataclass(frozen=True)
class SweepTerms:
    """The input's PHI values, normalised (``phi.normalise``), each with a label naming its attribute.

    Kept in memory only: ``repr`` shows the count, never a value.
    """

    labels: dict[str, str] = field(default_factory=dict, repr=False)  # normalised term -> "input X value"

    def __bool__(self) -> bool:
        return bool(self.labels)

    def __len__(self) -> int:
        return len(self.labels)


# What the scrubber writes into a value it replaces: never a hit, never a term.
_PSEUDONYM = re.compile(r"\bPG[A-Z2-7]{16}\b")
SCRUBBER_WRITES = {"ANONYMIZED", "XXXX", "19000101", "19000101000000", "000000", "0", "000Y"}

_MONTH = r"(?:jan|feb|mar|apr|may|jun|jul|aug|sep|sept|oct|nov|dec)[a-z]*\.?"
_DAY = r"(?:0?[1-9]|[12]\d|3[01])"
_MON = r"(?:0?[1-9]|1[0-2])"
_YEAR = r"(?:1[89]\d\d|20\d\d)"
DATE_PATTERNS = (
    re.compile(  # numeric: ISO, DMY / MDY with / or -, dotted European with two-digit day and month, YYYYMMDD
        rf"(?<![\w.]){_YEAR}([-/.]){_MON}\1{_DAY}(?![\w.])"
        rf"|(?<![\w.]){_DAY}([-/]){_DAY}\2(?:{_YEAR}|\d\d)(?![\w.])"
        rf"|(?<![\w.])(?:0[1-9]|[12]\d|3[01])\.(?:0[1-9]|1[0-2])\.(?:{_YEAR}|\d\d)(?![\w.])"
        rf"|(?<![\w.]){_YEAR}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])(?![\w.])"),
    re.compile(rf"\b{_DAY}[ -]?{_MONTH}[ ,-]*{_YEAR}\b|\b{_MONTH} {_DAY},? {_YEAR}\b", re.IGNORECASE),
)
_ID_PATTERNS = (
    re.compile(r"(?<![\w.])\d{6,}(?![\w])(?!\.\d)"),  # a number of its own, not "UKE_pa_020395" or "0.1234567"
    re.compile(r"\b[A-Za-z]{1,4}[-#]?\d{5,}\b"),
    re.compile(r"\b(?:MRN|MR#|PID|ACC|CHART|SSN)\s*[#:.]?\s*[A-Z]{0,3}\d{4,}\b", re.IGNORECASE),
    re.compile(r"(?<!\d)\d{3}-\d{2}-\d{4}(?!\d)"),  # SSN
)
_EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")
_PHONE = re.compile(
    r"\(\d{2,4}\)\s?\d{3,4}[-. ]\d{3,4}(?!\d)"
    r"|(?<![\d.-])\d{3}[-.]\d{3,4}[-.]\d{4}(?![\d.-])"
    r"|(?<![\w+])\+\d{1,3}[ .-]?\(?\d{1,4}\)?(?:[ .-]?\d{2,4}){2,4}(?!\d)"
    r"|\b(?:tel|phone|ph|fax|mobile|cell)\b\.?:?\s*\+?\d[\d ().-]{6,}\d", re.IGNORECASE)
_ADDRESS = re.compile(
    r"\b\d{1,5}\s+(?:[A-Za-z][A-Za-z.'-]*\s+){1,4}(?:street|st|avenue|ave|road|rd|boulevard|blvd|lane|ln|drive|"
    r"court|ct|way|place|pl|terrace|parkway|pkwy|highway|hwy|square|sq|circle|cir)\b"
    r"|\bP\.?\s?O\.?\s+Box\s+\d+", re.IGNORECASE)
_TITLED_NAME = re.compile(
    r"\b(?:Dr|Mr|Mrs|Ms|Miss|Prof)\.?\s+[A-Z][a-z][A-Za-z'-]*"
    r"|\b(?:DR|MR|MRS|MS|PROF)\.\s*[A-Z][A-Z'-]{2,}"
    r"|\b[A-Z][A-Za-z'-]+\^[A-Z][A-Za-z'-]+")  # DOE^JANE: a PN value copied into text ("abdomen^liver" is not)


def check_text(text: str, where: str, rule: str, terms: SweepTerms, hits: list[Hit]) -> None:
    """rule: name (PN), free (free text), uri, binary (printable runs of bytes), value (codes, dates)."""
    text = text.strip(" \x00")
    if not text:
        return
    for label in term_hits(text, terms):
        hits.append(Hit(where, INPUT_VALUE, label))
    if rule == "name":
        if _is_real_name(text):
            hits.append(Hit(where, PERSON_NAME, "person name in a PN element"))
        return
    if rule in ("free", "uri", "binary") and _EMAIL.search(text):
        hits.append(Hit(where, EMAIL, "e-mail address"))
    if rule != "free":
        return
    text = _PSEUDONYM.sub(" ", text)
    if any(p.search(text) for p in DATE_PATTERNS):
        hits.append(Hit(where, DATE, "date in free text"))
    phone = _PHONE.search(text)
    if phone:
        hits.append(Hit(where, PHONE, "phone number"))
    if any(p.search(_PHONE.sub(" ", text)) for p in _ID_PATTERNS) and not _only_dates(text):
        hits.append(Hit(where, ID, "ID-like number"))
    if _ADDRESS.search(text):
        hits.append(Hit(where, ADDRESS, "street address"))
    if _TITLED_NAME.search(text):
        hits.append(Hit(where, PERSON_NAME, "person name in free text"))


def _only_dates(text: str) -> bool:
    """An 8-digit date is reported as a date, not also as an ID."""
    rest = text
    for pattern in DATE_PATTERNS:
        rest = pattern.sub(" ", rest)
    return not any(p.search(_PHONE.sub(" ", rest)) for p in _ID_PATTERNS)


def check_ocr(text: str, where: str, terms: SweepTerms, hits: list[Hit]) -> None:
    """Text read from pixels: the input's values by OCR-tolerant matching, dates, IDs, e-mail, phones."""
    if not text.strip():
        return
    for line in text.splitlines():
        seen = phi.normalise(line)
        for term, label in terms.labels.items():
            if seen and phi.holds(seen, term):
                hits.append(Hit(where, INPUT_VALUE, f"{label} read in the pixels"))
                break
        if any(p.search(line) for p in DATE_PATTERNS):
            hits.append(Hit(where, DATE, "date read in the pixels"))
        elif any(p.search(_PHONE.sub(" ", line)) for p in _ID_PATTERNS):
            hits.append(Hit(where, ID, "ID-like number read in the pixels"))
        if _EMAIL.search(line):
            hits.append(Hit(where, EMAIL, "e-mail address read in the pixels"))
        if _PHONE.search(line):
            hits.append(Hit(where, PHONE, "phone number read in the pixels"))


def tokens(text: str) -> tuple[str, list[int]]:
    """Normalised text and the offsets where its words start and end (letters and digits split apart)."""
    parts = re.findall(r"[^\W\d_]+|\d+", text.upper())
    joined, bounds, at = [], [0], 0
    for part in parts:
        norm = phi.normalise(part)
        joined.append(norm)
        at += len(norm)
        bounds.append(at)
    return "".join(joined), bounds


def term_hits(text: str, terms: SweepTerms) -> list[str]:
    """Labels of the input values found in a text value, on word boundaries (so 'DOE' is not in 'DOES')."""
    if not terms:
        return []
    joined, bounds = tokens(text)
    if not joined:
        return []
    edges = set(bounds)
    return list(dict.fromkeys(label for term, label in terms.labels.items() if found(term, joined, edges)))


def found(term: str, joined: str, edges: set[int]) -> bool:
    """``term`` occurs in ``joined`` starting and ending on word edges."""
    start = joined.find(term)
    while start != -1:
        if start in edges and start + len(term) in edges:
            return True
        start = joined.find(term, start + 1)
    return False


def _is_real_name(value: str) -> bool:
    """A PN value that is neither empty nor what the scrubber writes (dummy, pseudonym, cleaned tokens)."""
    for part in re.split(r"[\^=\s,.]+", value.upper()):
        if not part or part in SCRUBBER_WRITES or _PSEUDONYM.fullmatch(part) or part.casefold() in _NOT_IDENTITY:
            continue
        return True
    return False
