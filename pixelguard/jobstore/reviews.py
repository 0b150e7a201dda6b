"""Reviewers' acts on held objects (redo with boxes, approve, reject), in the job store, in order."""
from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select

from .models import JobObject, ReviewEvent
from .store import JobStore, ObjectView, _utc


@dataclass(frozen=True)
class ReviewAct:
    kind: str  # redo, approve, reject
    actor: str
    reason: str
    detail: dict[str, Any]
    at: datetime


class ReviewLog:
    def __init__(self, store: JobStore) -> None:
        self.store = store

    def add(self, job_id: str, input_id: str, kind: str, actor: str, reason: str = "",
            detail: dict[str, Any] | None = None) -> None:
        with self.store._session.begin() as session:
            session.add(ReviewEvent(job_id=job_id, input_id=input_id, kind=kind, actor=actor, reason=reason,
                                    detail=json.dumps(detail or {}), at=datetime.now(UTC)))

    def acts(self, job_id: str, input_id: str) -> list[ReviewAct]:
        with self.store._session() as session:
            rows = session.scalars(select(ReviewEvent).where(ReviewEvent.job_id == job_id,
                                                             ReviewEvent.input_id == input_id)
                                   .order_by(ReviewEvent.id))
            return [ReviewAct(r.kind, r.actor, r.reason, json.loads(r.detail or "{}"),
                              r.at if r.at.tzinfo else r.at.replace(tzinfo=UTC)) for r in rows]


def held(store: JobStore, limit: int = 200, offset: int = 0) -> list[tuple[str, ObjectView]]:
    """Objects waiting for a reviewer, oldest job first: (job id, object)."""
    columns = (JobObject.job_id, JobObject.seq, JobObject.input_id, JobObject.status, JobObject.reason,
               JobObject.confidence, JobObject.format, JobObject.duration_s, JobObject.output,
               JobObject.sweep_hits, JobObject.finished_at)
    with store.engine.connect() as connection:
        rows = connection.execute(select(*columns).where(JobObject.status == "review")
                                  .order_by(JobObject.job_id, JobObject.seq).limit(limit).offset(offset))
        return [(row[0], ObjectView(*row[1:10], _utc(row[10]))) for row in rows]


def held_object(store: JobStore, job_id: str, input_id: str) -> ObjectView | None:
    for obj in store.objects(job_id):
        if obj.input_id == input_id:
            return obj
    return None
