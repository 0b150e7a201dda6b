"""End to end on the real broker: submit a mixed corpus, SIGKILL a worker mid-stream, restart it, and check
that every object ends in exactly one of clean, review, errors, with no duplicate and no PHI anywhere."""
from __future__ import annotations

import json
import os
import time
import uuid
from collections import Counter
from pathlib import Path

import pytest

from pixelguard.core.keys import Derivations
from pixelguard.keyservice.local import LocalKeyService
from streams.objectstore import FileObjectStore
from streams.reader import scan
from streams.submit import submit
from streams.topics import FINAL_TOPICS, ensure_topics, topic_name

from .harness import dicom_text, make_corpus, stream_env, wait_for_job, wait_for_members, worker

FULL = os.environ.get("PIXELGUARD_E2E_SMALL") != "1"


def _triton_url(request: pytest.FixtureRequest) -> str:
    if not Path(__file__).resolve().parents[2].joinpath("inference", "triton_client.py").exists():
        return ""
    return request.getfixturevalue("triton").grpc_url




def test_every_object_exactly_once_across_a_worker_sigkill(kafka, request, tmp_path: Path) -> None:
    started = time.monotonic()
    triton_url = _triton_url(request)
    prefix = f"e2e-{uuid.uuid4().hex[:8]}"
    corpus = make_corpus(tmp_path / "in", **({} if FULL else dict(dicoms=14, compressed=2, images=1, niftis=1, bad=4)))
    store, key_file = tmp_path / "store", tmp_path / "keys" / "key.json"
    keys = LocalKeyService.open(key_file)
    spans = tmp_path / "telemetry.jsonl"
    env = stream_env(tmp_path, prefix, PIXELGUARD_TELEMETRY_FILE=str(spans), OTEL_METRIC_EXPORT_INTERVAL="2000")
    ensure_topics(kafka.bootstrap, prefix, 4)  # explicitly, before any worker starts
    workers = [worker(tmp_path, f"w{i}", kafka.bootstrap, store, key_file, env, triton_url) for i in (1, 2)]
    try:
        for w in workers:
            w.start()
        wait_for_members(kafka.bootstrap, prefix, len(workers))  # Faust strands what the join rebalance fetches
        result = submit([str(corpus.root)], bootstrap=kafka.bootstrap, prefix=prefix, store=FileObjectStore(store),
                        derive=Derivations(keys.hmac), profile="basic", job_id="job-e2e")
        assert result.submitted == corpus.total and result.failed == 0
        killed = False
        for status in wait_for_job(kafka.bootstrap, prefix, "job-e2e", corpus.total, 900, workers):
            decided = sum(status.counts.values())
            if not killed and decided >= corpus.total // 4:
                workers[0].kill()  # SIGKILL mid-stream: in-flight events, open transactions, uncommitted offsets
                killed_at = decided
                time.sleep(1)
                workers[0].start()
                killed = True
        assert killed, "the job finished before the worker could be killed"
    finally:
        for w in workers:
            w.stop()
    elapsed = time.monotonic() - started

    finals = list(scan(kafka.bootstrap, [topic_name(t, prefix) for t in FINAL_TOPICS]))
    per_input = Counter(r.event.input_id for r in finals)
    assert set(per_input) == set(result.input_ids), "an object vanished or a stranger appeared"
    assert max(per_input.values()) == 1, f"duplicates: {[k for k, v in per_input.items() if v > 1][:5]}"
    by_topic = Counter(r.topic.rsplit(".", 1)[1] for r in finals)
    clean = [r for r in finals if r.topic.endswith(".clean")]
    assert len({r.event.output_id for r in clean}) == len(clean)
    errors = [r.event for r in finals if r.topic.endswith(".errors")]
    assert len(errors) >= corpus.bad and all(e.reason for e in errors)
    assert by_topic["clean"] > 0, by_topic

    leaks = []
    for r in clean:
        if r.event.format == "dicom":
            leaks += corpus.leaks(dicom_text(FileObjectStore(store).get(r.event.object_uri)))
    assert not leaks, f"metadata leak check failed for {len(leaks)} values"
    # No PHI in any event, span, metric or log line; no input name in any output name.
    everything = "\n".join(json.dumps(r.event.to_bytes().decode()) for r in finals)
    everything += spans.read_text() if spans.exists() else ""
    everything += "".join(w.log.read_text(errors="replace") for w in workers)
    everything += "\n".join(str(p) for p in store.rglob("*"))
    assert not corpus.leaks(everything)
    print(f"\ne2e: {corpus.total} objects ({corpus.bad} bad) -> {dict(by_topic)}; worker w1 SIGKILLed at "
          f"{killed_at} decided; {elapsed:.0f}s; triton={'yes' if triton_url else 'no'}")
