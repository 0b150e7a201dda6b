"""Per-object budgets: how many bytes, decoded pixels and seconds one object may cost.

Every runner (``pixelguard deid``, the streaming agents, the fuzz bench) passes the same ``Limits`` to the
core stages, so an object that would hold a worker for minutes or blow its memory ends as an error with a
reason instead. Checks happen *before* the expensive step: the decoded size is computed from the header
and refused before pydicom decodes a byte, and the time budget is checked between frame batches.
"""
from __future__ import annotations

import os
import time
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace

from .record import StageError

GIB = 1024**3
MIB = 1024**2


@dataclass(frozen=True)
class Limits:
    """Budgets for one object. Defaults keep a worker under ~1.5 GB RSS on 2 cores.

    ``max_pixel_bytes`` bounds the decoded stored values held at once (the frames are rendered, searched
    and filled in batches of ``frame_batch``, so renderings add only a batch's worth). ``time_s`` is the
    wall-clock budget of one object through parse, scrub and redact; ``hard_time_s`` is where the embedded
    runner stops waiting and replaces the worker process (a decoder stuck in native code cannot be asked).
    """

    max_object_bytes: int = 2 * GIB
    max_inflated_bytes: int = 4 * GIB  # a gzip-wrapped NIfTI, once inflated
    max_pixel_bytes: int = 512 * MIB
    max_frames: int = 4096
    max_frame_pixels: int = 64 * 1024 * 1024  # one frame's rows x columns (8k x 8k)
    frame_batch: int = 8
    time_s: float = 20.0
    hard_time_s: float = 28.0


    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: float | int | None) -> Limits:
        """Defaults, then ``PIXELGUARD_<FIELD>`` variables (e.g. ``PIXELGUARD_TIME_S=40``), then overrides."""
        env = os.environ if environ is None else environ
        values: dict[str, float | int] = {}
        for f in fields(cls):
            raw = env.get(f"PIXELGUARD_{f.name.upper()}")
            if raw is not None:
                try:
                    values[f.name] = float(raw) if f.type == "float" else int(raw)
                except ValueError:
                    raise ValueError(f"PIXELGUARD_{f.name.upper()} must be a number") from None
        values.update({k: v for k, v in overrides.items() if v is not None})
        return replace(cls(), **values)  # type: ignore[arg-type]  # each value parsed per its field's type


DEFAULT = Limits()


class Deadline:
    """The time budget of one object; ``check`` raises once it is spent."""

    def __init__(self, budget_s: float) -> None:
        self.budget_s = budget_s
        self.started = time.monotonic()

    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def check(self, doing: str) -> None:
        if self.elapsed() > self.budget_s:
            raise StageError(
                "over-budget",
                f"object exceeded its {self.budget_s:.0f} s time budget while {doing}; "
                "split the series or raise the budget (PIXELGUARD_TIME_S, or deid --time-budget)",
            )


def check_pixel_claim(rows: int, columns: int, samples: int, frames: int, bits: int, limits: Limits) -> int:
    """Decoded size in bytes of what the header claims; refuses absurd or over-budget claims before decoding."""
    if min(rows, columns, samples, frames, bits) <= 0:
        raise StageError("corrupt", f"image claims {rows}x{columns} pixels, {samples} sample(s), {frames} frame(s) "
                                    f"at {bits} bits: every one must be positive")
    if rows * columns > limits.max_frame_pixels:
        raise StageError("oversized", f"one frame claims {rows}x{columns} pixels; the limit is "
                                      f"{limits.max_frame_pixels} pixels per frame")
    if frames > limits.max_frames:
        raise StageError("oversized", f"image claims {frames} frames; the limit is {limits.max_frames}: "
                                      "split the object or raise the frame limit")
    per_sample = 1 if bits <= 8 else 2 if bits <= 16 else 4 if bits <= 32 else 8
    decoded = rows * columns * samples * frames * per_sample
    if decoded > limits.max_pixel_bytes:
        raise StageError("oversized", f"decoded pixel data would be {decoded} bytes; the per-object limit is "
                                      f"{limits.max_pixel_bytes}: split the object or raise the limit")
    return decoded
