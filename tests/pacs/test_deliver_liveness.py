"""``pixelguard deliver --health-port``: its /live turns 503 while its consumer is stuck, 200 once it moves.

The same rule and the same verdict as the worker's (agents/liveness.py, tests/streaming/test_liveness.py), over
deliver's own group, and the same honest stall: the clean object's stored copy is a FIFO, so deliver's read
blocks in the kernel (as a read from a hung network mount does) until the test writes the object into it.
Real Kafka, a real research PACS (Orthanc), the command as a Deployment runs it.
"""
from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import uuid
from pathlib import Path

from confluent_kafka import Producer

from pixelguard.samples import FakePatient
from pixelguard.services.base import free_port
from streams.events import ObjectEvent, now_iso
from streams.objectstore import open_store
from streams.topics import ensure_topics, topic_name
from tests.pacs.studies import make_study, pacs
from tests.streaming.harness import PIXELGUARD, stream_env
from tests.streaming.test_liveness import STALL_S, probe, wait_probe

PATIENT = FakePatient("LIVE^DELIVER", "MRN7730114", "19610203")


def test_deliver_live_is_503_while_its_consumer_is_stuck_and_200_once_it_moves(kafka, orthanc_factory,
                                                                                tmp_path: Path) -> None:
    research = orthanc_factory()
    prefix = f"dlive-{uuid.uuid4().hex[:8]}"
    ensure_topics(kafka.bootstrap, prefix, 1)
    outputs = open_store(str(tmp_path / "out"))
    stuck_data, next_data = make_study(PATIENT, [2]).files.values()
    fifo_uri = outputs.put("clean/stuck.dcm", b"placeholder")
    fifo = Path(fifo_uri.removeprefix("file://"))
    fifo.unlink()
    os.mkfifo(fifo)
    port = free_port()
    env = stream_env(tmp_path, prefix, PIXELGUARD_LIVENESS_STALL_S=str(STALL_S), PIXELGUARD_LIVENESS_INTERVAL_S="0.5",
                     PIXELGUARD_PARTITIONS="1")
    log = tmp_path / "deliver.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen([PIXELGUARD, "deliver", f"dicomweb://127.0.0.1:{research.port}/dicom-web",
                                 "--health-port", str(port), "--bootstrap", kafka.bootstrap,
                                 "--output-store", str(tmp_path / "out")],
                                env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        ready = wait_probe(port, "/ready", 200, 120, proc)
        assert ready["stages"]["deliver"]["partitions"] == [0]
        assert probe(port, "/live")[0] == 200  # idle, no lag: live however long it waits

        producer = Producer({"bootstrap.servers": kafka.bootstrap, "acks": "all"})
        for n, uri in enumerate((fifo_uri, outputs.put("clean/next.dcm", next_data))):
            event = ObjectEvent(job_id="job-dl", input_id=f"in-{n:010x}", profile="basic", submitted_at=now_iso(),
                                stage="clean", status="clean", format="dicom", object_uri=uri, key="2.25.7")
            producer.produce(topic_name("clean", prefix), key=b"2.25.7", value=event.to_bytes())
        assert producer.flush(30) == 0

        stuck = wait_probe(port, "/live", 503, 120, proc)
        assert "restart this worker" in stuck["reason"]
        assert {s.get("stage") for s in stuck["stuck"]} & {"deliver", "deliver-loop"}
        assert probe(port, "/ready")[0] == 503
        assert PATIENT.patient_id not in str(stuck) and PATIENT.name not in str(stuck)

        fd = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)  # fails unless deliver is really blocked reading it
        with os.fdopen(fd, "wb") as pipe:
            os.set_blocking(fd, True)
            pipe.write(stuck_data)

        moving = wait_probe(port, "/live", 200, 120, proc)
        assert "stuck" not in moving
        stored = {x["00080018"]["Value"][0] for x in pacs(research).search("instances")}
        assert len(stored) == 2
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGTERM)
            try:
                proc.wait(60)
            except subprocess.TimeoutExpired:
                os.kill(proc.pid, signal.SIGKILL)
                proc.wait(10)
        if fifo.is_fifo():  # never leave a reader blocked if the test failed early
            with contextlib.suppress(OSError):
                os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
    assert proc.returncode == 0, log.read_text(errors="replace")[-3000:]
