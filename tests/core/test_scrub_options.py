"""What each profile does to a header a user would recognise: options, Safe Harbor, cleaning, bad input."""
from __future__ import annotations

import datetime as dt
import gzip
import io
import struct
import zlib
from pathlib import Path

import pydicom
import pytest
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence
from pydicom.uid import ExplicitVRLittleEndian

from pixelguard.core import profile as profiles
from pixelguard.core.clean import PhiTerms, date_spellings
from pixelguard.core.dates import cap_age, shift_da, shift_dt
from pixelguard.core.parse import parse
from pixelguard.core.pipeline import process
from pixelguard.core.record import Status
from pixelguard.core.scrub import scrub, scrub_dataset

from .conftest import nibabel_data


def _header(**extra: object) -> Dataset:
    ds = Dataset()
    ds.PatientName = "Doe^Jane^Q"
    ds.PatientID = "MRN0042424"
    ds.PatientBirthDate = "19610203"
    ds.PatientAge = "095Y"
    ds.PatientSex = "F"
    ds.StudyDate = "20200105"
    ds.StudyTime = "101500"
    ds.AcquisitionDateTime = "20200105101733.25+0100"
    ds.AccessionNumber = "ACC-778899"
    ds.StudyInstanceUID = "1.2.826.0.1.3680043.8.498.1"
    ds.SOPInstanceUID = "1.2.826.0.1.3680043.8.498.1.2"
    ds.SOPClassUID = "1.2.840.10008.5.1.4.1.1.7"
    ds.StudyDescription = "CT chest for DOE, JANE (MRN0042424) seen 01/05/2020"
    # An image object must carry its pixel module to be accepted at all: the smallest one that is whole.
    ds.Rows, ds.Columns, ds.SamplesPerPixel, ds.PhotometricInterpretation = 8, 8, 1, "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 8, 8, 7, 0
    ds.PixelData = bytes(64)
    for key, value in extra.items():
        setattr(ds, key, value)
    return ds


def _dicom_bytes(ds: Dataset) -> bytes:
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta.MediaStorageSOPClassUID = ds.SOPClassUID
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    buf = io.BytesIO()
    ds.save_as(buf, enforce_file_format=True)
    return buf.getvalue()


def test_research_shifts_dates_keeps_characteristics_and_cleans_descriptions(derive) -> None:
    ds = _header()
    scrub_dataset(ds, profiles.load("research"), derive)
    offset = derive.date_offset_days("MRN0042424")
    shifted = (dt.date(2020, 1, 5) + dt.timedelta(days=offset)).strftime("%Y%m%d")
    assert ds.StudyDate == shifted
    assert ds.StudyTime == "101500"  # whole-day shifts keep the time of day
    assert ds.AcquisitionDateTime == shifted + "101733.25+0100"
    assert ds.PatientAge == "095Y" and ds.PatientSex == "F"  # Retain Patient Characteristics, no cap
    assert ds.StudyDescription == "CT chest for XXXX, XXXX (XXXX) seen XXXX"
    assert not ds.PatientName and not ds.get("PatientBirthDate")


def test_safe_harbor_caps_ages_over_89_and_removes_dates(derive) -> None:
    for age, expected in (("095Y", "090Y"), ("120Y", "090Y"), ("089Y", "089Y"), ("999M", "999M"), ("030W", "030W"),
                          ("junk", None)):
        ds = _header(PatientAge=age)
        scrub_dataset(ds, profiles.load("hipaa-safe-harbor"), derive)
        assert ds.PatientAge == expected, age  # an unreadable age is emptied, not kept
        assert not ds.get("StudyDate") and not ds.get("PatientBirthDate")


def test_deidentification_marks_name_the_options_applied(derive) -> None:
    record = scrub(parse("in-m", _dicom_bytes(_header()), derive), profiles.load("research"), derive)
    ds = record.header
    codes = [item.CodeValue for item in ds.DeidentificationMethodCodeSequence]
    assert codes == ["113100", "113107", "113108", "113105", "113111"]
    assert ds.PatientIdentityRemoved == "YES" and ds.LongitudinalTemporalInformationModified == "MODIFIED"
    assert ds.DeidentificationMethod.startswith("PixelGuard research")
    assert ds.PatientID == record.pseudonyms["PatientID"] == record.crosswalk["PatientID:MRN0042424"]
    basic = scrub(parse("in-m", _dicom_bytes(_header()), derive), profiles.load("basic"), derive).header
    assert basic.LongitudinalTemporalInformationModified == "REMOVED"


def test_references_inside_sequences_follow_the_remapped_uids(basic, derive) -> None:
    ref = Dataset()
    ref.ReferencedSOPClassUID = "1.2.840.10008.5.1.4.1.1.7"
    ref.ReferencedSOPInstanceUID = "1.2.826.0.1.3680043.8.498.1.1"
    inner = Dataset()
    inner.ReferencedImageSequence = Sequence([ref])
    ds = _header(SourceImageSequence=Sequence([inner]), MultiFrameSourceSOPInstanceUID="1.2.826.0.1.3680043.8.498.1.1")
    scrub_dataset(ds, basic, derive)
    new_ref = ds.SourceImageSequence[0].ReferencedImageSequence[0]
    assert new_ref.ReferencedSOPInstanceUID == derive.uid("1.2.826.0.1.3680043.8.498.1.1")
    assert new_ref.ReferencedSOPClassUID == "1.2.840.10008.5.1.4.1.1.7"  # classes are not identifying
    assert ds.MultiFrameSourceSOPInstanceUID == new_ref.ReferencedSOPInstanceUID  # not in the table: W rule


def test_descriptor_cleaning_matches_names_in_any_order_ids_and_date_spellings() -> None:
    terms = PhiTerms()
    terms.add_name("Doe^Jane^Q^Dr")
    terms.add_id("MRN-0042424")
    terms.add_date("20200105")
    for text in ("Jane Doe", "DOE, JANE", "doe^jane", "MRN-0042424", "mrn 0042424", "2020-01-05", "01/05/2020",
                 "5 Jan 2020", "January 5, 2020", "05.01.2020", "20200105"):
        cleaned = terms.clean(f"seen {text} today")
        assert cleaned.startswith("seen ") and cleaned.endswith(" today"), text
        for word in text.replace(",", " ").replace("^", " ").split():
            if len(word) >= 2 and word.lower() not in ("mrn",):
                assert word not in cleaned.replace("XXXX", ""), (text, cleaned)
    assert terms.clean("Doeblin scan by Dr Who") == "Doeblin scan by Dr Who"  # token boundaries, honorifics
    assert "January 5, 2020" in date_spellings(dt.date(2020, 1, 5))


def test_date_helpers() -> None:
    assert shift_da("20200105\\20200301", -10) == "20191226\\20200220"
    assert shift_da("2020.01.05", 1) == "20200106"  # ACR-NEMA spelling read, DICOM written
    assert shift_da("2020", 1) is None  # cannot be shifted by days: the caller empties it
    assert shift_dt("20200105101733.25+0100", -1) == "20200104101733.25+0100"
    assert cap_age("120Y", 89) == "090Y" and cap_age("junk", 89) is None


def test_retain_safe_private_keeps_only_kb_safe_elements_by_creator(derive) -> None:
    ds = _header()
    ds.add_new(0x00190012, "LO", "SIEMENS MR HEADER")  # block 0x12 this time
    ds.add_new(0x0019120C, "IS", "1000")  # B value: safe
    ds.add_new(0x00191208, "LO", "DOE JANE")  # not safe
    ds.add_new(0x00291010, "OB", b"\x00" * 8)  # no creator: cannot be vouched for
    scrub_dataset(ds, profiles.load("retain-safe-private"), derive)
    assert [hex(e.tag) for e in ds if e.tag.group & 1] == ["0x190012", "0x19120c"]


def test_custom_profile_extends_and_overrides(tmp_path: Path, derive) -> None:
    (tmp_path / "mine.yaml").write_text(
        "name: mine\nextends: research\noptions: [cleanGraphOpt]\n"
        "overrides:\n  PatientSex: X\n  '(0008,1030)': X\n  '(0019,\"SIEMENS MR HEADER\",08)': K\n")
    profile = profiles.load_file(tmp_path / "mine.yaml")
    assert profile.lineage == ("mine", "research", "basic")
    assert "cleanGraphOpt" in profile.options and "rtnSafePrivOpt" in profile.options
    ds = _header()
    ds.add_new(0x00190010, "LO", "SIEMENS MR HEADER")
    ds.add_new(0x00191008, "LO", "kept by override")
    scrub_dataset(ds, profile, derive)
    assert "PatientSex" not in ds and "StudyDescription" not in ds and ds[0x00191008].value == "kept by override"


@pytest.mark.parametrize("text,message", [
    ("name: x\nextends: basic\noverrides:\n  NotAKeyword: X\n", "unknown tag keyword"),
    ("name: x\nextends: basic\noverrides:\n  '(0011,1010)': X\n", "private tags are named by creator"),
    ("name: x\nextends: basic\noverrides:\n  PatientSex: Q\n", "unknown action"),
    ("name: x\nextends: nowhere\n", "broken inheritance"),
    ("name: x\nextends: x\n", "broken inheritance: cycle"),
    ("name: x\nextends: basic\noptions: [rtnLongFullDatesOpt, rtnLongModifDatesOpt]\n", "exclude each other"),
    ("name: x\nextends: basic\noptions: [retainEverything]\n", "unknown option"),
    ("name: x\nextends: basic\nmax_age_years: old\n", "max_age_years"),
    ("name: x\nbogus: 1\nextends: basic\n", "unknown keys"),
    ("name: x\n", "needs 'table'"),
    ("name: x\nextends: basic\nredaction: some\n", "redaction must be one of all, phi, off"),
    ("name: x\nextends: basic\noverrides:\n  '(0019,\"ACME\",10)': Z\n", "private elements take K or X"),
])
def test_profile_validation_names_the_rule_broken(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "x.yaml"
    path.write_text(text)
    with pytest.raises(profiles.ProfileError, match=message):
        profiles.load_file(path)


def test_every_stored_profile_loads_and_names_its_options() -> None:
    names = profiles.available()
    for required in ("basic", "research", "hipaa-safe-harbor", "retain-safe-private", "retain-uids",
                     "retain-device-identity", "retain-institution-identity", "retain-patient-characteristics",
                     "retain-full-dates", "retain-modified-dates", "clean-descriptors", "clean-structured-content",
                     "clean-graphics"):
        assert required in names
        assert profiles.load(required).table_rows == 621


# The digests of the reference files as published: a vendored copy that drifts fails here even where
# ../shared is not beside the checkout.
REFERENCE_SHA256 = {
    "ps3.15-table-e.1-1-rev2024b.json": "a99a35d1278e2bace8d90ff791b11aea2d45f1e3e1230388eb5224c9dbcd29e6",
    "tcia-private-tag-kb-2024-02-01.csv": "68e38b67778ddb8ffa60f46bef894f3931330781e375c52bc06fc86cad44d111",
}


def test_vendored_references_equal_the_shared_copies() -> None:
    import hashlib

    shared = profiles.PROFILES_DIR.parent.parent / "shared" / "reference"
    for name, digest in REFERENCE_SHA256.items():
        vendored = (profiles.PROFILES_DIR / "reference" / name).read_bytes()
        assert hashlib.sha256(vendored).hexdigest() == digest, name
        if shared.is_dir():
            assert vendored == (shared / name).read_bytes(), name


# --- bad input: never a crash; error, or review when only partly scrubbed -------------------------------

def _explicit_element(group: int, element: int, vr: bytes, value: bytes) -> bytes:
    if vr in (b"OB", b"SQ", b"UN", b"UT"):
        return struct.pack("<HH2s2xI", group, element, vr, len(value)) + value
    return struct.pack("<HH2sH", group, element, vr, len(value)) + value


def test_unreadable_value_is_removed_and_the_object_goes_to_review(tmp_path: Path, derive) -> None:
    ds = _header(SpecificCharacterSet="ISO_IR 999")  # an unknown character set, too
    del ds.PatientAge
    ds.StudyDescription = "Caf\xe9 DOE"
    data = bytearray(_dicom_bytes(ds))
    # PatientAge with a wrong VR and a length no US can have: Safe Harbor must read it to cap it, cannot,
    # so it is removed and a reviewer is told which element (by tag only, never by value).
    data += _explicit_element(0x0010, 0x1010, b"US", b"\x01\x02\x03")
    (tmp_path / "off.yaml").write_text("name: off\nextends: hipaa-safe-harbor\nredaction: 'off'\n")
    outcome = process("in-bad", bytes(data), profiles.load_file(tmp_path / "off.yaml"), derive, detector=None)
    assert outcome.status is Status.REVIEW, outcome.reason
    assert "(0010,1010)" in outcome.reason and "DOE" not in outcome.reason
    out = pydicom.dcmread(io.BytesIO(outcome.output_bytes))
    assert "PatientAge" not in out
    assert b"MRN0042424" not in outcome.output_bytes and b"DOE" not in outcome.output_bytes


@pytest.mark.parametrize("name", ["badVR.dcm", "MR_truncated.dcm", "no_meta.dcm"])
def test_pydicom_bad_files_end_with_an_outcome(name: str, basic, derive) -> None:
    from pydicom.data import get_testdata_file

    outcome = process("in-bad", Path(get_testdata_file(name)).read_bytes(), basic, derive, detector=None)
    assert outcome.status in (Status.ERROR, Status.REVIEW, Status.CLEAN)
    assert outcome.error_code != "internal", outcome.reason


# --- JPEG / PNG / NIfTI ---------------------------------------------------------------------------------

def _segment(marker: int, body: bytes) -> bytes:
    return bytes([0xFF, marker]) + struct.pack(">H", len(body) + 2) + body


def test_jpeg_exif_xmp_iptc_and_comments_are_removed_pixels_untouched(derive) -> None:
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (32, 16), (10, 20, 30)).save(buf, format="JPEG")
    plain = buf.getvalue()
    extra = (_segment(0xE1, b"Exif\x00\x00DOE JANE") + _segment(0xE1, b"http://ns.adobe.com/xap/1.0/\x00<x>DOE</x>")
             + _segment(0xED, b"Photoshop 3.0\x008BIM DOE") + _segment(0xFE, b"patient DOE JANE"))
    data = plain[:2] + extra + plain[2:]
    record = scrub(parse("in-j", data, derive), profiles.load("basic"), derive)
    assert b"DOE" not in record.output_bytes
    assert record.output_bytes == plain  # only the metadata segments went; scan bytes are identical


def _chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def test_png_text_and_exif_chunks_are_removed(derive) -> None:
    from PIL import Image

    buf = io.BytesIO()
    Image.new("L", (8, 8), 7).save(buf, format="PNG")
    plain = buf.getvalue()
    extra = (_chunk(b"tEXt", b"Comment\x00DOE JANE") + _chunk(b"zTXt", b"Note\x00\x00" + zlib.compress(b"DOE"))
             + _chunk(b"iTXt", b"Who\x00\x00\x00\x00\x00DOE") + _chunk(b"eXIf", b"MM\x00*DOE"))
    data = plain[:33] + extra + plain[33:]  # after IHDR
    record = scrub(parse("in-p", data, derive), profiles.load("basic"), derive)
    assert b"DOE" not in record.output_bytes and record.output_bytes == plain


def test_nifti_text_fields_and_extensions_are_cleared(derive) -> None:
    import nibabel as nib

    from pixelguard.formats import handler

    image = nib.load(nibabel_data() / "anatomical.nii")
    header = image.header
    header["descrip"], header["aux_file"], header["intent_name"] = b"DOE JANE", b"MRN0042424", b"DOE"
    header["db_name"] = b"DOEJANE"
    header.extensions.append(nib.nifti1.Nifti1Extension(6, b"patient DOE JANE"))
    original_voxels = image.get_fdata().copy()
    record = scrub(parse("in-n", image.to_bytes(), derive), profiles.load("basic"), derive)
    raw = gzip.decompress(handler(record.format).scrubbed_bytes(record))
    assert b"DOE" not in raw and b"MRN0042424" not in raw
    out = nib.Nifti1Image.from_bytes(raw)
    assert (out.get_fdata() == original_voxels).all() and len(out.header.extensions) == 0


def test_clean_graphics_keeps_overlays_for_review_and_basic_removes_them(derive) -> None:
    from pixelguard.core.record import Format, ObjectRecord

    for name, kept in (("basic", False), ("clean-graphics", True)):
        ds = _header()
        ds.add_new(0x60003000, "OW", b"\x01\x00" * 32)  # Overlay Data
        ds.add_new(0x60004000, "LT", "overlay drawn for DOE")  # Overlay Comments
        record = ObjectRecord("in-o", Format.DICOM, b"", 0, header=ds)
        scrub_dataset(ds, profiles.load(name), derive, record)
        assert (0x60003000 in ds) is kept, name
        if kept:
            assert ds[0x60004000].value == "overlay drawn for XXXX"
            assert any("overlay" in f.reason for f in record.findings)  # bitmaps are not OCRed: review
        else:
            assert 0x60004000 not in ds and not record.findings


def test_a_bare_yaml_off_turns_pixel_redaction_off(tmp_path: Path) -> None:
    from pixelguard.core.vocabulary import RedactionMode

    path = tmp_path / "x.yaml"
    path.write_text("name: x\nextends: basic\nredaction: off\n")  # YAML 1.1 reads it as false
    assert profiles.load_file(path).redaction is RedactionMode.OFF


def test_every_action_the_table_resolves_to_is_documented() -> None:
    from pixelguard.core.vocabulary import Action

    used = set(profiles.load("basic").actions.values())
    for name in profiles.available():
        used |= set(profiles.load(name).actions.values())
    assert used <= set(Action)
    assert all(action.meaning for action in Action)
