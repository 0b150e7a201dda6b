"""The API's probes (deploy/k8s): /healthz while the process answers, /readyz only while the job store does.

A real ``pixelguard api`` on a real PostgreSQL; the outage is real too: its database is dropped with its
connections cut, as a failed-over or unreachable server looks to the pool.
"""
from __future__ import annotations

from pathlib import Path

import httpx

from pixelguard.services.postgres import PostgresService

from ..fixtures.postgres import drop_database, new_database
from .conftest import api_env, start_api, stop_api


def test_readyz_follows_the_job_store_and_healthz_the_process(tmp_path: Path, postgres: PostgresService) -> None:
    name, url = new_database(postgres)
    api = start_api(tmp_path, PIXELGUARD_DATABASE_URL=url)
    try:
        # No credentials: a kubelet sends none, and the probes must not need them.
        assert httpx.get(api.url + "/healthz").json() == {"status": "ok", "reason": ""}
        ready = httpx.get(api.url + "/readyz")
        assert (ready.status_code, ready.json()["status"]) == (200, "ok")

        drop_database(postgres, name)
        down = httpx.get(api.url + "/readyz", timeout=30)
        assert down.status_code == 503 and down.json()["status"] == "unavailable"
        assert "PIXELGUARD_DATABASE_URL" in down.json()["reason"]
        # Nothing of the URL (user, host, port, database) goes to an unauthenticated caller.
        assert name not in down.text and str(postgres.port) not in down.text
        assert httpx.get(api.url + "/healthz").status_code == 200  # up, so not restarted: only taken out
    finally:
        stop_api(api)
        drop_database(postgres, name)


def test_the_probes_need_no_sign_in_where_everything_else_does(tmp_path: Path) -> None:
    from fastapi import Request
    from fastapi.testclient import TestClient

    from pixelguard.api.app import create_app
    from pixelguard.api.auth import Caller
    from pixelguard.api.context import ApiContext
    from pixelguard.api.errors import ApiError
    from pixelguard.settings import Settings

    def nobody(_request: Request) -> Caller:
        raise ApiError(401, "unauthenticated", "sign in")

    app = create_app(ApiContext.build(Settings.from_env(api_env(tmp_path))), authenticate=nobody, run_jobs=False)
    with TestClient(app) as client:
        assert client.get("/v1/profiles").status_code == 401
        assert client.get("/healthz").status_code == 200 and client.get("/readyz").status_code == 200
