"""``/healthz`` and ``/readyz``: unauthenticated probes for an orchestrator's kubelet (deploy/k8s).

``/healthz`` says only that the process answers HTTP; ``/readyz`` also asks the job store (one ``SELECT 1``),
so a pod whose PostgreSQL is unreachable stops getting requests instead of answering them with 500s. Neither
says anything about jobs or callers: no body an unauthenticated caller could learn from beyond up or down.
"""
from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from ..context import ApiContext, context

router = APIRouter(tags=["health"])


class Health(BaseModel):
    status: Literal["ok", "unavailable"]
    reason: str = ""


@router.get("/healthz", response_model=Health, summary="The process answers (liveness)")
def healthz() -> Health:
    return Health(status="ok")


@router.get("/readyz", response_model=Health, summary="The job store answers (readiness)",
            responses={503: {"model": Health, "description": "The job store cannot be reached"}})
def readyz(ctx: Annotated[ApiContext, Depends(context)]) -> Health | JSONResponse:
    try:
        with ctx.store.engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except SQLAlchemyError as exc:
        # The exception's text may hold the database URL (its password): only its class goes out.
        reason = f"the job store is unreachable ({exc.__class__.__name__}); check PIXELGUARD_DATABASE_URL's server"
        return JSONResponse(Health(status="unavailable", reason=reason).model_dump(), status_code=503)
    return Health(status="ok")
