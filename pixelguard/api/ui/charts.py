"""Inline SVG charts for the completion report: counts by state, and a histogram of object timings."""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

STATE_COLOURS = {"pending": "#9aa5b1", "clean": "#2f9e44", "review": "#f08c00", "error": "#e03131"}


@dataclass(frozen=True)
class Bar:
    label: str
    value: int
    x: float
    y: float
    width: float
    height: float
    colour: str


def state_bars(counts: Mapping[str, int], width: int = 360, height: int = 140) -> list[Bar]:
    top = max(counts.values(), default=0) or 1
    step = width / max(len(counts), 1)
    bars = []
    for i, (state, n) in enumerate(counts.items()):
        h = (height - 30) * n / top
        bars.append(Bar(state, n, i * step + 8, height - 20 - h, step - 16, h, STATE_COLOURS.get(state, "#555")))
    return bars


def timing_bars(durations: Sequence[float], bins: int = 10, width: int = 360, height: int = 140) -> list[Bar]:
    """A histogram of per-object seconds, in ``bins`` equal bins from 0 to the slowest."""
    if not durations:
        return []
    slowest = max(durations) or 1.0
    counts = [0] * bins
    for d in durations:
        counts[min(bins - 1, int(bins * d / slowest))] += 1
    top = max(counts) or 1
    step = width / bins
    return [Bar(f"{slowest * (i + 1) / bins:.1f}s", n, i * step + 2, height - 20 - (height - 30) * n / top, step - 4,
                (height - 30) * n / top, "#1971c2") for i, n in enumerate(counts)]
