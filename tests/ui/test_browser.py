"""The web UI in Debian's Chromium, driven by Playwright, behind the real Keycloak: log in on Keycloak's page,
make a profile, upload a study, watch it complete, read the report, review an item side by side, approve it.

The API runs as it is deployed: ``pixelguard api --oidc-issuer ...`` with its job store on the real
PostgreSQL. The user is ``officer1`` (submitter, reviewer and profile-admin: deploy/keycloak/README.md).
"""
from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from pixelguard.services.keycloak import KeycloakService
from pixelguard.services.postgres import PostgresService
from tests.api.conftest import LiveApi, start_api, stop_api
from tests.api.held import phi_values, study_zip
from tests.fixtures.keycloak import password
from tests.fixtures.postgres import drop_database, new_database

from .flow import make_profile, review_flow

CHROMIUM = "/usr/bin/chromium"  # Debian's package (deploy/local/apt-packages.txt); never `playwright install`
ARTIFACTS = Path(__file__).resolve().parents[2] / ".cache" / "test-artifacts" / "ui"
USER = "officer1"


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as p:
        launched = p.chromium.launch(executable_path=CHROMIUM)
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture
def api(tmp_path: Path, keycloak: KeycloakService, postgres: PostgresService) -> Iterator[LiveApi]:
    name, url = new_database(postgres)
    live = start_api(tmp_path / "api", auth=("--oidc-issuer", keycloak.issuer(), "--oidc-audience", "pixelguard-api"),
                     PIXELGUARD_API_JOBS="1", PIXELGUARD_DATABASE_URL=url)
    yield live
    stop_api(live)
    drop_database(postgres, name)


def log_in(page: Page, api: LiveApi, keycloak: KeycloakService) -> None:
    page.goto(api.url + "/ui/")
    page.wait_for_selector("#kc-login")  # signed out: the UI sends the browser to Keycloak's own page
    assert page.url.startswith(keycloak.issuer() + "/protocol/openid-connect/auth")
    page.screenshot(path=str(ARTIFACTS / "keycloak-login.png"))
    page.fill("#username", USER)
    page.fill("#password", password(USER))
    page.click("#kc-login")
    page.wait_for_url(api.url + "/ui/jobs")


def test_log_in_upload_watch_report_review_and_approve_in_the_browser(
        browser: Browser, api: LiveApi, keycloak: KeycloakService, tmp_path: Path) -> None:
    study = tmp_path / "REVIEWME_study.zip"
    study.write_bytes(study_zip())
    page = browser.new_page(viewport={"width": 1400, "height": 900})
    print(f"\nscreenshots: {ARTIFACTS}")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    log_in(page, api, keycloak)
    make_profile(page, api.url, "strict-browser", ARTIFACTS)
    # The editor's form has no threshold field; the API sets the one that holds every text region.
    token = keycloak.password_grant(USER, password(USER))["access_token"]
    headers = {"Authorization": f"Bearer {token}"}
    with api.client() as http:
        body = http.get("/v1/profiles/strict-browser", headers=headers).json()["definition"]
        changed = http.put("/v1/profiles/strict-browser", json={**body, "review_threshold": 1.0}, headers=headers)
        assert changed.status_code == 200, changed.text
    job_id = review_flow(page, api.url, study, "strict-browser", ARTIFACTS)
    page.close()
    for name in ("keycloak-login", "profile-editor", "submit", "jobs-running", "jobs-done", "report", "review",
                 "review-redone", "review-approved"):
        assert (ARTIFACTS / f"{name}.png").stat().st_size > 1000, name

    with api.client() as http:
        report = http.get(f"/v1/jobs/{job_id}/report", headers=headers).json()
    approved = [o for o in report["objects"] if o["status"] == "clean" and not o["output"].startswith("review/")]
    assert len(approved) >= 1
    audit = [json.loads(line) for line in api.audit_file.read_text().splitlines()]
    actions = {e["action"] for e in audit}
    assert {"login", "submit", "report.read", "output.read", "review.decision", "profile.change"} <= actions
    # Every access is recorded under the person's opaque subject id, never their user name or e-mail.
    assert {e["actor"] for e in audit if e["action"] != "login"} <= {e["actor"] for e in audit if
                                                                      e["action"] == "login"}
    for where, text in {"audit": api.audit_file.read_text(), "logs": api.logs()}.items():
        assert [v for v in phi_values() if v in text] == [] and "REVIEWME" not in text, where
        assert USER not in text and "example.invalid" not in text, where
