"""Leak test over every file of the pydicom wheel and pydicom-data: after `basic`, no original value of any
attribute whose action is not K appears anywhere in the output bytes; unreadable files end in error.

Values too short to be told from coincidence are not checked: strings under 6 characters, numbers stored
in binary VRs, and binary values under 16 bytes (their bytes recur in pixel data by chance). A value that
the same file also holds in a kept attribute (e.g. InstitutionName "TOSHIBA" = Manufacturer, a private
copy of ManufacturerModelName) or that equals one of our dummies is legitimately present and not a leak.
"""
from __future__ import annotations

import io
import re
from pathlib import Path

import pydicom
import pytest
from pydicom.dataset import Dataset
from pydicom.uid import PYDICOM_IMPLEMENTATION_UID

from pixelguard.core import profile as profiles
from pixelguard.core.parse import parse
from pixelguard.core.pipeline import process
from pixelguard.core.record import StageError, Status
from pixelguard.core.redact import write_dicom
from pixelguard.core.scrub import scrub

_NUMERIC_BINARY = {"US", "SS", "UL", "SL", "FL", "FD", "AT", "SV", "UV", "OF", "OD", "OL", "OV"}
_BINARY = {"OB", "OW", "UN"}
_PIXELS = {0x7FE00010, 0x7FE00008, 0x7FE00009}


def corpus() -> list[Path]:
    import data_store  # the pydicom-data wheel

    roots = [Path(pydicom.__file__).parent / "data" / "test_files", Path(data_store.__file__).parent / "data"]
    return sorted(p for root in roots for p in root.rglob("*") if p.is_file())


FILES = corpus()


def _parses(path: Path) -> bool:
    """Sorted at collection, so the leak test runs only where there is a DICOM output to scan."""
    import hashlib

    from pixelguard.core.keys import Derivations

    throwaway = Derivations(lambda purpose, value: hashlib.sha256(purpose.encode() + value).digest())
    try:
        return parse("in-collect", path.read_bytes(), throwaway).format.value == "dicom"
    except StageError:
        return False


READABLE = [p for p in FILES if _parses(p)]
REFUSED = [p for p in FILES if p not in READABLE]


def _found(value: bytes, output: bytes) -> bool:
    """A digits-only value (a date, a time, a number) counts only as a whole run of digits: the same six
    digits inside a 39-digit keyed ``2.25.`` UID are chance, not a leak."""
    if not value.strip(b" \x00").isdigit():
        return value in output
    digits = re.escape(value.strip(b" \x00"))
    return re.search(rb"(?<![0-9])" + digits + rb"(?![0-9])", output) is not None


def _originals(ds: Dataset, profile: profiles.Profile, out: list[tuple[str, bytes]], kept: list[bytes]) -> None:
    """(tag text, value bytes) of every element the profile does not keep, at every level; ``kept`` gets the
    values of the kept ones."""
    for tag in list(ds._dict.keys()):
        if tag in _PIXELS or tag.element == 0:
            continue
        private = bool(tag.group & 1)
        action = "X" if private else (profile.action(int(tag)) or "K")
        raw = ds._dict[tag]  # the bytes as read, before conversion
        try:
            elem = ds[tag]
        except Exception:  # noqa: BLE001 - unreadable values are removed by the scrub; checked elsewhere
            continue
        if elem.VR == "SQ":
            for item in elem.value or ():
                _originals(item, profile, out, kept)
            continue
        value = getattr(raw, "value", None)
        if action == "K" and isinstance(value, bytes):
            kept.append(value)
        if action == "K" or elem.VR in _NUMERIC_BINARY or not isinstance(value, bytes):
            continue
        label = f"({tag.group:04X},{tag.element:04X})"
        if elem.VR in _BINARY:
            if len(value) >= 16 and len(set(value)) > 2:
                out.append((label, value))
            continue
        for part in value.split(b"\\"):
            part = part.strip(b" \x00")
            if len(part) >= 6:
                out.append((label, part))


@pytest.mark.parametrize("path", READABLE, ids=lambda p: p.name)
def test_no_original_value_survives_basic(path: Path, basic, derive) -> None:
    data = path.read_bytes()
    record = parse("in-leak", data, derive)
    original = pydicom.dcmread(io.BytesIO(data), force=True)
    checks: list[tuple[str, bytes]] = []
    # Our dummies, and the implementation UID we write as the file's writer (under pydicom's root).
    kept: list[bytes] = [b"ANONYMIZED", b"19000101", b"000000", b"000Y", PYDICOM_IMPLEMENTATION_UID.encode()]
    _originals(original, basic, checks, kept)
    legit = b"\x00".join(kept)
    checks = [(label, value) for label, value in checks if value not in legit]
    assert checks or len(original) < 12 or path.name.startswith(("no_meta", "meta_missing")), \
        "nothing to check: the corpus walk is broken"
    try:
        scrub(record, basic, derive)
        output = write_dicom(record.header)
    except StageError as exc:
        # Error is an acceptable end for bad input: nothing is written, so nothing leaks.
        assert exc.reason and exc.code
        return
    leaks = sorted({label for label, value in checks if _found(value, output)})
    assert not leaks, f"original values of {leaks} found in the output of {path.name}"


def test_unreadable_files_end_in_error_not_a_crash(derive, tmp_path) -> None:
    """Every file the parser refuses still gets a single outcome: error, with a reason of ours."""
    (tmp_path / "off.yaml").write_text("name: off\nextends: basic\nredaction: off\n")
    profile = profiles.load_file(tmp_path / "off.yaml")
    # Refused on purpose: truncated, bad VR, not-DICOM files, and the CT headers of pydicom's dicomdir tests,
    # whose pixel module was stripped (an image object without its pixels is never published).
    assert len(READABLE) >= 160 and len(REFUSED) >= 40 and len(READABLE) + len(REFUSED) >= 240
    for path in REFUSED:
        outcome = process("in-x", path.read_bytes(), profile, derive, detector=None)  # type: ignore[arg-type]
        assert outcome.status is Status.ERROR and outcome.error_code and outcome.reason, path.name
