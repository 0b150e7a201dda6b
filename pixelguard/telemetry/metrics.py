"""Metrics: objects by status, stage and Triton latency histograms, consumer lag, review rate, sweep hits.

The one set of metric definitions: every exporter (OTLP, the JSONL file, Prometheus's ``/metrics`` in
``telemetry/prometheus.py``) reads these instruments. Labels are codes, never values: anything that does not
look like a code is counted as ``other`` rather than becoming a label (a profile given as a file path, a
patient's name passed by mistake).
"""
from __future__ import annotations

import re
import threading
from collections.abc import Callable, Iterable

from opentelemetry import metrics
from opentelemetry.metrics import CallbackOptions, Observation

_LOCK = threading.Lock()
_INSTRUMENTS: dict[str, object] = {}
_COUNTS: dict[str, int] = {"clean": 0, "review": 0, "error": 0}
# Seconds, from a fast header parse to a Triton call or object near its time cap; the SDK's default
# boundaries (0, 5, 10, 25 ... 10000) are meant for milliseconds and would put most objects in one bucket.
SECONDS_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0, 300.0)

# (consumer group, stage, partition, lag) for each partition a consumer of this process owns.
LagSource = Callable[[], Iterable[tuple[str, str, int, int]]]
_LAG_SOURCES: list[LagSource] = []


def _meter() -> metrics.Meter:
    return metrics.get_meter("pixelguard")


def _instruments() -> dict[str, object]:
    with _LOCK:
        if not _INSTRUMENTS:
            meter = _meter()
            _INSTRUMENTS["objects"] = meter.create_counter(
                "pixelguard.objects", unit="{object}", description="objects that reached a final topic, by status")
            _INSTRUMENTS["stage"] = meter.create_histogram(
                "pixelguard.stage.duration", unit="s", description="time an agent spent on one object",
                explicit_bucket_boundaries_advisory=SECONDS_BUCKETS)
            _INSTRUMENTS["latency"] = meter.create_histogram(
                "pixelguard.object.latency", unit="s", description="submit to final topic, per object",
                explicit_bucket_boundaries_advisory=SECONDS_BUCKETS)
            _INSTRUMENTS["triton"] = meter.create_histogram(
                "pixelguard.triton.duration", unit="s",
                description="one Triton inference call (each attempt, failed ones too), by model",
                explicit_bucket_boundaries_advisory=SECONDS_BUCKETS)
            _INSTRUMENTS["retries"] = meter.create_counter(
                "pixelguard.retries", unit="{retry}", description="transient faults retried, by stage and fault")
            _INSTRUMENTS["sweep_hits"] = meter.create_counter(
                "pixelguard.sweep.hits", unit="{hit}",
                description="PHI found by the independent sweep of a finished output, by kind and runner")
            _INSTRUMENTS["review_rate"] = meter.create_observable_gauge(
                "pixelguard.review.rate", callbacks=[_review_rate], unit="1",
                description="share of objects decided by this process that went to review")
            _INSTRUMENTS["lag"] = meter.create_observable_gauge(
                "pixelguard.consumer.lag", callbacks=[_consumer_lag], unit="{message}",
                description="committed offset behind the high watermark, per partition this process consumes")
    return _INSTRUMENTS


def _review_rate(_options: CallbackOptions) -> Iterable[Observation]:
    total = sum(_COUNTS.values())
    yield Observation(_COUNTS["review"] / total if total else 0.0)


def _consumer_lag(_options: CallbackOptions) -> Iterable[Observation]:
    with _LOCK:
        sources = list(_LAG_SOURCES)
    for source in sources:
        for group, stage, partition, lag in source():
            yield Observation(lag, {"messaging.consumer.group.name": group, "pixelguard.stage": stage,
                                    "messaging.destination.partition.id": str(partition)})


def watch_consumer_lag(source: LagSource) -> None:
    """Report ``source``'s lag on every collection (a worker's liveness tracker, fed by its lag sampler).

    Also creates every instrument now, so a scrape of a worker that has decided nothing yet already lists
    the lag and the review rate.
    """
    _instruments()
    with _LOCK:
        _LAG_SOURCES.append(source)


def object_decided(status: str, fmt: str, profile: str, latency_s: float) -> None:
    inst = _instruments()
    attrs = {"pixelguard.decision": _code(status), "pixelguard.format": _code(fmt or "unknown"),
             "pixelguard.profile": _code(profile)}
    inst["objects"].add(1, attrs)  # type: ignore[attr-defined]
    inst["latency"].record(latency_s, {"pixelguard.decision": _code(status)})  # type: ignore[attr-defined]
    with _LOCK:
        _COUNTS[status] = _COUNTS.get(status, 0) + 1


def stage_duration(stage: str, seconds: float, fmt: str = "") -> None:
    _instruments()["stage"].record(seconds, {"pixelguard.stage": _code(stage),  # type: ignore[attr-defined]
                                             "pixelguard.format": _code(fmt or "unknown")})


def retried(stage: str, fault: str) -> None:
    _instruments()["retries"].add(1, {"pixelguard.stage": _code(stage),  # type: ignore[attr-defined]
                                      "error.type": _code(fault)})


def triton_call(model: str, seconds: float) -> None:
    _instruments()["triton"].record(seconds, {"pixelguard.model": _code(model)})  # type: ignore[attr-defined]


# Lower-case words joined by - or _ (formats, profiles, Triton models, sweep kinds, fault codes): a code.
# No digits and no capitals, so no ID, date, UID or DICOM person name can pass as one.
_CODE = re.compile(r"[a-z][a-z_-]{0,47}")


def _code(value: str) -> str:
    return value if _CODE.fullmatch(value) else "other"


def sweep_hit(kind: str, runner: str = "unknown") -> None:
    """One hit of the PHI sweep (``pixelguard.core.sweep.Hit.kind``); runner: embedded | streaming."""
    attrs = {"pixelguard.sweep.kind": _code(kind), "pixelguard.runner": _code(runner)}
    _instruments()["sweep_hits"].add(1, attrs)  # type: ignore[attr-defined]
