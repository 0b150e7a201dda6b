"""Descriptor cleaning (Clean Descriptors / Clean Structured Content / Clean Graphics options).

Free text is kept, but every token that matches a PHI value of the same header is replaced: person names
(each component, so any order or "Last, First" spelling matches), identifiers (the whole value and its
alphanumeric parts), and dates in common spellings. Matching is case-insensitive and on token boundaries,
so "Doe" is removed from "seen by DOE J" but not from "Doeblin".
"""
from __future__ import annotations

import datetime as _dt
import re
from collections.abc import Iterable
from dataclasses import dataclass, field

REPLACEMENT = "XXXX"
# Name components that are honorifics or suffixes, not identity: removing them everywhere would also eat
# words such as "MR" (the modality) from every description.
_NOT_IDENTITY = {"mr", "mrs", "ms", "miss", "dr", "prof", "jr", "sr", "ii", "iii", "iv", "md", "phd", "rn"}
_WORD = re.compile(r"\w+", re.UNICODE)
_MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
           "November", "December"]
_BOUND_L = r"(?<![0-9A-Za-z])"
_BOUND_R = r"(?![0-9A-Za-z])"


def date_spellings(day: _dt.date) -> set[str]:
    """The common ways a date is written in free text (ISO, DICOM, US, European, with month names)."""
    y, m, d = day.year, day.month, day.day
    yy = f"{y % 100:02d}"
    full, short = _MONTHS[m - 1], _MONTHS[m - 1][:3]
    out = {f"{y:04d}{m:02d}{d:02d}"}
    for sep in "-/.":
        out |= {f"{y:04d}{sep}{m:02d}{sep}{d:02d}", f"{m:02d}{sep}{d:02d}{sep}{y:04d}",
                f"{d:02d}{sep}{m:02d}{sep}{y:04d}", f"{m}{sep}{d}{sep}{y:04d}", f"{d}{sep}{m}{sep}{y:04d}",
                f"{m:02d}{sep}{d:02d}{sep}{yy}", f"{d:02d}{sep}{m:02d}{sep}{yy}"}
    for name in (full, short):
        out |= {f"{name} {d}, {y}", f"{name} {d} {y}", f"{d} {name} {y}", f"{d:02d} {name} {y}",
                f"{d}-{name}-{y}", f"{d:02d}-{name}-{y}", f"{d:02d}{name}{y}", f"{name} {d:02d}, {y}"}
    return out


def _as_date(text: str) -> _dt.date | None:
    digits = text.strip().replace(".", "").replace("-", "")[:8]
    if len(digits) != 8 or not digits.isdigit():
        return None
    try:
        return _dt.date(int(digits[:4]), int(digits[4:6]), int(digits[6:8]))
    except ValueError:
        return None


@dataclass
class PhiTerms:
    """The PHI values of one header, compiled into one case-insensitive pattern."""

    names: set[str] = field(default_factory=set)
    ids: set[str] = field(default_factory=set)
    dates: set[_dt.date] = field(default_factory=set)
    _pattern: re.Pattern[str] | None = field(default=None, repr=False)

    def add_name(self, value: str) -> None:
        for group in value.split("="):  # alphabetic, ideographic, phonetic representations
            for token in _WORD.findall(group.replace("^", " ")):
                if len(token) >= 2 and token.casefold() not in _NOT_IDENTITY and not token.isdigit():
                    self.names.add(token)
        self._pattern = None

    def add_id(self, value: str, parts: bool = True) -> None:
        value = value.strip(" \x00")
        if len(value) < 2:
            return
        self.ids.add(value)
        if parts:
            self.ids.update(t for t in _WORD.findall(value) if len(t) >= 4)
        self._pattern = None

    def add_date(self, value: str) -> None:
        for part in value.split("\\"):
            day = _as_date(part)
            if day is not None:
                self.dates.add(day)
        self._pattern = None

    def __bool__(self) -> bool:
        return bool(self.names or self.ids or self.dates)

    def pattern(self) -> re.Pattern[str] | None:
        if self._pattern is None and self:
            literals: set[str] = set(self.names) | set(self.ids)
            for day in self.dates:
                literals |= date_spellings(day)
            # Longest first, so "2020-01-05" wins over its part "2020".
            alternatives = "|".join(re.escape(t) for t in sorted(literals, key=len, reverse=True))
            self._pattern = re.compile(f"{_BOUND_L}(?:{alternatives}){_BOUND_R}", re.IGNORECASE)
        return self._pattern

    def clean(self, text: str) -> str:
        pattern = self.pattern()
        if pattern is None or not text:
            return text
        return pattern.sub(REPLACEMENT, text)

    def clean_values(self, values: Iterable[str]) -> list[str]:
        return [self.clean(v) for v in values]


__all__ = ["PhiTerms", "REPLACEMENT", "date_spellings"]
