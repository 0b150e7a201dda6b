"""Spans leave by OTLP/HTTP when the standard OTEL_* variables ask for it (a receiver on 127.0.0.1)."""
from __future__ import annotations

import os
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

SCRIPT = """
from opentelemetry import trace
from pixelguard import telemetry
telemetry.setup("pixelguard-otlp-test")
with trace.get_tracer("t").start_as_current_span("pixelguard.redact", attributes={"pixelguard.job_id": "job-otlp"}):
    pass
telemetry.shutdown()
"""


def test_spans_are_exported_over_otlp_http() -> None:
    received: list[tuple[str, bytes]] = []

    class Receiver(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # http.server's naming
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            received.append((self.path, body))
            self.send_response(200)
            self.send_header("Content-Type", "application/x-protobuf")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Receiver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        env = dict(os.environ, OTEL_TRACES_EXPORTER="otlp", OTEL_METRICS_EXPORTER="none",
                   OTEL_EXPORTER_OTLP_PROTOCOL="http/protobuf",
                   OTEL_EXPORTER_OTLP_ENDPOINT=f"http://127.0.0.1:{server.server_port}")
        proc = subprocess.run([sys.executable, "-c", SCRIPT], env=env, capture_output=True, text=True, timeout=60)
        assert proc.returncode == 0, proc.stderr
        assert "not installed" not in proc.stderr
    finally:
        server.shutdown()
    traces = [body for path, body in received if path == "/v1/traces"]
    assert traces and any(b"pixelguard.redact" in body and b"job-otlp" in body for body in traces)
