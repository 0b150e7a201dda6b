"""A live API with a job whose objects are held for review: a custom profile whose review threshold (1.0)
no OCR score reaches, over DICOMs with a fake patient burned into their pixels."""
from __future__ import annotations

import time
from dataclasses import dataclass

import httpx

from pixelguard.samples import FakePatient, text_dicom, text_png

from .conftest import LiveApi
from .study import zip_bytes

PATIENTS = [FakePatient("REVIEWME^OSWALDINE", "MRN6610001", "19480517"),
            FakePatient("REVIEWME^PERPETUA", "MRN6610002", "19570623")]
STRICT = {"name": "strict-review", "description": "Basic, every text region held for a reviewer",
          "extends": "basic", "options": ["rtnLongModifDatesOpt"], "overrides": {"PatientSex": "K"},
          "review_threshold": 1.0}


def phi_values() -> list[str]:
    return [v for p in PATIENTS for v in (p.name, *p.name.split("^"), p.patient_id, p.birth_date)]


def study_zip() -> bytes:
    """Two DICOMs and a PNG with burned-in fake PHI, named after the patient (names never kept)."""
    return zip_bytes({"REVIEWME_OSWALDINE/1.dcm": text_dicom(PATIENTS[0]),
                      "REVIEWME_PERPETUA/2.dcm": text_dicom(PATIENTS[1]),
                      "REVIEWME_OSWALDINE/3.png": text_png(PATIENTS[0], size=(256, 128))})


def wait_done(http: httpx.Client, job_id: str, timeout_s: float = 600) -> dict:
    deadline = time.monotonic() + timeout_s
    while True:
        job = http.get(f"/v1/jobs/{job_id}").json()
        if job["state"] in ("done", "failed"):
            return job
        assert time.monotonic() < deadline, job
        time.sleep(1)


@dataclass
class HeldJob:
    api: LiveApi
    job_id: str
    held: list[str]  # input ids held for review


def submit_held_job(api: LiveApi) -> HeldJob:
    with api.client() as http:
        created = http.post("/v1/profiles", json=STRICT)
        assert created.status_code in (201, 409), created.text
        response = http.post("/v1/jobs", files=[("files", ("REVIEWME_study.zip", study_zip(), "application/zip"))],
                             data={"profile": STRICT["name"]})
        assert response.status_code == 202, response.text
        job_id = response.json()["job_id"]
        job = wait_done(http, job_id)
        assert job["state"] == "done", job
        report = http.get(f"/v1/jobs/{job_id}/report").json()
    held = [o["input_id"] for o in report["objects"] if o["status"] == "review"]
    return HeldJob(api, job_id, held)
