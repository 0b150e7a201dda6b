"""Redaction geometry: text regions as rotated quadrilaterals, and the pixel boxes that cover them."""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np


@dataclass(frozen=True)
class Region:
    """A text region in frame coordinates: four (x, y) corners, clockwise from top-left."""

    quad: tuple[tuple[float, float], ...]
    score: float  # detection confidence
    text: str = ""  # recognised text, when the engine reads as well as detects
    text_score: float = 0.0  # recognition confidence

    def short_side(self) -> float:
        """Height of the rotated text box (its shorter side): the text's size, whatever its angle."""
        pts = np.asarray(self.quad, dtype=np.float64)
        return float(min(np.linalg.norm(pts[0] - pts[1]), np.linalg.norm(pts[1] - pts[2])))

    def scaled(self, factor: float) -> Region:
        return Region(tuple((x * factor, y * factor) for x, y in self.quad), self.score, self.text, self.text_score)

    def aspect(self) -> float:
        """Long side over short side: lines of text are elongated, anatomy mistaken for text is not."""
        pts = np.asarray(self.quad, dtype=np.float64)
        a, b = float(np.linalg.norm(pts[0] - pts[1])), float(np.linalg.norm(pts[1] - pts[2]))
        return float(max(a, b) / max(min(a, b), 1e-6))

    def cover(self, width: int, height: int, margin: float = 0.15, min_margin: int = 2,
              end_margin: float = 0.5) -> tuple[int, int, int, int]:
        """Axis-aligned box (x0, y0, x1, y1), exclusive, holding the quad plus a margin.

        The margin grows with the text height: detectors draw boxes tight to the strokes, and antialiased
        edges or descenders just outside the box would otherwise stay readable. A line's two ends get
        more (``end_margin`` of the text height): that is where a detector's box falls short of a
        line's first or last character, or a dot below it.
        """
        pts = np.asarray(self.quad, dtype=np.float64)
        x0, y0 = pts.min(axis=0)
        x1, y1 = pts.max(axis=0)
        side = min(x1 - x0, y1 - y0)
        pad = max(min_margin, int(np.ceil(margin * side)))
        end = max(pad, int(np.ceil(end_margin * side)))
        pad_x, pad_y = (end, pad) if x1 - x0 >= y1 - y0 else (pad, end)
        return (max(0, int(np.floor(x0)) - pad_x), max(0, int(np.floor(y0)) - pad_y),
                min(width, int(np.ceil(x1)) + 1 + pad_x), min(height, int(np.ceil(y1)) + 1 + pad_y))


def tighten(box: tuple[int, int, int, int], frame: np.ndarray, pad_fraction: float = 0.25,
            min_pad: int = 2, border_agreement: float = 0.8, colour_distance: int = 48) -> tuple[int, int, int, int]:
    """Shrink a cover box to the strokes inside it, plus a pad; never grows it.

    Detector boxes around small type are two to three times the height of the strokes (the unclip
    margin, then ours). Inside the box, Otsu's threshold splits strokes from their background; the
    background is the class that owns the box's border ring (at least ``border_agreement`` of it, or
    the box is kept), so the strokes are the other class. Anything of the stroke class (anatomy
    included) widens the result, so the error is always toward filling more. The verification pass
    then looks at the result. ``frame`` is the 8-bit rendering the detector saw (RGB, or grey).
    """
    x0, y0, x1, y1 = box
    colour = frame[y0:y1, x0:x1]
    patch = cv2.cvtColor(colour, cv2.COLOR_RGB2GRAY) if colour.ndim == 3 else colour
    if patch.shape[0] < 5 or patch.shape[1] < 5 or int(patch.max()) - int(patch.min()) < 16:
        return box
    threshold, _ = cv2.threshold(np.ascontiguousarray(patch, dtype=np.uint8), 0, 255,
                                 cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    bright = patch > threshold
    ring = np.concatenate([bright[0], bright[-1], bright[1:-1, 0], bright[1:-1, -1]]).mean()
    if min(ring, 1 - ring) > 1 - border_agreement:
        return box  # the border is not one background (a plate edge, anatomy): no safe guess
    strokes = ~bright if ring > 0.5 else bright
    if colour.ndim == 3:
        # Type whose luminance sits inside the anatomy's (green on grey) can land in the background
        # class; any pixel whose hue is far from the border background's counts as a stroke too.
        # Hue only (colour minus its grey): on grey frames this adds nothing, so textured anatomy does
        # not undo the tightening there.
        chroma = colour.astype(np.int16) - patch.astype(np.int16)[..., np.newaxis]
        if np.abs(chroma).max() > colour_distance:
            edge = np.concatenate([chroma[0], chroma[-1], chroma[1:-1, 0], chroma[1:-1, -1]])
            owned = ~np.concatenate([strokes[0], strokes[-1], strokes[1:-1, 0], strokes[1:-1, -1]])
            strokes = strokes | (np.abs(chroma - np.median(edge[owned], axis=0)).max(axis=-1) > colour_distance)
    ys, xs = np.nonzero(strokes)
    if len(ys) == 0:
        return box
    height = ys.max() - ys.min() + 1
    width = xs.max() - xs.min() + 1
    pad = max(min_pad, int(np.ceil(pad_fraction * min(height, width))))
    return (max(x0, x0 + int(xs.min()) - pad), max(y0, y0 + int(ys.min()) - pad),
            min(x1, x0 + int(xs.max()) + 1 + pad), min(y1, y0 + int(ys.max()) + 1 + pad))


def reach_ends(stored: np.ndarray, filled: np.ndarray, box: tuple[int, int, int, int],
               extremes: tuple[float, float], min_share: float = 0.02, max_share: float = 0.6,
               solid: float = 0.95, solid_run: int = 3, max_gap: float = 0.6, max_reach: float = 1.5,
               pad: int = 2) -> list[tuple[int, int, int, int]]:
    """Where a line's fill must go on past its box's ends: the boxes to fill besides it (none, one or two).

    A detector's box often stops a letter short where the background changes under the type (a name whose
    first letter sits on the edge of the frame's dark border), and the look around the fill misses it too:
    type of the border's colour on the border is nearly invisible to it. Scanners burn type in one value,
    usually the frame's darkest or brightest (``extremes``, of the pixels not yet filled); when one of those
    holds between ``min_share`` and ``max_share`` of the box's pixels (more is the background: a plate), it is
    the line's value. Outward from each end, column
    by column across the line's band (rows, for a vertical line), the box reaches the last one holding
    that value (plus ``pad``). It stops at a gap wider than ``max_gap`` of the line's height (the space
    between two words is narrower), at ``solid_run`` columns in a row almost wholly of the value (a border or
    anatomy: a letter's stem is only one or two), or ``max_reach`` heights out. What is reached is padded
    across the line too (a J's hook may hang below the box); the box itself is left as it is. ``stored`` is one frame's
    stored values, (H, W); ``filled``, the pixels fills already changed (their value says nothing).
    """
    if stored.ndim != 2:
        return []  # colour frames: type is rarely pure black or white there, and tighten's hue test covers it
    x0, y0, x1, y1 = box
    if x1 - x0 < 2 or y1 - y0 < 2:
        return []
    inside, free = stored[y0:y1, x0:x1], ~filled[y0:y1, x0:x1]
    # Strokes are a minority of a line's box; an extreme that fills most of it is the background (a plate).
    shares = [float(((inside == v) & free).mean()) for v in extremes]
    candidates = [k for k, share in enumerate(shares) if min_share <= share <= max_share]
    if not candidates:
        return []
    best = min(candidates, key=lambda k: shares[k])
    if shares[best] * inside.size < 3:
        return []
    along_x = x1 - x0 >= y1 - y0
    side = (y1 - y0) if along_x else (x1 - x0)
    # The frame seen along the line: positions along it on axis 1, across it on axis 0.
    values, unfilled = (stored[y0:y1], ~filled[y0:y1]) if along_x else (stored[:, x0:x1].T, ~filled[:, x0:x1].T)
    lo, hi = (x0, x1) if along_x else (y0, y1)
    end = values.shape[1]
    reach, gap = int(max_reach * side), max(1, int(max_gap * side))

    def last_hit(positions: range) -> int | None:
        found, missing, solid_seen = None, 0, 0
        for at in positions:
            column = (values[:, at] == extremes[best]) & unfilled[:, at]
            share = float(column.mean())
            if share >= solid:
                solid_seen += 1
                if solid_seen >= solid_run:
                    break
                continue
            solid_seen = 0
            if share > 0:
                found, missing = at, 0
            else:
                missing += 1
                if missing > gap:
                    break
        return found

    after = last_hit(range(hi, min(end, hi + reach)))
    before = last_hit(range(lo - 1, max(-1, lo - 1 - reach), -1))
    # The letters reached may hang lower or reach higher than the box (a J's hook): the pad across, too.
    height, width = stored.shape
    spans = [(hi, min(end, after + 1 + pad))] if after is not None else []
    spans += [(max(0, before - pad), lo)] if before is not None else []
    if along_x:
        return [(start, max(0, y0 - pad), stop, min(height, y1 + pad)) for start, stop in spans]
    return [(max(0, x0 - pad), start, min(width, x1 + pad), stop) for start, stop in spans]
