"""Format detection is by content: names and extensions never decide."""
from __future__ import annotations

import gzip

import pytest

from pixelguard.core.formats import sniff
from pixelguard.core.record import Format, StageError
from pixelguard.samples import FakePatient, pydicom_test_files, text_jpeg, text_png

from .conftest import nibabel_data


def test_dicom_with_preamble() -> None:
    assert sniff((pydicom_test_files() / "CT_small.dcm").read_bytes()) is Format.DICOM


@pytest.mark.parametrize("name", ["ExplVR_LitEndNoMeta.dcm", "ExplVR_BigEndNoMeta.dcm"])
def test_dicom_without_preamble(name: str) -> None:
    data = (pydicom_test_files() / name).read_bytes()
    assert data[128:132] != b"DICM"
    assert sniff(data) is Format.DICOM


def test_png_and_jpeg() -> None:
    assert sniff(text_png(FakePatient())) is Format.PNG
    assert sniff(text_jpeg(FakePatient())) is Format.JPEG


@pytest.mark.parametrize("name", ["anatomical.nii", "example4d.nii.gz", "example_nifti2.nii.gz", "standard.nii.gz"])
def test_nifti_one_two_and_gzip(name: str) -> None:
    assert sniff((nibabel_data() / name).read_bytes()) is Format.NIFTI


def test_unknown_and_empty_are_refused_with_reasons() -> None:
    with pytest.raises(StageError) as empty:
        sniff(b"")
    assert empty.value.code == "empty"
    with pytest.raises(StageError) as text:
        sniff(b"Patient report: nothing to see here\n" * 10)
    assert text.value.code == "unknown-format"
    with pytest.raises(StageError) as gz:
        sniff(gzip.compress(b"not a nifti" * 100))
    assert gz.value.code == "unknown-format"


def test_every_format_has_one_registered_handler() -> None:
    from pixelguard.core.record import Format
    from pixelguard.formats import handler

    for fmt in Format:
        assert handler(fmt).format is fmt
