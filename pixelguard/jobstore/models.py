"""The job store's tables (the migrations in ``migrations/versions`` create them; keep both in step)."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, Float, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


class ProfileVersion(Base):
    """One definition of a profile, by the digest of what it does (``audit.profile_digest``)."""

    __tablename__ = "profile_versions"
    __table_args__ = (UniqueConstraint("name", "digest", name="uq_profile_versions_name_digest"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(128))
    digest: Mapped[str] = mapped_column(String(64))
    first_used: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class Job(Base):
    __tablename__ = "jobs"
    __table_args__ = (Index("ix_jobs_created_at", "created_at"),)

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    state: Mapped[str] = mapped_column(String(16))  # queued, running, done, failed
    runner: Mapped[str] = mapped_column(String(16))  # embedded (kafka later)
    source: Mapped[str] = mapped_column(String(16))  # api or cli: who created it
    actor: Mapped[str] = mapped_column(String(128), default="")  # who submitted it (an id), for "own jobs"
    profile_version_id: Mapped[int] = mapped_column(ForeignKey("profile_versions.id"))
    redaction: Mapped[str] = mapped_column(String(8), default="")
    total: Mapped[int] = mapped_column(Integer, default=0)
    reason: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class JobObject(Base):
    """One input of a job, by its opaque input id; ``pending`` until the runner decides it."""

    __tablename__ = "job_objects"
    __table_args__ = (
        UniqueConstraint("job_id", "input_id", name="uq_job_objects_job_input"),
        Index("ix_job_objects_job_status", "job_id", "status"),
        Index("ix_job_objects_job_seq", "job_id", "seq"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    job_id: Mapped[str] = mapped_column(ForeignKey("jobs.id"))
    seq: Mapped[int] = mapped_column(Integer)
    input_id: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16))  # pending, clean, review, error
    reason: Mapped[str] = mapped_column(Text, default="")
    confidence: Mapped[float | None] = mapped_column(Float, nullable=True)
    format: Mapped[str] = mapped_column(String(16), default="")
    duration_s: Mapped[float | None] = mapped_column(Float, nullable=True)
    output: Mapped[str] = mapped_column(String(256), default="")
    sweep_hits: Mapped[int] = mapped_column(Integer, default=0)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class ReviewEvent(Base):
    """A reviewer's act on a held object: a redo with boxes, an approval or a rejection, in order."""

    __tablename__ = "review_events"
    __table_args__ = (Index("ix_review_events_job_input", "job_id", "input_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    job_id: Mapped[str] = mapped_column(ForeignKey("jobs.id"))
    input_id: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(16))  # redo, approve, reject
    actor: Mapped[str] = mapped_column(String(128))
    reason: Mapped[str] = mapped_column(Text, default="")  # the reviewer's reason (reject) or the redo's outcome
    detail: Mapped[str] = mapped_column(Text, default="{}")  # JSON: boxes asked for, regions, status, confidence
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class CustomProfile(Base):
    """One version of a custom profile (extends + options + overrides); a change adds a row, never edits one."""

    __tablename__ = "custom_profiles"
    __table_args__ = (UniqueConstraint("name", "version", name="uq_custom_profiles_name_version"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(64))
    version: Mapped[int] = mapped_column(Integer)
    digest: Mapped[str] = mapped_column(String(64))  # audit.profile_digest: what jobs record as the version
    body: Mapped[str] = mapped_column(Text)  # JSON of the definition as sent (validated by the loader)
    actor: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
