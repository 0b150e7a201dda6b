"""The compacted crosswalk topic with transit encryption, and the audit trail of every lookup and export."""
from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from confluent_kafka import Consumer, TopicPartition

from pixelguard.audit import AuditLog, JsonlAuditSink, KafkaAuditSink
from pixelguard.core.keys import Derivations
from pixelguard.crosswalk.kafka import KafkaCrosswalk, record_key
from pixelguard.keyservice.vault import VaultDenied

from .conftest import Topics, VaultEnv, fake_entry


def read_topic(bootstrap: str, topic: str) -> list[tuple[bytes, bytes]]:
    """Every raw record of a topic (all partitions), to scan bytes exactly as stored."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"scan-{os.getpid()}-{topic}",
                         "enable.auto.commit": False, "enable.partition.eof": True})
    try:
        parts = consumer.list_topics(topic, timeout=10).topics[topic].partitions
        highs = {p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1] for p in parts}
        pending = {p for p, h in highs.items() if h > 0}
        consumer.assign([TopicPartition(topic, p, 0) for p in pending])
        out: list[tuple[bytes, bytes]] = []
        while pending:
            for msg in consumer.consume(500, timeout=1):
                if msg.error():
                    pending.discard(msg.partition())
                    continue
                out.append((msg.key() or b"", msg.value() or b""))
                if msg.offset() >= highs[msg.partition()] - 1:
                    pending.discard(msg.partition())
        return out
    finally:
        consumer.close()


def cli(*args: str, token: str, env_extra: dict[str, str]) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VAULT_", "PIXELGUARD_"))}
    env.update(VAULT_TOKEN=token, **env_extra)
    return subprocess.run([sys.executable, "-m", "pixelguard.cli", "crosswalk", *args], capture_output=True,
                          text=True, env=env, timeout=120)


@pytest.fixture
def populated(vault_env: VaultEnv, topics: Topics):
    worker = vault_env.worker()
    derive = Derivations(worker.hmac)
    entries = [fake_entry(derive, i, "job-a" if i < 6 else "job-b") for i in range(10)]
    store = KafkaCrosswalk(topics.bootstrap, worker, topics.crosswalk)
    store.append(entries)
    store.close()
    return entries


def test_entries_are_encrypted_and_indexed_by_keyed_tags(vault_env: VaultEnv, topics: Topics,
                                                          populated: list) -> None:
    raw = read_topic(topics.bootstrap, topics.crosswalk)
    assert len(raw) == len(populated)
    blob = b"\n".join(k + b" " + v for k, v in raw)
    for entry in populated:
        for value in (entry.input_path, *entry.originals, *entry.pseudonyms.values(), entry.output_path):
            assert value.encode() not in blob  # no original, no path, not even a pseudonym in clear
    keys = {k.decode() for k, _ in raw}
    assert keys == {record_key(e.input_id, e.job_id) for e in populated}
    value = json.loads(raw[0][1])
    assert set(value) == {"v", "input_id", "job_id", "index", "ct"} and value["ct"].startswith("vault:v")


def test_reidentifier_looks_up_and_exports_worker_is_refused(vault_env: VaultEnv, topics: Topics,
                                                             populated: list) -> None:
    reid = KafkaCrosswalk(topics.bootstrap, vault_env.service(vault_env.reidentifier_token()), topics.crosswalk)
    target = populated[3]
    found = reid.lookup(target.pseudonyms["PatientID"])
    assert found == [target]
    uid = Path(target.output_path).stem  # a re-identifier may only hold the clean object's new UID
    assert reid.lookup(uid) == [target]
    assert reid.lookup("PGNOTAPSEUDONYM0000") == []
    assert sorted(e.input_id for e in reid.entries("job-b")) == sorted(e.input_id for e in populated[6:])

    worker_store = KafkaCrosswalk(topics.bootstrap, vault_env.worker(), topics.crosswalk)
    with pytest.raises(VaultDenied):
        worker_store.lookup(target.pseudonyms["PatientID"])


def test_cli_lookup_and_export_by_policy_with_audit_trail(vault_env: VaultEnv, topics: Topics, populated: list,
                                                          tmp_path: Path) -> None:
    audit_file = tmp_path / "audit" / "audit.jsonl"
    env = {"VAULT_ADDR": vault_env.addr, "PIXELGUARD_KAFKA_BOOTSTRAP": topics.bootstrap,
           "PIXELGUARD_TOPIC_PREFIX": topics.prefix, "PIXELGUARD_VAULT_PREFIX": vault_env.layout.prefix,
           "PIXELGUARD_AUDIT_FILE": str(audit_file)}
    target = populated[2]
    pseudonym = target.pseudonyms["PatientID"]
    mrn = next(k for k in target.originals if k.startswith("PatientID:")).split(":", 1)[1]

    # A worker token: refused with exit 3 and one clear line, no traceback, nothing decrypted.
    denied = cli("lookup", pseudonym, token=vault_env.worker_token(), env_extra=env)
    assert denied.returncode == 3, denied.stderr
    assert "may not re-identify" in denied.stderr and "Traceback" not in denied.stderr
    assert mrn not in denied.stdout + denied.stderr
    out = tmp_path / "export.jsonl"
    denied_export = cli("export", "--job", "job-a", "--out", str(out), token=vault_env.worker_token(), env_extra=env)
    assert denied_export.returncode == 3 and not out.exists()

    reid_token = vault_env.reidentifier_token()
    ok = cli("lookup", pseudonym, token=reid_token, env_extra=env)
    assert ok.returncode == 0, ok.stderr
    [row] = [json.loads(line) for line in ok.stdout.splitlines()]
    assert row["originals"][f"PatientID:{mrn}"] == pseudonym and row["input_path"] == target.input_path

    missing = cli("lookup", "MRN0042424", token=reid_token, env_extra=env)  # an original typed by mistake
    assert missing.returncode == 1

    exported = cli("export", "--job", "job-a", "--out", str(out), token=reid_token, env_extra=env)
    assert exported.returncode == 0, exported.stderr
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    assert sorted(json.loads(line)["input_id"] for line in out.read_text().splitlines()) == \
        sorted(e.input_id for e in populated[:6])
    assert cli("export", "--out", str(out), token=reid_token, env_extra=env).returncode == 2  # --job required

    # Every access is in the trail, in the file and on the topic, with who/what/when/outcome and no PHI.
    assert stat.S_IMODE(audit_file.stat().st_mode) == 0o600
    events = [json.loads(line) for line in audit_file.read_text().splitlines()]
    assert [(e["action"], e["outcome"]) for e in events] == [
        ("crosswalk.lookup", "denied"), ("crosswalk.export", "denied"), ("crosswalk.lookup", "ok"),
        ("crosswalk.lookup", "not-found"), ("crosswalk.export", "ok")]
    assert events[0]["actor"].startswith(f"vault:approle:{vault_env.layout.worker_role}#")
    assert events[2]["actor"].startswith("vault:token") and events[2]["targets"] == {"pseudonym": pseudonym}
    assert "term_tag" in events[3]["targets"] and events[4]["job_id"] == "job-a"
    assert all(e["at"] and e["event_id"] for e in events)
    on_topic = [json.loads(v) for _, v in read_topic(topics.bootstrap, topics.audit)]
    assert [e["event_id"] for e in on_topic] == [e["event_id"] for e in events]
    trail = audit_file.read_text() + "".join(v.decode() for _, v in read_topic(topics.bootstrap, topics.audit))
    for entry in populated:
        for value in (entry.input_path, *entry.originals, "MRN0042424", "DOE"):
            assert value not in trail


def test_audit_refuses_values_that_look_like_free_text(tmp_path: Path, topics: Topics) -> None:
    from pixelguard.audit import AuditError, record_audit

    log = AuditLog([JsonlAuditSink(tmp_path / "a.jsonl"), KafkaAuditSink(topics.bootstrap, topics.audit)])
    with pytest.raises(AuditError) as caught:
        record_audit("review.decision", "ok", actor="u1", targets={"patient": "DOE^JANE"}, log=log)
    assert "DOE" not in str(caught.value)
    with pytest.raises(AuditError):
        record_audit("submit", "ok", actor="u1", detail={"note": "Jane Doe born 1961"}, log=log)
    event = record_audit("submit", "ok", actor="u1", targets={"input_id": "in-0a1b"}, job_id="job-1", log=log)
    record_audit("output.read", "ok", actor="u1", targets={"output": "2.25.1234"}, log=log)
    lines = (tmp_path / "a.jsonl").read_text().splitlines()
    assert [json.loads(line)["action"] for line in lines] == ["submit", "output.read"]
    assert json.loads(lines[0])["event_id"] == event.event_id
    (tmp_path / "a.jsonl").chmod(0o644)
    with pytest.raises(AuditError, match="readable by others"):
        record_audit("submit", "ok", actor="u1", log=log)


def test_cli_rotate_needs_the_admin_policy_and_keeps_entries_readable(vault_env: VaultEnv, topics: Topics,
                                                                      populated: list, tmp_path: Path) -> None:
    env = {"VAULT_ADDR": vault_env.addr, "PIXELGUARD_KAFKA_BOOTSTRAP": topics.bootstrap,
           "PIXELGUARD_TOPIC_PREFIX": topics.prefix, "PIXELGUARD_VAULT_PREFIX": vault_env.layout.prefix,
           "PIXELGUARD_AUDIT_FILE": str(tmp_path / "audit.jsonl")}
    for token in (vault_env.worker_token(), vault_env.reidentifier_token()):
        refused = cli("rotate", token=token, env_extra=env)
        assert refused.returncode == 3 and "may not rotate" in refused.stderr and "Traceback" not in refused.stderr
    done = cli("rotate", token=vault_env.admin_token(), env_extra=env)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["entries"] == report["rewrapped"] == len(populated)
    reid = KafkaCrosswalk(topics.bootstrap, vault_env.service(vault_env.reidentifier_token()), topics.crosswalk)
    assert sorted(e.input_id for e in reid.entries()) == sorted(e.input_id for e in populated)
    events = [json.loads(line) for line in (tmp_path / "audit.jsonl").read_text().splitlines()]
    assert [(e["action"], e["outcome"]) for e in events] == [("key.rotate", "denied")] * 2 + [("key.rotate", "ok")]
    assert events[2]["detail"]["rewrapped"] == len(populated)


def test_cli_setup_is_idempotent_and_issues_a_worker_secret(openbao_raft, topics: Topics,
                                                            tmp_path: Path) -> None:
    from pixelguard.keyservice.vault import VaultKeyService

    env = {
        "VAULT_ADDR": openbao_raft.addr,
        "PIXELGUARD_KAFKA_BOOTSTRAP": topics.bootstrap,
        "PIXELGUARD_TOPIC_PREFIX": topics.prefix,
        "PIXELGUARD_VAULT_PREFIX": "pgt-setup",
        "PIXELGUARD_AUDIT_FILE": str(tmp_path / "audit.jsonl"),
    }
    secret_file = tmp_path / "worker.secret"
    first = cli("setup", "--secret-id-file", str(secret_file), token=openbao_raft.root_token, env_extra=env)
    assert first.returncode == 0, first.stderr
    again = cli("setup", token=openbao_raft.root_token, env_extra=env)
    assert again.returncode == 0 and json.loads(again.stdout)["role_id"] == json.loads(first.stdout)["role_id"]
    assert stat.S_IMODE(secret_file.stat().st_mode) == 0o600
    # A worker configured only through the environment starts with it, by the path `pixelguard worker` takes.
    from agents import wiring
    from pixelguard.settings import Settings

    worker = wiring.key_service(Settings.from_env({
        "PIXELGUARD_VAULT_ADDR": openbao_raft.addr, "PIXELGUARD_VAULT_PREFIX": "pgt-setup",
        "PIXELGUARD_VAULT_ROLE_ID": json.loads(first.stdout)["role_id"],
        "PIXELGUARD_VAULT_SECRET_ID_FILE": str(secret_file)}))
    assert isinstance(worker, VaultKeyService)
    assert worker.encrypt([b"x"])[0].startswith("vault:v1:") and not worker.may_decrypt()
    # An operator setup with a worker token is refused, not a traceback.
    refused = cli("setup", token=worker.session.client.token, env_extra=env)
    assert refused.returncode == 3 and "Traceback" not in refused.stderr
