"""Audit trail: who did what, to which ids, when, with what outcome. Never a PHI value.

Call :func:`record_audit` from any command that submits, reads an output, decides a review, looks up or
exports the crosswalk, changes a profile or rotates a key::

    record_audit("crosswalk.lookup", "ok", actor=who, targets={"pseudonym": "PG…"}, detail={"matches": 1})

Each event goes to every configured sink: an append-only JSONL file (always; ``O_APPEND``, created 0600,
``PIXELGUARD_AUDIT_FILE`` or ``~/.local/share/pixelguard/audit.jsonl``) and the ``audit`` topic when a
Kafka bootstrap is given (``PIXELGUARD_KAFKA_BOOTSTRAP``). A sink that fails raises :class:`AuditError`:
an access that cannot be recorded must not happen, so callers record *before* they reveal anything.

What keeps PHI out: targets and details accept only ids, counts and our own words, checked by
:func:`_check_value` (a character set that excludes names with spaces or ``^``, at most 128 characters).
The check cannot tell an MRN from an opaque id, so callers pass opaque ids (``input_id``, pseudonyms, new
UIDs, job ids), never originals.
"""
from __future__ import annotations

import getpass
import json
import os
import re
import socket
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from streams.schemas import described
from streams.topics import topic_name

if TYPE_CHECKING:
    from confluent_kafka import Producer

SCHEMA_VERSION = 1
ACTIONS = frozenset({
    "submit", "output.read", "review.decision", "crosswalk.lookup", "crosswalk.export",
    "profile.change", "key.rotate", "crosswalk.setup", "job.read", "report.read",
    "login", "audit.read", "access.denied",
})
OUTCOMES = frozenset({"ok", "denied", "not-found", "error"})
_NAME = re.compile(r"^[a-z][a-z0-9_.-]{0,63}$")
_VALUE = re.compile(r"^[A-Za-z0-9._:@/+=#-]{0,128}$")


class AuditError(RuntimeError):
    """An audit event could not be recorded (or was refused as unsafe); the access must not proceed."""


def _check_value(where: str, value: object) -> object:
    if isinstance(value, bool | int | float) or value is None:
        return value
    if isinstance(value, str) and _VALUE.match(value):
        return value
    # Say where, never echo the value: it may be exactly the PHI we are keeping out.
    raise AuditError(f"audit {where}: only ids, counts and short codes are allowed (no spaces, ^ or free text)")


@dataclass(frozen=True)
class AuditEvent:
    """Who did what, to which ids, when, with what outcome; never a PHI value."""

    action: str = field(metadata=described("What was done: " + ", ".join(sorted(ACTIONS)) + "."))
    outcome: str = field(metadata=described("How it ended.", enum=sorted(OUTCOMES)))
    actor: str = field(metadata=described("Who: a Vault identity or `os:<user>`."))
    targets: dict[str, str] = field(default_factory=dict, metadata=described(
        "Which objects: opaque ids only (input_id, pseudonyms, new UIDs)."))
    job_id: str | None = field(default=None, metadata=described("The job, when the action concerns one."))
    detail: dict[str, object] = field(default_factory=dict, metadata=described("Counts and short codes."))
    at: str = field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="milliseconds"),
                    metadata=described("When: ISO 8601, UTC."))
    event_id: str = field(default_factory=lambda: uuid.uuid4().hex, metadata=described("Unique id of this event."))
    host: str = field(default_factory=socket.gethostname, metadata=described("The machine that recorded it."))
    v: int = field(default=SCHEMA_VERSION, metadata=described("Schema version (major)."))

    def __post_init__(self) -> None:
        if not _NAME.match(self.action):
            raise AuditError("audit action must be a short lower-case name")
        if self.outcome not in OUTCOMES:
            raise AuditError(f"audit outcome must be one of {sorted(OUTCOMES)}")
        _check_value("actor", self.actor)
        _check_value("job_id", self.job_id)
        for name, value in {**self.targets, **self.detail}.items():
            if not _NAME.match(name):
                raise AuditError("audit field names must be short lower-case names")
            _check_value(name, value)

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True, separators=(",", ":"))


class AuditSink(Protocol):
    def write(self, event: AuditEvent) -> None: ...


def default_audit_file() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(os.environ.get("PIXELGUARD_AUDIT_FILE", Path(base) / "pixelguard" / "audit.jsonl")).expanduser()


class JsonlAuditSink:
    """Append-only file: opened ``O_APPEND`` for every event, one ``write`` per line, never truncated."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def write(self, event: AuditEvent) -> None:
        line = (event.to_json() + "\n").encode()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        except OSError as err:
            raise AuditError(f"audit file {self.path} cannot be opened ({err.strerror})") from None
        try:
            if os.fstat(fd).st_mode & 0o077:
                raise AuditError(f"audit file {self.path} is readable by others; chmod 600 it")
            # One write of the whole line: O_APPEND makes concurrent writers land whole lines, in turn.
            if os.write(fd, line) != len(line):
                raise AuditError(f"audit file {self.path}: short write")
        finally:
            os.close(fd)


class KafkaAuditSink:
    """The ``audit`` topic; each event is acknowledged (``acks=all``) before ``write`` returns."""

    def __init__(self, bootstrap: str, topic: str | None = None, timeout_s: float = 15.0) -> None:
        self.bootstrap = bootstrap
        self.topic = topic or topic_name("audit")
        self.timeout_s = timeout_s
        self._producer: Producer | None = None  # made on first write: a command that fails earlier never dials Kafka

    def write(self, event: AuditEvent) -> None:
        from confluent_kafka import Producer

        if self._producer is None:
            self._producer = Producer({"bootstrap.servers": self.bootstrap, "enable.idempotence": True,
                                       "acks": "all"})
        errors: list[str] = []
        self._producer.produce(self.topic, key=event.action.encode(), value=event.to_json().encode(),
                               on_delivery=lambda err, _msg: errors.append(err.name()) if err else None)
        if self._producer.flush(self.timeout_s) or errors:
            raise AuditError(f"audit topic {self.topic}: event not acknowledged ({', '.join(errors) or 'timeout'})")


class AuditLog:
    def __init__(self, sinks: Sequence[AuditSink]) -> None:
        if not sinks:
            raise AuditError("an audit log needs at least one sink")
        self.sinks = list(sinks)

    @classmethod
    def from_env(cls, audit_file: Path | None = None, bootstrap: str | None = None) -> AuditLog:
        sinks: list[AuditSink] = [JsonlAuditSink(audit_file or default_audit_file())]
        bootstrap = bootstrap or os.environ.get("PIXELGUARD_KAFKA_BOOTSTRAP")
        if bootstrap:
            sinks.append(KafkaAuditSink(bootstrap))
        return cls(sinks)

    def record(self, event: AuditEvent) -> AuditEvent:
        for sink in self.sinks:
            sink.write(event)
        return event


def local_actor() -> str:
    """The OS user, for commands that run without a Vault identity (embedded mode)."""
    try:
        return f"os:{getpass.getuser()}"
    except (KeyError, OSError):
        return f"os:uid{os.getuid()}"


def record_audit(action: str, outcome: str, *, actor: str | None = None,
                 targets: Mapping[str, str] | None = None, job_id: str | None = None,
                 detail: Mapping[str, object] | None = None, log: AuditLog | None = None) -> AuditEvent:
    """Build, check and record one event on ``log`` (default: :meth:`AuditLog.from_env`); raises AuditError."""
    event = AuditEvent(action=action, outcome=outcome, actor=actor or local_actor(), targets=dict(targets or {}),
                       job_id=job_id, detail=dict(detail or {}))
    return (log or AuditLog.from_env()).record(event)


def profile_digest(profile) -> str:
    """A digest of what a profile does (its resolved actions and settings), not of how its file is spelt."""
    import hashlib

    resolved = {
        "options": list(profile.options), "actions": sorted(profile.actions.items()),
        "repeating": sorted((f"{g}:{e}", a) for (g, e), a in profile.repeating.items()),
        "public": profile.public_not_in_table, "redaction": profile.redaction,
        "threshold": profile.review_threshold, "private": profile.private_action,
        "private_overrides": sorted((f"{g}:{c}:{e}", a) for (g, c, e), a in profile.private_overrides.items()),
        "max_age": profile.max_age_years,
    }
    return hashlib.sha256(json.dumps(resolved, sort_keys=True, default=str).encode()).hexdigest()[:16]


def record_profile_use(profile, log: AuditLog | None = None, audit_file: Path | None = None) -> bool:
    """Record a ``profile.change`` when a profile is used with a definition other than the one last recorded.

    Profiles are files a user can edit between runs; the audit file remembers the digest each profile had
    when last used, so the first run after an edit leaves a trace (who ran it, old and new digest).
    """
    path = audit_file or default_audit_file()
    digest, previous = profile_digest(profile), "none"
    if path.exists():
        with open(path) as handle:
            for line in handle:
                if '"profile.change"' not in line:
                    continue
                event = json.loads(line)
                if event.get("targets", {}).get("profile") == profile.name and event.get("outcome") == "ok":
                    previous = str(event.get("detail", {}).get("digest", "none"))
    if previous == digest:
        return False
    record_audit("profile.change", "ok", targets={"profile": profile.name},
                 detail={"digest": digest, "previous": previous},
                 log=log or AuditLog.from_env(audit_file=path))
    return True
