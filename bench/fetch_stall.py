"""A second worker joins mid-run under CPU load: how long does the rebalance stop the pipeline?

    .venv/bin/python bench/fetch_stall.py [--objects 40] [--burners 2] [--env KEY=VALUE ...]

Issue 10 saw a Faust worker log "has not sent fetch request ... since start" for every partition after a
rebalance under CPU load, and an end-to-end run take 15 minutes instead of 2. This reproduces the shape:
a real Apache Kafka on free loopback ports, worker w1 alone, the corpus submitted, ``--burners`` processes
spinning on the CPU, then w2 started once a quarter is decided (a rebalance of the Faust group and of the
route hop's group). It prints the wall time, the longest spell with no final decision after w2 joined, how
often each worker's ``/live`` answered 503, and the rebalance symptoms counted in the worker logs.
``--env`` passes settings to both workers (e.g. ``PIXELGUARD_REBALANCE_TIMEOUT_S=60`` to compare).
"""
from __future__ import annotations

import argparse
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pixelguard.core.keys import Derivations
from pixelguard.keyservice.local import LocalKeyService
from pixelguard.services.base import free_port
from pixelguard.services.kafka import KafkaService, install_kafka_jars
from streams.objectstore import FileObjectStore
from streams.status import job_status
from streams.submit import submit
from streams.topics import ensure_topics
from tests.streaming.harness import make_corpus, stream_env, worker

SYMPTOMS = {
    "no fetch since start": "has not sent fetch request",
    "stopped responding": "stopped responding to fetch",
    "wait_empty (revoke waits for in-flight events)": "wait_empty: Waiting",
    "heartbeat: rebalancing": "because it is rebalancing",
    "member kicked (unknown member / generation)": "UnknownMemberId",
    "illegal generation": "IllegalGeneration",
    "session expired / coordinator dead": "Marking the coordinator dead",
    "heartbeat session expired": "Heartbeat session expired",
    "joined (generations)": "Joined group",
}


def rebalance_spells(text: str) -> list[float]:
    """Seconds from each "Revoking previously assigned partitions" to the next "Joined group" (a rebalance
    as this member lived it: draining in-flight events, then waiting for the others)."""
    from datetime import datetime

    spells, start = [], None
    for m in re.finditer(
        r"\[(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3})\] \[\d+\] \[\w+\] (Revoking previously|Joined group)", text
    ):
        t = datetime.strptime(m.group(1), "%Y-%m-%d %H:%M:%S,%f").timestamp()
        if m.group(2).startswith("Revoking"):
            start = t
        elif start is not None:
            spells.append(round(t - start, 1))
            start = None
    return spells


def max_drift(text: str) -> float:
    """Largest lateness of a Faust/mode timer: how long the event loops waited for the GIL or the CPU."""
    return max((float(x) for x in re.findall(r"drift of \+([0-9.]+)", text)), default=0.0)


def live_status(port: int) -> tuple[int, dict]:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(f"http://127.0.0.1:{port}/live", timeout=5) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read() or b"{}")
    except (urllib.error.URLError, OSError, ValueError):
        return 0, {}  # no answer: event loop busy or not started


def quiet_while_behind(body: dict) -> dict[str, float]:
    """Per stage with lag, seconds since its last progress on this worker, as /live reported it."""
    return {stage: info.get("last_progress_s_ago", 0.0) for stage, info in body.get("stages", {}).items()
            if info.get("lag", 0) > 0}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--objects", type=int, default=40)
    parser.add_argument("--burners", type=int, default=2, help="CPU-spinning processes started before w2 joins")
    parser.add_argument("--env", action="append", default=[], help="KEY=VALUE for both workers")
    parser.add_argument("--timeout", type=float, default=900)
    parser.add_argument("--kill", action="store_true",
                        help="as the e2e test: both workers from the start, SIGKILL w1 and restart it at a quarter")
    parser.add_argument("--mixed", action="store_true", help="the e2e mix (compressed, multi-frame, NIfTI, images)")
    args = parser.parse_args()

    install_kafka_jars()
    with tempfile.TemporaryDirectory(prefix="pg-stall-") as tmp_name, \
            KafkaService(port=free_port(), controller_port=free_port(), state_dir=Path(tmp_name) / "kafka") as kafka:
        tmp = Path(tmp_name)
        prefix = f"stall-{uuid.uuid4().hex[:6]}"
        ensure_topics(kafka.bootstrap, prefix, 4)
        corpus = (make_corpus(tmp / "in", dicoms=args.objects, compressed=4, images=2, niftis=2, bad=4) if args.mixed
                  else make_corpus(tmp / "in", dicoms=args.objects, compressed=0, images=0, niftis=0, bad=1))
        store, key_file = tmp / "store", tmp / "key.json"
        keys = LocalKeyService.open(key_file)
        env = stream_env(tmp, prefix, PIXELGUARD_LIVENESS_STALL_S="60", PIXELGUARD_CROSSWALK="none",
                         **dict(kv.split("=", 1) for kv in args.env))
        w1, w2 = (worker(tmp, name, kafka.bootstrap, store, key_file, env) for name in ("w1", "w2"))
        for w in (w1, w2):
            w.args += ["--loglevel", "info"]
        ports = {w.name: int(w.args[w.args.index("--web-port") + 1]) for w in (w1, w2)}
        burners: list[subprocess.Popen] = []
        started = time.monotonic()
        w1.start()
        if args.kill:
            w2.start()
        result = submit([str(corpus.root)], bootstrap=kafka.bootstrap, prefix=prefix, store=FileObjectStore(store),
                        derive=Derivations(keys.hmac), profile="basic", job_id="job-stall")
        joined_at: float | None = None
        last_change, decided_before, longest_gap = time.monotonic(), -1, 0.0
        live_503 = {w.name: 0 for w in (w1, w2)}
        no_answer = {w.name: 0 for w in (w1, w2)}
        worst_quiet: dict[str, dict[str, float]] = {w.name: {} for w in (w1, w2)}
        try:
            while True:
                st = job_status(kafka.bootstrap, prefix, "job-stall")
                decided = sum(st.counts.values())
                now = time.monotonic()
                if decided != decided_before:
                    if joined_at is not None:
                        longest_gap = max(longest_gap, now - max(last_change, joined_at))
                    last_change, decided_before = now, decided
                if joined_at is None and decided >= corpus.total // 4:
                    burners = [subprocess.Popen([sys.executable, "-c", "while True: pass"])
                               for _ in range(args.burners)]
                    if args.kill:
                        w1.kill()  # SIGKILL: in-flight events, uncommitted offsets, an open route transaction
                        time.sleep(1)
                        w1.start()
                    else:
                        w2.start()
                    joined_at = now
                if joined_at is not None:
                    for w in (w1, w2):
                        code, body = live_status(ports[w.name])
                        live_503[w.name] += code == 503
                        for stage, quiet in quiet_while_behind(body).items():
                            worst_quiet[w.name][stage] = max(worst_quiet[w.name].get(stage, 0.0), quiet)
                        no_answer[w.name] += code == 0 and now - joined_at > 30
                if st.submitted >= result.submitted and st.in_flight <= 0:
                    break
                if now - started > args.timeout:
                    print(f"not finished in {args.timeout:.0f}s: {st}")
                    break
                time.sleep(2)
            wall = time.monotonic() - started
        finally:
            for p in burners:
                os.kill(p.pid, signal.SIGKILL)
                p.wait()
            for w in (w1, w2):
                w.stop()
        logs = {w.name: w.log.read_text(errors="replace") for w in (w1, w2)}
        print(
            json.dumps(
                {
                    "objects": corpus.total,
                    "burners": args.burners,
                    "scenario": "kill+restart w1" if args.kill else "w2 joins",
                    "env": args.env,
                    "decided": decided_before,
                    "wall_s": round(wall, 1),
                    "after_join_s": round(time.monotonic() - joined_at, 1) if joined_at else None,
                    "longest_no_decision_after_join_s": round(longest_gap, 1),
                    "live_503_polls": live_503,
                    "longest_quiet_while_behind_s": worst_quiet,
                    "live_no_answer_polls": no_answer,
                    "rebalance_spells_s": {name: rebalance_spells(text) for name, text in logs.items()},
                    "max_timer_drift_s": {name: round(max_drift(text), 2) for name, text in logs.items()},
                    "symptoms": {
                        name: {label: text.count(pat) for label, pat in SYMPTOMS.items()} for name, text in logs.items()
                    },
                },
                indent=1,
            )
        )
        keep = Path("/tmp") / f"fetch-stall-logs-{prefix}"
        keep.mkdir(exist_ok=True)
        for name, text in logs.items():
            (keep / f"{name}.log").write_text(text)
        print(f"worker logs kept in {keep}")


if __name__ == "__main__":
    main()
