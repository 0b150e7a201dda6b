"""The local Jaeger v2: built once, listens on 127.0.0.1 only, takes OTLP/HTTP spans, answers queries, stops by pid."""
from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from pixelguard.services.base import port_open
from pixelguard.services.jaeger import JaegerService, binary_path, install_jaeger
from pixelguard.telemetry.jaeger_query import JaegerError, JaegerUnreachable, TraceNotFound, fetch_trace, search

from .sockets import listening

SCRIPT = """
import sys
import time
from opentelemetry import trace
from pixelguard import telemetry
telemetry.setup("pixelguard-jaeger-test")
tracer = trace.get_tracer("t")
with tracer.start_as_current_span("outer", attributes={"pixelguard.job.id": "job-jaeger-svc"}) as outer:
    with tracer.start_as_current_span("inner"):
        pass
print(format(outer.get_span_context().trace_id, "032x"))
telemetry.shutdown()
"""


def test_jaeger_receives_otlp_and_answers_queries_on_loopback_only(jaeger_factory) -> None:
    install_jaeger()
    built = binary_path().stat().st_mtime_ns
    install_jaeger()  # a second install finds the binary and builds nothing
    assert binary_path().stat().st_mtime_ns == built

    service: JaegerService = jaeger_factory()
    pid = service.process.running_pid()
    assert pid is not None and service.healthy()
    ports = {service.otlp_http_port, service.otlp_grpc_port, service.query_port, service.query_grpc_port,
             service.health_port}
    assert listening(pid) == {("127.0.0.1", p) for p in ports}  # nothing else, nothing on 0.0.0.0

    env = dict(os.environ, **service.otel_env(), OTEL_METRICS_EXPORTER="none",
               OTEL_BSP_SCHEDULE_DELAY="60000")  # only the shutdown flush can deliver these spans
    proc = subprocess.run([sys.executable, "-c", SCRIPT], env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    trace_id = proc.stdout.strip()
    # Jaeger answers the export before its store holds the spans: a loaded machine shows the gap.
    deadline = time.monotonic() + 30
    while True:
        try:
            spans = fetch_trace(service.query_url, trace_id)
            break
        except TraceNotFound:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)
    by_name = {s.name: s for s in spans}
    assert set(by_name) == {"outer", "inner"}
    assert by_name["inner"].parent_id == by_name["outer"].span_id
    assert by_name["outer"].service == "pixelguard-jaeger-test"
    assert by_name["outer"].attributes["pixelguard.job.id"] == "job-jaeger-svc"
    assert trace_id in search(service.query_url, "pixelguard-jaeger-test")

    # Pointed at another of its ports, or given a trace it never got: an error that says which.
    with pytest.raises(JaegerError, match="something other than Jaeger.s JSON") as wrong:
        fetch_trace(f"http://127.0.0.1:{service.otlp_http_port}", trace_id)
    assert not isinstance(wrong.value, TraceNotFound)
    with pytest.raises(TraceNotFound, match="OTEL_EXPORTER_OTLP_ENDPOINT"):
        fetch_trace(service.query_url, "0" * 31 + "1")
    with pytest.raises(ValueError, match="32 hex digits"):
        fetch_trace(service.query_url, trace_id[:-1])

    service.stop()
    with pytest.raises(JaegerUnreachable, match="pixelguard services start jaeger"):
        fetch_trace(service.query_url, trace_id)
    assert service.process.running_pid() is None
    assert not any(port_open(p) for p in ports)
