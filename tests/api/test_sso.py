"""Single sign-on against a real Keycloak (tests/fixtures/keycloak.py): who gets in, and with which roles.

The API checks each bearer token against the realm's JWKS (signature, iss, aud, exp) and each route's roles
(DESIGN.md "Who may do what").
"""
from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from fastapi.testclient import TestClient

from pixelguard.api.app import create_app
from pixelguard.api.context import ApiContext
from pixelguard.api.login import OidcConfig, Sso
from pixelguard.samples import FakePatient, text_png
from pixelguard.services.keycloak import KeycloakService
from pixelguard.settings import Settings
from tests.fixtures.keycloak import OTHER_REALM, password

from .conftest import api_env

PATIENT = FakePatient("SSOWELL^MARGARETHE", "MRN7770001", "19700304")
USERS = ("submitter1", "reviewer1", "profileadmin1", "reidentifier1", "auditor1", "nobody1")


@pytest.fixture(scope="module")
def sso_app(keycloak: KeycloakService, tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    root = tmp_path_factory.mktemp("sso-api")
    settings = Settings.from_env(api_env(root, PIXELGUARD_DATABASE_URL=f"sqlite:///{root / 'jobs.sqlite3'}"))
    app = create_app(ApiContext.build(settings), run_jobs=False,
                     sso=Sso(OidcConfig(keycloak.issuer(), "pixelguard-api")))
    with TestClient(app) as client:
        client.root = root  # type: ignore[attr-defined]
        yield client


@pytest.fixture(scope="module")
def tokens(keycloak: KeycloakService) -> dict[str, str]:
    return {user: keycloak.password_grant(user, password(user))["access_token"] for user in USERS}


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _upload(client: TestClient, token: str) -> Any:
    files = [("files", ("SSOWELL.png", text_png(PATIENT, size=(64, 48)), "image/png"))]
    return client.post("/v1/jobs", files=files, data={"profile": "basic"}, headers=bearer(token))


# Route -> the users who pass its role check, and what they then get; everyone else with a valid token gets
# 403, and no token 401. The original preview and a profile change answer the allowed role 404 (no such item)
# and 422 (no body): the role check came first and let them through.
MATRIX = [
    ("GET", "/v1/jobs", {"submitter1", "reviewer1", "auditor1"}, 200),
    ("GET", "/v1/audit", {"auditor1"}, 200),
    ("GET", "/v1/review/job-none/in-none/original.png", {"reviewer1"}, 404),
    ("PUT", "/v1/profiles/site-custom", {"profileadmin1"}, 422),
    ("POST", "/v1/profiles", {"profileadmin1"}, 422),
    ("GET", "/v1/profiles", set(USERS), 200),
]


@pytest.mark.parametrize("method, path, allowed, passed", MATRIX, ids=[f"{m} {p}" for m, p, _, _ in MATRIX])
def test_each_role_reaches_its_routes_and_no_other(sso_app: TestClient, tokens: dict[str, str], method: str,
                                                   path: str, allowed: set[str], passed: int) -> None:
    answers = {user: sso_app.request(method, path, headers=bearer(tokens[user])).status_code for user in USERS}
    assert answers == {user: passed if user in allowed else 403 for user in USERS}
    assert sso_app.request(method, path).status_code == 401


def test_a_submitter_reads_their_own_jobs_and_a_reviewer_or_auditor_reads_them_all(
        sso_app: TestClient, tokens: dict[str, str]) -> None:
    accepted = _upload(sso_app, tokens["submitter1"])
    assert accepted.status_code == 202, accepted.text
    job_id = accepted.json()["job_id"]
    for user, code in {"submitter1": 200, "reviewer1": 200, "auditor1": 200, "profileadmin1": 403,
                       "nobody1": 403}.items():
        assert sso_app.get(f"/v1/jobs/{job_id}/report", headers=bearer(tokens[user])).status_code == code, user
    assert job_id in [j["job_id"] for j in sso_app.get("/v1/jobs", headers=bearer(tokens["submitter1"])).json()["jobs"]]
    # Only submitters submit.
    for user in ("reviewer1", "auditor1", "nobody1"):
        assert _upload(sso_app, tokens[user]).status_code == 403, user


def test_a_second_submitter_sees_nothing_of_the_firsts_job(keycloak: KeycloakService, sso_app: TestClient,
                                                           tokens: dict[str, str]) -> None:
    job_id = _upload(sso_app, tokens["submitter1"]).json()["job_id"]
    other = _second_submitter(keycloak)
    assert sso_app.get(f"/v1/jobs/{job_id}", headers=bearer(other)).status_code == 404
    assert job_id not in [j["job_id"] for j in sso_app.get("/v1/jobs", headers=bearer(other)).json()["jobs"]]


def _second_submitter(keycloak: KeycloakService) -> str:
    """A token of another submitter of the same realm, made through the admin API (the realm file has one)."""
    from pixelguard.services.keycloak import _http

    admin = {"Content-Type": "application/json", "Authorization": f"Bearer {keycloak.admin_token()}"}
    user = {"username": "submitter2", "enabled": True, "emailVerified": True, "email": "submitter2@example.invalid",
            "firstName": "submitter2", "lastName": "Test",
            "credentials": [{"type": "password", "value": password("submitter2"), "temporary": False}]}
    status, _ = _http(f"{keycloak.url}/admin/realms/pixelguard/users", json.dumps(user).encode(), admin)
    assert status in (201, 409)
    status, body = _http(f"{keycloak.url}/admin/realms/pixelguard/users?username=submitter2&exact=true",
                         headers=admin)
    uid = json.loads(body)[0]["id"]
    status, body = _http(f"{keycloak.url}/admin/realms/pixelguard/roles/submitter", headers=admin)
    role = json.loads(body)
    status, _ = _http(f"{keycloak.url}/admin/realms/pixelguard/users/{uid}/role-mappings/realm",
                      json.dumps([role]).encode(), admin)
    assert status == 204
    return str(keycloak.password_grant("submitter2", password("submitter2"))["access_token"])


def _forged(claims: dict[str, Any], kid: str) -> str:
    """The same claims signed with a key of our own under the realm's key id: a stolen-shape token."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return jwt.encode(claims, key, algorithm="RS256", headers={"kid": kid})


def _unsigned(claims: dict[str, Any]) -> str:
    part = lambda data: base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()  # noqa: E731
    return f"{part({'alg': 'none', 'typ': 'JWT'})}.{part(claims)}."


def test_tokens_that_must_not_be_trusted_get_401(keycloak: KeycloakService, sso_app: TestClient,
                                                 tokens: dict[str, str]) -> None:
    good = tokens["auditor1"]
    assert sso_app.get("/v1/audit", headers=bearer(good)).status_code == 200
    claims = jwt.decode(good, options={"verify_signature": False})
    kid = jwt.get_unverified_header(good)["kid"]
    other_realm = keycloak.password_grant("auditor1", password("auditor1"), realm=OTHER_REALM)["access_token"]
    no_audience = keycloak.password_grant("auditor1", password("auditor1"),
                                          client_id="pixelguard-tests-no-audience")["access_token"]
    expiring = keycloak.password_grant("auditor1", password("auditor1"), client_id="pixelguard-tests-expiring")
    exp = jwt.decode(expiring["access_token"], options={"verify_signature": False})["exp"]
    while time.time() <= exp + 1:  # the token's own expiry, not a guess at how long a test takes
        time.sleep(0.5)
    refused = {
        "another realm": other_realm,
        "expired": expiring["access_token"],
        "signed with a different key": _forged(claims, kid),
        "signed with a different key, same kid, still-valid claims": _forged({**claims, "exp": exp + 3600}, kid),
        "alg none": _unsigned(claims),
        "no API audience": no_audience,
        "not a JWT": "not-a-token",
        "truncated": good[: len(good) // 2],
        "corrupt signature": good[:-8] + ("A" * 8 if not good.endswith("A" * 8) else "B" * 8),
        "oversized": good + "A" * 200_000,
    }
    for why, token in refused.items():
        answer = sso_app.get("/v1/audit", headers=bearer(token))
        assert answer.status_code == 401, why
        assert answer.json()["error"] == "unauthenticated", why
        assert token not in answer.text, why
    for header in (f"Basic {good}", "Bearer ", "Bearer", ""):
        assert sso_app.get("/v1/audit", headers={"Authorization": header}).status_code == 401, header
    assert sso_app.get("/v1/audit").json()["error"] == "unauthenticated"


def test_the_audit_trail_names_callers_by_subject_id_never_by_name(sso_app: TestClient,
                                                                   tokens: dict[str, str]) -> None:
    _upload(sso_app, tokens["submitter1"])
    events = sso_app.get("/v1/audit", headers=bearer(tokens["auditor1"])).json()["events"]
    sub = jwt.decode(tokens["submitter1"], options={"verify_signature": False})["sub"]
    assert any(e["action"] == "submit" and e["actor"] == f"oidc:{sub}" for e in events)
    trail = (Path(sso_app.root) / "keys" / "audit.jsonl").read_text()  # type: ignore[attr-defined]
    for leak in ("submitter1", "example.invalid", "SSOWELL", "MRN7770001", tokens["submitter1"][:40]):
        assert leak not in trail


def test_a_refused_attempt_is_in_the_audit_trail_with_the_route_template_not_its_ids(
        sso_app: TestClient, tokens: dict[str, str]) -> None:
    path = "/v1/review/job-0123456789ab/in-0123456789abcdef/original.png"
    assert sso_app.get(path, headers=bearer(tokens["submitter1"])).status_code == 403
    events = sso_app.get("/v1/audit", headers=bearer(tokens["auditor1"])).json()["events"]
    sub = jwt.decode(tokens["submitter1"], options={"verify_signature": False})["sub"]
    denied = [e for e in events if e["action"] == "access.denied" and e["actor"] == f"oidc:{sub}"]
    assert denied and denied[-1]["outcome"] == "denied"
    assert denied[-1]["detail"] == {"method": "GET", "route": "/v1/review/:job_id/:input_id/original.png",
                                    "needs": "reviewer"}
    assert "0123456789ab" not in json.dumps(denied)


def test_no_auth_mode_warns_and_listens_on_loopback_only(tmp_path: Path) -> None:
    from .conftest import start_api, stop_api

    api = start_api(tmp_path)  # --no-auth, the host left to its default
    try:
        assert api.client().get("/v1/audit").status_code == 200  # one local person holds every role
    finally:
        stop_api(api)
    log = api.log.read_text()
    assert "WARNING: --no-auth: no authentication" in log
    assert f"Uvicorn running on {api.url}" in log and api.url.startswith("http://127.0.0.1:")


def test_a_ui_session_outlives_its_access_token_by_refreshing_and_ends_when_it_cannot(
        keycloak: KeycloakService, tmp_path: Path) -> None:
    """Sessions keep their tokens server-side; an expired access token is refreshed with the refresh token."""
    from pixelguard.api.login import SESSION_COOKIE
    from pixelguard.api.sessions import Session

    # The tests' password-grant client stands in for the UI's (whose tokens come from a browser login).
    sso = Sso(OidcConfig(keycloak.issuer(), "pixelguard-api", client_id="pixelguard-tests"))
    settings = Settings.from_env(api_env(tmp_path, PIXELGUARD_DATABASE_URL=f"sqlite:///{tmp_path / 'jobs.sqlite3'}"))
    app = create_app(ApiContext.build(settings), run_jobs=False, sso=sso)
    grant = keycloak.password_grant("auditor1", password("auditor1"))
    # Recorded as already expired: the next request must refresh before it uses the session.
    session = Session(grant["access_token"], grant["refresh_token"], grant.get("id_token", ""), 0.0, time.time())
    sid = sso.sessions.create(session)
    with TestClient(app, cookies={SESSION_COOKIE: sid}) as client:
        assert client.get("/v1/audit").status_code == 200
        assert session.access_token != grant["access_token"] and session.access_expires > time.time()
        session.access_expires = 0  # force the next refresh, now with a refresh token the provider refuses
        session.refresh_token = "revoked"
        answer = client.get("/v1/audit")
        assert answer.status_code == 401 and "log in again" in answer.json()["reason"]
        assert sso.sessions.get(sid) is None  # the dead session is gone, not retried forever
        assert client.get("/v1/audit", cookies={SESSION_COOKIE: "made-up"}).status_code == 401
