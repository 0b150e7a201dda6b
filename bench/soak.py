"""Soak: N objects through the streaming pipeline under steady load; throughput, RSS, lag and stalls over time.

    .venv/bin/python bench/soak.py [--objects 10000] [--wave 20 --every 5] [--report bench/results/soak]

Not a CI test: it runs for tens of minutes. It starts its own Apache Kafka (KRaft, free 127.0.0.1 ports) and
two ``pixelguard worker`` processes (in-process OCR engine), the way a user runs them, then submits a
generated mixed corpus in waves (``--wave`` objects every ``--every`` seconds, held back while more than
``--max-in-flight`` are undecided, so the pipeline runs under steady load rather than one burst). Every
``--sample`` seconds it records objects reaching a final topic, each worker's RSS (process and children,
``/proc``), CPU seconds, and consumer lag per group (committed offsets vs high watermarks). At the end every
submitted object must be in exactly one final state; lost and duplicated objects are counted, and a Markdown
and a JSON report are written (``<report>.md``, ``<report>.json``; worker logs go to
``<workdir>-worker-<name>.log``). Everything it starts is stopped by pid, also on Ctrl-C or SIGTERM.

Corpus (generated per run, deterministic in ``--seed``): a pool of distinct objects, linked to one distinct
path per submission (so each submission has its own input id, while content repeats). Mostly small DICOM
(64-256 px; CT, MR, CR, DX, XA, US RGB; native explicit/implicit VR, RLE Lossless, JPEG 2000 Lossless; a share
with fake PHI burned into the pixels), about 10% PNG/JPEG, about 1% bad objects (truncated, garbage, empty,
cut PNG), each in its own study so objects spread over the partitions.
"""
from __future__ import annotations

import argparse
import io
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import time
import uuid
from collections import Counter
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np
from _proc import status_value
from confluent_kafka import OFFSET_BEGINNING, Consumer, ConsumerGroupTopicPartitions, TopicPartition
from confluent_kafka.admin import AdminClient

from pixelguard.core.keys import Derivations
from pixelguard.keyservice.local import LocalKeyService
from pixelguard.samples import FakePatient, burn_text, pydicom_test_files, text_jpeg, text_png
from pixelguard.services.base import free_port
from pixelguard.services.kafka import KafkaService, install_kafka_jars
from streams.events import ObjectEvent, PoisonEvent
from streams.groups import worker_groups
from streams.objectstore import FileObjectStore
from streams.status import job_status
from streams.submit import submit
from streams.topics import FINAL_TOPICS, ensure_topics, topic_name

REPO = Path(__file__).resolve().parents[1]
PIXELGUARD = str(Path(sys.executable).with_name("pixelguard"))
STALL_S = 30.0
PAGE_MB = 1024.0


class Interrupted(Exception):
    """SIGTERM/SIGINT: stop submitting, stop what we started, write what we have."""


# --- corpus ------------------------------------------------------------------------------------------------

_LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
SIZES = (64, 96, 128, 160, 192, 256)


def patient(i: int) -> FakePatient:
    tag = _LETTERS[i % 26] + _LETTERS[(i // 26) % 26] + _LETTERS[(i // 676) % 26]
    return FakePatient(
        f"SOAK{tag}^PAT{tag}", f"MRN{5100000 + i}", f"19{40 + i % 50:02d}{1 + i % 12:02d}{1 + i % 28:02d}"
    )


def _resize(frame: np.ndarray, width: int, height: int) -> np.ndarray:
    from PIL import Image

    if frame.ndim == 3:
        return np.asarray(Image.fromarray(frame).resize((width, height), Image.BILINEAR))
    # 16-bit frames: resize as float so no PIL mode limits apply, then back to the original dtype.
    img = Image.fromarray(frame.astype(np.float32), mode="F").resize((width, height), Image.BILINEAR)
    return np.asarray(img).round().clip(np.iinfo(frame.dtype).min, np.iinfo(frame.dtype).max).astype(frame.dtype)


def make_dicom(i: int, rng: np.random.Generator, modality: str | None = None,
               burn_share: float = 0.45) -> tuple[bytes, dict[str, object]]:
    """One small DICOM: modality (unless given), size, transfer syntax and burned-in text vary with ``rng``.

    ``modality`` "OT" is an 8-bit Secondary Capture (a screen grab); ``burn_share`` of objects carry the
    header's fake patient burned into the pixels.
    """
    import pydicom
    from pydicom.uid import (
        ExplicitVRLittleEndian,
        ImplicitVRLittleEndian,
        JPEG2000Lossless,
        RLELossless,
        generate_uid,
    )

    p = patient(i)
    modality = modality or str(rng.choice(["CT", "CT", "MR", "MR", "CR", "DX", "XA", "US"]))
    base = "MR_small.dcm" if modality == "MR" else "CT_small.dcm"
    ds = pydicom.dcmread(pydicom_test_files() / base)
    width, height = int(rng.choice(SIZES)), int(rng.choice(SIZES))
    frame = _resize(ds.pixel_array, width, height)
    frames = 1
    if modality in ("CR", "DX", "XA", "US", "OT"):
        # 8-bit projection-style frames from CT_small's pixels (neither test file ships these modalities small).
        f = frame.astype(np.float64)
        frame = ((f - f.min()) / max(1.0, f.max() - f.min()) * 255).astype(np.uint8)
        ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 8, 8, 7, 0
        for tag in ("RescaleIntercept", "RescaleSlope", "WindowCenter", "WindowWidth"):
            if tag in ds:
                delattr(ds, tag)
        ds.SOPClassUID = "1.2.840.10008.5.1.4.1.1.7"  # Secondary Capture: valid for any of these
    burned = rng.random() < burn_share
    if burned:
        size = max(8, min(width, height) // 14)
        value = int(np.iinfo(frame.dtype).max if frame.dtype == np.uint8 else frame.max())
        frame = burn_text(frame, p.banner(), (2, 2), size, value)
    if modality == "US":  # RGB ultrasound
        frame = np.stack([frame] * 3, axis=-1)
        ds.SamplesPerPixel, ds.PhotometricInterpretation, ds.PlanarConfiguration = 3, "RGB", 0
    else:
        ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    if modality == "XA" and rng.random() < 0.5:  # short cine: text on every frame
        frames = 2
        frame = np.stack([frame, np.roll(frame, 2, axis=1)])
        ds.NumberOfFrames = frames
    ds.Rows, ds.Columns = height, width
    ds.Modality = modality
    ds.PixelData = np.ascontiguousarray(frame).tobytes()
    ds.PatientName, ds.PatientID, ds.PatientBirthDate = p.name, p.patient_id, p.birth_date
    ds.InstitutionName = "SOAK GENERAL HOSPITAL"
    ds.BurnedInAnnotation = "YES" if burned else "NO"
    ds.StudyInstanceUID = generate_uid(entropy_srcs=["soak-study", str(i)])
    ds.SeriesInstanceUID = generate_uid(entropy_srcs=["soak-series", str(i)])
    ds.SOPInstanceUID = generate_uid(entropy_srcs=["soak-sop", str(i)])
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.file_meta.MediaStorageSOPClassUID = ds.SOPClassUID
    syntax = str(rng.choice(["explicit", "explicit", "implicit", "rle", "j2k"]))
    buf = io.BytesIO()
    if syntax == "rle":
        ds.compress(RLELossless, generate_instance_uid=False)
    elif syntax == "j2k":
        ds.compress(JPEG2000Lossless, generate_instance_uid=False)
    if syntax == "implicit":
        ds.file_meta.TransferSyntaxUID = ImplicitVRLittleEndian
        ds.save_as(buf, implicit_vr=True, little_endian=True, enforce_file_format=True)
    else:
        if syntax == "explicit":
            ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds.save_as(buf, implicit_vr=False, little_endian=True, enforce_file_format=True)
    return buf.getvalue(), {"kind": "dicom", "modality": modality, "syntax": syntax, "size": f"{width}x{height}",
                            "frames": frames, "burned": burned}


def make_pool(root: Path, count: int, seed: int) -> list[tuple[Path, dict[str, object]]]:
    """``count`` distinct objects: ~89% DICOM, ~10% PNG/JPEG, ~1% bad."""
    root.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    pool: list[tuple[Path, dict[str, object]]] = []
    good_dicom = b""
    for i in range(count):
        roll = rng.random()
        if roll < 0.01 and good_dicom:
            k = int(rng.integers(0, 4))
            name, data = [(f"{i}.truncated.dcm", good_dicom[: 300 + int(rng.integers(0, 600))]),
                          (f"{i}.garbage.bin", rng.bytes(64 + int(rng.integers(0, 512)))),
                          (f"{i}.empty.dcm", b""),
                          (f"{i}.cut.png", text_png(patient(i), size=(64, 48), seed=i)[:80])][k]
            meta: dict[str, object] = {"kind": "bad", "what": name.split(".")[1]}
        elif roll < 0.06:
            w, h = int(rng.choice(SIZES[2:])), int(rng.choice(SIZES[2:]))
            name, data = f"{i}.png", text_png(patient(i), size=(w, h), seed=i)
            meta = {"kind": "png", "size": f"{w}x{h}"}
        elif roll < 0.11:
            w, h = int(rng.choice(SIZES[2:])), int(rng.choice(SIZES[2:]))
            name, data = f"{i}.jpg", text_jpeg(patient(i), size=(w, h), seed=i)
            meta = {"kind": "jpeg", "size": f"{w}x{h}"}
        else:
            data, meta = make_dicom(i, rng)
            name = f"{i}.dcm"
            good_dicom = good_dicom or data
        path = root / name
        path.write_bytes(data)
        pool.append((path, meta))
    return pool


# --- sampling ----------------------------------------------------------------------------------------------


def _proc_table() -> dict[int, int]:
    """pid -> parent pid for every process we can see."""
    table: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
                table[int(entry)] = int(stat.rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                continue
    return table


def _descendants(pid: int, table: dict[int, int]) -> list[int]:
    found, frontier = [pid], [pid]
    while frontier:
        parent = frontier.pop()
        kids = [p for p, pp in table.items() if pp == parent]
        found += kids
        frontier += kids
    return found


def _rss_kb(pid: int) -> int:
    return status_value(pid, "VmRSS")


def _cpu_s(pid: int) -> float:
    """utime + stime + waited-for children's times (Tesseract runs as short-lived children)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return sum(int(fields[k]) for k in (11, 12, 13, 14)) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return 0.0


def tree_usage(pid: int, table: dict[int, int]) -> tuple[float, float]:
    """(RSS MB of the process and its live descendants, CPU seconds of the process)."""
    return sum(_rss_kb(p) for p in _descendants(pid, table)) / PAGE_MB, _cpu_s(pid)


@dataclass
class Sample:
    t: float  # seconds since the first wave
    submitted: int
    final: int
    rss_mb: dict[str, float]
    cpu_s: dict[str, float]
    lag: dict[str, int]  # group -> sum over its partitions of (high watermark - committed offset)
    alive: dict[str, bool]


@dataclass
class FinalEvent:
    key: str
    topic: str
    ts: float  # broker/producer timestamp, epoch seconds
    submitted_at: float
    error_code: str = ""
    reason: str = ""  # the route hop's reason code for review (our words, never a value)


class FinalReader:
    """Follows the final topics from the beginning (read_committed) and keeps every final event of the job."""

    def __init__(self, bootstrap: str, prefix: str, job_id: str) -> None:
        self.job_id = job_id
        self.consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"soak-reader-{uuid.uuid4().hex[:8]}",
                                  "isolation.level": "read_committed", "enable.auto.commit": False})
        meta = self.consumer.list_topics(timeout=30).topics
        topics = [topic_name(t, prefix) for t in FINAL_TOPICS]
        self.consumer.assign([TopicPartition(t, p, OFFSET_BEGINNING) for t in topics for p in meta[t].partitions])
        self.events: list[FinalEvent] = []
        self.other = 0  # final events of other jobs (the warm-up) or not ours at all

    def wanted(self, job_id: str) -> bool:
        return job_id == self.job_id

    def drain(self, budget_s: float = 1.0) -> int:
        new = 0
        deadline = time.monotonic() + budget_s
        while time.monotonic() < deadline:
            batch = self.consumer.consume(num_messages=500, timeout=0.05)
            if not batch:
                break
            for msg in batch:
                if msg.error():
                    continue
                try:
                    event = ObjectEvent.from_bytes(msg.value())
                except PoisonEvent:
                    self.other += 1
                    continue
                if not self.wanted(event.job_id):
                    self.other += 1
                    continue
                submitted = datetime.fromisoformat(event.submitted_at).timestamp()
                self.events.append(FinalEvent(event.dedupe_key, msg.topic().rsplit(".", 1)[-1],
                                              msg.timestamp()[1] / 1000, submitted, event.error_code,
                                              (event.reason or "").split(":")[0]))
                new += 1
        return new

    def close(self) -> None:
        self.consumer.close()


class LagProbe:
    """Consumer lag per group: high watermark minus committed offset, summed over the group's partitions."""

    def __init__(self, bootstrap: str, groups: dict[str, list[str]]) -> None:
        self.admin = AdminClient({"bootstrap.servers": bootstrap})
        self.watermarks = Consumer({"bootstrap.servers": bootstrap, "group.id": f"soak-lag-{uuid.uuid4().hex[:8]}",
                                    "enable.auto.commit": False})
        meta = self.watermarks.list_topics(timeout=30).topics
        self.groups = {g: [TopicPartition(t, p) for t in topics for p in meta[t].partitions]
                       for g, topics in groups.items()}

    def sample(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for group, tps in self.groups.items():
            try:
                fut = self.admin.list_consumer_group_offsets([ConsumerGroupTopicPartitions(group, tps)])[group]
                committed = {(tp.topic, tp.partition): tp.offset for tp in fut.result(timeout=10).topic_partitions}
                lag = 0
                for tp in tps:
                    low, high = self.watermarks.get_watermark_offsets(tp, timeout=10, cached=False)
                    done = committed.get((tp.topic, tp.partition), -1)
                    lag += max(0, high - (done if done >= 0 else low))
                out[group] = lag
            except Exception:  # noqa: BLE001 - a probe that fails once must not end a soak; -1 says "unknown"
                out[group] = -1
        return out

    def close(self) -> None:
        self.watermarks.close()


# --- workers -----------------------------------------------------------------------------------------------


@dataclass
class Worker:
    name: str
    proc: subprocess.Popen[bytes]
    log: Path

    def stop(self, grace: float = 30.0) -> None:
        if self.proc.poll() is not None:
            return
        os.killpg(self.proc.pid, signal.SIGTERM)  # its own session: its pgid is its pid
        try:
            self.proc.wait(grace)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)


def start_worker(name: str, bootstrap: str, prefix: str, work: Path, key: Path, env: dict[str, str]) -> Worker:
    log = work / f"worker-{name}.log"
    args = [PIXELGUARD, "worker", "--bootstrap", bootstrap, "--prefix", prefix, "--store", str(work / "store"),
            "--key-file", str(key), "--name", name, "--web-port", str(free_port()), "--data-dir",
            str(work / "faust"), "--concurrency", "2", "--threads", "2"]
    with open(log, "ab") as out:
        proc = subprocess.Popen(args, env=env, cwd=REPO, stdout=out, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True)
    return Worker(name, proc, log)


# --- figures -----------------------------------------------------------------------------------------------


def pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(round(q * (len(values) - 1))))] if values else float("nan")


def slope(xs: list[float], ys: list[float]) -> float:
    """Least-squares slope of ys on xs (nan with fewer than 3 points or no spread)."""
    if len(xs) < 3:
        return float("nan")
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    sxx = sum((x - mx) ** 2 for x in xs)
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / sxx if sxx else float("nan")


def rss_slopes(samples: list[Sample], names: list[str], warm_objects: int, warm_s: float) -> dict[str, dict]:
    out = {}
    for name in names:
        pts = [s for s in samples if s.final >= warm_objects and s.t >= warm_s and s.alive.get(name, True)
               and s.rss_mb.get(name)]
        rss = [s.rss_mb[name] for s in pts]
        out[name] = {
            "points": len(pts),
            "mb_per_1000_objects": slope([s.final / 1000 for s in pts], rss),
            "mb_per_hour": slope([s.t / 3600 for s in pts], rss),
            "rss_first_mb": rss[0] if rss else float("nan"),
            "rss_last_mb": rss[-1] if rss else float("nan"),
            "rss_max_mb": max(rss) if rss else float("nan"),
        }
    return out


def find_stalls(samples: list[Sample]) -> list[dict[str, float]]:
    """Intervals of >= STALL_S without a new final event while objects are in flight (lag recorded)."""
    stalls: list[dict[str, float]] = []
    last_final, since, open_stall = -1, 0.0, False
    for s in samples:
        if s.final != last_final:
            if open_stall:
                stalls[-1]["end_s"] = s.t
            last_final, since, open_stall = s.final, s.t, False
            continue
        if s.submitted > s.final and s.t - since >= STALL_S:
            if not open_stall:
                open_stall = True
                stalls.append({"start_s": since, "end_s": float("nan"), "in_flight": s.submitted - s.final,
                               "max_lag": 0})
            stalls[-1]["max_lag"] = max(stalls[-1]["max_lag"], max(s.lag.values(), default=0))
            stalls[-1]["in_flight"] = s.submitted - s.final
    for st in stalls:
        st["duration_s"] = (st["end_s"] if st["end_s"] == st["end_s"] else samples[-1].t) - st["start_s"]
    return stalls


def per_minute(samples: list[Sample], names: list[str], groups: list[str]) -> list[dict[str, object]]:
    rows = []
    if not samples:
        return rows
    minute, prev = 1, samples[0]
    for i, s in enumerate(samples):
        last = i == len(samples) - 1
        if s.t >= minute * 60 or last:
            window = [x for x in samples if prev.t < x.t <= s.t]
            span = max(1e-9, s.t - prev.t)
            rows.append({
                "minute": minute, "t_s": round(s.t), "submitted": s.submitted, "final": s.final,
                "objects_per_s": (s.final - prev.final) / span, "in_flight": s.submitted - s.final,
                **{f"lag_{g}": max((x.lag.get(g, 0) for x in window), default=0) for g in groups},
                **{f"rss_{n}_mb": s.rss_mb.get(n, 0.0) for n in names},
                **{f"cpu_{n}_pct": 100 * (s.cpu_s.get(n, 0) - prev.cpu_s.get(n, 0)) / span for n in names},
                "bench_threads": s.rss_mb.get("bench_threads", 0),
            })
            prev = s
            minute = int(s.t // 60) + 1
    return rows


def _side_usage(kafka: KafkaService, rss: dict[str, float], cpu: dict[str, float], table: dict[int, int]) -> None:
    """Kafka's JVM and this process (its submit producers and readers must not grow either)."""
    kpid = kafka.process.running_pid()
    if kpid:
        rss["kafka"], cpu["kafka"] = tree_usage(kpid, table)
    rss["bench"], cpu["bench"] = _rss_kb(os.getpid()) / PAGE_MB, _cpu_s(os.getpid())
    rss["bench_threads"] = float(_threads(os.getpid()))


def _threads(pid: int) -> int:
    return status_value(pid, "Threads")


def _ocr(k: int, share: float) -> bool:
    """Submission k goes through burned-in text redaction: spread evenly, ``share`` of all submissions."""
    return int((k + 1) * share) > int(k * share)


# --- the run -----------------------------------------------------------------------------------------------


@dataclass
class Run:
    args: dict[str, object]
    started_utc: str = ""
    corpus: dict[str, object] = field(default_factory=dict)
    samples: list[Sample] = field(default_factory=list)
    submitted: dict[str, float] = field(default_factory=dict)  # dedupe key -> submit time (epoch)
    not_acked: int = 0
    ocr_submitted: int = 0  # submissions with burned-in text redaction on (the profile's default)
    worker_exits: dict[str, int | None] = field(default_factory=dict)
    interrupted: str = ""
    job_id: str = ""
    prefix: str = ""
    groups: list[str] = field(default_factory=list)
    job_status: dict[str, object] = field(default_factory=dict)


def soak(args: argparse.Namespace, run: Run) -> FinalReader | None:
    work = Path(args.workdir).resolve()
    if work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True)
    started = time.monotonic()
    pool = make_pool(work / "pool", min(args.objects, args.pool), args.seed)
    run.corpus = {"pool": len(pool), "generate_s": round(time.monotonic() - started, 1),
                  "kinds": dict(Counter(str(m["kind"]) for _, m in pool)),
                  "modalities": dict(Counter(str(m.get("modality")) for _, m in pool if m["kind"] == "dicom")),
                  "syntaxes": dict(Counter(str(m.get("syntax")) for _, m in pool if m["kind"] == "dicom")),
                  "burned_in_dicom": sum(1 for _, m in pool if m.get("burned")),
                  "multiframe_dicom": sum(1 for _, m in pool if m.get("frames", 1) != 1),
                  "pool_bytes": sum(p.stat().st_size for p, _ in pool)}
    print(f"soak: pool of {len(pool)} objects in {run.corpus['generate_s']}s: {run.corpus['kinds']}", flush=True)
    key = work / "keys" / "key.json"
    keys = LocalKeyService.open(key)
    derive = Derivations(keys.hmac)
    store = FileObjectStore(work / "store")
    run.prefix = prefix = f"soak-{uuid.uuid4().hex[:6]}"
    run.job_id = job = f"soak-{uuid.uuid4().hex[:8]}"
    run.groups = groups = worker_groups(prefix)
    env = dict(os.environ)
    env.update({"PIXELGUARD_AUDIT_FILE": str(work / "audit.jsonl"), "PIXELGUARD_OCR_THREADS": "1"})

    install_kafka_jars()
    kafka = KafkaService(port=free_port(), controller_port=free_port(), state_dir=work / "kafka")
    workers: list[Worker] = []
    reader: FinalReader | None = None
    lag: LagProbe | None = None
    kafka.install()
    try:
        kafka.start()
        ensure_topics(kafka.bootstrap, prefix, args.partitions)
        env["PIXELGUARD_PARTITIONS"] = str(args.partitions)
        workers = [start_worker(f"soak{i}", kafka.bootstrap, prefix, work, key, env) for i in range(args.workers)]
        # Warm-up: model loading and the first rebalance are not what a soak measures.
        warm = [p for p, m in pool if m["kind"] == "dicom"][: 2 * args.workers]
        warm_links = []
        for k, p in enumerate(warm):
            link = work / "warm" / f"{k}-{p.name}"
            link.parent.mkdir(parents=True, exist_ok=True)
            os.link(p, link)
            warm_links.append(str(link))
        w = submit(warm_links, bootstrap=kafka.bootstrap, prefix=prefix, store=store, derive=derive,
                   profile=args.profile, job_id=f"{job}-warm")
        deadline = time.monotonic() + 600
        while job_status(kafka.bootstrap, prefix, f"{job}-warm").in_flight > 0 or w.submitted < len(warm_links):
            if time.monotonic() > deadline:
                raise SystemExit("soak: warm-up objects not decided in 600 s; see the worker logs in " + str(work))
            for wk in workers:
                if wk.proc.poll() is not None:
                    raise SystemExit(f"soak: worker {wk.name} exited ({wk.proc.returncode}); see {wk.log}")
            time.sleep(1)
        print(f"soak: warm after {time.monotonic() - started:.0f}s; submitting {args.objects} objects, "
              f"{args.wave} every {args.every}s", flush=True)

        reader = FinalReader(kafka.bootstrap, prefix, job)
        lag = LagProbe(kafka.bootstrap, {groups[0]: [topic_name(t, prefix) for t in ("ingest", "parsed", "scrubbed")],
                                         groups[1]: [topic_name("routing", prefix)]})
        table = _proc_table()
        run.started_utc = datetime.now(UTC).isoformat(timespec="seconds")
        t0 = time.monotonic()
        next_wave = next_sample = next_print = t0
        sent = 0
        links = work / "in"
        last_progress = t0
        final_keys: set[str] = set()
        while True:
            now = time.monotonic()
            in_flight = len(run.submitted) - len(final_keys)
            if sent < args.objects and now >= next_wave:
                next_wave += args.every
                if in_flight < args.max_in_flight:
                    wave_dir = links / f"{sent // 1000:03d}"
                    wave_dir.mkdir(parents=True, exist_ok=True)
                    paths = []
                    for k in range(sent, min(args.objects, sent + args.wave)):
                        src = pool[k % len(pool)][0]
                        dst = wave_dir / f"{k:06d}-{src.name}"
                        os.link(src, dst)
                        paths.append(str(dst))
                    ocr = [p for k, p in enumerate(paths, sent) if _ocr(k, args.ocr_share)]
                    rest = [p for k, p in enumerate(paths, sent) if not _ocr(k, args.ocr_share)]
                    sent += len(paths)
                    for part, options in ((ocr, {}), (rest, {"redaction": "off"})):
                        if not part:
                            continue
                        r = submit(part, bootstrap=kafka.bootstrap, prefix=prefix, store=store, derive=derive,
                                   profile=args.profile, job_id=job, options=options)
                        stamp = time.time()
                        for input_id in r.input_ids:
                            run.submitted[f"{job}|{input_id}"] = stamp
                        run.not_acked += r.failed
                        run.ocr_submitted += len(part) if not options else 0
            seen = len(reader.events)
            if reader.drain():
                before = len(final_keys)
                final_keys.update(e.key for e in reader.events[seen:])
                if len(final_keys) > before:
                    last_progress = now
            if now >= next_sample:
                next_sample += args.sample
                table = _proc_table()
                rss, cpu, alive = {}, {}, {}
                for wk in workers:
                    alive[wk.name] = wk.proc.poll() is None
                    rss[wk.name], cpu[wk.name] = tree_usage(wk.proc.pid, table) if alive[wk.name] else (0.0, 0.0)
                    if not alive[wk.name] and wk.name not in run.worker_exits:
                        run.worker_exits[wk.name] = wk.proc.returncode
                        print(f"soak: worker {wk.name} exited with {wk.proc.returncode}", flush=True)
                _side_usage(kafka, rss, cpu, table)
                run.samples.append(Sample(round(now - t0, 2), len(run.submitted), len(final_keys), rss, cpu,
                                          lag.sample(), alive))
            if now >= next_print:
                next_print += 60
                s = run.samples[-1] if run.samples else None
                if s:
                    print(f"soak: {s.t / 60:5.1f} min  submitted {s.submitted}  final {s.final}  "
                          f"lag {s.lag}  rss " + " ".join(f"{n}={v:.0f}MB" for n, v in s.rss_mb.items()
                                                       if n != "bench_threads"), flush=True)
            done = sent >= args.objects and len(final_keys) >= len(run.submitted)
            if done or (sent >= args.objects and now - last_progress > args.drain_timeout):
                if not done:
                    print(f"soak: no progress for {args.drain_timeout}s with {in_flight} in flight; stopping",
                          flush=True)
                break
            if all(wk.proc.poll() is not None for wk in workers):
                print("soak: every worker exited; stopping", flush=True)
                break
            time.sleep(0.2)
        reader.drain(5.0)
        table = _proc_table()
        final_keys = {e.key for e in reader.events}
        s_rss, s_cpu, s_alive = {}, {}, {}
        for wk in workers:
            s_alive[wk.name] = wk.proc.poll() is None
            s_rss[wk.name], s_cpu[wk.name] = tree_usage(wk.proc.pid, table) if s_alive[wk.name] else (0.0, 0.0)
        _side_usage(kafka, s_rss, s_cpu, table)
        run.samples.append(Sample(round(time.monotonic() - t0, 2), len(run.submitted), len(final_keys),
                                  s_rss, s_cpu, lag.sample(), s_alive))
        st = job_status(kafka.bootstrap, prefix, job)
        run.job_status = {"submitted": st.submitted, "in_flight": st.in_flight, "counts": dict(st.counts)}
        return reader
    except Interrupted as exc:
        run.interrupted = str(exc)
        print(f"soak: interrupted ({exc}); stopping workers and Kafka", flush=True)
        if reader is not None:
            reader.drain(3.0)
        return reader
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)  # a second signal must not cut the clean-up short
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        for wk in workers:
            wk.stop()
            run.worker_exits.setdefault(wk.name, wk.proc.returncode)
        if lag is not None:
            lag.close()
        if reader is not None:
            reader.close()
        kafka.stop()
        for wk in workers:  # kept beside the work folder (ignored by git), which goes unless --keep
            shutil.copy(wk.log, work.parent / f"{work.name}-worker-{wk.name}.log")
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)


def figures(run: Run, reader: FinalReader | None, args: argparse.Namespace) -> dict[str, object]:
    events = reader.events if reader else []
    by_key: dict[str, list[FinalEvent]] = {}
    for e in events:
        by_key.setdefault(e.key, []).append(e)
    first = {k: min(v, key=lambda e: e.ts) for k, v in by_key.items()}
    lost = [k for k in run.submitted if k not in by_key]
    duplicated = {k: len(v) for k, v in by_key.items() if len(v) > 1}
    unexpected = [k for k in by_key if k not in run.submitted]
    latencies = [first[k].ts - first[k].submitted_at for k in first]
    samples = run.samples
    names = sorted({n for s in samples for n in s.alive})
    n = len(run.submitted)
    wall = samples[-1].t if samples else 0.0
    ends = sorted(e.ts for e in first.values())
    steady = float("nan")
    if len(ends) >= 20:
        a, b = ends[len(ends) // 10], ends[(9 * len(ends)) // 10]
        steady = (len(ends) * 8 // 10) / max(1e-9, b - a)
    rows = per_minute(samples, names + ["kafka", "bench"], run.groups)
    rates = [r["objects_per_s"] for r in rows[:-1]] or [r["objects_per_s"] for r in rows]
    warm_objects = max(100, n // 10)
    out = {
        "objects_submitted": n,
        "ocr_submissions": run.ocr_submitted,
        "not_acknowledged": run.not_acked,
        "final_events": len(events),
        "objects_final": len(by_key),
        "lost": len(lost),
        "duplicated": len(duplicated),
        "duplicate_events": sum(v - 1 for v in duplicated.values()),
        "unexpected_keys": len(unexpected),
        "by_state": dict(Counter(e.topic for e in first.values())),
        "error_codes": dict(Counter(e.error_code or "-" for e in first.values() if e.topic == "errors")),
        "wall_s": wall,
        "objects_per_s_overall": len(by_key) / wall if wall else float("nan"),
        "objects_per_s_steady_10_90": steady,
        "objects_per_s_per_minute_min": min(rates, default=float("nan")),
        "objects_per_s_per_minute_max": max(rates, default=float("nan")),
        "latency_p50_s": pct(latencies, 0.50),
        "latency_p99_s": pct(latencies, 0.99),
        "latency_max_s": max(latencies, default=float("nan")),
        "rss_warmup": {"objects": warm_objects, "seconds": args.warmup_s},
        "rss": rss_slopes(samples, names, warm_objects, args.warmup_s),
        "kafka_rss": rss_slopes(samples, ["kafka"], warm_objects, args.warmup_s)["kafka"],
        "bench_rss": rss_slopes(samples, ["bench"], warm_objects, args.warmup_s)["bench"],
        "bench_threads_first_last": [samples[0].rss_mb.get("bench_threads"), samples[-1].rss_mb.get("bench_threads")]
        if samples
        else [],
        "max_lag": {g: max((s.lag.get(g, 0) for s in samples), default=0) for g in run.groups},
        "stalls": find_stalls(samples),
        "worker_exits": run.worker_exits,
        "lost_keys_sample": [k.split("|", 1)[1][:12] for k in lost[:10]],
        "duplicated_keys_sample": [k.split("|", 1)[1][:12] for k in list(duplicated)[:10]],
        "job_status": run.job_status,
        "other_final_events": reader.other if reader else 0,
    }
    return {"summary": out, "per_minute": rows}


def _f(x: object, digits: int = 2) -> str:
    if isinstance(x, float):
        return "n/a" if x != x else f"{x:.{digits}f}"
    return str(x)


def write_report(run: Run, fig: dict[str, object], report: Path, command: str) -> None:
    report.parent.mkdir(parents=True, exist_ok=True)
    s = fig["summary"]
    data = {"command": command, "started_utc": run.started_utc, "args": run.args, "interrupted": run.interrupted,
            "corpus": run.corpus, "summary": s, "per_minute": fig["per_minute"],
            "samples": [asdict(x) for x in run.samples]}
    report.with_suffix(".json").write_text(json.dumps(data, indent=1, default=str))
    names = sorted(s["rss"])
    lines = [
        f"# Soak: {s['objects_submitted']} objects through the streaming pipeline",
        "",
        f"`{command}`",
        "",
        f"Started {run.started_utc}; {run.args['workers']} workers (in-process OCR, concurrency 2, 2 stage threads, "
        f"1 onnxruntime thread), {run.args['partitions']} partitions, waves of {run.args['wave']} every "
        f"{run.args['every']} s (held while > {run.args['max_in_flight']} in flight), sampled every "
        f"{run.args['sample']} s." + (f" **Interrupted: {run.interrupted}.**" if run.interrupted else ""),
        "",
        f"Corpus: a pool of {run.corpus.get('pool')} generated objects ({run.corpus.get('kinds')}; DICOM modalities "
        f"{run.corpus.get('modalities')}, transfer syntaxes {run.corpus.get('syntaxes')}, "
        f"{run.corpus.get('burned_in_dicom')} DICOMs with burned-in fake PHI, {run.corpus.get('multiframe_dicom')} "
        f"two-frame), each submission a distinct path (own input id). {s['ocr_submissions']} submissions "
        f"({run.args['ocr_share']:.0%}) with burned-in text redaction (OCR), the rest with `redaction: off`.",
        "",
        "## Totals",
        "",
        f"- submitted {s['objects_submitted']} (not acknowledged {s['not_acknowledged']}); final "
        f"{s['objects_final']}; **{'undecided when interrupted' if run.interrupted else 'lost'} {s['lost']}, "
        f"duplicated {s['duplicated']}** "
        f"({s['duplicate_events']} extra final events); final events for keys never submitted: {s['unexpected_keys']}",
        f"- by state: {s['by_state']}; error codes: {s['error_codes']}",
        f"- `job_status` (the CLI's view): {s['job_status']}",
        f"- wall {_f(s['wall_s'], 0)} s; objects/s overall {_f(s['objects_per_s_overall'])}, steady (10%-90% of "
        f"completions) {_f(s['objects_per_s_steady_10_90'])}, "
        f"per full minute min {_f(s['objects_per_s_per_minute_min'])}"
        f" / max {_f(s['objects_per_s_per_minute_max'])}",
        f"- submit -> final latency p50 {_f(s['latency_p50_s'])} s, p99 {_f(s['latency_p99_s'])} s, "
        f"max {_f(s['latency_max_s'])} s",
        f"- max consumer lag: {s['max_lag']}",
        f"- stalls (>= {STALL_S:.0f} s without a final event while objects were in flight): "
        + (
            ", ".join(
                f"{_f(x['start_s'], 0)}-{_f(x['end_s'], 0)} s ({_f(x['duration_s'], 0)} s, {x['in_flight']} in flight)"
                for x in s["stalls"]
            )
            or "none"
        ),
        f"- worker exit codes at the end: {s['worker_exits']}",
        "",
        f"## RSS (after the first {s['rss_warmup']['objects']} objects and {s['rss_warmup']['seconds']} s; "
        "process + children, least squares)",
        "",
        "| process | points | first MB | last MB | max MB | MB per 1,000 objects | MB per hour |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    rss_rows = dict(s["rss"])
    rss_rows["kafka (JVM)"] = s["kafka_rss"]
    rss_rows[f"bench (this process; threads first/last {s['bench_threads_first_last']})"] = s["bench_rss"]
    for name, r in rss_rows.items():
        lines.append(f"| {name} | {r['points']} | {_f(r['rss_first_mb'], 0)} | {_f(r['rss_last_mb'], 0)} | "
                     f"{_f(r['rss_max_mb'], 0)} | {_f(r['mb_per_1000_objects'])} | {_f(r['mb_per_hour'])} |")
    header = (["min", "submitted", "final", "obj/s", "in flight"]
              + [f"lag {'agents' if g.endswith('-agents') else 'route'}" for g in run.groups]
              + [f"RSS {n} MB" for n in names] + ["RSS kafka MB", "RSS bench MB"] + [f"CPU {n} %" for n in names])
    lines += ["", "## Per minute", "", "Lag: the highest sample in the minute (agents: ingest, parsed and scrubbed "
              "topics; route: the routing topic). RSS at the minute's last sample; CPU over the minute.", "",
              "| " + " | ".join(header) + " |", "| " + " | ".join(["---:"] * len(header)) + " |"]
    for r in fig["per_minute"]:
        lines.append(
            f"| {r['minute']} | {r['submitted']} | {r['final']} | {_f(r['objects_per_s'])} | {r['in_flight']} | "
            + " | ".join(str(r[f"lag_{g}"]) for g in run.groups)
            + " | "
            + " | ".join(_f(r[f"rss_{n}_mb"], 0) for n in names)
            + f" | {_f(r.get('rss_kafka_mb', 0.0), 0)} | {_f(r.get('rss_bench_mb', 0.0), 0)} | "
            + " | ".join(_f(r[f"cpu_{n}_pct"], 0) for n in names)
            + " |"
        )
    report.with_suffix(".md").write_text("\n".join(lines) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--objects", type=int, default=10_000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--partitions", type=int, default=4)
    parser.add_argument("--wave", type=int, default=25, help="objects per wave")
    parser.add_argument("--every", type=float, default=5.0, help="seconds between waves")
    parser.add_argument("--max-in-flight", type=int, default=200,
                        help="skip a wave while more objects than this are undecided (bounded lag)")
    parser.add_argument("--sample", type=float, default=5.0, help="seconds between samples")
    parser.add_argument("--pool", type=int, default=600, help="distinct objects generated (submissions cycle)")
    parser.add_argument("--profile", default="basic")
    parser.add_argument("--ocr-share", type=float, default=0.1,
                        help="share of submissions with burned-in text redaction (OCR, ~1 CPU-s each here); the "
                             "rest are submitted with redaction off (header de-identification; burned-in-flagged "
                             "objects then go to review)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--warmup-s", type=float, default=120.0, help="RSS slopes ignore the first seconds")
    parser.add_argument("--drain-timeout", type=float, default=600.0,
                        help="after the last wave, give up when no object is decided for this long")
    parser.add_argument("--report", default=str(REPO / "bench" / "results" / "soak"),
                        help="report path without suffix: writes .md and .json")
    parser.add_argument("--workdir", default=str(REPO / ".cache" / "bench" / "soak"))
    parser.add_argument("--keep", action="store_true", help="keep the work folder (corpus, store, Kafka data)")
    args = parser.parse_args()
    report = Path(args.report)
    if report.suffix in (".md", ".json"):
        report = report.with_suffix("")
    args.report = str(report)
    report.parent.mkdir(parents=True, exist_ok=True)
    command = " ".join([".venv/bin/python", "bench/soak.py", *sys.argv[1:]])

    def on_signal(signum: int, _frame: object) -> None:
        raise Interrupted(signal.Signals(signum).name)

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    run = Run(args={k: v for k, v in vars(args).items()})
    try:
        reader = soak(args, run)
    except Interrupted as exc:  # before Kafka started: nothing to stop, nothing to report
        raise SystemExit(f"soak: interrupted ({exc}) while generating the corpus") from None
    try:
        fig = figures(run, reader, args)
    except Exception:
        # Never lose a long run's samples to a bug in the arithmetic: keep the raw data, then fail loudly.
        raw = {"command": command, "run": asdict(run), "events": [asdict(e) for e in (reader.events if reader else [])]}
        report.with_suffix(".raw.json").write_text(json.dumps(raw, default=str))
        print(f"soak: computing the figures failed; raw samples in {report}.raw.json", flush=True)
        raise
    write_report(run, fig, report, command)
    s = fig["summary"]
    print(f"soak: {s['objects_final']}/{s['objects_submitted']} final, lost {s['lost']}, duplicated "
          f"{s['duplicated']}, {_f(s['objects_per_s_overall'])} obj/s, p50 {_f(s['latency_p50_s'])} s, "
          f"p99 {_f(s['latency_p99_s'])} s, stalls {len(s['stalls'])}; report {report}.md", flush=True)


if __name__ == "__main__":
    main()
