"""Fault: the S3 server stops mid-run and comes back (same port, same data). Reads and writes in that window
are "storage unavailable" (retried with backoff, then an error naming what to do), never "not found" or an
internal error; nothing is lost or decided twice, and the clean objects in the bucket match the clean events.
"""
from __future__ import annotations

import time
from pathlib import Path

import pytest

from .run import FaultRun

MIN_DOWN_S, MAX_DOWN_S = 4.0, 45.0


def test_s3_server_stopped_mid_run(kafka, s3proxy_factory, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    server = s3proxy_factory()
    server.create_bucket("pg-fault")
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    for key, value in server.env().items():
        monkeypatch.setenv(key, value)  # this process (submit, account) and the workers it starts
    run = FaultRun("S3 server stopped until a worker met it (4-45 s), started again", tmp_path, kafka.bootstrap,
                   "s3://pg-fault", env_extra={"PIXELGUARD_BACKOFF_S": "0.5"})
    try:
        run.start()
        run.submit()

        def fault() -> None:
            server.stop()
            down_at = time.monotonic()
            while time.monotonic() - down_at < MAX_DOWN_S and (
                    time.monotonic() - down_at < MIN_DOWN_S or not run.retries()["storage-unavailable"]):
                time.sleep(0.5)
            server.start()

        fired_at = run.wait(fault)
    finally:
        run.stop()
    run.outage_handled("storage-unavailable", fired_at, *run.account(), "S3 store", "resubmit")
