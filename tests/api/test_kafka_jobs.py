"""The API on the Kafka runner: a real ``pixelguard api --bootstrap`` and a real worker, on a real Kafka and a
real PostgreSQL job store. The report lists every object from the upload on, the route hop fills in each
final state, ``pixelguard job status`` agrees, a replayed routing event changes nothing, and a store outage
delays the record without losing it."""
from __future__ import annotations

import json
import os
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import unquote, urlparse

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition
from sqlalchemy import update

from agents.jobrecord import JobRecorder, final_line
from pixelguard.jobstore import JobStore
from pixelguard.jobstore.models import JobObject
from pixelguard.keyservice.local import LocalKeyService
from pixelguard.samples import text_dicom, text_png
from streams.events import ObjectEvent, now_iso
from streams.reader import scan
from streams.topics import FINAL_TOPICS, ensure_topics, topic_name
from tests.fixtures.postgres import _admin, drop_database, new_database
from tests.streaming.harness import PIXELGUARD, Worker, patient, stream_env, worker

from .conftest import LiveApi, start_api, stop_api, wait_done
from .study import zip_bytes

FINAL = {"clean", "review", "error"}
OVERSIZED = 200_000


@pytest.fixture
def kafka_api(kafka, postgres_database, tmp_path: Path) -> Iterator[tuple[LiveApi, Worker, str, str]]:
    prefix = f"apik-{uuid.uuid4().hex[:8]}"
    url = postgres_database()
    store, key_file = tmp_path / "store", tmp_path / "api" / "keys" / "key.json"
    LocalKeyService.open(key_file)  # one key for the API and the worker: the same input ids
    ensure_topics(kafka.bootstrap, prefix, 2)
    shared = {"PIXELGUARD_DATABASE_URL": url, "PIXELGUARD_STORE": str(store), "PIXELGUARD_TOPIC_PREFIX": prefix,
              "PIXELGUARD_PARTITIONS": "2"}
    w = worker(tmp_path, "w1", kafka.bootstrap, store, key_file, stream_env(tmp_path, prefix, **shared))
    w.start()
    # A per-object limit above every good object and below the oversized one: refused at submit, from its size.
    api = start_api(tmp_path / "api", auth=("--no-auth", "--bootstrap", kafka.bootstrap),
                    PIXELGUARD_MAX_OBJECT_BYTES=str(OVERSIZED - 1), **shared)
    try:
        yield api, w, url, prefix
    finally:
        stop_api(api)
        w.stop()


def _study() -> dict[str, bytes]:
    """Four good objects and four bad ones: truncated, wrong format, empty, oversized (random: no zip bomb)."""
    good = {f"s/{i}.dcm": text_dicom(patient(900 + i)) for i in range(3)}
    return {**good, "s/photo.png": text_png(patient(910)), "s/cut.dcm": text_dicom(patient(911))[:300],
            "s/garbage.dcm": b"this is not an image at all" * 10, "s/empty.dcm": b"",
            "s/big.dcm": os.urandom(OVERSIZED)}


def _wait_done(api: LiveApi, w: Worker, job_id: str, timeout_s: float = 150) -> dict:
    def alive() -> str:
        running = w.proc is not None and w.proc.poll() is None
        return "" if running else "the worker died: " + w.log.read_text(errors="replace")[-3000:]

    return wait_done(api, job_id, timeout_s, alive)


def _job_status(kafka, url: str, prefix: str, job_id: str) -> dict:
    env = {**os.environ, "PIXELGUARD_DATABASE_URL": url}
    done = subprocess.run([PIXELGUARD, "job", "status", job_id, "--json", "--bootstrap", kafka.bootstrap,
                           "--prefix", prefix], env=env, capture_output=True, text=True, timeout=120)
    return json.loads(done.stdout)


def _route_caught_up(bootstrap: str, prefix: str, timeout_s: float = 60) -> None:
    """Until the route hop's committed offsets reach the end of ``routing``: every event there was handled."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"{prefix}.route", "enable.auto.commit": False})
    routing = topic_name("routing", prefix)
    try:
        listed = consumer.list_topics(routing, timeout=10).topics[routing].partitions
        parts = [TopicPartition(routing, p) for p in listed]
        deadline = time.monotonic() + timeout_s
        while True:
            ends = [consumer.get_watermark_offsets(tp, timeout=10, cached=False)[1] for tp in parts]
            # -1001 (nothing committed) on an empty partition is caught up: no event went there.
            committed = [max(tp.offset, 0) for tp in consumer.committed(parts, timeout=10)]
            if all(c >= e for c, e in zip(committed, ends, strict=True)):
                return
            assert time.monotonic() < deadline, f"route hop did not catch up: {committed} < {ends}"
            time.sleep(0.5)
    finally:
        consumer.close()


def _finals(bootstrap: str, prefix: str, job_id: str) -> list[tuple[int, ObjectEvent]]:
    """The job's final events with their partitions (a final event sits in its routing event's partition)."""
    reads = scan(bootstrap, [topic_name(t, prefix) for t in FINAL_TOPICS])
    return [(r.partition, r.event) for r in reads if r.event is not None and r.event.job_id == job_id]


def test_an_upload_on_the_kafka_runner_is_reported_object_by_object(kafka, kafka_api) -> None:
    api, w, url, prefix = kafka_api
    study = _study()
    with api.client() as http:
        accepted = http.post("/v1/jobs", files=[("files", ("s.zip", zip_bytes(study), "application/zip"))],
                             data={"profile": "basic"})
        assert accepted.status_code == 202, accepted.text
        job_id = accepted.json()["job_id"]
        # Every object is in the report from the start, before any worker decided it.
        first = http.get(f"/v1/jobs/{job_id}/report").json()
        assert len(first["objects"]) == len(study) and first["job"]["runner"] == "kafka"
    job = _wait_done(api, w, job_id)
    with api.client() as http:
        report = http.get(f"/v1/jobs/{job_id}/report").json()
    assert job["state"] == "done" and job["total"] == len(study) and job["counts"]["pending"] == 0, job
    assert job["profile"]["name"] == "basic" and job["profile"]["version"], job
    objects = report["objects"]
    assert {o["input_id"] for o in objects} == {o["input_id"] for o in first["objects"]}
    assert all(o["status"] in FINAL for o in objects), objects
    errors = [o for o in objects if o["status"] == "error"]
    assert len(errors) >= 4 and all(o["reason"] and not o["output"] for o in errors), errors
    assert any(o["reason"].startswith("oversized:") for o in errors), errors  # says the limit, not a value
    decided = [o for o in objects if o["status"] != "error"]
    assert len(decided) >= 3 and all(o["output"] and o["format"] for o in decided), decided
    for o in decided:  # the output reference names a real object in the output store
        assert Path(unquote(urlparse(o["output"]).path)).is_file(), o["output"]

    phi = {part for i in range(900, 912) for part in (*patient(i).name.split("^"), patient(i).patient_id)}
    seen = "\n".join([json.dumps(report), api.logs(), w.log.read_text(errors="replace")])
    assert not [value for value in phi if value in seen]

    counts = {k: job["counts"][k] for k in ("clean", "review", "error")}
    status = _job_status(kafka, url, prefix, job_id)
    assert {k: status[k] for k in counts} == counts and status["submitted"] == len(study), status
    assert status["in_flight"] == 0 and status["state"] == "done"

    # Replay: every final event of the job sent back onto its ``routing`` partition, as a redelivery by an
    # at-least-once stage would be. The hop drops them all: no second final event, no count changed.
    finals = _finals(kafka.bootstrap, prefix, job_id)
    assert len(finals) == len(study)
    producer = Producer({"bootstrap.servers": kafka.bootstrap})
    for partition, event in finals:
        producer.produce(topic_name("routing", prefix), key=event.key.encode(), value=event.to_bytes(),
                         partition=partition)
    assert producer.flush(30) == 0
    del producer  # its connection goes now, not when the broker stops at the end of the session
    _route_caught_up(kafka.bootstrap, prefix)
    assert _job_status(kafka, url, prefix, job_id) == status
    assert len(_finals(kafka.bootstrap, prefix, job_id)) == len(study)
    # And the store write itself is an upsert: recording a final state twice counts it once.
    store = JobStore.open(url)
    try:
        store.record_final(job_id, final_line(finals[0][1]))
        assert {k: store.job(job_id).counts[k] for k in counts} == counts
        # A write lost to a store outage (the worker stopped before the store came back): the store shows the
        # object in flight, and job status takes the counts from the topics, which hold every final state.
        with store.engine.begin() as connection:
            connection.execute(update(JobObject).where(JobObject.job_id == job_id,
                                                       JobObject.input_id == finals[0][1].input_id)
                               .values(status="pending"))
        assert store.job(job_id).counts["pending"] == 1
    finally:
        store.close()
    lost = _job_status(kafka, url, prefix, job_id)
    assert {k: lost[k] for k in counts} == counts and lost["in_flight"] == 0, lost


def test_a_custom_profile_is_refused_on_the_kafka_runner(kafka_api) -> None:
    api = kafka_api[0]
    with api.client() as http:
        refused = http.post("/v1/jobs", files=[("files", ("a.dcm", text_dicom(patient(1)), "application/dicom"))],
                            data={"profile": "my-custom"})
    assert refused.status_code == 422 and "stored profiles only" in refused.json()["reason"], refused.text


def test_a_store_outage_delays_the_record_and_loses_nothing(postgres) -> None:
    """Connections to the job store's database refused (a real outage): the hop is not held up, the recorder
    retries with backoff, and once the database is back the object's final state and the job's end land."""
    name, url = new_database(postgres)
    store = JobStore.open(url)
    try:
        store.create_job("job-outage", "basic", "digest", source="api", runner="kafka", input_ids=["in-1"])
        store.close()
        _admin(postgres, f"ALTER DATABASE {name} ALLOW_CONNECTIONS false")
        _admin(postgres, f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'")
        recorder = JobRecorder(url, backoff_s=0.1)
        event = ObjectEvent(job_id="job-outage", input_id="in-1", profile="basic", submitted_at=now_iso(),
                            stage="routing", status="clean", format="dicom", object_uri="file:///o/clean/x.dcm")
        recorder.record(event)  # returns at once: the route hop's loop never waits on the store
        deadline = time.monotonic() + 30
        while recorder.failures < 3:
            assert time.monotonic() < deadline, "the recorder did not retry"
            time.sleep(0.1)
        assert recorder.pending() == 0  # held by the retrying thread, not dropped
        _admin(postgres, f"ALTER DATABASE {name} ALLOW_CONNECTIONS true")
        store = JobStore.open(url)
        deadline = time.monotonic() + 60
        while store.job("job-outage").state != "done":
            assert time.monotonic() < deadline, "the final state never reached the store"
            time.sleep(0.2)
        recorder.stop()
        (obj,) = store.objects("job-outage")
        assert (obj.status, obj.output, obj.format) == ("clean", "file:///o/clean/x.dcm", "dicom")
    finally:
        store.close()
        drop_database(postgres, name)


def test_a_final_event_becomes_a_store_row_without_values() -> None:
    event = ObjectEvent(job_id="j", input_id="i", profile="basic", submitted_at=now_iso(), stage="routing",
                        status="error", error_code="truncated", reason="truncated: file ends early",
                        object_uri="file:///o/ingest/j/i")
    line = final_line(event)
    assert (line["status"], line["reason"], line["output"]) == ("error", "truncated: file ends early", "")


def test_a_broker_that_cannot_be_reached_fails_the_job_with_every_object_accounted_for(tmp_path: Path) -> None:
    """Nothing acknowledged the events: the job is closed as failed, each object an error that says what to do."""
    from pixelguard.api.runner import KafkaJobs
    from pixelguard.core.keys import Derivations
    from pixelguard.services.base import free_port
    from pixelguard.settings import Settings

    keys = LocalKeyService.open(tmp_path / "keys" / "key.json")
    uploads = tmp_path / "uploads"
    (uploads / "job-nobroker").mkdir(parents=True)
    paths = [uploads / "job-nobroker" / f"obj-{i}" for i in range(2)]
    for i, path in enumerate(paths):
        path.write_bytes(text_dicom(patient(950 + i)))
    derive = Derivations(keys.hmac)
    store = JobStore.open(f"sqlite:///{tmp_path / 'jobs.sqlite3'}")
    store.create_job("job-nobroker", "basic", "digest", source="api", runner="kafka",
                     input_ids=[derive.input_id(str(p)) for p in paths])
    settings = Settings.from_env({"PIXELGUARD_KAFKA_BOOTSTRAP": f"127.0.0.1:{free_port()}",
                                  "PIXELGUARD_STORE": str(tmp_path / "store")})
    jobs = KafkaJobs(settings, store, uploads, derive, publish_timeout_s=3)
    jobs.start()  # the queued job is picked up at start, as after an API restart
    try:
        deadline = time.monotonic() + 60
        while store.job("job-nobroker").state == "queued":
            assert time.monotonic() < deadline, "the job was never closed"
            time.sleep(0.2)
    finally:
        jobs.stop()
    view = store.job("job-nobroker")
    assert view.state == "failed" and "check the broker" in view.reason, view
    assert [o.status for o in store.objects("job-nobroker")] == ["error", "error"]
    assert all("submit the study again" in o.reason for o in store.objects("job-nobroker"))
    store.close()
