"""Format detection is by content: names and extensions never decide."""
from __future__ import annotations

import gzip

import pytest

from pixelguard.core.record import Format, StageError
from pixelguard.formats import detect
from pixelguard.samples import FakePatient, pydicom_test_files, text_jpeg, text_png

from .conftest import nibabel_data


def test_dicom_with_preamble() -> None:
    assert detect((pydicom_test_files() / "CT_small.dcm").read_bytes()) is Format.DICOM


@pytest.mark.parametrize("name", ["ExplVR_LitEndNoMeta.dcm", "ExplVR_BigEndNoMeta.dcm"])
def test_dicom_without_preamble(name: str) -> None:
    data = (pydicom_test_files() / name).read_bytes()
    assert data[128:132] != b"DICM"
    assert detect(data) is Format.DICOM


def test_png_and_jpeg() -> None:
    assert detect(text_png(FakePatient())) is Format.PNG
    assert detect(text_jpeg(FakePatient())) is Format.JPEG


@pytest.mark.parametrize("name", ["anatomical.nii", "example4d.nii.gz", "example_nifti2.nii.gz", "standard.nii.gz"])
def test_nifti_one_two_and_gzip(name: str) -> None:
    assert detect((nibabel_data() / name).read_bytes()) is Format.NIFTI


def test_unknown_and_empty_are_refused_with_reasons() -> None:
    with pytest.raises(StageError) as empty:
        detect(b"")
    assert empty.value.code == "empty"
    with pytest.raises(StageError) as text:
        detect(b"Patient report: nothing to see here\n" * 10)
    assert text.value.code == "unknown-format"
    with pytest.raises(StageError) as gz:
        detect(gzip.compress(b"not a nifti" * 100))
    assert gz.value.code == "unknown-format"


def test_every_format_has_one_registered_handler() -> None:
    from pixelguard.core.record import Format
    from pixelguard.formats import handler

    for fmt in Format:
        assert handler(fmt).format is fmt


def test_each_handler_claims_its_own_format_and_no_other() -> None:
    # Detection is the handlers' job: a new format must not claim another's objects.
    from pixelguard.formats import Match, handler

    samples = {
        Format.DICOM: (pydicom_test_files() / "CT_small.dcm").read_bytes(),
        Format.PNG: text_png(FakePatient()),
        Format.JPEG: text_jpeg(FakePatient()),
        Format.NIFTI: (nibabel_data() / "example4d.nii.gz").read_bytes(),
    }
    for fmt, data in samples.items():
        claims = {other: handler(other).detect(data) for other in Format}
        assert claims[fmt] is Match.MAGIC
        assert all(m is Match.NONE for other, m in claims.items() if other is not fmt), (fmt, claims)


def test_a_dataset_without_preamble_is_only_plausible() -> None:
    # No magic number: the DICOM handler claims it weakly, so any format with a signature would win.
    from pixelguard.formats import Match, handler

    raw = (pydicom_test_files() / "ExplVR_LitEndNoMeta.dcm").read_bytes()
    assert handler(Format.DICOM).detect(raw) is Match.PLAUSIBLE
    assert detect(raw) is Format.DICOM


def test_an_unknown_format_reason_never_shows_the_objects_bytes() -> None:
    data = b"JANE DOE, MRN 7300006: referral letter\n" * 4
    with pytest.raises(StageError) as refused:
        detect(data)
    assert refused.value.code == "unknown-format"
    for leak in ("JANE", data[:4].hex(), data[:2].hex()):
        assert leak not in refused.value.reason
