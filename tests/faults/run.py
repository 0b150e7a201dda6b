"""One streaming run with a fault injected part-way, and the accounting every fault test asserts.

A run: a small corpus from the e2e harness (fake PHI burned into pixels and headers, a few bad inputs),
two workers, one job. ``wait`` injects the fault once a share of the job is decided, and acts as the
supervisor a deployment has (systemd ``Restart=always``): a worker that exits is started again and counted.
``account`` reads every final topic and checks what the user relies on: nothing lost, nothing decided
twice, no stranger, every error with a reason, and exactly one object in the store per clean event.
"""
from __future__ import annotations

import json
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from pixelguard.core.keys import Derivations
from pixelguard.keyservice.local import LocalKeyService
from streams.objectstore import open_store
from streams.reader import Read, scan
from streams.status import JobStatus, job_status
from streams.submit import SubmitResult, submit
from streams.topics import FINAL_TOPICS, ensure_topics, topic_name
from tests.streaming.harness import Corpus, Worker, dicom_text, make_corpus, stream_env, wait_for_members, worker

from . import matrix

# No decision for this long while objects are in flight: the workers are restarted as a liveness probe
# would (the stages keep nothing between events, so a restart only costs time).
STALL_S = 120.0
SMALL = dict(dicoms=14, compressed=2, images=2, niftis=1, bad=4)  # 27 objects: 23 good, 4 bad


@dataclass
class FaultRun:
    fault: str
    tmp: Path
    bootstrap: str
    store: Path | str  # a folder, or an s3:// URI (the workers and this process then need the AWS variables)
    triton_url: str = ""
    env_extra: dict[str, str] = field(default_factory=dict)
    corpus_size: dict[str, int] = field(default_factory=lambda: dict(SMALL))
    workers: list[Worker] = field(default_factory=list)
    restarts: int = 0
    stall_restarts: int = 0
    job_id: str = "job-fault"
    result: SubmitResult | None = None

    def __post_init__(self) -> None:
        self.prefix = f"fault-{uuid.uuid4().hex[:8]}"
        self.corpus: Corpus = make_corpus(self.tmp / "in", **self.corpus_size)
        self.key_file = self.tmp / "keys" / "key.json"
        self.keys = LocalKeyService.open(self.key_file)
        self.telemetry = self.tmp / "telemetry.jsonl"
        self.env = stream_env(self.tmp, self.prefix, PIXELGUARD_TELEMETRY_FILE=str(self.telemetry),
                              OTEL_METRIC_EXPORT_INTERVAL="2000", **self.env_extra)

    def start(self, count: int = 2) -> None:
        ensure_topics(self.bootstrap, self.prefix, 4)
        self.workers = [worker(self.tmp, f"w{i}", self.bootstrap, self.store, self.key_file, self.env,
                               self.triton_url) for i in range(1, count + 1)]
        for w in self.workers:
            w.start()
        self.wait_ready(count)

    def wait_ready(self, count: int, timeout_s: float = 180) -> None:
        """Submit only once every worker holds its share of the stage partitions (agents' group and the route
        hop's group both Stable with ``count`` members): objects flowing through the join rebalance can be
        stranded by Faust (see tests/faults/README.md), and that start-up flaw is not the fault under test."""
        try:
            wait_for_members(self.bootstrap, self.prefix, count, timeout_s, tick=self.supervise)
        except AssertionError as exc:
            raise AssertionError(f"{self.fault}: {exc}" + self.log_tail()) from None

    def submit(self) -> SubmitResult:
        self.result = submit([str(self.corpus.root)], bootstrap=self.bootstrap, prefix=self.prefix,
                             store=open_store(str(self.store)), derive=Derivations(self.keys.hmac),
                             profile="basic", job_id=self.job_id)
        assert self.result.submitted == self.corpus.total and self.result.failed == 0, self.result
        return self.result

    def wait(self, fault: Callable[[], None], timeout_s: float = 600,
             when: Callable[[JobStatus], bool] | None = None) -> int:
        """Run until every input is decided; call ``fault`` once a worker has begun on the good inputs (the
        first is parsed; or when ``when`` says so). Returns how many were decided when the fault began (the
        job must not have finished by then).

        Not a share of the decided inputs: the route hop decides in transactions, and with the detector on
        OpenVINO all 23 good inputs of a run went from none decided to all between two polls (cold CI, store
        outage and Triton restart). Begun-but-undecided is the window every fault here is about."""
        total = self.corpus.total
        deadline = time.monotonic() + timeout_s
        fired_at = -1
        last_decided, progress_at = -1, time.monotonic()
        while True:
            status = job_status(self.bootstrap, self.prefix, self.job_id)
            decided = sum(status.counts.values())
            if decided != last_decided:
                last_decided, progress_at = decided, time.monotonic()
            elif time.monotonic() - progress_at > STALL_S:
                self.restart_stalled()
                progress_at = time.monotonic()
            due = when(status) if when is not None else self.begun()
            if fired_at < 0 and due:
                fired_at = decided
                assert decided < total, "the job finished before the fault could be injected"
                fault()
                continue
            if status.submitted >= total and status.in_flight <= 0:
                assert fired_at >= 0, f"{self.fault}: the job finished before the fault was injected: {status}"
                return fired_at
            self.supervise()
            if time.monotonic() > deadline:
                raise AssertionError(f"{self.fault}: job not finished in {timeout_s:.0f}s: {status} "
                                     + self.log_tail())
            time.sleep(0.1 if fired_at < 0 else 1)  # a fault that never fires tests nothing

    def begun(self) -> bool:
        """A worker has parsed one of this job's inputs: the stages are running, and the pixels of all
        but a few inputs are still to be searched and written."""
        return any(r.event is not None and r.event.job_id == self.job_id
                   for r in scan(self.bootstrap, [topic_name("parsed", self.prefix)]))

    def restart_stalled(self) -> None:
        """What a liveness probe does to workers that hold in-flight objects and make no progress: restart
        them (counted apart). Events Faust dropped in a rebalance are read again from the committed offset."""
        self.stall_restarts += 1
        for w in self.workers:
            w.stop()
            w.start()

    def supervise(self) -> None:
        for w in self.workers:
            if w.proc is not None and w.proc.poll() is not None:
                self.restarts += 1
                w.start()

    def log_tail(self, chars: int = 3000) -> str:
        return "".join(f"\n--- {w.name} ---\n" + w.log.read_text(errors="replace")[-chars:] for w in self.workers)

    def stop(self) -> None:
        for w in self.workers:
            w.stop()

    def outage_handled(self, code: str, fired_at: int, row: matrix.Row, finals: list[Read], *says: str) -> None:
        """A store or server outage was felt (retried as ``code``), no object was called missing or internal
        for it, and each error it caused says what to do (every word of ``says`` in its reason)."""
        assert fired_at < row.objects and row.clean > 0, row
        assert self.retries()[code] > 0, "no worker met the outage: the fault was not exercised"
        errors = [r.event for r in finals if r.topic.endswith(".errors")]
        assert not [e for e in errors if e.error_code in ("not-found", "internal")], \
            "an outage was reported as a missing object or an internal error"
        for e in errors:
            if e.error_code == code:
                assert all(word in e.reason for word in says), e.reason
        print(f"\n{row.markdown()}  (fault at {fired_at} decided)")

    def published(self) -> list[str]:
        """The names under the store's clean/, sorted: a folder's files, or an S3 listing."""
        if isinstance(self.store, Path):
            folder = self.store / "clean"
            return sorted(p.name for p in folder.glob("*")) if folder.exists() else []
        from streams.objectstore.s3 import S3ObjectStore

        bucket = open_store(self.store)
        assert isinstance(bucket, S3ObjectStore)
        return sorted(uri.rsplit("/", 1)[1] for uri, _ in bucket.list("clean/"))

    def retries(self) -> Counter[str]:
        """Transient faults the workers retried, by code: the largest count one worker exported (a lower
        bound: counters are per process). It shows the fault was felt, not just injected."""
        seen: Counter[str] = Counter()
        if not self.telemetry.exists():
            return seen
        for line in self.telemetry.read_text(errors="replace").splitlines():
            if '"pixelguard.retries"' not in line:
                continue
            for resource in json.loads(line)["metrics"]["resource_metrics"]:
                for scope in resource["scope_metrics"]:
                    for metric in scope["metrics"]:
                        if metric["name"] != "pixelguard.retries":
                            continue
                        for point in metric["data"]["data_points"]:
                            code = point["attributes"].get("error.type", "")
                            seen[code] = max(seen[code], int(point["value"]))
        return seen

    def finals(self) -> list[Read]:
        return [r for r in scan(self.bootstrap, [topic_name(t, self.prefix) for t in FINAL_TOPICS])
                if r.event is not None and r.event.job_id == self.job_id]

    def account(self) -> tuple[matrix.Row, list[Read]]:
        """Assert the invariants every fault must keep, record the matrix row, and return it with the finals."""
        assert self.result is not None
        finals = self.finals()
        per_input = Counter(r.event.input_id for r in finals)
        submitted = set(self.result.input_ids)
        lost = submitted - set(per_input)
        strangers = set(per_input) - submitted
        duplicated = sum(n - 1 for n in per_input.values() if n > 1)
        states = Counter(r.topic.rsplit(".", 1)[1] for r in finals)
        clean = [r for r in finals if r.topic.endswith(".clean")]
        errors = [r.event for r in finals if r.topic.endswith(".errors")]
        codes = Counter(e.error_code for e in errors)
        retried = self.retries()
        row = matrix.Row(self.fault, len(submitted), len(lost), duplicated, states["clean"], states["review"],
                         states["errors"], ", ".join(f"{c} {n}" for c, n in sorted(codes.items())),
                         ", ".join(f"{c} {n}" for c, n in sorted(retried.items())) or "none",
                         f"{self.restarts} exited, {self.stall_restarts} stalled")
        matrix.record(row)
        assert not lost, f"{len(lost)} object(s) have no final event"
        assert not strangers, "a final event names an input that was never submitted"
        assert duplicated == 0, f"{duplicated} extra final event(s)"
        assert len({r.event.output_id for r in clean}) == len(clean), "two clean events share an output"
        assert all(e.reason and e.error_code for e in errors), "an error without a code or a reason"
        # The store holds exactly one object per clean event, complete (same bytes as what redact staged),
        # and no partial file is left behind under clean/.
        store = open_store(str(self.store))
        assert sorted(Path(r.event.object_uri).name for r in clean) == self.published(), "clean folder != clean events"
        staged = {r.event.input_id: r for r in clean}
        for input_id, r in staged.items():
            redacted = store.uri(f"staging/redacted/{self.job_id}/{input_id}{r.event.extension}")
            assert store.get(r.event.object_uri) == store.get(redacted), "a clean object differs from its staging"
        # Faults make workers log errors and reasons: none of it may quote the fake PHI.
        said = "".join(w.log.read_text(errors="replace") for w in self.workers)
        said += self.telemetry.read_text(errors="replace") if self.telemetry.exists() else ""
        said += "\n".join(e.reason for e in errors)
        assert not self.corpus.leaks(said), "fake PHI in a worker log, span, metric or reason"
        return row, finals


def readable_text(data: bytes, fmt: str, detector) -> str:
    """What a reader of the object can read: header values (DICOM) and the text OCR finds in its pixels.

    The in-process engine reads, not the Triton under test, so a check of a Triton run does not trust it.
    """
    import io

    import pydicom

    from pixelguard.core.pixels import decode_image, dicom_stored_frames, render_dicom, render_image

    parts: list[str] = []
    if fmt == "dicom":
        ds = pydicom.dcmread(io.BytesIO(data))
        parts.append(dicom_text(data))
        frames = render_dicom(ds, dicom_stored_frames(ds)) if "PixelData" in ds else []
    elif fmt in ("png", "jpeg"):
        frames = [render_image(decode_image(data)[0])]
    else:
        return ""
    if frames:
        parts += [region.text for regions in detector.ocr(frames) for region in regions]
    return "\n".join(parts)
