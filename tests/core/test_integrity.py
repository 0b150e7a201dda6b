"""Nothing wrong reaches clean: whole pixel modules in, re-read outputs out, SOP-class rules, budgets."""
from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.data import get_testdata_file
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

from pixelguard.core import profile as profiles
from pixelguard.core.integrity import PixelShape, check_output
from pixelguard.core.limits import Limits, check_pixel_claim
from pixelguard.core.parse import parse
from pixelguard.core.pipeline import process
from pixelguard.core.record import Format, StageError, Status
from pixelguard.core.sop import SopKind, kind_of

CT_SMALL = Path(get_testdata_file("CT_small.dcm"))


def _bytes(ds: Dataset, enforce: bool = True) -> bytes:
    buf = io.BytesIO()
    ds.save_as(buf, enforce_file_format=enforce)
    return buf.getvalue()


def _object(sop_class: str, pixels: bool = True, **extra: object) -> Dataset:
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.SOPClassUID = sop_class
    ds.SOPInstanceUID = generate_uid()
    ds.StudyInstanceUID = generate_uid()
    ds.PatientName = "INTEGRITY^PATIENT"
    ds.PatientID = "MRN4455667"
    if pixels:
        ds.Rows, ds.Columns, ds.SamplesPerPixel, ds.PhotometricInterpretation = 16, 16, 1, "MONOCHROME2"
        ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 8, 8, 7, 0
        ds.PixelData = bytes(256)
    for key, value in extra.items():
        setattr(ds, key, value)
    ds.file_meta.MediaStorageSOPClassUID = ds.SOPClassUID
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    return ds


def test_a_ct_cut_at_3000_bytes_is_an_error_not_a_clean_header(basic, derive, detector) -> None:
    """Issue 10's first defect: the cut file read as a CT without Rows, Columns or Pixel Data."""
    data = CT_SMALL.read_bytes()
    assert len(data) == 39206
    outcome = process("in-cut", data[:3000], basic, derive, detector)
    assert outcome.status is Status.ERROR and not outcome.output_bytes
    assert outcome.error_code in ("truncated", "corrupt"), outcome.reason
    intact = process("in-whole", data, basic, derive, detector)
    assert intact.status is Status.CLEAN, intact.reason


def test_an_image_class_without_its_pixel_module_is_refused_with_the_reason(derive) -> None:
    ds = _object("1.2.840.10008.5.1.4.1.1.2", pixels=False)  # CT Image Storage, header only
    with pytest.raises(StageError) as caught:
        parse("in-np", _bytes(ds), derive)
    assert "CT Image Storage" in caught.value.reason and "PixelData" in caught.value.reason
    assert "INTEGRITY" not in caught.value.reason and "MRN" not in caught.value.reason


def test_frames_claimed_beyond_the_fragments_are_truncation(derive) -> None:
    data = Path(get_testdata_file("emri_small_jpeg_2k_lossless.dcm")).read_bytes()
    ds = pydicom.dcmread(io.BytesIO(data))
    ds.NumberOfFrames = int(ds.NumberOfFrames) + 5
    with pytest.raises(StageError) as caught:
        parse("in-fr", _bytes(ds), derive)
    assert caught.value.code in ("truncated", "corrupt") and "frames" in caught.value.reason


def test_native_ybr_full_422_is_read_at_two_bytes_a_pixel(basic, derive, detector) -> None:
    """4:2:2 stores two bytes a pixel; it used to be refused as truncated."""
    data = Path(get_testdata_file("SC_ybr_full_422_uncompressed.dcm")).read_bytes()
    outcome = process("in-422", data, basic, derive, detector)
    assert outcome.status is not Status.ERROR, outcome.reason
    out = pydicom.dcmread(io.BytesIO(outcome.output_bytes))
    assert out.pixel_array.shape[:2] == (int(out.Rows), int(out.Columns))


def test_an_object_without_sop_instance_uid_gets_a_stable_name(basic, derive, detector) -> None:
    ds = _object("1.2.840.10008.5.1.4.1.1.7")
    del ds.SOPInstanceUID
    del ds.file_meta.MediaStorageSOPInstanceUID
    data = _bytes(ds, enforce=False)  # as some writers do: no instance UID anywhere
    first = process("in-nouid", data, basic, derive, detector)
    again = process("in-nouid", data, basic, derive, detector)
    assert first.status is Status.CLEAN, first.reason
    assert first.output_id.startswith("2.25.") and first.output_id == again.output_id
    out = pydicom.dcmread(io.BytesIO(first.output_bytes))
    assert out.SOPInstanceUID == out.file_meta.MediaStorageSOPInstanceUID == first.output_id


def test_sop_kinds_come_from_the_registry() -> None:
    assert kind_of("1.2.840.10008.5.1.4.1.1.2") is SopKind.IMAGE  # CT Image Storage
    assert kind_of("1.2.840.10008.5.1.4.1.1.66.4") is SopKind.IMAGE  # Segmentation Storage
    assert kind_of("1.2.840.10008.5.1.4.1.1.88.11") is SopKind.STRUCTURED_REPORT  # Basic Text SR
    assert kind_of("1.2.840.10008.5.1.4.1.1.88.59") is SopKind.STRUCTURED_REPORT  # Key Object Selection
    assert kind_of("1.2.840.10008.5.1.4.1.1.104.1") is SopKind.ENCAPSULATED_DOCUMENT  # Encapsulated PDF
    assert kind_of("1.2.840.10008.5.1.4.1.1.481.5") is SopKind.RADIOTHERAPY  # RT Plan
    assert kind_of("1.2.840.10008.5.1.4.1.1.11.1") is SopKind.PRESENTATION_STATE
    assert kind_of("1.2.3.4") is SopKind.OTHER


def test_non_image_objects_follow_the_profile_rule(basic, derive, tmp_path: Path) -> None:
    sr = _bytes(_object("1.2.840.10008.5.1.4.1.1.88.11", pixels=False))  # Basic Text SR
    pdf = _bytes(_object("1.2.840.10008.5.1.4.1.1.104.1", pixels=False))  # Encapsulated PDF
    plan = _bytes(_object("1.2.840.10008.5.1.4.1.1.481.5", pixels=False))  # RT Plan
    held = process("in-sr", sr, basic, derive, detector=None)  # type: ignore[arg-type]
    assert held.status is Status.REVIEW and "Basic Text SR Storage" in held.reason
    refused = process("in-pdf", pdf, basic, derive, detector=None)  # type: ignore[arg-type]
    assert refused.status is Status.ERROR and refused.error_code == "refused-by-profile"
    assert "Encapsulated PDF Storage" in refused.reason and "reject" in refused.reason
    assert process("in-rt", plan, basic, derive, detector=None).status is Status.CLEAN  # type: ignore[arg-type]
    (tmp_path / "sr.yaml").write_text("name: sr-ok\nextends: basic\nsop_classes:\n  structured-report: deidentify\n"
                                      "  radiotherapy: reject\n")
    custom = profiles.load_file(tmp_path / "sr.yaml")
    assert process("in-sr", sr, custom, derive, detector=None).status is Status.CLEAN  # type: ignore[arg-type]
    assert process("in-rt", plan, custom, derive, detector=None).status is Status.ERROR  # type: ignore[arg-type]
    (tmp_path / "bad.yaml").write_text("name: bad\nextends: basic\nsop_classes:\n  report: maybe\n")
    with pytest.raises(profiles.ProfileError, match="sop_classes"):
        profiles.load_file(tmp_path / "bad.yaml")


def test_an_output_that_does_not_read_back_whole_is_an_integrity_error() -> None:
    ds = _object("1.2.840.10008.5.1.4.1.1.7")
    good = _bytes(ds)
    check_output(Format.DICOM, good, PixelShape(1, 16, 16, 1))
    with pytest.raises(StageError, match="integrity") as cut:
        check_output(Format.DICOM, good[:-100], PixelShape(1, 16, 16, 1))
    assert "nothing was published" in cut.value.reason
    with pytest.raises(StageError, match="integrity"):
        check_output(Format.DICOM, good, PixelShape(2, 16, 16, 1))  # a frame went missing
    del ds.PixelData
    with pytest.raises(StageError, match="pixel data is missing"):
        check_output(Format.DICOM, _bytes(ds), PixelShape(1, 16, 16, 1))
    with pytest.raises(StageError, match="integrity"):
        check_output(Format.PNG, b"\x89PNG\r\n\x1a\n" + bytes(40), PixelShape(1, 16, 16, 0))
    with pytest.raises(StageError, match="no output bytes"):
        check_output(Format.JPEG, b"", PixelShape(1, 16, 16, 0))


def test_absurd_pixel_claims_are_refused_before_decoding(derive) -> None:
    limits = Limits()
    assert check_pixel_claim(512, 512, 1, 10, 16, limits) == 512 * 512 * 10 * 2
    for claim in [(65535, 65535, 1, 1, 16), (512, 512, 1, 100_000, 16), (4096, 4096, 3, 400, 8), (0, 512, 1, 1, 8)]:
        with pytest.raises(StageError) as caught:
            check_pixel_claim(*claim, limits)
        assert caught.value.code in ("oversized", "corrupt")
    ds = _object("1.2.840.10008.5.1.4.1.1.7", Rows=60000, Columns=60000, NumberOfFrames=900)
    with pytest.raises(StageError) as caught:
        parse("in-bomb", _bytes(ds), derive)
    assert caught.value.code == "oversized"


def test_a_spent_time_budget_ends_the_object_as_over_budget(basic, derive, detector) -> None:
    frames = np.zeros((6, 64, 64), dtype=np.uint8)
    ds = _object("1.2.840.10008.5.1.4.1.1.7.2", Rows=64, Columns=64, NumberOfFrames=6,
                 PixelData=frames.tobytes())  # Multi-frame Grayscale Byte Secondary Capture
    outcome = process("in-slow", _bytes(ds), basic, derive, detector, limits=Limits(time_s=0.0))
    assert outcome.status is Status.ERROR and outcome.error_code == "over-budget"
    assert "time budget" in outcome.reason and not outcome.output_bytes
    assert process("in-slow", _bytes(ds), basic, derive, detector, limits=Limits(time_s=600)).status is Status.CLEAN
