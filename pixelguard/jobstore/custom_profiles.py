"""Custom profile versions in the job store: each change a new row, numbered from 1; none is ever edited."""
from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select

from .models import CustomProfile
from .store import JobStore


@dataclass(frozen=True)
class ProfileVersionRow:
    name: str
    version: int
    digest: str
    body: dict[str, Any]
    actor: str
    created_at: datetime


def _row(r: CustomProfile) -> ProfileVersionRow:
    at = r.created_at if r.created_at.tzinfo else r.created_at.replace(tzinfo=UTC)
    return ProfileVersionRow(r.name, r.version, r.digest, json.loads(r.body), r.actor, at)


class CustomProfileStore:
    def __init__(self, store: JobStore) -> None:
        self.store = store

    def add(self, name: str, digest: str, body: dict[str, Any], actor: str) -> ProfileVersionRow:
        """The next version of ``name`` (1 for a new one)."""
        with self.store._session.begin() as session:
            latest = session.scalar(select(func.max(CustomProfile.version)).where(CustomProfile.name == name)) or 0
            row = CustomProfile(name=name, version=latest + 1, digest=digest, body=json.dumps(body, sort_keys=True),
                                actor=actor, created_at=datetime.now(UTC))
            session.add(row)
            session.flush()
            return _row(row)

    def latest(self, name: str) -> ProfileVersionRow | None:
        with self.store._session() as session:
            row = session.scalar(select(CustomProfile).where(CustomProfile.name == name)
                                 .order_by(CustomProfile.version.desc()).limit(1))
            return _row(row) if row is not None else None

    def versions(self, name: str) -> list[ProfileVersionRow]:
        with self.store._session() as session:
            return [_row(r) for r in session.scalars(select(CustomProfile).where(CustomProfile.name == name)
                                                     .order_by(CustomProfile.version))]

    def names(self) -> list[str]:
        with self.store._session() as session:
            return sorted(set(session.scalars(select(CustomProfile.name))))
