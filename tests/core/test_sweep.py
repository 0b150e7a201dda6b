"""The independent PHI sweep: leaks the scrubber and redaction miss are caught; clean outputs are not flagged.

Each planted leak is one the de-identification stages really let through (the real ``scrub``/``process``
leave it in the output bytes, which the test checks first) or one planted in a finished output the way a
faulty stage would leave it. Every reason is checked to name where and what kind, never the value.
"""
from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

import numpy as np
import pydicom
import pytest
from PIL import Image, ImageDraw, ImageFont
from pydicom.datadict import tag_for_keyword
from pydicom.dataelem import RawDataElement
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence
from pydicom.tag import Tag
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

from pixelguard.core import profile as profiles
from pixelguard.core.parse import parse
from pixelguard.core.pipeline import RunOptions, process
from pixelguard.core.record import Format, StageError, Status
from pixelguard.core.sweep import KINDS, Hit, SweepTerms, summary, sweep, terms_of
from pixelguard.samples import FakePatient, pydicom_test_files, text_dicom, text_jpeg, text_nifti, text_png
from pixelguard_testkit.scrubbed import scrubbed

PATIENT = FakePatient()  # DOE^JANE, MRN0042424, born 19610203
VALUES = ("DOE", "JANE", "MRN0042424", "0042424", "19610203", "ACME", "555", "example", "Walker", "2021")
INPUT = "input-value"
FONT = "/usr/share/fonts/truetype/noto/NotoSans-Regular.ttf"


def _assert_safe(hits: list[Hit]) -> None:
    """Reasons name where and what kind; no planted value is ever quoted."""
    for hit in hits:
        assert hit.kind in KINDS
        for value in VALUES:
            assert value.upper() not in hit.reason.upper(), hit.reason


def _kinds_at(hits: list[Hit], where: str) -> set[str]:
    return {h.kind for h in hits if h.where == where}


def _save(ds: Dataset) -> bytes:
    buf = io.BytesIO()
    ds.save_as(buf, enforce_file_format=True)
    return buf.getvalue()


def _with_patient(ds: Dataset) -> Dataset:
    ds.PatientName, ds.PatientID, ds.PatientBirthDate = PATIENT.name, PATIENT.patient_id, PATIENT.birth_date
    return ds


def _draw(frame: np.ndarray, text: str, xy: tuple[int, int], size: int = 26) -> None:
    mask = Image.new("L", (frame.shape[1], frame.shape[0]), 0)
    ImageDraw.Draw(mask).text(xy, text, fill=255, font=ImageFont.truetype(FONT, size))
    frame[np.asarray(mask) > 127] = 250


def _multiframe(frames: int = 3, banner_on_first: bool = True) -> bytes:
    """An 8-bit multi-frame secondary capture: dark noise, the patient banner burned into frame 1 only."""
    rng = np.random.default_rng(7)
    pixels = rng.normal(40, 8, (frames, 256, 320)).clip(0, 255).astype(np.uint8)
    if banner_on_first:
        _draw(pixels[0], "JANE DOE  MRN0042424", (12, 10))
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.SOPClassUID = "1.2.840.10008.5.1.4.1.1.7.2"  # Multi-frame Grayscale Byte Secondary Capture
    ds.SOPInstanceUID, ds.StudyInstanceUID, ds.SeriesInstanceUID = generate_uid(), generate_uid(), generate_uid()
    ds.file_meta.MediaStorageSOPClassUID, ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPClassUID, ds.SOPInstanceUID
    ds.Modality = "OT"
    ds.StudyDate, ds.ReferringPhysicianName = "20210304", "ROE^RICHARD"
    _with_patient(ds)
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.NumberOfFrames, ds.Rows, ds.Columns = frames, 256, 320
    ds.BitsAllocated = ds.BitsStored = 8
    ds.HighBit, ds.PixelRepresentation = 7, 0
    ds.BurnedInAnnotation = "YES"
    ds.PixelData = pixels.tobytes()
    return _save(ds)


def _terms(data: bytes, derive, profile=None) -> SweepTerms:
    return terms_of(parse("in-sweep", data, derive), profile)


# --- leaks the scrubber lets through ----------------------------------------------------------------------

def test_phi_in_a_private_element_a_profile_vouched_for_is_caught(tmp_path: Path, derive) -> None:
    # A site vouches for its own (unknown to TCIA) private block, keeping it under Retain Safe Private;
    # the block turns out to copy the MRN. The real scrubber keeps it, as told.
    (tmp_path / "site.yaml").write_text(
        "name: site\nextends: retain-safe-private\noverrides:\n  '(0009,\"ACME RESEARCH\",10)': K\n")
    profile = profiles.load_file(tmp_path / "site.yaml")
    ds = pydicom.dcmread(io.BytesIO(text_dicom(PATIENT)))
    block = ds.private_block(0x0009, "ACME RESEARCH", create=True)
    block.add_new(0x10, "LO", f"ref {PATIENT.patient_id}")
    tag = block.get_tag(0x10)  # CT_small has a GE block at (0009,0010) already: ours is the next one
    data = _save(ds)
    output = scrubbed("in-private", data, profile, derive).output_bytes
    assert PATIENT.patient_id.encode() in output  # the scrubber kept it

    hits = sweep(output, Format.DICOM, _terms(data, derive, profile))
    where = f"({tag.group:04X},{tag.element:04X}) private element of a creator unknown to the knowledge base"
    assert INPUT in _kinds_at(hits, where), [str(h) for h in hits]
    assert any(h.reason == f"{where}: input PatientID value" for h in hits)
    _assert_safe(hits)



@pytest.mark.parametrize("profile_name", ["basic", "research"])
def test_a_name_in_nested_free_text_is_caught(profile_name: str, derive) -> None:
    # Free text two sequences deep inside a sequence the table remaps (U) and attributes it does not list:
    # the scrubber keeps both the patient's name and another person's, under basic and research alike.
    ds = pydicom.dcmread(io.BytesIO(text_dicom(PATIENT)))
    purpose = Dataset()
    purpose.CodeValue, purpose.CodingSchemeDesignator = "121311", "DCM"
    purpose.CodeMeaning = "Reviewed with Jane Doe"
    other = Dataset()
    other.CodeValue, other.CodingSchemeDesignator = "121312", "DCM"
    other.CodeMeaning = "Localizer read by Dr. Alice Walker"
    reference = Dataset()
    reference.ReferencedSOPClassUID = ds.SOPClassUID
    reference.ReferencedSOPInstanceUID = generate_uid()
    reference.PurposeOfReferenceCodeSequence = Sequence([purpose, other])
    ds.ReferencedImageSequence = Sequence([reference])
    data = _save(ds)
    profile = profiles.load(profile_name)
    output = scrubbed("in-nested", data, profile, derive).output_bytes
    assert b"Jane Doe" in output and b"Walker" in output  # the scrubber kept both

    hits = sweep(output, Format.DICOM, _terms(data, derive, profile))
    first = "item 1 of ReferencedImageSequence > item 1 of PurposeOfReferenceCodeSequence > CodeMeaning"
    second = "item 1 of ReferencedImageSequence > item 2 of PurposeOfReferenceCodeSequence > CodeMeaning"
    assert any(h.reason == f"{first}: input PatientName value" for h in hits), [str(h) for h in hits]
    assert _kinds_at(hits, second) == {"person-name"}
    assert {h.where for h in hits} == {first, second}  # nothing else of the scrubbed header is flagged
    _assert_safe(hits)


def test_a_name_burned_into_a_later_frame_is_caught(basic, derive, detector) -> None:
    data = _multiframe()
    outcome = process("in-frames", data, basic, derive, detector)
    assert outcome.status is Status.CLEAN, outcome.reason
    terms = _terms(data, derive, basic)
    assert sweep(outcome.output_bytes, Format.DICOM, terms, detector.ocr) == []

    # What a redaction that looked at frame 1 only would have left: the name on frame 2.
    out = pydicom.dcmread(io.BytesIO(outcome.output_bytes))
    pixels = out.pixel_array.copy()
    _draw(pixels[1], "JANE DOE", (60, 150), size=30)
    out.PixelData = pixels.tobytes()
    hits = sweep(_save(out), Format.DICOM, terms, detector.ocr)
    assert {h.where for h in hits} == {"frame 2 of 3"}, [str(h) for h in hits]
    assert any(h.reason == "frame 2 of 3: input PatientName value read in the pixels" for h in hits)
    _assert_safe(hits)


def test_ocr_reads_frames_in_batches_of_at_most_eight(basic, derive, detector) -> None:
    data = _multiframe(frames=11, banner_on_first=False)
    out = pydicom.dcmread(io.BytesIO(scrubbed("in-many", data, basic, derive).output_bytes))
    pixels = out.pixel_array.copy()
    _draw(pixels[9], "MRN0042424", (40, 120), size=30)
    out.PixelData = pixels.tobytes()
    calls: list[int] = []

    def reader(frames: list[np.ndarray]) -> list:
        calls.append(len(frames))
        return detector.ocr(frames)

    hits = sweep(_save(out), Format.DICOM, _terms(data, derive, basic), reader)
    assert calls == [8, 3]
    assert {h.where for h in hits} == {"frame 10 of 11"} and INPUT in _kinds_at(hits, "frame 10 of 11")


def test_phi_in_file_meta_is_caught(basic, derive) -> None:
    data = text_dicom(PATIENT)
    out = pydicom.dcmread(io.BytesIO(scrubbed("in-meta", data, basic, derive).output_bytes))
    out.file_meta.SourceApplicationEntityTitle = "DOE JANE"
    out.file_meta.PrivateInformationCreatorUID = "1.2.3.4"
    out.file_meta.PrivateInformation = f"scanned for {PATIENT.patient_id}".encode()
    hits = sweep(_save(out), Format.DICOM, _terms(data, derive, basic))
    assert {h.reason for h in hits} >= {"file meta SourceApplicationEntityTitle: input PatientName value",
                                        "file meta PrivateInformation: input PatientID value"}
    _assert_safe(hits)


def test_email_phone_date_id_address_in_a_free_text_comment_are_caught(basic, derive) -> None:
    # Values that are not in the input header at all: only the pattern rules can find them.
    data = text_dicom(PATIENT)
    out = pydicom.dcmread(io.BytesIO(scrubbed("in-comment", data, basic, derive).output_bytes))
    out.ImageComments = ("Call 555-867-5309 or jo.example@example.org; seen 2021-03-04 at 42 Elm Street, "
                         "chart 7734512")
    hits = sweep(_save(out), Format.DICOM, _terms(data, derive, basic))
    assert _kinds_at(hits, "ImageComments") == {"phone", "email", "date", "id", "address"}, [str(h) for h in hits]
    assert {h.where for h in hits} == {"ImageComments"}
    _assert_safe(hits)


def test_a_person_name_left_in_a_pn_element_is_caught(basic, derive) -> None:
    data = text_dicom(PATIENT)
    out = pydicom.dcmread(io.BytesIO(scrubbed("in-pn", data, basic, derive).output_bytes))
    out.PerformingPhysicianName = "WALKER^ALICE"  # nobody in the input header
    hits = sweep(_save(out), Format.DICOM, _terms(data, derive, basic))
    assert [h.reason for h in hits] == ["PerformingPhysicianName: person name in a PN element"]


def _raw(ds: Dataset, keyword: str, vr: str, text: str) -> None:
    """Set a value as a device writes it, unchecked (pydicom refuses to build a DS from letters)."""
    tag = Tag(tag_for_keyword(keyword))
    ds._dict[tag] = RawDataElement(tag, vr, len(text), text.encode(), 0, False, True)


@pytest.mark.parametrize("keyword, vr", [("StudyInstanceUID", "UI"), ("WindowCenter", "DS"),
                                         ("InstanceNumber", "IS"), ("Modality", "CS"), ("AcquisitionTime", "TM")])
def test_text_hiding_in_a_coded_element_is_caught(keyword: str, vr: str, basic, derive) -> None:
    """The sweep skips codes, numbers and UIDs as values; a name written where a code belongs is held anyway.

    The fuzzing run found such outputs ("FUZZPATIENT^SECRET" in a UI or DS element); the name here is in no
    input element, so only the VR's own grammar can tell.
    """
    data = text_dicom(PATIENT)
    out = pydicom.dcmread(io.BytesIO(scrubbed("in-coded", data, basic, derive).output_bytes))
    _raw(out, keyword, vr, "WALKER^ALICE")
    hits = sweep(_save(out), Format.DICOM, _terms(data, derive, basic))
    assert [(h.where, h.kind) for h in hits] == [(keyword, "malformed")], [str(h) for h in hits]
    _assert_safe(hits)


def test_a_name_in_a_number_element_goes_to_review_not_clean(basic, derive, detector) -> None:
    ds = pydicom.dcmread(io.BytesIO(text_dicom(PATIENT)))
    _raw(ds, "WindowWidth", "DS", "WALKER^ALICE")
    outcome = process("in-ds", _save(ds), basic, derive, detector)
    assert outcome.status is Status.REVIEW
    assert "WindowWidth: a value that is not a valid DS" in outcome.reason
    assert "WALKER" not in outcome.reason


def test_phi_in_png_and_jpeg_metadata_and_pixels_is_caught(basic, derive, detector) -> None:
    png, jpeg = text_png(PATIENT), text_jpeg(PATIENT)
    clean_png = process("in-png", png, basic, derive, detector)
    clean_jpeg = process("in-jpg", jpeg, basic, derive, detector)
    assert clean_png.status is Status.CLEAN and clean_jpeg.status is Status.CLEAN

    chunk = b"Comment\x00seen by DOE^JANE"
    planted_png = clean_png.output_bytes[:33] + struct.pack(">I", len(chunk)) + b"tEXt" + chunk + \
        struct.pack(">I", zlib.crc32(b"tEXt" + chunk)) + clean_png.output_bytes[33:]
    hits = sweep(planted_png, Format.PNG, _terms(png, derive), detector.ocr)
    assert _kinds_at(hits, "PNG tEXt chunk") >= {INPUT, "person-name"} and {h.where for h in hits} == {"PNG tEXt chunk"}

    comment = b"questions: jo.example@example.org"
    planted_jpeg = clean_jpeg.output_bytes[:2] + b"\xff\xfe" + struct.pack(">H", len(comment) + 2) + comment + \
        clean_jpeg.output_bytes[2:]
    hits_jpeg = sweep(planted_jpeg, Format.JPEG, _terms(jpeg, derive), detector.ocr)
    assert [h.reason for h in hits_jpeg] == ["JPEG comment: e-mail address"]

    # Redaction off: the banner stays burned in, and the sweep reads it.
    unredacted = process("in-png-off", png, basic, derive, detector, RunOptions(redaction="off"))
    hits_pixels = sweep(unredacted.output_bytes, Format.PNG, _terms(png, derive), detector.ocr)
    assert INPUT in _kinds_at(hits_pixels, "pixels"), [str(h) for h in hits_pixels]
    _assert_safe(hits + hits_jpeg + hits_pixels)


def test_phi_in_nifti_text_fields_is_caught(basic, derive) -> None:
    import gzip

    import nibabel as nib

    data = text_nifti(PATIENT)
    outcome = process("in-nii", data, basic, derive, detector=None)  # type: ignore[arg-type]  # volumes are not read
    image = nib.Nifti1Image.from_bytes(gzip.decompress(outcome.output_bytes))
    image.header["db_name"] = b"DOE JANE"
    planted = gzip.compress(image.to_bytes(), mtime=0)
    hits = sweep(planted, Format.NIFTI, _terms(data, derive))
    assert [h.where for h in hits] == ["NIfTI db_name"] and hits[0].kind == INPUT
    assert sweep(outcome.output_bytes, Format.NIFTI, _terms(data, derive)) == []


def test_an_unreadable_output_is_a_hit() -> None:
    hits = sweep(b"\x00" * 10, Format.DICOM, SweepTerms())
    assert [h.kind for h in hits] == ["unreadable"]
    assert "PHI sweep" in summary(hits)


# --- what de-identification legitimately leaves behind ----------------------------------------------------

def test_clean_pipeline_outputs_get_no_hit(basic, derive, detector) -> None:
    # The real pipeline's clean outputs, pixels read too: nothing left for the sweep to find.
    inputs = {"multiframe": _multiframe(), "png": text_png(PATIENT), "jpeg": text_jpeg(PATIENT),
              "nifti": text_nifti(PATIENT)}
    for name in ("CT_small.dcm", "MR_small.dcm", "rtplan.dcm", "JPEG2000.dcm"):
        inputs[name] = _with_patient_bytes((pydicom_test_files() / name).read_bytes())
    clean = 0
    for name, data in inputs.items():
        outcome = process(f"in-{name}", data, basic, derive, detector)
        if outcome.status is not Status.CLEAN:
            continue
        clean += 1
        hits = sweep(outcome.output_bytes, Format(outcome.format), _terms(data, derive, basic), detector.ocr)
        assert hits == [], (name, [str(h) for h in hits])
    assert clean >= 6


@pytest.mark.parametrize("profile_name", ["basic", "research", "retain-device-identity",
                                          "retain-full-dates"])
def test_scrubbed_headers_of_the_pydicom_corpus_get_no_hit(profile_name: str, derive) -> None:
    # Shifted or kept dates, keyed 2.25 UIDs, PG pseudonyms, method codes, dummies, cleaned text, kept
    # device identity and safe private elements: what each profile leaves by design is not flagged.
    profile = profiles.load(profile_name)
    swept, flagged = 0, {}
    for path in sorted(p for p in pydicom_test_files().rglob("*") if p.is_file()):
        data = path.read_bytes()
        try:
            original = parse("in-corpus", data, derive)
            if original.format is not Format.DICOM:
                continue
            output = scrubbed("in-corpus", data, profile, derive).output_bytes
        except StageError:
            continue  # the corpus's deliberately broken files
        swept += 1
        hits = sweep(output, Format.DICOM, terms_of(original, profile))
        if hits:
            flagged[path.name] = [str(h) for h in hits]
    assert swept > 90 and flagged == {}  # image headers without pixels are refused at parse, not swept


def test_an_sr_person_name_repeated_in_its_text_is_caught(derive) -> None:
    # Under Clean Structured Content the scrubber replaces an SR's PersonName item but does not gather the
    # names inside the cleaned ContentSequence as PHI, so a TextValue item repeating the name keeps it.
    profile = profiles.load("hipaa-safe-harbor")
    ds = pydicom.dcmread(pydicom_test_files() / "reportsi.dcm")
    for item in ds.iterall():
        if item.keyword == "PersonName":
            item.value = "WALKER^ALICE"
        elif item.keyword == "TextValue":
            item.value = "Findings discussed with Alice Walker."
    data = _save(ds)
    output = scrubbed("in-sr", data, profile, derive).output_bytes
    assert b"Alice Walker" in output and b"WALKER^ALICE" not in output
    hits = sweep(output, Format.DICOM, _terms(data, derive, profile))
    assert "item 3 of ContentSequence > TextValue: input PersonName value" in {h.reason for h in hits}
    _assert_safe(hits)


def _with_patient_bytes(data: bytes) -> bytes:
    return _save(_with_patient(pydicom.dcmread(io.BytesIO(data))))


def test_labels_left_by_phi_mode_are_not_flagged(basic, derive, detector) -> None:
    # phi mode keeps orientation letters, scale marks and technique values burned in: not PHI.
    data = _multiframe(frames=1, banner_on_first=False)
    ds = pydicom.dcmread(io.BytesIO(data))
    pixels = ds.pixel_array.copy()
    _draw(pixels, "R", (20, 110))
    _draw(pixels, "L", (290, 110))
    _draw(pixels, "5 cm", (230, 215), size=20)
    _draw(pixels, "120 kV  250 mA", (12, 12), size=20)
    ds.PixelData = pixels.tobytes()
    data = _save(ds)
    outcome = process("in-labels", data, basic, derive, detector, RunOptions(redaction="phi"))
    assert outcome.status is Status.CLEAN, outcome.reason
    read = [r.text for r in detector.ocr([np.repeat(pixels[..., None], 3, axis=2)])[0]]
    assert any("kV" in t or "cm" in t for t in read)  # the labels are there to be read
    assert sweep(outcome.output_bytes, Format.DICOM, _terms(data, derive, basic), detector.ocr) == []


def test_terms_leave_out_what_the_profile_keeps(derive) -> None:
    data = text_dicom(PATIENT)
    basic_terms = _terms(data, derive, profiles.load("basic"))
    kept = _terms(data, derive, profiles.load("retain-institution-identity"))
    assert "input InstitutionName value" in basic_terms.labels.values()
    assert "input InstitutionName value" not in kept.labels.values()
    assert PATIENT.patient_id not in repr(basic_terms)
