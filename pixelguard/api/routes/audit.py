"""``/v1/audit``: the newest events of the API's audit trail, for the auditor role only."""
from __future__ import annotations

import json
from collections import deque
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query

from pixelguard.audit import AuditError, JsonlAuditSink, record_audit

from ..auth import Caller, require
from ..context import ApiContext, context
from ..errors import ApiError, responses

router = APIRouter(prefix="/v1/audit", tags=["audit"])


@router.get("", summary="The newest audit events (auditor only), newest last", responses=responses(503))
def list_events(ctx: Annotated[ApiContext, Depends(context)], who: Annotated[Caller, Depends(require("auditor"))],
                limit: Annotated[int, Query(ge=1, le=1000)] = 100) -> dict[str, Any]:
    files = [sink.path for sink in ctx.audit.sinks if isinstance(sink, JsonlAuditSink)]
    try:
        # Reading the trail is itself an access: recorded first, like every other.
        record_audit("audit.read", "ok", actor=who.actor, detail={"limit": limit}, log=ctx.audit)
    except AuditError:
        raise ApiError(503, "audit-unavailable", "the audit trail cannot be written; nothing was read") from None
    events: deque[dict[str, Any]] = deque(maxlen=limit)
    for path in files:
        try:
            with open(path, encoding="utf-8") as handle:
                for line in handle:
                    try:
                        events.append(json.loads(line))
                    except ValueError:
                        continue  # a line cut short by a crash is not an event
        except FileNotFoundError:
            continue
    return {"events": list(events), "limit": limit}
