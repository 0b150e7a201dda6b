"""``pixelguard submit dicomweb://...`` and ``pixelguard deliver dicomweb://...`` on real Orthanc and Kafka:
bad URLs and bad instances are clear errors and nothing is lost; a re-delivered event stores one instance."""
from __future__ import annotations

import subprocess
import time
import uuid
from collections import Counter
from pathlib import Path

from confluent_kafka import Producer

from pixelguard.samples import FakePatient
from streams.deliver import Delivered, Deliverer
from streams.events import ObjectEvent, now_iso
from streams.objectstore import open_store
from streams.reader import scan
from streams.topics import ensure_topics, topic_name
from tests.pacs.studies import make_study, pacs, spoil, upload
from tests.streaming.harness import PIXELGUARD, stream_env

PATIENT = FakePatient("HOLLOWAY^CASSIUS", "MRN5520931", "19520823")
LIMIT = 2 << 20


def _submit(tmp_path: Path, kafka, prefix: str, url: str) -> tuple[subprocess.CompletedProcess[str], dict[str, str]]:
    env = stream_env(tmp_path, prefix, PIXELGUARD_KAFKA_BOOTSTRAP=kafka.bootstrap,
                     PIXELGUARD_STORE=str(tmp_path / "store"), PIXELGUARD_MAX_OBJECT_BYTES=str(LIMIT))
    run = subprocess.run([PIXELGUARD, "submit", url, "--job", "job-pacs", "--key-file", str(tmp_path / "key.json")],
                         env=env, capture_output=True, text=True, timeout=300)
    return run, env


def _ingest(kafka, prefix: str) -> list[ObjectEvent]:
    return [r.event for r in scan(kafka.bootstrap, [topic_name("ingest", prefix)]) if r.event is not None]


def test_submit_pulls_each_instance_and_flags_the_bad_ones(kafka, orthanc_factory, tmp_path: Path) -> None:
    source = orthanc_factory()
    good = make_study(PATIENT, [2, 2])
    bad = make_study(PATIENT, [1])  # one spoiled instance in a study of its own: the PACS still lists it
    upload(source, good)
    upload(source, bad)
    spoil(source, next(iter(bad.files)), "oversized", LIMIT)
    prefix = f"pacs-{uuid.uuid4().hex[:8]}"
    root = f"dicomweb://127.0.0.1:{source.port}/dicom-web/studies"
    run, _ = _submit(tmp_path, kafka, prefix, f"{root}/{good.uid}")
    assert run.returncode == 0 and "submitted 4 objects (0 flagged" in run.stderr, run.stderr[-2000:]
    events = _ingest(kafka, prefix)
    assert len({e.input_id for e in events}) == 4 and all(e.source_uri and not e.status for e in events)
    stored = sorted(open_store(str(tmp_path / "store")).get(e.source_uri) for e in events)
    assert stored == sorted(good.files.values())  # the PACS's bytes, unchanged
    run, _ = _submit(tmp_path, kafka, prefix, f"{root}/{bad.uid}")
    assert run.returncode == 0 and "1 flagged" in run.stderr, run.stderr[-2000:]
    oversized = [e for e in _ingest(kafka, prefix) if e.status == "error"]
    assert [e.error_code for e in oversized] == ["oversized"] and "limit" in oversized[0].reason
    said = run.stdout + run.stderr + "".join(e.to_bytes().decode() for e in _ingest(kafka, prefix))
    assert not [uid for uid in good.uids | bad.uids if uid in said], "a DICOM UID was written out"


def test_a_study_the_pacs_cannot_read_is_one_error_input(kafka, orthanc_factory, tmp_path: Path) -> None:
    source = orthanc_factory()
    prefix = f"pacs-{uuid.uuid4().hex[:8]}"
    studies = {}
    for kind in ("corrupt", "truncated", "not-dicom", "empty"):
        studies[kind] = make_study(PATIENT, [2])
        upload(source, studies[kind])
        spoil(source, next(iter(studies[kind].files)), kind, LIMIT)
        run, _ = _submit(tmp_path, kafka, prefix, f"dicomweb://127.0.0.1:{source.port}/dicom-web/studies/"
                                                  f"{studies[kind].uid}")
        assert run.returncode == 0 and "1 flagged" in run.stderr, (kind, run.stderr[-2000:])
    events = _ingest(kafka, prefix)
    assert Counter(e.error_code for e in events) == {"unlistable": 4}
    assert all("its log names the instance" in e.reason for e in events)


def test_bad_urls_and_a_stopped_pacs_are_clear_errors(kafka, orthanc_factory, tmp_path: Path) -> None:
    source = orthanc_factory()
    prefix = f"pacs-{uuid.uuid4().hex[:8]}"
    root = f"dicomweb://127.0.0.1:{source.port}/dicom-web"
    missing, _ = _submit(tmp_path, kafka, prefix, f"{root}/studies/1.2.826.0.1.3680043.99.1")
    assert missing.returncode == 0 and "1 flagged" in missing.stderr, missing.stderr[-2000:]
    (event,) = _ingest(kafka, prefix)
    assert event.error_code == "not-found" and "check the UIDs" in event.reason
    malformed, _ = _submit(tmp_path, kafka, prefix, f"{root}/studies/{PATIENT.patient_id}")
    assert malformed.returncode == 2 and "not a DICOM UID" in malformed.stderr, malformed.stderr[-2000:]
    source.stop()
    down, _ = _submit(tmp_path, kafka, prefix, f"{root}/studies/1.2.826.0.1.3680043.99.2")
    assert down.returncode == 1 and "could not be reached" in down.stderr and "nothing was submitted" in down.stderr
    assert len(_ingest(kafka, prefix)) == 1  # neither the malformed URL nor the stopped PACS published anything
    said = missing.stderr + malformed.stderr + down.stderr + event.to_bytes().decode()
    assert PATIENT.patient_id not in said and "3680043.99" not in said


def test_deliver_stores_once_and_sends_poison_to_errors(kafka, orthanc_factory, tmp_path: Path) -> None:
    research = orthanc_factory()
    prefix = f"deliver-{uuid.uuid4().hex[:8]}"
    ensure_topics(kafka.bootstrap, prefix, 2)
    outputs = open_store(str(tmp_path / "out"))
    study = make_study(PATIENT, [2])
    events = []
    for n, data in enumerate(study.files.values()):
        uri = outputs.put(f"clean/{n}.dcm", data)
        events.append(ObjectEvent(job_id="job-d", input_id=f"in-{n:010x}", profile="basic", submitted_at=now_iso(),
                                  stage="clean", status="clean", format="dicom", object_uri=uri, key="2.25.1"))
    gone = events[0].next("clean", input_id="in-00000000ff", object_uri=outputs.uri("clean/gone.dcm"))
    producer = Producer({"bootstrap.servers": kafka.bootstrap})
    for event in [*events, events[0], gone]:  # events[0] twice: a redelivery
        producer.produce(topic_name("clean", prefix), key=b"2.25.1", value=event.to_bytes())
    producer.produce(topic_name("clean", prefix), key=b"x", value=b'{"PatientID": "MRN5520931"}')
    producer.flush(30)
    target = f"dicomweb://127.0.0.1:{research.port}/dicom-web"

    def deliver() -> Delivered:
        return Deliverer(bootstrap=kafka.bootstrap, prefix=prefix, target=target, pacs=pacs(research),
                         outputs=outputs).run(idle_exit_s=5)

    first = deliver()
    assert (first.stored, first.errors) == (3, 2)
    assert sorted(x["00080018"]["Value"][0] for x in pacs(research).search("instances")) == sorted(study.files)
    errors = [r.event for r in scan(kafka.bootstrap, [topic_name("errors", prefix)]) if r.event]
    assert Counter(e.error_code for e in errors) == {"poison": 1, "deliver-missing": 1}
    assert all(e.reason for e in errors) and "MRN5520931" not in "".join(e.reason for e in errors)
    again = deliver()  # offsets were committed after each store: nothing is delivered twice
    assert (again.stored, again.errors) == (0, 0)


def test_the_feed_says_when_the_pacs_is_down_or_its_cursor_is_broken(kafka, orthanc_factory, tmp_path: Path) -> None:
    source = orthanc_factory()
    source.stop()
    env = stream_env(tmp_path, f"feed-{uuid.uuid4().hex[:8]}", PIXELGUARD_KAFKA_BOOTSTRAP=kafka.bootstrap,
                     PIXELGUARD_STORE=str(tmp_path / "store"))
    state = tmp_path / "cursor.json"
    feed = [PIXELGUARD, "feed", "orthanc", "--url", source.url, "--state", str(state), "--poll", "0.2",
            "--until-idle", "1", "--key-file", str(tmp_path / "key.json")]
    down = subprocess.run(feed, env=env, capture_output=True, text=True, timeout=300)
    assert down.returncode == 1 and "could not be reached" in down.stderr and "cursor was kept" in down.stderr
    assert not state.exists()  # nothing handled, nothing recorded
    state.write_text("{not json")
    broken = subprocess.run(feed, env=env, capture_output=True, text=True, timeout=300)
    assert broken.returncode == 2 and "fix or delete it" in broken.stderr, broken.stderr[-2000:]
    bad_url = subprocess.run([*feed[:4], "ftp://127.0.0.1:1", *feed[5:]], env=env, capture_output=True, text=True,
                             timeout=300)
    assert bad_url.returncode == 2 and "--url must be" in bad_url.stderr, bad_url.stderr[-2000:]


def test_deliver_holds_its_offset_while_the_pacs_is_down(kafka, orthanc_factory, tmp_path: Path) -> None:
    import threading

    research = orthanc_factory()
    research.stop()
    prefix = f"deliver-{uuid.uuid4().hex[:8]}"
    ensure_topics(kafka.bootstrap, prefix, 2)
    outputs = open_store(str(tmp_path / "out"))
    data = next(iter(make_study(PATIENT, [1]).files.values()))
    event = ObjectEvent(job_id="job-d", input_id="in-00000000aa", profile="basic", submitted_at=now_iso(),
                        stage="clean", status="clean", format="dicom", object_uri=outputs.put("clean/a.dcm", data),
                        key="2.25.1")
    producer = Producer({"bootstrap.servers": kafka.bootstrap})
    producer.produce(topic_name("clean", prefix), key=b"2.25.1", value=event.to_bytes())
    producer.flush(30)
    target = f"dicomweb://127.0.0.1:{research.port}/dicom-web"
    down = Deliverer(bootstrap=kafka.bootstrap, prefix=prefix, target=target, pacs=pacs(research), outputs=outputs,
                     backoff_s=0.2)
    thread = threading.Thread(target=down.run)
    thread.start()
    deadline = time.monotonic() + 120
    while not down.retries and time.monotonic() < deadline:  # it tried, and is retrying
        time.sleep(0.2)
    down.stop.set()
    thread.join(60)
    assert down.retries and (down.result.stored, down.result.errors) == (0, 0)
    research.start()
    back = Deliverer(bootstrap=kafka.bootstrap, prefix=prefix, target=target, pacs=pacs(research),
                     outputs=outputs).run(idle_exit_s=5)
    assert back.stored == 1 and len(pacs(research).search("instances")) == 1  # not committed while down
