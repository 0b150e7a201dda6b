"""Accepted jobs run on the embedded runner, one at a time, each as a ``pixelguard deid`` child process.

A child rather than a thread: the runner's worker pool forks, which is unsafe from a threaded server, and
the OCR models it loads stay out of the API's memory. The child writes the job store itself (``cli/deid.py``
records each object as it finishes); this module only starts it, waits, and closes a job the child could
not close (killed, crashed), so its undecided objects end as errors with a reason and none is lost.
A Kafka runner (publish to ``ingest``) is the other implementation of the same ``submit``/``start``/``stop``.
"""
from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import threading
from pathlib import Path

from pixelguard.jobstore import JobNotFound, JobStore
from pixelguard.settings import Settings


class EmbeddedJobs:
    def __init__(self, settings: Settings, store: JobStore, uploads: Path, outputs: Path, logs: Path,
                 custom_profiles: Path | None = None) -> None:
        self.settings = settings
        self.custom_profiles = custom_profiles
        self.store = store
        self.uploads, self.outputs, self.logs = uploads, outputs, logs
        self._queue: queue.Queue[str | None] = queue.Queue()
        self._thread: threading.Thread | None = None
        self._child: subprocess.Popen[bytes] | None = None
        self._stopping = threading.Event()

    def start(self) -> None:
        # A job an API left running has no child any more: close it; queued ones go on. A `deid` run from a
        # terminal (source cli) may be running right now in its own process: not ours to close.
        for view in self.store.jobs(limit=10_000, states=("running",)):
            if view.source != "api":
                continue
            self.store.finish_job(view.job_id, "failed", "interrupted: the API stopped while the job ran; submit "
                                  "the undecided objects again")
        for view in reversed(self.store.jobs(limit=10_000, states=("queued",))):
            if view.source == "api":
                self._queue.put(view.job_id)
        self._thread = threading.Thread(target=self._loop, name="pixelguard-jobs", daemon=True)
        self._thread.start()

    def submit(self, job_id: str) -> None:
        self._queue.put(job_id)

    def stop(self, timeout_s: float = 20.0) -> None:
        self._stopping.set()
        self._queue.put(None)
        child = self._child
        if child is not None and child.poll() is None:
            os.kill(child.pid, signal.SIGTERM)  # this job's own child, by pid
            try:
                child.wait(timeout_s)
            except subprocess.TimeoutExpired:
                os.kill(child.pid, signal.SIGKILL)
                child.wait(5)
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
                self.store.finish_job(job_id, "failed", f"runner fault ({exc.__class__.__name__}); see the API log")

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
