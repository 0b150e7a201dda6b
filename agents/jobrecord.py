"""The route hop's record of each final state in the job store (API jobs on the Kafka runner).

Written after the hop's transaction committed, never inside it: the final topics are the record of truth and
the store is a view of them, so a store outage must neither abort nor hold up a transaction. Writes go to a
queue drained by one thread, which retries a failing store with capped exponential backoff, for as long as
the worker runs; each write is an upsert by (job, input), so a redelivered event or a retry is harmless.
What is still queued when the worker stops is dropped (logged as a count): the objects' states are in the
final topics, and ``pixelguard job status`` reads those for a Kafka job the store still shows in flight.

Which store: ``PIXELGUARD_DATABASE_URL`` when set, else the default SQLite file beside the key file only if it
already exists (the API made it); a worker with neither records nothing.
"""
from __future__ import annotations

import logging
import queue
import threading
from typing import Any

from pixelguard.settings import Settings
from streams.events import ObjectEvent, age_seconds

log = logging.getLogger("pixelguard.route.jobstore")
MAX_BACKOFF_S = 30.0


def store_url_for(settings: Settings) -> str | None:
    """The job store this worker records into, or None (see the module's note)."""
    from pixelguard.jobstore.store import sqlite_file

    if settings.database_url:
        return settings.database_url
    path = sqlite_file(settings.store_url)
    return settings.store_url if path is not None and path.exists() else None


def final_line(event: ObjectEvent) -> dict[str, Any]:
    """A final event as the store's object row: status, reason, output reference, end-to-end seconds."""
    status = event.status if event.status in ("clean", "review") else "error"
    return {"input_id": event.input_id, "status": status, "reason": event.reason, "confidence": event.confidence,
            "format": event.format, "output": event.object_uri if status != "error" else "",
            "duration_s": age_seconds(event.submitted_at), "sweep_hits": 0}


class JobRecorder:
    def __init__(self, url: str, backoff_s: float = 0.5) -> None:
        self.url = url
        self.backoff_s = backoff_s
        self._queue: queue.Queue[tuple[str, dict[str, Any]] | None] = queue.Queue()
        self._stopping = threading.Event()
        self._store: Any = None
        self.failures = 0  # store errors seen (each retried)
        self._thread = threading.Thread(target=self._loop, name="route-jobstore", daemon=True)
        self._thread.start()

    def record(self, event: ObjectEvent) -> None:
        """Never blocks: the write happens on the recorder's thread."""
        self._queue.put((event.job_id, final_line(event)))

    def pending(self) -> int:
        return self._queue.qsize()

    def stop(self, timeout_s: float = 10.0) -> None:
        """Drain what the store takes within ``timeout_s``; the rest is only in the final topics."""
        self._queue.put(None)
        self._thread.join(timeout_s)
        self._stopping.set()
        self._thread.join(2)
        left = sum(1 for item in list(self._queue.queue) if item is not None)
        if left:
            log.warning("job store: %d final states not recorded (they are in the final topics)", left)
        if self._store is not None:
            self._store.close()

    def _loop(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            delay = self.backoff_s
            while not self._write(*item):
                if self._stopping.wait(delay):
                    self._queue.put(item)  # counted as not recorded by stop()
                    return
                delay = min(delay * 2, MAX_BACKOFF_S)

    def _write(self, job_id: str, line: dict[str, Any]) -> bool:
        from pixelguard.jobstore import JobStore

        try:
            if self._store is None:
                self._store = JobStore.open(self.url)
            self._store.record_final(job_id, line)
            return True
        except Exception as exc:  # noqa: BLE001 - any store fault is retried; the state is safe in the topics
            self.failures += 1
            log.warning("job store: recording a final state failed (%s); retrying", exc.__class__.__name__)
            return False


def recorder_for(settings: Settings) -> JobRecorder | None:
    url = store_url_for(settings)
    return JobRecorder(url, backoff_s=max(0.1, settings.backoff_s)) if url else None
