"""``pixelguard api``: serve the HTTP API (``pixelguard/api``) with uvicorn, in one process."""
from __future__ import annotations

import argparse
import sys


def register(sub: argparse._SubParsersAction) -> None:
    api = sub.add_parser("api", help="serve the HTTP API (jobs, reports, profiles) on 127.0.0.1")
    api.add_argument("--host", default=None, help="address to bind (PIXELGUARD_API_HOST, 127.0.0.1); "
                                                  "only loopback until single sign-on exists")
    api.add_argument("--port", type=int, default=None, help="port (PIXELGUARD_API_PORT, 8700; 0: any free one)")
    api.add_argument("--no-auth", action="store_true",
                     help="serve without authentication (required: no identity provider exists yet); loopback only")
    api.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from pixelguard.api.auth import NO_AUTH_ACTOR, check_bind
    from pixelguard.settings import Settings

    settings = Settings.from_env().with_flags(api_host=args.host, api_port=args.port)
    check_bind(settings.api_host, args.no_auth)  # ValueError: printed by the CLI, exit 2
    print(f"pixelguard api: WARNING: --no-auth: no authentication; every caller is recorded as {NO_AUTH_ACTOR}. "
          f"Serving on {settings.api_host} only.", file=sys.stderr)

    import uvicorn

    from pixelguard.api.app import create_app
    from pixelguard.api.context import ApiContext
    from pixelguard.core.quiet import silence_value_echoes

    silence_value_echoes()
    app = create_app(ApiContext.build(settings))
    # Access log lines hold method, path (job ids) and status only: no body, no file name.
    uvicorn.run(app, host=settings.api_host, port=settings.api_port, log_level="info", server_header=False)
    return 0
