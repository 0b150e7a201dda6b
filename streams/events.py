"""Versioned event records: what travels on every stage topic (JSON, ``v`` = schema version).

An event carries references and opaque ids, never pixels and never PHI values: ``object_uri`` points at the
stage's object in the object store (named by ``input_id``, an HMAC of the submitted reference), ``key`` is
the remapped StudyInstanceUID (or a keyed content id for non-DICOM), reasons are our own words. The W3C
trace context travels both in the Kafka headers (``traceparent``/``tracestate``) and in ``trace`` so an SRE
reading a topic dump can find the trace too.

The contract is a JSON Schema per version, generated from this class (``python -m streams.schemas
--write``; ``streams/schemas/object-event.v<N>.json``, documented in ``docs/events.md``). Readers
(:meth:`ObjectEvent.from_bytes`) accept any ``v`` up to :data:`SCHEMA_VERSION`, check the body against the
schema of *its own* version and ignore unknown fields (adding an optional field keeps ``v``); a newer
version, a body that is not an event, or one that fails its schema raises :class:`PoisonEvent`, which the
agents and the route hop turn into an ``errors`` event (:func:`poison_event`) with its reason.
"""
from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field, fields, replace
from datetime import UTC, datetime
from typing import Any, TypedDict

from pixelguard.core.keys import INPUT_ID_SHAPE, ROUTING_KEY_SHAPE

from . import schemas
from .schemas import described

# v2 added ``output_format``. It is a new major version although the field has a default: a v1 worker would
# ignore it and publish the whole DICOM object where a job asked for pixel-only PNG exports, so a v1 reader
# must refuse v2 events ("upgrade the workers") rather than read them. v1 events read as output_format original.
SCHEMA_VERSION = 2
OUTPUT_FORMATS = ("original", "htj2k", "png", "jpeg")  # pixelguard.core.export.OutputFormat's values
CONTRACT = "object-event"  # its schema files: streams/schemas/object-event.v<N>.json
# What a poison event may keep from the message it replaces: opaque ids of our own shape, so the input's job
# still counts it; anything else (a value that may be PHI) is never copied.
_SAFE_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
# input_id and key have the shapes core/keys.py makes: a value of another shape (an MRN someone put there) is
# not copied, even if _SAFE_ID would pass it.
_OUR_SHAPES = {"input_id": INPUT_ID_SHAPE, "key": ROUTING_KEY_SHAPE}


class PoisonEvent(ValueError):
    """A message that is not a PixelGuard event of a version we read; the reason is safe to log.

    ``job_id``, ``input_id`` and ``key`` are the message's own when they have the shape of our ids (else
    empty), so the error event that replaces it counts against its job and stays on its study's partition.
    """

    def __init__(self, reason: str, job_id: str = "", input_id: str = "", key: str = "") -> None:
        super().__init__(reason)
        self.job_id = job_id
        self.input_id = input_id
        self.key = key


class Finding(TypedDict):
    stage: str  # the stage that found it
    reason: str  # our own words, never a value from the object


@dataclass(frozen=True)
class ObjectEvent:
    """One object at one stage: references and opaque ids, never pixels or PHI values."""

    job_id: str = field(metadata=described("The job the object was submitted in (from `pixelguard submit --job`)."))
    input_id: str = field(metadata=described("Opaque id of the submitted object (a keyed HMAC of its reference).",
                                          minLength=1))
    profile: str = field(metadata=described("Name of the de-identification profile the object is processed with."))
    submitted_at: str = field(metadata=described("When it was submitted: ISO 8601, UTC, set by submit."))
    stage: str = field(metadata=described("The stage that wrote this event: ingest, parsed, scrubbed, redacted, "
                                       "failed, clean, review or errors.", minLength=1))
    source_uri: str = field(default="", metadata=described(
        "The submitted object's copy in the object store (named by input_id, never by its path)."))
    object_uri: str = field(default="", metadata=described(
        "The object this stage hands on; on clean, the de-identified object to fetch (`file://` or `s3://`, in "
        "the output store)."))
    key: str = field(default="", metadata=described(
        "Partition key: remapped StudyInstanceUID or keyed content id, never an original identifier."))
    format: str = field(default="", metadata=described("dicom, jpeg, png or nifti once parsed; empty before."))
    output_id: str = field(default="", metadata=described(
        "The output's name: the new SOPInstanceUID (DICOM) or a keyed content id."))
    content_id: str = field(default="", metadata=described(
        "Keyed digest of the submitted bytes: a duplicate shares an output, a conflict does not."))
    extension: str = field(default="", metadata=described("The output's file extension, e.g. `.dcm`, `.nii.gz`."))
    status: str = field(default="", metadata=described(
        "Empty while in flight; clean, review or error once decided (or error when a step failed).",
        enum=["", "clean", "review", "error"]))
    reason: str = field(default="", metadata=described("Why it is not clean, in our own words; never a value."))
    error_code: str = field(default="", metadata=described("A short code for an error, e.g. `truncated`, `poison`."))
    confidence: float | None = field(default=None, metadata=described("The text search's confidence, when it ran."))
    findings: list[Finding] = field(default_factory=list, metadata=described(
        "What each stage found that holds the object for review, in our own words."))
    stats: dict[str, Any] = field(default_factory=dict, metadata=described("Counts and codes only, per stage."))
    options: dict[str, str] = field(default_factory=dict, metadata=described(
        "Run options given at submit (redaction, encoding)."))
    output_format: str = field(default="original", metadata=described(
        "What the job writes (`pixelguard submit --output-format`): `original` (the input's format; DICOM in "
        "its transfer syntax), `htj2k` (DICOM as HTJ2K lossless), `png` or `jpeg` (DICOM pixels exported, one "
        "image per frame; a ZIP of them for several frames). Since v2; a v1 event reads as `original`.",
        enum=list(OUTPUT_FORMATS)))
    trace: dict[str, str] = field(default_factory=dict, metadata=described(
        "W3C trace context (traceparent, tracestate), as in the Kafka headers."))
    decided_by: str = field(default="", metadata=described(
        "On final topics: `route`, or `review:<actor>` for a reviewer's decision."))
    v: int = field(default=SCHEMA_VERSION, metadata=described(
        "Schema version (major): readers take any version up to their own and refuse a newer one."))

    def to_bytes(self) -> bytes:
        return json.dumps(asdict(self), separators=(",", ":"), sort_keys=True).encode()

    @classmethod
    def from_bytes(cls, raw: bytes | None) -> ObjectEvent:
        """Read one event, checked against the schema of its version: every consumer's input boundary.

        The agents, the route hop and the readers of the final topics call this; a future ``deliver``
        consumer of ``clean`` must too, and send what raises :class:`PoisonEvent` to ``errors`` through
        :func:`poison_event` rather than skip it.
        """
        try:
            doc = json.loads(raw or b"")
        except (ValueError, UnicodeDecodeError):
            raise PoisonEvent("message body is not JSON; only PixelGuard events belong on this topic") from None
        if not isinstance(doc, dict):
            raise PoisonEvent("message body is not a JSON object; only PixelGuard events belong on this topic")
        ids = {name: doc[name] for name in ("job_id", "input_id", "key")
               if isinstance(doc.get(name), str) and _OUR_SHAPES.get(name, _SAFE_ID).match(doc[name])}
        version = doc.get("v")
        if not isinstance(version, int) or isinstance(version, bool) or version < 1:
            raise PoisonEvent("field 'v' (the schema version) is missing or not a positive integer; "
                              "the producer must write events by docs/events.md", **ids)
        if version > SCHEMA_VERSION:
            raise PoisonEvent(f"schema version {version} is newer than this worker reads ({SCHEMA_VERSION}): "
                              f"upgrade the workers before producers write version {version}", **ids)
        problem = schemas.violation(doc, CONTRACT, version)
        if problem is not None:
            raise PoisonEvent(problem, **ids)
        # Upgrading an older version: v1 has no output_format, so its events read as the default (`original`:
        # their job asked for none). They keep their `v`, so the events they lead to still pass their schema.
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in doc.items() if k in known})

    def violation(self) -> str | None:
        """Why this event fails the current schema (a reason that names fields, never values), or None.

        Writers call it at a boundary they own (``submit``) before publishing; a worker's own outputs are
        made from a checked input by our code, and are checked again by the next reader.
        """
        return schemas.violation(json.loads(self.to_bytes()), CONTRACT, SCHEMA_VERSION)

    def next(self, stage: str, **changes: Any) -> ObjectEvent:
        return replace(self, stage=stage, **changes)

    @property
    def dedupe_key(self) -> str:
        """One final state per (job, input): the route hop and job status count by this."""
        return f"{self.job_id}|{self.input_id}"


def poison_event(where: str, exc: PoisonEvent) -> ObjectEvent:
    """The error event that stands for a message nobody can read, so it still ends in ``errors``.

    ``where`` is the message's topic-partition-offset, kept in ``stats["message"]`` so an operator can find
    the message itself; it stands in for the input id and key the message did not carry in our shape.
    """
    return ObjectEvent(job_id=exc.job_id or "unknown", input_id=exc.input_id or f"poison-{where}", profile="",
                       submitted_at=now_iso(), stage="failed", status="error", error_code="poison",
                       reason=f"poison: {exc}", key=exc.key or where, stats={"message": where})


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def age_seconds(iso: str) -> float:
    """Seconds since ``iso`` (for latency metrics); 0 when it cannot be read."""
    try:
        return max(0.0, (datetime.now(UTC) - datetime.fromisoformat(iso)).total_seconds())
    except ValueError:
        return 0.0
