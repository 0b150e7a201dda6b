"""Small type the first detector pass barely sees: found all the same, in ``all`` and in ``phi`` mode.

Cases from bench/pixels.py's and bench/phi_mode.py's corpora (pixelguard_testkit.synthetic, seed 0), through
the real pipeline and the in-process engine.
"""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from inference import dbnet
from pixelguard.core.pipeline import process
from pixelguard.core.regions import Region
from pixelguard.core.textsearch import RedactionSettings, detect_and_fill
from pixelguard_testkit import synthetic

from .fake_detectors import DetectOnly


def _left(sample: synthetic.Sample, output: bytes) -> list[int]:
    """Stroke pixels left unredacted, per ground-truth line (and frame)."""
    masks = {f"line{i}": line.mask for i, line in enumerate(sample.lines)}
    result = synthetic.score_object(sample.ground_truth(), masks, synthetic.decode(sample.data),
                                    synthetic.decode(output))
    return [line.remaining for line in result.lines]


def test_weak_outlines_come_back_as_hints_that_are_never_text() -> None:
    prob = np.zeros((64, 128), dtype=np.float32)
    prob[20:26, 10:60] = 0.9  # a line the network is sure of
    prob[40:44, 70:110] = 0.32  # one it barely sees: above the binarisation threshold, below the box threshold
    regions = dbnet.postprocess(prob, 64, 128)
    sure = [r for r in regions if r.score >= RedactionSettings().region_min_score]
    hints = [r for r in regions if r.score < RedactionSettings().region_min_score]
    assert len(sure) == 1 and len(hints) == 1
    assert 60 <= sum(x for x, _ in hints[0].quad) / 4 <= 120
    off = dbnet.DetectorSettings(hint_thresh=1.0)
    assert [r.score >= off.box_thresh for r in dbnet.postprocess(prob, 64, 128, off)] == [True]
    # The search's cut-off is the detector's box threshold: a hint is never filled as text.
    assert RedactionSettings().region_min_score == dbnet.DetectorSettings().box_thresh


def test_a_10px_line_the_first_pass_only_hints_at_is_removed(basic, derive, detector) -> None:
    """Object 19 of bench/pixels.py's corpus: three skewed Devanagari lines (10-15 px) on a 484 px PNG. The
    10 px one is only a weak outline (box score 0.30-0.36) at the detector's working size, so the enlarged
    search never looked there and the object went clean with the whole line in it."""
    sample = synthetic.generate(19, 0)
    outcome = process("in-small", sample.data, basic, derive, detector)
    assert outcome.output_bytes, outcome.reason
    assert _left(sample, outcome.output_bytes) == [0, 0, 0]



class _Faint(DetectOnly):
    """Outlines bright blobs: sure (0.9) where they reach 240, weak (0.3) where they only reach 180; at 1x, a
    weak blob is outlined only when ``hint_at_1x`` (a frame is 1x, a canvas of the enlarged search is as_is)."""

    def __init__(self, hint_at_1x: bool) -> None:
        self.hint_at_1x = hint_at_1x

    def detect(self, frames: list[np.ndarray], as_is: bool = False) -> list[list[Region]]:
        out = []
        for frame in frames:
            grey = frame[..., 0]
            count, labels, stats, _ = cv2.connectedComponentsWithStats((grey > 150).astype(np.uint8))
            regions = []
            for label in range(1, count):
                x, y, w, h = (int(v) for v in stats[label, :4])
                score = 0.9 if grey[labels == label].max() >= 240 else 0.3
                if score < 0.4 and not as_is and not self.hint_at_1x:
                    continue
                regions.append(Region(((x - 1, y - 1), (x + w, y - 1), (x + w, y + h), (x - 1, y + h)), score))
            out.append(regions)
        return out


@pytest.mark.parametrize("hint_at_1x", [True, False])
def test_a_weak_outline_at_both_scales_is_filled_and_one_at_a_single_scale_is_not(hint_at_1x: bool) -> None:
    """Object 8 of bench/pixels.py's JPEGs (8 px skewed type): the second line scored 0.30 at 1x and 0.39 on
    the 2x search, under the 0.4 a region needs, and stayed. Seen weakly at both scales, it is text."""
    stored = np.full((1, 480, 640), 40, dtype=np.uint8)  # small enough to be searched again at 2x
    stored[0, 100:106, 40:90] = 250  # sure small type: its neighbourhood is searched again at 2x
    stored[0, 112:117, 100:150] = 180  # faint small type in that neighbourhood
    changed, _, _ = detect_and_fill(stored, lambda a: [np.dstack([f] * 3) for f in a], _Faint(hint_at_1x),
                                    RedactionSettings(specks=None), 0)
    assert changed and stored[0, 100:106, 40:90].max() == 0
    assert bool(stored[0, 112:117, 100:150].max() == 0) is hint_at_1x


class _SeesMoreAround:
    """On whole frames finds only the bright line; on the canvases of the look around the fills, anything
    lighter than the background too (a blob the first look missed). Reads every region as ``reading``."""

    def __init__(self, reading: tuple[str, float]) -> None:
        self.reading = reading

    def detect(self, frames: list[np.ndarray], as_is: bool = False) -> list[list[Region]]:
        out = []
        for frame in frames:
            count, _, stats, _ = cv2.connectedComponentsWithStats((frame[..., 0] > (100 if as_is else 200))
                                                                  .astype(np.uint8))
            out.append([Region(((x, y), (x + w, y), (x + w, y + h), (x, y + h)), 0.8)
                        for x, y, w, h, _ in (tuple(int(v) for v in row) for row in stats[1:count])])
        return out

    def read(self, frames: list[np.ndarray], found: list[list[Region]]) -> list[list[Region]]:
        return [[Region(r.quad, r.score, *self.reading) for r in regions] for regions in found]

    def ocr(self, frames: list[np.ndarray], as_is: bool = False) -> list[list[Region]]:
        return self.read(frames, self.detect(frames, as_is))


@pytest.mark.parametrize("reading, filled", [(("", 0.0), False), (("DOE JANE", 0.95), True)])
def test_a_blob_the_look_around_cuts_to_a_strip_is_filled_only_when_it_reads_as_text(reading, filled) -> None:
    """Object 305 of bench/pixels.py's corpus: below a 40 px name, colour Doppler flow the first look did not
    outline. The look around the name's fill cut it to a 40 px strip, which, elongated, was filled as a line
    of text: 46k wrong pixels. Cut across its height, its shape says nothing; its reading decides."""
    stored = np.full((1, 480, 640), 40, dtype=np.uint8)
    stored[0, 100:140, 100:400] = 250  # the name
    stored[0, 150:300, 100:400] = 120  # the blob below it
    changed, _, _ = detect_and_fill(stored, lambda a: [np.dstack([f] * 3) for f in a], _SeesMoreAround(reading),
                                    RedactionSettings(specks=None), 0)
    assert changed and stored[0, 100:140, 100:400].max() == 0
    assert bool(stored[0, 160:170, 150:350].max() == 0) is filled


class _ReadsFillBars:
    """Finds the bright lines on whole frames; on the look around's canvases, one region around the dark
    fills and the anatomy between them (as PP-OCR's detector did on object 145 of bench/pixels.py's corpus).
    Reads a region as "11" when it holds a fill bar, as a reader shown two bars does, and as nothing otherwise."""

    def detect(self, frames: list[np.ndarray], as_is: bool = False) -> list[list[Region]]:
        out = []
        for frame in frames:
            grey = frame[..., 0]
            if not as_is:
                count, _, stats, _ = cv2.connectedComponentsWithStats((grey > 200).astype(np.uint8))
                out.append([Region(((x, y), (x + w, y), (x + w, y + h), (x, y + h)), 0.9)
                            for x, y, w, h, _ in (tuple(int(v) for v in row) for row in stats[1:count])])
                continue
            ys, xs = np.nonzero((grey > 5) & (grey < 30))  # the fills, not the canvas's black
            if not len(xs):
                out.append([])
                continue
            x0, y0, x1, y1 = int(xs.min()) - 10, int(ys.min()) - 10, int(xs.max()) + 10, int(ys.max()) + 10
            out.append([Region(((x0, y0), (x1, y0), (x1, y1), (x0, y1)), 0.86)])
        return out

    def read(self, frames: list[np.ndarray], found: list[list[Region]]) -> list[list[Region]]:
        out = []
        for frame, regions in zip(frames, found, strict=True):
            read = []
            for r in regions:
                x0, y0, x1, y1 = r.cover(frame.shape[1], frame.shape[0], margin=0, min_margin=0, end_margin=0)
                bars = bool(((frame[y0:y1, x0:x1, 0] > 5) & (frame[y0:y1, x0:x1, 0] < 30)).any())
                read.append(Region(r.quad, r.score, "11" if bars else "", 0.95 if bars else 0.0))
            out.append(read)
        return out

    def ocr(self, frames: list[np.ndarray], as_is: bool = False) -> list[list[Region]]:
        return self.read(frames, self.detect(frames, as_is))


def test_the_look_around_does_not_read_its_own_fills_as_text() -> None:
    """Object 145: two vertical lines filled, the look around outlined both fill bars with the ribs between
    them, and the reader, shown the bars, read "11" at 0.9: 30k pixels of anatomy filled. The reader is shown
    the neighbourhood with the fills painted over, so only text left beside them counts."""
    stored = np.full((1, 544, 512), 120, dtype=np.uint8)
    stored[0, 100:200, 100:110] = 250
    stored[0, 100:200, 160:170] = 250
    changed, _, _ = detect_and_fill(stored, lambda a: [np.dstack([f] * 3) for f in a], _ReadsFillBars(),
                                    RedactionSettings(specks=None), 10)
    assert changed and stored[0, 100:200, 100:110].max() == 10 and stored[0, 100:200, 160:170].max() == 10
    assert stored[0, 100:200, 120:150].min() == 120  # the anatomy between the lines stays


@pytest.mark.parametrize("reading, filled", [(("", 0.0), False), (("DOE JANE", 0.95), True)])
def test_what_the_look_around_finds_away_from_every_fill_is_filled_only_when_it_reads_as_text(reading, filled) -> None:
    """Object 238 of bench/pixels.py's corpus: around a filled name, colour Doppler flow 12 px below it, which
    the first look on the whole frame took for nothing, looked like a line on the look around's canvas and
    was filled: 7k wrong pixels. Of 20 such finds in the corpus, touching no fill, none was text."""
    stored = np.full((1, 480, 640), 40, dtype=np.uint8)
    stored[0, 100:140, 100:400] = 250  # the name
    stored[0, 152:162, 150:300] = 120  # a streak below it, apart from the name's fill
    changed, _, _ = detect_and_fill(stored, lambda a: [np.dstack([f] * 3) for f in a], _SeesMoreAround(reading),
                                    RedactionSettings(specks=None), 0)
    assert changed and stored[0, 100:140, 100:400].max() == 0
    assert bool(stored[0, 152:162, 150:300].max() == 0) is filled


class _Measures(DetectOnly):
    """On whole frames sees the two lines, not what lies beside them; on the look around's canvases, every
    bright piece, whose heights (in canvas pixels) it records."""

    def __init__(self) -> None:
        self.heights: list[int] = []

    def detect(self, frames: list[np.ndarray], as_is: bool = False) -> list[list[Region]]:
        out = []
        for frame in frames:
            count, _, stats, _ = cv2.connectedComponentsWithStats((frame[..., 0] > 200).astype(np.uint8))
            boxes = [tuple(int(v) for v in row[:4]) for row in stats[1:count]]
            if as_is:
                self.heights += [h for _, _, _, h in boxes]
            else:
                boxes = [b for b in boxes if b[2] >= 100]  # the lines only
            out.append([Region(((x, y), (x + w, y), (x + w, y + h), (x, y + h)), 0.9) for x, y, w, h in boxes])
        return out


def test_the_look_around_enlarges_only_around_fills_of_small_type() -> None:
    """Around a 30 px line's fill, what is left is large type too: it is searched at the first look's scale
    (736 / 480 here), not at the 2x that small type needs, which costs four times the pixels."""
    stored = np.full((1, 480, 640), 40, dtype=np.uint8)
    stored[0, 100:130, 100:400] = 250  # a 30 px line
    stored[0, 105:125, 408:428] = 250  # a piece the first look left beside it
    stored[0, 300:308, 100:200] = 250  # an 8 px line
    stored[0, 301:307, 214:220] = 250  # a piece beside it
    engine = _Measures()
    detect_and_fill(stored, lambda a: [np.dstack([f] * 3) for f in a], engine, RedactionSettings(specks=None), 0)
    assert stored[0, 105:125, 408:428].max() == 0 and stored[0, 301:307, 214:220].max() == 0
    # The 6 px piece at 2x; the 20 px piece at 736 / 480 (30-31 px), not at 2x (40).
    assert 12 in engine.heights and max(engine.heights) in (30, 31)
