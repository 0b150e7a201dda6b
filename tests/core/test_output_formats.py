"""Per-job output formats (core/export.py): HTJ2K lossless, PNG/JPEG exports, and what is refused.

Real files from pydicom's test set cover the transfer syntaxes, multi-frame, MONOCHROME1, RGB and 16-bit;
the pipeline tests run the real OCR engine, so the PHI sweep that clears an export is the real one.
"""
from __future__ import annotations

import io
import zipfile

import numpy as np
import pydicom
import pytest
from PIL import Image
from pydicom.data import get_testdata_file

from pixelguard.core.export import (
    HTJ2K_LOSSLESS,
    OutputFormat,
    check_export,
    encode_htj2k,
    export_frames,
    pack_frames,
    sweep_final,
)
from pixelguard.core.integrity import PixelShape
from pixelguard.core.pipeline import RunOptions, process
from pixelguard.core.pixels import dicom_stored_frames
from pixelguard.core.record import Format, StageError, Status
from pixelguard.core.redact import write_dicom
from pixelguard.core.sweep_rules import SweepTerms
from pixelguard.formats import handler
from pixelguard.samples import FakePatient, pydicom_test_files, text_dicom, text_nifti, text_png

PATIENT = FakePatient()
# (file, what it covers): 16-bit signed CT, JPEG 2000 RGB, 2-frame RGB RLE, 10-frame 16-bit JPEG-LS,
# MONOCHROME1 16-bit JPEG 2000, 2-frame 16-bit RGB, YBR JPEG baseline, big endian (its values decode to
# big-endian arrays: HTJ2K once encoded their bytes swapped, which the lossless compare refused).
REAL = ["CT_small.dcm", "US1_J2KR.dcm", "SC_rgb_rle_2frame.dcm", "emri_small_jpeg_ls_lossless.dcm",
        "RG3_J2KR.dcm", "SC_rgb_16bit_2frame.dcm", "SC_rgb_jpeg_gdcm.dcm", "MR_small_expb.dcm"]


def _read(name: str) -> pydicom.Dataset:
    return pydicom.dcmread(get_testdata_file(name))


@pytest.mark.parametrize("name", REAL)
def test_htj2k_decodes_to_exactly_the_stored_values(name: str) -> None:
    ds = _read(name)
    before = dicom_stored_frames(ds)
    back = pydicom.dcmread(io.BytesIO(write_dicom(encode_htj2k(ds))))
    assert back.file_meta.TransferSyntaxUID == HTJ2K_LOSSLESS
    assert np.array_equal(dicom_stored_frames(back), before)


def test_htj2k_refuses_32_bit_data_and_says_what_to_run() -> None:
    with pytest.raises(StageError) as exc:
        encode_htj2k(_read("rtdose.dcm"))
    assert exc.value.code == "encode" and "--output-format original" in exc.value.reason


def test_the_htj2k_job_output_holds_the_redacted_pixels_exactly(basic, derive, detector) -> None:
    data = text_dicom(PATIENT, "1.2.840.10008.1.2.5")  # RLE, the banner burned in
    ht = process("in-ht", data, basic, derive, detector, RunOptions(output_format=OutputFormat.HTJ2K))
    plain = process("in-plain", data, basic, derive, detector)
    assert ht.status is not Status.ERROR, ht.reason
    out = pydicom.dcmread(io.BytesIO(ht.output_bytes))
    assert out.file_meta.TransferSyntaxUID == HTJ2K_LOSSLESS and ht.extension == ".dcm"
    redacted = pydicom.dcmread(io.BytesIO(plain.output_bytes)).pixel_array
    assert np.array_equal(out.pixel_array, redacted)
    assert not np.array_equal(redacted, pydicom.dcmread(io.BytesIO(data)).pixel_array)  # text was filled


def test_an_unredacted_object_is_re_encoded_too(basic, derive, detector) -> None:
    data = get_testdata_file("MR_small.dcm", read=False)
    with open(str(data), "rb") as handle:
        raw = handle.read()
    outcome = process("in-mr", raw, basic, derive, detector, RunOptions(output_format="htj2k"))
    assert outcome.status is not Status.ERROR, outcome.reason
    out = pydicom.dcmread(io.BytesIO(outcome.output_bytes))
    assert out.file_meta.TransferSyntaxUID == HTJ2K_LOSSLESS
    assert np.array_equal(out.pixel_array, pydicom.dcmread(io.BytesIO(raw)).pixel_array)


@pytest.mark.parametrize("fmt", [OutputFormat.PNG, OutputFormat.JPEG])
@pytest.mark.parametrize("name", REAL)
def test_exports_are_one_bare_image_per_frame(name: str, fmt: OutputFormat) -> None:
    ds = _read(name)
    frames = int(ds.get("NumberOfFrames", 1) or 1)
    images = export_frames(ds, fmt)
    assert len(images) == frames
    colour = int(ds.SamplesPerPixel) == 3
    for data in images:
        with Image.open(io.BytesIO(data)) as image:
            assert image.format == fmt.image_format.name
            assert image.size == (ds.Columns, ds.Rows)
            assert image.mode == ("RGB" if colour else "L")
            assert not image.info.get("exif") and not image.getexif()
            assert not {k for k in image.info if k not in ("jfif", "jfif_version", "jfif_unit", "jfif_density",
                                                            "dpi")}, image.info
        assert list(handler(fmt.image_format).metadata_texts(data)) == []


def test_monochrome1_exports_as_it_is_shown_inverted() -> None:
    ds = _read("RG3_J2KR.dcm")
    stored = dicom_stored_frames(ds)[0]
    grey = np.asarray(Image.open(io.BytesIO(export_frames(ds, "png")[0])))
    # MONOCHROME1: the highest stored value is black on screen, the lowest white.
    assert grey[stored == stored.max()].mean() < 10 and grey[stored == stored.min()].mean() > 245


def test_a_window_in_the_header_is_the_one_exported() -> None:
    ds = _read("CT_small.dcm")
    full = np.asarray(Image.open(io.BytesIO(export_frames(ds, "png")[0])))
    ds.WindowCenter, ds.WindowWidth = 40, 400  # a soft-tissue window, in Hounsfield units
    windowed = np.asarray(Image.open(io.BytesIO(export_frames(ds, "png")[0])))
    hu = dicom_stored_frames(ds)[0] * float(ds.RescaleSlope) + float(ds.RescaleIntercept)
    assert (windowed[hu > 260] == 255).all() and (windowed[hu < -180] == 0).all()
    assert not np.array_equal(windowed, full)  # without a window: the full range, nothing saturated
    assert (full[hu > 260] < 255).any()


def test_a_png_job_writes_pixels_only_and_its_sweep_reads_them(basic, derive, detector) -> None:
    outcome = process("in-png", text_dicom(PATIENT), basic, derive, detector, RunOptions(output_format="png"))
    assert outcome.status is not Status.ERROR, outcome.reason
    assert outcome.extension == ".png" and outcome.output_bytes.startswith(b"\x89PNG")
    assert outcome.stats["sweep_hits"] == 0 and outcome.stats["exported_frames"] == 1
    text = " ".join(r.text for r in detector.ocr([np.asarray(Image.open(io.BytesIO(outcome.output_bytes))
                                                               .convert("RGB"))])[0])
    assert PATIENT.name.split("^")[0] not in text and PATIENT.patient_id not in text
    for value in (PATIENT.name, PATIENT.patient_id, PATIENT.birth_date, "CT_small"):
        assert value.encode() not in outcome.output_bytes


def test_a_multi_frame_export_is_one_zip_of_frames(basic, derive, detector) -> None:
    with open(str(get_testdata_file("SC_rgb_rle_2frame.dcm")), "rb") as handle:
        raw = handle.read()
    outcome = process("in-mf", raw, basic, derive, detector, RunOptions(output_format="jpeg"))
    assert outcome.status is not Status.ERROR, outcome.reason
    assert outcome.extension == ".zip"
    with zipfile.ZipFile(io.BytesIO(outcome.output_bytes)) as archive:
        assert archive.namelist() == ["frame-0001.jpg", "frame-0002.jpg"]
        assert {i.date_time for i in archive.infolist()} == {(1980, 1, 1, 0, 0, 0)} and not archive.comment


def test_the_sweep_of_an_export_finds_text_someone_added_to_it() -> None:
    ds = _read("CT_small.dcm")
    image = Image.open(io.BytesIO(export_frames(ds, "png")[0]))
    from PIL.PngImagePlugin import PngInfo

    info = PngInfo()
    info.add_text("Comment", f"patient {PATIENT.name}")
    tampered = io.BytesIO()
    image.save(tampered, format="PNG", pnginfo=info)
    terms = SweepTerms({PATIENT.name: "PatientName"})
    hits = sweep_final(Format.DICOM, OutputFormat.PNG, tampered.getvalue(), terms, None)
    assert hits and PATIENT.name not in " ".join(h.kind for h in hits)


def test_an_export_that_is_not_what_we_wrote_fails_its_re_read() -> None:
    images = export_frames(_read("SC_rgb_rle_2frame.dcm"), "png")
    shape = PixelShape(2, 480, 640, 0)
    ds = _read("SC_rgb_rle_2frame.dcm")
    good = PixelShape(2, ds.Rows, ds.Columns, 0)
    check_export(pack_frames(images, OutputFormat.PNG), OutputFormat.PNG, good)
    with pytest.raises(StageError, match="integrity"):
        check_export(pack_frames(images, OutputFormat.PNG), OutputFormat.PNG, shape)  # other geometry
    with pytest.raises(StageError, match="integrity"):
        check_export(pack_frames(images[:1] * 3, OutputFormat.PNG), OutputFormat.PNG, good)  # 3 frames of 2
    with pytest.raises(StageError, match="integrity"):
        check_export(images[0][:200], OutputFormat.PNG, PixelShape(1, ds.Rows, ds.Columns, 0))  # truncated
    with pytest.raises(StageError, match="integrity"):
        check_export(images[0], OutputFormat.JPEG, PixelShape(1, ds.Rows, ds.Columns, 0))  # wrong format


@pytest.mark.parametrize("fmt", ["htj2k", "png", "jpeg"])
def test_a_nifti_input_is_refused_before_any_work(basic, derive, detector, fmt: str) -> None:
    outcome = process("in-nii", text_nifti(PATIENT), basic, derive, detector, RunOptions(output_format=fmt))
    assert outcome.status is Status.ERROR and outcome.error_code == "unsupported-output"
    assert "NIFTI stays NIFTI" in outcome.reason and "--output-format original" in outcome.reason
    assert not outcome.output_bytes and not outcome.output_id  # refused at parse: nothing scrubbed or written


def test_png_and_jpeg_inputs_stay_as_they_are(basic, derive, detector) -> None:
    outcome = process("in-rasters", text_png(PATIENT), basic, derive, detector, RunOptions(output_format="jpeg"))
    assert outcome.status is not Status.ERROR, outcome.reason
    assert outcome.extension == ".png" and outcome.output_bytes.startswith(b"\x89PNG")
    refused = process("in-raster-ht", text_png(PATIENT), basic, derive, detector, RunOptions(output_format="htj2k"))
    assert refused.error_code == "unsupported-output" and "PNG stays PNG" in refused.reason


@pytest.mark.parametrize("bad", ["tiff", "j2k", "png8", "dicom", "", " "])
def test_an_unknown_output_format_names_the_choices(bad: str) -> None:
    with pytest.raises(ValueError, match="choose one of original, htj2k, png, jpeg"):
        RunOptions(output_format=bad)


def test_an_output_format_is_read_whatever_its_case() -> None:
    assert RunOptions(output_format=" HTJ2K ").output_format is OutputFormat.HTJ2K


def test_an_export_of_an_object_without_pixels_is_an_error_saying_what_to_run(basic, derive, detector) -> None:
    buf = io.BytesIO((pydicom_test_files() / "rtplan.dcm").read_bytes())  # an RT plan: no image at all
    outcome = process("in-nopix", buf.getvalue(), basic, derive, detector, RunOptions(output_format="png"))
    assert outcome.status is Status.ERROR and outcome.error_code == "unsupported-output"
    assert "no pixel data" in outcome.reason and "--output-format original" in outcome.reason
    ht = process("in-nopix-ht", buf.getvalue(), basic, derive, detector, RunOptions(output_format="htj2k"))
    assert ht.status is not Status.ERROR, ht.reason  # nothing to re-encode: written as it is


@pytest.mark.parametrize("cut", [0, 200, 3000])
def test_broken_inputs_end_in_their_own_error_whatever_the_output_format(cut: int, basic, derive, detector) -> None:
    data = text_dicom(PATIENT, "1.2.840.10008.1.2.5")[:cut]
    for fmt in ("htj2k", "png"):
        outcome = process("in-cut", data, basic, derive, detector, RunOptions(output_format=fmt))
        assert outcome.status is Status.ERROR and outcome.error_code in ("empty", "truncated", "unknown-format",
                                                                         "corrupt"), outcome.reason
