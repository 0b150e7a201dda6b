"""Who is calling. Until an identity provider exists the only mode is no-auth, on loopback, asked for.

Routes depend on ``caller``; the OIDC slice replaces ``app.state.authenticate`` with a bearer-token check
(issuer, audience, expiry, roles) without touching a route.
"""
from __future__ import annotations

import ipaddress
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request

NO_AUTH_ACTOR = "noauth:local"


@dataclass(frozen=True)
class Caller:
    actor: str  # what the audit trail records: an id, never a person's name
    roles: frozenset[str] = frozenset()


def no_auth(_request: Request) -> Caller:
    return Caller(NO_AUTH_ACTOR, frozenset({"submitter", "reviewer", "auditor", "profile-admin"}))


def caller(request: Request) -> Caller:
    authenticate: Callable[[Request], Caller] = request.app.state.authenticate
    return authenticate(request)


def require(*roles: str) -> Callable[..., Caller]:
    """A dependency: the caller, who must hold at least one of ``roles`` (none given: any caller).

    401 when there is no caller, 403 when the caller lacks every one of the roles. The OIDC slice keeps
    this signature; only how a caller is found (``app.state.authenticate``) changes.
    """
    from .errors import ApiError

    def dependency(who: Annotated[Caller, Depends(caller)]) -> Caller:
        if roles and not (who.roles & set(roles)):
            raise ApiError(403, "forbidden", "your account lacks the role this needs (" + " or ".join(roles)
                           + "); ask an administrator for it")
        return who

    return dependency


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # a host name other than localhost may resolve anywhere


def check_bind(host: str, no_auth_flag: bool) -> None:
    """Refuse a configuration this slice cannot make safe; the message says what to do instead."""
    if not is_loopback(host):
        raise ValueError(f"refusing to bind the API to {host}: beyond 127.0.0.1 it needs single sign-on (OIDC), "
                         "which is not available yet; bind to 127.0.0.1 (the default) and reach it through an "
                         "SSH tunnel or a reverse proxy that authenticates")
    if not no_auth_flag:
        raise ValueError("no identity provider is configured yet: start with --no-auth to serve without "
                         "authentication on 127.0.0.1 (every caller is recorded as " + NO_AUTH_ACTOR + ")")
