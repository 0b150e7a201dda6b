"""A person logs in through the browser: Debian's chromium, driven by Playwright, on Keycloak's own login page.

The API runs as `pixelguard api --oidc-issuer ...` (a real process on a free port, its job store on the real
PostgreSQL: the deployment's shape end to end); the login is the
authorization code flow with PKCE, and the browser ends up with an opaque, HttpOnly session cookie while the
tokens stay on the server. Screenshots of each page land in the folder the test prints.
"""
from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from pixelguard.api.login import SESSION_COOKIE
from pixelguard.services.keycloak import KeycloakService
from pixelguard.services.paths import REPO_ROOT
from pixelguard.services.postgres import PostgresService
from tests.fixtures.keycloak import password
from tests.fixtures.postgres import drop_database, new_database

from .conftest import LiveApi, start_api, stop_api

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = Path(os.environ.get("PIXELGUARD_TEST_ARTIFACTS", REPO_ROOT / ".cache" / "test-artifacts")) / "sso"


@pytest.fixture(scope="module")
def sso_api(keycloak: KeycloakService, postgres: PostgresService,
            tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveApi]:
    name, url = new_database(postgres)
    api = start_api(tmp_path_factory.mktemp("sso-live"),
                    auth=("--oidc-issuer", keycloak.issuer(), "--oidc-audience", "pixelguard-api"),
                    PIXELGUARD_DATABASE_URL=url)
    yield api
    stop_api(api)
    drop_database(postgres, name)


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    if not Path(CHROMIUM).is_file():
        pytest.fail(f"{CHROMIUM} is missing: apt-get install chromium (deploy/local/test.sh installs it)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        # Debian's build, not Playwright's download (`playwright install` cannot reach its CDN here).
        launched = p.chromium.launch(executable_path=CHROMIUM)
        yield launched
        launched.close()


def test_a_reviewer_logs_in_on_keycloaks_page_and_lands_on_the_ui_with_a_server_side_session(
        sso_api: LiveApi, browser, keycloak: KeycloakService) -> None:
    shutil.rmtree(ARTIFACTS, ignore_errors=True)
    ARTIFACTS.mkdir(parents=True)
    print(f"\nscreenshots: {ARTIFACTS}")
    context = browser.new_context()
    page = context.new_page()
    page.goto(sso_api.url + "/ui/")
    page.wait_for_selector("#kc-login")  # not signed in: sent to Keycloak's login page
    assert page.url.startswith(keycloak.issuer() + "/protocol/openid-connect/auth")
    assert "code_challenge_method=S256" in page.url
    page.screenshot(path=str(ARTIFACTS / "1-keycloak-login.png"))
    page.fill("#username", "reviewer1")
    page.fill("#password", password("reviewer1"))
    page.click("#kc-login")
    page.wait_for_url(sso_api.url + "/ui/jobs")  # the callback sends the browser to /ui/, which shows the jobs
    page.screenshot(path=str(ARTIFACTS / "2-ui-signed-in.png"))
    # The reviewer's role is what the session carries: the review queue opens, the submit page does not.
    assert page.goto(sso_api.url + "/ui/review").status == 200
    assert page.goto(sso_api.url + "/ui/submit").status == 403
    page.screenshot(path=str(ARTIFACTS / "3-reviewer-cannot-submit.png"))

    cookies = {c["name"]: c for c in context.cookies()}
    session = cookies[SESSION_COOKIE]
    assert session["httpOnly"] and session["sameSite"] == "Lax"
    # The cookie is an opaque id, not a token; page scripts cannot read it at all.
    assert session["value"].count(".") == 0 and len(session["value"]) < 64
    assert page.evaluate("document.cookie") == ""
    # The session works for the API from this browser...
    assert page.request.get(sso_api.url + "/v1/jobs").status == 200
    # ...and only from this browser's session: the cookie's value alone, replayed after logout, is dead.
    jar = {SESSION_COOKIE: session["value"]}
    assert httpx.get(sso_api.url + "/v1/jobs", cookies=jar).status_code == 200
    assert httpx.get(sso_api.url + "/ui/logout", cookies=jar).status_code == 405  # a link cannot sign anyone out
    page.goto(sso_api.url + "/ui/jobs")
    page.click("#logout")
    page.wait_for_selector("#kc-login")
    page.screenshot(path=str(ARTIFACTS / "4-after-logout.png"))
    assert httpx.get(sso_api.url + "/v1/jobs", cookies=jar).status_code == 401
    assert sorted(p.name for p in ARTIFACTS.glob("*.png")) == [
        "1-keycloak-login.png", "2-ui-signed-in.png", "3-reviewer-cannot-submit.png", "4-after-logout.png"]
    context.close()


def test_a_callback_that_this_browser_did_not_start_is_refused(sso_api: LiveApi) -> None:
    with httpx.Client(base_url=sso_api.url) as client:
        start = client.get("/ui/login")
        assert start.status_code == 303
        # A login started elsewhere (no matching login cookie here), and a replayed/forged state.
        answer = httpx.get(sso_api.url + "/ui/callback", params={"state": "forged", "code": "x"})
        assert answer.status_code == 401 and "does not belong to this browser" in answer.text
        assert client.get("/ui/callback", params={"state": "forged", "code": "x"}).status_code == 401
        # A page needing a session, without one, goes to the login instead.
        assert client.get("/ui/jobs").headers["location"] == "/ui/login"


def test_a_submitters_job_runs_to_its_report_on_postgresql(sso_api: LiveApi, keycloak: KeycloakService) -> None:
    """Bearer token in, job through the embedded runner, every object's final state in the PostgreSQL store."""
    from pixelguard.samples import FakePatient, text_png

    token = keycloak.password_grant("submitter1", password("submitter1"))["access_token"]
    headers = {"Authorization": f"Bearer {token}"}
    png = text_png(FakePatient("PGWELL^THEODORA", "MRN6660001", "19550607"), size=(64, 48))
    with httpx.Client(base_url=sso_api.url, timeout=60, headers=headers) as client:
        accepted = client.post("/v1/jobs", files=[("files", ("PGWELL.png", png, "image/png"))],
                               data={"profile": "basic", "redaction": "off"})
        assert accepted.status_code == 202, accepted.text
        job_id = accepted.json()["job_id"]
        deadline = time.monotonic() + 600
        while client.get(f"/v1/jobs/{job_id}").json()["state"] not in ("done", "failed"):
            assert time.monotonic() < deadline, "the job did not finish"
            time.sleep(1)
        report = client.get(f"/v1/jobs/{job_id}/report").json()
    assert [o["status"] for o in report["objects"]] == ["review"]  # redaction off: held for review
    assert "PGWELL" not in json.dumps(report)
    assert not (sso_api.root / "keys" / "jobs.sqlite3").exists()  # the store is PostgreSQL's, not the default
