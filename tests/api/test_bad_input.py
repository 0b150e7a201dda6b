"""Bad input on every route gets a clear 4xx with a reason, and nothing already accepted is lost."""
from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from pixelguard.samples import FakePatient, text_dicom, text_nifti, text_png

from .study import tar_of, zip_bytes

PATIENT = FakePatient("BADINPUT^WILHELMINA", "MRN5550001", "19520304")


def _files(*items: tuple[str, bytes]) -> list[tuple[str, tuple[str, bytes, str]]]:
    return [("files", (name, data, "application/octet-stream")) for name, data in items]


def _refused(response, status: int, error: str | None = None) -> dict:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error", "reason"} and body["reason"], body
    if error:
        assert body["error"] == error, body
    return body


def _accepted_job(client: TestClient) -> str:
    response = client.post("/v1/jobs", files=_files(("WILHELMINA.dcm", text_dicom(PATIENT)),
                                                    ("x.png", text_png(PATIENT, size=(64, 48)))),
                           data={"profile": "basic"})
    assert response.status_code == 202, response.text
    return response.json()["job_id"]


def test_every_refused_upload_has_a_reason_and_leaves_no_job_behind(api_client: TestClient) -> None:
    root: Path = api_client.root  # type: ignore[attr-defined]
    accepted = _accepted_job(api_client)
    dicom = text_dicom(PATIENT)
    good_zip = zip_bytes({"a/1.dcm": dicom, "a/2.dcm": dicom})
    bomb = zip_bytes({"zeros.dcm": bytes(40 << 20)})  # 40 MiB of zeros pack to ~40 KiB: ratio ~1000
    def one(name: str, data: bytes, **fields: str) -> dict:
        return {"files": _files((name, data)), "data": fields}

    multipart = "multipart/form-data; boundary=xyz"
    cases = [
        ("json, not multipart", {"content": b"{}", "headers": {"content-type": "application/json"}}, 415,
         "unsupported"),
        ("empty body", {"content": b"", "headers": {"content-type": multipart}}, 400, "bad-request"),
        ("no boundary", {"content": b"--", "headers": {"content-type": "multipart/form-data"}}, 400, "bad-request"),
        ("fields but no file", {"files": {"profile": (None, b"basic")}}, 400, "no-files"),
        ("oversized", one("big.dcm", bytes(9 << 20)), 413, "too-large"),
        ("zip bomb", one("study.zip", bomb), 413, "archive-bomb"),
        ("tar.gz bomb", one("study.tgz", tar_of({"zeros.dcm": bytes(40 << 20)})), 413, "archive-bomb"),
        ("path traversal", one("study.zip", zip_bytes({"../../etc/evil.dcm": dicom})), 422, "unsafe-member"),
        ("absolute member", one("study.zip", zip_bytes({"/abs.dcm": dicom})), 422, "unsafe-member"),
        ("symlink in tar", one("study.tgz", tar_of({"a.dcm": dicom}, {"b.dcm": "/etc/passwd"})), 422,
         "unsafe-member"),
        ("corrupt zip", one("study.zip", b"PK\x03\x04" + bytes(range(256)) * 4), 422, "corrupt-archive"),
        ("truncated zip", one("study.zip", good_zip[: len(good_zip) // 2]), 422, "corrupt-archive"),
        ("truncated tar", one("study.tgz", tar_of({"a.dcm": dicom, "b.dcm": dicom})[:900]), 422, "corrupt-archive"),
        ("empty zip", one("study.zip", zip_bytes({})), 400, "no-files"),
        ("too many objects", {"files": _files(*[(f"{i}.dcm", b"x") for i in range(21)])}, 413, "too-many-objects"),
        ("unknown profile", one("a.dcm", dicom, profile="/etc/passwd"), 422, "invalid"),
        ("bad redaction", one("a.dcm", dicom, redaction="some"), 422, "invalid"),
        ("unknown field", one("a.dcm", dicom, patient="x"), 422, "invalid"),
    ]
    for what, kwargs, status, error in cases:
        body = _refused(api_client.post("/v1/jobs", **kwargs), status, error)
        assert "WILHELMINA" not in json.dumps(body), what
    truncated_body = (b"--xyz\r\nContent-Disposition: form-data; name=\"files\"; filename=\"a.dcm\"\r\n\r\n"
                      + dicom[:500])
    _refused(api_client.post("/v1/jobs", content=truncated_body,
                             headers={"content-type": "multipart/form-data; boundary=xyz"}), 400, "bad-request")

    # Nothing refused became a job or stayed on disk; the accepted job is whole.
    jobs = api_client.get("/v1/jobs").json()["jobs"]
    assert [j["job_id"] for j in jobs] == [accepted]
    assert sorted(p.name for p in (root / "data" / "uploads").iterdir()) == [accepted]
    report = api_client.get(f"/v1/jobs/{accepted}/report").json()
    assert [o["seq"] for o in report["objects"]] == [1, 2] and {o["status"] for o in report["objects"]} == {"pending"}
    audit = [json.loads(line) for line in (root / "keys" / "audit.jsonl").read_text().splitlines()]
    denied = [e for e in audit if e["action"] == "submit" and e["outcome"] == "denied"]
    assert len(denied) == len(cases) + 1 and all(e["detail"]["error"] for e in denied)


def test_an_archive_unpacks_into_objects_with_opaque_names(api_client: TestClient) -> None:
    root: Path = api_client.root  # type: ignore[attr-defined]
    dicom = text_dicom(PATIENT)
    response = api_client.post("/v1/jobs", files=_files(
        ("WILHELMINA_study.zip", zip_bytes({"WILHELMINA/1.dcm": dicom, "WILHELMINA/2.dcm": dicom, "dir/": b""})),
        ("BADINPUT.tgz", tar_of({"BADINPUT/3.dcm": dicom})), ("plain.dcm", dicom), ("empty.dcm", b""),
        ("brain.nii.gz", text_nifti(PATIENT))))  # a gzip that holds no tar is an object, not an archive
    assert response.status_code == 202, response.text
    job = response.json()
    assert job["objects"] == 6
    folder = root / "data" / "uploads" / job["job_id"]
    assert sorted(p.name for p in folder.iterdir()) == [f"obj-{i:06d}" for i in range(1, 7)]
    assert (folder / "obj-000005").read_bytes() == b""  # an empty file is accepted: its report row says why
    assert (folder / "obj-000006").read_bytes() == text_nifti(PATIENT)


@pytest.mark.parametrize("path, status", [
    ("/v1/jobs/job-nothere", 404), ("/v1/jobs/job-nothere/report", 404), ("/v1/jobs/bad%20id", 422),
    ("/v1/jobs/..%2F..%2Fetc", 404), ("/v1/jobs?limit=0", 422), ("/v1/jobs?limit=abc", 422),
    ("/v1/jobs?state=lost", 422), ("/v1/profiles/nothere", 404), ("/v1/profiles/..%2Fbasic", 404),
    ("/v1/profiles/Basic%20Profile", 422), ("/v2/anything", 404),
])
def test_bad_reads_answer_4xx_with_the_error_body(api_client: TestClient, path: str, status: int) -> None:
    _refused(api_client.get(path), status)


def test_report_negotiates_json_or_csv_and_refuses_other_types(api_client: TestClient) -> None:
    job_id = _accepted_job(api_client)
    report = f"/v1/jobs/{job_id}/report"
    assert api_client.get(report).headers["content-type"].startswith("application/json")
    csv_text = api_client.get(report, headers={"accept": "text/csv"}).text
    assert csv_text.splitlines()[0].startswith("job_id,profile,profile_version,seq,input_id,status")
    assert len(csv_text.splitlines()) == 3
    assert api_client.get(report + "?format=csv", headers={"accept": "application/json"}).text == csv_text
    _refused(api_client.get(report, headers={"accept": "image/png"}), 406, "not-acceptable")
    _refused(api_client.get(report + "?format=xml"), 422)
    _refused(api_client.delete(report), 405)


def test_every_operation_declares_its_4xx_answers_with_the_error_body(api_client: TestClient) -> None:
    spec = api_client.get("/openapi.json").json()
    # The API's routes; the kubelet's probes (/healthz, /readyz) take no input and answer no 4xx.
    operations = [(path, method, op) for path, ops in spec["paths"].items() for method, op in ops.items()
                  if path.startswith("/v1/")]
    assert len(operations) >= 6
    assert set(spec["paths"]) - {path for path, _, _ in operations} == {"/healthz", "/readyz"}
    for path, method, op in operations:
        client_errors = {code: r for code, r in op["responses"].items() if code.startswith("4")}
        assert {"400", "422"} <= set(client_errors), (method, path)
        if "{" in path:
            assert "404" in client_errors, (method, path)
        for code, answer in client_errors.items():
            schema = answer["content"]["application/json"]["schema"]
            assert schema == {"$ref": "#/components/schemas/ErrorBody"}, (method, path, code)
    assert set(spec["components"]["schemas"]["ErrorBody"]["required"]) == {"error", "reason"}
    assert "415" in spec["paths"]["/v1/jobs"]["post"]["responses"]
    assert "413" in spec["paths"]["/v1/jobs"]["post"]["responses"]


def test_stored_profiles_come_with_their_field_table(api_client: TestClient) -> None:
    names = [p["name"] for p in api_client.get("/v1/profiles").json()["profiles"]]
    assert {"basic", "research", "hipaa-safe-harbor", "retain-uids"} <= set(names)
    hipaa = api_client.get("/v1/profiles/hipaa-safe-harbor").json()
    assert hipaa["extends"] == ["basic"] and hipaa["settings"]["max_age_years"] == 89
    rows = {row["attribute"]: row for row in hipaa["fields"]}
    assert rows["Patient's Name"]["action"] in ("Z", "D") and rows["Patient's Name"]["why"].startswith("basic")
    assert rows["Patient's Sex"]["action"] == "K" and "Patient Characteristics" in rows["Patient's Sex"]["why"]
    assert len(hipaa["fields"]) == hipaa["settings"]["table_rows"]


def test_a_symlink_member_of_a_zip_is_refused(api_client: TestClient) -> None:
    import io
    import stat

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("a.dcm", text_dicom(PATIENT))
        link = zipfile.ZipInfo("b.dcm")
        link.external_attr = (stat.S_IFLNK | 0o777) << 16
        archive.writestr(link, "/etc/passwd")
    _refused(api_client.post("/v1/jobs", files=_files(("study.zip", buffer.getvalue()))), 422, "unsafe-member")
