"""Streaming vs embedded on the same corpus, in the same run: objects/s and p50/p99 latency.

    .venv/bin/python bench/stream.py [--objects 60] [--workers 2] [--triton]

Embedded: ``pixelguard deid --jobs N``; latency is each object's processing time from the manifest.
Streaming: a real Apache Kafka (KRaft) on free loopback ports, N ``pixelguard worker`` processes (in-process
OCR engine, or Triton with ``--triton``), warmed up with one object each; wall time runs from the first
submit to the last final event, latency is submit -> final-topic timestamp per object. Target: streaming
wall <= 1.3x embedded wall.
"""
from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pixelguard.core.keys import Derivations
from pixelguard.keyservice.local import LocalKeyService
from pixelguard.samples import FakePatient, text_dicom, text_jpeg, text_png
from pixelguard.services.base import free_port
from pixelguard.services.kafka import KafkaService, install_kafka_jars
from streams.objectstore import FileObjectStore
from streams.reader import scan
from streams.status import job_status
from streams.submit import submit
from streams.topics import FINAL_TOPICS, ensure_topics, topic_name

PIXELGUARD = str(Path(sys.executable).with_name("pixelguard"))


def corpus(root: Path, n: int) -> None:
    root.mkdir(parents=True)
    for i in range(n):
        p = FakePatient(f"BENCH{i}^PAT", f"MRN{9100000 + i}", "19700101")
        if i % 10 == 8:
            (root / f"{i}.png").write_bytes(text_png(p, size=(320, 240), seed=i))
        elif i % 10 == 9:
            (root / f"{i}.jpg").write_bytes(text_jpeg(p, size=(320, 240), seed=i))
        else:
            (root / f"{i}.dcm").write_bytes(text_dicom(p))


def prepare(tmp: Path, objects: int, workers: int) -> Path:
    """The corpus under ``tmp/in``, a warm-up under ``tmp/warm`` (two per worker), and a key file: its path."""
    corpus(tmp / "in", objects)
    corpus(tmp / "warm", workers * 2)
    key = tmp / "keys" / "key.json"
    LocalKeyService.open(key)
    return key


def pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(round(q * (len(values) - 1))))] if values else 0.0


def embedded(inputs: Path, tmp: Path, key: Path, workers: int) -> tuple[float, list[float]]:
    started = time.monotonic()
    subprocess.run([PIXELGUARD, "deid", str(inputs), "--out", str(tmp / "out"), "--jobs", str(workers),
                    "--key-file", str(key)], check=False, capture_output=True)
    wall = time.monotonic() - started
    import json

    lines = [json.loads(x) for x in (tmp / "out" / "manifest.jsonl").read_text().splitlines()]
    return wall, [x["duration_s"] for x in lines]


def streaming(
    inputs: Path, warm: Path, tmp: Path, key: Path, workers: int, triton_url: str
) -> tuple[float, list[float]]:
    install_kafka_jars()
    with KafkaService(port=free_port(), controller_port=free_port(), state_dir=tmp / "kafka") as kafka:
        prefix = f"bench-{uuid.uuid4().hex[:6]}"
        ensure_topics(kafka.bootstrap, prefix, 4)
        procs = []
        store = tmp / "store"
        derive = Derivations(LocalKeyService.open(key).hmac)
        try:
            for i in range(workers):
                args = [PIXELGUARD, "worker", "--bootstrap", kafka.bootstrap, "--prefix", prefix, "--store", str(store),
                        "--key-file", str(key), "--name", f"b{i}", "--web-port", str(free_port()),
                        "--data-dir", str(tmp / "faust"), "--concurrency", "2", "--threads", "2"]
                if triton_url:
                    args += ["--triton-url", triton_url]
                log = open(tmp / f"worker{i}.log", "wb")  # noqa: SIM115
                procs.append(subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, start_new_session=True))
            w = submit([str(warm)], bootstrap=kafka.bootstrap, prefix=prefix, store=FileObjectStore(store),
                       derive=derive, profile="basic", job_id="warm")
            _wait(kafka.bootstrap, prefix, "warm", w.submitted)
            started = time.monotonic()
            r = submit([str(inputs)], bootstrap=kafka.bootstrap, prefix=prefix, store=FileObjectStore(store),
                       derive=derive, profile="basic", job_id="bench")
            _wait(kafka.bootstrap, prefix, "bench", r.submitted)
            wall = time.monotonic() - started
            latencies = []
            for read in scan(kafka.bootstrap, [topic_name(t, prefix) for t in FINAL_TOPICS]):
                if read.event and read.event.job_id == "bench":
                    submitted = datetime.fromisoformat(read.event.submitted_at).timestamp()
                    latencies.append(read.timestamp_ms / 1000 - submitted)
            return wall, latencies
        finally:
            for p in procs:
                p.terminate()
            for p in procs:
                p.wait(30)


def _wait(bootstrap: str, prefix: str, job: str, total: int, timeout: float = 1800) -> None:
    deadline = time.monotonic() + timeout
    while True:
        st = job_status(bootstrap, prefix, job)
        if st.submitted >= total and st.in_flight <= 0:
            return
        if time.monotonic() > deadline:
            raise SystemExit(f"bench: job {job} not done: {st}")
        time.sleep(0.5)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--objects", type=int, default=60)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--triton", action="store_true", help="streaming OCR through a local Triton server")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as raw:
        tmp = Path(raw)
        key = prepare(tmp, args.objects, args.workers)
        e_wall, e_lat = embedded(tmp / "in", tmp / "e", key, args.workers)
        triton_url = ""
        triton = None
        if args.triton:
            from pixelguard.services.triton import TritonService

            triton = TritonService(http_port=free_port(), grpc_port=free_port(), metrics_port=free_port(),
                                   state_dir=tmp / "triton")
            triton.start()
            triton_url = triton.grpc_url
        try:
            s_wall, s_lat = streaming(tmp / "in", tmp / "warm", tmp / "s", key, args.workers, triton_url)
        finally:
            if triton is not None:
                triton.stop()
    n = args.objects
    print(f"corpus: {n} objects (80% DICOM 128x128, 10% PNG, 10% JPEG), {args.workers} workers each, "
          f"streaming OCR: {'Triton' if args.triton else 'in-process'}")
    print(
        f"embedded : wall {e_wall:6.1f}s  {n / e_wall:5.2f} obj/s  "
        f"p50 {pct(e_lat, 0.5):.2f}s  p99 {pct(e_lat, 0.99):.2f}s"
        "  (per-object processing time)"
    )
    print(
        f"streaming: wall {s_wall:6.1f}s  {n / s_wall:5.2f} obj/s  "
        f"p50 {pct(s_lat, 0.5):.2f}s  p99 {pct(s_lat, 0.99):.2f}s"
        "  (submit -> final topic)"
    )
    print(f"ratio streaming/embedded wall: {s_wall / e_wall:.2f} (target <= 1.30)")


if __name__ == "__main__":
    main()
