"""Reading and writing the job store; every session is short and owned by one method."""
from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, func, select, update
from sqlalchemy.engine import make_url
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from .models import Job, JobObject, ProfileVersion

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
STATES = ("queued", "running", "done", "failed")
OBJECT_STATES = ("pending", "clean", "review", "error")
_UPGRADE_LOCK = threading.Lock()


class StoreConfigError(ValueError):
    """The store's configuration is unsafe or unusable; the message says what to change."""


class JobNotFound(LookupError):
    pass


class JobExists(ValueError):
    pass


@dataclass(frozen=True)
class JobView:
    job_id: str
    state: str
    runner: str
    source: str
    profile_name: str
    profile_version: str
    redaction: str
    total: int
    reason: str
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    counts: dict[str, int] = field(default_factory=dict)
    actor: str = ""  # who submitted it (an id); empty for a job started from a terminal

    @property
    def decided(self) -> int:
        return sum(n for state, n in self.counts.items() if state != "pending")

    @property
    def progress(self) -> float:
        return round(self.decided / self.total, 4) if self.total else (1.0 if self.state == "done" else 0.0)


@dataclass(frozen=True)
class ObjectView:
    seq: int
    input_id: str
    status: str
    reason: str
    confidence: float | None
    format: str
    duration_s: float | None
    output: str
    sweep_hits: int
    finished_at: datetime | None


def sqlite_file(url: str) -> Path | None:
    """The database file behind a SQLite URL (None for another database or an in-memory one)."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or not parsed.database or parsed.database == ":memory:":
        return None
    return Path(parsed.database).expanduser().resolve()


def check_outside(url: str, folders: Iterable[Path]) -> None:
    """Refuse a SQLite store inside an output folder: outputs are released, the store must not go with them."""
    path = sqlite_file(url)
    if path is None:
        return
    for folder in folders:
        root = Path(folder).expanduser().resolve()
        if path == root or root in path.parents:
            raise StoreConfigError(f"the job store {path} is inside the output folder {root}; set "
                                   "PIXELGUARD_DATABASE_URL to a file outside it (the default is beside the key file)")


def _now() -> datetime:
    return datetime.now(UTC)


def _utc(value: datetime | None) -> datetime | None:
    # SQLite keeps no zone: every value written here is UTC, so a naive one read back is UTC too.
    return value.replace(tzinfo=UTC) if value is not None and value.tzinfo is None else value


class JobStore:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._session = sessionmaker(engine, expire_on_commit=False)

    @classmethod
    def open(cls, url: str, outside: Sequence[Path] = ()) -> JobStore:
        """Connect, refuse a store inside any of ``outside``, and apply every pending migration."""
        check_outside(url, outside)
        path = sqlite_file(url)
        kwargs: dict[str, Any] = {}
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            # The API and its runner processes write the same file: wait for a lock rather than fail at once.
            kwargs["connect_args"] = {"timeout": 30, "check_same_thread": False}
        engine = create_engine(url, **kwargs)
        if path is not None:
            event.listen(engine, "connect", _sqlite_pragmas)
        store = cls(engine)
        store.upgrade()
        if path is not None:
            path.chmod(0o600)
        return store

    def upgrade(self) -> None:
        from alembic import command
        from alembic.config import Config

        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS))
        with _UPGRADE_LOCK, self.engine.begin() as connection:
            config.attributes["connection"] = connection
            command.upgrade(config, "head")

    def close(self) -> None:
        self.engine.dispose()

    # --- writing ----------------------------------------------------------------------------------------

    def _profile_version(self, session: Session, name: str, digest: str) -> int:
        found = session.scalar(select(ProfileVersion.id).where(ProfileVersion.name == name,
                                                               ProfileVersion.digest == digest))
        if found is not None:
            return found
        row = ProfileVersion(name=name, digest=digest, first_used=_now())
        session.add(row)
        session.flush()
        return row.id

    def create_job(self, job_id: str, profile_name: str, profile_digest: str, *, source: str,
                   runner: str = "embedded", redaction: str = "", input_ids: Sequence[str] = (),
                   state: str = "queued", actor: str = "") -> None:
        """A new job with its accepted inputs as ``pending`` objects; JobExists if the id is taken."""
        with self._session.begin() as session:
            if session.get(Job, job_id) is not None:
                raise JobExists(f"job {job_id} already exists; pick another id")
            session.add(Job(id=job_id, state=state, runner=runner, source=source, redaction=redaction or "",
                            actor=actor,
                            profile_version_id=self._profile_version(session, profile_name, profile_digest),
                            total=len(input_ids), reason="", created_at=_now(),
                            started_at=_now() if state == "running" else None))
            session.flush()
            session.add_all(JobObject(job_id=job_id, seq=seq, input_id=input_id, status="pending", reason="",
                                      format="", output="", sweep_hits=0)
                            for seq, input_id in enumerate(input_ids, 1))
        # IntegrityError on a race for the same id surfaces as itself: two submitters picked one id.

    def start_job(self, job_id: str, profile_name: str, profile_digest: str, *, source: str,
                  runner: str = "embedded", redaction: str = "") -> None:
        """Mark a job running, creating it first when the runner was started without one (``deid``)."""
        try:
            self.create_job(job_id, profile_name, profile_digest, source=source, runner=runner,
                            redaction=redaction, state="running")
        except (JobExists, IntegrityError):
            with self._session.begin() as session:
                session.execute(update(Job).where(Job.id == job_id)
                                .values(state="running", started_at=_now(), finished_at=None, reason=""))

    def mark_running(self, job_id: str) -> None:
        """A queued job's objects were handed on (published); one already closed stays closed."""
        with self._session.begin() as session:
            session.execute(update(Job).where(Job.id == job_id, Job.state == "queued")
                            .values(state="running", started_at=_now()))

    def record_object(self, job_id: str, line: Mapping[str, Any]) -> None:
        """One object's final state (a ``manifest.jsonl`` line); inserts it if the job did not list it."""
        self.record_objects(job_id, [line])

    def record_objects(self, job_id: str, lines: Sequence[Mapping[str, Any]]) -> None:
        """Objects' final states in one transaction: ``record_object`` for each, at one commit's cost.

        A runner deciding many small objects a second (a CT series) records them in groups: per object, the
        statements and the commit cost the runner's process more than the object's own bookkeeping.
        """
        if not lines:
            return
        now = _now()
        values = {str(line["input_id"]): {
            "status": str(line["status"]), "reason": str(line.get("reason") or ""),
            "confidence": line.get("confidence"), "format": str(line.get("format") or ""),
            "duration_s": line.get("duration_s"), "output": str(line.get("output") or ""),
            "sweep_hits": int(line.get("sweep_hits") or 0), "finished_at": now} for line in lines}
        with self._session.begin() as session:
            found = {row.input_id: row for row in session.scalars(
                select(JobObject).where(JobObject.job_id == job_id, JobObject.input_id.in_(list(values))))}
            for input_id, row in found.items():
                for name, value in values[input_id].items():
                    setattr(row, name, value)
            new = [input_id for input_id in values if input_id not in found]
            if not new:
                return
            seq = session.scalar(select(func.max(JobObject.seq)).where(JobObject.job_id == job_id)) or 0
            session.add_all(JobObject(job_id=job_id, seq=seq + i, input_id=input_id, **values[input_id])
                            for i, input_id in enumerate(new, 1))
            last = seq + len(new)
            session.execute(update(Job).where(Job.id == job_id, Job.total < last).values(total=last))

    def record_final(self, job_id: str, line: Mapping[str, Any]) -> bool:
        """A streaming object's final state, for a job the store knows (False: not one of its jobs).

        An upsert by (job, input), so a replayed final event changes nothing; the job closes as done once no
        object is pending. The check runs after this write committed, so of two hops finishing a job's last
        objects at once, the later one sees none pending and closes it.
        """
        with self._session() as session:
            if session.get(Job, job_id) is None:
                return False
        self.record_object(job_id, line)
        with self._session.begin() as session:
            pending = session.scalar(select(func.count()).where(JobObject.job_id == job_id,
                                                                JobObject.status == "pending"))
            if not pending:
                session.execute(update(Job).where(Job.id == job_id, Job.state.in_(("queued", "running")))
                                .values(state="done", finished_at=_now()))
        return True

    def decide_object(self, job_id: str, input_id: str, status: str, reason: str, output: str,
                      confidence: float | None = None) -> None:
        """A reviewer's decision on a held object: its final state, reason and where its output now is."""
        values: dict[str, Any] = {"status": status, "reason": reason, "output": output, "finished_at": _now()}
        if confidence is not None:
            values["confidence"] = confidence
        with self._session.begin() as session:
            session.execute(update(JobObject).where(JobObject.job_id == job_id, JobObject.input_id == input_id)
                            .values(**values))

    def finish_job(self, job_id: str, state: str = "done", reason: str = "") -> None:
        """Close a job; a failed one's undecided objects become errors with its reason, so none is lost."""
        if state not in ("done", "failed"):
            raise ValueError(f"a job finishes as done or failed, not {state}")
        with self._session.begin() as session:
            if state == "failed":
                session.execute(update(JobObject)
                                .where(JobObject.job_id == job_id, JobObject.status == "pending")
                                .values(status="error", reason=f"job-failed: {reason}", finished_at=_now()))
            session.execute(update(Job).where(Job.id == job_id)
                            .values(state=state, reason=reason, finished_at=_now()))

    def bulk_objects(self, job_id: str, rows: Sequence[Mapping[str, Any]]) -> None:
        """Many decided objects at once (the bench fills a job this way; runners use ``record_object``)."""
        with self._session.begin() as session:
            start = session.scalar(select(func.max(JobObject.seq)).where(JobObject.job_id == job_id)) or 0
            session.execute(JobObject.__table__.insert(), [  # type: ignore[attr-defined]
                {"job_id": job_id, "seq": start + i, "input_id": r["input_id"], "status": r["status"],
                 "reason": r.get("reason", ""), "confidence": r.get("confidence"), "format": r.get("format", ""),
                 "duration_s": r.get("duration_s"), "output": r.get("output", ""),
                 "sweep_hits": r.get("sweep_hits", 0), "finished_at": _now()} for i, r in enumerate(rows, 1)])
            session.execute(update(Job).where(Job.id == job_id).values(total=start + len(rows)))

    # --- reading ----------------------------------------------------------------------------------------

    def job(self, job_id: str) -> JobView:
        with self._session() as session:
            views = self._views(session, select(Job).where(Job.id == job_id))
        if not views:
            raise JobNotFound(job_id)
        return views[0]

    def jobs(self, limit: int = 50, offset: int = 0, states: Sequence[str] = (), actor: str | None = None
             ) -> list[JobView]:
        """Newest first; ``actor``: only the jobs that caller submitted."""
        query = select(Job).order_by(Job.created_at.desc(), Job.id).limit(limit).offset(offset)
        if states:
            query = query.where(Job.state.in_(states))
        if actor is not None:
            query = query.where(Job.actor == actor)
        with self._session() as session:
            return self._views(session, query)

    def objects(self, job_id: str) -> list[ObjectView]:
        columns = (JobObject.seq, JobObject.input_id, JobObject.status, JobObject.reason, JobObject.confidence,
                   JobObject.format, JobObject.duration_s, JobObject.output, JobObject.sweep_hits,
                   JobObject.finished_at)
        # A plain connection, not an ORM session: a 10,000-row report reads in a third of the time.
        with self.engine.connect() as connection:
            rows = connection.execute(select(*columns).where(JobObject.job_id == job_id).order_by(JobObject.seq))
            return [ObjectView(*row[:9], _utc(row[9])) for row in rows]

    def _views(self, session: Session, query: Any) -> list[JobView]:
        found = list(session.scalars(query))
        if not found:
            return []
        ids = [job.id for job in found]
        counts: dict[str, dict[str, int]] = {job_id: dict.fromkeys(OBJECT_STATES, 0) for job_id in ids}
        for job_id, status, n in session.execute(
                select(JobObject.job_id, JobObject.status, func.count())
                .where(JobObject.job_id.in_(ids)).group_by(JobObject.job_id, JobObject.status)):
            counts[job_id][status] = n
        versions = {v.id: v for v in session.scalars(
            select(ProfileVersion).where(ProfileVersion.id.in_({job.profile_version_id for job in found})))}
        return [JobView(job.id, job.state, job.runner, job.source, versions[job.profile_version_id].name,
                        versions[job.profile_version_id].digest, job.redaction, job.total, job.reason,
                        _utc(job.created_at) or _now(), _utc(job.started_at), _utc(job.finished_at),
                        counts[job.id], job.actor or "") for job in found]


def _sqlite_pragmas(connection: Any, _record: Any) -> None:
    # WAL: readers (the API) never wait for the writer (a runner recording an object), nor it for them.
    cursor = connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()
