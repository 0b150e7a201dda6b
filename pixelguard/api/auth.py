"""Who is calling, and what they may do: the seam between routes and the identity provider.

Routes depend on ``caller`` (any authenticated caller) or ``require("role", ...)`` (at least one of those
roles). Both go through ``app.state.authenticate(request) -> Caller``: ``oidc.py``/``login.py`` set it to
a check of a bearer token or of the UI's server-side session; ``no_auth`` is the explicit, loopback-only
mode for a laptop without an identity provider.
"""
from __future__ import annotations

import contextlib
import ipaddress
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request

from .errors import ApiError

NO_AUTH_ACTOR = "noauth:local"
ROLES = ("submitter", "reviewer", "profile-admin", "reidentifier", "auditor")


@dataclass(frozen=True)
class Caller:
    actor: str  # what the audit trail records: an id, never a person's name
    roles: frozenset[str] = frozenset()


class Unauthenticated(ApiError):
    """401: no credentials, or ones that cannot be trusted; the reason never quotes the token."""

    def __init__(self, reason: str) -> None:
        super().__init__(401, "unauthenticated", reason)


def no_auth(_request: Request) -> Caller:
    # Every role: one person on their own machine, who asked for this with --no-auth.
    return Caller(NO_AUTH_ACTOR, frozenset(ROLES))


def caller(request: Request) -> Caller:
    authenticate: Callable[[Request], Caller] = request.app.state.authenticate
    return authenticate(request)


def require(*roles: str) -> Callable[..., Caller]:
    """A dependency (``Depends(require("reviewer"))``): the caller, who must hold at least one of ``roles``
    (none given: any caller). 401 without credentials or with untrusted ones, 403 without the role."""
    unknown = set(roles) - set(ROLES)
    if unknown:
        raise ValueError(f"require() takes roles among {ROLES}, not {sorted(unknown)}")

    def check(request: Request, who: Annotated[Caller, Depends(caller)]) -> Caller:
        if roles and who.roles.isdisjoint(roles):
            _audit_denied(request, who, roles)
            raise ApiError(403, "forbidden", f"your account lacks the role this needs ({' or '.join(roles)}); "
                                             "ask an administrator of the identity provider for it")
        return who

    return check


def _audit_denied(request: Request, who: Caller, roles: tuple[str, ...]) -> None:
    """A refused attempt by a known caller is part of the trail an auditor reads (probing shows up there).
    The route's template, never its filled-in path: ids only, and no value a caller typed."""
    from pixelguard.audit import AuditError, record_audit

    template = re.sub(r"\{(\w+)\}", r":\1", getattr(request.scope.get("route"), "path", "unknown"))
    # The caller is refused either way; a trail that cannot be written fails the accesses that proceed.
    with contextlib.suppress(AuditError):
        record_audit("access.denied", "denied", actor=who.actor, log=request.app.state.context.audit,
                     detail={"method": request.method, "route": template, "needs": "/".join(roles)})


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # a host name other than localhost may resolve anywhere


def check_bind(host: str, no_auth_flag: bool, oidc_configured: bool = False) -> None:
    """Refuse a configuration that cannot be made safe; the message says what to do instead."""
    if no_auth_flag and oidc_configured:
        raise ValueError("--no-auth and an OIDC issuer were both given; pick one (drop --no-auth to use "
                         "single sign-on)")
    if no_auth_flag:
        if not is_loopback(host):
            raise ValueError(f"refusing --no-auth on {host}: without authentication the API may only listen on "
                             "127.0.0.1; configure single sign-on (--oidc-issuer, --oidc-audience) to bind "
                             "beyond it")
        return
    if not oidc_configured:
        raise ValueError("no identity provider is configured: give --oidc-issuer and --oidc-audience "
                         "(PIXELGUARD_OIDC_ISSUER, PIXELGUARD_OIDC_AUDIENCE), or start with --no-auth to serve "
                         "without authentication on 127.0.0.1 (every caller is recorded as " + NO_AUTH_ACTOR + ")")
