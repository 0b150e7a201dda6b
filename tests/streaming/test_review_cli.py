"""``pixelguard review`` on the real broker: show (and save, audited), approve, reject."""
from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import uuid
from pathlib import Path

from confluent_kafka import Producer

from streams.events import ObjectEvent, now_iso
from streams.objectstore.file import FileObjectStore
from streams.topics import ensure_topics, topic_name


def _cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "pixelguard.cli", *args], capture_output=True, text=True,
                          env=env, timeout=300)


def test_review_show_save_approve_and_reject_are_audited(kafka, tmp_path: Path) -> None:
    prefix = f"t{uuid.uuid4().hex[:8]}"
    ensure_topics(kafka.bootstrap, prefix, 2)
    store = FileObjectStore(tmp_path / "store")
    producer = Producer({"bootstrap.servers": kafka.bootstrap})
    events = []
    for index in range(2):
        uri = store.put(f"review/out-{index}.png", f"pixels-{index}".encode())
        event = ObjectEvent(job_id="job-r", input_id=f"in-{index}", profile="basic", submitted_at=now_iso(),
                            stage="review", object_uri=uri, key=f"k{index}", format="png",
                            output_id=f"out-{index}", extension=".png", status="review",
                            reason="redact: low confidence")
        producer.produce(topic_name("review", prefix), key=event.key.encode(), value=event.to_bytes())
        events.append(event)
    assert producer.flush(30) == 0
    audit_file = tmp_path / "audit" / "audit.jsonl"
    env = dict(os.environ, PIXELGUARD_AUDIT_FILE=str(audit_file), PIXELGUARD_KAFKA_BOOTSTRAP=kafka.bootstrap)
    common = ["--bootstrap", kafka.bootstrap, "--prefix", prefix, "--store", str(tmp_path / "store")]

    listed = _cli("review", "list", "--job", "job-r", *common, env=env)
    assert listed.returncode == 0 and {line.split("\t")[0] for line in listed.stdout.splitlines()} == {"out-0",
                                                                                                   "out-1"}
    saved = tmp_path / "look.png"
    shown = _cli("review", "show", "out-0", "--save", str(saved), "--reviewer", "alice", *common, env=env)
    assert shown.returncode == 0, shown.stderr
    assert saved.read_bytes() == b"pixels-0" and stat.S_IMODE(saved.stat().st_mode) == 0o600

    approved = _cli("review", "approve", "out-0", "--reviewer", "alice", *common, env=env)
    assert approved.returncode == 0, approved.stderr
    refused = _cli("review", "reject", "out-1", "--reason", "MRN 0042424 visible", *common, env=env)
    assert refused.returncode == 2 and "0042424" not in refused.stderr  # a reason that looks like an ID
    rejected = _cli("review", "reject", "out-1", "--reason", "text left in the corner", "--reviewer", "bob",
                    *common, env=env)
    assert rejected.returncode == 0, rejected.stderr
    assert _cli("review", "list", "--job", "job-r", *common, env=env).stdout == ""

    audit = [json.loads(line) for line in audit_file.read_text().splitlines()]
    actions = [(e["action"], e["actor"], e["targets"].get("output_id"), e["detail"].get("decision")) for e in audit]
    assert actions == [("output.read", "alice", "out-0", None), ("review.decision", "alice", "out-0", "approve"),
                       ("review.decision", "bob", "out-1", "reject")]
    status = _cli("job", "status", "job-r", *common, env=env)  # decisions count as final states
    assert "clean=1" in status.stdout and "review=0" in status.stdout and "error=1" in status.stdout
