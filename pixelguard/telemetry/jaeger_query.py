"""Jaeger's query API over HTTP: one trace by id, or the traces of a service (thin adapter over ``traceview``).

Errors a user meets (Jaeger not running, the trace not exported yet, a URL that is not Jaeger's) raise
:class:`JaegerError` with what to do next. Never a proxy: a developer's ``HTTP_PROXY`` must not swallow
calls to a Jaeger on 127.0.0.1.
"""
from __future__ import annotations

import json
import re
import urllib.error
import urllib.parse

from pixelguard.services.base import http_get

from .traceview import MAX_BODY_BYTES, Span, TraceFormatError, parse_traces

URL_ENV = "PIXELGUARD_JAEGER_URL"
_TRACE_ID = re.compile(r"[0-9a-f]{32}")
START_HINT = ("start one with `pixelguard services start jaeger`, or point --jaeger-url (or "
              f"{URL_ENV}) at your Jaeger's query port (16686 by default)")


class JaegerError(RuntimeError):
    """Jaeger could not answer what was asked; the message says why and what to do."""


class JaegerUnreachable(JaegerError):
    pass


class TraceNotFound(JaegerError):
    pass


def get(base_url: str, path: str, timeout_s: float = 10.0) -> tuple[int, bytes]:
    """GET ``base_url + path``; raises JaegerUnreachable (with what to do) when nothing answers there."""
    url = base_url.rstrip("/") + path
    try:
        return http_get(url, timeout_s, limit=MAX_BODY_BYTES)
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise JaegerUnreachable(f"cannot reach Jaeger's query API at {base_url} ({reason}): {START_HINT}") from None


def fetch_trace(base_url: str, trace_id: str, timeout_s: float = 10.0) -> list[Span]:
    """The spans of one trace (32 hex digits). TraceNotFound when Jaeger does not hold it (yet)."""
    trace_id = trace_id.strip().lower()
    if not _TRACE_ID.fullmatch(trace_id):
        raise ValueError(f"a trace id is 32 hex digits (got {len(trace_id)} characters)")
    status, body = get(base_url, f"/api/traces/{trace_id}", timeout_s)
    if status == 404 and not _jaeger_answer(body):
        raise JaegerError(f"{base_url} answered 404 with something other than Jaeger's JSON: is it Jaeger's query "
                          "port (16686 by default), not its OTLP or health port?")
    if status == 404:
        raise TraceNotFound(
            f"trace {trace_id} is not in Jaeger at {base_url} (yet). Workers send spans in batches (every 5 s, "
            "and all that is left when they stop): wait a few seconds and retry. If it never appears, check that "
            "the workers and `pixelguard submit` run with OTEL_TRACES_EXPORTER=otlp and OTEL_EXPORTER_OTLP_ENDPOINT "
            "set to this Jaeger's OTLP/HTTP port (4318 by default); an in-memory Jaeger that was restarted has "
            "forgotten older traces")
    if status != 200:
        raise JaegerError(f"Jaeger at {base_url} answered HTTP {status} for trace {trace_id}: is it Jaeger's "
                          "query port (16686 by default)?")
    try:
        traces = parse_traces(body)
    except TraceFormatError as exc:
        raise JaegerError(f"Jaeger at {base_url}: {exc}") from None
    spans = traces.get(trace_id, [])
    if not spans:
        raise TraceNotFound(f"trace {trace_id} is not in Jaeger's answer at {base_url}: retry in a few seconds")
    return spans


def _jaeger_answer(body: bytes) -> bool:
    """True when a body is the query API's JSON (its 404 says ``{"data": null, "errors": [...]}``)."""
    try:
        payload = json.loads(body)
    except ValueError:
        return False
    return isinstance(payload, dict) and ("data" in payload or "errors" in payload)


def search(base_url: str, service: str, limit: int = 1000, lookback: str = "1h",
           timeout_s: float = 30.0) -> dict[str, list[Span]]:
    """Trace id -> spans of the traces that have a span of ``service`` (``/api/traces?service=``)."""
    query = urllib.parse.urlencode({"service": service, "limit": limit, "lookback": lookback})
    status, body = get(base_url, f"/api/traces?{query}", timeout_s)
    if status != 200:
        raise JaegerError(f"Jaeger at {base_url} answered HTTP {status} to a search for service {service!r}")
    try:
        return parse_traces(body)
    except TraceFormatError as exc:
        raise JaegerError(f"Jaeger at {base_url}: {exc}") from None
