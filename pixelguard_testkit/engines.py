"""OCR engines for tests: a real engine that loses its server at one chosen call."""
from __future__ import annotations

from typing import Any


class DropsOneCall:
    """The engine, except that call number ``fail_at`` (detect, read or ocr; 0: none) finds Triton gone.

    ``calls`` counts every call, so a healthy run (``fail_at=0``) tells how many calls an object takes.
    """

    def __init__(self, engine: Any, fail_at: int) -> None:
        self.engine, self.fail_at, self.calls = engine, fail_at, 0

    def _call(self, name: str, *args: Any) -> Any:
        from inference.base import EngineUnavailable

        self.calls += 1
        if self.calls == self.fail_at:
            raise EngineUnavailable("Triton did not answer")
        return getattr(self.engine, name)(*args)

    def detect(self, frames: list, as_is: bool = False) -> list:
        return self._call("detect", frames, as_is)

    def read(self, frames: list, found: list) -> list:
        return self._call("read", frames, found)

    def ocr(self, frames: list, as_is: bool = False) -> list:
        return self._call("ocr", frames, as_is)
