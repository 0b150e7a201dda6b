"""The Triton text detector against the real server: same regions as the in-process engine, clear failure."""
from __future__ import annotations

import io

import numpy as np
import pytest

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
