"""OpenTelemetry providers: chosen by the standard ``OTEL_*`` variables, plus hooks for tests and the demo.

- ``OTEL_TRACES_EXPORTER`` / ``OTEL_METRICS_EXPORTER``: ``otlp`` (needs the
  ``opentelemetry-exporter-otlp`` package; endpoint, headers and protocol from ``OTEL_EXPORTER_OTLP_*``),
  ``console`` (the demo) or ``none`` (default). ``OTEL_SERVICE_NAME`` names the service.
- ``PIXELGUARD_TELEMETRY_FILE``: also append every span and metric export as one JSON line to this file
  (how tests collect spans from worker subprocesses, whose in-memory exporter they cannot reach).
- ``setup(..., span_exporter=InMemorySpanExporter())``: in-process collection for tests.
- ``telemetry.prometheus.expose(service, port)``: ``setup`` plus a Prometheus ``/metrics`` endpoint
  (``PIXELGUARD_METRICS_PORT``, read by ``settings.py``; workers call it).
"""
from __future__ import annotations

import importlib
import json
import logging
import os
import sys
import threading
from typing import IO, Any

from opentelemetry import metrics, trace
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import (
    ConsoleMetricExporter,
    MetricExporter,
    MetricReader,
    PeriodicExportingMetricReader,
)
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    ConsoleSpanExporter,
    SimpleSpanProcessor,
    SpanExporter,
)

log = logging.getLogger("pixelguard.telemetry")
_LOCK = threading.Lock()
_STATE: dict[str, object] = {}


def _file_handle(path: str) -> IO[str]:
    handle = _STATE.get(f"file:{path}")
    if handle is None:
        handle = open(path, "a", buffering=1)  # noqa: SIM115 - lives as long as the process
        _STATE[f"file:{path}"] = handle
    return handle  # type: ignore[return-value]


def _otlp_class(kind: str, name: str) -> Any:
    """The OTLP exporter class over HTTP, else gRPC (whichever package is installed); None without either."""
    for transport in ("http", "grpc"):
        try:
            module = importlib.import_module(f"opentelemetry.exporter.otlp.proto.{transport}.{kind}_exporter")
        except ImportError:
            continue
        return getattr(module, name)
    return None


def _otlp_span_exporter() -> SpanExporter | None:
    exporter = _otlp_class("trace", "OTLPSpanExporter")
    if exporter is None:
        log.warning("OTEL_TRACES_EXPORTER=otlp but opentelemetry-exporter-otlp is not installed; "
                    "traces are not exported")
        return None
    span_exporter: SpanExporter = exporter()  # endpoint, headers, timeout from OTEL_EXPORTER_OTLP_* (the spec)
    return span_exporter


def _otlp_metric_exporter() -> MetricExporter | None:
    exporter = _otlp_class("metric", "OTLPMetricExporter")
    if exporter is None:
        log.warning("OTEL_METRICS_EXPORTER=otlp but opentelemetry-exporter-otlp is not installed")
        return None
    metric_exporter: MetricExporter = exporter()
    return metric_exporter


def configured() -> bool:
    """True once ``setup`` has installed this process's providers (a later call changes nothing)."""
    with _LOCK:
        return "tracer_provider" in _STATE


def setup(service: str, span_exporter: SpanExporter | None = None,
          metric_reader: MetricReader | None = None) -> TracerProvider:
    """Install global tracer and meter providers once per process; later calls return the first one."""
    with _LOCK:
        if "tracer_provider" in _STATE:
            return _STATE["tracer_provider"]  # type: ignore[return-value]
        resource = Resource.create({"service.name": os.environ.get("OTEL_SERVICE_NAME", service)})
        provider = TracerProvider(resource=resource)
        if span_exporter is not None:
            provider.add_span_processor(SimpleSpanProcessor(span_exporter))
        kind = os.environ.get("OTEL_TRACES_EXPORTER", "none").lower()
        if kind == "console":
            provider.add_span_processor(SimpleSpanProcessor(ConsoleSpanExporter(out=sys.stderr)))
        elif kind == "otlp":
            exporter = _otlp_span_exporter()
            if exporter is not None:
                provider.add_span_processor(BatchSpanProcessor(exporter))
        path = os.environ.get("PIXELGUARD_TELEMETRY_FILE")
        if path:
            handle = _file_handle(path)
            provider.add_span_processor(SimpleSpanProcessor(ConsoleSpanExporter(
                out=handle, formatter=lambda span: json.dumps({"span": json.loads(span.to_json())}) + "\n")))
        trace.set_tracer_provider(provider)

        readers: list[MetricReader] = [metric_reader] if metric_reader is not None else []
        interval = int(os.environ.get("OTEL_METRIC_EXPORT_INTERVAL", "10000"))
        mkind = os.environ.get("OTEL_METRICS_EXPORTER", "none").lower()
        if mkind == "console":
            readers.append(PeriodicExportingMetricReader(ConsoleMetricExporter(out=sys.stderr), interval))
        elif mkind == "otlp":
            metric_exporter = _otlp_metric_exporter()
            if metric_exporter is not None:
                readers.append(PeriodicExportingMetricReader(metric_exporter, interval))
        if path:
            readers.append(PeriodicExportingMetricReader(ConsoleMetricExporter(
                out=_file_handle(path),
                formatter=lambda data: json.dumps({"metrics": json.loads(data.to_json())}) + "\n"), interval))
        metrics.set_meter_provider(MeterProvider(resource=resource, metric_readers=readers))
        _STATE["tracer_provider"] = provider
        return provider


def shutdown() -> None:
    """Flush and stop exporters (a worker's clean exit; a SIGKILL loses at most the unflushed batch).

    ``TracerProvider.shutdown`` drains the BatchSpanProcessor's queue (the OTLP exporter's spans of the last
    ``OTEL_BSP_SCHEDULE_DELAY``, 5 s by default) before it returns: a short run's spans all reach Jaeger.
    A second call, or a span ended after it, changes nothing.
    """
    with _LOCK:
        if _STATE.get("shut_down"):
            return
        _STATE["shut_down"] = True
        provider = _STATE.get("tracer_provider")
    if provider is not None:
        provider.shutdown()  # type: ignore[attr-defined]
    meter_provider = metrics.get_meter_provider()
    if hasattr(meter_provider, "shutdown"):
        meter_provider.shutdown()
