"""``pixelguard api``: serve the HTTP API (``pixelguard/api``) with uvicorn, in one process."""
from __future__ import annotations

import argparse
import os
import sys


def register(sub: argparse._SubParsersAction) -> None:
    api = sub.add_parser("api", help="serve the HTTP API (jobs, reports, profiles) on 127.0.0.1")
    api.add_argument("--host", default=None, help="address to bind (PIXELGUARD_API_HOST, 127.0.0.1); "
                                                  "beyond loopback only with single sign-on")
    api.add_argument("--port", type=int, default=None, help="port (PIXELGUARD_API_PORT, 8700; 0: any free one)")
    api.add_argument("--oidc-issuer", default=None,
                     help="OpenID Connect issuer, e.g. https://KEYCLOAK/realms/pixelguard (PIXELGUARD_OIDC_ISSUER)")
    api.add_argument("--oidc-audience", default=None,
                     help="the audience access tokens must carry (PIXELGUARD_OIDC_AUDIENCE, pixelguard-api)")
    api.add_argument("--no-auth", action="store_true",
                     help="serve without authentication, when no identity provider is configured; loopback only")
    api.add_argument("--bootstrap", default=None,
                     help="Kafka bootstrap: jobs go to the ingest topic for `pixelguard worker`s instead of the "
                          "embedded runner (PIXELGUARD_KAFKA_BOOTSTRAP; also --prefix, PIXELGUARD_STORE)")
    api.add_argument("--prefix", default=None, help="topic prefix (PIXELGUARD_TOPIC_PREFIX)")
    api.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from pixelguard.api.auth import NO_AUTH_ACTOR, check_bind
    from pixelguard.settings import Settings

    settings = Settings.from_env().with_flags(api_host=args.host, api_port=args.port, oidc_issuer=args.oidc_issuer,
                                              oidc_audience=args.oidc_audience,
                                              bootstrap=args.bootstrap, prefix=args.prefix)
    kafka = bool(args.bootstrap or os.environ.get("PIXELGUARD_KAFKA_BOOTSTRAP"))
    # --no-auth wins over an issuer left in the environment only when asked explicitly: check_bind refuses both.
    check_bind(settings.api_host, args.no_auth, bool(settings.oidc_issuer))  # ValueError: printed, exit 2
    if args.no_auth:
        print(f"pixelguard api: WARNING: --no-auth: no authentication; every caller is recorded as {NO_AUTH_ACTOR}"
              f" with every role. Serving on {settings.api_host} only.", file=sys.stderr)

    import uvicorn

    from pixelguard.api.app import create_app
    from pixelguard.api.context import ApiContext
    from pixelguard.api.login import OidcConfig, Sso
    from pixelguard.core.quiet import silence_value_echoes

    silence_value_echoes()
    sso = None if args.no_auth else Sso(OidcConfig(settings.oidc_issuer, settings.oidc_audience,
                                                   settings.oidc_client_id, settings.oidc_client_secret))
    app = create_app(ApiContext.build(settings, kafka=kafka), sso=sso)
    # Access log lines hold method, path (job ids) and status only: no body, no file name. The callback's
    # query string (code, state) is single use and bound to the browser's cookie.
    uvicorn.run(app, host=settings.api_host, port=settings.api_port, log_level="info", server_header=False)
    return 0
