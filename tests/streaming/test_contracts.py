"""Event contracts: the checked-in schemas are what the classes generate, events are read by the schema of
their version, stored v1 events stay readable, and a refusal names the field without quoting its value."""
from __future__ import annotations

import dataclasses
import json
import os
import re
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from streams import schemas
from streams.events import CONTRACT, SCHEMA_VERSION, ObjectEvent, PoisonEvent, now_iso, poison_event
from streams.schemas import generate
from streams.submit import REFUSED, checked, submit

STORED = Path(__file__).with_name("contracts")
DOCS = Path(__file__).resolve().parents[2] / "docs" / "events.md"
PHI_LIKE = "QUIXOTE^ZELDA 19470312"


def stored(name: str) -> bytes:
    return (STORED / name).read_bytes()


def refusal(doc: object) -> PoisonEvent:
    with pytest.raises(PoisonEvent) as caught:
        ObjectEvent.from_bytes(json.dumps(doc).encode())
    return caught.value


def good() -> dict:
    return json.loads(ObjectEvent("job-c", "in-0a1b2c3d4e5f60718293", "basic", now_iso(), "ingest").to_bytes())


def test_checked_in_schemas_and_docs_tables_are_what_the_event_classes_generate() -> None:
    assert generate.stale() == [], "out of date: run python -m streams.schemas --write and commit the result"


def test_a_field_added_to_an_event_class_makes_the_checked_in_schema_stale(monkeypatch) -> None:
    @dataclasses.dataclass(frozen=True)
    class Grown(ObjectEvent):
        ward: str = ""

    real = generate.contracts()
    monkeypatch.setattr(generate, "contracts", lambda: {**real, CONTRACT: (Grown, SCHEMA_VERSION)})
    stale = generate.stale()
    assert generate.HERE / schemas.file_name(CONTRACT, SCHEMA_VERSION) in stale
    assert generate.DOCS in stale  # the field table in docs/events.md too


def test_every_topic_has_a_contract_with_a_schema_for_every_version_up_to_the_current_one() -> None:
    from streams.topics import CATALOGUE

    assert set(schemas.TOPIC_CONTRACTS) == set(CATALOGUE)
    for contract, (_cls, version) in generate.contracts().items():
        for older in range(1, version + 1):  # older schemas stay: readers still check older events by them
            assert schemas.load(contract, older)["properties"]["v"]["const"] == older


@pytest.mark.parametrize("name", ["object-event.v1.clean.json", "object-event.v1.minimal.json",
                                  "object-event.v1.ingest-flagged.json"])
def test_a_stored_v1_event_is_read_by_the_current_reader(name: str) -> None:
    raw = stored(name)
    event = ObjectEvent.from_bytes(raw)
    doc = json.loads(raw)
    assert {k: getattr(event, k) for k in doc} == doc  # every field it carried, as it carried it
    assert event.v == 1


@pytest.mark.parametrize("name", ["object-event.v1.clean.json", "object-event.v1.minimal.json"])
def test_a_v1_event_reads_as_the_original_output_format_and_stays_v1(name: str) -> None:
    event = ObjectEvent.from_bytes(stored(name))
    assert event.output_format == "original"
    follow = event.next("parsed")  # what a worker writes from it still passes the schema of its version
    assert follow.v == 1 and ObjectEvent.from_bytes(follow.to_bytes()) == follow


def test_a_v2_event_carries_its_output_format() -> None:
    event = ObjectEvent.from_bytes(stored("object-event.v2.clean-png.json"))
    assert (event.v, event.output_format, event.extension) == (2, "png", ".png")


def test_a_v1_reader_would_refuse_a_v2_event_rather_than_ignore_its_output_format() -> None:
    doc = json.loads(stored("object-event.v2.clean-png.json"))
    assert schemas.violation(doc, CONTRACT, 1) is not None  # v is pinned per schema: a v1 worker says upgrade


def test_a_v1_event_with_a_field_this_reader_does_not_know_is_still_read() -> None:
    event = ObjectEvent.from_bytes(json.dumps({**good(), "added_in_a_later_minor": {"x": 1}}).encode())
    assert event.input_id == "in-0a1b2c3d4e5f60718293"


def test_an_unknown_future_major_version_is_refused_with_what_to_do() -> None:
    exc = refusal({**good(), "v": SCHEMA_VERSION + 1, "a_new_field": PHI_LIKE})
    assert f"schema version {SCHEMA_VERSION + 1} is newer than this worker reads ({SCHEMA_VERSION})" in str(exc)
    assert "upgrade the workers" in str(exc)
    assert (exc.job_id, exc.input_id) == ("job-c", "in-0a1b2c3d4e5f60718293")  # still counted against its job


@pytest.mark.parametrize(("change", "named"), [
    ({"confidence": PHI_LIKE}, "field 'confidence' must be number or null, not string"),
    ({"status": PHI_LIKE}, "field 'status' must be one of '', 'clean', 'review', 'error'"),
    ({"options": {"redaction": 19470312}}, "field 'options.<each entry>' must be string, not integer"),
    ({"findings": [{"stage": "redact"}]}, "missing required field(s) 'findings[].reason'"),
    ({"input_id": ""}, "field 'input_id' must not be empty"),
    ({"stage": None}, "field 'stage' must be string, not null"),
    ({"output_format": PHI_LIKE}, "field 'output_format' must be one of 'original', 'htj2k', 'png', 'jpeg'"),
])
def test_an_off_contract_event_is_refused_naming_the_field_never_the_value(change: dict, named: str) -> None:
    exc = refusal({**good(), **change})
    reason = str(exc)
    assert reason.startswith(f"event does not match {schemas.file_name(CONTRACT, SCHEMA_VERSION)}: ")
    assert named in reason and "Fix the producer" in reason
    for value in ("QUIXOTE", "ZELDA", "19470312"):
        assert value not in reason


def test_a_missing_required_field_is_named_and_ids_that_are_not_ours_are_not_kept() -> None:
    doc = good()
    del doc["submitted_at"]
    exc = refusal({**doc, "job_id": PHI_LIKE})
    assert "missing required field(s) 'submitted_at'" in str(exc)
    # a job id with a space is not one of ours: dropped
    assert exc.job_id == "" and exc.input_id == "in-0a1b2c3d4e5f60718293"
    out = poison_event("pg.ingest-0-7", exc)
    assert (out.job_id, out.input_id, out.status, out.error_code) == \
        ("unknown", "in-0a1b2c3d4e5f60718293", "error", "poison")
    assert out.stats == {"message": "pg.ingest-0-7"}  # where to find the message itself
    assert out.violation() is None and PHI_LIKE not in out.to_bytes().decode()


def test_submit_publishes_an_input_whose_event_fails_its_schema_as_an_error_with_the_reason() -> None:
    event = ObjectEvent("job-c", "in-2", "basic", now_iso(), "ingest", key=None)  # type: ignore[arg-type]
    sent = checked(event)
    assert (sent.input_id, sent.status, sent.error_code) == ("in-2", "error", REFUSED)
    assert "field 'key' must be string, not null" in sent.reason
    assert sent.violation() is None
    fine = ObjectEvent("job-c", "in-3", "basic", now_iso(), "ingest", key="k")
    assert checked(fine) is fine


def test_submit_refuses_a_bad_option_before_publishing_anything(tmp_path: Path) -> None:
    (tmp_path / "a.dcm").write_bytes(b"x")
    with pytest.raises(ValueError, match=r"nothing was published: .*'options.<each entry>' must be string"):
        submit([str(tmp_path)], bootstrap="127.0.0.1:9", prefix="unused", store=None,  # type: ignore[arg-type]
               derive=None, profile="basic", options={"redaction": 3})  # type: ignore[dict-item]


def test_the_clean_topic_consumer_in_docs_events_md_fetches_every_clean_object(kafka, tmp_path: Path) -> None:
    from confluent_kafka import Producer

    from streams.objectstore import FileObjectStore
    from streams.topics import ensure_topics, topic_name

    (snippet,) = re.findall(r"```python\n(.*?)```", DOCS.read_text(encoding="utf-8"), re.S)
    prefix = f"docs-{uuid.uuid4().hex[:8]}"
    ensure_topics(kafka.bootstrap, prefix, 2)
    store = FileObjectStore(tmp_path / "store")
    objects = {f"2.25.{n}77": os.urandom(256 + n) for n in range(3)}
    producer = Producer({"bootstrap.servers": kafka.bootstrap, "acks": "all"})
    for n, (output_id, data) in enumerate(objects.items()):
        uri = store.put(f"clean/{output_id}.dcm", data)
        final = ObjectEvent("job-docs", f"in-{n}", "basic", now_iso(), "clean", object_uri=uri, output_id=output_id,
                            extension=".dcm", status="clean", decided_by="route")
        producer.produce(topic_name("clean", prefix), key=output_id.encode(), value=final.to_bytes())
    assert producer.flush(30) == 0

    (tmp_path / "consumer.py").write_text(snippet, encoding="utf-8")
    out = tmp_path / "received"
    env = {**os.environ, "KAFKA": kafka.bootstrap, "TOPIC": topic_name("clean", prefix), "OUT": str(out)}
    proc = subprocess.Popen([sys.executable, "consumer.py"], cwd=tmp_path, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 90
        while len(list(out.glob("*.dcm"))) < len(objects) or any(
                not (out / f"{i}.dcm").exists() or (out / f"{i}.dcm").read_bytes() != d for i, d in objects.items()):
            assert proc.poll() is None, proc.communicate()[0].decode(errors="replace")[-2000:]
            assert time.monotonic() < deadline, f"consumer stored {sorted(p.name for p in out.glob('*'))}"
            time.sleep(0.5)
    finally:
        proc.terminate()
        proc.wait(20)
    assert sorted(p.name for p in out.iterdir()) == sorted(f"{i}.dcm" for i in objects)


def test_an_id_field_holding_something_else_is_not_carried_to_errors() -> None:
    # An MRN passes a plain "looks like an id" check; input_id and key must have the shapes core/keys.py makes.
    doc = good()
    del doc["submitted_at"]
    exc = refusal({**doc, "input_id": "MRN7300006", "key": "MRN7300006"})
    assert exc.input_id == "" and exc.key == ""
    assert "MRN7300006" not in poison_event("pg.ingest-0-8", exc).to_bytes().decode()


def test_the_id_shapes_fit_the_ids_our_keys_make(derive) -> None:
    # A poison event keeps input_id and key only in these shapes; a change to core/keys.py must keep them true.
    from pixelguard.core.keys import INPUT_ID_SHAPE, ROUTING_KEY_SHAPE

    assert INPUT_ID_SHAPE.match(derive.input_id("/feed/a.dcm"))
    assert ROUTING_KEY_SHAPE.match(derive.uid("1.2.840.113619.2.55.3"))
    assert ROUTING_KEY_SHAPE.match(derive.content_id(b"png bytes"))
