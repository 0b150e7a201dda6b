"""Job status, trace lookup and review decisions over the topics (plain functions behind the CLI)."""
from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass

from .events import ObjectEvent
from .reader import Read, scan
from .topics import FINAL_TOPICS, topic_name

_FINAL = {"clean": "clean", "review": "review", "errors": "error"}


def final_states(bootstrap: str, prefix: str, job_id: str | None = None) -> dict[str, Read]:
    """Latest final event per (job, input) across clean, review and errors (a review decision wins)."""
    latest: dict[str, Read] = {}
    for read in scan(bootstrap, [topic_name(t, prefix) for t in FINAL_TOPICS]):
        if read.event is None or (job_id and read.event.job_id != job_id):
            continue
        key = read.event.dedupe_key
        current = latest.get(key)
        if current is None or (read.event.decided_by.startswith("review:") and
                               not current.event.decided_by.startswith("review:")):  # type: ignore[union-attr]
            latest[key] = read
    return latest


@dataclass
class JobStatus:
    job_id: str
    submitted: int
    counts: Counter[str]

    @property
    def in_flight(self) -> int:
        return self.submitted - sum(self.counts.values())


def job_status(bootstrap: str, prefix: str, job_id: str) -> JobStatus:
    submitted = {r.event.input_id for r in scan(bootstrap, [topic_name("ingest", prefix)])
                 if r.event is not None and r.event.job_id == job_id}
    counts: Counter[str] = Counter()
    for read in final_states(bootstrap, prefix, job_id).values():
        event = read.event
        assert event is not None
        status = _FINAL.get(read.topic.rsplit(".", 1)[-1], "error")
        if status == "review" and event.decided_by.startswith("review:"):
            status = "review"  # (cannot happen: decisions go to clean/errors)
        counts[status] += 1
    return JobStatus(job_id, len(submitted), counts)


def find(bootstrap: str, prefix: str, ident: str) -> Read | None:
    """The latest event naming ``ident`` as its output id or input id: final topics first, then earlier ones."""
    found: Read | None = None
    for read in scan(bootstrap, [topic_name(t, prefix) for t in FINAL_TOPICS]):
        if read.event is not None and ident in (read.event.output_id, read.event.input_id):
            found = read
    if found is None:
        for read in scan(bootstrap, [topic_name(t, prefix) for t in ("routing", "scrubbed", "parsed", "ingest")]):
            if read.event is not None and ident in (read.event.output_id, read.event.input_id):
                found = read
    return found


def trace_id(read: Read) -> str:
    carrier = read.event.trace if read.event is not None and read.event.trace else read.headers
    parts = carrier.get("traceparent", "").split("-")
    return parts[1] if len(parts) == 4 else ""


def pending_reviews(bootstrap: str, prefix: str, job_id: str | None = None) -> list[Read]:
    return [r for r in final_states(bootstrap, prefix, job_id).values() if r.topic == topic_name("review", prefix)]


_PHI_LIKE = re.compile(r"\d{5,}|\b\d{1,4}[-/.]\d{1,2}[-/.]\d{1,4}\b|\^")


def check_reason(reason: str) -> str:
    """A reviewer's reason goes into an event: refuse what looks like an identifier, a date or a DICOM name."""
    reason = " ".join(reason.split())
    if not reason or len(reason) > 200 or _PHI_LIKE.search(reason):
        raise ValueError("the reason must be 1-200 characters of your own words, without IDs, dates or names")
    return reason


def decision_event(pending: ObjectEvent, approve: bool, actor: str, reason: str, uri: str) -> ObjectEvent:
    if approve:
        return pending.next("clean", status="clean", reason=f"approved by reviewer: {pending.reason}"[:400],
                            object_uri=uri, decided_by=f"review:{actor}")
    return pending.next("errors", status="error", error_code="rejected", reason=f"rejected: {reason}",
                        object_uri="", decided_by=f"review:{actor}")
