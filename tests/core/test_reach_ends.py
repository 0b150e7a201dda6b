"""A line's fill reaches the letters its detector box fell short of, in the line's own burn value, and no further."""
from __future__ import annotations

import numpy as np

from pixelguard.core.regions import reach_ends
from pixelguard.samples import burn_text

NAME = "JOHANSSON ELSA"


def _plate_with_border(border: int = 60) -> np.ndarray:
    """A CR-like frame: a dark border of exactly 0 on the left, a 35-60 gradient at its edge, a bright plate."""
    frame = np.full((120, 420), 900, dtype=np.uint16)
    frame[:, :border] = 0
    frame[:, border:border + 12] = np.linspace(35, 60, 12).astype(np.uint16)
    return frame


def _extent(strokes: np.ndarray) -> tuple[int, int, int, int]:
    ys, xs = np.nonzero(strokes)
    return int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1


def _covers(box: tuple[int, int, int, int], strokes: np.ndarray) -> bool:
    x0, y0, x1, y1 = box
    inside = np.zeros_like(strokes)
    inside[y0:y1, x0:x1] = True
    return not (strokes & ~inside).any()


def _extremes(frame: np.ndarray) -> tuple[float, float]:
    return float(frame.min()), float(frame.max())


def _reach(frame: np.ndarray, box: tuple[int, int, int, int], filled: np.ndarray | None = None
           ) -> tuple[int, int, int, int]:
    """The box with what reach_ends adds to it: the extent a fill then covers."""
    strips = reach_ends(frame, np.zeros(frame.shape, bool) if filled is None else filled, box, _extremes(frame))
    for b in strips:  # each strip touches the box at one end
        assert b[0] == box[2] or b[2] == box[0] or b[1] == box[3] or b[3] == box[1]
    every = [box, *strips]
    return (min(b[0] for b in every), min(b[1] for b in every), max(b[2] for b in every), max(b[3] for b in every))


def test_the_first_letter_on_the_borders_edge_is_reached_and_the_border_is_not() -> None:
    base = _plate_with_border()
    frame = burn_text(base, NAME, (62, 40), 32, 0)  # dark type, first letter on the gradient by the border
    strokes = frame != base
    x0, y0, x1, y1 = _extent(strokes)
    short = (x0 + 16, y0 - 2, x1 + 2, y1 + 2)  # the detector's box stops after the first letter's stem
    assert not _covers(short, strokes)
    reached = _reach(frame, short)
    assert _covers(reached, strokes)
    assert reached[0] >= 60 - 2 * 32  # it stopped at the border instead of running along it to the frame's edge
    assert reached[0] > 0


def test_a_box_without_the_frames_extremes_is_left_as_it_is() -> None:
    base = np.full((80, 300), 500, dtype=np.uint16)
    base[70:, :] = 100
    base[0, 0], base[0, 1] = 0, 4000
    frame = burn_text(base, NAME, (20, 20), 24, 2000)  # antialiasing aside, type in a value of its own
    box = _extent(frame != base)
    assert reach_ends(frame, np.zeros(frame.shape, bool), box, _extremes(frame)) == []


def test_the_next_word_beyond_a_wide_gap_is_another_line() -> None:
    base = np.full((80, 500), 300, dtype=np.uint16)
    base[75:, :] = 100
    first = burn_text(base, "DOE JANE", (10, 20), 20, 4095)
    frame = burn_text(first, "L", (10 + 200, 20), 20, 4095)  # a label far along the same row
    name = _extent(first != base)
    grown = _reach(frame, name)
    assert grown[2] < 200


def test_solid_anatomy_of_the_burn_value_past_the_end_stops_the_reach() -> None:
    base = np.full((80, 400), 300, dtype=np.uint16)
    base[:, 250:] = 4095  # saturated anatomy (or a bright border) right after the line
    base[75:, :200] = 100
    frame = burn_text(base, "ID 12345678", (20, 20), 20, 4095)
    box = _extent(frame != base)
    grown = _reach(frame, box)
    assert grown[2] <= 250 + 3


def test_vertical_lines_reach_along_their_length() -> None:
    base = _plate_with_border().T.copy()  # the border is now the top rows
    frame = burn_text(base.T.copy(), NAME, (62, 40), 32, 0).T.copy()
    strokes = frame != base
    x0, y0, x1, y1 = _extent(strokes)
    short = (x0 - 2, y0 + 16, x1 + 2, y1 + 2)
    assert _covers(_reach(frame, short), strokes)


def test_pixels_fills_changed_say_nothing() -> None:
    base = np.full((80, 400), 300, dtype=np.uint16)
    base[75:, :] = 100
    frame = burn_text(base, "ID 12345678", (20, 20), 20, 4095)
    box = _extent(frame != base)
    frame[box[1]:box[3], box[2] + 4:box[2] + 40:3] = 4095  # stripes an earlier fill left in the frame's max
    filled = np.zeros(frame.shape, bool)
    filled[:, box[2] + 1:] = True
    assert reach_ends(frame, filled, box, _extremes(frame)) == []


def test_a_border_along_the_boxs_margin_is_not_the_lines_value() -> None:
    """Object 264 of bench/pixels.py's corpus: white type just below an MR's black top border. The box's top
    two rows lay on the border, so 0 held 4% of the box, less than the type's 590, and was taken for the
    line's value: the reach ran along the border to max_reach, 63 px filled at each end."""
    base = np.full((120, 500), 30, dtype=np.uint16)
    base[:20, :] = 0
    frame = burn_text(base, "1938.10.25 DOE", (150, 26), 22, 590)
    x0, y0, x1, y1 = _extent(frame == 590)
    box = (x0 - 4, 18, x1 + 4, y1 + 4)  # the detector's box, its top margin on the border
    assert _reach(frame, box) == box


def test_a_background_holding_the_value_beside_the_line_is_not_reached_along() -> None:
    """Objects 72 and 117 of bench/pixels.py's corpus: black type on a white plate over an ultrasound whose
    dark speckle is black too. Past the plate's ends every column held some black, so the reach ran 40-80 px
    into the anatomy. There the bands beside the line hold black as well: background, not a letter."""
    rng = np.random.default_rng(3)
    base = np.where(rng.random((120, 420)) < 0.15, 0, rng.integers(30, 120, (120, 420))).astype(np.uint16)
    base[0, 0] = 255
    base[40:70, 100:300] = 255  # the plate
    frame = burn_text(base, "SMITH JOHN 79Y", (108, 46), 18, 0)
    assert _reach(frame, (100, 40, 300, 70)) == (100, 40, 300, 70)
