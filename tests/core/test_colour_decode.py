"""Colour multi-frame pixel data is decoded a frame at a time: the same values, a fraction of the memory."""
from __future__ import annotations

import tracemalloc

import numpy as np
import pydicom
import pytest
from pydicom.data import get_testdata_file
from pydicom.encaps import encapsulate, generate_fragmented_frames
from pydicom.pixels import pixel_array

from pixelguard.core.pixels import dicom_stored_frames
from pixelguard.core.record import StageError

CINE = "color3d_jpeg_baseline.dcm"  # pydicom-data: 120 frames of 640x480 YBR_FULL_422 ultrasound, JPEG baseline


def test_a_colour_cine_decodes_to_what_pydicom_gives_at_a_fraction_of_the_memory() -> None:
    ds = pydicom.dcmread(get_testdata_file(CINE))
    expected = pixel_array(ds)  # pydicom's whole-array decode, YCbCr converted to RGB
    tracemalloc.start()
    try:
        frames = dicom_stored_frames(ds)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert frames.shape == (120, 480, 640, 3) and np.array_equal(frames, expected)
    # The whole-array conversion works in float64: about 8x the decoded size (950 MB for this cine's 110).
    assert peak < 1.5 * frames.nbytes, (peak, frames.nbytes)


def test_a_colour_cine_missing_frames_is_an_error_not_a_short_array() -> None:
    ds = pydicom.dcmread(get_testdata_file(CINE))
    frames = generate_fragmented_frames(ds.PixelData, number_of_frames=120)
    kept = [next(frames) for _ in range(100)]
    ds.PixelData = encapsulate([b"".join(fragments) for fragments in kept])
    with pytest.raises(StageError) as failed:
        dicom_stored_frames(ds)
    assert failed.value.code in ("corrupt", "undecodable")
