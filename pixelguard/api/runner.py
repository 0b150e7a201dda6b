"""Accepted jobs run on the embedded runner, one at a time, each as a ``pixelguard deid`` child process.

A child rather than a thread: the runner's worker pool forks, which is unsafe from a threaded server, and
the OCR models it loads stay out of the API's memory. The child writes the job store itself (``cli/deid.py``
records each object as it finishes); this module only starts it, waits, and closes a job the child could
not close (killed, crashed), so its undecided objects end as errors with a reason and none is lost.
``KafkaJobs`` (publish to ``ingest``, chosen by ``pixelguard api --bootstrap``) is the other implementation of
the same ``submit``/``start``/``stop``.
"""
from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import threading
from pathlib import Path

from pixelguard.core.keys import Derivations
from pixelguard.jobstore import JobNotFound, JobStore
from pixelguard.settings import Settings


class _JobQueue:
    """One thread taking accepted jobs in order; a job that faults is closed as failed, and the loop goes on."""

    name = ""

    def __init__(self, store: JobStore) -> None:
        self.store = store
        self._queue: queue.Queue[str | None] = queue.Queue()
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()

    def submit(self, job_id: str) -> None:
        self._queue.put(job_id)

    def _start_loop(self) -> None:
        self._thread = threading.Thread(target=self._loop, name=f"pixelguard-{self.name}-jobs", daemon=True)
        self._thread.start()

    def _join(self, timeout_s: float) -> None:
        self._queue.put(None)
        if self._thread is not None:
            self._thread.join(timeout_s)

    def _loop(self) -> None:
        while not self._stopping.is_set():
            job_id = self._queue.get()
            if job_id is None:
                return
            try:
                self._run(job_id)
            except Exception as exc:  # noqa: BLE001 - the loop must outlive one job: it is closed as failed
                self.store.finish_job(job_id, "failed", self._fault(exc))

    def _run(self, job_id: str) -> None:
        raise NotImplementedError

    def _fault(self, exc: Exception) -> str:
        raise NotImplementedError


class EmbeddedJobs(_JobQueue):
    name = "embedded"

    def __init__(self, settings: Settings, store: JobStore, uploads: Path, outputs: Path, logs: Path,
                 custom_profiles: Path | None = None) -> None:
        super().__init__(store)
        self.settings = settings
        self.custom_profiles = custom_profiles
        self.uploads, self.outputs, self.logs = uploads, outputs, logs
        self._child: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        # A job an API left running has no child any more: close it; queued ones go on. A `deid` run from a
        # terminal (source cli) may be running right now in its own process: not ours to close.
        for view in self.store.jobs(limit=10_000, states=("running",)):
            if view.source != "api" or view.runner != self.name:  # a Kafka job runs on the workers
                continue
            self.store.finish_job(view.job_id, "failed", "interrupted: the API stopped while the job ran; submit "
                                  "the undecided objects again")
        for view in reversed(self.store.jobs(limit=10_000, states=("queued",))):
            if view.source == "api" and view.runner == self.name:
                self._queue.put(view.job_id)
        self._start_loop()

    def stop(self, timeout_s: float = 20.0) -> None:
        self._stopping.set()
        child = self._child
        if child is not None and child.poll() is None:
            os.kill(child.pid, signal.SIGTERM)  # this job's own child, by pid
            try:
                child.wait(timeout_s)
            except subprocess.TimeoutExpired:
                os.kill(child.pid, signal.SIGKILL)
                child.wait(5)
        self._join(timeout_s)

    def _fault(self, exc: Exception) -> str:
        return f"runner fault ({exc.__class__.__name__}); see the API log"

    def _run(self, job_id: str) -> None:
        try:
            view = self.store.job(job_id)
        except JobNotFound:
            return
        jobs = self.settings.api_jobs or os.cpu_count() or 1
        profile = view.profile_name
        custom = (self.custom_profiles / profile / f"{view.profile_version}.yaml") if self.custom_profiles else None
        if custom is not None and custom.is_file():
            profile = str(custom)  # exactly the custom version the job was accepted with
        command = [sys.executable, "-m", "pixelguard.cli", "deid", str(self.uploads / job_id),
                   "--out", str(self.outputs / job_id), "--job", job_id, "--profile", profile,
                   "--key-file", str(self.settings.key_file), "--jobs", str(jobs)]
        if view.redaction:
            command += ["--redaction", view.redaction]
        env = {**os.environ, "PIXELGUARD_DATABASE_URL": self.settings.store_url}
        self.logs.mkdir(parents=True, exist_ok=True, mode=0o700)
        with open(self.logs / f"{job_id}.log", "ab") as log:
            self._child = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                           env=env)
            code = self._child.wait()
        self._child = None
        # 0: all clean, 1: some review or error; anything else may have left the job open.
        if code not in (0, 1) and self.store.job(job_id).state in ("queued", "running"):
            why = "stopped with the API" if self._stopping.is_set() else f"runner exited with code {code}"
            self.store.finish_job(job_id, "failed", f"{why}; see the job log")


class KafkaJobs(_JobQueue):
    """Accepted jobs go onto the ingest topic, through the code ``pixelguard submit`` uses.

    The job row and one ``pending`` row per object were written when the upload was accepted, so the report
    lists every object from the start; the workers' route hop records each final state (agents/jobrecord.py)
    and closes the job when none is pending. Submitting runs on one thread, in order: the upload is read from
    disk and each object copied into the configured object store under ``ingest/<job>/<input_id>``.
    """

    name = "kafka"

    def __init__(self, settings: Settings, store: JobStore, uploads: Path, derive: Derivations,
                 publish_timeout_s: float = 60.0) -> None:
        super().__init__(store)
        self.publish_timeout_s = publish_timeout_s  # how long the broker has to acknowledge a job's events
        self.settings = settings
        self.uploads = uploads
        self.derive = derive

    def start(self) -> None:
        # A queued job was accepted but never published (the API stopped first): publish it now. Publishing
        # twice is harmless: the route hop drops a second final event for the same job and input.
        for view in reversed(self.store.jobs(limit=10_000, states=("queued",))):
            if view.source == "api" and view.runner == self.name:
                self._queue.put(view.job_id)
        self._start_loop()

    def stop(self, timeout_s: float = 20.0) -> None:
        self._join(timeout_s)  # a publish under way finishes: its objects are on disk, the topic takes them

    def _fault(self, exc: Exception) -> str:
        return (f"submit to Kafka failed ({exc.__class__.__name__}); check the broker and the object store, "
                "then submit the study again")

    def _run(self, job_id: str) -> None:
        from agents import wiring
        from streams.submit import submit

        view = self.store.job(job_id)
        cfg = self.settings
        options = {"redaction": view.redaction} if view.redaction else {}
        result = submit([str(self.uploads / job_id)], bootstrap=cfg.bootstrap, prefix=cfg.prefix,
                        store=wiring.object_store(cfg), derive=self.derive, profile=view.profile_name,
                        job_id=job_id, options=options, store_options=wiring.store_options(cfg),
                        max_object_bytes=cfg.limits.max_object_bytes, timeout_s=self.publish_timeout_s)
        if result.failed:
            raise RuntimeError(f"{result.failed} objects not acknowledged by Kafka")
        self.store.mark_running(job_id)
