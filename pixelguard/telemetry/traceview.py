"""Traces as Jaeger's query API returns them, read into plain spans, and one trace drawn as a waterfall.

Pure: bytes in, values and text lines out (the HTTP side is ``telemetry/jaeger_query.py``). The format is
the JSON of Jaeger's ``GET /api/traces/{id}`` and ``GET /api/traces?service=...`` (``{"data": [{"traceID",
"spans": [...], "processes": {...}}]}``; times in microseconds since the epoch), which Jaeger v1 and v2
both serve. Anything else is refused with :class:`TraceFormatError`, never half read.
"""
from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

# A trace of one object holds tens of spans (a few kB each); a search over a bench run, thousands. Past this,
# the answer is not something a person or the bench should hold in memory at once.
MAX_BODY_BYTES = 64 * 1024 * 1024
STAGE_ATTRIBUTE = "pixelguard.agent"


class TraceFormatError(ValueError):
    """Jaeger's answer is not the trace JSON this reader knows; the message says what was wrong with it."""


@dataclass(frozen=True)
class Span:
    trace_id: str
    span_id: str
    parent_id: str | None  # None: a root (or its parent is in no answer we have)
    name: str
    service: str
    start_us: int
    duration_us: int
    attributes: Mapping[str, Any] = field(default_factory=dict)
    error: bool = False

    @property
    def stage(self) -> str:
        """The pipeline stage a span stands for (``parse``, ``redact`` ...), else its name."""
        return str(self.attributes.get(STAGE_ATTRIBUTE) or self.name)

    @property
    def end_us(self) -> int:
        return self.start_us + self.duration_us


def parse_traces(body: bytes) -> dict[str, list[Span]]:
    """Trace id -> its spans, from the body of ``/api/traces/{id}`` or ``/api/traces?...``.

    Raises TraceFormatError for an empty, oversized, truncated or non-JSON body and for JSON that is not
    a Jaeger trace answer (naming the first field that is off).
    """
    if not body:
        raise TraceFormatError("Jaeger answered with an empty body (expected trace JSON)")
    if len(body) > MAX_BODY_BYTES:
        raise TraceFormatError(f"Jaeger's answer is {len(body)} bytes, over the {MAX_BODY_BYTES}-byte limit: "
                               "ask for one trace, or a shorter search (a smaller limit or lookback)")
    try:
        payload = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        reason = "truncated" if isinstance(exc, json.JSONDecodeError) and exc.pos >= len(body) - 1 else "not JSON"
        raise TraceFormatError(f"Jaeger's answer is {reason} ({exc.__class__.__name__} at byte "
                               f"{getattr(exc, 'pos', getattr(exc, 'start', 0))} of {len(body)}): "
                               "is the URL Jaeger's query port (16686 by default)?") from None
    if not isinstance(payload, dict) or not isinstance(payload.get("data"), list):
        raise TraceFormatError("Jaeger's answer has no \"data\" list of traces: is the URL Jaeger's query port "
                               "(16686 by default), not its OTLP or health port?")
    traces: dict[str, list[Span]] = {}
    for index, item in enumerate(payload["data"]):
        trace_id, spans = _trace(item, f"data[{index}]")
        traces.setdefault(trace_id, []).extend(spans)
    return traces


def _trace(item: Any, where: str) -> tuple[str, list[Span]]:
    if not isinstance(item, dict):
        raise TraceFormatError(f"{where} is not a trace object")
    trace_id = _text(item, "traceID", where)
    processes = item.get("processes") or {}
    raw_spans = item.get("spans")
    if not isinstance(processes, dict) or not isinstance(raw_spans, list):
        raise TraceFormatError(f"{where} lacks its \"spans\" list or \"processes\" map")
    spans = []
    for k, raw in enumerate(raw_spans):
        at = f"{where}.spans[{k}]"
        if not isinstance(raw, dict):
            raise TraceFormatError(f"{at} is not a span object")
        process = processes.get(raw.get("processID"), {})
        tags = _tags(raw.get("tags"), at)
        parent = next((ref.get("spanID") for ref in raw.get("references") or []
                       if isinstance(ref, dict) and ref.get("refType") == "CHILD_OF"
                       and ref.get("traceID") == trace_id), None)
        spans.append(Span(trace_id=trace_id, span_id=_text(raw, "spanID", at), parent_id=parent,
                          name=_text(raw, "operationName", at),
                          service=str(process.get("serviceName", "")) if isinstance(process, dict) else "",
                          start_us=_int(raw, "startTime", at), duration_us=_int(raw, "duration", at),
                          attributes=tags, error=tags.get("error") in (True, "true")
                          or tags.get("otel.status_code") == "ERROR"))
    return trace_id, spans


def _text(obj: Mapping[str, Any], key: str, where: str) -> str:
    value = obj.get(key)
    if not isinstance(value, str) or not value:
        raise TraceFormatError(f"{where}.{key} is missing or not a string")
    return value


def _int(obj: Mapping[str, Any], key: str, where: str) -> int:
    value = obj.get(key)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise TraceFormatError(f"{where}.{key} is missing or not a non-negative integer (microseconds)")
    return value


def _tags(raw: Any, where: str) -> dict[str, Any]:
    if raw is None:
        return {}
    if not isinstance(raw, list):
        raise TraceFormatError(f"{where}.tags is not a list")
    return {tag["key"]: tag.get("value") for tag in raw if isinstance(tag, dict) and isinstance(tag.get("key"), str)}


def ordered(spans: Sequence[Span]) -> list[tuple[int, Span]]:
    """(depth, span) in tree order: roots by start time, each followed by its children by start time."""
    ids = {s.span_id for s in spans}
    children: dict[str | None, list[Span]] = {}
    for span in spans:
        parent = span.parent_id if span.parent_id in ids else None
        children.setdefault(parent, []).append(span)
    out: list[tuple[int, Span]] = []
    stack = [(0, s) for s in sorted(children.get(None, []), key=_by_start, reverse=True)]
    while stack:
        depth, span = stack.pop()
        out.append((depth, span))
        stack.extend((depth + 1, c) for c in sorted(children.get(span.span_id, []), key=_by_start, reverse=True))
    return out


def _by_start(span: Span) -> tuple[int, int, str]:
    return span.start_us, -span.duration_us, span.span_id


def label(span: Span) -> str:
    stage = span.attributes.get(STAGE_ATTRIBUTE)
    text = f"{stage}: {span.name}" if stage else span.name
    return text + (" [error]" if span.error else "")


def waterfall(spans: Sequence[Span], width: int = 40) -> list[str]:
    """One line per span: offset from the trace's start, duration, a bar on the trace's time axis, the
    span's stage and name indented under its parent; a header line first."""
    if not spans:
        return []
    begin = min(s.start_us for s in spans)
    total = max(max(s.end_us for s in spans) - begin, 1)
    services = sorted({s.service for s in spans if s.service})
    lines = [f"trace {spans[0].trace_id}: {len(spans)} spans over {total / 1000:.1f} ms"
             + (f" ({', '.join(services)})" if services else ""),
             f"{'start ms':>10} {'took ms':>10}  {'':{width + 2}}  span"]
    for depth, span in ordered(spans):
        offset = span.start_us - begin
        left = min(width - 1, offset * width // total)
        length = max(1, min(width - left, round(span.duration_us * width / total)))
        bar = " " * left + "#" * length + " " * (width - left - length)
        lines.append(f"{offset / 1000:>10.1f} {span.duration_us / 1000:>10.1f}  |{bar}|  {'  ' * depth}{label(span)}")
    return lines


def stages_in_order(spans: Iterable[Span]) -> list[str]:
    """The stage names of a trace's stage spans, in the order they started."""
    staged = sorted((s for s in spans if s.attributes.get(STAGE_ATTRIBUTE)), key=_by_start)
    return [str(s.attributes[STAGE_ATTRIBUTE]) for s in staged]
