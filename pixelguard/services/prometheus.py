"""Prometheus (Debian's package, 2.x) run on 127.0.0.1 with our own config: scrapes workers' ``/metrics``.

The binary comes from the ``prometheus`` Debian package, which ``deploy/local/bootstrap.sh`` installs with the
project's other system packages (``deploy/local/apt-packages.txt``); ``install`` here only checks it is there,
as nothing else in ``pixelguard services`` runs apt. The package's own daemon (its systemd unit, port 9090,
``/var/lib/prometheus``) is never used: each start writes its config and keeps its data in the state folder.
"""
from __future__ import annotations

import json
import shutil
import time
import urllib.error
import urllib.parse
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from .base import LocalService, ServiceError, free_port, http_get

DEBIAN_PACKAGE = "prometheus"


def prometheus_binary() -> Path:
    found = shutil.which("prometheus") or ("/usr/bin/prometheus" if Path("/usr/bin/prometheus").is_file() else None)
    if found is None:
        raise ServiceError(f"prometheus is not installed: run deploy/local/bootstrap.sh, which installs the Debian "
                           f"package {DEBIAN_PACKAGE!r} (deploy/local/apt-packages.txt), or "
                           f"apt-get install {DEBIAN_PACKAGE}")
    return Path(found)


class PrometheusService(LocalService):
    """One Prometheus scraping ``targets`` (host:port of ``/metrics`` endpoints) every ``scrape_interval_s``."""

    name = "prometheus"

    def __init__(self, state_dir: Path | None = None, port: int | None = None,
                 targets: Sequence[str] = ("127.0.0.1:9464",), scrape_interval_s: float = 1.0) -> None:
        super().__init__(state_dir)
        self.port = port or free_port()
        self.addr = f"http://127.0.0.1:{self.port}"
        self.targets = list(targets)
        self.scrape_interval_s = scrape_interval_s

    @property
    def config_file(self) -> Path:
        return self.state_dir / "prometheus.yml"

    def install(self) -> None:
        prometheus_binary()

    def _write_config(self) -> None:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        interval = f"{max(1, round(self.scrape_interval_s * 1000))}ms"
        # JSON is YAML: no YAML writer needed for a config this small.
        config = {"global": {"scrape_interval": interval, "evaluation_interval": interval},
                  "scrape_configs": [{"job_name": "pixelguard", "metrics_path": "/metrics",
                                      "static_configs": [{"targets": self.targets}]}]}
        self.config_file.write_text(json.dumps(config, indent=2) + "\n")

    def start(self, timeout: float = 60.0) -> None:
        binary = prometheus_binary()
        self._write_config()
        self.spawn_healthy([
            str(binary), f"--config.file={self.config_file}", f"--storage.tsdb.path={self.state_dir / 'data'}",
            f"--web.listen-address=127.0.0.1:{self.port}", "--storage.tsdb.retention.time=1d",
            # The Debian build looks for its console templates under /etc; none are used here.
            f"--web.console.templates={self.state_dir}", f"--web.console.libraries={self.state_dir}",
        ], timeout, f"{self.name} on {self.addr}", cwd=self.state_dir)

    def healthy(self) -> bool:
        try:
            return http_get(f"{self.addr}/-/ready", timeout=2.0)[0] == 200
        except (urllib.error.URLError, OSError):
            return False

    def query(self, expr: str) -> list[dict[str, Any]]:
        """The instant vector of a PromQL expression (``/api/v1/query``): ``[{"metric": {...}, "value": [t, v]}]``."""
        status, body = http_get(f"{self.addr}/api/v1/query?{urllib.parse.urlencode({'query': expr})}")
        answer = json.loads(body)
        if status != 200 or answer.get("status") != "success":
            raise ServiceError(f"prometheus query {expr!r} failed ({status}): {answer.get('error', body[:200])}")
        result: list[dict[str, Any]] = answer["data"]["result"]
        return result

    def targets_up(self) -> list[dict[str, Any]]:
        """The active scrape targets with their health and last error (``/api/v1/targets``)."""
        _status, body = http_get(f"{self.addr}/api/v1/targets")
        active: list[dict[str, Any]] = json.loads(body)["data"]["activeTargets"]
        return active

    def wait_for(self, expr: str, done: Callable[[list[dict[str, Any]]], bool], timeout: float) -> list[dict[str, Any]]:
        """Query ``expr`` until ``done`` accepts the answer; the first scrape lands seconds after start."""
        deadline = time.monotonic() + timeout
        while True:
            result = self.query(expr)
            if done(result):
                return result
            if time.monotonic() > deadline:
                raise ServiceError(f"prometheus: {expr!r} not as expected after {timeout:.0f}s: {result}; "
                                   f"targets: {self.targets_up()}")
            time.sleep(0.5)
