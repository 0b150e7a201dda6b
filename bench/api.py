"""p95 latency of ``GET /v1/jobs/{id}`` and of its report (JSON and CSV) with 10,000 objects in the job store.

The objects are inserted through the store layer (``JobStore.bulk_objects``), then a real ``pixelguard api``
(uvicorn, 127.0.0.1, a free port, stopped by pid) is timed over real HTTP, one request at a time, from this
process. Run from the repository root: ``.venv/bin/python bench/api.py [--objects 10000 --requests 200]``.
"""
from __future__ import annotations

import argparse
import random
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import httpx

from pixelguard.jobstore import JobStore
from pixelguard.settings import Settings
from tests.api.conftest import api_env, start_api, stop_api


def fill(store: JobStore, job_id: str, objects: int) -> None:
    rng = random.Random(0)
    store.create_job(job_id, "basic", "bench", source="api", state="running")
    statuses = ["clean"] * 90 + ["review"] * 7 + ["error"] * 3
    formats = ["dicom"] * 8 + ["png", "jpeg"]
    rows = []
    for i in range(objects):
        status = rng.choice(statuses)
        rows.append({"input_id": f"in-{i:020x}", "status": status, "format": rng.choice(formats),
                     "reason": "" if status == "clean" else "redact: text left after 2 passes",
                     "confidence": round(rng.random(), 3), "duration_s": round(rng.uniform(0.05, 2.0), 4),
                     "output": "" if status == "error" else f"{'review/' if status == 'review' else ''}"
                                                             f"2.25.{rng.getrandbits(96)}.dcm"})
    store.bulk_objects(job_id, rows)
    store.finish_job(job_id)


def timed(http: httpx.Client, path: str, n: int, headers: dict[str, str] | None = None) -> list[float]:
    for _ in range(3):  # warm: first-request imports and SQLite's page cache
        http.get(path, headers=headers).raise_for_status()
    seconds = []
    for _ in range(n):
        started = time.perf_counter()
        response = http.get(path, headers=headers)
        seconds.append(time.perf_counter() - started)
        response.raise_for_status()
    return seconds


def p(values: list[float], q: int) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1] * 1000


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--objects", type=int, default=10_000)
    parser.add_argument("--requests", type=int, default=200, help="timed requests of the job view")
    parser.add_argument("--report-requests", type=int, default=50, help="timed requests of each report format")
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="pixelguard-bench-api-"))
    try:
        settings = Settings.from_env(api_env(root))
        store = JobStore.open(settings.store_url)
        started = time.perf_counter()
        fill(store, "job-bench", args.objects)
        store.close()
        print(f"store: {args.objects} objects inserted in {time.perf_counter() - started:.1f}s ({settings.store_url})")
        api = start_api(root)
        try:
            with httpx.Client(base_url=api.url, timeout=60) as http:
                report_bytes = len(http.get("/v1/jobs/job-bench/report").content)
                results = {
                    "GET /v1/jobs/{id}": timed(http, "/v1/jobs/job-bench", args.requests),
                    "GET /v1/jobs/{id}/report (JSON)": timed(http, "/v1/jobs/job-bench/report", args.report_requests),
                    "GET /v1/jobs/{id}/report (CSV)": timed(http, "/v1/jobs/job-bench/report",
                                                            args.report_requests, {"accept": "text/csv"}),
                }
        finally:
            stop_api(api)
        print(f"report: {report_bytes} bytes of JSON for {args.objects} objects")
        print(f"{'request':36} {'n':>4} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8}")
        for name, seconds in results.items():
            print(f"{name:36} {len(seconds):>4} {p(seconds, 50):>8.1f} {p(seconds, 95):>8.1f} "
                  f"{max(seconds) * 1000:>8.1f}")
    finally:
        shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
