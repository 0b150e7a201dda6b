"""The review queue, previews, redo and decisions, downloads and custom profiles on a real ``pixelguard api``,
with every access in the audit trail and no fake patient value anywhere it wrote or answered."""
from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path

import pydicom
import pytest
from PIL import Image

from .conftest import LiveApi, start_api, stop_api
from .held import STRICT, HeldJob, phi_values, submit_held_job


@pytest.fixture(scope="module")
def held_job(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HeldJob]:
    api = start_api(tmp_path_factory.mktemp("review"), PIXELGUARD_API_JOBS="1")
    try:
        yield submit_held_job(api)
    finally:
        stop_api(api)


def _png(response) -> Image.Image:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "image/png"
    return Image.open(io.BytesIO(response.content))


def _audit(api: LiveApi) -> list[dict]:
    return [json.loads(line) for line in api.audit_file.read_text().splitlines()]


def test_the_queue_says_why_each_item_is_held_with_its_regions_and_scores(held_job: HeldJob) -> None:
    assert len(held_job.held) == 3, held_job.held
    with held_job.api.client() as http:
        queue = http.get("/v1/review").json()
        job = http.get(f"/v1/jobs/{held_job.job_id}").json()
    items = [i for i in queue["items"] if i["job_id"] == held_job.job_id]
    assert sorted(i["input_id"] for i in items) == sorted(held_job.held)
    for item in items:
        assert "below the profile's review threshold 1.00" in item["reason"], item
        filled = [r for r in item["regions"] if r["kind"] == "filled"]
        assert filled and all(0 < r["score"] < 1 and len(r["box"]) == 4 for r in filled), item
        assert item["confidence"] == min(r["score"] for r in filled)
    # The job recorded the custom profile's version it ran with.
    assert job["profile"]["name"] == STRICT["name"] and len(job["profile"]["version"]) == 16


def test_previews_show_original_and_redacted_side_by_side_and_every_view_is_audited(held_job: HeldJob) -> None:
    job_id, input_id = held_job.job_id, held_job.held[0]
    base = f"/v1/review/{job_id}/{input_id}"
    with held_job.api.client() as http:
        original = _png(http.get(base + "/original.png"))
        redacted = _png(http.get(base + "/redacted.png"))
        again = _png(http.get(base + "/redacted.png?frame=0"))
        beyond = http.get(base + "/redacted.png?frame=7")
        missing = http.get(f"/v1/review/{job_id}/nothere/original.png")
    assert original.size == redacted.size == again.size
    assert original.tobytes() != redacted.tobytes()  # the text is gone from the redacted one
    assert beyond.status_code == 422 and "frame must be between 0 and 0" in beyond.json()["reason"]
    assert missing.status_code == 404
    views = [e for e in _audit(held_job.api) if e["action"] == "output.read" and e["job_id"] == job_id
             and e["targets"].get("input_id") == input_id]
    assert sorted(e["detail"]["view"] for e in views) == ["original", "redacted", "redacted"]


def test_a_box_is_added_then_redone_and_the_item_approved_and_downloadable(held_job: HeldJob) -> None:
    job_id, input_id = held_job.job_id, held_job.held[1]
    base = f"/v1/review/{job_id}/{input_id}"
    with held_job.api.client() as http:
        before = _png(http.get(base + "/redacted.png"))
        bad_boxes = http.post(base + "/redo", json={"boxes": [{"frame": 0, "x0": 50, "y0": 50, "x1": 40, "y1": 60}]})
        no_boxes = http.post(base + "/redo", json={"boxes": []})
        redo = http.post(base + "/redo", json={"boxes": [{"frame": 0, "x0": 60, "y0": 60, "x1": 100, "y1": 90}]})
        assert redo.status_code == 200, redo.text
        after = _png(http.get(base + "/redacted.png"))
        item = http.get(base).json()
        premature = http.get(f"/v1/jobs/{job_id}/outputs/{input_id}")
        no_reason = http.post(base + "/decision", json={"decision": "reject"})
        phi_reason = http.post(base + "/decision", json={"decision": "reject", "reason": "MRN6610002 visible"})
        approve = http.post(base + "/decision", json={"decision": "approve"})
        twice = http.post(base + "/decision", json={"decision": "approve"})
        dicom = http.get(f"/v1/jobs/{job_id}/outputs/{input_id}")
        png = http.get(f"/v1/jobs/{job_id}/outputs/{input_id}?as=png")
        jpeg = http.get(f"/v1/jobs/{job_id}/outputs/{input_id}?as=jpeg")
        report = http.get(f"/v1/jobs/{job_id}/report").json()
    assert bad_boxes.status_code == 422 and no_boxes.status_code == 422
    manual = [r for r in redo.json()["regions"] if r["kind"] == "manual"]
    assert manual == [{"frame": 0, "box": [60, 60, 100, 90], "score": 1.0, "kind": "manual"}]
    assert before.tobytes() != after.tobytes()
    assert [a["kind"] for a in item["acts"]] == ["redo"] and item["regions"] == redo.json()["regions"]
    assert premature.status_code == 409 and "approve" in premature.json()["reason"]
    assert no_reason.status_code == 422 and phi_reason.status_code == 422
    assert approve.status_code == 200 and approve.json()["status"] == "clean"
    assert twice.status_code == 409
    assert dicom.status_code == 200 and dicom.headers["content-type"] == "application/dicom"
    ds = pydicom.dcmread(io.BytesIO(dicom.content))
    assert str(ds.PatientName) != "REVIEWME^PERPETUA" and ds.pixel_array[70, 80] == ds.pixel_array.min()
    assert Image.open(io.BytesIO(png.content)).format == "PNG"
    assert Image.open(io.BytesIO(jpeg.content)).format == "JPEG"
    row = next(o for o in report["objects"] if o["input_id"] == input_id)
    assert row["status"] == "clean" and "/" not in row["output"]  # out of review/
    decisions = [e for e in _audit(held_job.api) if e["action"] == "review.decision" and e["job_id"] == job_id]
    assert [e["detail"]["decision"] for e in decisions] == ["redo", "approve"]
    exports = [e["detail"]["export"] for e in _audit(held_job.api) if e["action"] == "output.read"
               and e["detail"].get("export")]
    assert exports == ["native", "png", "jpeg"]


def test_a_rejected_item_ends_as_an_error_with_the_reason_and_its_output_is_gone(held_job: HeldJob) -> None:
    job_id, input_id = held_job.job_id, held_job.held[2]
    with held_job.api.client() as http:
        reject = http.post(f"/v1/review/{job_id}/{input_id}/decision",
                           json={"decision": "reject", "reason": "text left in the corner"})
        download = http.get(f"/v1/jobs/{job_id}/outputs/{input_id}")
        report = http.get(f"/v1/jobs/{job_id}/report").json()
    assert reject.status_code == 200 and reject.json()["status"] == "error"
    assert download.status_code == 409
    row = next(o for o in report["objects"] if o["input_id"] == input_id)
    assert row["status"] == "error" and row["reason"] == "rejected by a reviewer: text left in the corner"
    assert not list(Path(report["output_folder"]).glob(f"review/*{row['output_id'] or 'none'}*"))


def test_custom_profiles_are_versioned_validated_and_audited_and_stored_ones_read_only(held_job: HeldJob) -> None:
    api = held_job.api
    edited = {**STRICT, "options": ["rtnLongModifDatesOpt", "rtnUIDsOpt"]}
    fresh = {**STRICT, "name": "fresh-one"}  # a name not taken: each refusal is about the body
    invalid = [
        ({**fresh, "name": "Bad Name"}, "name"),
        ({**fresh, "options": ["rtnEverythingOpt"]}, "unknown option"),
        ({**fresh, "overrides": {"PatientName": "KEEPIT"}}, "the profile loader refused it"),
        ({**fresh, "overrides": {"NoSuchAttribute": "K"}}, "the profile loader refused it"),
        ({**fresh, "extends": "nothere"}, "extends must name a stored profile"),
        ({**fresh, "review_threshold": 3}, "review_threshold"),
        ({**fresh, "name": ""}, "name"),
        ({"name": "fresh-one", "options": "rtnUIDsOpt"}, "options"),
        ({**fresh, "overides": {"PatientSex": "K"}}, "overides"),
    ]
    with api.client() as http:
        duplicate = http.post("/v1/profiles", json=STRICT)
        put = http.put(f"/v1/profiles/{STRICT['name']}", json=edited)
        detail = http.get(f"/v1/profiles/{STRICT['name']}").json()
        versions = http.get(f"/v1/profiles/{STRICT['name']}/versions").json()
        stored = http.put("/v1/profiles/basic", json={**STRICT, "name": "basic"})
        stored_new = http.post("/v1/profiles", json={**STRICT, "name": "research"})
        mismatch = http.put(f"/v1/profiles/{STRICT['name']}", json={**STRICT, "name": "other"})
        unknown = http.put("/v1/profiles/nothere", json={**STRICT, "name": "nothere"})
        refused = [(http.post("/v1/profiles", json=body), why) for body, why in invalid]
        not_json = http.post("/v1/profiles", content=b"{not json", headers={"content-type": "application/json"})
        empty = http.post("/v1/profiles", content=b"", headers={"content-type": "application/json"})
        listing = http.get("/v1/profiles").json()
        basic = http.get("/v1/profiles/basic").json()
    assert duplicate.status_code == 409 and put.status_code == 200, put.text
    assert [v["version"] for v in versions] == [1, 2] and versions[0]["digest"] != versions[1]["digest"]
    assert detail["kind"] == "custom" and detail["number"] == 2 and detail["version"] == versions[1]["digest"]
    diff = {row["attribute"]: row for row in detail["diff"]}
    assert diff["Patient's Sex"]["action"] == "K" and "override PatientSex" in diff["Patient's Sex"]["why"]
    assert any("Retain UIDs Option" in row["why"] for row in detail["diff"])
    assert len(detail["fields"]) == len(basic["fields"]) and basic["kind"] == "stored" and basic["diff"] == []
    assert stored.status_code == 409 and stored_new.status_code == 409 and mismatch.status_code == 422
    assert unknown.status_code == 404
    for response, why in refused:
        assert response.status_code == 422, response.text
        assert why in response.json()["reason"], (why, response.json())
    assert not_json.status_code == 422 and empty.status_code == 422
    assert STRICT["name"] in [p["name"] for p in listing["profiles"]]
    assert "fresh-one" not in [p["name"] for p in listing["profiles"]]  # nothing refused was kept
    changes = [e for e in _audit(api) if e["action"] == "profile.change" and e["actor"] == "noauth:local"]
    assert [e["detail"]["change"] for e in changes] == ["create", "edit"]
    assert changes[1]["detail"]["digest"] == versions[1]["digest"]


def test_the_audit_trail_holds_every_access_and_nothing_holds_phi(held_job: HeldJob) -> None:
    api = held_job.api
    with api.client() as http:
        http.get(f"/v1/jobs/{held_job.job_id}/report")
        answers = [http.get("/v1/review").text, http.get(f"/v1/jobs/{held_job.job_id}/report").text,
                   http.get(f"/v1/jobs/{held_job.job_id}/report?format=csv").text]
    actions = {e["action"] for e in _audit(api) if e.get("job_id") in (held_job.job_id, None)}
    assert {"submit", "report.read", "output.read", "review.decision", "profile.change"} <= actions
    texts = {"audit": api.audit_file.read_text(), "logs": api.logs(), "answers": "\n".join(answers)}
    for where, text in texts.items():
        leaked = [v for v in phi_values() if v in text]
        assert leaked == [], (where, leaked)
        assert "REVIEWME" not in text, where
