"""One error body for every 4xx (and the 5xx nobody should see), declared on every route of the spec.

Reasons are our own words: never a request value, an uploaded file name or a value from an object, since
any of them may be patient data. Validation errors name the field, not what was sent in it.
"""
from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException


class ErrorBody(BaseModel):
    """Why a request was refused, and what to do next."""

    error: str = Field(description="A short code: bad-request, not-found, too-large, unsupported, invalid, ...")
    reason: str = Field(description="What was wrong and what to do next; never quotes patient data.")


class ApiError(Exception):
    def __init__(self, status: int, error: str, reason: str) -> None:
        super().__init__(reason)
        self.status, self.error, self.reason = status, error, reason


_DESCRIPTIONS = {
    400: "Bad request: the body or a parameter cannot be used as sent",
    401: "Not authenticated: sign in or send a bearer token",
    403: "Forbidden: the caller lacks the role this needs",
    404: "Not found",
    409: "Conflict: the resource is not in a state that allows this",
    406: "Not acceptable: ask for application/json or text/csv",
    413: "Too large: over a size or count limit",
    415: "Unsupported media type",
    422: "Invalid: a parameter or field fails validation",
    503: "The audit trail cannot be written, so nothing was done; try again later",
}
_CODES = {400: "bad-request", 401: "unauthenticated", 403: "forbidden", 404: "not-found",
          405: "method-not-allowed", 406: "not-acceptable",
          413: "too-large", 415: "unsupported", 422: "invalid"}


def responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """The ``responses=`` of a route: each status with the error body (400, 401, 403 and 422 always)."""
    wanted = sorted({400, 401, 403, 422, *statuses})
    return {status: {"model": ErrorBody, "description": _DESCRIPTIONS[status]} for status in wanted}


def _body(status: int, error: str, reason: str) -> JSONResponse:
    return JSONResponse(ErrorBody(error=error, reason=reason).model_dump(), status_code=status)


def install(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def api_error(_request: Request, exc: ApiError) -> JSONResponse:
        return _body(exc.status, exc.error, exc.reason)

    @app.exception_handler(RequestValidationError)
    async def invalid(_request: Request, exc: RequestValidationError) -> JSONResponse:
        problems = []
        for err in exc.errors()[:5]:
            where = ".".join(str(part) for part in err.get("loc", ()) if part not in ("body",))
            problems.append(f"{where or 'request'}: {err.get('msg', 'invalid')}")
        return _body(422, "invalid", "; ".join(problems) + "; see /openapi.json for what each route takes")

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = _CODES.get(exc.status_code, "error")
        reason = {404: "no such resource; see /openapi.json for the routes",
                  405: "method not allowed on this route; see /openapi.json"}.get(exc.status_code, str(exc.detail))
        response = _body(exc.status_code, code, reason)
        if exc.headers:
            response.headers.update(exc.headers)
        return response
