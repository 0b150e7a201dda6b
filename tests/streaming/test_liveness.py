"""A worker's /live turns 503 when its consumer is really stuck, and 200 again once it moves (real broker).

The stuck stage is honest, not simulated: one submitted object's stored copy is a FIFO, so the parse thread
that reads it blocks in the kernel (as a read from a hung network mount does) until the test writes the
object's bytes into it. With one parse instance, nothing else on that partition moves meanwhile.
"""
from __future__ import annotations

import errno
import json
import os
import time
import urllib.error
import urllib.request
import uuid
from collections import Counter
from pathlib import Path

from confluent_kafka import Producer

from pixelguard.core.keys import Derivations
from pixelguard.keyservice.local import LocalKeyService
from pixelguard.samples import text_dicom
from streams.events import ObjectEvent, now_iso
from streams.objectstore import FileObjectStore
from streams.reader import scan
from streams.submit import submit
from streams.topics import FINAL_TOPICS, ensure_topics, topic_name

from .harness import make_corpus, patient, stream_env, wait_for_job, worker

STALL_S = 4


def probe(port: int, path: str) -> tuple[int, dict]:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(f"http://127.0.0.1:{port}{path}", timeout=10) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())
    except (urllib.error.URLError, OSError):
        return 0, {}


def wait_probe(port: int, path: str, status: int, timeout_s: float, proc) -> dict:
    deadline = time.monotonic() + timeout_s
    last: tuple[int, dict] = (0, {})
    while time.monotonic() < deadline:
        assert proc.poll() is None, f"worker exited with {proc.returncode}"
        last = probe(port, path)
        if last[0] == status:
            return last[1]
        time.sleep(0.5)
    raise AssertionError(f"{path} did not answer {status} within {timeout_s}s; last: {last}")


def test_live_turns_503_while_a_stage_is_stuck_behind_lag_and_200_once_it_moves(kafka, tmp_path: Path) -> None:
    prefix = f"live-{uuid.uuid4().hex[:8]}"
    store_dir, key_file = tmp_path / "store", tmp_path / "keys" / "key.json"
    keys = LocalKeyService.open(key_file)
    derive = Derivations(keys.hmac)
    ensure_topics(kafka.bootstrap, prefix, 2)
    env = stream_env(tmp_path, prefix, PIXELGUARD_PARTITIONS="2", PIXELGUARD_LIVENESS_STALL_S=str(STALL_S),
                     PIXELGUARD_LIVENESS_INTERVAL_S="0.5", PIXELGUARD_CROSSWALK="none")
    w = worker(tmp_path, "live1", kafka.bootstrap, store_dir, key_file, env, concurrency=1)
    port = int(w.args[w.args.index("--web-port") + 1])
    job = "job-live"
    fifo = store_dir / "ingest" / job / "stuck-object"
    w.start()
    try:
        ready = wait_probe(port, "/ready", 200, 180, w.proc)
        assert set(ready["stages"]) == {"parse", "scrub", "redact", "route"}
        assert ready["stages"]["route"]["partitions"] == [0, 1]  # the route hop thread reported its assignment
        status, body = probe(port, "/live")
        assert status == 200 and body["live"], body  # idle, no lag: live

        # The stuck object: its stored copy is a FIFO nobody writes to yet.
        fifo.parent.mkdir(parents=True, exist_ok=True)
        os.mkfifo(fifo)
        stuck_id = derive.input_id(str(fifo))
        event = ObjectEvent(job_id=job, input_id=stuck_id, profile="basic", submitted_at=now_iso(), stage="ingest",
                            source_uri=fifo.as_uri(), object_uri=fifo.as_uri(), key="stuck-study")
        producer = Producer({"bootstrap.servers": kafka.bootstrap, "acks": "all"})
        producer.produce(topic_name("ingest", prefix), key=event.key.encode(), value=event.to_bytes(), partition=0)
        assert producer.flush(30) == 0
        # More work queues up behind it on the same partition.
        corpus = make_corpus(tmp_path / "in", dicoms=3, compressed=0, images=0, niftis=0, bad=1)
        result = submit([str(corpus.root)], bootstrap=kafka.bootstrap, prefix=prefix,
                        store=FileObjectStore(store_dir), derive=derive, profile="basic", job_id=job)
        assert result.submitted == corpus.total

        stuck = wait_probe(port, "/live", 503, 120, w.proc)
        assert not stuck["live"] and "restart this worker" in stuck["reason"]
        assert {"stage": "parse", "partition": 0} in [{k: s[k] for k in ("stage", "partition")}
                                                       for s in stuck["stuck"]]
        # no_progress_s is rounded to 0.1 s: a partition stuck for 4.04 s reads 4.0
        assert all(s["lag"] > 0 and s["no_progress_s"] >= STALL_S for s in stuck["stuck"])
        assert probe(port, "/ready")[0] == 503
        # The worker is really blocked on the FIFO: a non-blocking writer finds a reader waiting.
        try:
            fd = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
        except OSError as err:
            raise AssertionError(f"no reader on the FIFO (errno {errno.errorcode.get(err.errno)})") from None
        os.set_blocking(fd, True)
        data = text_dicom(patient(99))
        # Later stages read the submitted copy again: from now on it is a plain file (the blocked reader
        # holds the FIFO itself open, so replacing the name does not disturb it).
        plain = fifo.with_name("stuck-object.plain")
        plain.write_bytes(data)
        os.replace(plain, fifo)
        with os.fdopen(fd, "wb") as pipe:  # the object arrives: the read completes
            pipe.write(data)

        moving = wait_probe(port, "/live", 200, 120, w.proc)
        assert moving["live"] and "stuck" not in moving
        total = corpus.total + 1
        for _ in wait_for_job(kafka.bootstrap, prefix, job, total, 300, [w]):
            pass
        assert probe(port, "/live")[0] == 200
    finally:
        w.stop()
        if fifo.is_fifo():  # never leave a reader blocked if the test failed early
            try:
                fd = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
                os.close(fd)
            except OSError:
                pass

    finals = list(scan(kafka.bootstrap, [topic_name(t, prefix) for t in FINAL_TOPICS]))
    per_input = Counter(r.event.input_id for r in finals if r.event.job_id == job)
    assert set(per_input) == {stuck_id, *result.input_ids} and max(per_input.values()) == 1
    stuck_final = next(r for r in finals if r.event.input_id == stuck_id)
    assert not stuck_final.topic.endswith(".errors"), stuck_final.event.reason
