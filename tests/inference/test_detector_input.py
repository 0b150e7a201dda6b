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
