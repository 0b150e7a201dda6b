"""One object's detector answers, remembered by frame content: identical pixels are searched once.

The detector is deterministic: the same model on the same rendered pixels gives the same regions. A cine
whose frames repeat, the frames a fill did not touch, and the PHI sweep's look at output frames that the
redaction already searched as they are, all ask again for pixels already answered. Keys are digests of
the rendered frame; values are regions (coordinates, scores, text), never pixels, and the memo lives for
one object, so its memory is bounded by that object's regions. Wrapped around the engine per object by
``core.pipeline`` and ``agents.stages``.
"""
from __future__ import annotations

import hashlib
from typing import Protocol

import numpy as np

from .regions import Region

# Regions whose short side is below this many frame pixels are not read: no type that small is legible to a
# person or to the recognisers, and the detector's weak outlines are mostly such specks (half of the 100
# regions the sweep read in 20 bench objects, each a PP-OCR and a Tesseract call for nothing). Left unread they keep
# an empty reading, which phi mode fills as unreadable and the PHI sweep has nothing to match against.
MIN_LEGIBLE_SIDE = 4.0


class Engine(Protocol):
    def detect(self, frames: list[np.ndarray], as_is: bool = False) -> list[list[Region]]: ...

    def read(self, frames: list[np.ndarray], found: list[list[Region]]) -> list[list[Region]]: ...


class DetectorMemo:
    """``detect``, ``read`` and ``ocr`` of an engine, each frame's answer computed once per content."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._detected: dict[bytes, list[Region]] = {}
        self._read: dict[bytes, list[Region]] = {}
        self._known: dict[bytes, dict[tuple[tuple[float, float], ...], Region]] = {}  # readings remembered
        self.calls = 0  # frames the engine was asked to detect (not answered from memory)

    def detect(self, frames: list[np.ndarray], as_is: bool = False) -> list[list[Region]]:
        keys = [_key(f, as_is) for f in frames]
        todo: dict[bytes, int] = {}
        for index, key in enumerate(keys):
            if key not in self._detected and key not in todo:
                todo[key] = index
        if todo:
            self.calls += len(todo)
            answers = self.engine.detect([frames[i] for i in todo.values()], as_is)
            self._detected.update(zip(todo, answers, strict=True))
        return [list(self._detected[k]) for k in keys]

    def read(self, frames: list[np.ndarray], found: list[list[Region]]) -> list[list[Region]]:
        return self.engine.read(frames, found)

    def remember(self, frames: list[np.ndarray], found: list[list[Region]]) -> None:
        """Take ``found`` as the detector's answer for ``frames`` (the text search's verified final pixels).

        The search has looked at every part of these pixels: unchanged areas in its first look, the
        neighbourhoods of its fills after them. A whole-frame detection would find the same regions; the
        PHI sweep then reads those instead of searching the frames a third time. A region given with its
        text was read by the search on these same pixels (no fill touches it), and is not read again.
        """
        for frame, regions in zip(frames, found, strict=True):
            key = _key(frame)
            self._detected[key] = [Region(r.quad, r.score) for r in regions]
            self._known[key] = {r.quad: r for r in regions if r.text}

    def ocr(self, frames: list[np.ndarray], as_is: bool = False) -> list[list[Region]]:
        """Detect every region and read the legible ones; a frame already read as a whole is answered from
        memory."""
        keys = [_key(f, as_is) for f in frames]
        todo = [i for i, k in enumerate(keys) if k not in self._read]
        if todo:
            first = {keys[i]: i for i in reversed(todo)}  # one reading per distinct content
            picked = sorted(first.values())
            found = self.detect([frames[i] for i in picked], as_is)
            known = [self._known.get(keys[i], {}) for i in picked]
            legible = [[r for r in regions if r.short_side() >= MIN_LEGIBLE_SIDE and r.quad not in read]
                       for regions, read in zip(found, known, strict=True)]
            readings = self.engine.read([frames[i] for i in picked], legible) if any(legible) else legible
            for i, regions, read, remembered in zip(picked, found, readings, known, strict=True):
                by_quad = {**remembered, **{r.quad: r for r in read}}
                self._read[keys[i]] = [by_quad.get(r.quad, r) for r in regions]
        return [list(self._read[k]) for k in keys]


def _key(frame: np.ndarray, as_is: bool = False) -> bytes:
    """The frame's content and how it is searched: enlarged to the detector's side, or as it is."""
    # SHA-256 rather than BLAKE2: CPUs with SHA extensions (this one) hash a frame in half the time (0.85 ms
    # against 1.56 for 736x736 RGB), and every frame is hashed three or four times per object.
    digest = hashlib.sha256(np.ascontiguousarray(frame).data)
    digest.update(repr((frame.shape, frame.dtype.str, as_is)).encode())
    return digest.digest()
