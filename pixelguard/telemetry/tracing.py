"""Spans for one object's life: W3C trace context in Kafka headers, messaging semantic conventions.

One trace per object: ``submit`` opens the root (a PRODUCER ``send`` span) and injects ``traceparent`` into
the message headers; every agent extracts it and opens a CONSUMER ``process`` span as its child, and
injects its own context into the message it sends on; calls out (Triton, Vault/key service, object store)
are CLIENT/INTERNAL children of the agent span. Attributes pass :func:`safe_attributes`: ids, counts,
codes and our own words only (no PHI values can get through its character set).
"""
from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import propagate, trace
from opentelemetry.trace import Span, SpanKind, Status, StatusCode

TRACER_NAME = "pixelguard"
# Ids (in-…, obj-…, 2.25.…, job ids), codes, topic names, numbers: no spaces, no ^, no free text.
_SAFE = re.compile(r"^[A-Za-z0-9._:@/+=#|-]{0,160}$")


def tracer() -> trace.Tracer:
    return trace.get_tracer(TRACER_NAME)


def safe_attributes(attrs: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in attrs.items():
        if value is None or value == "":
            continue
        if isinstance(value, bool | int | float) or isinstance(value, str) and _SAFE.match(value):
            out[key] = value
        else:
            out[key] = "[dropped: not an id]"
    return out


def headers_dict(headers: Any) -> dict[str, str]:
    """Kafka headers (list of pairs or a mapping, values bytes or str) -> a carrier for the propagator."""
    if not headers:
        return {}
    items = headers.items() if isinstance(headers, Mapping) else headers
    out = {}
    for key, value in items:
        if isinstance(value, bytes):
            value = value.decode("latin-1")
        out[str(key)] = value
    return out


def inject() -> dict[str, str]:
    """The current context as a W3C carrier: ``{"traceparent": ..., "tracestate": ...}``."""
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    return carrier


def kafka_headers(carrier: Mapping[str, str]) -> list[tuple[str, str | bytes | None]]:
    return [(k, v.encode()) for k, v in carrier.items()]


def trace_id_of(carrier: Mapping[str, str]) -> str:
    """The 32-hex trace id inside a ``traceparent`` ("" when there is none)."""
    parts = carrier.get("traceparent", "").split("-")
    return parts[1] if len(parts) == 4 else ""


def messaging_attributes(operation: str, topic: str, *, group: str | None = None, partition: int | None = None,
                         offset: int | None = None, key: str | None = None) -> dict[str, Any]:
    attrs: dict[str, Any] = {
        "messaging.system": "kafka",
        "messaging.operation.type": operation,  # send | receive | process
        "messaging.operation.name": operation,
        "messaging.destination.name": topic,
    }
    if group:
        attrs["messaging.consumer.group.name"] = group
    if partition is not None:
        attrs["messaging.destination.partition.id"] = str(partition)
    if offset is not None:
        attrs["messaging.kafka.offset"] = offset
    if key:
        attrs["messaging.kafka.message.key"] = key  # remapped UID or keyed content id: never an original
    return attrs


def event_attributes(event: Any) -> dict[str, Any]:
    """PixelGuard attributes of an ObjectEvent (ids, format, profile, decision, confidence)."""
    return {
        "pixelguard.job.id": event.job_id,
        "pixelguard.input.id": event.input_id,
        "pixelguard.output.id": event.output_id,
        "pixelguard.format": event.format,
        "pixelguard.profile": event.profile,
        "pixelguard.decision": event.status,
        "pixelguard.confidence": event.confidence,
        "pixelguard.error.code": event.error_code,
    }


@contextmanager
def process_span(agent: str, topic: str, carrier: Mapping[str, str], attrs: Mapping[str, Any] | None = None,
                 kind: SpanKind = SpanKind.CONSUMER) -> Iterator[Span]:
    """``process <topic>`` span of ``agent``, child of the context the message carried."""
    parent = propagate.extract(dict(carrier))
    token = otel_context.attach(parent)
    try:
        with tracer().start_as_current_span(f"process {topic}", kind=kind,
                                            attributes=safe_attributes({"pixelguard.agent": agent,
                                                                        **(attrs or {})})) as span:
            yield span
    finally:
        otel_context.detach(token)


@contextmanager
def child_span(name: str, kind: SpanKind = SpanKind.INTERNAL, attrs: Mapping[str, Any] | None = None) -> Iterator[Span]:
    with tracer().start_as_current_span(name, kind=kind, attributes=safe_attributes(attrs or {})) as span:
        yield span


def set_attributes(span: Span, attrs: Mapping[str, Any]) -> None:
    span.set_attributes(safe_attributes(attrs))


def mark_error(span: Span, code: str) -> None:
    span.set_status(Status(StatusCode.ERROR, code))
    span.set_attribute("error.type", code)


def span_links(carriers: Sequence[Mapping[str, str]]) -> list[trace.Link]:
    links = []
    for carrier in carriers:
        ctx = trace.get_current_span(propagate.extract(dict(carrier))).get_span_context()
        if ctx.is_valid:
            links.append(trace.Link(ctx))
    return links
