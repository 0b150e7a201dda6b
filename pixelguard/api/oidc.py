"""The identity adapter: an OpenID Connect provider (Keycloak) checks who calls, the API checks its tokens.

Pure checks over PyJWT: an access token is accepted only when its signature verifies against a key in the
issuer's JWKS (RS/ES/PS only: ``none`` and HMAC are refused, so a token cannot be signed with the public
key), and its ``iss``, ``aud`` and ``exp`` are what this API expects. Roles come from Keycloak's
``realm_access.roles``. Every refusal is one ``InvalidCredentials`` whose reason never quotes the token.
"""
from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from typing import Any

import jwt

from .auth import Caller

ALGORITHMS = ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512"]
LEEWAY_S = 0  # an expired token is expired; the provider and the API share a clock


class InvalidCredentials(Exception):
    """A token that must not be trusted; the message says why in words safe to answer with."""


class ProviderUnavailable(Exception):
    """The identity provider cannot be reached (discovery, JWKS or token endpoint)."""


def http_json(url: str, form: dict[str, str] | None = None, timeout: float = 10.0) -> tuple[int, dict[str, Any]]:
    """GET (or POST a form to) the provider; no proxy, since a developer's proxy must not see tokens."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    data = urllib.parse.urlencode(form).encode() if form is not None else None
    request = urllib.request.Request(url, data=data, headers={"Accept": "application/json"})
    try:
        with opener.open(request, timeout=timeout) as resp:
            return int(resp.status), dict(json.loads(resp.read()))
    except urllib.error.HTTPError as err:
        try:
            return int(err.code), dict(json.loads(err.read()))
        except ValueError:
            return int(err.code), {}
    except (OSError, ValueError) as exc:
        raise ProviderUnavailable(f"the identity provider did not answer ({type(exc).__name__})") from None


@dataclass(frozen=True)
class ProviderEndpoints:
    issuer: str
    jwks_uri: str
    authorization_endpoint: str
    token_endpoint: str
    end_session_endpoint: str

    @classmethod
    def discover(cls, issuer: str) -> ProviderEndpoints:
        status, doc = http_json(issuer.rstrip("/") + "/.well-known/openid-configuration")
        if status != 200 or doc.get("issuer") != issuer.rstrip("/"):
            raise ProviderUnavailable(f"no OpenID configuration for the issuer {issuer} (HTTP {status}); check "
                                      "--oidc-issuer (PIXELGUARD_OIDC_ISSUER): https://HOST/realms/REALM")
        return cls(doc["issuer"], doc["jwks_uri"], doc["authorization_endpoint"], doc["token_endpoint"],
                   doc.get("end_session_endpoint", ""))


class TokenVerifier:
    """Checks bearer access tokens of one issuer for one audience."""

    def __init__(self, issuer: str, audience: str, jwks_uri: str | None = None) -> None:
        self.issuer = issuer.rstrip("/")
        self.audience = audience
        self._jwks_uri = jwks_uri
        self._jwks: jwt.PyJWKClient | None = None

    def _client(self) -> jwt.PyJWKClient:
        if self._jwks is None:
            uri = self._jwks_uri or ProviderEndpoints.discover(self.issuer).jwks_uri
            # Keys are cached; an unknown kid refetches once (PyJWKClient), so a key rotation is picked up.
            self._jwks = jwt.PyJWKClient(uri, cache_keys=True, lifespan=300, timeout=10)
        return self._jwks

    def signing_key(self, token: str) -> Any:
        """The provider's key named by the token's ``kid``; InvalidCredentials when there is none."""
        try:
            return self._client().get_signing_key_from_jwt(token).key
        except jwt.PyJWKClientConnectionError:
            raise ProviderUnavailable("the identity provider's keys (JWKS) cannot be fetched") from None
        except jwt.PyJWKClientError:
            raise InvalidCredentials("the token is not signed by a key of this API's identity provider") from None
        except jwt.InvalidTokenError:
            raise InvalidCredentials("the bearer token is not a JWT") from None

    def verify(self, token: str) -> dict[str, Any]:
        """The token's claims, or InvalidCredentials; ProviderUnavailable when the keys cannot be fetched."""
        key = self.signing_key(token)
        try:
            claims: dict[str, Any] = jwt.decode(
                token, key, algorithms=ALGORITHMS, audience=self.audience, issuer=self.issuer,
                leeway=LEEWAY_S, options={"require": ["exp", "iat", "iss", "aud", "sub"]})
        except jwt.ExpiredSignatureError:
            raise InvalidCredentials("the token has expired; get a new one from the identity provider") from None
        except jwt.InvalidAudienceError:
            raise InvalidCredentials(f"the token is not for this API (audience {self.audience})") from None
        except jwt.InvalidIssuerError:
            raise InvalidCredentials("the token was issued by another realm or provider") from None
        except jwt.InvalidSignatureError:
            raise InvalidCredentials("the token's signature does not verify") from None
        except jwt.InvalidTokenError as exc:
            raise InvalidCredentials(f"the token is invalid ({type(exc).__name__})") from None
        return claims

    def caller(self, token: str) -> Caller:
        return caller_of(self.verify(token))


def caller_of(claims: dict[str, Any]) -> Caller:
    """The audit trail's actor is the provider's subject id, never a name or an e-mail address."""
    access = claims.get("realm_access")
    roles = access.get("roles", []) if isinstance(access, dict) else []
    return Caller(f"oidc:{claims['sub']}", frozenset(r for r in roles if isinstance(r, str)))
