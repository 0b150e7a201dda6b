"""Jaeger v2 (the OpenTelemetry-Collector-based ``jaeger`` binary) on 127.0.0.1: receives OTLP, serves the query API.

Why built here: Jaeger ships no Debian package and no wheel, and ``go install`` refuses its module (it has
``replace`` directives). So ``install`` downloads the module from the Go module proxy into the cache's Go
module cache, copies it out (the module cache is read-only), and ``go build``s ``./cmd/jaeger`` once into
``<cache>/jaeger-<version>/jaeger`` (about 11 minutes on a 2-core machine; every later install is a no-op).
The build writes to a temporary name renamed into place at the end, so a build that was interrupted is never
taken for a finished one; a lock file lets two installs at once (two clones, two test runs) share one build.

Each start writes its own config: in-memory trace storage, the OTLP receiver (HTTP and gRPC), the query API
(``/api/traces/{id}``, ``/api/v3/traces/{id}``) and the health check, every listener on 127.0.0.1, and the
collector's own metrics and pprof off. The web UI's assets are not part of a ``go build`` (its page is a
placeholder); the query API is what ``pixelguard trace`` and the tests read.
"""
from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import subprocess
import tempfile
import time
import urllib.error
from pathlib import Path

from .base import LocalService, ServiceError, free_port, http_get, port_open
from .paths import cache_root

VERSION = "1.76.0"  # the v2 binary's module version (Jaeger tags v2.x releases on the v1 module path too)
MODULE = "github.com/jaegertracing/jaeger"
# Jaeger's and OpenTelemetry's usual ports: what `pixelguard services start jaeger` uses, and where
# `pixelguard trace` looks by default.
DEFAULT_OTLP_HTTP_PORT, DEFAULT_OTLP_GRPC_PORT, DEFAULT_QUERY_PORT = 4318, 4317, 16686
DEFAULT_QUERY_URL = f"http://127.0.0.1:{DEFAULT_QUERY_PORT}"


def home() -> Path:
    return cache_root() / f"jaeger-{VERSION}"


def binary_path() -> Path:
    return home() / "jaeger"


def go_binary() -> str:
    """The Go toolchain: ``PIXELGUARD_GO``, else ``go`` on PATH, else /usr/local/go (as install-kustomize.sh)."""
    for candidate in (os.environ.get("PIXELGUARD_GO"), shutil.which("go"), "/usr/local/go/bin/go"):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    raise ServiceError("jaeger: Go is not installed; it is needed once to build Jaeger from the Go module proxy "
                       "(install Go 1.24 or later, or set PIXELGUARD_GO to its `go` binary)")


def _go_env() -> dict[str, str]:
    # The module and build caches inside ours (shared with kustomize's): a rebuild after the cache folder
    # survives costs seconds, and HOME stays clean. GOTOOLCHAIN=local: never fetch another Go mid-install.
    go = cache_root() / "go"
    return {**os.environ, "GOPATH": str(go), "GOMODCACHE": str(go / "pkg" / "mod"), "GOCACHE": str(go / "build"),
            "GOFLAGS": "-modcacherw", "GOTOOLCHAIN": "local"}


def _run(cmd: list[str], what: str, cwd: Path | None = None) -> str:
    result = subprocess.run(cmd, capture_output=True, text=True, check=False, cwd=cwd, env=_go_env())
    if result.returncode != 0:
        tail = "\n".join((result.stdout + result.stderr).strip().splitlines()[-30:])
        raise ServiceError(f"jaeger: {what} failed (`{' '.join(cmd)}`, rc={result.returncode}):\n{tail}")
    return result.stdout


def install_jaeger() -> Path:
    """Idempotent: the ``jaeger`` binary in the cache, built from the Go module proxy when it is not there."""
    binary = binary_path()
    if binary.is_file():
        return binary
    go = go_binary()
    home().mkdir(parents=True, exist_ok=True)
    with open(home() / "install.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # a second installer waits, then finds the binary the first built
        if binary.is_file():
            return binary
        for stale in [*home().glob("jaeger.partial-*"), *home().glob("src-*")]:  # a killed build's (we hold the lock)
            shutil.rmtree(stale, ignore_errors=True) if stale.is_dir() else stale.unlink(missing_ok=True)
        info = json.loads(_run([go, "mod", "download", "-json", f"{MODULE}@v{VERSION}"], "downloading the module"))
        source = Path(tempfile.mkdtemp(prefix="src-", dir=home()))
        partial = home() / f"jaeger.partial-{os.getpid()}"
        try:
            shutil.copytree(info["Dir"], source, dirs_exist_ok=True)
            for root, dirs, files in os.walk(source):  # the module cache's files are read-only
                for name in dirs + files:
                    path = Path(root) / name
                    if not path.is_symlink():
                        path.chmod(path.stat().st_mode | 0o200)
            _run([go, "build", "-o", str(partial), "./cmd/jaeger"], "go build ./cmd/jaeger", cwd=source)
            partial.replace(binary)
        finally:
            partial.unlink(missing_ok=True)
            shutil.rmtree(source, ignore_errors=True)
    return binary


class JaegerService(LocalService):
    """One Jaeger v2, in-memory: OTLP in on ``otlp_http_port``/``otlp_grpc_port``, queries on ``query_port``."""

    name = "jaeger"

    def __init__(self, state_dir: Path | None = None, otlp_http_port: int | None = None,
                 otlp_grpc_port: int | None = None, query_port: int | None = None,
                 query_grpc_port: int | None = None, health_port: int | None = None,
                 max_traces: int = 100_000) -> None:
        super().__init__(state_dir)
        ports: set[int] = set()

        def port(given: int | None) -> int:
            chosen = given or free_port()
            while chosen in ports:  # free_port may hand the same free port twice in a row
                chosen = free_port()
            ports.add(chosen)
            return chosen

        self.otlp_http_port = port(otlp_http_port)
        self.otlp_grpc_port = port(otlp_grpc_port)
        self.query_port = port(query_port)
        self.query_grpc_port = port(query_grpc_port)
        self.health_port = port(health_port)
        self.max_traces = max_traces
        self.start_seconds: float | None = None

    @classmethod
    def on_default_ports(cls) -> JaegerService:
        """`pixelguard services start jaeger`: the ports every OTLP exporter and Jaeger client assumes."""
        return cls(otlp_http_port=DEFAULT_OTLP_HTTP_PORT, otlp_grpc_port=DEFAULT_OTLP_GRPC_PORT,
                   query_port=DEFAULT_QUERY_PORT, query_grpc_port=16685, health_port=13133)

    @property
    def query_url(self) -> str:
        return f"http://127.0.0.1:{self.query_port}"

    @property
    def otlp_endpoint(self) -> str:
        """``OTEL_EXPORTER_OTLP_ENDPOINT`` for OTLP/HTTP (the exporter appends ``/v1/traces``)."""
        return f"http://127.0.0.1:{self.otlp_http_port}"

    def otel_env(self, service: str | None = None) -> dict[str, str]:
        """The standard variables that send a process's spans here (OTLP/HTTP, protobuf)."""
        env = {"OTEL_TRACES_EXPORTER": "otlp", "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
               "OTEL_EXPORTER_OTLP_ENDPOINT": self.otlp_endpoint}
        if service:
            env["OTEL_SERVICE_NAME"] = service
        return env

    @property
    def config_file(self) -> Path:
        return self.state_dir / "jaeger.yaml"

    def config(self) -> dict[str, object]:
        local = "127.0.0.1"
        return {
            "service": {
                "extensions": ["jaeger_storage", "jaeger_query", "healthcheckv2"],
                "pipelines": {"traces": {"receivers": ["otlp"], "processors": ["batch"],
                                         "exporters": ["jaeger_storage_exporter"]}},
                # The collector's own metrics would listen on 0.0.0.0:8888: off.
                "telemetry": {"resource": {"service.name": "jaeger"}, "metrics": {"level": "none"},
                              "logs": {"level": "info"}},
            },
            "extensions": {
                "healthcheckv2": {"use_v2": True, "http": {"endpoint": f"{local}:{self.health_port}"}},
                "jaeger_query": {"storage": {"traces": "memstore"},
                                 "http": {"endpoint": f"{local}:{self.query_port}"},
                                 "grpc": {"endpoint": f"{local}:{self.query_grpc_port}"}},
                "jaeger_storage": {"backends": {"memstore": {"memory": {"max_traces": self.max_traces}}}},
            },
            "receivers": {"otlp": {"protocols": {"http": {"endpoint": f"{local}:{self.otlp_http_port}"},
                                                 "grpc": {"endpoint": f"{local}:{self.otlp_grpc_port}"}}}},
            # A short batch timeout: a span is queryable a fraction of a second after it arrives.
            "processors": {"batch": {"timeout": "200ms"}},
            "exporters": {"jaeger_storage_exporter": {"trace_storage": "memstore"}},
        }

    def install(self) -> None:
        install_jaeger()

    def start(self, timeout: float = 60.0) -> None:
        binary = binary_path()
        if not binary.is_file():
            raise ServiceError("jaeger: not installed; run `pixelguard services install jaeger` (builds it once)")
        for port in (self.otlp_http_port, self.otlp_grpc_port, self.query_port, self.query_grpc_port,
                     self.health_port):
            if port_open(port):
                raise ServiceError(f"jaeger: 127.0.0.1:{port} is already in use")
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self.config_file.write_text(json.dumps(self.config(), indent=2) + "\n")  # JSON is YAML
        t0 = time.monotonic()
        self.spawn_healthy([str(binary), f"--config=file:{self.config_file}"], timeout,
                           f"jaeger (query {self.query_url}, OTLP {self.otlp_endpoint})", cwd=self.state_dir)
        self.start_seconds = time.monotonic() - t0

    def healthy(self) -> bool:
        with contextlib.suppress(urllib.error.URLError, OSError):
            return (http_get(f"{self.query_url}/api/services", timeout=2.0)[0] == 200
                    and port_open(self.otlp_http_port))
        return False
