"""``/live`` and ``/ready`` from a :class:`~agents.liveness.ProgressTracker`, for the worker and for deliver.

The worker serves them on Faust's web server (``agents/app.py``); deliver has no Faust, so it gets a small
threaded HTTP server (``serve``) on the same setting (``PIXELGUARD_WEB_HOST``/``_PORT``). Both answer through
``answer``, so a kubelet reads one verdict format whichever process it probes.
"""
from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from .liveness import ProgressTracker

PATHS = ("/live", "/ready")


def answer(tracker: ProgressTracker, path: str) -> tuple[int, dict[str, Any]]:
    """(HTTP status, JSON body) of ``/live`` or ``/ready``: 200 or 503 and the verdict's details."""
    verdict = tracker.verdict()
    ok = verdict.live if path == "/live" else verdict.ready
    return 200 if ok else 503, {path.lstrip("/"): ok, **verdict.body}


def serve(tracker: ProgressTracker, host: str, port: int) -> ThreadingHTTPServer:
    """Answer ``/live`` and ``/ready`` on a daemon thread until ``shutdown()``; port 0 takes a free one."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path not in PATHS:
                status, body = 404, {"reason": "not found: this port serves /live and /ready only"}
            else:
                status, body = answer(tracker, self.path)
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *_args: Any) -> None:
            pass  # a probe every few seconds is not worth a log line

    server = ThreadingHTTPServer((host, port), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, name="health-http", daemon=True).start()
    return server
