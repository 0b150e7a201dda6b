"""Text search of frames: detect, fill, verify; the pixel engine every format's redaction calls.

Format-agnostic: it sees a stack of stored frames, a function that renders them to 8-bit RGB for the
detector, and the value that fills a region. The detector is passed in (in-process engine embedded,
Triton in streaming), so this module stays pure. Used by ``core.redact``.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from enum import Enum
from functools import partial
from typing import Protocol

import cv2
import numpy as np

from . import mosaic, phi, specks, unverified
from .limits import Deadline
from .record import ObjectRecord
from .regions import Region, line_patch, reach_ends
from .vocabulary import RedactionMode

Box = tuple[int, int, int, int]
Cover = tuple[int, Box, int]  # frame, filled box, the pass that filled it (0: the first search)
SPECK_PASS = -1  # a cover's pass when it holds a speck line: core.specks checked it, the detector looks not
Render = Callable[[np.ndarray], list[np.ndarray]]  # stored frames -> 8-bit RGB renderings
Look = Callable[..., list[list[Region]]]  # detect or ocr: (frames, as_is=False) -> regions per frame
MAX_RECORDED_REGIONS = 500  # per object: a review item lists its regions, not a pathological thousand


class Detector(Protocol):
    def detect(self, frames: list[np.ndarray], as_is: bool = False) -> list[list[Region]]:
        """Regions per frame; ``as_is``: the frames are at the scale to search them at, not to be enlarged."""

    def read(self, frames: list[np.ndarray], found: list[list[Region]]) -> list[list[Region]]:
        """Text for the given regions of each frame (same quads, with text and its confidence)."""

    def ocr(self, frames: list[np.ndarray], as_is: bool = False) -> list[list[Region]]:
        """Detect and read: regions with their text (needed by phi mode and its verification)."""


@dataclass(frozen=True)
class RedactionSettings:
    mode: RedactionMode = RedactionMode.ALL  # all: every detected text; phi: only text matching PHI; off: none
    review_threshold: float = 0.6
    passes: int = 2  # detect -> fill -> look around the fills -> fill what is left -> look again
    phi_terms: tuple[str, ...] = ()  # normalised header PHI values (phi.header_terms), in memory only
    encoding: str = "original"  # original | htj2k: how redacted compressed pixel data is re-encoded
    # The detector sometimes outlines anatomy (ultrasound speckle, bone edges, small MR/CT upscaled) as a
    # large, blob-shaped text block. A region taller than this share of the frame and less elongated than
    # a line of text is filled only when it reads as text. One that does not read is anatomy when the
    # detector was unsure of it too (below large_region_doubt_score): left alone; above, left in place for
    # a reviewer. Elongated regions are treated as text whatever they read as: blurred lines stay removed.
    large_region_fraction: float = 0.12
    large_region_doubt_score: float = 0.75
    text_line_aspect: float = 3.0
    # Burned-in text is never a quarter of the frame tall: such a region is never filled as text, however
    # it reads (Tesseract reads a few confident characters into almost any large texture).
    huge_region_fraction: float = 0.25
    large_region_min_text_score: float = 0.9
    # An unreadable elongated region is taken for a blurred line of text only up to this height in
    # pixels (40 px type plus the detector's margin); taller, it is a colour-Doppler box or similar.
    text_line_max_height: float = 72.0
    # Colour Doppler flow, lung texture and contrast-filled vessels are found as compact blobs under the
    # large-region size. A region less elongated than blob_aspect (a line of text is longer) and taller
    # than blob_min_side pixels (28 px type and more) is filled only when it reads as text: two or three
    # characters of big type do read.
    blob_aspect: float = 3.0
    blob_min_side: float = 32.0
    # Small type (8-9 px) is found far more often on a 2x enlargement: in frames up to upscale_below, the
    # neighbourhoods (small_type_margin of their height around) of regions no taller than small_type_side
    # are searched again enlarged by small_frame_scale (0: never).
    upscale_below: int = 768
    small_frame_scale: float = 2.0
    small_type_side: float = 22.0
    small_type_margin: float = 2.0
    # The detector also returns weak outlines (inference.dbnet.DetectorSettings.hint_thresh) with scores
    # below its box threshold: hints, never filled, whose small ones also seed the enlarged search above.
    # Equal to DetectorSettings.box_thresh.
    region_min_score: float = 0.4
    # Verification looks again only around each fill: the fill grown by verify_margin of its short side
    # (at least verify_min_margin px), searched at the scale its frame was searched at. The detector's
    # working sides (inference.dbnet.DetectorSettings limit_side_len and max_side_len) fix that scale.
    verify_margin: float = 1.0
    verify_min_margin: int = 24
    detector_short_side: int = 736
    detector_long_side: int = 2000
    # Frames searched at once: bounds the renderings (and their enlargements) held in memory.
    frame_batch: int = 8
    # Boxes a reviewer drew (frame, x0, y0, x1, y1; frame -1: every frame), filled before the search looks,
    # like the pixel rules' fixed banners; the search and its verification then run as always.
    manual_boxes: tuple[tuple[int, int, int, int, int], ...] = ()
    # Small skewed type drawn without antialiasing breaks into specks the detector does not see as text
    # (see core.specks); after the first fills, such lines left in the frame's extreme value are filled
    # too (None: never).
    specks: specks.SpeckSettings | None = specks.SpeckSettings()


@dataclass
class _Tally:
    """What the frame batches of one object found, summed."""

    covers: int = 0
    doubtful: int = 0
    problems: list[str] = field(default_factory=list)
    scores: list[float] = field(default_factory=list)
    # Where the search filled (or left for a reviewer) and how sure it was: coordinates and scores only,
    # never the text read, so it may be recorded beside the output for the review queue.
    regions: list[dict[str, object]] = field(default_factory=list)
    offset: int = 0  # the first frame of the batch being searched

    def region(self, frame: int, box: Box, score: float, kind: str) -> None:
        if len(self.regions) < MAX_RECORDED_REGIONS:
            self.regions.append({"frame": self.offset + frame, "box": [int(v) for v in box],
                                 "score": round(float(score), 4), "kind": kind})

    def result(self) -> tuple[bool, list[str], list[float]]:
        doubt = [f"{self.doubtful} large region(s) found that do not read as text (anatomy?): left in place for "
                 "a reviewer"] if self.doubtful else []
        return bool(self.covers), doubt + self.problems, self.scores


def fill_manual(stored: np.ndarray, settings: RedactionSettings, fill: float) -> list[dict[str, object]]:
    """Fill the boxes a reviewer drew (clipped to the frame); returns them as recorded regions."""
    recorded: list[dict[str, object]] = []
    frames, height, width = stored.shape[0], stored.shape[1], stored.shape[2]
    for frame, x0, y0, x1, y1 in settings.manual_boxes:
        box = (max(0, x0), max(0, y0), min(width, x1), min(height, y1))
        if box[0] >= box[2] or box[1] >= box[3] or frame >= frames:
            continue
        target = stored if frame < 0 else stored[frame:frame + 1]
        target[:, box[1]:box[3], box[0]:box[2]] = fill
        recorded.append({"frame": frame, "box": list(box), "score": 1.0, "kind": "manual"})
    return recorded


def detect_and_fill(stored: np.ndarray, render: Render, detector: Detector, settings: RedactionSettings,
                     fill: float, deadline: Deadline | None = None,
                     regions: list[dict[str, object]] | None = None) -> tuple[bool, list[str], list[float]]:
    """Search, fill and verify the frames in batches of ``settings.frame_batch``; returns (changed, problems, scores).

    Batches bound the memory of renderings (and enlargements) to a few frames, and the time budget is checked
    between them, so a long series ends as an ``over-budget`` error instead of holding its worker.
    """
    tally = _Tally()
    total = stored.shape[0]
    for start in range(0, total, settings.frame_batch):
        end = min(total, start + settings.frame_batch)
        if deadline is not None:
            deadline.check(f"searching frames {start + 1}-{end} of {total} for text")
        tally.offset = start
        _detect_and_fill_batch(stored[start:end], render, detector, settings, fill, tally)  # a view: fills land
    if regions is not None:
        regions.extend(tally.regions)
    return tally.result()


def _detect_and_fill_batch(stored: np.ndarray, render: Render, detector: Detector, settings: RedactionSettings,
                           fill: float, tally: _Tally) -> None:
    """Search the frames once, fill what is text, then look again only around the fills.

    In ``all`` mode a detection is filled without being read (detect-first). Reading runs only where a
    decision needs it: a large or blob-shaped region is filled when it reads as text, and a region the
    detector was unsure of counts as sure when it reads as text. ``phi`` mode reads everything, since
    only what reads as PHI is filled.
    """
    height, width = stored.shape[1], stored.shape[2]
    frames = render(stored)
    scales = [_search_scales(f, settings) for f in frames]
    found = _first_look(frames, scales, detector, settings)
    selected = _select(found, settings)
    chosen, doubt = _split_doubtful(selected, height, width, settings)
    covers: list[Cover] = []
    speck_lines = [specks.lines(f, settings.specks) for f in stored] if settings.specks is not None else []
    _fill(stored, frames, chosen, fill, covers, tally, first=True, settings=settings)
    if speck_lines:
        _fill_specks(stored, speck_lines, found, chosen, fill, covers, tally)
    for index, (regions, kept) in enumerate(zip(selected, chosen, strict=True)):
        for r in regions:
            if r not in kept and r.score >= settings.large_region_doubt_score:
                tally.region(index, r.cover(width, height), r.score, "left")
    tally.doubtful += doubt
    problems: list[str] = []
    # What the detector would answer on the final pixels: what it left alone, plus what it finds around fills.
    final: list[list[Region]] | None = [[r for r in regions if r not in kept] for regions, kept
                                        in zip(found, chosen, strict=True)]
    for attempt in range(settings.passes):
        if not covers:
            break  # nothing was filled: the first look, on exactly these pixels, is the verification
        frames = render(stored)
        try:
            pending = [c for c in covers if c[2] >= attempt]
            seen = unverified.verifying(partial(_look_around, frames, scales, pending, detector, settings))
        except unverified.EngineFailed:
            # The fills so far stay (they only remove text); what they left is unknown, so a person looks.
            problems, final = [unverified.reason(unverified.LOOK_AROUND)], None
            break
        if settings.mode is not RedactionMode.PHI:
            seen = _read_doubtful(detector, frames, seen, _Fills(stored, fill, covers), settings)
        left = seen
        if settings.mode is RedactionMode.PHI:
            problems = _phi_problems(seen, covers, width, height, settings)
            left = [[r for r in regions if not _inside_a_cover(r, i, covers, width, height)] for i, regions
                    in enumerate(_select(seen, settings))]
        remaining, _ = _split_doubtful(left, height, width, settings)
        if settings.mode is not RedactionMode.PHI:
            # Found away from every fill: text the first look missed, or the look around's new context making
            # anatomy look like type (colour Doppler beside a filled name). Its reading decides, and the
            # release sweep reads what stays.
            fills = _Fills(stored, fill, covers)
            remaining = [[r for r in regions if not fills.apart(r, i) or _reads_as_text(r, settings)]
                         for i, regions in enumerate(remaining)]
        # What it found stays part of the answer, except what is filled now: the next look covers that
        # fill's neighbourhood again.
        final = [old + [r for r in new if r not in gone] for old, new, gone
                 in zip(final, seen, remaining, strict=True)] if final is not None else None
        if not any(remaining):
            break
        if attempt == settings.passes - 1:
            problems.append(f"text still detected after {settings.passes} redaction passes")
            final = None
            break
        _fill(stored, frames, remaining, fill, covers, tally, first=False, settings=settings, attempt=attempt + 1)
    remember = getattr(detector, "remember", None)
    if final is not None and remember is not None:
        # A reading stays with its region only where no fill touched it: elsewhere the pixels it read changed.
        remember(frames, [[r if r.text and not _touches_a_cover(r, i, covers, width, height)
                           else Region(r.quad, r.score) for r in regions] for i, regions in enumerate(final)])
    tally.covers += len(covers)
    for problem in problems:
        if problem not in tally.problems:
            tally.problems.append(problem)


def _search_scales(frame: np.ndarray, settings: RedactionSettings) -> tuple[float, ...]:
    """The scales a frame is searched at: as it is, and for small type enlarged, where the enlargement
    reaches the detector (it shrinks a long, low frame back to its maximum side, and enlarges a small one
    to its working side by itself)."""
    if max(frame.shape[:2]) > settings.upscale_below or not settings.small_frame_scale:
        return (1.0,)
    if _seen_at(frame.shape, settings.small_frame_scale, settings) <= _seen_at(frame.shape, 1.0, settings) + 1e-6:
        return (1.0,)
    return (1.0, settings.small_frame_scale)


def _seen_at(shape: tuple[int, ...], scale: float, settings: RedactionSettings) -> float:
    """Detector pixels per frame pixel when a frame enlarged by ``scale`` is handed to the detector."""
    short, long = min(shape[:2]), max(shape[:2])
    return min(max(scale, settings.detector_short_side / max(short, 1)), settings.detector_long_side / max(long, 1))


def _enlarged(frame: np.ndarray, scale: float) -> np.ndarray:
    if scale == 1.0:
        return frame
    return cv2.resize(frame, None, fx=scale, fy=scale, interpolation=cv2.INTER_CUBIC)


def _first_look(frames: list[np.ndarray], scales: list[tuple[float, ...]], detector: Detector,
                settings: RedactionSettings) -> list[list[Region]]:
    """One detection pass per frame; small type searched again, enlarged, only around where it was found.

    8-9 px type is found far more often at 2x, but at 1x the detector still touches nearly every such line
    (94 of 96 lines of 8-15 px type in bench/pixels.py's corpus): it outlines a piece of it. So the enlarged
    search runs on the neighbourhoods of small regions (packed onto canvases, see core.mosaic), not on
    whole frames, and a frame without small type costs one detection. Reading runs only where a decision
    needs it (see _needs_reading); phi mode reads everything.
    """
    height, width = frames[0].shape[:2]
    look = detector.ocr if settings.mode is RedactionMode.PHI else detector.detect
    seen = look(frames)
    found = _confident(seen, settings)
    wanted = []
    for index in range(len(found)):
        if len(scales[index]) < 2:
            continue
        scale = _seen_at((height, width), scales[index][-1], settings)
        # Hints count here: a line of 8-10 px type is sometimes only a weak outline at 1x, nothing else.
        small = [r.cover(width, height) for r in seen[index] if r.short_side() <= settings.small_type_side]
        for box in mosaic.neighbourhoods(small, width, height, settings.small_type_margin, settings.verify_min_margin):
            wanted.append((index, box, scale))
    if wanted:
        for index, regions in enumerate(_mosaic_look(frames, wanted, look, scales, settings)):
            hints = [r.cover(width, height, margin=0, min_margin=0, end_margin=0) for r in seen[index]
                     if r.score < settings.region_min_score]
            sure = [r for r in regions if r.score >= settings.region_min_score]
            # Weak at both scales: text, at the lowest score that is (so it is read, and unless it reads
            # clearly the object goes to a reviewer).
            twice = [replace(r, score=settings.region_min_score) for r in regions
                     if r.score < settings.region_min_score and _seen_twice(r, hints, width, height)]
            found[index] = found[index] + sure + twice
    if settings.mode is not RedactionMode.PHI:
        unsure = [[r for r in regions if _needs_reading(r, height, width, settings)] for regions in found]
        if any(unsure):
            factors = [max(s) for s in scales]
            # Only frames with something to read are enlarged: _read passes the others by.
            enlarged = [_enlarged(f, s) if u else f for f, s, u in zip(frames, factors, unsure, strict=True)]
            readings = _read(detector, enlarged, [[r.scaled(s) for r in regions] for regions, s
                                                  in zip(unsure, factors, strict=True)])
            found = [_with_readings(regions, asked, read)
                     for regions, asked, read in zip(found, unsure, readings, strict=True)]
    return found


def _seen_twice(region: Region, hints: list[Box], width: int, height: int) -> bool:
    """A weak outline on the enlarged search where the search at 1x also had one: the same faint line, seen
    at two scales."""
    box = region.cover(width, height, margin=0, min_margin=0, end_margin=0)
    area = max(1, (box[2] - box[0]) * (box[3] - box[1]))
    return _shared_area(box, hints) * 2 >= area


@dataclass(frozen=True)
class _Fills:
    """What the fills so far changed: the stored frames, the fill value and where it went."""

    stored: np.ndarray
    value: float
    covers: list[Cover]

    def apart(self, region: Region, index: int) -> bool:
        """Touching no fill, even when grown along its line by two heights (all round when it is too short to
        say which way its line runs): the next word of a filled line, which the first look missed, is not
        apart."""
        across = 2.0 if region.aspect() < 2.0 else 0.15
        box = region.cover(self.stored.shape[2], self.stored.shape[1], margin=across, end_margin=2.0)
        return not any(_overlaps(box, cover) for f, cover, _ in self.covers if f == index)

    def painted_over(self, frame: np.ndarray, index: int) -> np.ndarray:
        """The rendering of frame ``index`` with each fill painted over in the colour around it.

        A fill bar is a glyph to a reader ("I", "l"): two bars with the anatomy between them were read as
        "11" at 0.9, and that region, 120 px across, was filled whole. What a reading after the fills must
        decide is whether text is left beside them.
        """
        stored, (height, width) = self.stored[index], self.stored.shape[1:3]
        plain = frame.copy()
        # A colour frame's fill is a value in every sample: a pixel is filled when all of them are.
        is_fill = stored == self.value if stored.ndim == 2 else (stored == self.value).all(axis=-1)
        for x0, y0, x1, y1 in (box for f, box, _ in self.covers if f == index):
            inside = is_fill[y0:y1, x0:x1]
            rx0, ry0, rx1, ry1 = max(0, x0 - 3), max(0, y0 - 3), min(width, x1 + 3), min(height, y1 + 3)
            ring = ~is_fill[ry0:ry1, rx0:rx1]
            ring[y0 - ry0:y1 - ry0, x0 - rx0:x1 - rx0] = False
            around = plain[ry0:ry1, rx0:rx1][ring]
            if inside.any() and around.size:
                plain[y0:y1, x0:x1][inside] = np.median(around, axis=0)
        return plain


def _read_doubtful(detector: Detector, frames: list[np.ndarray], seen: list[list[Region]], fills: _Fills,
                   settings: RedactionSettings) -> list[list[Region]]:
    """The look around the fills reads, as the first look does, the regions only a reading decides: large or
    blob-shaped ones (and those cut short, which may be either) are filled when they read as text; so are
    those found away from every fill."""
    height, width = fills.stored.shape[1], fills.stored.shape[2]
    unsure = [[r for r in regions if (_size(r, height, width, settings) is _Size.DOUBTFUL
                                      and not _line_shaped(r, settings)) or fills.apart(r, i)]
              for i, regions in enumerate(seen)]
    if not any(unsure):
        return seen
    shown = [fills.painted_over(f, i) if asked else f for i, (f, asked) in enumerate(zip(frames, unsure, strict=True))]
    return [_with_readings(regions, asked, read)
            for regions, asked, read in zip(seen, unsure, _read(detector, shown, unsure), strict=True)]


def _with_readings(regions: list[Region], asked: list[Region], read: list[Region]) -> list[Region]:
    """``regions`` with the readings of those ``asked`` attached; every other field (the detector's score, the
    cut flag) stays the region's own, since a reading may come back on an enlarged copy of it."""
    by_quad = {u.quad: replace(u, text=r.text, text_score=r.text_score) for u, r in zip(asked, read, strict=True)}
    return [by_quad.get(r.quad, r) for r in regions]


def _read(detector: Detector, frames: list[np.ndarray], found: list[list[Region]]) -> list[list[Region]]:
    picked = [i for i, regions in enumerate(found) if regions]
    readings = detector.read([frames[i] for i in picked], [found[i] for i in picked])
    out: list[list[Region]] = [[] for _ in frames]
    for i, regions in zip(picked, readings, strict=True):
        out[i] = regions
    return out


def _needs_reading(region: Region, height: int, width: int, settings: RedactionSettings) -> bool:
    """Would reading change what happens to this region? Only for unsure or large, blob-like ones."""
    if region.score < settings.review_threshold:
        return True
    return _size(region, height, width, settings) is _Size.DOUBTFUL and not _line_shaped(region, settings)


class _Size(Enum):
    """What a region's size says before anything is read."""

    TEXT = "text"  # small enough to be type: filled on the detector's word
    DOUBTFUL = "doubtful"  # large or blob-like: text only if it is line-shaped or reads as text
    NEVER = "never"  # a quarter of the frame or more: never text, whatever it reads as


def _size(region: Region, height: int, width: int, settings: RedactionSettings) -> _Size:
    side = region.short_side()
    if side > settings.huge_region_fraction * min(height, width):
        return _Size.NEVER
    # A region whose height was cut short (Region.cut) may be a blob cut to a strip: its aspect tells nothing.
    blob = side > settings.blob_min_side and (region.aspect() < settings.blob_aspect or region.cut)
    large = side > settings.large_region_fraction * min(height, width)
    return _Size.DOUBTFUL if large or blob else _Size.TEXT


def _fill(stored: np.ndarray, frames: list[np.ndarray], chosen: list[list[Region]], fill: float,
          covers: list[Cover], tally: _Tally, first: bool, settings: RedactionSettings, attempt: int = 0) -> None:
    height, width = stored.shape[1], stored.shape[2]
    for index, regions in enumerate(chosen):
        if not regions:
            continue
        filled = _filled(covers, index, height, width)
        free = stored[index][~filled] if stored.ndim == 3 else None  # grey frames only: see reach_ends
        extremes = (float(free.min()), float(free.max())) if free is not None and free.size else None
        for region in regions:
            # The strokes' extent (plus a pad) in the line's own frame rather than the detector's box, and a
            # rotated fill for a skewed line: see regions.line_patch. Recorded (and looked around) by its box.
            patch = line_patch(region, frames[index])
            box = patch.box
            if not patch.mask.any():
                continue  # a quad wholly outside the frame: nothing to fill, nothing to look around
            # On to the ends of the line where the box fell short (regions.reach_ends, read before the fill).
            strips = reach_ends(stored[index], filled, box, extremes) if extremes is not None else []
            # A patch its line runs out of was cut to a detector box that fell short, so its own rotated edges
            # are no guide there either: it is filled whole.
            mask = patch.mask if not strips else np.ones_like(patch.mask)
            stored[index, box[1]:box[3], box[0]:box[2]][mask] = fill
            filled[box[1]:box[3], box[0]:box[2]] |= mask
            for x0, y0, x1, y1 in strips:
                stored[index, y0:y1, x0:x1] = fill
                filled[y0:y1, x0:x1] = True
            box = _union([box, *strips])
            covers.append((index, box, attempt))
            # A later fill removes what is left of a line already filled (a reviewer sees it apart), and is
            # looked at again; only first fills say how sure the search was.
            tally.region(index, box, _confidence(region, settings), "filled" if first else "refilled")
            if first:
                tally.scores.append(_confidence(region, settings))


def _union(boxes: list[Box]) -> Box:
    return (min(b[0] for b in boxes), min(b[1] for b in boxes), max(b[2] for b in boxes), max(b[3] for b in boxes))


def _filled(covers: list[Cover], index: int, height: int, width: int) -> np.ndarray:
    """The pixels of frame ``index`` that fills have changed so far."""
    filled = np.zeros((height, width), dtype=bool)
    for frame, (x0, y0, x1, y1), _ in covers:
        if frame == index:
            filled[y0:y1, x0:x1] = True
    return filled


def _fill_specks(stored: np.ndarray, speck_lines: list[list[specks.SpeckLine]], found: list[list[Region]],
                 chosen: list[list[Region]], fill: float, covers: list[Cover], tally: _Tally) -> None:
    """Fill the speck lines (core.specks) with a speck the first fills left, except those lying mostly inside
    a region the search decided to keep (a label phi mode read, a large region left for a reviewer): they
    were judged there. A kept region that holds only a piece of a speck line read only that piece.

    Illegible to the reader too, so neither mode reads them. The detector saw nothing there at its first
    look, so its look around the fills leaves them out (SPECK_PASS): that would cost a detection for each.
    """
    height, width = stored.shape[1], stored.shape[2]
    for index, found_lines in enumerate(speck_lines):
        if not found_lines:
            continue
        kept = [r.cover(width, height) for r in found[index] if r not in chosen[index]]
        filled = _filled(covers, index, height, width)
        for line in found_lines:
            box = line.box
            area = (box[2] - box[0]) * (box[3] - box[1])
            if filled[line.ys, line.xs].all() or _shared_area(box, kept) * 2 > area:
                continue
            stored[index, box[1]:box[3], box[0]:box[2]] = fill
            filled[box[1]:box[3], box[0]:box[2]] = True
            covers.append((index, box, SPECK_PASS))
            tally.region(index, box, 1.0, "specks")


def _confidence(region: Region, settings: RedactionSettings) -> float:
    """How sure the search is that a filled region was text, for the review decision.

    Read regions (phi mode, and unsure ones in all mode): the detector and the reader must agree, or
    the reader must be sure where the detector was not. Unread ones: the detector's score, which was
    high enough that reading was not needed.
    """
    if not region.text and settings.mode is not RedactionMode.PHI:
        return region.score
    if settings.mode is RedactionMode.PHI:
        return min(region.score, region.text_score)
    return max(region.score, region.text_score)


def _look_around(frames: list[np.ndarray], scales: list[tuple[float, ...]], covers: list[Cover], detector: Detector,
                 settings: RedactionSettings) -> list[list[Region]]:
    """Search the neighbourhoods of ``covers`` again (see core.mosaic), at each frame's search scale."""
    height, width = frames[0].shape[:2]
    by_frame: dict[int, list[tuple[int, int, int, int]]] = {}
    for index, box, _ in covers:
        by_frame.setdefault(index, []).append(box)
    wanted = []
    for index, boxes in by_frame.items():
        # Enlarged only around fills of small type: what a fill of larger type left is larger type too, seen
        # at the first look's scale; the enlargement costs four times the pixels.
        small = [b for b in boxes if min(b[2] - b[0], b[3] - b[1]) <= settings.small_type_side]
        enlarged, plain = (_seen_at((height, width), s, settings) for s in (max(scales[index]), 1.0))
        for box in mosaic.neighbourhoods(boxes, width, height, settings.verify_margin, settings.verify_min_margin):
            wanted.append((index, box, enlarged if any(_overlaps(box, b) for b in small) else plain))
    look = detector.ocr if settings.mode is RedactionMode.PHI else detector.detect
    return _confident(_mosaic_look(frames, wanted, look, scales, settings), settings)


def _confident(found: list[list[Region]], settings: RedactionSettings) -> list[list[Region]]:
    """The regions that are text to the detector, without its hints (see RedactionSettings.region_min_score)."""
    return [[r for r in regions if r.score >= settings.region_min_score] for regions in found]


def _mosaic_look(frames: list[np.ndarray], wanted: list[tuple[int, Box, float]], look: Look,
                 scales: list[tuple[float, ...]], settings: RedactionSettings) -> list[list[Region]]:
    """Regions ``look`` finds in the wanted neighbourhoods, in frame coordinates; a frame whose neighbourhood
    fits no canvas is searched whole instead."""
    # The canvases are painted at their neighbourhoods' search scale and searched as they are, so each costs
    # the pixels it holds, not the detector's working side squared (736 x 736 for a line's strip).
    slots, sizes, whole = mosaic.pack(wanted)
    slots = [s for s in slots if s.frame not in whole]
    found = mosaic.back_to_frames(look(mosaic.paint(frames, slots, sizes), as_is=True) if slots else [], slots,
                                  len(frames), frames[0].shape[:2])
    if whole:
        searched = [_enlarged(frames[i], max(scales[i])) for i in whole]
        for i, regions in zip(whole, look(searched), strict=True):
            found[i] = [r.scaled(1 / max(scales[i])) for r in regions]
    return found


def _split_doubtful(found: list[list[Region]], height: int, width: int,
                    settings: RedactionSettings) -> tuple[list[list[Region]], int]:
    kept, doubtful = [], 0
    for regions in found:
        keep = [r for r in regions if _fillable(r, height, width, settings)]
        doubtful += sum(r.score >= settings.large_region_doubt_score for r in regions if r not in keep)
        kept.append(keep)
    return kept, doubtful


def _fillable(region: Region, height: int, width: int, settings: RedactionSettings) -> bool:
    size = _size(region, height, width, settings)
    if size is not _Size.DOUBTFUL:
        return size is _Size.TEXT
    return _line_shaped(region, settings) or _reads_as_text(region, settings)


def _line_shaped(region: Region, settings: RedactionSettings) -> bool:
    """Elongated and no taller than type: a line, whatever it reads as; not when its height was cut short."""
    return (not region.cut and region.aspect() >= settings.text_line_aspect
            and region.short_side() <= settings.text_line_max_height)


def _reads_as_text(region: Region, settings: RedactionSettings) -> bool:
    characters = sum(ch.isalnum() for ch in region.text.split("\n")[0])  # PP-OCR's reading
    return characters >= 2 and region.text_score >= settings.large_region_min_text_score


def _select(found: list[list[Region]], settings: RedactionSettings) -> list[list[Region]]:
    """Regions to fill: every one in "all" mode; in "phi" mode only PHI values, dates and ID-like text."""
    if settings.mode is not RedactionMode.PHI:
        return found
    return [[r for r in regions if phi.matches(r.text, settings.phi_terms) or phi.looks_like_phi(r.text)
             or r.text_score < settings.review_threshold]  # unreadable: cannot prove it is not PHI
            for regions in found]


def _phi_problems(seen: list[list[Region]], covers: list[Cover], width: int, height: int,
                  settings: RedactionSettings) -> list[str]:
    """phi mode's verification of the redacted neighbourhoods: PHI still readable, or text inside a fill."""
    problems = []
    if any(phi.matches(r.text, settings.phi_terms) for regions in seen for r in regions):
        problems.append("a header PHI value is still readable after redaction")
    if any(_inside_a_cover(r, i, covers, width, height) for i, regions in enumerate(seen) for r in regions):
        problems.append("text read back inside a redacted region")
    return problems


def _inside_a_cover(region: Region, index: int, covers: list[Cover], width: int, height: int) -> bool:
    tight = region.cover(width, height, margin=0, min_margin=0, end_margin=0)
    return any(_overlaps(tight, box) for f, box, _ in covers if f == index)


def _touches_a_cover(region: Region, index: int, covers: list[Cover], width: int, height: int) -> bool:
    box = region.cover(width, height)
    return any(_overlaps(box, cover) for f, cover, _ in covers if f == index)


def _shared_area(box: Box, others: list[Box]) -> int:
    """Pixels of ``box`` inside at least one of ``others``."""
    if not others:
        return 0
    inside = np.zeros((box[3] - box[1], box[2] - box[0]), dtype=bool)
    for x0, y0, x1, y1 in others:
        inside[max(0, y0 - box[1]):max(0, y1 - box[1]), max(0, x0 - box[0]):max(0, x1 - box[0])] = True
    return int(inside.sum())


def _overlaps(a: tuple[int, int, int, int], b: tuple[int, int, int, int]) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def score(record: ObjectRecord, scores: list[float], problems: list[str], settings: RedactionSettings) -> None:
    record.confidence = round(min(scores), 4) if scores else 1.0
    record.stats["text_regions"] = len(scores)
    # Called only after the search looked at the final pixels again, or failed to (an unverified problem).
    failed = any(p.startswith(unverified.PREFIX) for p in problems)
    record.stats["pixels"] = "unverified" if failed else "verified"
    for problem in problems:
        record.add_finding("redact", problem)
    if scores and record.confidence < settings.review_threshold:
        record.add_finding("redact", f"text detection confidence {record.confidence:.2f} is below the "
                                     f"profile's review threshold {settings.review_threshold:.2f}")


