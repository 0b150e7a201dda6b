"""Objects/s through S3 against file://, on the same corpus, in the same run, timing the commands a user runs.

    .venv/bin/python bench/s3.py [--objects 40] [--workers 2] [--redaction off|all]
    .venv/bin/python bench/s3.py --startup 10 [--fresh-install]

``--startup N``: the S3 server's own figures, by which it was picked: the install (``--fresh-install``: into an
empty Maven repository and cache, so every jar is downloaded), then N starts to healthy (a signed ListBuckets
answered) and stops, with how many failed.

One Apache Kafka and one s3proxy (both real, on free loopback ports). For each store, N ``pixelguard worker``
processes are started on it (file://: ``--store DIR``; S3: ``PIXELGUARD_STORE=s3://work``,
``PIXELGUARD_OUTPUT_STORE=s3://out``) and warmed with one small job, then the user's command is timed as a whole
process: ``pixelguard submit DIR`` (file://) or ``pixelguard submit s3://feed/batch/`` (S3; the feed's objects
were put there beforehand), from its start to the last input's final event. Printed per store: the submit
process alone, end to end, objects/s; then the S3/file ratio. ``--redaction off`` (the default) leaves the
OCR out, so the figures are mostly storage and Kafka; ``all`` shows what a user's real run sees.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from stream import _wait, prepare

from pixelguard.services.base import free_port
from pixelguard.services.kafka import KafkaService, install_kafka_jars
from pixelguard.services.s3proxy import S3ProxyService, install_s3proxy
from streams.topics import ensure_topics

PIXELGUARD = str(Path(sys.executable).with_name("pixelguard"))


def upload(s3, bucket: str, prefix: str, folder: Path) -> None:
    for path in sorted(folder.iterdir()):
        s3.put_object(Bucket=bucket, Key=prefix + path.name, Body=path.read_bytes())


def one_store(name: str, env: dict[str, str], kafka: KafkaService, tmp: Path, key: Path, workers: int,
              warm: str, inputs: str, total: int, redaction: str) -> tuple[float, float]:
    """Start workers on a store, warm them, time ``pixelguard submit`` to the last final event."""
    prefix = f"bench-{name}-{uuid.uuid4().hex[:6]}"
    ensure_topics(kafka.bootstrap, prefix, 4)
    env = {**env, "PIXELGUARD_TOPIC_PREFIX": prefix, "PIXELGUARD_KAFKA_BOOTSTRAP": kafka.bootstrap,
           "PIXELGUARD_KEY_FILE": str(key), "PIXELGUARD_AUDIT_FILE": str(tmp / f"audit-{name}.jsonl")}
    procs = []
    try:
        for i in range(workers):
            log = open(tmp / f"worker-{name}-{i}.log", "wb")  # noqa: SIM115
            procs.append(subprocess.Popen(
                [PIXELGUARD, "worker", "--name", f"{name}{i}", "--web-port", str(free_port()),
                 "--data-dir", str(tmp / f"faust-{name}-{i}"), "--concurrency", "2", "--threads", "2"],
                env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True))
        submit = [PIXELGUARD, "submit", "--redaction", redaction]
        subprocess.run([*submit, warm, "--job", "warm"], env=env, check=True, capture_output=True)
        _wait(kafka.bootstrap, prefix, "warm", workers * 2)
        started = time.monotonic()
        subprocess.run([*submit, inputs, "--job", "bench"], env=env, check=True, capture_output=True)
        submitted = time.monotonic() - started
        _wait(kafka.bootstrap, prefix, "bench", total)
        return submitted, time.monotonic() - started
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            p.wait(30)


def startup(count: int, fresh: bool) -> None:
    """Install time, then ``count`` start-to-healthy times and failures of s3proxy."""
    import statistics

    with tempfile.TemporaryDirectory() as raw:
        if fresh:
            os.environ["PIXELGUARD_CACHE"] = raw  # nothing cached: the jar and Maven's plugin are downloaded
        t0 = time.monotonic()
        install_s3proxy()
        print(f"s3proxy install: {time.monotonic() - t0:.1f}s ({'empty cache' if fresh else 'cache as it is'})")
        times, failed = [], 0
        for i in range(count):
            service = S3ProxyService(Path(raw) / f"run{i}")
            try:
                service.start()
                assert service.start_seconds is not None
                times.append(service.start_seconds)
            except Exception as exc:  # noqa: BLE001 - counted: reliability is what is measured
                failed += 1
                print(f"start {i}: failed: {exc}")
            finally:
                service.stop()
    if times:
        print(f"s3proxy start to healthy, {count} starts: min {min(times):.2f}s median "
              f"{statistics.median(times):.2f}s max {max(times):.2f}s; failed {failed}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--objects", type=int, default=40)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--redaction", choices=("off", "all"), default="off")
    parser.add_argument("--startup", type=int, default=0, metavar="N", help="only time N s3proxy starts")
    parser.add_argument("--fresh-install", action="store_true", help="with --startup: install into an empty cache")
    args = parser.parse_args()
    if args.startup:
        startup(args.startup, args.fresh_install)
        return
    install_kafka_jars()
    install_s3proxy()
    with tempfile.TemporaryDirectory() as raw:
        tmp = Path(raw)
        key = prepare(tmp, args.objects, args.workers)
        base = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "PIXELGUARD_"))}
        t0 = time.monotonic()
        with KafkaService(port=free_port(), controller_port=free_port(), state_dir=tmp / "kafka") as kafka, \
                S3ProxyService(tmp / "s3proxy") as s3proxy:
            print(f"kafka + s3proxy up in {time.monotonic() - t0:.1f}s (s3proxy alone {s3proxy.start_seconds:.1f}s)")
            for bucket in ("feed", "work", "out"):
                s3proxy.create_bucket(bucket)
            upload(s3proxy.client(), "feed", "batch/", tmp / "in")
            upload(s3proxy.client(), "feed", "warm/", tmp / "warm")
            file_env = {**base, "PIXELGUARD_STORE": str(tmp / "store")}
            s3_env = {**base, **s3proxy.env(), "PIXELGUARD_STORE": "s3://work", "PIXELGUARD_OUTPUT_STORE": "s3://out"}
            runs = {
                "file": one_store("file", file_env, kafka, tmp, key, args.workers, str(tmp / "warm"),
                                  str(tmp / "in"), args.objects, args.redaction),
                "s3": one_store("s3", s3_env, kafka, tmp, key, args.workers, "s3://feed/warm/",
                                "s3://feed/batch/", args.objects, args.redaction),
            }
    n = args.objects
    print(f"corpus: {n} objects (80% DICOM 128x128, 10% PNG, 10% JPEG), {args.workers} workers, "
          f"--redaction {args.redaction}")
    for name, (submitted, wall) in runs.items():
        print(f"{name:4}: submit process {submitted:6.1f}s  end to end {wall:6.1f}s  {n / wall:5.2f} obj/s")
    print(f"ratio S3/file objects/s: {runs['file'][1] / runs['s3'][1]:.2f}")


if __name__ == "__main__":
    main()
