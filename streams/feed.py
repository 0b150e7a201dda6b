"""The Orthanc feed adapter: follow ``/changes`` and submit each study once it is stable.

Orthanc numbers every change (``Seq``); a ``StableStudy`` change says a study has had no new instance for
``StableAge`` seconds. The adapter reads the changes after its cursor, page by page, and for each stable
study submits ``dicomweb://HOST:PORT/ROOT/studies/UID`` (WADO-RS, ``streams/sources.py``) as its own job.

Nothing missed: the cursor (``Cursor``, a state file replaced atomically) moves past a change only after the
study's submit was acknowledged by Kafka; a submit that fails (PACS or Kafka down) is retried, the cursor
stays. Nothing submitted twice: a crash between the acknowledgement and the cursor save replays that one
change, and the replay is idempotent because the job id is derived from the study (keyed HMAC) and each
input id from its instance's URL, so the route hop, which keeps one final event per (job, input), drops
the repeat. The study UID never leaves this process: logs and events carry the job id only.
"""
from __future__ import annotations

import json
import logging
import os
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from .dicomweb import DicomWebUnavailable

log = logging.getLogger("pixelguard.feed")
PAGE = 100
STABLE_STUDY = "StableStudy"


@dataclass(frozen=True)
class Change:
    seq: int
    kind: str  # Orthanc's ChangeType
    resource: str  # Orthanc's own id of the resource (a hash; not a DICOM UID)


class Cursor:
    """The last change handled, in a small JSON file replaced atomically (write, fsync, rename, fsync dir)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def load(self) -> int:
        try:
            doc = json.loads(self.path.read_text())
        except FileNotFoundError:
            return 0
        except (OSError, ValueError):
            raise ValueError(f"feed: the cursor file {self.path} cannot be read; fix or delete it (deleting "
                             "replays every change; replays are dropped as duplicates)") from None
        last = doc.get("last") if isinstance(doc, dict) else None
        if not isinstance(last, int) or last < 0:
            raise ValueError(f"feed: the cursor file {self.path} holds no change number; fix or delete it")
        return last

    def save(self, last: int) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        scratch = self.path.with_name(self.path.name + ".tmp")
        with open(scratch, "w") as handle:
            json.dump({"last": last}, handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(scratch, self.path)
        folder = os.open(self.path.parent, os.O_RDONLY)
        try:
            os.fsync(folder)
        finally:
            os.close(folder)


class OrthancChanges:
    """Orthanc's REST API: the change log and a study's UID (Orthanc-specific; DICOMweb has no change log)."""

    def __init__(self, url: str, timeout_s: float = 30.0) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("feed: --url must be the Orthanc server's http://HOST:PORT")
        self.url = url.rstrip("/")
        self.where = f"{parts.hostname}:{parts.port or 80}"
        self.timeout_s = timeout_s

    def _get(self, path: str) -> dict[str, object]:
        try:
            with urllib.request.urlopen(self.url + path, timeout=self.timeout_s) as resp:  # our configured server
                doc = json.loads(resp.read())
        except urllib.error.HTTPError as exc:
            raise DicomWebUnavailable(f"Orthanc {self.where} answered HTTP {exc.code}; check --url") from None
        except (OSError, ValueError) as exc:
            raise DicomWebUnavailable(f"Orthanc {self.where} could not be reached ({exc.__class__.__name__}); "
                                      "start it or fix --url; the feed retries") from None
        return doc if isinstance(doc, dict) else {}

    def page(self, since: int, limit: int = PAGE) -> tuple[list[Change], int, bool]:
        doc = self._get(f"/changes?since={since}&limit={limit}")
        raw = doc.get("Changes")
        changes = [Change(int(c["Seq"]), str(c.get("ChangeType", "")), str(c.get("ID", "")))
                   for c in (raw if isinstance(raw, list) else []) if isinstance(c, dict) and "Seq" in c]
        last = doc.get("Last")
        return changes, int(last) if isinstance(last, int) else since, bool(doc.get("Done", True))

    def study_uid(self, resource: str) -> str | None:
        """The StudyInstanceUID of Orthanc's study ``resource``; None when it was deleted since."""
        try:
            doc = self._get(f"/studies/{resource}")
        except DicomWebUnavailable:
            if self._exists(resource):
                raise
            return None
        tags = doc.get("MainDicomTags")
        uid = tags.get("StudyInstanceUID") if isinstance(tags, dict) else None
        return uid if isinstance(uid, str) and uid else None

    def _exists(self, resource: str) -> bool:
        try:
            with urllib.request.urlopen(f"{self.url}/studies/{resource}", timeout=self.timeout_s):
                return True
        except urllib.error.HTTPError as exc:
            return exc.code != 404
        except OSError:
            return True  # cannot tell: the caller retries


SubmitStudy = Callable[[str], str]  # study UID -> job id; raises when the submit was not acknowledged


def follow(changes: OrthancChanges, cursor: Cursor, submit_study: SubmitStudy, *, poll_s: float = 2.0,
           idle_exit_s: float | None = None, stop: threading.Event | None = None,
           on_submitted: Callable[[str], None] | None = None) -> int:
    """Submit every stable study after the cursor, forever (or until ``stop``, or ``idle_exit_s`` with nothing
    new). Returns how many studies were submitted. Faults (PACS or Kafka down) are retried after ``poll_s``;
    with ``idle_exit_s``, one that lasts that long is raised (the cursor stays where it was)."""
    stop = stop or threading.Event()
    since = cursor.load()
    submitted = 0
    idle_since = time.monotonic()
    while not stop.is_set():
        try:
            batch, last, done = changes.page(since)
            for change in batch:
                if change.kind == STABLE_STUDY:
                    uid = changes.study_uid(change.resource)
                    if uid is not None:  # deleted since it became stable: nothing to submit
                        job = submit_study(uid)
                        submitted += 1
                        if on_submitted is not None:
                            on_submitted(job)
                # Only now, after the acknowledgement: a crash before this line replays the change.
                cursor.save(change.seq)
                since = change.seq
            if last > since and done:
                cursor.save(last)  # the tail held no change of ours
                since = last
        except (DicomWebUnavailable, SubmitFailed) as exc:
            log.warning("feed: %s; retrying in %.0fs", exc, poll_s)
            if idle_exit_s is not None and time.monotonic() - idle_since >= idle_exit_s:
                raise  # a bounded run ends on the fault, the cursor where it was: the next run retries
            stop.wait(poll_s)
            continue
        if batch:
            idle_since = time.monotonic()
        if done:
            if idle_exit_s is not None and time.monotonic() - idle_since >= idle_exit_s:
                break
            stop.wait(poll_s)
    return submitted


class SubmitFailed(RuntimeError):
    """A study's submit was not (fully) acknowledged; the cursor stays and it is submitted again."""
