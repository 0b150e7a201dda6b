"""Event contracts: the checked-in schemas are what the classes generate, and docs/events.md's consumer runs."""
from __future__ import annotations

import dataclasses
import os
import re
import subprocess
import sys
import time
import uuid
from pathlib import Path

from streams import schemas
from streams.events import CONTRACT, SCHEMA_VERSION, ObjectEvent, now_iso
from streams.schemas import generate

DOCS = Path(__file__).resolve().parents[2] / "docs" / "events.md"


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
