"""Single sign-on for the API and the UI: bearer tokens for programs, code + PKCE with a server-side session
for browsers (``/ui/login``, ``/ui/callback``, ``/ui/logout``). No token ever reaches browser JavaScript:
the browser holds an opaque session id in an HttpOnly, SameSite=Lax cookie.
"""
from __future__ import annotations

import base64
import hashlib
import time
import urllib.parse
from dataclasses import dataclass, field
from typing import Any

import jwt
from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from pixelguard.audit import AuditError, record_audit

from .auth import Caller, Unauthenticated
from .errors import ApiError
from .oidc import ALGORITHMS, InvalidCredentials, ProviderEndpoints, ProviderUnavailable, TokenVerifier, http_json
from .sessions import PendingLogin, Session, SessionStore

SESSION_COOKIE = "pixelguard_session"
LOGIN_COOKIE = "pixelguard_login"  # binds a callback to the browser that started the login (login CSRF)
REFRESH_MARGIN_S = 10.0


@dataclass
class OidcConfig:
    issuer: str
    audience: str
    client_id: str = "pixelguard-ui"
    client_secret: str = ""  # empty: a public client (PKCE alone), as the realm file's pixelguard-ui is


@dataclass
class Sso:
    """The identity adapter of one API process: ``authenticate`` for ``app.state``, and the UI's login routes."""

    config: OidcConfig
    sessions: SessionStore = field(default_factory=SessionStore)
    _endpoints: ProviderEndpoints | None = None
    _verifier: TokenVerifier | None = None

    def endpoints(self) -> ProviderEndpoints:
        if self._endpoints is None:
            try:
                self._endpoints = ProviderEndpoints.discover(self.config.issuer)
            except ProviderUnavailable as exc:
                raise ApiError(503, "idp-unavailable", f"{exc}; try again later") from None
        return self._endpoints

    def verifier(self) -> TokenVerifier:
        if self._verifier is None:
            self._verifier = TokenVerifier(self.config.issuer, self.config.audience, self.endpoints().jwks_uri)
        return self._verifier

    def check(self, token: str) -> Caller:
        try:
            return self.verifier().caller(token)
        except InvalidCredentials as exc:
            raise Unauthenticated(str(exc)) from None
        except ProviderUnavailable as exc:
            raise ApiError(503, "idp-unavailable", f"{exc}; try again later") from None

    def authenticate(self, request: Request) -> Caller:
        header = request.headers.get("authorization")
        if header is not None:
            scheme, _, token = header.partition(" ")
            if scheme.lower() != "bearer" or not token.strip():
                raise Unauthenticated("send the access token as `Authorization: Bearer <token>`")
            return self.check(token.strip())
        sid = request.cookies.get(SESSION_COOKIE)
        session = self.sessions.get(sid) if sid else None
        if session is None:
            raise Unauthenticated("no credentials: send `Authorization: Bearer <access token>` from the identity "
                                  "provider, or log in at /ui/login")
        if session.access_expires - REFRESH_MARGIN_S < time.time():
            self._refresh(sid or "", session)
        return self.check(session.access_token)

    def _refresh(self, sid: str, session: Session) -> None:
        status, body = self._token_request({"grant_type": "refresh_token", "refresh_token": session.refresh_token})
        if status != 200 or "access_token" not in body:
            self.sessions.drop(sid)
            raise Unauthenticated("the session has ended; log in again at /ui/login")
        session.access_token = body["access_token"]
        session.refresh_token = body.get("refresh_token", session.refresh_token)
        session.access_expires = self._expiry(body["access_token"])

    def _token_request(self, form: dict[str, str]) -> tuple[int, dict[str, Any]]:
        form = {**form, "client_id": self.config.client_id}
        if self.config.client_secret:
            form["client_secret"] = self.config.client_secret
        try:
            return http_json(self.endpoints().token_endpoint, form)
        except ProviderUnavailable as exc:
            raise ApiError(503, "idp-unavailable", f"{exc}; try again later") from None

    def _expiry(self, access_token: str) -> float:
        # Only when to refresh: the token came straight from the token endpoint and is verified on every use.
        try:
            return float(jwt.decode(access_token, options={"verify_signature": False})["exp"])
        except (jwt.PyJWTError, KeyError, TypeError, ValueError):
            return 0.0

    def _check_id_token(self, id_token: str, login: PendingLogin) -> None:
        verifier = self.verifier()
        try:
            claims = jwt.decode(id_token, verifier.signing_key(id_token), algorithms=ALGORITHMS,
                                audience=self.config.client_id, issuer=verifier.issuer)
        except (jwt.PyJWTError, InvalidCredentials):
            raise Unauthenticated("the identity provider's ID token does not verify; log in again") from None
        if claims.get("nonce") != login.nonce:
            raise Unauthenticated("the login answer does not belong to this login (nonce); log in again")

    def router(self) -> APIRouter:
        router = APIRouter(prefix="/ui", tags=["login"], include_in_schema=False)

        @router.get("/login", name="oidc_login")
        def login(request: Request) -> Response:
            pending = self.sessions.begin_login()
            challenge = base64.urlsafe_b64encode(hashlib.sha256(pending.verifier.encode()).digest()).rstrip(b"=")
            query = {"response_type": "code", "client_id": self.config.client_id, "scope": "openid",
                     "redirect_uri": str(request.url_for("oidc_callback")), "state": pending.state,
                     "nonce": pending.nonce, "code_challenge": challenge.decode(), "code_challenge_method": "S256"}
            response = RedirectResponse(f"{self.endpoints().authorization_endpoint}?"
                                        f"{urllib.parse.urlencode(query)}", status_code=303)
            _cookie(response, request, LOGIN_COOKIE, pending.state, path="/ui/callback", max_age=600)
            return response

        @router.get("/callback", name="oidc_callback")
        def callback(request: Request) -> Response:
            state, code = request.query_params.get("state", ""), request.query_params.get("code", "")
            if request.query_params.get("error"):
                raise Unauthenticated("the identity provider refused the login; try again at /ui/login")
            if not state or not code or request.cookies.get(LOGIN_COOKIE) != state:
                raise Unauthenticated("this login answer does not belong to this browser; start at /ui/login")
            pending = self.sessions.take_login(state)
            if pending is None:
                raise Unauthenticated("this login has expired or was used already; start again at /ui/login")
            status, body = self._token_request({
                "grant_type": "authorization_code", "code": code, "code_verifier": pending.verifier,
                "redirect_uri": str(request.url_for("oidc_callback"))})
            if status != 200 or "access_token" not in body:
                raise Unauthenticated("the identity provider did not exchange the login code; log in again")
            self._check_id_token(body.get("id_token", ""), pending)
            who = self.check(body["access_token"])
            sid = self.sessions.create(Session(body["access_token"], body.get("refresh_token", ""),
                                               body.get("id_token", ""), self._expiry(body["access_token"]),
                                               time.time()))
            _audit(request, who, "login")
            response = RedirectResponse("/ui/", status_code=303)
            _cookie(response, request, SESSION_COOKIE, sid, path="/")
            response.delete_cookie(LOGIN_COOKIE, path="/ui/callback")
            return response

        # POST only: the session cookie is SameSite=Lax, so another site cannot sign a user out with a link.
        @router.post("/logout", name="oidc_logout")
        def logout(request: Request) -> Response:
            sid = request.cookies.get(SESSION_COOKIE, "")
            session = self.sessions.drop(sid) if sid else None
            target = str(request.url_for("oidc_login"))
            if session is not None and self.endpoints().end_session_endpoint:
                query = {"id_token_hint": session.id_token, "client_id": self.config.client_id,
                         "post_logout_redirect_uri": str(request.base_url).rstrip("/") + "/ui/"}
                target = f"{self.endpoints().end_session_endpoint}?{urllib.parse.urlencode(query)}"
            response = RedirectResponse(target, status_code=303)
            response.delete_cookie(SESSION_COOKIE, path="/")
            return response

        return router


def _cookie(response: Response, request: Request, name: str, value: str, path: str,
            max_age: int | None = None) -> None:
    response.set_cookie(name, value, path=path, max_age=max_age, httponly=True, samesite="lax",
                        secure=request.url.scheme == "https")


def _audit(request: Request, who: Caller, action: str) -> None:
    ctx = request.app.state.context
    try:
        record_audit(action, "ok", actor=who.actor, log=ctx.audit)
    except AuditError:
        raise ApiError(503, "audit-unavailable", "the audit trail cannot be written; log in again later") from None
