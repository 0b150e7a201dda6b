"""Verification mosaics and the per-object detector memo: the geometry the look around the fills relies on."""
from __future__ import annotations

import numpy as np

from pixelguard.core import mosaic
from pixelguard.core.detect_memo import DetectorMemo
from pixelguard.core.regions import Region

from .fake_detectors import DetectOnly


def _box_region(x0: float, y0: float, x1: float, y1: float, score: float = 0.9) -> Region:
    return Region(((x0, y0), (x1, y0), (x1, y1), (x0, y1)), score)


def test_touching_neighbourhoods_merge_and_stay_inside_the_frame() -> None:
    boxes = mosaic.neighbourhoods([(10, 10, 60, 30), (70, 12, 120, 28), (300, 300, 340, 320)], 400, 330,
                                  margin=1.0, min_margin=24)
    assert boxes == [(0, 0, 144, 54), (276, 276, 364, 330)]


def test_a_region_found_on_a_canvas_comes_back_to_its_frame_and_place() -> None:
    frames = [np.zeros((200, 300, 3), np.uint8), np.zeros((200, 300, 3), np.uint8)]
    frames[1][50:60, 100:180] = 255  # a line of text in the second frame
    wanted = [(0, (10, 10, 60, 40), 2.0), (1, (90, 40, 200, 70), 2.0)]
    slots, sizes, whole = mosaic.pack(wanted)
    # one shelf: 220 + GAP + 100 px wide, 60 px tall at 2x; the canvas is cut to that with a GAP of black to
    # its right and below (384 x 92), to the next sides on the ladder
    assert whole == [] and sizes == [(512, 128)]
    canvas = mosaic.paint(frames, slots, sizes)[0]
    ys, xs = np.nonzero(canvas[..., 0])
    found = [[_box_region(xs.min(), ys.min(), xs.max() + 1, ys.max() + 1)]]
    back = mosaic.back_to_frames(found, slots, 2)
    assert back[0] == []
    quad = np.asarray(back[1][0].quad)
    # within the enlargement's blur of a pixel or two
    assert np.allclose(quad.min(axis=0), (100, 50), atol=2) and np.allclose(quad.max(axis=0), (180, 60), atol=2)


def test_neighbourhoods_fill_several_canvases_and_a_huge_one_is_verified_whole() -> None:
    wanted = [(f, (0, 0, 300, 200), 2.0) for f in range(4)] + [(9, (0, 0, 1500, 100), 2.0)]
    slots, sizes, whole = mosaic.pack(wanted)
    assert whole == [9]  # 3000 px wide at 2x: no canvas holds it, so frame 9 is searched whole
    assert len(slots) == 4 and len(sizes) >= 2
    for a in slots:  # no two neighbourhoods overlap on a canvas
        for b in slots:
            if a is not b and a.canvas == b.canvas:
                assert a.x + 600 + mosaic.GAP <= b.x or b.x + 600 + mosaic.GAP <= a.x or \
                       a.y + 400 + mosaic.GAP <= b.y or b.y + 400 + mosaic.GAP <= a.y


class _Engine:
    def __init__(self) -> None:
        self.frames = 0

    def detect(self, frames: list[np.ndarray], as_is: bool = False) -> list[list[Region]]:
        self.frames += len(frames)
        return [[_box_region(0, 0, 10, 10, float(f.mean()) / 255)] for f in frames]

    def read(self, frames: list[np.ndarray], found: list[list[Region]]) -> list[list[Region]]:
        return [[Region(r.quad, r.score, "TEXT", 0.9) for r in regions] for regions in found]


def test_identical_frames_are_detected_once_and_remembered_answers_are_not_asked_again() -> None:
    engine = _Engine()
    memo = DetectorMemo(engine)
    a, b = np.full((8, 8, 3), 10, np.uint8), np.full((8, 8, 3), 200, np.uint8)
    first = memo.detect([a, b, a, a])
    assert engine.frames == 2 and first[0] == first[2] == first[3] != first[1]
    memo.detect([b])
    assert engine.frames == 2
    c = np.full((8, 8, 3), 99, np.uint8)
    memo.remember([c], [[]])  # verified final pixels with nothing left on them
    assert memo.ocr([c, a]) == [[], [Region(first[0][0].quad, first[0][0].score, "TEXT", 0.9)]]
    assert engine.frames == 2


class _Reader(_Engine):
    def __init__(self, found: list[Region]) -> None:
        super().__init__()
        self.found = found
        self.asked: list[Region] = []

    def detect(self, frames: list[np.ndarray], as_is: bool = False) -> list[list[Region]]:
        return [list(self.found) for _ in frames]

    def read(self, frames: list[np.ndarray], found: list[list[Region]]) -> list[list[Region]]:
        self.asked += [r for regions in found for r in regions]
        return super().read(frames, found)


def test_the_memo_reads_only_regions_tall_enough_to_hold_legible_type() -> None:
    line = _box_region(10, 10, 90, 22)  # a 12 px line of type
    speck = _box_region(40, 40, 43, 42, score=0.25)  # a 2 px weak outline: nothing a person could read
    engine = _Reader([speck, line])
    (read,) = DetectorMemo(engine).ocr([np.zeros((64, 128, 3), np.uint8)])
    assert engine.asked == [line]
    # every region is still answered, in the detector's order; the speck unread, so the PHI sweep has no text
    # to match and phi mode takes it for unreadable (filled)
    assert read == [speck, Region(line.quad, line.score, "TEXT", 0.9)]


class _ShortSighted(DetectOnly):
    """Sees bright blobs; on a whole frame only the leftmost (the rest is found by the look around the fill).
    Counts the whole frames it is asked to search."""

    def __init__(self) -> None:
        self.whole_frames = 0

    def detect(self, frames: list[np.ndarray], as_is: bool = False) -> list[list[Region]]:
        import cv2

        self.whole_frames += 0 if as_is else len(frames)
        out = []
        for frame in frames:
            count, _, stats, _ = cv2.connectedComponentsWithStats((frame[..., 0] > 128).astype(np.uint8))
            blobs = sorted((int(x), int(y), int(x + w), int(y + h)) for x, y, w, h, _ in stats[1:count])
            out.append([_box_region(x0 - 1, y0 - 1, x1, y1) for x0, y0, x1, y1 in (blobs if as_is else blobs[:1])])
        return out


def test_after_a_second_fill_the_sweep_is_answered_from_the_search_not_by_searching_again() -> None:
    from pixelguard.core.textsearch import RedactionSettings, detect_and_fill

    stored = np.full((1, 64, 256), 40, dtype=np.uint8)
    stored[0, 20:27, 20:80] = 250
    stored[0, 20:27, 92:100] = 250  # missed at first, found around the first fill, filled second
    engine = _ShortSighted()
    memo = DetectorMemo(engine)
    regions: list[dict[str, object]] = []
    render = lambda a: [np.dstack([f] * 3) for f in a]  # noqa: E731
    changed, problems, _ = detect_and_fill(stored, render, memo, RedactionSettings(specks=None), 0,
                                           regions=regions)
    assert changed and problems == [] and [r["kind"] for r in regions] == ["filled", "refilled"]
    assert stored[0, 20:27].max() < 250
    searched = engine.whole_frames
    assert memo.ocr(render(stored)) == [[]]  # the sweep's reading of the final pixels
    assert engine.whole_frames == searched


def test_a_remembered_reading_is_not_read_again_and_a_region_without_one_is() -> None:
    line, blob = _box_region(10, 10, 90, 22), _box_region(10, 30, 60, 60)
    engine = _Reader([line, blob])
    memo = DetectorMemo(engine)
    frame = np.zeros((64, 128, 3), np.uint8)
    memo.remember([frame], [[Region(line.quad, line.score, "L", 0.95), blob]])  # the search read the line only
    (read,) = memo.ocr([frame])
    assert engine.asked == [blob] and engine.frames == 0
    assert read == [Region(line.quad, line.score, "L", 0.95), Region(blob.quad, blob.score, "TEXT", 0.9)]


class _Fixed:
    """Finds the same regions on every whole frame and nothing on the canvases; reads them as no text."""

    def __init__(self, regions: list[Region]) -> None:
        self.regions = regions
        self.asked: list[tuple[tuple[float, float], ...]] = []

    def detect(self, frames: list[np.ndarray], as_is: bool = False) -> list[list[Region]]:
        return [[] if as_is else list(self.regions) for _ in frames]

    def read(self, frames: list[np.ndarray], found: list[list[Region]]) -> list[list[Region]]:
        self.asked += [r.quad for regions in found for r in regions]
        return [[Region(r.quad, r.score, "~", 0.1) for r in regions] for regions in found]

    def ocr(self, frames: list[np.ndarray], as_is: bool = False) -> list[list[Region]]:
        return self.read(frames, self.detect(frames, as_is))


def test_the_sweep_reads_again_only_what_a_fill_touched_after_the_search_read_it() -> None:
    from pixelguard.core.textsearch import RedactionSettings, detect_and_fill

    line = _box_region(100, 100, 200, 110)  # filled
    touched = _box_region(150, 104, 210, 164)  # a blob the search read (not text, left): the line's fill reaches it
    apart = _box_region(400, 300, 460, 360)  # a blob read the same way, far from any fill
    engine = _Fixed([line, touched, apart])
    memo = DetectorMemo(engine)
    render = lambda a: [np.dstack([f] * 3) for f in a]  # noqa: E731
    stored = np.full((1, 480, 640), 40, dtype=np.uint8)
    detect_and_fill(stored, render, memo, RedactionSettings(specks=None), 0)
    assert len(engine.asked) == 2  # the search read the two blobs (enlarged 2x), not the line
    engine.asked = []
    memo.ocr(render(stored))
    assert engine.asked == [touched.quad]


def test_a_region_running_into_a_cut_across_its_height_is_marked_and_one_cut_at_its_ends_is_not() -> None:
    # A neighbourhood cut from the middle of a 480x640 frame, at 2x on the canvas at (0, 0): 200 x 100 px.
    slot = mosaic.Slot(frame=0, source=(100, 200, 200, 250), canvas=0, x=0, y=0, scale=2.0)
    size = (480, 640)
    strip = _box_region(10, 60, 190, 104)  # wide, running into the bottom cut: its height is unknown
    ends = _box_region(-4, 20, 204, 40)  # wide, running into the left and right cuts: its height is whole
    inside = _box_region(20, 20, 180, 40)
    assert slot.to_frame(strip, size).cut and not slot.to_frame(ends, size).cut
    assert not slot.to_frame(inside, size).cut and not slot.to_frame(strip).cut  # no frame size: not judged
    at_border = mosaic.Slot(frame=0, source=(100, 430, 200, 480), canvas=0, x=0, y=0, scale=2.0)
    assert not at_border.to_frame(strip, size).cut  # the frame's own bottom edge: nothing beyond it was cut
