"""Through a real broker and worker: every event that fails its schema, at a stage's input or at the route
hop's, ends in ``errors`` once, with a reason that names the field and what to do and quotes no value; a
stored v1 event is still read as an event, not refused."""
from __future__ import annotations

import json
import time
import uuid
from pathlib import Path

from confluent_kafka import Producer

from pixelguard.keyservice.local import LocalKeyService
from streams.events import SCHEMA_VERSION, ObjectEvent, now_iso
from streams.reader import Read, scan
from streams.topics import ensure_topics, topic_name

from .harness import stream_env, worker

JOB = "job-contract"
PHI_LIKE = "QUIXOTE^ZELDA"


def event(input_id: str, **fields: object) -> bytes:
    doc = json.loads(ObjectEvent(JOB, input_id, "basic", now_iso(), "ingest").to_bytes())
    doc.update(fields)
    return json.dumps({k: v for k, v in doc.items() if v is not ...}).encode()


def wait_for_errors(bootstrap: str, prefix: str, count: int, timeout_s: float, proc) -> list[Read]:
    deadline = time.monotonic() + timeout_s
    while True:
        found = list(scan(bootstrap, [topic_name("errors", prefix)]))
        if len(found) >= count:
            time.sleep(3)  # anything more (a duplicate) would have landed by now
            return list(scan(bootstrap, [topic_name("errors", prefix)]))
        assert proc.poll() is None, f"worker exited with {proc.returncode}"
        assert time.monotonic() < deadline, f"{len(found)} of {count} events in errors after {timeout_s}s"
        time.sleep(1)


def test_events_that_fail_their_schema_go_to_errors_with_a_reason(kafka, tmp_path: Path) -> None:
    prefix = f"contract-{uuid.uuid4().hex[:8]}"
    key_file = tmp_path / "keys" / "key.json"
    LocalKeyService.open(key_file)
    ensure_topics(kafka.bootstrap, prefix, 2)
    env = stream_env(tmp_path, prefix, PIXELGUARD_PARTITIONS="2", PIXELGUARD_CROSSWALK="none")
    w = worker(tmp_path, "contract1", kafka.bootstrap, tmp_path / "store", key_file, env, concurrency=1)
    stored_v1 = (Path(__file__).with_name("contracts") / "object-event.v1.ingest-flagged.json").read_bytes()
    sent = {
        # at a stage agent's input (parse reads ingest)
        ("ingest", "in-0a0a0a0a0a0a0a0a0a01"): event("in-0a0a0a0a0a0a0a0a0a01", confidence=PHI_LIKE),
        ("ingest", "in-0a0a0a0a0a0a0a0a0a02"): event("in-0a0a0a0a0a0a0a0a0a02", v=SCHEMA_VERSION + 1),
        ("ingest", "not-json"): PHI_LIKE.encode(),
        ("ingest", "in-flagged-v1"): stored_v1,  # compatible: read, and routed by its own error
        # at the route hop's input
        ("routing", "in-0a0a0a0a0a0a0a0a0a03"): event("in-0a0a0a0a0a0a0a0a0a03", stage=..., status="error"),
    }
    w.start()
    try:
        producer = Producer({"bootstrap.servers": kafka.bootstrap, "acks": "all"})
        for (topic, key), body in sent.items():
            producer.produce(topic_name(topic, prefix), key=key.encode(), value=body)
        assert producer.flush(30) == 0
        errors = wait_for_errors(kafka.bootstrap, prefix, len(sent), 300, w.proc)
    finally:
        w.stop()

    assert all(r.event is not None for r in errors), "an errors event must itself meet the contract"
    by_input = {r.event.input_id: r.event for r in errors if r.event is not None}
    assert len(by_input) == len(errors) == len(sent), [r.event.input_id for r in errors if r.event]
    everything = "\n".join(r.event.to_bytes().decode() for r in errors if r.event is not None)
    assert "QUIXOTE" not in everything and "ZELDA" not in everything

    wrong = by_input["in-0a0a0a0a0a0a0a0a0a01"]
    assert (wrong.job_id, wrong.status, wrong.error_code, wrong.decided_by) == (JOB, "error", "poison", "route")
    assert "field 'confidence' must be number or null, not string" in wrong.reason
    assert "Fix the producer" in wrong.reason
    future = by_input["in-0a0a0a0a0a0a0a0a0a02"]
    assert future.job_id == JOB and future.error_code == "poison"
    assert (f"schema version {SCHEMA_VERSION + 1} is newer than this worker reads ({SCHEMA_VERSION}): "
            "upgrade the workers") in future.reason
    (garbage,) = [e for i, e in by_input.items() if i.startswith("poison-")]
    assert garbage.job_id == "unknown" and "message body is not JSON" in garbage.reason
    assert garbage.stats["message"].startswith(f"{topic_name('ingest', prefix)}-")  # where the message is
    no_stage = by_input["in-0a0a0a0a0a0a0a0a0a03"]
    assert no_stage.error_code == "poison" and "missing required field(s) 'stage'" in no_stage.reason

    flagged = by_input["in-flagged-v1"]
    assert (flagged.error_code, flagged.reason) == ("unreadable", "unreadable: permission denied")
