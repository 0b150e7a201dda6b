"""A real ``pixelguard api`` over real HTTP: a 50-file study in, a report of all 50 out, and no PHI anywhere."""
from __future__ import annotations

import csv
import io
import json
import time
from pathlib import Path

from .conftest import LiveApi, wait_done
from .study import fifty_file_corpus, zip_of

FINAL = {"clean", "review", "error"}


def test_a_fifty_file_zip_gives_a_report_of_fifty_final_states_and_no_phi(live_api: LiveApi, tmp_path: Path) -> None:
    corpus = fifty_file_corpus(tmp_path / "study")
    body, names = zip_of(corpus.root)
    assert len(names) == 50
    seen: list[str] = []  # every response body, for the PHI scan
    with live_api.client() as http:
        response = http.post("/v1/jobs", files=[("files", ("QUIXOTE_study.zip", body, "application/zip"))],
                             data={"profile": "basic"})
        seen.append(response.text)
        assert response.status_code == 202, response.text
        accepted = response.json()
        assert accepted["objects"] == 50
        job_id = accepted["job_id"]
        job = wait_done(live_api, job_id, timeout_s=600)
        seen.append(json.dumps(job))
        assert job["state"] == "done" and job["total"] == 50 and job["counts"]["pending"] == 0, job
        assert job["progress"] == 1.0
        report_response = http.get(f"/v1/jobs/{job_id}/report")
        csv_response = http.get(f"/v1/jobs/{job_id}/report", headers={"accept": "text/csv"})
        listing = http.get("/v1/jobs")
        seen += [report_response.text, csv_response.text, listing.text]
    report = report_response.json()
    objects = report["objects"]
    assert len(objects) == 50 and len({o["input_id"] for o in objects}) == 50
    assert all(o["status"] in FINAL and o["finished_at"] for o in objects), objects
    assert report["job"]["profile"]["name"] == "basic" and report["job"]["profile"]["version"]
    assert sum(o["status"] == "error" for o in objects) >= 4  # the truncated, garbage, empty and cut inputs
    for o in objects:
        if o["status"] == "error":
            assert o["reason"] and not o["output"], o
        else:
            assert o["output"] and o["output_id"] and o["format"] and o["duration_s"] is not None, o
    formats = report["formats"]
    assert {"dicom", "png", "jpeg", "nifti"} <= set(formats), formats
    output_folder = Path(report["output_folder"])
    for o in objects:
        if o["output"]:
            assert (output_folder / o["output"]).is_file(), o["output"]
    rows = list(csv.DictReader(io.StringIO(csv_response.text)))
    assert [r["input_id"] for r in rows] == [o["input_id"] for o in objects]
    assert {r["status"] for r in rows} <= FINAL and {r["profile"] for r in rows} == {"basic"}

    # The audit trail has the submit and each report read, by id.
    audit = [json.loads(line) for line in live_api.audit_file.read_text().splitlines()]
    assert any(e["action"] == "submit" and e["job_id"] == job_id and e["detail"]["objects"] == 50 for e in audit)
    reads = [e for e in audit if e["action"] == "report.read" and e["job_id"] == job_id]
    assert {e["detail"]["format"] for e in reads} == {"json", "csv"}

    # No fake patient value, and no uploaded file name, in what the API answered, recorded or logged.
    texts = {"responses": "\n".join(seen), "audit": live_api.audit_file.read_text(), "logs": live_api.logs()}
    for where, text in texts.items():
        assert corpus.leaks(text) == [], where
        leaked_names = [n for n in names if n in text or n.rsplit(".", 1)[0] in text]
        assert leaked_names == [], (where, leaked_names[:3])
        assert "QUIXOTE" not in text and "ZELDA" not in text, where


def test_stopping_the_api_mid_job_loses_no_object(tmp_path: Path) -> None:
    """SIGTERM while a job runs: its child is stopped by pid, and every accepted object ends with a state."""
    from pixelguard.samples import text_dicom
    from tests.streaming.harness import patient

    from .conftest import start_api, stop_api
    from .study import zip_bytes

    api = start_api(tmp_path / "api", PIXELGUARD_API_JOBS="1")
    try:
        with api.client() as http:
            study = zip_bytes({f"s/{i}.dcm": text_dicom(patient(i)) for i in range(12)})
            job_id = http.post("/v1/jobs", files=[("files", ("s.zip", study, "application/zip"))]).json()["job_id"]
            deadline = time.monotonic() + 120
            while http.get(f"/v1/jobs/{job_id}").json()["state"] == "queued":
                assert time.monotonic() < deadline
                time.sleep(0.1)
    finally:
        stop_api(api)
    assert "Application shutdown complete" in api.log.read_text(), api.logs()[-2000:]  # uvicorn re-raises SIGTERM
    children = [p for p in Path("/proc").iterdir() if p.name.isdigit() and job_id.encode() in _cmdline(p)]
    assert children == [], "the job's deid child outlived the API"
    api = start_api(tmp_path / "api", PIXELGUARD_API_JOBS="1")  # same root: same store
    try:
        with api.client() as http:
            job = http.get(f"/v1/jobs/{job_id}").json()
            report = http.get(f"/v1/jobs/{job_id}/report").json()
    finally:
        stop_api(api)
    assert job["state"] in ("failed", "done") and job["total"] == 12 and job["counts"]["pending"] == 0, job
    assert all(o["status"] in FINAL for o in report["objects"])
    if job["state"] == "failed":  # deid closed it on SIGTERM: the undecided objects are errors that say so
        assert "stopped before every input was decided" in job["reason"], job
        assert any(o["reason"].startswith("job-failed:") for o in report["objects"])


def _cmdline(proc: Path) -> bytes:
    try:
        return (proc / "cmdline").read_bytes()
    except OSError:
        return b""
