"""Text search of frames: detect, fill, verify; the pixel engine every format's redaction calls.

Format-agnostic: it sees a stack of stored frames, a function that renders them to 8-bit RGB for the
detector, and the value that fills a region. The detector is passed in (in-process engine embedded,
Triton in streaming), so this module stays pure. Used by ``core.redact``.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

import cv2
import numpy as np

from . import phi
from .limits import Deadline
from .record import ObjectRecord
from .regions import Region, tighten
from .vocabulary import RedactionMode


class Detector(Protocol):
    def detect(self, frames: list[np.ndarray]) -> list[list[Region]]: ...

    def ocr(self, frames: list[np.ndarray]) -> list[list[Region]]:
        """Detect and read: regions with their text (needed by phi mode and its verification)."""


@dataclass(frozen=True)
class RedactionSettings:
    mode: RedactionMode = RedactionMode.ALL  # all: every detected text; phi: only text matching PHI; off: none
    review_threshold: float = 0.6
    passes: int = 2  # detect -> fill -> detect again -> fill -> verify
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
    # Small type (8-12 px) is found far more often on a 2x enlargement: frames up to this size are
    # searched twice, as they are and enlarged, and the regions of both are filled.
    upscale_below: int = 768
    # Frames searched at once: bounds the renderings (and their enlargements) held in memory.
    frame_batch: int = 8


@dataclass
class _Tally:
    """What the frame batches of one object found, summed."""

    covers: int = 0
    doubtful: int = 0
    problems: list[str] = field(default_factory=list)
    scores: list[float] = field(default_factory=list)

    def result(self) -> tuple[bool, list[str], list[float]]:
        doubt = [f"{self.doubtful} large region(s) found that do not read as text (anatomy?): left in place for "
                 "a reviewer"] if self.doubtful else []
        return bool(self.covers), doubt + self.problems, self.scores


def detect_and_fill(stored: np.ndarray, render, detector: Detector, settings: RedactionSettings,
                     fill: float, deadline: Deadline | None = None) -> tuple[bool, list[str], list[float]]:
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
        _detect_and_fill_batch(stored[start:end], render, detector, settings, fill, tally)  # a view: fills land
    return tally.result()


def _detect_and_fill_batch(stored: np.ndarray, render, detector: Detector, settings: RedactionSettings,
                           fill: float, tally: _Tally) -> None:
    """Detect on renderings, fill covers in the stored frames, verify.

    The first pass reads what it finds (on the frame and, for small frames, a 2x enlargement), so a
    region that is found but cannot be read lowers the object's confidence and a large region is filled
    only when it reads as text. Later passes only look for what is left, which is cheaper.
    """
    covers: list[tuple[int, tuple[int, int, int, int]]] = []
    height, width = stored.shape[1], stored.shape[2]
    unchanged = None  # the detector's answer on the pixels as they are now, when no fill followed it
    doubt = 0
    for attempt in range(settings.passes):
        frames = render(stored)
        seen = _look(frames, detector, settings, first=attempt == 0)
        found, doubtful = _split_doubtful(_select(seen, settings), height, width, settings)
        doubt = max(doubt, doubtful)
        if not any(found):
            unchanged = seen
            break
        for index, regions in enumerate(found):
            for region in regions:
                # The strokes' extent (plus a pad) rather than the detector's box: see regions.tighten.
                box = tighten(region.cover(width, height), frames[index])
                stored[index, box[1]:box[3], box[0]:box[2]] = fill
                covers.append((index, box))
                tally.scores.append(min(region.score, region.text_score) if attempt == 0 else region.score)
    tally.covers += len(covers)
    tally.doubtful += doubt
    for problem in _verify(stored, render, detector, settings, covers, unchanged):
        if problem not in tally.problems:
            tally.problems.append(problem)


def _split_doubtful(found: list[list[Region]], height: int, width: int,
                    settings: RedactionSettings) -> tuple[list[list[Region]], int]:
    limit = settings.large_region_fraction * min(height, width)
    huge = settings.huge_region_fraction * min(height, width)
    kept, doubtful = [], 0
    for regions in found:
        keep = [r for r in regions if _fillable(r, limit, huge, settings)]
        doubtful += sum(r.score >= settings.large_region_doubt_score for r in regions if r not in keep)
        kept.append(keep)
    return kept, doubtful


def _fillable(region: Region, limit: float, huge: float, settings: RedactionSettings) -> bool:
    side = region.short_side()
    if side > huge:
        return False
    blob = side > settings.blob_min_side and region.aspect() < settings.blob_aspect
    if side <= limit and not blob:
        return True
    return _line_shaped(region, settings) or _reads_as_text(region, settings)


def _line_shaped(region: Region, settings: RedactionSettings) -> bool:
    return region.aspect() >= settings.text_line_aspect and region.short_side() <= settings.text_line_max_height


def _reads_as_text(region: Region, settings: RedactionSettings) -> bool:
    characters = sum(ch.isalnum() for ch in region.text.split("\n")[0])  # PP-OCR's reading
    return characters >= 2 and region.text_score >= settings.large_region_min_text_score


def _ocr_with_variants(frames: list[np.ndarray], detector: Detector, settings: RedactionSettings) -> list[list[Region]]:
    found = detector.ocr(frames)
    small = [i for i, f in enumerate(frames) if max(f.shape[:2]) <= settings.upscale_below]
    if small:
        enlarged = detector.ocr([cv2.resize(frames[i], None, fx=2, fy=2, interpolation=cv2.INTER_CUBIC)
                                 for i in small])
        for i, regions in zip(small, enlarged, strict=True):
            found[i] = found[i] + [r.scaled(0.5) for r in regions]
    return found


def _look(frames: list[np.ndarray], detector: Detector, settings: RedactionSettings,
          first: bool) -> list[list[Region]]:
    """The first pass reads (with the enlarged variant); later ones only detect, except in phi mode."""
    if first:
        return _ocr_with_variants(frames, detector, settings)
    return detector.ocr(frames) if settings.mode is RedactionMode.PHI else detector.detect(frames)


def _select(found: list[list[Region]], settings: RedactionSettings) -> list[list[Region]]:
    """Regions to fill: every one in "all" mode; in "phi" mode only PHI values, dates and ID-like text."""
    if settings.mode is not RedactionMode.PHI:
        return found
    return [[r for r in regions if phi.matches(r.text, settings.phi_terms) or phi.looks_like_phi(r.text)
             or r.text_score < settings.review_threshold]  # unreadable: cannot prove it is not PHI
            for regions in found]


def _verify(stored: np.ndarray, render, detector: Detector, settings: RedactionSettings,
            covers: list[tuple[int, tuple[int, int, int, int]]], seen: list[list[Region]] | None) -> list[str]:
    """Detect (and in phi mode read) the redacted frames again: what is found there is a problem.

    ``seen`` is a pass's answer on exactly these pixels (no fill followed it): the same detector on the
    same pixels answers the same, so it is the verification and the detector is not run again.
    """
    if seen is None:
        frames = render(stored)
        seen = detector.detect(frames) if settings.mode is RedactionMode.ALL else detector.ocr(frames)
    if settings.mode is RedactionMode.ALL:
        remaining, _ = _split_doubtful(seen, stored.shape[1], stored.shape[2], settings)
        return [f"text still detected after {settings.passes} redaction passes"] if any(remaining) else []
    problems = []
    height, width = stored.shape[1], stored.shape[2]
    if any(seen):
        if any(phi.matches(r.text, settings.phi_terms) for regions in seen for r in regions):
            problems.append("a header PHI value is still readable after redaction")
        inside = any(_overlaps(r.cover(width, height, margin=0, min_margin=0, end_margin=0), box)
                     for i, regions in enumerate(seen) for r in regions for f, box in covers if f == i)
        if inside:
            problems.append("text read back inside a redacted region")
    return problems


def _overlaps(a: tuple[int, int, int, int], b: tuple[int, int, int, int]) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def score(record: ObjectRecord, scores: list[float], problems: list[str], settings: RedactionSettings) -> None:
    record.confidence = round(min(scores), 4) if scores else 1.0
    record.stats["text_regions"] = len(scores)
    record.stats["pixels"] = "verified"  # called only after _verify searched the final pixels again
    for problem in problems:
        record.add_finding("redact", problem)
    if scores and record.confidence < settings.review_threshold:
        record.add_finding("redact", f"text detection confidence {record.confidence:.2f} is below the "
                                     f"profile's review threshold {settings.review_threshold:.2f}")


