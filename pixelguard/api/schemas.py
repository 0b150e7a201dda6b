"""Response bodies. Objects are named by opaque ids (input id, output id): never by an uploaded file name."""
from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from pixelguard.jobstore import JobView, ObjectView


class ProfileRef(BaseModel):
    name: str
    version: str = Field(description="Digest of what the profile does (its resolved actions and settings).")


class Counts(BaseModel):
    pending: int
    clean: int
    review: int
    error: int


class JobSummary(BaseModel):
    job_id: str
    state: str = Field(description="queued, running, done or failed")
    runner: str
    source: str = Field(description="api or cli: who created the job")
    profile: ProfileRef
    redaction: str = Field(description="The run's redaction mode; empty: the profile's own")
    total: int = Field(description="Objects accepted")
    counts: Counts
    progress: float = Field(description="Decided objects / total, 0..1")
    reason: str = Field(description="Why a failed job failed; empty otherwise")
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None

    @classmethod
    def of(cls, view: JobView) -> JobSummary:
        return cls(job_id=view.job_id, state=view.state, runner=view.runner, source=view.source,
                   profile=ProfileRef(name=view.profile_name, version=view.profile_version),
                   redaction=view.redaction, total=view.total, counts=Counts(**view.counts),
                   progress=view.progress, reason=view.reason, created_at=view.created_at,
                   started_at=view.started_at, finished_at=view.finished_at)


class JobAccepted(BaseModel):
    job_id: str
    state: str
    objects: int = Field(description="Objects accepted (an archive counts as its members)")
    status_url: str
    report_url: str


class JobList(BaseModel):
    jobs: list[JobSummary]
    limit: int
    offset: int


class ReportObject(BaseModel):
    seq: int = Field(description="Order of acceptance within the job")
    input_id: str = Field(description="Opaque id of the input (the crosswalk maps it back, for re-identifiers)")
    status: str = Field(description="pending, clean, review or error")
    reason: str
    confidence: float | None
    format: str
    duration_s: float | None
    output_id: str = Field(description="The output's new identifier; empty for an error")
    output: str = Field(description="The output's path within the job's output folder; empty for an error")
    sweep_hits: int
    finished_at: datetime | None



def report_row(obj: ObjectView) -> dict[str, object]:
    """One ``ReportObject`` as plain data: a 10,000-row report is built without a model per row (half its time)."""
    name = obj.output.rsplit("/", 1)[-1]
    return {"seq": obj.seq, "input_id": obj.input_id, "status": obj.status, "reason": obj.reason,
            "confidence": obj.confidence, "format": obj.format, "duration_s": obj.duration_s,
            "output_id": name.split(".", 1)[0] if name else "", "output": obj.output, "sweep_hits": obj.sweep_hits,
            "finished_at": obj.finished_at.isoformat() if obj.finished_at else None}


class Report(BaseModel):
    job: JobSummary
    formats: dict[str, int] = Field(description="Decided objects per format")
    output_folder: str = Field(description="Where the job's outputs are, on the API's machine")
    objects: list[ReportObject]


class FieldRow(BaseModel):
    attribute: str
    tag: str
    action: str
    meaning: str
    why: str


class ProfileSummary(BaseModel):
    name: str
    description: str
    version: str
    extends: list[str]
    options: dict[str, str]


class ProfileDetail(ProfileSummary):
    settings: dict[str, object] = Field(description="As `pixelguard profiles show` prints it")
    fields: list[FieldRow] = Field(description="Every PS3.15 Table E.1-1 row as this profile resolves it")


class ProfileList(BaseModel):
    profiles: list[ProfileSummary]


class ProfileVersionInfo(BaseModel):
    version: int
    digest: str = Field(description="What a job records as the profile version")
    created_at: datetime


class CustomProfileDetail(ProfileDetail):
    kind: str = Field(description="stored (read-only) or custom")
    number: int | None = Field(description="A custom profile's version number (1, 2, ...); null for a stored one")
    definition: dict[str, object] | None = Field(description="A custom profile's definition as last saved")
    diff: list[FieldRow] = Field(description="Rows whose action differs from the base profile's")


class Region(BaseModel):
    frame: int = Field(description="Frame index; -1: every frame (a fixed banner rule)")
    box: list[int] = Field(description="x0, y0, x1, y1 in pixels, x1 and y1 exclusive")
    score: float = Field(description="How sure the search was that this was text")
    kind: str = Field(description="filled, refilled (what a later pass found left of a filled line; not in the "
                                  "confidence), left (for a reviewer), rule or manual (a reviewer's box)")


class ReviewAct(BaseModel):
    kind: str = Field(description="redo, approve or reject")
    actor: str
    reason: str
    at: datetime


class ReviewItem(BaseModel):
    job_id: str
    input_id: str
    format: str
    status: str = Field(description="review while waiting; clean or error once decided")
    reason: str = Field(description="Why it was held")
    confidence: float | None
    regions: list[Region]
    acts: list[ReviewAct]
    redacted_preview: str
    original_preview: str


class ReviewQueue(BaseModel):
    items: list[ReviewItem]
    limit: int
    offset: int


class Decision(BaseModel):
    decision: Literal["approve", "reject"]
    reason: str = Field(default="", max_length=200, description="Required to reject: your own words, no "
                                                               "identifiers, dates or names")


class Box(BaseModel):
    frame: int = Field(ge=-1, le=100_000, description="Frame index; -1: every frame")
    x0: int = Field(ge=0, le=65_535)
    y0: int = Field(ge=0, le=65_535)
    x1: int = Field(ge=1, le=65_536)
    y1: int = Field(ge=1, le=65_536)


class Redo(BaseModel):
    boxes: list[Box] = Field(min_length=1, max_length=100, description="Boxes to fill before the search runs again")


class Decided(BaseModel):
    job_id: str
    input_id: str
    status: str


class RedoResult(BaseModel):
    job_id: str
    input_id: str
    status: str = Field(description="What the run decided this time: clean or review (it stays held until approved)")
    confidence: float
    reason: str
    regions: list[Region]
