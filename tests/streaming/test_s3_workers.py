"""Two streaming workers that share no folder: each runs in its own working directory with its own copy of
the key file, Faust data, audit trail and telemetry file, and objects pass between them only through S3.

The feed's objects (keys named after the fake patients) are submitted with ``pixelguard submit
s3://feed/prefix/`` as a user runs it; staging goes to a work bucket, outputs to an output bucket. Every input
ends exactly once, the bad ones in errors with a reason, the outputs hold no fake PHI, and no log, event,
span, metric or audit line holds fake PHI, a feed key or the S3 secret.
"""
from __future__ import annotations

import json
import shutil
import subprocess
import uuid
from collections import Counter
from pathlib import Path

from pixelguard.keyservice.local import LocalKeyService
from pixelguard.services.base import free_port
from streams.objectstore import open_store
from streams.reader import scan
from streams.topics import FINAL_TOPICS, STAGE_TOPICS, ensure_topics, topic_name
from tests.streaming.harness import PIXELGUARD, Worker, dicom_text, stream_env, wait_for_job, wait_for_members
from tests.streaming.s3feed import OVERSIZE_LIMIT, fill


def machine(root: Path, name: str, key_file: Path, env: dict[str, str]) -> tuple[Path, dict[str, str]]:
    """A folder standing for one machine: its own key file copy, audit trail and telemetry file."""
    home = root / name
    (home / "keys").mkdir(parents=True)
    shutil.copy2(key_file, home / "keys" / "key.json")
    return home, {**env, "PIXELGUARD_AUDIT_FILE": str(home / "audit.jsonl"),
                  "PIXELGUARD_TELEMETRY_FILE": str(home / "telemetry.jsonl"), "HOME": str(home)}


def machine_workers(root: Path, key_file: Path, env: dict[str, str], names: tuple[str, ...] = ("w1", "w2")
                    ) -> list[Worker]:
    """One worker per name, each on a "machine" of its own (``machine``): nothing shared but Kafka and S3."""
    workers = []
    for name in names:
        home, wenv = machine(root, name, key_file, env)
        args = ["--key-file", str(home / "keys" / "key.json"), "--name", name, "--web-port", str(free_port()),
                "--data-dir", str(home / "faust"), "--concurrency", "2", "--threads", "2"]
        workers.append(Worker(name, args, wenv, home / "worker.log", cwd=home))
    return workers


def test_two_workers_share_nothing_but_s3(kafka, s3proxy, s3_env, s3_buckets, tmp_path: Path) -> None:
    feed_bucket, work, out = s3_buckets("feed", "work", "out")
    feed = fill(s3proxy.client(), feed_bucket, "batch/", dicoms=3, pngs=1)
    prefix = f"s3w-{uuid.uuid4().hex[:8]}"
    ensure_topics(kafka.bootstrap, prefix, 4)
    master_key = tmp_path / "key-master.json"
    LocalKeyService.open(master_key)  # one key pair, copied to each machine (what Vault's data key does)
    env = stream_env(tmp_path, prefix, OTEL_METRIC_EXPORT_INTERVAL="2000", **s3proxy.env(),
                     PIXELGUARD_KAFKA_BOOTSTRAP=kafka.bootstrap, PIXELGUARD_STORE=f"s3://{work}",
                     PIXELGUARD_OUTPUT_STORE=f"s3://{out}")
    env.pop("AWS_PROFILE", None)
    workers = machine_workers(tmp_path, master_key, env)
    submitter, senv = machine(tmp_path, "feed-host", master_key, env)
    senv["PIXELGUARD_MAX_OBJECT_BYTES"] = str(OVERSIZE_LIMIT)  # the submitter's limit: the big object is over
    try:
        for w in workers:
            w.start()
        wait_for_members(kafka.bootstrap, prefix, len(workers))  # both hold partitions before any object is sent
        sent = subprocess.run([PIXELGUARD, "submit", f"s3://{feed_bucket}/batch/", "--job", "job-s3w",
                               "--key-file", str(submitter / "keys" / "key.json")],
                              env=senv, cwd=submitter, capture_output=True, text=True, timeout=300)
        assert sent.returncode == 0, sent.stderr[-2000:]
        for _ in wait_for_job(kafka.bootstrap, prefix, "job-s3w", feed.total, 900, workers):
            pass
    finally:
        for w in workers:
            w.stop()

    finals = [r for r in scan(kafka.bootstrap, [topic_name(t, prefix) for t in FINAL_TOPICS])
              if r.event is not None and r.event.job_id == "job-s3w"]
    per_input = Counter(r.event.input_id for r in finals)
    assert len(per_input) == feed.total and max(per_input.values()) == 1, "lost or decided twice"
    by_topic = Counter(r.topic.rsplit(".", 1)[1] for r in finals)
    errors = [r.event for r in finals if r.topic.endswith(".errors")]
    assert len(errors) == len(feed.bad_keys) and all(e.error_code and e.reason for e in errors), \
        [(e.error_code, e.reason) for e in errors]
    assert by_topic["clean"] + by_topic["review"] == feed.corpus.good and by_topic["clean"] > 0, by_topic
    published = open_store(f"s3://{out}")
    leaks: list[str] = []
    for r in finals:
        if r.event.object_uri:
            assert r.event.object_uri.startswith(f"s3://{out}/"), "an output outside the output bucket"
            if r.event.format == "dicom":
                leaks += feed.corpus.leaks(dicom_text(published.get(r.event.object_uri)))
    assert not leaks, f"metadata leak check failed for {len(leaks)} values"
    # Both workers read objects from S3 (their spans say so): the run crossed processes, not one worker alone.
    # (Events are spread over 4 partitions by keyed ids; both missing from one worker's 2 is about 0.4%.)
    for home in (tmp_path / "w1", tmp_path / "w2"):
        assert '"objectstore get"' in (home / "telemetry.jsonl").read_text(errors="replace"), home.name
    # No shared folder: nothing a worker wrote holds an object (no staging, clean or review folder).
    for home in (tmp_path / "w1", tmp_path / "w2"):
        assert not [p for p in home.rglob("*") if p.name in ("staging", "clean", "review", "ingest")]

    # The PHI scan of the run: every event on every topic, the worker and submit output, spans and metrics,
    # audit trails. None may hold fake PHI, a feed key (named after patients) or the S3 secret.
    # (The audit topic carries what the audit.jsonl files below hold.)
    every_topic = [topic_name(t, prefix) for t in STAGE_TOPICS]
    said = "\n".join(json.dumps(r.event.to_bytes().decode()) for r in scan(kafka.bootstrap, every_topic) if r.event)
    said += sent.stdout + sent.stderr
    for home in (tmp_path / "w1", tmp_path / "w2", submitter):
        for name in ("worker.log", "telemetry.jsonl", "audit.jsonl"):
            if (home / name).exists():
                said += (home / name).read_text(errors="replace")
    assert "s3://" in said  # the scan saw the run's events
    assert not feed.corpus.leaks(said), "fake PHI in an event, log, span, metric or audit line"
    assert not [k for k in feed.keys if k in said], "a feed key (named after a patient) was written out"
    assert s3proxy.env()["AWS_SECRET_ACCESS_KEY"] not in said
    print(f"\ns3 workers: {feed.total} inputs -> {dict(by_topic)}; errors "
          f"{dict(Counter(e.error_code for e in errors))}")
