"""Versioned event records: what travels on every stage topic (JSON, ``v`` = schema version).

An event carries references and opaque ids, never pixels and never PHI values: ``object_uri`` points at the
stage's object in the object store (named by ``input_id``, an HMAC of the submitted reference), ``key`` is
the remapped StudyInstanceUID (or a keyed content id for non-DICOM), reasons are our own words. The W3C
trace context travels both in the Kafka headers (``traceparent``/``tracestate``) and in ``trace`` so an SRE
reading a topic dump can find the trace too.

Readers accept any ``v`` up to :data:`SCHEMA_VERSION` and ignore unknown fields (forward compatible
within a major version); a newer major version or a body that is not an event raises :class:`PoisonEvent`,
which the agents send to ``errors`` with its reason.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields, replace
from datetime import UTC, datetime
from typing import Any

SCHEMA_VERSION = 1


class PoisonEvent(ValueError):
    """A message that is not a PixelGuard event of a version we read; the reason is safe to log."""


@dataclass(frozen=True)
class ObjectEvent:
    job_id: str
    input_id: str
    profile: str
    submitted_at: str  # ISO 8601 UTC, set by submit
    stage: str  # the stage that produced this event: ingest | parsed | scrubbed | redacted | clean | ...
    source_uri: str = ""  # the submitted object's copy in the store (named by input_id, never by its path)
    object_uri: str = ""  # the object this stage hands on (file:// here; s3:// later)
    key: str = ""  # partition key: remapped StudyInstanceUID or keyed content id (never an original)
    format: str = ""
    output_id: str = ""  # new SOPInstanceUID or keyed content id: the output's name
    content_id: str = ""  # keyed digest of the submitted bytes: a duplicate shares an output, a conflict does not
    extension: str = ""
    status: str = ""  # clean | review | error once decided
    reason: str = ""
    error_code: str = ""
    confidence: float | None = None
    findings: list[dict[str, str]] = field(default_factory=list)  # [{"stage":..,"reason":..}] our words
    stats: dict[str, Any] = field(default_factory=dict)  # counts and codes only
    options: dict[str, str] = field(default_factory=dict)  # run options (redaction, encoding)
    trace: dict[str, str] = field(default_factory=dict)  # W3C traceparent / tracestate
    decided_by: str = ""  # "route" or "review:<actor>" on final topics
    v: int = SCHEMA_VERSION

    def to_bytes(self) -> bytes:
        return json.dumps(asdict(self), separators=(",", ":"), sort_keys=True).encode()

    @classmethod
    def from_bytes(cls, raw: bytes | None) -> ObjectEvent:
        try:
            doc = json.loads(raw or b"")
        except (ValueError, UnicodeDecodeError):
            raise PoisonEvent("message body is not JSON") from None
        if not isinstance(doc, dict):
            raise PoisonEvent("message body is not a JSON object")
        version = doc.get("v")
        if not isinstance(version, int) or version < 1:
            raise PoisonEvent("message has no schema version field 'v'")
        if version > SCHEMA_VERSION:
            raise PoisonEvent(f"schema version {version} is newer than this worker reads ({SCHEMA_VERSION})")
        known = {f.name for f in fields(cls)}
        missing = [name for name in ("job_id", "input_id", "profile", "submitted_at", "stage") if name not in doc]
        if missing:
            raise PoisonEvent(f"event lacks required field(s) {', '.join(missing)}")
        try:
            return cls(**{k: v for k, v in doc.items() if k in known})
        except TypeError:
            raise PoisonEvent("event fields have the wrong types") from None

    def next(self, stage: str, **changes: Any) -> ObjectEvent:
        return replace(self, stage=stage, **changes)

    @property
    def dedupe_key(self) -> str:
        """One final state per (job, input): the route hop and job status count by this."""
        return f"{self.job_id}|{self.input_id}"


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def age_seconds(iso: str) -> float:
    """Seconds since ``iso`` (for latency metrics); 0 when it cannot be read."""
    try:
        return max(0.0, (datetime.now(UTC) - datetime.fromisoformat(iso)).total_seconds())
    except ValueError:
        return 0.0
