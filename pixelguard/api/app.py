"""The FastAPI application: routes, the one error body, and the job runner's life with the process."""
from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request

from pixelguard.core import profile as profiles

from . import errors
from .auth import Caller, no_auth
from .context import ApiContext
from .login import Sso
from .routes import audit as audit_routes
from .routes import health, jobs, outputs, review
from .routes import profiles as profile_routes

TITLE = "PixelGuard"
API_VERSION = "1.0.0"


def create_app(ctx: ApiContext, authenticate: Callable[[Request], Caller] = no_auth,
               run_jobs: bool = True, sso: Sso | None = None) -> FastAPI:
    """The application over one context; ``run_jobs=False`` leaves accepted jobs queued (unit tests).

    With ``sso``, callers are checked against the identity provider (bearer token or UI session) and the
    UI's login routes are served; without it, ``authenticate`` decides (``no_auth``: --no-auth, loopback).
    """

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        if run_jobs:
            ctx.jobs.start()
        try:
            yield
        finally:
            if run_jobs:
                ctx.jobs.stop()

    app = FastAPI(title=TITLE, version=API_VERSION, lifespan=lifespan,
                  description="De-identification jobs and profiles. Objects are named by opaque ids, never by "
                              "the names of the uploaded files. Every error answers with the same body: a code "
                              "and a reason that says what to do next.")
    app.state.context = ctx
    app.state.authenticate = sso.authenticate if sso is not None else authenticate
    app.state.sso = sso  # None under --no-auth: the UI then has no login page to send anyone to
    errors.install(app)
    app.include_router(health.router)  # unauthenticated: the kubelet's probes
    app.include_router(jobs.build(profiles.available()))
    app.include_router(profile_routes.router)
    app.include_router(outputs.router)
    app.include_router(review.router)
    app.include_router(audit_routes.router)
    if sso is not None:
        app.include_router(sso.router())  # /ui/login, /ui/callback, /ui/logout: before the UI's own pages
    from .ui import routes as ui_routes  # the web UI over the same services

    ui_routes.install(app)
    return app
