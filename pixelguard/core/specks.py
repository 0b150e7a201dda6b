"""Lines of type the detector cannot see: runs of small specks in the frame's extreme stored value.

Scanners burn text in one value, usually the darkest or brightest the frame holds. Type of 8-10 px,
rotated by a few degrees and drawn without antialiasing, breaks into one- and two-pixel specks that no
longer look like letters to DBNet (at 1x, 2x or 3x), yet a reader still makes out digits in them. The
detector-free test here looks for exactly that shape in the stored values:

- pixels equal to the frame's minimum or maximum (grey frames), or pure black or white (RGB);
- in connected pieces no larger than ``max_piece_area`` (solid anatomy and fills are larger);
- several pieces in one elongated group (a line, horizontal or vertical);
- that stand out from what is around them by at least ``min_contrast`` of the frame's range: black
  speckle in a dark ultrasound or MR region is of the extreme value too, but not different from its
  surroundings, and is left alone.

Pure and cheap (two connected-component passes a frame, no copy of it): ``core.textsearch`` runs it on
each frame before the first fills and fills what they did not wholly cover.
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

Box = tuple[int, int, int, int]


@dataclass(frozen=True)
class SpeckSettings:
    max_piece_area: int = 40  # pixels: a speck of 8-10 px type is a stroke fragment, not a glyph
    # Pieces that are not specks but whole strokes (joined letters of cursive type) belong to a speck line
    # they touch, up to this size; they neither make a line nor count as one of its specks.
    max_stroke_area: int = 400
    min_pieces: int = 4  # a line of type breaks into many pieces; two or three specks are noise
    max_line_side: int = 40  # a group taller than this (across the line) is not one line of small type
    min_aspect: float = 2.0  # long side over short side of the group
    min_contrast: float = 0.3  # of the frame's value range, between the specks and the ring around them
    join: tuple[int, int] = (11, 11)  # specks this close (w, h) belong to one group
    pad: int = 2  # px added around a group when it is filled
    near: float = 0.1  # of a grey frame's range: how close to its extreme a speck's value is


@dataclass(frozen=True)
class SpeckLine:
    box: Box  # x0, y0, x1, y1 (exclusive): the group, its joining distance and the pad around it
    ys: np.ndarray  # the speck pixels, frame coordinates
    xs: np.ndarray


def lines(frame: np.ndarray, settings: SpeckSettings = SpeckSettings()) -> list[SpeckLine]:
    """The speck lines of one stored frame, (H, W) or (H, W, 3)."""
    height, width = frame.shape[:2]
    if frame.ndim == 2:
        lo, hi = frame.min(), frame.max()
        # Lossy coding spreads the burn value over the levels near it: within ``near`` of the range.
        slack = settings.near * (float(hi) - float(lo))
        candidates = ([(frame <= lo + slack, float(lo)), (frame >= hi - slack, float(hi))] if hi > lo else [])
    elif frame.ndim == 3 and frame.shape[2] == 3:
        # On colour frames only pure black and pure white: coloured type (a yellow caliper label) is
        # the detector's; and no float copy of a large frame is made.
        top = np.iinfo(frame.dtype).max if np.issubdtype(frame.dtype, np.integer) else 1.0
        lo, hi = frame.min(), frame.max()
        candidates = [((frame == 0).all(axis=-1), 0.0), ((frame == top).all(axis=-1), float(top))]
    else:
        return []
    span = max(float(hi) - float(lo), 1.0)
    found: list[SpeckLine] = []
    for mask, value in candidates:
        for (x0, y0, x1, y1), ys, xs in _groups(mask, frame, value, span, settings):
            box = (max(0, x0 - settings.pad), max(0, y0 - settings.pad),
                   min(width, x1 + settings.pad), min(height, y1 + settings.pad))
            found.append(SpeckLine(box, ys, xs))
    return found


def _brightness(frame: np.ndarray) -> np.ndarray:
    return frame.astype(np.float32).mean(axis=-1) if frame.ndim == 3 else frame.astype(np.float32)


def _groups(mask: np.ndarray, frame: np.ndarray, value: float, span: float,
            settings: SpeckSettings) -> list[tuple[Box, np.ndarray, np.ndarray]]:
    if not mask.any():
        return []
    count, labels, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8), connectivity=8)
    area = stats[:, cv2.CC_STAT_AREA]
    small = np.zeros(count, dtype=bool)
    small[1:] = area[1:] <= settings.max_piece_area
    specks = small[labels]
    if not specks.any():
        return []
    across = np.minimum(stats[:, cv2.CC_STAT_WIDTH], stats[:, cv2.CC_STAT_HEIGHT])
    part = small | ((area <= settings.max_stroke_area) & (across <= settings.max_line_side))
    part[0] = False
    parts = part[labels]
    joined = cv2.dilate(parts.astype(np.uint8), np.ones(settings.join[::-1], np.uint8))
    groups, group_labels, group_stats, _ = cv2.connectedComponentsWithStats(joined, connectivity=8)
    out: list[tuple[Box, np.ndarray, np.ndarray]] = []
    ring_kernel = np.ones((5, 5), np.uint8)
    for g in range(1, groups):
        x, y, w, h = (int(v) for v in group_stats[g, :4])
        if max(w, h) < settings.min_aspect * min(w, h) or min(w, h) > settings.max_line_side:
            continue
        inside = group_labels[y:y + h, x:x + w] == g
        member = inside & parts[y:y + h, x:x + w]
        pieces = np.unique(labels[y:y + h, x:x + w][inside & specks[y:y + h, x:x + w]])
        if len(pieces) < settings.min_pieces:
            continue
        # Around the group: within 2 px of it, of any other value.
        x0, y0, x1, y1 = max(0, x - 2), max(0, y - 2), min(mask.shape[1], x + w + 2), min(mask.shape[0], y + h + 2)
        near = cv2.dilate((group_labels[y0:y1, x0:x1] == g).astype(np.uint8), ring_kernel).astype(bool)
        grey = _brightness(frame[y0:y1, x0:x1])
        ring = near & ~mask[y0:y1, x0:x1] & (grey != value)
        if not ring.any() or abs(float(np.median(grey[ring])) - value) < settings.min_contrast * span:
            continue
        ys, xs = np.nonzero(member)
        out.append(((x, y, x + w, y + h), ys + y, xs + x))
    return out
