"""Per-stage costs from traces: how many spans of each stage, and their total, mean, p50 and p99 durations.

Pure. The bench (``bench/scale.py``) reads its run's traces back from Jaeger (``telemetry/jaeger_query.py``)
and hands the spans here; capacity planning reads which stage a worker's time goes to. A stage is a span's
``pixelguard.agent`` (submit, parse, scrub, redact, route), else its name (``triton.infer ocr_ensemble``,
``objectstore get``, ``phi sweep`` ...), so topic prefixes and ids never split one stage into many.
"""
from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from .traceview import Span


@dataclass(frozen=True)
class StageCost:
    stage: str
    count: int
    total_s: float
    mean_s: float
    p50_s: float
    p99_s: float


def percentile(sorted_values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (``q`` in 0..100) of values sorted ascending: always one of the values."""
    if not sorted_values:
        raise ValueError("percentile of no values")
    rank = max(1, math.ceil(q / 100 * len(sorted_values)))
    return sorted_values[rank - 1]


def stage_costs(spans: Iterable[Span], stage_of: Callable[[Span], str] = lambda s: s.stage) -> dict[str, StageCost]:
    """Stage -> its cost over ``spans`` (each span counted once, by span id), stages by total time, largest first."""
    durations: dict[str, list[float]] = defaultdict(list)
    seen: set[tuple[str, str]] = set()
    for span in spans:
        if (span.trace_id, span.span_id) in seen:  # the same trace fetched twice (a search and a lookup)
            continue
        seen.add((span.trace_id, span.span_id))
        durations[stage_of(span)].append(span.duration_us / 1e6)
    costs = []
    for stage, values in durations.items():
        values.sort()
        total = math.fsum(values)
        costs.append(StageCost(stage, len(values), total, total / len(values), percentile(values, 50),
                               percentile(values, 99)))
    return {c.stage: c for c in sorted(costs, key=lambda c: (-c.total_s, c.stage))}


def table(costs: dict[str, StageCost]) -> list[str]:
    """The costs as aligned text lines (milliseconds), for a bench's output."""
    lines = [f"{'stage':<32} {'count':>7} {'total ms':>11} {'mean ms':>9} {'p50 ms':>9} {'p99 ms':>9}"]
    for c in costs.values():
        lines.append(f"{c.stage[:32]:<32} {c.count:>7} {c.total_s * 1e3:>11.1f} {c.mean_s * 1e3:>9.2f} "
                     f"{c.p50_s * 1e3:>9.2f} {c.p99_s * 1e3:>9.2f}")
    return lines
