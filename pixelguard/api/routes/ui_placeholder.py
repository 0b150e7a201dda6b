"""PLACEHOLDER for ``/ui/``, the page the login lands on, until the web UI (the ``ui`` branch) provides it.

MERGER: when the real UI's router serves ``GET /ui/``, delete this module and its ``include_router`` line in
``app.py``. It only shows who is signed in, which is what the SSO tests check after a browser login.
"""
from __future__ import annotations

import html

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from ..auth import Caller, Unauthenticated, caller

router = APIRouter(prefix="/ui", include_in_schema=False)


@router.get("/", name="ui_home")
def home(request: Request) -> Response:
    try:
        who: Caller = caller(request)
    except Unauthenticated:
        return RedirectResponse("/ui/login", status_code=303)
    roles = ", ".join(sorted(who.roles)) or "none"
    return HTMLResponse(f"<!doctype html><title>PixelGuard</title><main><h1>PixelGuard</h1>"
                        f"<p id='signed-in'>Signed in as <code>{html.escape(who.actor)}</code> "
                        f"with roles: <span id='roles'>{html.escape(roles)}</span></p>"
                        f"<p><a href='/ui/logout'>Log out</a></p></main>")
