"""Metrics: objects by status, stage latency histograms, review rate. Labels are codes, never values."""
from __future__ import annotations

import re
import threading
from collections.abc import Iterable

from opentelemetry import metrics
from opentelemetry.metrics import CallbackOptions, Observation

_LOCK = threading.Lock()
_INSTRUMENTS: dict[str, object] = {}
_COUNTS: dict[str, int] = {"clean": 0, "review": 0, "error": 0}


def _meter() -> metrics.Meter:
    return metrics.get_meter("pixelguard")


def _instruments() -> dict[str, object]:
    with _LOCK:
        if not _INSTRUMENTS:
            meter = _meter()
            _INSTRUMENTS["objects"] = meter.create_counter(
                "pixelguard.objects", unit="{object}", description="objects that reached a final topic, by status")
            _INSTRUMENTS["stage"] = meter.create_histogram(
                "pixelguard.stage.duration", unit="s", description="time an agent spent on one object")
            _INSTRUMENTS["latency"] = meter.create_histogram(
                "pixelguard.object.latency", unit="s", description="submit to final topic, per object")
            _INSTRUMENTS["retries"] = meter.create_counter(
                "pixelguard.retries", unit="{retry}", description="transient faults retried, by stage and fault")
            _INSTRUMENTS["sweep_hits"] = meter.create_counter(
                "pixelguard.sweep.hits", unit="{hit}",
                description="PHI found by the independent sweep of a finished output, by kind and runner")
            _INSTRUMENTS["review_rate"] = meter.create_observable_gauge(
                "pixelguard.review.rate", callbacks=[_review_rate], unit="1",
                description="share of objects decided by this process that went to review")
    return _INSTRUMENTS


def _review_rate(_options: CallbackOptions) -> Iterable[Observation]:
    total = sum(_COUNTS.values())
    yield Observation(_COUNTS["review"] / total if total else 0.0)


def object_decided(status: str, fmt: str, profile: str, latency_s: float) -> None:
    inst = _instruments()
    attrs = {"pixelguard.decision": status, "pixelguard.format": fmt or "unknown", "pixelguard.profile": profile}
    inst["objects"].add(1, attrs)  # type: ignore[attr-defined]
    inst["latency"].record(latency_s, {"pixelguard.decision": status})  # type: ignore[attr-defined]
    with _LOCK:
        _COUNTS[status] = _COUNTS.get(status, 0) + 1


def stage_duration(stage: str, seconds: float, fmt: str = "") -> None:
    _instruments()["stage"].record(seconds, {"pixelguard.stage": stage,  # type: ignore[attr-defined]
                                             "pixelguard.format": fmt or "unknown"})


def retried(stage: str, fault: str) -> None:
    _instruments()["retries"].add(1, {"pixelguard.stage": stage, "error.type": fault})  # type: ignore[attr-defined]


_CODE = re.compile(r"[a-z][a-z-]{0,31}")


def sweep_hit(kind: str, runner: str = "unknown") -> None:
    """One hit of the PHI sweep (``pixelguard.core.sweep.Hit.kind``); runner: embedded | streaming."""
    attrs = {"pixelguard.sweep.kind": kind if _CODE.fullmatch(kind) else "other",
             "pixelguard.runner": runner if _CODE.fullmatch(runner) else "other"}
    _instruments()["sweep_hits"].add(1, attrs)  # type: ignore[attr-defined]
