"""The detector's input: what the text search assumes about it, and the tensor it is fed."""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from inference import dbnet, models
from pixelguard.core.textsearch import RedactionSettings


def test_the_search_scales_are_the_detectors_own() -> None:
    # The text search (pure core) computes where small type lands on the detector's input from these two
    # sides; if they drift apart it enlarges for small type at the wrong scale and packs verification
    # canvases the detector then resizes.
    search, detector = RedactionSettings(), dbnet.DetectorSettings()
    assert (search.detector_short_side, search.detector_long_side) == (detector.limit_side_len,
                                                                        detector.max_side_len)


def _plain(frame: np.ndarray, settings: dbnet.DetectorSettings) -> np.ndarray:
    """PP-OCR's published pre-processing, written out: resize, (x / 255 - mean) / std, HWC -> NCHW."""
    h, w = frame.shape[:2]
    ratio = settings.limit_side_len / min(h, w) if min(h, w) < settings.limit_side_len else 1.0
    if max(h, w) * ratio > settings.max_side_len:
        ratio = settings.max_side_len / max(h, w)
    size = (max(32, int(round(w * ratio / 32)) * 32), max(32, int(round(h * ratio / 32)) * 32))
    resized = cv2.resize(frame, size)
    norm = models.detector(settings.model).normalisation
    resized = resized[:, :, ::-1] if norm.bgr else resized
    mean, std = np.asarray(norm.mean, np.float32), np.asarray(norm.std, np.float32)
    return ((resized.astype(np.float32) / 255.0 - mean) / std).transpose(2, 0, 1)[np.newaxis]


@pytest.mark.parametrize("model", ["v4", "v6-tiny"])
@pytest.mark.parametrize("shape", [(512, 512, 3), (300, 460, 3), (2400, 1900, 3), (736, 736, 3)])
def test_the_tensor_is_the_published_normalisation_to_the_bit(model: str, shape: tuple[int, int, int]) -> None:
    frame = np.random.default_rng(0).integers(0, 256, shape, dtype=np.uint8)
    settings = dbnet.DetectorSettings(model=model)
    tensor = dbnet.preprocess(frame, settings)
    assert tensor.dtype == np.float32 and tensor.flags.c_contiguous
    assert np.array_equal(tensor, _plain(frame, settings))


def test_a_crop_is_the_same_in_any_opencv_and_close_to_its_warp() -> None:
    """Crops are warped by our own bicubic: an upright box is cut out exactly, and a skewed one stays within a
    grey level or so of OpenCV's warp (whose builds disagree with each other by several; see ppocr.crop)."""
    import cv2

    from inference import ppocr

    rng = np.random.default_rng(3)
    frame = cv2.GaussianBlur(rng.integers(0, 256, (80, 120, 3), dtype=np.uint8), (5, 5), 0)
    upright = ppocr.crop(frame, ((10.0, 5.0), (60.0, 5.0), (60.0, 25.0), (10.0, 25.0)))
    assert np.array_equal(upright, frame[5:25, 10:60])
    quad = ((12.3, 8.7), (70.1, 14.2), (67.4, 33.9), (9.6, 28.1))
    ours = ppocr.crop(frame, quad)
    pts = np.asarray(quad, dtype=np.float32)
    h, w = ours.shape[:2]
    matrix = cv2.getPerspectiveTransform(pts, np.array([[0, 0], [w, 0], [w, h], [0, h]], dtype=np.float32))
    theirs = cv2.warpPerspective(frame, matrix, (w, h), flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REPLICATE)
    assert np.abs(ours.astype(int) - theirs.astype(int)).max() <= 2
