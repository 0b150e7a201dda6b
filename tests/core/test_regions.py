"""Cover geometry: a detector box shrunk to the strokes it holds, never below them."""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from pixelguard.core.regions import Region, tighten
from pixelguard.samples import burn_text


def _frame(light_text: bool) -> tuple[np.ndarray, np.ndarray]:
    """A textured 8-bit frame with 9 px type burned in; returns (frame, stroke mask)."""
    rng = np.random.default_rng(3)
    frame = (rng.normal(90 if light_text else 170, 12, (120, 200))).clip(0, 255).astype(np.uint16)
    if not light_text:
        frame[40:62, 30:170] = 235  # a light plate behind dark type, as consoles draw it
    text = burn_text(frame.copy(), "DOB 1987-07-11", (40, 46), 9, 250 if light_text else 10)
    strokes = text != frame
    return text.astype(np.uint8), strokes


@pytest.mark.parametrize("light_text", [True, False])
def test_tightened_cover_holds_every_stroke_and_is_smaller(light_text: bool) -> None:
    gray, strokes = _frame(light_text)
    ys, xs = np.nonzero(strokes)
    # A detector box as generous as DBNet's unclip plus our margin: 8 px each side.
    loose = (int(xs.min()) - 8, int(ys.min()) - 8, int(xs.max()) + 9, int(ys.max()) + 9)
    tight = tighten(loose, gray)
    x0, y0, x1, y1 = tight
    covered = np.zeros_like(strokes)
    covered[y0:y1, x0:x1] = True
    assert not (strokes & ~covered).any()
    assert (x1 - x0) * (y1 - y0) < 0.8 * (loose[2] - loose[0]) * (loose[3] - loose[1])
    assert loose[0] <= x0 and loose[1] <= y0 and x1 <= loose[2] and y1 <= loose[3]


def test_a_flat_box_is_left_as_found() -> None:
    gray = np.full((50, 80), 120, dtype=np.uint8)
    assert tighten((10, 10, 60, 40), gray) == (10, 10, 60, 40)


@pytest.mark.parametrize("vertical", [False, True])
def test_strokes_running_out_of_the_box_keep_that_side(vertical: bool) -> None:
    """A detector's box that falls short of a line's end: the box is not shrunk away from that end."""
    gray, strokes = _frame(light_text=True)
    if vertical:  # type rotated by 90 degrees, as on the side of a frame
        gray, strokes = np.ascontiguousarray(np.rot90(gray)), np.ascontiguousarray(np.rot90(strokes))
    ys, xs = np.nonzero(strokes)
    if vertical:
        cut = (int(xs.min()) - 8, int(ys.min()) + 30, int(xs.max()) + 9, int(ys.max()) + 9)  # starts mid-line
        assert tighten(cut, gray)[1] == cut[1]
    else:
        cut = (int(xs.min()) - 8, int(ys.min()) - 8, int(xs.min()) + 40, int(ys.max()) + 9)  # ends mid-line
        assert tighten(cut, gray)[2] == cut[2]


def test_a_line_gets_more_margin_at_its_ends_and_stays_in_the_frame() -> None:
    line = Region(((5.0, 5.0), (25.0, 5.0), (25.0, 12.0), (5.0, 12.0)), 0.9)  # 7 px tall, horizontal
    assert line.cover(40, 14) == (1, 3, 30, 14)  # ends: 4 px (half the height); across: 2 px, clipped
    column = Region(((5.0, 5.0), (12.0, 5.0), (12.0, 25.0), (5.0, 25.0)), 0.9)  # the same line turned
    assert column.cover(14, 40) == (3, 1, 14, 30)



@pytest.mark.parametrize("plate_rows", [(10, 45), (0, 40), (30, 80), (18, 34)])
def test_type_on_a_plate_that_ends_inside_the_box_stays_covered(plate_rows) -> None:
    """Dark type on a light plate whose edge crosses the box: whichever class is taken for strokes,
    every stroke stays inside the result."""
    base = np.zeros((80, 160), dtype=np.uint16)
    base[plate_rows[0]:plate_rows[1], :] = 235
    gray = burn_text(base, "MRN 6697432", (20, 20), 12, 10)
    strokes = gray != base
    x0, y0, x1, y1 = tighten((5, 5, 150, 75), gray.astype(np.uint8))
    covered = np.zeros_like(strokes)
    covered[y0:y1, x0:x1] = True
    assert strokes.any() and not (strokes & ~covered).any()


def test_coloured_type_as_bright_as_its_background_stays_covered() -> None:
    """Green type on grey of the same luminance is invisible to the grey split; its colour gives it away."""
    base = np.full((80, 200, 3), 150, dtype=np.uint8)
    base[20:60, 150:170] = 250  # a bright structure inside the detector's box, next to the type
    mask = burn_text(np.zeros((80, 200), dtype=np.uint16), "MRN 6697432", (20, 30), 14, 1).astype(bool)
    frame = base.copy()
    frame[mask] = (0, 255, 0)
    gray = cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY)
    assert abs(int(gray[mask].mean()) - 150) <= 1  # the type vanishes in grey
    box = (10, 10, 190, 70)
    x0, y0, x1, y1 = tighten(box, frame)
    covered = np.zeros_like(mask)
    covered[y0:y1, x0:x1] = True
    assert not (mask & ~covered).any()
    x0, y0, x1, y1 = tighten(box, gray)  # grey alone would have shrunk the fill onto the bright structure
    assert x0 >= 140
