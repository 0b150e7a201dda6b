"""The core stages on real objects: what a user would see in the outputs."""
from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pydicom
import pytest
from PIL import Image

from pixelguard.core.parse import parse
from pixelguard.core.pipeline import process
from pixelguard.core.record import Status
from pixelguard.core.scrub import scrub
from pixelguard.samples import FakePatient, text_dicom, text_jpeg, text_png

from .conftest import nibabel_data

PATIENT = FakePatient()


def _phi_bytes(patient: FakePatient) -> list[bytes]:
    return [patient.name.encode(), patient.patient_id.encode(), patient.birth_date.encode(),
            patient.name.split("^")[0].encode()]


def test_dicom_scrub_removes_patient_identity_and_remaps_uids(basic, derive) -> None:
    data = text_dicom(PATIENT)
    original = pydicom.dcmread(io.BytesIO(data))
    record = scrub(parse("in-test", data, derive), basic, derive)
    ds = record.header
    assert "PatientName" not in ds or not ds.PatientName
    assert ds.PatientID != PATIENT.patient_id and ds.PatientID.startswith("PG")
    assert not ds.get("PatientBirthDate")
    assert ds.StudyInstanceUID != original.StudyInstanceUID and ds.StudyInstanceUID.startswith("2.25.")
    assert ds.SOPInstanceUID == record.output_id == ds.file_meta.MediaStorageSOPInstanceUID
    assert ds.PatientIdentityRemoved == "YES"
    assert ds.DeidentificationMethodCodeSequence[0].CodeValue == "113100"
    assert not any(elem.tag.is_private for elem in ds)


def test_uid_and_pseudonym_mapping_is_deterministic(basic, derive) -> None:
    a = scrub(parse("a", text_dicom(PATIENT), derive), basic, derive).header
    b = scrub(parse("b", text_dicom(PATIENT, "1.2.840.10008.1.2.5"), derive), basic, derive).header
    assert a.StudyInstanceUID == b.StudyInstanceUID  # same study in, same study out
    assert a.PatientID == b.PatientID
    assert a.SOPInstanceUID != b.SOPInstanceUID  # different instances stay different


@pytest.mark.parametrize("ts", [None, "1.2.840.10008.1.2.5", "1.2.840.10008.1.2.4.90"])
def test_burned_in_text_is_gone_from_the_output(ts, basic, derive, detector) -> None:
    outcome = process("in-test", text_dicom(PATIENT, ts), basic, derive, detector)
    assert outcome.status in (Status.CLEAN, Status.REVIEW), outcome.reason
    out = pydicom.dcmread(io.BytesIO(outcome.output_bytes))
    # Native input (CT_small, Explicit VR Little Endian) stays native; compressed stays in its syntax.
    assert out.file_meta.TransferSyntaxUID == (ts or "1.2.840.10008.1.2.1")
    assert out.Rows == 128 and out.BitsAllocated == 16
    from pixelguard.core.phi import header_terms, matches
    from pixelguard.core.pixels import dicom_stored_frames, render_dicom

    terms = header_terms(pydicom.dcmread(io.BytesIO(text_dicom(PATIENT))))
    stored = dicom_stored_frames(out)
    read = detector.ocr(render_dicom(out, stored))[0]
    assert not any(matches(r.text, terms) for r in read), [r.text for r in read]
    # The banner band is one fill value: its strokes are rows 5-10, and the fill hugs them (plus a pad).
    assert stored[0, 4:12, 2:120].max() == stored[0, 4:12, 2:120].min()
    for phi in _phi_bytes(PATIENT):
        assert phi not in outcome.output_bytes


def test_png_text_chunks_and_pixels_are_cleaned(basic, derive, detector) -> None:
    data = text_png(PATIENT)
    assert b"tEXt" in data
    outcome = process("in-png", data, basic, derive, detector)
    assert outcome.status is Status.CLEAN, outcome.reason
    assert b"tEXt" not in outcome.output_bytes and PATIENT.patient_id.encode() not in outcome.output_bytes
    image = np.asarray(Image.open(io.BytesIO(outcome.output_bytes)).convert("RGB"))
    assert detector.detect([image]) == [[]]
    assert outcome.output_id.startswith("obj-")


def test_jpeg_exif_and_comments_are_removed(basic, derive, detector) -> None:
    data = text_jpeg(PATIENT)
    assert b"Exif" in data and PATIENT.name.encode() in data
    outcome = process("in-jpg", data, basic, derive, detector)
    assert outcome.status is Status.CLEAN, outcome.reason
    assert b"Exif" not in outcome.output_bytes
    assert PATIENT.name.encode() not in outcome.output_bytes


def test_nifti_header_text_is_cleared(basic, derive, detector) -> None:
    import nibabel as nib

    image = nib.load(nibabel_data() / "anatomical.nii")
    image.header["descrip"] = b"DOE JANE MRN0042424"
    outcome = process("in-nii", image.to_bytes(), basic, derive, detector)
    assert outcome.status is Status.CLEAN, outcome.reason
    import gzip

    raw = gzip.decompress(outcome.output_bytes)
    assert b"MRN0042424" not in raw
    assert nib.Nifti1Image.from_bytes(raw).shape == image.shape


def test_multiframe_compressed_dicom_round_trips(basic, derive, detector) -> None:
    from pydicom.data import get_testdata_file

    data = Path(get_testdata_file("emri_small_RLE.dcm")).read_bytes()  # from the pydicom-data wheel
    outcome = process("in-mf", data, basic, derive, detector)
    assert outcome.status is not Status.ERROR, outcome.reason
    out = pydicom.dcmread(io.BytesIO(outcome.output_bytes))
    assert int(out.NumberOfFrames) == 10 and out.pixel_array.shape == (10, 64, 64)


@pytest.mark.parametrize("name,code", [
    ("MR_truncated.dcm", "truncated"),
    ("rtplan_truncated.dcm", "truncated"),
    ("emri_small_jpeg_2k_lossless_too_short.dcm", "truncated"),
    ("README.txt", "unknown-format"),
])
def test_bad_dicom_inputs_get_a_reason(name, code, basic, derive, detector) -> None:
    from pydicom.data import get_testdata_file

    outcome = process("in-bad", Path(get_testdata_file(name)).read_bytes(), basic, derive, detector)
    assert outcome.status is Status.ERROR
    assert outcome.error_code == code, outcome.reason


def test_truncated_png_and_jpeg(basic, derive, detector) -> None:
    for data in (text_png(PATIENT), text_jpeg(PATIENT)):
        outcome = process("in-cut", data[: len(data) // 2], basic, derive, detector)
        assert outcome.status is Status.ERROR and outcome.error_code == "truncated", outcome.reason


def test_corrupt_png_crc(basic, derive, detector) -> None:
    data = bytearray(text_png(PATIENT))
    data[40] ^= 0xFF
    outcome = process("in-crc", bytes(data), basic, derive, detector)
    assert outcome.error_code == "corrupt", outcome.reason


def test_truncated_nifti(basic, derive, detector) -> None:
    data = (nibabel_data() / "anatomical.nii").read_bytes()
    outcome = process("in-nii", data[:-1000], basic, derive, detector)
    assert outcome.error_code == "truncated", outcome.reason


@pytest.mark.parametrize("syntax", [None, "1.2.840.10008.1.2.5"], ids=["native", "rle"])
def test_filling_decoded_frames_leaves_the_dataset_as_it_was(syntax: str | None) -> None:
    # The redaction fills the array it is given; a second decode (a retried redaction, the sweep) must
    # still see the stored pixels, not an earlier attempt's fills.
    from pixelguard.core.pixels import dicom_stored_frames

    ds = pydicom.dcmread(io.BytesIO(text_dicom(FakePatient(), syntax)))
    first = dicom_stored_frames(ds)
    before = first.copy()
    first[:] = 0
    assert np.array_equal(dicom_stored_frames(ds), before)
