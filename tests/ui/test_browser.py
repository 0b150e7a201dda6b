"""The web UI in Debian's Chromium, driven by Playwright, on a live ``pixelguard api --no-auth``:
make a profile, upload a study, watch it complete, read the report, review an item side by side, approve it."""
from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, sync_playwright

from tests.api.conftest import LiveApi, start_api, stop_api
from tests.api.held import phi_values, study_zip

from .flow import make_profile, review_flow

CHROMIUM = "/usr/bin/chromium"  # Debian's package (deploy/local/apt-packages.txt); never `playwright install`
ARTIFACTS = Path(__file__).resolve().parents[2] / ".cache" / "test-artifacts" / "ui"


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as p:
        launched = p.chromium.launch(executable_path=CHROMIUM)
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture
def api(tmp_path: Path) -> Iterator[LiveApi]:
    live = start_api(tmp_path / "api", PIXELGUARD_API_JOBS="1")
    yield live
    stop_api(live)


def test_upload_watch_report_review_and_approve_in_the_browser(browser: Browser, api: LiveApi,
                                                                tmp_path: Path) -> None:
    study = tmp_path / "REVIEWME_study.zip"
    study.write_bytes(study_zip())
    page = browser.new_page(viewport={"width": 1400, "height": 900})
    print(f"\nscreenshots: {ARTIFACTS}")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    make_profile(page, api.url, "strict-browser", ARTIFACTS)
    # The editor's form has no threshold field; the API sets the one that holds every text region.
    with api.client() as http:
        body = http.get("/v1/profiles/strict-browser").json()["definition"]
        assert http.put("/v1/profiles/strict-browser", json={**body, "review_threshold": 1.0}).status_code == 200
    job_id = review_flow(page, api.url, study, "strict-browser", ARTIFACTS)
    page.close()
    for name in ("profile-editor", "submit", "jobs-running", "jobs-done", "report", "review", "review-redone",
                 "review-approved"):
        assert (ARTIFACTS / f"{name}.png").stat().st_size > 1000, name

    with api.client() as http:
        report = http.get(f"/v1/jobs/{job_id}/report").json()
    approved = [o for o in report["objects"] if o["status"] == "clean" and not o["output"].startswith("review/")]
    assert len(approved) >= 1
    audit = [json.loads(line) for line in api.audit_file.read_text().splitlines()]
    actions = {e["action"] for e in audit}
    assert {"submit", "report.read", "output.read", "review.decision", "profile.change"} <= actions
    for where, text in {"audit": api.audit_file.read_text(), "logs": api.logs()}.items():
        assert [v for v in phi_values() if v in text] == [] and "REVIEWME" not in text, where
