"""Fill geometry in a line's own frame: a skewed line is filled by a rotated rectangle around its strokes."""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from pixelguard.core.pipeline import RunOptions, process
from pixelguard.core.regions import Patch, Region, line_patch, tighten
from pixelguard.core.vocabulary import RedactionMode
from pixelguard.samples import burn_text
from pixelguard_testkit import synthetic


def _skewed_line(angle: float, light_text: bool = True, size: int = 14) -> tuple[np.ndarray, np.ndarray]:
    """An 8-bit textured frame with a line of type turned by ``angle`` degrees; returns (frame, stroke mask)."""
    rng = np.random.default_rng(5)
    base = rng.normal(60 if light_text else 170, 10, (220, 360)).clip(0, 255).astype(np.uint16)
    if not light_text:
        base[80:120, 30:330] = 235  # the light plate consoles draw behind dark type
    text = burn_text(base.copy(), "DOB 1987-07-11 MRN 6697432", (40, 90), size, 250 if light_text else 10)
    turn = cv2.getRotationMatrix2D((180, 110), angle, 1.0)
    frame = cv2.warpAffine(text.astype(np.uint8), turn, (360, 220), flags=cv2.INTER_NEAREST,
                           borderMode=cv2.BORDER_REFLECT)
    clean = cv2.warpAffine(base.astype(np.uint8), turn, (360, 220), flags=cv2.INTER_NEAREST,
                           borderMode=cv2.BORDER_REFLECT)
    return frame, frame != clean


def _detected(strokes: np.ndarray, grow: float) -> Region:
    """The rotated rectangle around the strokes grown by ``grow`` px each side, as DBNet's unclip draws it."""
    ys, xs = np.nonzero(strokes)
    (cx, cy), (w, h), a = cv2.minAreaRect(np.stack([xs, ys], axis=1).astype(np.float32))
    quad = cv2.boxPoints(((cx, cy), (w + 2 * grow, h + 2 * grow), a))
    return Region(tuple((float(x), float(y)) for x, y in quad), 0.9)


def _filled(patch: Patch, shape: tuple[int, ...]) -> np.ndarray:
    out = np.zeros(shape[:2], dtype=bool)
    x0, y0, x1, y1 = patch.box
    out[y0:y1, x0:x1] = patch.mask
    return out


@pytest.mark.parametrize("angle", [-5.0, -2.5, 3.0, 4.5])
@pytest.mark.parametrize("light_text", [True, False])
def test_a_skewed_line_is_filled_whole_by_less_than_its_upright_box(angle: float, light_text: bool) -> None:
    frame, strokes = _skewed_line(angle, light_text)
    region = _detected(strokes, 6)
    filled = _filled(line_patch(region, frame), frame.shape)
    assert strokes.any() and not (strokes & ~filled).any()
    x0, y0, x1, y1 = tighten(region.cover(frame.shape[1], frame.shape[0]), frame)
    assert filled.sum() < 0.8 * (x1 - x0) * (y1 - y0)  # the corners of the upright box hold no text


@pytest.mark.parametrize("angle", [-4.0, 0.0, 3.5])
def test_pixels_outside_the_grown_quad_are_left(angle: float) -> None:
    frame, strokes = _skewed_line(angle)
    region = _detected(strokes, 6)
    filled = _filled(line_patch(region, frame), frame.shape)
    # The quad grown by the margins Region.cover gives a line of its height (0.15 of it across, at least
    # 2 px; half of it at the ends), drawn as a polygon, plus a pixel of rounding.
    pts = np.asarray(region.quad)
    centre = pts.mean(axis=0)
    long = max((pts[1] - pts[0], pts[2] - pts[1]), key=lambda e: float(np.linalg.norm(e)))
    u = long / np.linalg.norm(long)
    v = np.array([-u[1], u[0]])
    along, across = np.abs((pts - centre) @ u).max(), np.abs((pts - centre) @ v).max()
    pad = max(2, int(np.ceil(0.3 * across)))
    end = max(pad, int(np.ceil(across)))
    grown = np.array([centre + su * (along + end + 1) * u + sv * (across + pad + 1) * v
                      for su, sv in ((-1, -1), (1, -1), (1, 1), (-1, 1))])
    allowed = np.zeros(frame.shape[:2], dtype=np.uint8)
    cv2.fillPoly(allowed, [np.round(grown).astype(np.int32)], 1)
    assert filled.any() and not (filled & (allowed == 0)).any()


@pytest.mark.parametrize("plate_rows", [(10, 45), (0, 40), (30, 80), (18, 34)])
def test_type_on_a_plate_that_ends_inside_the_quad_stays_covered(plate_rows) -> None:
    """Dark type on a light plate whose edge crosses the quad: the long sides move inward to where the
    background is one, and no stroke is left outside."""
    base = np.zeros((80, 160), dtype=np.uint16)
    base[plate_rows[0]:plate_rows[1], :] = 235
    gray = burn_text(base, "MRN 6697432", (20, 20), 12, 10)
    strokes = gray != base
    quad = ((12.0, 12.0), (148.0, 12.0), (148.0, 68.0), (12.0, 68.0))
    filled = _filled(line_patch(Region(quad, 0.9), gray.astype(np.uint8)), gray.shape)
    assert strokes.any() and not (strokes & ~filled).any()


def test_the_plate_edge_no_longer_keeps_the_whole_box() -> None:
    """Anatomy around a plate crosses the quad's border: the fill shrinks to the plate's text, where the
    upright tightening kept its whole box."""
    rng = np.random.default_rng(2)
    base = rng.integers(0, 255, (90, 220)).astype(np.uint16)  # anatomy: both classes everywhere
    base[30:58, :] = 235  # wider than the quad: only its long sides cross anatomy
    gray = burn_text(base.copy(), "MRN 6697432", (30, 36), 14, 10).astype(np.uint8)
    strokes = gray != base.astype(np.uint8)
    region = _detected(strokes, 9)
    patch = line_patch(region, gray)
    filled = _filled(patch, gray.shape)
    assert not (strokes & ~filled).any()
    box = region.cover(220, 90)
    assert tighten(box, gray) == box
    assert filled.sum() < 0.7 * (box[2] - box[0]) * (box[3] - box[1])


def test_strokes_running_out_of_the_quad_keep_that_end() -> None:
    """A detector's quad that falls short of a line's end: the fill is not shrunk away from that end."""
    frame, strokes = _skewed_line(3.0)
    ys, xs = np.nonzero(strokes)
    cut = strokes & (xs.min() + 60 > np.arange(strokes.shape[1]))[np.newaxis, :]
    region = _detected(cut, 6)
    patch = line_patch(region, frame)
    grown_end = patch.box[2]
    assert grown_end >= int(max(x for x, _ in region.quad))  # reaches the quad's end and its margin


def test_a_flat_quad_is_filled_whole() -> None:
    gray = np.full((50, 80), 120, dtype=np.uint8)
    patch = line_patch(Region(((10.0, 20.0), (60.0, 20.0), (60.0, 30.0), (10.0, 30.0)), 0.9), gray)
    assert patch.mask.all() and patch.box == (5, 18, 66, 33)  # Region.cover's box


def test_coloured_type_as_bright_as_its_background_stays_covered() -> None:
    base = np.full((80, 200, 3), 150, dtype=np.uint8)
    base[20:60, 150:170] = 250
    mask = burn_text(np.zeros((80, 200), dtype=np.uint16), "MRN 6697432", (20, 30), 14, 1).astype(bool)
    frame = base.copy()
    frame[mask] = (0, 255, 0)
    region = Region(((12.0, 14.0), (188.0, 14.0), (188.0, 66.0), (12.0, 66.0)), 0.9)
    filled = _filled(line_patch(region, frame), frame.shape)
    assert not (mask & ~filled).any()


def test_a_quad_outside_the_frame_fills_nothing() -> None:
    gray = np.zeros((40, 40), dtype=np.uint8)
    patch = line_patch(Region(((100.0, 100.0), (140.0, 100.0), (140.0, 110.0), (100.0, 110.0)), 0.9), gray)
    assert not patch.mask.any()


class _FallsShort:
    """The real detector, except that its first search falls short of the last two characters of every line
    it finds: what the fill then leaves must be found by the look around the fill."""

    def __init__(self, detector) -> None:
        self.detector = detector
        self.calls = 0

    def detect(self, frames: list[np.ndarray], as_is: bool = False) -> list[list[Region]]:
        self.calls += 1
        found = self.detector.detect(frames, as_is)
        if self.calls > 1:
            return found
        return [[_cut_short(r, 0.9) for r in regions] for regions in found]

    def read(self, frames: list[np.ndarray], found: list[list[Region]]) -> list[list[Region]]:
        return self.detector.read(frames, found)

    def ocr(self, frames: list[np.ndarray], as_is: bool = False) -> list[list[Region]]:
        return self.detector.ocr(frames, as_is)


def _cut_short(region: Region, keep: float) -> Region:
    a, b, c, d = (np.asarray(p, dtype=np.float64) for p in region.quad)
    long = np.linalg.norm(b - a) >= np.linalg.norm(c - b)
    quad = (a, a + keep * (b - a), d + keep * (c - d), d) if long else (a, b, b + keep * (c - b), a + keep * (d - a))
    return Region(tuple((float(x), float(y)) for x, y in quad), region.score)


def test_what_a_short_skewed_fill_leaves_is_found_and_filled_by_the_look_around(detector) -> None:
    from pixelguard.core.textsearch import RedactionSettings, detect_and_fill

    frame, strokes = _skewed_line(3.5, size=16)
    stored = frame[np.newaxis].copy()
    short = _FallsShort(detector)
    regions: list[dict[str, object]] = []
    changed, problems, _ = detect_and_fill(stored, lambda a: [np.dstack([f] * 3) for f in a], short,
                                           RedactionSettings(specks=None), 0, regions=regions)
    assert changed and problems == []
    # The remnant is reached by the fill itself (regions.reach_ends) or found by the look around and refilled.
    assert {r["kind"] for r in regions} in ({"filled"}, {"filled", "refilled"})
    assert not (strokes & (stored[0] != 0)).any()  # every stroke pixel is now the fill value


def test_a_line_on_a_plate_is_filled_no_further_than_the_plate() -> None:
    """Objects 208 and 282 of bench/pixels.py's corpus: dark type on a white plate over an X-ray. The anatomy
    around the plate is of the type's class to the split, so the fill took the rectangle's margins: at each end
    the height of the detector's box. On a plate it stops at the plate's edge plus two pixels."""
    rng = np.random.default_rng(4)
    base = rng.integers(60, 200, (120, 400)).astype(np.uint16)  # anatomy, darker than the plate
    base[40:70, 60:300] = 255  # the plate, 240 x 30
    gray = burn_text(base.copy(), "DOE JANE 1971", (70, 46), 18, 10).astype(np.uint8)
    strokes = gray != base.astype(np.uint8)
    region = _detected(strokes, 6)
    filled = _filled(line_patch(region, gray), gray.shape)
    assert not (strokes & ~filled).any()
    outside = filled.copy()
    outside[38:72, 58:302] = False  # the plate and the two pixels around it
    assert not outside.any()


def test_a_first_letter_on_the_borders_edge_whose_hook_hangs_below_the_box_is_removed(basic, derive,
                                                                                       detector) -> None:
    """Object 24 of bench/phi_mode.py (seed 0): the name's J sits on the dark edge of an X-ray's black border,
    its box starts after it, and its hook hangs below the box. The reach must carry the fill over it: the
    bands beside the line it checks for a background start a quarter of the line's height out, past the hook."""
    texts = ("JOHANSSON ELSA", "FR 31 Hz", "1:1", "SUPINE")
    sample = synthetic.generate(24, 0, script="latin", fmt="dicom", angle="0", texts=texts)
    outcome = process("in-hook", sample.data, basic, derive, detector, RunOptions(redaction=RedactionMode.PHI))
    assert outcome.output_bytes, outcome.reason
    redacted = synthetic.redacted_mask(synthetic.decode(sample.data), synthetic.decode(outcome.output_bytes))
    name = next(line for line in sample.lines if line.spec.text == "JOHANSSON ELSA")
    x0, y0, x1, y1 = name.box
    assert not (name.mask & ~redacted[0, y0:y1, x0:x1]).any()
