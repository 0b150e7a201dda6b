"""Date shifting (Modified Dates option) and age capping (HIPAA Safe Harbor), on DICOM string values.

Pure functions over DA/DT/AS strings; a value that cannot be read as a full date returns None so the
caller empties it rather than keeping an unshifted original.
"""
from __future__ import annotations

import datetime as _dt
import re

_DA = re.compile(r"(\d{4})\.?(\d{2})\.?(\d{2})")  # YYYYMMDD, or the ACR-NEMA YYYY.MM.DD
_DT = re.compile(r"(\d{8})(\d{0,6}(?:\.\d{1,6})?)([+-]\d{4})?")
_AS = re.compile(r"(\d{3})([DWMY])")


def _shift_one_date(text: str, days: int) -> str | None:
    match = _DA.fullmatch(text.strip())
    if match is None:
        return None
    try:
        day = _dt.date(int(match[1]), int(match[2]), int(match[3]))
        return (day + _dt.timedelta(days=days)).strftime("%Y%m%d")
    except (ValueError, OverflowError):
        return None


def shift_da(value: str, days: int) -> str | None:
    """Shift every value of a (possibly multi-valued) DA string; None if any part is not a full date."""
    if not value.strip():
        return value
    out = []
    for part in value.split("\\"):
        if not part.strip():
            out.append("")
            continue
        shifted = _shift_one_date(part, days)
        if shifted is None:
            return None
        out.append(shifted)
    return "\\".join(out)


def shift_dt(value: str, days: int) -> str | None:
    """Shift the date part of each DT value; time of day and UTC offset are kept (intervals preserved)."""
    if not value.strip():
        return value
    out = []
    for part in value.split("\\"):
        part = part.strip()
        if not part:
            out.append("")
            continue
        match = _DT.fullmatch(part)
        if match is None:
            return None  # year-only or year-month precision cannot be shifted by days: caller empties it
        shifted = _shift_one_date(match[1], days)
        if shifted is None:
            return None
        out.append(shifted + match[2] + (match[3] or ""))
    return "\\".join(out)


_UNIT_YEARS = {"D": 365.25, "W": 52.1775, "M": 12.0, "Y": 1.0}


def cap_age(value: str, max_years: int) -> str | None:
    """HIPAA Safe Harbor: an age over ``max_years`` becomes 090Y (the 90-or-older bucket).

    Returns the value unchanged when within range, or None when it is not a valid AS string.
    """
    text = value.strip()
    if not text:
        return value
    match = _AS.fullmatch(text)
    if match is None:
        return None
    years = int(match[1]) / _UNIT_YEARS[match[2]]
    if years > max_years:
        return f"{max_years + 1:03d}Y"
    return text


__all__ = ["shift_da", "shift_dt", "cap_age"]
