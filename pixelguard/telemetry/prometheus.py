"""``GET /metrics`` for Prometheus: the OpenTelemetry instruments of ``telemetry/metrics.py``, nothing else.

The OTel Prometheus reader translates the instruments (``pixelguard.objects`` becomes
``pixelguard_objects_total``, ``pixelguard.stage.duration`` in seconds ``pixelguard_stage_duration_seconds``,
attribute ``pixelguard.decision`` label ``pixelguard_decision``), so there is one set of definitions whichever
exporter reads them. prometheus_client's own collectors come along (``process_cpu_seconds_total``,
``process_resident_memory_bytes``, ``python_gc_*``): CPU seconds per worker is what capacity planning needs.

The endpoint is a prometheus_client HTTP server on its own thread, not a page of the Faust web server, so a
worker whose event loop is blocked still answers a scrape (its lag keeps growing where SRE can see it).
It binds to 127.0.0.1 unless told otherwise; in a pod the scrape comes from outside, so the deployment sets
``PIXELGUARD_METRICS_HOST=0.0.0.0``.
"""
from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from typing import Any

from .setup import configured, setup

log = logging.getLogger("pixelguard.telemetry")


@dataclass
class Endpoint:
    host: str
    port: int
    server: Any
    thread: threading.Thread

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}/metrics"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def expose(service: str, port: int, host: str = "127.0.0.1") -> Endpoint | None:
    """Set up this process's telemetry with a Prometheus reader and serve ``/metrics`` on ``host:port``.

    ``port`` 0 turns the endpoint off: plain ``setup(service)``. Call it instead of ``setup``, first thing in
    the process: the reader must be there when the meter provider is made. A port that cannot be bound
    raises (an operator who asked for metrics gets none otherwise, silently).
    """
    if not port:
        setup(service)
        return None
    if configured():
        raise RuntimeError("telemetry was set up before the Prometheus endpoint: call expose() first")
    from opentelemetry.exporter.prometheus import PrometheusMetricReader
    from prometheus_client import start_http_server

    setup(service, metric_reader=PrometheusMetricReader())
    try:
        server, thread = start_http_server(port, addr=host)
    except OSError as exc:
        raise RuntimeError(f"cannot serve /metrics on {host}:{port} ({exc.strerror}): pick another "
                           "PIXELGUARD_METRICS_PORT, or 0 for none") from None
    log.info("metrics: serving Prometheus /metrics on %s:%d", host, port)
    return Endpoint(host, port, server, thread)
