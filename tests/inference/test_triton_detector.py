"""The Triton text detector against the real server: same regions as the in-process engine, clear failure."""
from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest

from inference import dbnet
from inference.base import EngineUnavailable
from inference.local_engine import LocalDetector
from inference.triton_client import TritonDetector
from pixelguard.core.pixels import decode_image, dicom_stored_frames, render_dicom
from pixelguard.samples import FakePatient, text_dicom, text_jpeg, text_png
from pixelguard.services.base import free_port


@pytest.fixture(scope="module")
def remote(triton) -> TritonDetector:
    detector = TritonDetector(triton.grpc_url)
    yield detector
    detector.close()


def _frames() -> list[np.ndarray]:
    import pydicom

    patient = FakePatient()
    png, _ = decode_image(text_png(patient))
    jpg, _ = decode_image(text_jpeg(patient))
    ds = pydicom.dcmread(io.BytesIO(text_dicom(patient)))
    ct = render_dicom(ds, dicom_stored_frames(ds))[0]
    return [np.repeat(png[..., None], 3, axis=2), jpg, ct, np.zeros((64, 96, 3), np.uint8)]


def test_triton_and_in_process_engine_find_the_same_regions(remote: TritonDetector) -> None:
    frames = _frames()
    local = LocalDetector().detect(frames)
    served = remote.detect(frames)
    assert [len(r) for r in served] == [len(r) for r in local]
    assert sum(len(r) for r in served) >= 3  # every text image has its banner found
    assert served[-1] == []  # a blank frame has no text
    for mine, theirs in zip(local, served, strict=True):
        for a, b in zip(sorted(mine, key=lambda r: r.quad), sorted(theirs, key=lambda r: r.quad), strict=True):
            assert np.allclose(np.asarray(a.quad), np.asarray(b.quad), atol=1.0)
            assert abs(a.score - b.score) < 0.01


def test_canvases_searched_as_they_are_give_the_same_regions_on_both_engines(remote: TritonDetector) -> None:
    """The text search's verification canvases are searched at their own scale (AS_IS), through the detector
    and through the ensemble alike; enlarged to the working side, a 10 px line would be found at 5x."""
    frames = [np.ascontiguousarray(f[:96, :320]) for f in _frames()[:3]]
    local = LocalDetector()
    for mine, theirs in ((local.detect(frames, as_is=True), remote.detect(frames, as_is=True)),
                         (local.ocr(frames, as_is=True), remote.ocr(frames, as_is=True))):
        assert [[(np.round(r.quad, 1).tolist(), r.text) for r in f] for f in theirs] == \
            [[(np.round(r.quad, 1).tolist(), r.text) for r in f] for f in mine]
    as_is, enlarged = local.detect(frames, as_is=True), local.detect(frames)
    assert sum(map(len, as_is)) >= 1 and as_is != enlarged


def test_a_batch_of_same_size_frames_comes_back_in_order(remote: TritonDetector) -> None:
    frames = _frames()[:2]
    text, blank = frames[0], np.zeros_like(frames[0])
    batch = [text, blank, text, blank, text, blank, text, blank, text]  # 9 > max_batch: two requests
    found = remote.detect(batch)
    assert [bool(r) for r in found] == [True, False] * 4 + [True]


def test_server_down_raises_engine_unavailable() -> None:
    detector = TritonDetector(f"127.0.0.1:{free_port()}", retries=1, backoff_s=0.01, timeout_s=2)
    with pytest.raises(EngineUnavailable) as info:
        detector.detect([np.zeros((32, 32, 3), np.uint8)])
    assert "did not answer" in str(info.value)


def test_ocr_ensemble_reads_like_the_in_process_engine(remote: TritonDetector) -> None:
    """Detector -> angle classifier -> recogniser -> Tesseract, all served by Triton (BLS ensemble)."""
    from pixelguard.core.phi import header_terms, matches

    frames = _frames()[:3]
    served = remote.ocr(frames)
    local = LocalDetector().ocr(frames)
    assert [[r.text for r in f] for f in served] == [[r.text for r in f] for f in local]
    import pydicom

    ds = pydicom.dcmread(io.BytesIO(text_dicom(FakePatient())))
    terms = header_terms(ds)
    for frame_regions in served:  # every rendering carries the fake patient's banner, read back
        assert any(matches(r.text, terms) for r in frame_regions), [r.text for r in frame_regions]


def test_multiframe_ultrasound_is_redacted_on_every_frame_through_triton(remote: TritonDetector, tmp_path) -> None:
    import pydicom
    from pydicom.data import get_testdata_file

    from pixelguard.core import profile
    from pixelguard.core.keys import Derivations
    from pixelguard.core.pipeline import process
    from pixelguard.core.record import Status
    from pixelguard.keyservice.local import LocalKeyService

    source = get_testdata_file("examples_ybr_color.dcm")  # 30-frame cine, labels burned into every frame
    before = pydicom.dcmread(source)
    frames_before = render_dicom(before, dicom_stored_frames(before))
    assert all(remote.detect(frames_before)), "every frame carries burned-in text to begin with"

    derive = Derivations(LocalKeyService.open(tmp_path / "key.json").hmac)
    outcome = process("in-us", Path(source).read_bytes(), profile.load("basic"), derive, remote)
    assert outcome.status is not Status.ERROR, outcome.reason
    after = pydicom.dcmread(io.BytesIO(outcome.output_bytes))
    assert int(after.NumberOfFrames) == 30 and (after.Rows, after.Columns) == (before.Rows, before.Columns)
    frames_after = render_dicom(after, dicom_stored_frames(after))
    found_before = remote.detect(frames_before)
    sure = dbnet.DetectorSettings().box_thresh  # weaker outlines are hints, never filled (see dbnet)
    for index, regions in enumerate(found_before):  # every label's strokes are black, in every frame
        for region in (r for r in regions if r.score >= sure):
            x0, y0, x1, y1 = region.cover(before.Columns, before.Rows, margin=0, min_margin=0, end_margin=0)
            lum = frames_before[index][y0:y1, x0:x1].max(axis=2)
            strokes = lum >= 0.8 * lum.max()  # the labels are the brightest thing in their boxes
            assert frames_after[index][y0:y1, x0:x1].max(axis=2)[strokes].max() == 0, (index, region.quad)
    # The anatomy is not blacked out: the sector keeps most of its signal.
    sector = (slice(60, 200), slice(100, 220))
    assert frames_after[0][sector].mean() > 0.8 * frames_before[0][sector].mean()
    assert outcome.stats["text_regions"] >= 30


def test_region_reader_reads_given_regions_like_the_in_process_engine(remote: TritonDetector) -> None:
    """Detect-first reads only some regions: Triton's region_reader gives the in-process reading for them."""
    frames = _frames()[:3]
    local = LocalDetector()
    found = local.detect(frames)
    picked = [regions[::2] for regions in found]  # some regions of each frame, as the redact stage picks them
    served = remote.read(frames, picked)
    mine = local.read(frames, picked)
    assert [[(r.quad, r.text) for r in f] for f in served] == [[(r.quad, r.text) for r in f] for f in mine]
    assert sum("0042424" in r.text for f in served for r in f) >= 2  # the banners read back


def test_redaction_through_triton_fills_the_same_pixels_as_in_process(remote: TritonDetector, tmp_path) -> None:
    """The whole text search (detect, read where needed, fill, look around) on both engines: same output."""
    import pydicom

    from pixelguard.core import profile
    from pixelguard.core.keys import Derivations
    from pixelguard.core.pipeline import process
    from pixelguard.keyservice.local import LocalKeyService

    derive = Derivations(LocalKeyService.open(tmp_path / "key.json").hmac)
    data = text_dicom(FakePatient())
    served = process("in-ct", data, profile.load("basic"), derive, remote)
    local = process("in-ct", data, profile.load("basic"), derive, LocalDetector())
    assert (served.status, served.reason, served.stats["text_regions"]) == (local.status, local.reason,
                                                                             local.stats["text_regions"])
    assert local.stats["text_regions"] >= 1
    pixels = [pydicom.dcmread(io.BytesIO(o.output_bytes)).pixel_array for o in (served, local)]
    assert np.array_equal(pixels[0], pixels[1])
