"""End to end with Vault-derived keys: real objects through the core pipeline, crosswalk on the topic, then a
scan of every place data lands (output objects, the clean and crosswalk and audit topics, the audit file,
logs, spans, the servers' own logs) for the fake patient's values. Only the re-identifier gets them back."""
from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
from confluent_kafka import Producer
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from pixelguard.audit import AuditLog, JsonlAuditSink, KafkaAuditSink, record_audit
from pixelguard.core import profile as profiles
from pixelguard.core.keys import Derivations
from pixelguard.core.pipeline import process
from pixelguard.crosswalk.base import CrosswalkEntry
from pixelguard.crosswalk.kafka import KafkaCrosswalk
from pixelguard.samples import FakePatient, text_dicom, text_png
from pixelguard.services.kafka import KafkaService
from pixelguard.services.openbao import OpenBaoRaftService
from streams.topics import topic_name

from .conftest import Topics, VaultEnv
from .test_kafka_crosswalk import read_topic

PATIENT = FakePatient()
STEM = "DOE_JANE_MRN0042424"


def test_no_crosswalk_plaintext_anywhere_but_the_reidentifier_gets_it_back(
        vault_env: VaultEnv, topics: Topics, kafka: KafkaService, openbao_raft: OpenBaoRaftService,
        tmp_path: Path, caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str]) -> None:
    from inference.local_engine import LocalDetector

    caplog.set_level(logging.DEBUG)  # hvac, urllib3, our modules: everything a log handler would see
    spans = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(spans))
    clean_topic = topic_name("clean", topics.prefix)
    kafka.create_topics([clean_topic], partitions=1)

    worker = vault_env.worker()
    derive = Derivations(worker.hmac)
    store = KafkaCrosswalk(topics.bootstrap, worker, topics.crosswalk, tracer=provider.get_tracer("test"))
    inbox, out = tmp_path / "inbox", tmp_path / "out"
    inbox.mkdir()
    out.mkdir()
    detector = LocalDetector()
    profile = profiles.load("basic")
    entries: list[CrosswalkEntry] = []
    producer = Producer({"bootstrap.servers": topics.bootstrap})
    for suffix, data in ((".dcm", text_dicom(PATIENT)), (".png", text_png(PATIENT))):
        path = inbox / f"{STEM}{suffix}"
        path.write_bytes(data)
        input_id = derive.input_id(str(path))
        outcome = process(input_id, data, profile, derive, detector)
        assert outcome.status.value in ("clean", "review"), outcome.reason
        target = out / f"{outcome.output_id}{outcome.extension}"
        target.write_bytes(outcome.output_bytes)
        entry = CrosswalkEntry(input_id, "job-e2e", str(path), str(target), outcome.status.value,
                               outcome.pseudonyms, outcome.crosswalk)
        store.append([entry])  # before the clean event, as the runner must
        # What the design says a clean event carries: ids and references, never values.
        producer.produce(clean_topic, key=input_id.encode(), value=json.dumps(
            {"input_id": input_id, "job_id": "job-e2e", "output": target.name, "status": outcome.status.value}))
        entries.append(entry)
    producer.flush(10)
    store.close()

    dicom_entry = entries[0]
    pseudonym = dicom_entry.pseudonyms["PatientID"]
    assert pseudonym == derive.pseudonym("PatientID", PATIENT.patient_id)
    assert pseudonym.encode() in Path(dicom_entry.output_path).read_bytes()  # the clean object carries it

    # Re-identification: only with the re-identifier policy, and recorded.
    reid = KafkaCrosswalk(topics.bootstrap, vault_env.service(vault_env.reidentifier_token()), topics.crosswalk,
                          tracer=provider.get_tracer("test"))
    audit_file = tmp_path / "audit.jsonl"
    audit = AuditLog([JsonlAuditSink(audit_file), KafkaAuditSink(topics.bootstrap, topics.audit)])
    [found] = reid.lookup(pseudonym)
    record_audit("crosswalk.lookup", "ok", actor=reid.keys.session.actor(), targets={"pseudonym": pseudonym},
                 detail={"matches": 1}, log=audit)
    assert found.originals[f"PatientID:{PATIENT.patient_id}"] == pseudonym
    assert found.input_path == str(inbox / f"{STEM}.dcm")

    forbidden = [PATIENT.patient_id, PATIENT.name, "DOE", "JANE", PATIENT.birth_date, STEM, str(inbox)]
    captured = capfd.readouterr()
    places: dict[str, bytes] = {
        **{f"output {p.name}": p.read_bytes() for p in out.iterdir()},
        "output names": "\n".join(p.name for p in out.iterdir()).encode(),
        "clean topic": b"\n".join(k + v for k, v in read_topic(topics.bootstrap, clean_topic)),
        "crosswalk topic": b"\n".join(k + v for k, v in read_topic(topics.bootstrap, topics.crosswalk)),
        "audit topic": b"\n".join(k + v for k, v in read_topic(topics.bootstrap, topics.audit)),
        "audit file": audit_file.read_bytes(),
        "logs": "\n".join(r.getMessage() for r in caplog.records).encode(),
        "stdout/stderr": (captured.out + captured.err).encode(),
        "spans": "\n".join(s.to_json() for s in spans.get_finished_spans()).encode(),
        "openbao log": openbao_raft.process.log_file.read_bytes(),
        "kafka log": kafka.server_log.read_bytes() if kafka.server_log.exists() else b"",
    }
    # Positive controls: the inputs hold the values, and the log and span captures are not empty.
    assert all(v.encode() in (inbox / f"{STEM}.dcm").read_bytes() for v in (PATIENT.patient_id, "DOE"))
    assert any(r.name.startswith("urllib3") for r in caplog.records)
    assert {s.name for s in spans.get_finished_spans()} >= {"crosswalk.append", "crosswalk.lookup"}
    leaks = [(where, value) for where, blob in places.items() for value in forbidden if value.encode() in blob]
    assert leaks == []
