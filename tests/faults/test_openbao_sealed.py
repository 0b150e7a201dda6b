"""OpenBao sealed mid-run, then unsealed, while two streaming workers run in Vault mode on the real servers.

The workers log in with AppRole and unwrap the HMAC data key at start; during the run each scrubbed object's
crosswalk entry is encrypted by transit, so a sealed server stalls scrub (every call answers 503). The
objects must wait and retry (``VaultUnavailable`` -> ``StageContext.retrying``) or end in errors with a
reason; none may be lost or duplicated, and each ends in exactly one of clean, review, errors. The test
prints a report row and appends it to ``$PIXELGUARD_FAULT_REPORT`` when that is set.
"""
from __future__ import annotations

import json
import os
import time
import uuid
from collections import Counter
from pathlib import Path

import pytest

from pixelguard.core.keys import Derivations
from pixelguard.crosswalk.kafka import KafkaCrosswalk
from pixelguard.keyservice.vault import VaultKeyService, VaultLayout
from pixelguard.keyservice.vault_setup import new_token, new_worker_secret_id, setup_vault
from pixelguard.services.openbao import HEALTH_SEALED, OpenBaoRaftService, health_code
from streams.objectstore import FileObjectStore
from streams.reader import scan
from streams.submit import submit
from streams.topics import FINAL_TOPICS, ensure_topics, topic_name
from tests.streaming.harness import make_corpus, stream_env, wait_for_job, worker

SEALED_S = 20  # long enough that scrubs in flight hit the seal, short of the 60 s per-call Vault deadline


def report(row: dict) -> None:
    line = json.dumps(row, sort_keys=True)
    print(f"\nfault report: {line}")
    target = os.environ.get("PIXELGUARD_FAULT_REPORT")
    if target:
        with open(target, "a") as handle:
            handle.write(line + "\n")


def test_openbao_sealed_then_unsealed_mid_run_loses_and_duplicates_nothing(kafka, tmp_path: Path,
                                                                          capsys: pytest.CaptureFixture[str]) -> None:
    with OpenBaoRaftService(tmp_path / "bao") as bao:
        layout = VaultLayout(prefix=f"seal{uuid.uuid4().hex[:6]}")
        root = bao.client()
        role_id = setup_vault(root, layout).role_id
        prefix = f"seal-{uuid.uuid4().hex[:8]}"
        ensure_topics(kafka.bootstrap, prefix, 4)
        corpus = make_corpus(tmp_path / "in", dicoms=16, compressed=2, images=1, niftis=1, bad=4)
        store = tmp_path / "store"
        env = stream_env(tmp_path, prefix, PIXELGUARD_VAULT_PREFIX=layout.prefix, PIXELGUARD_VAULT_ROLE_ID=role_id)
        workers = []
        for name in ("v1", "v2"):
            w = worker(tmp_path, name, kafka.bootstrap, store, tmp_path / "unused-key.json",
                       {**env, "PIXELGUARD_VAULT_SECRET_ID": new_worker_secret_id(root, layout)})
            w.args += ["--vault-addr", bao.addr]
            workers.append(w)
        # The submitter derives input ids and routing keys with the same data key the workers unwrap.
        submitter = VaultKeyService.for_worker(bao.addr, role_id, new_worker_secret_id(root, layout), layout=layout)
        sealed_at = unsealed_at = None
        decided_at_seal = decided_at_unseal = 0
        try:
            for w in workers:
                w.start()
            result = submit([str(corpus.root)], bootstrap=kafka.bootstrap, prefix=prefix,
                            store=FileObjectStore(store), derive=Derivations(submitter.hmac), profile="basic",
                            job_id="job-seal")
            assert result.submitted == corpus.total and result.failed == 0
            for status in wait_for_job(kafka.bootstrap, prefix, "job-seal", corpus.total, 900, workers):
                decided = sum(status.counts.values())
                if sealed_at is None and decided >= 2:
                    bao.seal()
                    assert health_code(bao.addr) == HEALTH_SEALED
                    sealed_at, decided_at_seal = time.monotonic(), decided
                elif sealed_at is not None and unsealed_at is None and time.monotonic() - sealed_at >= SEALED_S:
                    bao.unseal()
                    unsealed_at, decided_at_unseal = time.monotonic(), decided
            assert sealed_at is not None and decided_at_seal < corpus.total, "the job ended before the seal"
            if unsealed_at is None:  # the job finished while sealed (only errors could): unseal to read back
                bao.unseal()
                decided_at_unseal = corpus.total  # every object after the seal was decided while sealed
            assert all(w.proc.poll() is None for w in workers), "a worker died during the outage"
        finally:
            for w in workers:
                w.stop()
            if health_code(bao.addr) == HEALTH_SEALED:
                bao.unseal()

        finals = list(scan(kafka.bootstrap, [topic_name(t, prefix) for t in FINAL_TOPICS]))
        per_input = Counter(r.event.input_id for r in finals)
        lost = set(result.input_ids) - set(per_input)
        duplicated = sorted(k for k, v in per_input.items() if v > 1)
        by_topic = Counter(r.topic.rsplit(".", 1)[1] for r in finals)
        clean = [r.event for r in finals if r.topic.endswith(".clean")]
        errors = [r.event for r in finals if r.topic.endswith(".errors")]
        with capsys.disabled():
            report({"fault": "openbao sealed then unsealed", "sealed_s": SEALED_S, "objects": corpus.total,
                    "lost": len(lost), "duplicated": len(duplicated), "final": dict(by_topic),
                    "decided_before_seal": decided_at_seal, "decided_while_sealed": decided_at_unseal - decided_at_seal,
                    "decided_after_unseal": corpus.total - decided_at_unseal if unsealed_at else 0,
                    "error_codes": dict(Counter(e.error_code for e in errors))})
        assert not lost, f"{len(lost)} objects have no final state"
        assert not duplicated, f"{len(duplicated)} objects have more than one final state"
        assert set(per_input) == set(result.input_ids), "a final event for an object nobody submitted"
        assert len({e.output_id for e in clean}) == len(clean), "a clean output published twice"
        assert all(e.reason for e in errors)
        assert len(errors) >= corpus.bad
        # An unexpected exception is a defect, whatever the fault; an outage error names the key service.
        assert "internal" not in {e.error_code for e in errors}, [e.reason for e in errors]
        assert by_topic["clean"] > 0
        # Every object that passed scrub has its crosswalk entry, readable by the re-identifier.
        reid = VaultKeyService.connect(bao.addr, new_token(root, layout.reidentifier_policy), layout=layout)
        entries = {e.input_id for e in KafkaCrosswalk(kafka.bootstrap, reid, topic_name("crosswalk", prefix))
                   .entries("job-seal")}
        scrubbed = {r.event.input_id for r in finals if not r.topic.endswith(".errors")}
        assert scrubbed <= entries, f"{len(scrubbed - entries)} published objects lack a crosswalk entry"
