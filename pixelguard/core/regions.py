"""Redaction geometry: text regions as rotated quadrilaterals, and the pixel boxes that cover them."""
from __future__ import annotations

from dataclasses import dataclass, replace

import cv2
import numpy as np


@dataclass(frozen=True)
class Region:
    """A text region in frame coordinates: four (x, y) corners, clockwise from top-left."""

    quad: tuple[tuple[float, float], ...]
    score: float  # detection confidence
    text: str = ""  # recognised text, when the engine reads as well as detects
    text_score: float = 0.0  # recognition confidence
    # Found on a neighbourhood cut from its frame (core.mosaic) and reaching that cut across its height: its
    # true height, hence its shape, is unknown (a blob cut to a strip looks like a line of text).
    cut: bool = False

    def short_side(self) -> float:
        """Height of the rotated text box (its shorter side): the text's size, whatever its angle."""
        pts = np.asarray(self.quad, dtype=np.float64)
        return float(min(np.linalg.norm(pts[0] - pts[1]), np.linalg.norm(pts[1] - pts[2])))

    def scaled(self, factor: float) -> Region:
        return replace(self, quad=tuple((x * factor, y * factor) for x, y in self.quad))

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

    The upright fill the search used before ``line_patch``: kept as the reference its tests compare with.

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
    the line's value. Outward from each end, column by column across the line's band (rows, for a vertical
    line), the box reaches the last one holding that value (plus ``pad``) where the bands beside the line (half
    its height wide, a quarter of it out) hold it nowhere or everywhere (a border): where they hold it here and
    there, the value is the background's. It stops at a gap wider than ``max_gap`` of the line's height (the
    space between two words is narrower), at ``solid_run`` columns in a row almost wholly of the value (a
    border or anatomy: a letter's stem is only one or two), or ``max_reach`` heights out. What is reached is
    padded across the line too (a J's hook may hang below the box); the box itself is left as it is.
    ``stored`` is one frame's stored values, (H, W); ``filled``, the pixels fills already changed (their value
    says nothing).
    """
    if stored.ndim != 2:
        return []  # colour frames: type is rarely pure black or white there, and line_patch's hue test covers it
    x0, y0, x1, y1 = box
    if x1 - x0 < 2 or y1 - y0 < 2:
        return []
    along_x = x1 - x0 >= y1 - y0
    inside, free = stored[y0:y1, x0:x1], ~filled[y0:y1, x0:x1]
    # Shares are taken on the middle half of the band across the line, where its strokes are: a border
    # running along the box's margin (an MR's black edge, two rows of 0 above a line) is not the line's value,
    # and reaching for it runs along the border to max_reach.
    if along_x:
        quarter = (y1 - y0) // 4
        middle, middle_free = inside[quarter:y1 - y0 - quarter], free[quarter:y1 - y0 - quarter]
    else:
        quarter = (x1 - x0) // 4
        middle, middle_free = inside[:, quarter:x1 - x0 - quarter], free[:, quarter:x1 - x0 - quarter]
    # Strokes are a minority of a line's box; an extreme that fills most of it is the background (a plate).
    shares = [float(((middle == v) & middle_free).mean()) for v in extremes]
    candidates = [k for k, share in enumerate(shares) if min_share <= share <= max_share]
    if not candidates:
        return []
    best = min(candidates, key=lambda k: shares[k])
    if shares[best] * middle.size < 3:
        return []
    side = (y1 - y0) if along_x else (x1 - x0)
    # The frame seen along the line: positions along it on axis 1, across it on axis 0.
    values, unfilled = (stored[y0:y1], ~filled[y0:y1]) if along_x else (stored[:, x0:x1].T, ~filled[:, x0:x1].T)
    # Bands of half the line's height on either side of it: a letter never reaches there, a
    # background holding the value here and there (an ultrasound's dark speckle past a plate's end) does.
    # Bands wholly of it are a border, which a first letter may sit on the edge of: those columns count.
    # They start a quarter of its height out: a J's hook or a descender hangs into the first rows beyond.
    outer, near = max(3, side // 2), max(2, side // 4)
    lo_across, hi_across = (y0, y1) if along_x else (x0, x1)
    limit = stored.shape[0 if along_x else 1]
    rows = np.r_[max(0, lo_across - near - outer):max(0, lo_across - near),
                 min(limit, hi_across + near):min(limit, hi_across + near + outer)]
    beside, beside_free = (stored[rows], ~filled[rows]) if along_x else (stored[:, rows].T, ~filled[:, rows].T)
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
            if share > 0 and not 0 < float(((beside[:, at] == extremes[best]) & beside_free[:, at]).mean()) < solid:
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


@dataclass(frozen=True)
class Patch:
    """The pixels one fill covers: a bounding box (x0, y0, x1, y1, exclusive) and the mask inside it."""

    box: tuple[int, int, int, int]
    mask: np.ndarray  # bool, shape (y1 - y0, x1 - x0)


def line_patch(region: Region, frame: np.ndarray, margin: float = 0.15, min_margin: int = 2,
               end_margin: float = 0.5, pad_fraction: float = 0.25, border_agreement: float = 0.8,
               colour_distance: int = 48) -> Patch:
    """The pixels to fill for one detected line: its quad grown by margins, then shrunk to the strokes in it.

    The margins are :meth:`Region.cover`'s (a share of the text height across, ``end_margin`` of it at
    each end), but measured and laid in the line's own frame: a skewed line is filled by a rotated
    rectangle, not by the axis-aligned box around it (whose corners hold no text). Strokes are split from
    background as :func:`tighten` does, in that frame. When the band along the line's two long sides is
    not one background (anatomy or a plate's edge crosses it), each long side moves inward a pixel at a
    time to where it is (see _split). The ends never move inward: a character the detector fell short of
    may sit there. A side that a stroke-class pixel touches stays where the margin put it, and every other
    stroke-class pixel inside widens the result, so the error is always toward filling more; the
    verification pass then looks around the fill. ``frame`` is the 8-bit rendering the detector saw.
    """
    height, width = frame.shape[:2]
    centre, u, v, along, across = _line_axes(region.quad)
    pad = max(min_margin, int(np.ceil(margin * 2 * across)))
    end = max(pad, int(np.ceil(end_margin * 2 * across)))
    # Quad corners are pixel indices (a pixel's centre): the grown rectangle holds every pixel whose centre
    # it holds, which for an upright line is exactly Region.cover's box.
    half_u, half_v = along + end + 1e-6, across + pad + 1e-6
    corners = np.array([centre + su * half_u * u + sv * half_v * v for su, sv in ((-1, -1), (1, -1), (1, 1), (-1, 1))])
    x0, y0 = max(0, int(np.floor(corners[:, 0].min()))), max(0, int(np.floor(corners[:, 1].min())))
    x1 = min(width, int(np.ceil(corners[:, 0].max())) + 1)
    y1 = min(height, int(np.ceil(corners[:, 1].max())) + 1)
    if x1 <= x0 or y1 <= y0:
        return Patch((x0, y0, x0, y0), np.zeros((0, 0), dtype=bool))
    ys, xs = np.mgrid[y0:y1, x0:x1]
    offsets = np.stack([xs - centre[0], ys - centre[1]], axis=-1)
    pu, pv = offsets @ u, offsets @ v
    grown = (np.abs(pu) <= half_u) & (np.abs(pv) <= half_v)
    # On a plate, no further than the plate (see _plate): the split, judged on the band's long edges, takes
    # the anatomy around a plate for type.
    plate = _plate(frame[y0:y1, x0:x1], grown, grown & (np.abs(pu) <= along) & (np.abs(pv) <= across), pu, pv,
                   half_u, half_v, min_margin)
    within = grown if plate is None else plate
    split = _split(frame[y0:y1, x0:x1], grown, pv, half_v, border_agreement, colour_distance)
    if split is None:
        return _patch(x0, y0, within)
    strokes, low, high = split
    su, sv = pu[strokes], pv[strokes]
    extent = min(su.max() - su.min(), sv.max() - sv.min()) + 1
    spad = max(min_margin, int(np.ceil(pad_fraction * extent)))
    # A stroke on an edge the split was judged on may go on beyond it: that side keeps its margin.
    low_v = -half_v if sv.min() < -low + 1 else sv.min() - spad
    high_v = half_v if sv.max() > high - 1 else sv.max() + spad
    keep = within & (pu >= su.min() - spad) & (pu <= su.max() + spad) & (pv >= low_v) & (pv <= high_v)
    return _patch(x0, y0, keep)


def _plate(colour: np.ndarray, grown: np.ndarray, core: np.ndarray, pu: np.ndarray, pv: np.ndarray,
           half_u: float, half_v: float, pad: int, tolerance: int = 6, share: float = 0.5) -> np.ndarray | None:
    """The fill for a line set on a plate (a box of one colour drawn behind the type): the plate, plus ``pad``,
    on each side where it ends inside the grown rectangle; None when the line is not on one.

    Behind the type, a plate is the colour that holds at least ``share`` of the detector's quad, in one piece
    that ends before the grown rectangle's rim on at least one side. Anatomy around a plate is of the type's
    class to the split (both differ from the plate), so the split widens the fill to the rectangle's margins,
    which at a line's ends are the height of its box. Where the piece reaches the rim the rectangle's edge
    stays. The type's own pixels in the quad must lie within the result, or the plate is not behind all of it.
    """
    grey = cv2.cvtColor(colour, cv2.COLOR_RGB2GRAY) if colour.ndim == 3 else colour
    grey = np.ascontiguousarray(grey, dtype=np.uint8)
    if core.sum() < 25:
        return None
    mode = int(np.bincount(grey[core], minlength=256).argmax())
    same = grown & (np.abs(grey.astype(np.int16) - mode) <= tolerance)
    if same[core].mean() < share:
        return None
    count, labels = cv2.connectedComponents(same.astype(np.uint8), connectivity=8)
    pieces = np.bincount(labels[core & same], minlength=count)
    pieces[0] = 0
    if pieces.max() < 0.9 * (core & same).sum():
        return None  # type as tall as its plate cuts it into pieces: no one of them is the plate
    piece = labels == int(pieces.argmax())
    pu_in, pv_in = pu[piece], pv[piece]
    # Per side of the rectangle, in the line's frame: the plate's edge plus the pad, or the rectangle's edge.
    edges = [-half_u if pu_in.min() <= -half_u + 1 else pu_in.min() - pad,
             half_u if pu_in.max() >= half_u - 1 else pu_in.max() + pad,
             -half_v if pv_in.min() <= -half_v + 1 else pv_in.min() - pad,
             half_v if pv_in.max() >= half_v - 1 else pv_in.max() + pad]
    if edges == [-half_u, half_u, -half_v, half_v]:
        return None  # it reaches the rim all round: a background, not a plate
    keep = grown & (pu >= edges[0]) & (pu <= edges[1]) & (pv >= edges[2]) & (pv <= edges[3])
    return keep if keep[core & ~same].all() else None


def _line_axes(quad: tuple[tuple[float, float], ...]) -> tuple[np.ndarray, np.ndarray, np.ndarray, float, float]:
    """(centre, u along the line, v across it, half length, half height) of the rectangle around a quad."""
    pts = np.asarray(quad, dtype=np.float64)
    first, second = pts[1] - pts[0], pts[2] - pts[1]
    long = first if np.linalg.norm(first) >= np.linalg.norm(second) else second
    u = long / max(float(np.linalg.norm(long)), 1e-9)
    v = np.array([-u[1], u[0]])
    centre = pts.mean(axis=0)
    return centre, u, v, float(np.abs((pts - centre) @ u).max()), float(np.abs((pts - centre) @ v).max())


def _split(colour: np.ndarray, grown: np.ndarray, pv: np.ndarray, half_v: float, border_agreement: float,
           colour_distance: int) -> tuple[np.ndarray, float, float] | None:
    """(stroke-class pixels, the band's reach below and above the centre line), or None: no safe guess.

    Otsu's threshold within the band; the background is the class that owns each of the band's two long
    edges (at least ``border_agreement`` of it). An edge that no class owns, or that the other edge's class
    does not, moves inward a pixel at a time.
    """
    grey = cv2.cvtColor(colour, cv2.COLOR_RGB2GRAY) if colour.ndim == 3 else colour
    grey = np.ascontiguousarray(grey, dtype=np.uint8)
    if grown.sum() < 25 or int(grey[grown].max()) - int(grey[grown].min()) < 16:
        return None
    low, high = half_v, half_v
    while low + high > 3.0:
        band = grown & (pv >= -low) & (pv <= high)
        threshold, _ = cv2.threshold(grey[band].reshape(-1, 1), 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
        bright = grey > threshold
        below, above = band & (pv < -low + 1), band & (pv > high - 1)
        rings = [float(bright[edge].mean()) if edge.any() else 0.5 for edge in (below, above)]
        owned = [max(r, 1 - r) >= border_agreement for r in rings]
        if all(owned) and (rings[0] > 0.5) == (rings[1] > 0.5):
            edge = below | above
            strokes = band & (~bright if rings[0] > 0.5 else bright)
            if colour.ndim == 3:
                strokes = _far_in_hue(colour, grey, band, edge, strokes, colour_distance)
            return (strokes, low, high) if strokes.any() else None
        if owned[0] and owned[1]:
            owned = [False, False]  # one class above the line and another below: neither is the background
        low, high = low - (not owned[0]), high - (not owned[1])
    return None


def _far_in_hue(colour: np.ndarray, grey: np.ndarray, band: np.ndarray, edge: np.ndarray, strokes: np.ndarray,
                colour_distance: int) -> np.ndarray:
    """Type whose luminance sits inside the anatomy's (green on grey) can land in the background class; any
    pixel whose hue is far from the edge background's counts as a stroke too. Hue only (colour minus its grey):
    on grey frames this adds nothing, so textured anatomy does not undo the tightening there."""
    chroma = colour.astype(np.int16) - grey.astype(np.int16)[..., np.newaxis]
    if np.abs(chroma[band]).max() <= colour_distance:
        return strokes
    owned = edge & ~strokes
    if not owned.any():
        return strokes
    far = np.abs(chroma - np.median(chroma[owned], axis=0)).max(axis=-1) > colour_distance
    return strokes | (band & far)


def _patch(x0: int, y0: int, mask: np.ndarray) -> Patch:
    """The mask cut to its own bounding box: the box a fill is recorded (and looked around) by."""
    rows, cols = np.nonzero(mask.any(axis=1))[0], np.nonzero(mask.any(axis=0))[0]
    if len(rows) == 0:
        return Patch((x0, y0, x0, y0), np.zeros((0, 0), dtype=bool))
    r0, r1, c0, c1 = int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1
    return Patch((x0 + c0, y0 + r0, x0 + c1, y0 + r1), np.ascontiguousarray(mask[r0:r1, c0:c1]))
