"""Speck lines: small skewed type broken into specks of the frame's extreme value, found without the detector.

Unit tests of ``core.specks.lines`` on drawn frames, then the two phi-mode objects of bench/phi_mode.py
(seed 0) that released a patient's birth date and ID, through the real pipeline and in-process engine.
"""
from __future__ import annotations

import numpy as np
import pytest

from pixelguard.core import specks
from pixelguard.core.pipeline import RunOptions, process
from pixelguard.core.vocabulary import RedactionMode
from pixelguard_testkit import synthetic


def _speck_line(frame: np.ndarray, x: int, y: int, value: float, pieces: int = 8) -> tuple[int, int, int, int]:
    """Draw a row of 1-3 px specks like a 9 px line broken by rotation; returns its extent."""
    rng = np.random.default_rng(x * 1000 + y)
    for k in range(pieces):
        px, py = x + 6 * k, y + int(rng.integers(0, 6))
        w, h = int(rng.integers(1, 3)), int(rng.integers(1, 3))
        frame[py:py + h, px:px + w] = value
    return x, y, x + 6 * pieces, y + 8


def _covers(found: list[specks.SpeckLine], extent: tuple[int, int, int, int]) -> bool:
    return any(b[0] <= extent[0] and b[1] <= extent[1] and b[2] >= extent[2] - 4 and b[3] >= extent[3] - 2
               for b in (line.box for line in found))


def test_a_speck_line_at_the_frames_extreme_is_found_whole() -> None:
    frame = np.full((200, 300), 900, dtype=np.uint16)
    frame[150:, :] = 300  # anatomy, so the frame's range is not only the type
    extent = _speck_line(frame, 40, 40, 0)  # dark type on a bright plate (MONOCHROME1 CR)
    found = specks.lines(frame)
    assert len(found) == 1 and _covers(found, extent)


def test_dark_speckle_in_a_dark_region_is_not_type() -> None:
    """Black speckle inside dark anatomy (ultrasound, MR) holds the frame's minimum too, but does not stand out."""
    frame = np.full((200, 300), 200, dtype=np.uint8)
    frame[20:80, 20:200] = 18
    _speck_line(frame, 40, 40, 0)
    assert specks.lines(frame) == []


def test_solid_type_is_left_to_the_detector() -> None:
    """Glyphs larger than a speck (normal type) are the detector's job: no speck line is made of them."""
    frame = np.full((120, 300), 40, dtype=np.uint16)
    for k in range(6):
        frame[40:52, 20 + 14 * k:29 + 14 * k] = 1000  # 9x12 px solid blocks
    assert specks.lines(frame) == []


def test_a_few_specks_are_noise_not_a_line() -> None:
    frame = np.full((100, 100), 500, dtype=np.int16)
    frame[80:, :] = 100
    _speck_line(frame, 20, 20, 1500, pieces=3)
    assert specks.lines(frame) == []


def test_vertical_lines_count_too() -> None:
    frame = np.full((300, 200), 600, dtype=np.uint16)
    frame[:, 150:] = 100
    line = np.full((60, 8), 600, dtype=np.uint16)
    _speck_line(line.T, 0, 0, 2000)  # a transposed view: the row becomes a column
    frame[50:110, 40:48] = line
    found = specks.lines(frame)
    box = found[0].box if len(found) == 1 else (0, 0, 0, 0)
    assert box[3] - box[1] > 2 * (box[2] - box[0])


def test_colour_frames_use_pure_black_and_white_only() -> None:
    frame = np.full((160, 300, 3), 90, dtype=np.uint8)
    frame[120:, :] = 200
    extent = _speck_line(frame, 30, 30, 255)
    _speck_line(frame, 30, 80, 0)
    yellow = np.zeros((20, 60, 3), dtype=np.uint8)
    yellow[...] = 90
    _speck_line(yellow, 0, 5, 255)
    yellow[..., 2] = np.where(yellow[..., 0] == 255, 0, 90)  # the specks are (255, 255, 0): colour, not white
    frame[100:120, 200:260] = yellow
    found = specks.lines(frame)
    assert len(found) == 2 and _covers(found, extent)
    assert not any(line.box[0] >= 190 for line in found)


def test_joined_strokes_of_cursive_type_belong_to_the_speck_line_they_touch() -> None:
    """Arabic at 8-9 px keeps some letters joined: pieces larger than a speck, at the line's end, are filled with it."""
    frame = np.full((120, 300, 3), 70, dtype=np.uint8)
    frame[100:, :] = 180
    extent = _speck_line(frame, 30, 40, 255, pieces=6)
    frame[42:45, 70:92] = 255  # a joined stroke, 66 px, 4 px past the last speck
    found = specks.lines(frame)
    assert len(found) == 1 and found[0].box[2] >= 92 and _covers(found, extent)


# bench/phi_mode.py's objects 54 and 55 (seed 0): a 10 px birth date and a 9 px patient ID, skewed 2-4 degrees,
# that DBNet finds at no scale; both objects were released clean with the value in the pixels.
PHI_OBJECTS = {54: ("L12-5", "10/10/1993", "1993-10-10", "PA"),
               55: ("W 400 L 40", "05/11/1991", "1985757", "x1.5", "AP")}


@pytest.mark.parametrize("index", sorted(PHI_OBJECTS))
@pytest.mark.parametrize("mode", [RedactionMode.PHI, RedactionMode.ALL])
def test_broken_small_phi_lines_are_removed(index: int, mode: RedactionMode, basic, derive, detector) -> None:
    texts = PHI_OBJECTS[index]
    sample = synthetic.generate(index, 0, script="latin", fmt="dicom", angle="skew", texts=texts)
    outcome = process(f"in-specks-{index}", sample.data, basic, derive, detector, RunOptions(redaction=mode))
    assert outcome.output_bytes, outcome.reason
    before, after = synthetic.decode(sample.data), synthetic.decode(outcome.output_bytes)
    redacted = synthetic.redacted_mask(before, after)
    for line in sample.lines:
        x0, y0, x1, y1 = line.box
        left = int((line.mask & ~redacted[0, y0:y1, x0:x1]).sum())
        if line.spec.text in ("10/10/1993", "1985757"):
            assert left == 0, f"{line.spec.size} px line left {left} stroke pixels"


def test_a_speck_line_a_lossy_coding_moved_off_the_extreme_is_found() -> None:
    """Object 146 of bench/pixels.py's corpus (a JPEG): 8 px type broken into specks, which the coding left a
    few levels above the frame's black. Near the extreme (``near`` of the range) counts as the extreme."""
    frame = np.full((200, 300), 240, dtype=np.uint8)
    frame[150:, :] = 90
    frame[190, 10] = 0  # the frame's extreme, somewhere else
    extent = _speck_line(frame, 40, 40, 14)  # 14 of 240: within a tenth of the range of black
    found = specks.lines(frame)
    assert len(found) == 1 and _covers(found, extent)
    assert specks.lines(frame, specks.SpeckSettings(near=0.0)) == []  # the exact value alone misses it
