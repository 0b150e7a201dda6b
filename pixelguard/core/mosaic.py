"""Verification mosaics: the neighbourhoods of filled regions, packed onto a few detector-sized canvases.

After a fill, only the pixels around it changed; everywhere else the detector has already answered for
exactly these pixels. So verification looks again only at each fill's neighbourhood. Neighbourhoods are
cut from the rendered frames, enlarged to the scale their frame was searched at, and packed (shelf by
shelf, with gaps the detector cannot join across) onto canvases cut to what they hold, which the detector
searches as they are: eight frames with three fills each cost one or two small detector runs instead of
eight whole frames. Used by ``core.textsearch``; pure geometry, no model.
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from .regions import Region

Box = tuple[int, int, int, int]  # x0, y0, x1, y1 (exclusive), frame pixels

CANVAS = 768  # the width a canvas starts at (then cut down to what it holds, see pack)
MAX_CANVAS = 1984  # below the detector's 2000 px cap, so a canvas is never shrunk either
GAP = 32  # empty canvas between neighbourhoods: no detected line can span two of them
# The sides a canvas is cut to. A model runtime prepares its kernels for each input shape it meets: a shape
# met before runs cheaper (OpenVINO, 0.08 s per megapixel against 0.16-0.2 for one it has not met). Canvases
# cut to every multiple of 32 made 361 shapes in 642 searches of bench/pixels.py's corpus, almost each one new;
# on this ladder they make 22, for 46% more (black) pixels: bench/pixels.py --no-presidio ran 3.47-3.63 images
# per CPU-s, against 3.12 cut to multiples of 32.
SIDES = (128, 256, 512, 768, 1024, 1408, MAX_CANVAS)


@dataclass(frozen=True)
class Slot:
    """One neighbourhood on a canvas: where it came from and where it went."""

    frame: int
    source: Box  # in frame pixels
    canvas: int
    x: int  # top-left on the canvas
    y: int
    scale: float  # canvas pixels per frame pixel

    def holds(self, canvas: int, x: float, y: float) -> bool:
        width = (self.source[2] - self.source[0]) * self.scale
        height = (self.source[3] - self.source[1]) * self.scale
        return canvas == self.canvas and self.x <= x < self.x + width and self.y <= y < self.y + height

    def to_frame(self, region: Region, size: tuple[int, int] | None = None) -> Region:
        """``region`` (canvas pixels) in its frame's pixels; with the frame's (height, width), also whether it
        runs into an edge of the neighbourhood that was cut from the frame, across its height (Region.cut)."""
        x0, y0, x1, y1 = self.source
        quad = tuple((min(max(x0 + (x - self.x) / self.scale, x0), x1 - 1),
                      min(max(y0 + (y - self.y) / self.scale, y0), y1 - 1)) for x, y in region.quad)
        return Region(quad, region.score, region.text, region.text_score,
                      cut=size is not None and self._cut_across(region, size))

    def _cut_across(self, region: Region, size: tuple[int, int]) -> bool:
        height, width = size
        x0, y0, x1, y1 = self.source
        xs, ys = [x for x, _ in region.quad], [y for _, y in region.quad]
        right, bottom = self.x + (x1 - x0) * self.scale, self.y + (y1 - y0) * self.scale
        if max(xs) - min(xs) >= max(ys) - min(ys):  # lies along x: its height runs into a top or bottom cut
            return (y0 > 0 and min(ys) <= self.y + 1) or (y1 < height and max(ys) >= bottom - 2)
        return (x0 > 0 and min(xs) <= self.x + 1) or (x1 < width and max(xs) >= right - 2)


def neighbourhoods(covers: list[Box], width: int, height: int, margin: float, min_margin: int) -> list[Box]:
    """Each fill grown by ``margin`` of its short side (at least ``min_margin`` px); overlapping ones merged.

    The margin is where a fill that fell short leaves strokes, and where the detector's view of the
    surroundings changed.
    """
    grown = []
    for x0, y0, x1, y1 in covers:
        pad = max(min_margin, int(np.ceil(margin * min(x1 - x0, y1 - y0))))
        grown.append([max(0, x0 - pad), max(0, y0 - pad), min(width, x1 + pad), min(height, y1 + pad)])
    merged = True
    while merged:
        merged = False
        for i in range(len(grown)):
            for j in range(i + 1, len(grown)):
                a, b = grown[i], grown[j]
                if a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]:
                    grown[i] = [min(a[0], b[0]), min(a[1], b[1]), max(a[2], b[2]), max(a[3], b[3])]
                    del grown[j]
                    merged = True
                    break
            if merged:
                break
    return [(a[0], a[1], a[2], a[3]) for a in grown]


def pack(wanted: list[tuple[int, Box, float]]) -> tuple[list[Slot], list[tuple[int, int]], list[int]]:
    """Shelf-pack (frame, box, scale) neighbourhoods; returns slots, canvas sizes, and frames that did not fit.

    A neighbourhood too big for the largest canvas is not cut: its frame is verified whole instead. Each
    canvas is then cut down to the part its slots use, to the next side on the ladder SIDES (detector cost
    grows with the pixels searched; the canvases are searched as they are, see inference.dbnet.preprocess),
    keeping at least a GAP of black to the right of and below the slots, as between them: on a canvas cut
    flush, the detector missed a 10 px skewed line at its edge that it finds with black beyond
    (bench/pixels.py --limit 40).
    """
    slots: list[Slot] = []
    sizes: list[tuple[int, int]] = []
    too_big: list[int] = []
    order = sorted(range(len(wanted)), key=lambda i: -(wanted[i][1][3] - wanted[i][1][1]) * wanted[i][2])
    canvas, x, y, shelf = -1, 0, 0, 0
    for i in order:
        frame, box, scale = wanted[i]
        w = int(np.ceil((box[2] - box[0]) * scale))
        h = int(np.ceil((box[3] - box[1]) * scale))
        if w > MAX_CANVAS or h > MAX_CANVAS:
            too_big.append(frame)
            continue
        fresh = canvas < 0 or w > sizes[canvas][0]
        if not fresh and x + w > sizes[canvas][0]:  # next shelf
            x, y, shelf = 0, y + shelf + GAP, 0
        if fresh or y + h > sizes[canvas][1]:  # next canvas
            canvas += 1
            sizes.append((max(CANVAS, _round32(w)), max(CANVAS, _round32(h))))
            x, y, shelf = 0, 0, 0
        slots.append(Slot(frame, box, canvas, x, y, scale))
        x += w + GAP
        shelf = max(shelf, h)
    used = [(0, 0)] * len(sizes)
    for slot in slots:
        w = int(np.ceil((slot.source[2] - slot.source[0]) * slot.scale))
        h = int(np.ceil((slot.source[3] - slot.source[1]) * slot.scale))
        used[slot.canvas] = (max(used[slot.canvas][0], slot.x + w), max(used[slot.canvas][1], slot.y + h))
    sizes = [(_side(uw + GAP), _side(uh + GAP)) for uw, uh in used]
    return slots, sizes, sorted(set(too_big))


def paint(frames: list[np.ndarray], slots: list[Slot], sizes: list[tuple[int, int]]) -> list[np.ndarray]:
    """The canvases: black, with each neighbourhood cut from its rendered frame and enlarged into its slot."""
    canvases = [np.zeros((h, w, 3), dtype=np.uint8) for w, h in sizes]
    for slot in slots:
        x0, y0, x1, y1 = slot.source
        patch = frames[slot.frame][y0:y1, x0:x1]
        w = int(np.ceil((x1 - x0) * slot.scale))
        h = int(np.ceil((y1 - y0) * slot.scale))
        if (w, h) != (x1 - x0, y1 - y0):
            patch = cv2.resize(patch, (w, h), interpolation=cv2.INTER_CUBIC)
        canvases[slot.canvas][slot.y:slot.y + h, slot.x:slot.x + w] = patch
    return canvases


def back_to_frames(found: list[list[Region]], slots: list[Slot], frames: int,
                   size: tuple[int, int] | None = None) -> list[list[Region]]:
    """Regions found on the canvases, in the coordinates of the frames their neighbourhoods came from
    (marked ``cut`` where they run into a cut across their height, given the frames' (height, width)).

    A region is given to the slot holding its centre; one in a gap belongs to no neighbourhood (the
    detector outlined canvas edges) and is dropped.
    """
    out: list[list[Region]] = [[] for _ in range(frames)]
    for canvas, regions in enumerate(found):
        for region in regions:
            cx = sum(x for x, _ in region.quad) / 4
            cy = sum(y for _, y in region.quad) / 4
            for slot in slots:
                if slot.holds(canvas, cx, cy):
                    out[slot.frame].append(slot.to_frame(region, size))
                    break
    return out


def _round32(value: int) -> int:
    return min(MAX_CANVAS, int(np.ceil(value / 32)) * 32)


def _side(value: int) -> int:
    """The smallest side on the ladder that holds ``value`` pixels (at most MAX_CANVAS)."""
    return next((side for side in SIDES if side >= value), MAX_CANVAS)
