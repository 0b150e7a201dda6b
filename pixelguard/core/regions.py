"""Redaction geometry: text regions as rotated quadrilaterals, and the pixel boxes that cover them."""
from __future__ import annotations

from dataclasses import dataclass

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

    def scaled(self, factor: float) -> "Region":
        return Region(tuple((x * factor, y * factor) for x, y in self.quad), self.score, self.text, self.text_score)

    def aspect(self) -> float:
        """Long side over short side: lines of text are elongated, anatomy mistaken for text is not."""
        pts = np.asarray(self.quad, dtype=np.float64)
        a, b = np.linalg.norm(pts[0] - pts[1]), np.linalg.norm(pts[1] - pts[2])
        return float(max(a, b) / max(min(a, b), 1e-6))

    def cover(self, width: int, height: int, margin: float = 0.15, min_margin: int = 2) -> tuple[int, int, int, int]:
        """Axis-aligned box (x0, y0, x1, y1), exclusive, holding the quad plus a margin.

        The margin grows with the text height: detectors draw boxes tight to the strokes, and antialiased
        edges or descenders just outside the box would otherwise stay readable.
        """
        pts = np.asarray(self.quad, dtype=np.float64)
        x0, y0 = pts.min(axis=0)
        x1, y1 = pts.max(axis=0)
        pad = max(min_margin, int(np.ceil(margin * min(x1 - x0, y1 - y0))))
        return (max(0, int(np.floor(x0)) - pad), max(0, int(np.floor(y0)) - pad),
                min(width, int(np.ceil(x1)) + 1 + pad), min(height, int(np.ceil(y1)) + 1 + pad))
