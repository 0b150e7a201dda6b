"""The API under test: a real ``pixelguard api`` on a free 127.0.0.1 port (stopped by pid), or an in-process
application for TestClient checks. Each gets its own key file, job store, data folder and audit trail."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from pixelguard.services.base import free_port

PIXELGUARD = str(Path(sys.executable).with_name("pixelguard"))


def api_env(root: Path, **extra: str) -> dict[str, str]:
    return {"PIXELGUARD_KEY_FILE": str(root / "keys" / "key.json"), "PIXELGUARD_API_DATA": str(root / "data"),
            "PIXELGUARD_OCR_THREADS": "1", **extra}


@dataclass
class LiveApi:
    url: str
    root: Path
    log: Path
    proc: subprocess.Popen[bytes]

    @property
    def audit_file(self) -> Path:
        return self.root / "keys" / "audit.jsonl"

    def logs(self) -> str:
        """Everything the server and its job runs wrote: what a PHI scan of the logs reads."""
        texts = [self.log.read_text(errors="replace")]
        texts += [p.read_text(errors="replace") for p in sorted((self.root / "data" / "logs").glob("*.log"))]
        return "\n".join(texts)

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=60)


def start_api(root: Path, auth: Sequence[str] = ("--no-auth",), **extra: str) -> LiveApi:
    root.mkdir(parents=True, exist_ok=True)
    port = free_port()
    log = root / "api.log"
    env = {**os.environ, **api_env(root, **extra)}
    with open(log, "ab") as out:
        proc = subprocess.Popen([PIXELGUARD, "api", *auth, "--port", str(port)], env=env, stdout=out,
                                stderr=subprocess.STDOUT, start_new_session=True)
    api = LiveApi(f"http://127.0.0.1:{port}", root, log, proc)
    deadline = time.monotonic() + 60
    while True:
        try:
            # 401: up, behind single sign-on.
            if httpx.get(api.url + "/v1/profiles", timeout=2).status_code in (200, 401):
                return api
        except httpx.HTTPError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            stop_api(api)
            raise AssertionError("the API did not start: " + log.read_text(errors="replace")[-3000:])
        time.sleep(0.3)


def wait_done(api: LiveApi, job_id: str, timeout_s: float, alive: Callable[[], str] | None = None) -> dict:
    """The job once done or failed; ``alive``: what to fail with when a process it needs has died ("": alive)."""
    deadline = time.monotonic() + timeout_s
    with api.client() as http:
        while True:
            job = http.get(f"/v1/jobs/{job_id}").json()
            if job["state"] in ("done", "failed"):
                return job
            dead = alive() if alive is not None else ""
            assert not dead, dead
            assert time.monotonic() < deadline, f"job not done in {timeout_s}s: {job}\n{api.logs()[-3000:]}"
            time.sleep(1)


def stop_api(api: LiveApi) -> None:
    if api.proc.poll() is None:
        os.kill(api.proc.pid, signal.SIGTERM)
        try:
            api.proc.wait(30)
        except subprocess.TimeoutExpired:
            os.kill(api.proc.pid, signal.SIGKILL)
            api.proc.wait(10)


@pytest.fixture(scope="module")
def live_api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveApi]:
    api = start_api(tmp_path_factory.mktemp("api"), PIXELGUARD_API_JOBS="2")
    yield api
    stop_api(api)


@pytest.fixture
def api_client(tmp_path: Path) -> Iterator[object]:
    """An in-process application with small limits whose jobs stay queued (no runner): upload checks only."""
    from fastapi.testclient import TestClient

    from pixelguard.api.app import create_app
    from pixelguard.api.context import ApiContext
    from pixelguard.settings import Settings

    settings = Settings.from_env(api_env(tmp_path, PIXELGUARD_API_MAX_UPLOAD_BYTES=str(8 << 20),
                                         PIXELGUARD_API_MAX_OBJECTS="20",
                                         PIXELGUARD_API_MAX_INFLATED_BYTES=str(64 << 20),
                                         PIXELGUARD_API_MAX_RATIO="50"))
    app = create_app(ApiContext.build(settings), run_jobs=False)
    with TestClient(app) as client:
        client.root = tmp_path  # type: ignore[attr-defined]
        yield client
