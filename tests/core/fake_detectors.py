"""A base for the text search's test detectors that only detect: they read nothing beyond what they found."""
from __future__ import annotations

import numpy as np

from pixelguard.core.regions import Region


class DetectOnly:
    """``read`` hands the regions back as found (their text, if any, is the detector's); ``ocr`` is
    ``detect`` then ``read``. Subclasses give ``detect``."""

    def detect(self, frames: list[np.ndarray], as_is: bool = False) -> list[list[Region]]:
        raise NotImplementedError

    def read(self, frames: list[np.ndarray], found: list[list[Region]]) -> list[list[Region]]:
        return found

    def ocr(self, frames: list[np.ndarray], as_is: bool = False) -> list[list[Region]]:
        return self.read(frames, self.detect(frames, as_is))
