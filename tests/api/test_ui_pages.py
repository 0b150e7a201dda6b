"""The UI's pages render and escape, its forms refuse bad input with a page that says why, and the
role checks hold (in-process application: no runner; the browser test covers a real run)."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from pixelguard.api.auth import Caller, no_auth
from pixelguard.samples import FakePatient, text_dicom

from .study import zip_bytes

PATIENT = FakePatient("UIPAGES^HILDEGARD", "MRN5550077", "19610203")


def _submit(client: TestClient, name: str, data: bytes, **fields: str):
    return client.post("/ui/submit", files=[("files", (name, data, "application/octet-stream"))], data=fields,
                       follow_redirects=False)


def test_every_page_renders_and_a_submitted_study_gets_its_report(api_client: TestClient) -> None:
    accepted = _submit(api_client, "UIPAGES_HILDEGARD.dcm", text_dicom(PATIENT), profile="basic")
    assert accepted.status_code == 303, accepted.text
    job_url = accepted.headers["location"]
    job_id = job_url.rsplit("/", 1)[-1]
    assert job_url == f"/ui/jobs/{job_id}"
    store = api_client.app.state.context.store  # type: ignore[attr-defined]
    input_id = api_client.get(f"/v1/jobs/{job_id}/report").json()["objects"][0]["input_id"]
    store.record_object(job_id, {"input_id": input_id, "status": "review", "format": "dicom", "confidence": 0.41,
                                 "reason": "redact: text detection confidence 0.41 is below the threshold",
                                 "output": "review/x.dcm", "duration_s": 1.5})
    pages = {"/ui/jobs": "Jobs", "/ui/jobs/table": job_id, "/ui/submit": "Submit a study", job_url: "Completion",
             f"/ui/jobs/{job_id}/progress": "queued", "/ui/profiles": "hipaa-safe-harbor",
             "/ui/profiles/research": "Retain Safe Private Option", "/ui/review": input_id,
             f"/ui/review/{job_id}/{input_id}": "confidence 0.41"}
    for url, expected in pages.items():
        response = api_client.get(url)
        assert response.status_code == 200, (url, response.text[-500:])
        assert expected in response.text, url
        assert "UIPAGES" not in response.text and "HILDEGARD" not in response.text, url
    report = api_client.get(job_url).text
    assert "<svg" in report and "Held for review (1)" in report
    assert '<script src="/ui/static/htmx.min.js"></script>' in api_client.get("/ui/jobs").text
    htmx = api_client.get("/ui/static/htmx.min.js")
    assert htmx.status_code == 200 and "2.0.11" in htmx.text


def test_bad_uploads_on_the_submit_page_answer_a_page_that_says_why_and_keep_nothing(api_client: TestClient) -> None:
    root: Path = api_client.root  # type: ignore[attr-defined]
    dicom = text_dicom(PATIENT)
    good = zip_bytes({"a/1.dcm": dicom, "a/2.dcm": dicom})
    cases = [
        ("empty", ("e.zip", zip_bytes({})), 400, "no-files"),
        ("oversized", ("big.dcm", bytes(9 << 20)), 413, "too-large"),
        ("zip bomb", ("bomb.zip", zip_bytes({"zeros.dcm": bytes(40 << 20)})), 413, "archive-bomb"),
        ("corrupt", ("c.zip", b"PK\x03\x04" + bytes(range(256)) * 4), 422, "corrupt-archive"),
        ("truncated", ("t.zip", good[: len(good) // 2]), 422, "corrupt-archive"),
    ]
    for what, (name, data), status, error in cases:
        response = _submit(api_client, name, data)
        assert response.status_code == status, (what, response.text[-300:])
        assert response.headers["content-type"].startswith("text/html"), what
        assert f"<strong>{error}</strong>" in response.text, what
    wrong_format = api_client.post("/ui/submit", content=b"{}", headers={"content-type": "application/json"})
    assert wrong_format.status_code == 415 and "unsupported" in wrong_format.text
    unknown_profile = _submit(api_client, "a.dcm", dicom, profile="<script>alert(1)</script>")
    assert unknown_profile.status_code == 422 and "<script>alert" not in unknown_profile.text
    assert not any((root / "data" / "uploads").iterdir())
    assert api_client.get("/v1/jobs").json()["jobs"] == []


def test_the_profile_editor_saves_versions_escapes_and_refuses_bad_definitions(api_client: TestClient) -> None:
    form = {"name": "editor-one", "extends": "basic", "description": "<b>mine</b>", "options": ["rtnUIDsOpt"],
            "overrides": "PatientSex: K\n"}
    first = api_client.post("/ui/profiles", data=form, follow_redirects=False)
    second = api_client.post("/ui/profiles", data={**form, "options": ["rtnUIDsOpt", "rtnDevIdOpt"]},
                             follow_redirects=False)
    assert first.status_code == second.status_code == 303
    page = api_client.get("/ui/profiles/editor-one").text
    assert "version 2" in page and "&lt;b&gt;mine&lt;/b&gt;" in page and "<b>mine</b>" not in page
    assert "Retain Device Identity Option" in page and "override PatientSex" in page
    refused = {"bad override line": {**form, "overrides": "no colon here"},
               "bad action": {**form, "overrides": "PatientSex: KEEP"},
               "stored name": {**form, "name": "basic"}, "bad name": {**form, "name": "Bad Name"}}
    for what, body in refused.items():
        response = api_client.post("/ui/profiles", data=body, follow_redirects=False)
        assert response.status_code in (409, 422), (what, response.status_code)
        assert "That did not work" in response.text, what
    versions = api_client.get("/v1/profiles/editor-one/versions").json()
    assert [v["version"] for v in versions] == [1, 2]


@pytest.mark.parametrize("roles, allowed", [
    (frozenset({"submitter"}), {"/v1/jobs": 200, "others' job": 404, "/v1/review": 403, "profile": 403}),
    (frozenset({"reviewer"}), {"/v1/jobs": 200, "others' job": 200, "/v1/review": 200, "profile": 403}),
    (frozenset({"profile-admin"}), {"/v1/jobs": 403, "others' job": 403, "/v1/review": 403, "profile": 201}),
])
def test_roles_decide_who_may_review_and_edit_profiles(api_client: TestClient, roles: frozenset[str],
                                                       allowed: dict[str, int]) -> None:
    others = _submit(api_client, "a.dcm", text_dicom(PATIENT)).headers["location"].rsplit("/", 1)[-1]
    api_client.app.state.authenticate = lambda _r: Caller("user:test", roles)  # type: ignore[attr-defined]
    try:
        body = {"name": "role-check", "extends": "basic"}
        listing = api_client.get("/v1/jobs")
        seen = [j["job_id"] for j in listing.json()["jobs"]] if listing.status_code == 200 else None
        got = {"/v1/jobs": listing.status_code, "others' job": api_client.get(f"/v1/jobs/{others}").status_code,
               "/v1/review": api_client.get("/v1/review").status_code,
               "profile": api_client.post("/v1/profiles", json=body).status_code}
        original = api_client.get("/v1/review/job-x/abc/original.png")
    finally:
        api_client.app.state.authenticate = no_auth  # type: ignore[attr-defined]
    assert got == allowed
    assert seen == (None if "profile-admin" in roles else [] if roles == {"submitter"} else [others])
    assert original.status_code == (404 if "reviewer" in roles else 403)
    assert json.loads(original.text)["reason"]
