"""The worker's health port (``/live``, ``/ready``) binds where ``PIXELGUARD_WEB_HOST`` says.

A kubelet probes a pod's IP, never its loopback, so a pod sets 0.0.0.0; everywhere else it stays on
127.0.0.1 (Faust's web server serves its own pages beside ours).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from agents import app as app_module
from pixelguard.settings import Settings


def _built(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, env: dict[str, str]) -> Any:
    monkeypatch.setattr(app_module, "ensure_topics", lambda *args, **kwargs: {})  # no Kafka needed to build
    cfg = Settings.from_env({"PIXELGUARD_DATA_DIR": str(tmp_path), **env})
    app, _hop = app_module.build_app(cfg, ctx=object())  # type: ignore[arg-type]  # never called while building
    return app


def test_the_health_port_stays_on_loopback_by_default(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    app = _built(monkeypatch, tmp_path, {})
    assert (app.conf.web_bind, app.conf.web_port) == ("127.0.0.1", 6066)


def test_a_pod_binds_the_health_port_to_every_address(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    app = _built(monkeypatch, tmp_path, {"PIXELGUARD_WEB_HOST": "0.0.0.0", "PIXELGUARD_WEB_PORT": "8080"})
    assert (app.conf.web_bind, app.conf.web_port) == ("0.0.0.0", 8080)
