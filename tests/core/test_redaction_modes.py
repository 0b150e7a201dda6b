"""Redaction modes, verification by reading back, and how redacted pixels are stored."""
from __future__ import annotations

import io

import numpy as np
import pydicom
import pytest
from PIL import Image, ImageDraw, ImageFont

from pixelguard.core.pipeline import RunOptions, process
from pixelguard.core.pixels import dicom_stored_frames, render_dicom
from pixelguard.core.record import Status
from pixelguard.core.redact import _store_pixels
from pixelguard.core.vocabulary import RedactionMode
from pixelguard.samples import FakePatient, burn_text, pydicom_test_files, text_dicom
from pixelguard_testkit.engines import DropsOneCall

PATIENT = FakePatient()


def _us_with_banner_and_marker() -> bytes:
    """A 16-bit frame with the patient banner on top and an innocent orientation label below."""
    ds = pydicom.dcmread(pydicom_test_files() / "CT_small.dcm")
    frame = np.zeros((256, 384), dtype=np.uint16) + 200
    frame = burn_text(frame, PATIENT.banner(), (8, 8), 14, 4000)
    frame = burn_text(frame, "LEFT KIDNEY", (120, 200), 18, 4000)
    ds.Rows, ds.Columns = frame.shape
    ds.PixelData = frame.tobytes()
    ds.PatientName, ds.PatientID, ds.PatientBirthDate = PATIENT.name, PATIENT.patient_id, PATIENT.birth_date
    for keyword in ("WindowCenter", "WindowWidth"):
        if keyword in ds:
            delattr(ds, keyword)
    buf = io.BytesIO()
    ds.save_as(buf, enforce_file_format=True)
    return buf.getvalue()


def _texts(outcome, detector) -> list[str]:
    ds = pydicom.dcmread(io.BytesIO(outcome.output_bytes))
    return [r.text for r in detector.ocr(render_dicom(ds, dicom_stored_frames(ds)))[0]]


def test_phi_mode_removes_the_banner_and_keeps_the_label(basic, derive, detector) -> None:
    options = RunOptions(redaction=RedactionMode.PHI)
    outcome = process("in-phi", _us_with_banner_and_marker(), basic, derive, detector, options)
    assert outcome.status is Status.CLEAN, outcome.reason
    remaining = " ".join(_texts(outcome, detector))
    assert "KIDNEY" in remaining.replace(" ", "")
    for value in ("MRN", "0042424", "DOE", "19610203"):
        assert value not in remaining


def test_phi_matching_allows_for_letters_misread_in_small_type() -> None:
    # Seen in bench/phi_mode.py: "ROSSI, MARCO" at 10 px read as "COSSI MAKC"; an exact match left it in place.
    from pixelguard.core import phi

    ds = pydicom.Dataset()
    ds.PatientName, ds.PatientID, ds.PatientBirthDate = "ROSSI^MARCO", "2072440", "20120607"
    terms = phi.header_terms(ds)
    for misread in ("COSSI MAKC", "R0SS1, MARC0", "2O72441", "ROSSIMARLO"):
        assert phi.matches(misread, terms), misread
    # Two misreads in seven letters, both of characters small type renders alike (bench/phi_mode.py object 8,
    # "DOE. JANE" at 11 px): one edit per four characters alone would let it stand.
    ds.PatientName = "DOE^JANE"
    doe = phi.header_terms(ds)
    assert phi.matches("DOF. JANF", doe) and not phi.matches("DOG. JANK", doe)
    # What a reader needs stays: labels near no PHI value are not taken for one.
    for label in ("HEAD FIRST", "W 400 L 40", "GE LOGIQ E9", "SIEMENS ACUSON", "DEPTH 16 cm", "kV 120", "SUPINE",
                  "L12-5", "5 cm"):
        assert not phi.matches(label, terms), label


def test_all_mode_removes_every_text(basic, derive, detector) -> None:
    options = RunOptions(redaction=RedactionMode.ALL)
    outcome = process("in-all", _us_with_banner_and_marker(), basic, derive, detector, options)
    assert outcome.status is Status.CLEAN, outcome.reason
    assert _texts(outcome, detector) == []


def test_off_mode_leaves_pixels_and_sends_to_review(basic, derive, detector) -> None:
    data = _us_with_banner_and_marker()
    outcome = process("in-off", data, basic, derive, detector, RunOptions(redaction=RedactionMode.OFF))
    assert outcome.status is Status.REVIEW and "redaction is off" in outcome.reason


def test_unreadable_text_goes_to_review(basic, derive, detector) -> None:
    """Blurred, noisy text: found, but neither detected nor read with confidence, so never clean."""
    from PIL import ImageFilter

    image = Image.new("L", (512, 128), 10)
    ImageDraw.Draw(image).text((20, 40), "JOHN DOE 19610203", fill=240, font=ImageFont.load_default(size=24))
    noisy = np.asarray(image.filter(ImageFilter.GaussianBlur(2.8)), float)
    rng = np.random.default_rng(0)
    rng.normal(0, 1, noisy.shape)  # the second draw of this seed is the noise this case was tuned on
    noisy += rng.normal(0, 25, noisy.shape)
    buf = io.BytesIO()
    Image.fromarray(noisy.clip(0, 255).astype(np.uint8)).save(buf, format="PNG")
    outcome = process("in-faint", buf.getvalue(), basic, derive, detector)
    assert outcome.status is Status.REVIEW, (outcome.status, outcome.confidence, outcome.reason)
    assert "confidence" in outcome.reason


def test_htj2k_output_is_lossless(basic, derive, detector) -> None:
    outcome = process("in-ht", text_dicom(PATIENT, "1.2.840.10008.1.2.5"), basic, derive, detector,
                      RunOptions(encoding="htj2k"))
    assert outcome.status is not Status.ERROR, outcome.reason
    ds = pydicom.dcmread(io.BytesIO(outcome.output_bytes))
    assert ds.file_meta.TransferSyntaxUID == "1.2.840.10008.1.2.4.201"
    plain = process("in-rle", text_dicom(PATIENT, "1.2.840.10008.1.2.5"), basic, derive, detector)
    assert np.array_equal(ds.pixel_array, pydicom.dcmread(io.BytesIO(plain.output_bytes)).pixel_array)


def test_native_ybr_full_keeps_its_photometric_interpretation() -> None:
    from pydicom.data import get_testdata_file

    ds = pydicom.dcmread(get_testdata_file("SC_ybr_full_uncompressed.dcm"))
    stored = dicom_stored_frames(ds)
    stored[0, :10, :10] = 0
    _store_pixels(ds, stored)
    out = pydicom.dcmread(io.BytesIO(_bytes(ds)))
    assert out.PhotometricInterpretation == "YBR_FULL"
    assert np.abs(out.pixel_array.astype(int) - stored[0].astype(int)).max() <= 1  # YCbCr rounding only


def _bytes(ds) -> bytes:
    buf = io.BytesIO()
    ds.save_as(buf, enforce_file_format=True)
    return buf.getvalue()


@pytest.mark.parametrize("name", ["MR_small_jp2klossless.dcm", "MR_small_RLE.dcm", "MR_small_jpeg_ls_lossless.dcm",
                                  "SC_rgb_rle.dcm"])
def test_lossless_inputs_keep_their_transfer_syntax_exactly(name) -> None:
    from pydicom.data import get_testdata_file

    ds = pydicom.dcmread(get_testdata_file(name))
    original_ts = ds.file_meta.TransferSyntaxUID
    frames = dicom_stored_frames(ds)
    frames[:, :8, :8] = 0  # a filled region
    _store_pixels(ds, frames)
    assert ds.file_meta.TransferSyntaxUID == original_ts
    out = pydicom.dcmread(io.BytesIO(_bytes(ds)))
    assert np.array_equal(out.pixel_array, frames[0] if len(frames) == 1 else frames)


def test_lossy_jpeg2000_is_stored_as_lossless_jpeg2000() -> None:
    from pydicom.data import get_testdata_file

    ds = pydicom.dcmread(get_testdata_file("JPEG2000.dcm"))
    frames = dicom_stored_frames(ds)
    frames[:, :8, :8] = 0
    _store_pixels(ds, frames)
    assert ds.file_meta.TransferSyntaxUID == "1.2.840.10008.1.2.4.90"
    assert np.array_equal(pydicom.dcmread(io.BytesIO(_bytes(ds))).pixel_array, frames[0])


def test_pixel_rules_fill_known_banners_on_every_frame(basic, derive, detector, tmp_path) -> None:
    from pixelguard.core import pixel_rules
    from pixelguard.core.profile import ProfileError

    rules = pixel_rules.load_rules()
    assert {r.when[0] for r in rules} == {("Modality", "US")}
    ds = pydicom.dcmread(pydicom_test_files() / "CT_small.dcm")
    ds.Modality, ds.Manufacturer, ds.ManufacturerModelName = "US", "SIEMENS", "S2000"
    assert pixel_rules.boxes_for(ds) == []  # 128x128 is not the rule's 1024x768
    ds.Rows, ds.Columns = 768, 1024
    assert pixel_rules.boxes_for(ds) == [(0, 0, 1024, 60)]

    bad = tmp_path / "rules.yaml"
    bad.write_text("rules:\n  - when: {Modallity: US}\n    boxes: [[0, 0, 10, 10]]\n")
    with pytest.raises(ProfileError, match="unknown DICOM keyword 'Modallity'"):
        pixel_rules.load_rules(bad)
    bad.write_text("rules:\n  - when: {Modality: US}\n    boxes: [[10, 0, 5, 10]]\n")
    with pytest.raises(ProfileError, match="x0 < x1"):
        pixel_rules.load_rules(bad)


def test_a_rule_box_is_filled_even_where_ocr_sees_nothing(basic, derive, detector) -> None:
    from pathlib import Path

    import deid_data

    source = Path(deid_data.__file__).parent / "data" / "ultrasounds" / "RGB_IMAGE.dcm"
    outcome = process("in-rule", source.read_bytes(), basic, derive, detector)
    out = pydicom.dcmread(io.BytesIO(outcome.output_bytes))
    assert outcome.stats["rule_boxes"] == 1
    assert out.pixel_array[:60].max() == 0


def test_large_regions_are_filled_only_when_they_look_or_read_like_text() -> None:
    from pixelguard.core.regions import Region
    from pixelguard.core.textsearch import RedactionSettings, _split_doubtful

    def box(w: float, h: float, score: float, text: str = "", text_score: float = 0.0) -> Region:
        return Region(((0, 0), (w, 0), (w, h), (0, h)), score, text, text_score)

    settings = RedactionSettings()  # 512 px frame: "large" means a short side over ~61 px
    small = box(40, 12, 0.5)
    blob_weak = box(90, 80, 0.6)  # speckle outlined as text, unreadable, weak: anatomy, left alone
    blob_sure = box(90, 80, 0.9)  # unreadable but the detector is sure: left for a reviewer
    blob_read = box(90, 80, 0.6, "R L", 0.95)  # big orientation markers, read with confidence: filled
    line = box(400, 70, 0.5, "", 0.1)  # a blurred line of text: elongated, so filled
    huge = box(400, 200, 0.7, "Val", 0.95)  # a third of the frame: never text, whatever it reads as
    doppler = box(440, 100, 0.6, "州书", 0.1)  # a colour box: elongated but far taller than type
    # Under the large-region size but compact: colour-Doppler flow or a vessel outlined as "text".
    flow = box(60, 54, 0.82, "m", 0.32)
    flow_wide = box(150, 56, 0.6, "m.", 0.29)  # 2.7:1, still shorter than a line of 56 px tall text
    label = box(30, 28, 0.7)  # one 20 px character ("R"): too small to be a blob, filled unread
    short_id = box(56, 50, 0.8, "24", 0.96)  # two 40 px digits: compact, but it reads
    kept, doubtful = _split_doubtful([[small, blob_weak, blob_sure, blob_read, line, huge, doppler, flow, flow_wide,
                                       label, short_id]], 512, 512, settings)
    assert kept == [[small, blob_read, line, label, short_id]]
    assert doubtful == 2  # blob_sure and the flow: the detector was sure, so a reviewer looks


class _CountingDetector:
    """Finds one text line around the frame's bright pixels (> 128); counts the model runs and frames seen."""

    def __init__(self) -> None:
        self.runs: list[str] = []
        self.shapes: list[tuple[int, ...]] = []
        self.as_is: list[bool] = []

    def detect(self, frames: list[np.ndarray], as_is: bool = False) -> list[list]:
        from pixelguard.core.regions import Region

        self.runs.append("detect")
        self.shapes += [f.shape for f in frames]
        self.as_is += [as_is] * len(frames)
        out = []
        for frame in frames:
            ys, xs = np.nonzero(frame[..., 0] > 128)
            if len(ys) == 0:
                out.append([])
                continue
            x0, y0, x1, y1 = xs.min() - 1, ys.min() - 1, xs.max() + 2, ys.max() + 2
            out.append([Region(((x0, y0), (x1, y0), (x1, y1), (x0, y1)), 0.9)])
        return out

    def read(self, frames: list[np.ndarray], found: list[list]) -> list[list]:
        self.runs.append("read")
        return [list(regions) for regions in found]

    def ocr(self, frames: list[np.ndarray], as_is: bool = False) -> list[list]:
        found = self.detect(frames, as_is)
        self.runs[-1] = "ocr"
        return found


@pytest.mark.parametrize("with_text, runs", [(False, ["detect"]), (True, ["detect", "detect", "detect"])])
def test_one_search_then_looks_only_around_what_it_found(with_text, runs) -> None:
    """Detect-first: one detection pass over the frames, no reading of a sure region; small type is searched
    again at 2x only around where it was found, and the verification looks only around the fills: both on
    canvases of the detector's size, never the frames again."""
    from pixelguard.core import mosaic
    from pixelguard.core.textsearch import RedactionSettings, detect_and_fill

    stored = np.full((3, 512, 640), 40, dtype=np.uint8)
    if with_text:
        stored[:, 13:17, 14:76] = 250
    detector = _CountingDetector()
    changed, problems, _ = detect_and_fill(stored, lambda a: [np.dstack([f] * 3) for f in a], detector,
                                           RedactionSettings(), 0)
    assert detector.runs == runs
    assert detector.shapes[:3] == [(512, 640, 3)] * 3 and detector.as_is[:3] == [False] * 3
    canvases = detector.shapes[3:]
    # Cut to what they hold (three neighbourhoods side by side, and a gap's black margin; sides on the ladder
    # mosaic.SIDES), and searched as they are: the detector would otherwise enlarge them to its working side,
    # another scale than their frames'.
    side = RedactionSettings().detector_short_side
    assert all(s[0] in mosaic.SIDES and s[1] in mosaic.SIDES and s[0] * s[1] < side * side // 4
               for s in canvases), canvases
    assert detector.as_is[3:] == [True] * len(canvases)
    assert len(canvases) == (2 if with_text else 0)
    assert changed is with_text and problems == []
    assert stored[:, 13:17, 14:76].max() < 250 if with_text else stored.min() == 40


def test_text_left_after_the_last_pass_is_found_by_verification() -> None:
    from pixelguard.core.textsearch import RedactionSettings, detect_and_fill

    stored = np.full((1, 64, 96), 40, dtype=np.uint8)
    stored[0, 13:17, 14:76] = 250
    detector = _CountingDetector()
    changed, problems, _ = detect_and_fill(stored, lambda a: [np.dstack([f] * 3) for f in a], detector,
                                           RedactionSettings(passes=1), 255)  # a fill the detector still sees
    assert detector.runs == ["detect", "detect"]
    assert problems == ["text still detected after 1 redaction passes"]


def test_an_object_whose_verification_cannot_run_goes_to_review(basic, derive, detector) -> None:
    """Every engine call after the first fill (the look around the fills, the PHI sweep) is verification:
    when any one of them cannot run, the object is held for review, saying so, never released clean."""
    data = _us_with_banner_and_marker()
    healthy_engine = DropsOneCall(detector, 0)
    healthy = process("in-ok", data, basic, derive, healthy_engine)
    assert healthy.status is Status.CLEAN and healthy.stats["pixels"] == "verified", healthy.reason
    assert healthy_engine.calls >= 2  # a search, then a look at what it filled
    for fail_at in range(2, healthy_engine.calls + 1):
        outcome = process("in-lost", data, basic, derive, DropsOneCall(detector, fail_at))
        assert outcome.status is Status.REVIEW, (fail_at, outcome.reason)
        assert "unverified: the text engine failed during" in outcome.reason, fail_at
        assert outcome.reason.endswith("; retry or review"), fail_at
        assert outcome.output_bytes, fail_at  # the reviewer gets the object as far as it was redacted
        assert outcome.stats["pixels"] == "unverified" or outcome.stats["sweep"] == "unverified", fail_at
    # The search itself (nothing filled yet, nothing to review) failing stays an error.
    lost_first = process("in-down", data, basic, derive, DropsOneCall(detector, 1))
    assert lost_first.status is Status.ERROR and not lost_first.output_bytes


def test_an_object_whose_phi_sweep_cannot_run_goes_to_review(basic, derive, detector) -> None:
    """The sweep reads the finished output again (here the search's memory cannot answer for it): when the
    engine is gone by then, the written output is held for review as unverified."""
    from inference.base import EngineUnavailable
    from pixelguard.core.limits import Deadline
    from pixelguard.core.parse import parse
    from pixelguard.core.pipeline import release_check
    from pixelguard.core.sweep import terms_of

    class Gone:
        def ocr(self, frames):
            raise EngineUnavailable("Triton did not answer")

    data = text_dicom(PATIENT)
    record = parse("in-sweep", data, derive)
    terms = terms_of(record, basic)
    record.output_bytes = data
    release_check(record, terms, Gone(), Deadline(60))
    assert record.stats["sweep"] == "unverified"
    assert [(f.stage, f.reason) for f in record.findings] == [
        ("sweep", "unverified: the text engine failed during the PHI sweep; retry or review")]
