"""Helpers for the end-to-end tests: a corpus with fake PHI, worker subprocesses, waiting for a job."""
from __future__ import annotations

import io
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pydicom

from pixelguard.samples import FakePatient, pydicom_test_files, text_dicom, text_jpeg, text_nifti, text_png
from pixelguard.services.base import free_port
from streams.status import job_status

REPO = Path(__file__).resolve().parents[2]
PIXELGUARD = str(Path(sys.executable).with_name("pixelguard"))
_LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"


def patient(i: int) -> FakePatient:
    # Letters only in names, so a name part can never be mistaken for a number in a scan.
    tag = _LETTERS[i % 26] + _LETTERS[(i // 26) % 26] + _LETTERS[(i // 676) % 26]
    return FakePatient(
        f"QUIXOTE{tag}^ZELDA{tag}", f"MRN{7300000 + i}", f"19{40 + i % 50:02d}{1 + i % 12:02d}{1 + i % 28:02d}"
    )


@dataclass
class Corpus:
    root: Path
    patients: list[FakePatient] = field(default_factory=list)
    good: int = 0
    bad: int = 0

    @property
    def total(self) -> int:
        return self.good + self.bad

    def phi_values(self) -> set[str]:
        values: set[str] = set()
        for p in self.patients:
            values |= {p.patient_id, p.birth_date, *p.name.split("^")}
        return values

    def leaks(self, text: str) -> list[str]:
        """The PHI values found in text. A birth date is all digits: it counts only where it stands
        alone, not inside a longer number (a metric exemplar's decimal span id 14630807675519840105
        once held 19840105), so random ids and float digits cannot fail a scan by chance."""
        return sorted(v for v in self.phi_values()
                      if (re.search(rf"(?<!\d){v}(?!\d)", text) if v.isdigit() else v in text))


def make_corpus(root: Path, dicoms: int = 152, compressed: int = 16, images: int = 8, niftis: int = 3,
                bad: int = 12) -> Corpus:
    from pydicom.uid import JPEG2000Lossless, RLELossless

    root.mkdir(parents=True, exist_ok=True)
    corpus = Corpus(root)
    i = 0

    def write(name: str, data: bytes) -> None:
        (root / name).write_bytes(data)
        corpus.good += 1

    for _ in range(dicoms):
        p = patient(i)
        i += 1
        corpus.patients.append(p)
        write(f"{p.name}_{p.patient_id}.dcm", text_dicom(p))
    for k in range(compressed):
        p = patient(i)
        i += 1
        corpus.patients.append(p)
        write(f"{p.name}_c{k}.dcm", text_dicom(p, RLELossless if k % 2 else JPEG2000Lossless))
    for name in ("SC_rgb_rle_2frame.dcm", "rtdose_rle.dcm"):  # multi-frame, compressed (distinct SOP UIDs)
        shutil.copy(pydicom_test_files() / name, root / f"multiframe_{name}")
        corpus.good += 1
    for k in range(images):
        p = patient(i)
        i += 1
        corpus.patients.append(p)
        write(f"{p.name}_{k}.png", text_png(p, size=(320, 240), seed=k))
        p = patient(i)
        i += 1
        corpus.patients.append(p)
        write(f"{p.name}_{k}.jpg", text_jpeg(p, size=(320, 240), seed=k))
    for k in range(niftis):
        p = patient(i)
        i += 1
        corpus.patients.append(p)
        write(f"{p.name}_{k}.nii.gz", text_nifti(p))
    # Bad inputs: each must end in errors with a reason.
    good_dicom = text_dicom(patient(0))
    bads = [
        ("truncated_%d.dcm", lambda k: good_dicom[: 400 + 700 * k]),
        ("garbage_%d.bin", lambda k: os.urandom(64 + k)),
        ("empty_%d.dcm", lambda k: b""),
        ("cut_%d.png", lambda k: text_png(patient(1), size=(64, 48))[: 60 + k]),
    ]
    for k in range(bad - 1):
        pattern, make = bads[k % len(bads)]
        (root / (pattern % k)).write_bytes(make(k))
        corpus.bad += 1
    os.symlink(root / "nowhere", root / "dangling.dcm")
    corpus.bad += 1
    return corpus


@dataclass
class Worker:
    name: str
    args: list[str]
    env: dict[str, str]
    log: Path
    proc: subprocess.Popen | None = None
    cwd: Path = REPO  # a worker "on another machine" runs in a folder of its own

    def start(self) -> None:
        with open(self.log, "ab") as out:
            self.proc = subprocess.Popen([PIXELGUARD, "worker", *self.args], env=self.env, cwd=self.cwd, stdout=out,
                                         stderr=subprocess.STDOUT, start_new_session=True)

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        os.kill(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            self.kill()


def stream_env(tmp: Path, prefix: str, **extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update({"PIXELGUARD_TOPIC_PREFIX": prefix, "PIXELGUARD_SESSION_TIMEOUT_S": "6",
                "PIXELGUARD_AUDIT_FILE": str(tmp / "audit.jsonl"), "PIXELGUARD_OCR_THREADS": "1",
                "PIXELGUARD_BACKOFF_S": "0.2", **extra})
    return env


def worker(tmp: Path, name: str, bootstrap: str, store: Path, key_file: Path, env: dict[str, str],
           triton_url: str = "", concurrency: int = 2) -> Worker:
    args = ["--bootstrap", bootstrap, "--store", str(store), "--key-file", str(key_file), "--name", name,
            "--web-port", str(free_port()), "--data-dir", str(tmp / "faust"), "--concurrency", str(concurrency),
            "--threads", "2"]
    if triton_url:
        args += ["--triton-url", triton_url]
    return Worker(name, args, env, tmp / f"worker-{name}.log")


def wait_for_job(bootstrap: str, prefix: str, job_id: str, total: int, timeout_s: float,
                 workers: list[Worker] = ()) -> Iterator[object]:
    """Yield the job status every couple of seconds until all ``total`` inputs are decided."""
    deadline = time.monotonic() + timeout_s
    while True:
        st = job_status(bootstrap, prefix, job_id)
        yield st
        if st.submitted >= total and st.in_flight <= 0:
            return
        for w in workers:
            if w.proc is not None and w.proc.poll() is not None and w.proc.returncode not in (-9, 0):
                raise AssertionError(f"worker {w.name} exited with {w.proc.returncode}: "
                                     + w.log.read_text(errors="replace")[-3000:])
        if time.monotonic() > deadline:
            raise AssertionError(f"job not finished in {timeout_s}s: {st}")
        time.sleep(2)


def dicom_text(data: bytes) -> str:
    """Every header value of a DICOM (file meta and nested items), one per line: what a leak scan reads."""
    ds = pydicom.dcmread(io.BytesIO(data), stop_before_pixels=True)
    parts: list[str] = []

    def walk(dataset) -> None:
        for elem in dataset:
            if elem.VR == "SQ":
                for item in elem.value:
                    walk(item)
            elif elem.tag != 0x7FE00010:
                parts.append(str(elem.value))

    walk(ds.file_meta)
    walk(ds)
    return "\n".join(parts)


def wait_for_members(bootstrap: str, prefix: str, count: int, timeout_s: float = 180.0,
                     tick: Callable[[], None] | None = None) -> None:
    """Until the agents' and the route hop's groups are Stable with ``count`` members, each holding partitions
    (``streams.groups.settled``): a test about several workers sharing the work submits only then (else the
    first to join may take it all). ``tick`` runs once a second while waiting (a fault harness restarts its
    workers there)."""
    import gc

    from confluent_kafka.admin import AdminClient

    from streams.groups import settled

    admin = AdminClient({"bootstrap.servers": bootstrap})
    deadline = time.monotonic() + timeout_s
    try:
        while not settled(admin, prefix, count):
            if tick is not None:
                tick()
            if time.monotonic() > deadline:
                raise AssertionError(f"{count} workers not all assigned in {timeout_s:.0f}s")
            time.sleep(1)
    finally:
        # The futures keep the client alive in a reference cycle; freed later by the garbage collector, after a
        # private broker is stopped, librdkafka's destroy waits on the dead broker for good (seen: the next test
        # hung in Admin_dealloc). Free it now, while its broker is up.
        del admin
        gc.collect()
