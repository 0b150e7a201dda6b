"""deid-data's ultrasounds carry the file's own fake patient burned into the pixels: after redaction, OCR
(the same engine, reading everything it can find) must not read back the name, birth date or record number."""
from __future__ import annotations

import io
from pathlib import Path

import pydicom
import pytest

from inference.local_engine import LocalDetector
from pixelguard.core import profile
from pixelguard.core.keys import Derivations
from pixelguard.core.phi import date_forms, header_terms, matches, normalise
from pixelguard.core.pipeline import process
from pixelguard.core.pixels import dicom_stored_frames, render_dicom
from pixelguard.core.record import Status
from pixelguard.keyservice.local import LocalKeyService


def _ultrasound(name: str) -> Path:
    import deid_data

    return Path(deid_data.__file__).parent / "data" / "ultrasounds" / name


def _identity_terms(ds: pydicom.Dataset) -> tuple[str, ...]:
    """Name components, birth date in every common form, and the record numbers."""
    terms = {normalise(part) for part in str(ds.PatientName).replace("^", " ").split() if len(part) >= 3}
    terms |= date_forms(str(ds.PatientBirthDate))
    terms |= {normalise(str(ds.PatientID))}
    return tuple(sorted(t for t in terms if t))


@pytest.mark.parametrize("name", ["GREYSCALE_IMAGE.dcm", "RGB_IMAGE.dcm"])
def test_burned_in_identity_cannot_be_read_back(name: str, tmp_path: Path) -> None:
    source = _ultrasound(name)
    original = pydicom.dcmread(source)
    engine = LocalDetector(threads=2)
    read_before = engine.ocr(render_dicom(original, dicom_stored_frames(original)))[0]
    assert any(matches(r.text, header_terms(original)) for r in read_before), "the PHI is burned in to begin with"

    derive = Derivations(LocalKeyService.open(tmp_path / "key.json").hmac)
    outcome = process("in-us", source.read_bytes(), profile.load("basic"), derive, engine)
    assert outcome.status is not Status.ERROR, outcome.reason
    redacted = pydicom.dcmread(io.BytesIO(outcome.output_bytes))
    read_after = engine.ocr(render_dicom(redacted, dicom_stored_frames(redacted)))[0]
    terms = _identity_terms(original)
    assert not [r.text for r in read_after if matches(r.text, terms)]
