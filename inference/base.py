"""The text-detector interface the redact stage calls, and the registry of engines."""
from __future__ import annotations

from typing import Protocol

import numpy as np

from pixelguard.core.regions import Region


class EngineUnavailable(RuntimeError):
    """The OCR engine cannot answer (server down, model missing): the object must not be routed clean."""


class TextDetector(Protocol):
    name: str

    def detect(self, frames: list[np.ndarray]) -> list[list[Region]]:
        """Text regions for each 8-bit RGB frame (H, W, 3), in that frame's pixel coordinates."""
