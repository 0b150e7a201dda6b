"""Cost per object on varied real DICOM files: time per object (p50/p99/max) and peak RSS per worker.

    .venv/bin/python bench/realfiles.py [--jobs 2] [--keep DIR]

The corpus is every DICOM file (by content, deduplicated by hash) that other projects ship as test data:
pydicom's test, charset and palette files, pydicom-data, deid-data, nibabel's DICOM test data, and
pynetdicom's test files (its wheel is fetched once into .cache/bench/). Every transfer syntax pydicom reads,
broken files on purpose, multi-frame ultrasound, big-endian, RT, SR and DICOMDIRs among them.

It times the command a user runs, as a whole process: ``pixelguard deid CORPUS --out OUT --jobs N``, while
sampling the peak RSS (VmHWM) of every worker process the command starts. Per-object times come from the
manifest (``duration_s``: one object's time inside its worker). Targets (issue 10): max <= 30 s,
p99 <= 10 s, peak RSS per worker <= 1.5 GB, and no "internal" error (every error names its cause).
There is no peer here: no other tool both redacts burned-in text and reads this corpus; the figures are
bounds, checked against the targets.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import zipfile
from collections import Counter
from pathlib import Path

from _proc import status_value

ROOT = Path(__file__).resolve().parents[1]
CACHE = ROOT / ".cache" / "bench"
PIXELGUARD = str(Path(sys.executable).with_name("pixelguard"))
TARGETS = {"max_s": 30.0, "p99_s": 10.0, "rss_gb": 1.5}


def _site_packages() -> Path:
    import pydicom

    return Path(pydicom.__file__).resolve().parents[1]


def _pynetdicom_files() -> Path:
    """pynetdicom's test DICOM files, from its wheel (fetched once, no install)."""
    target = CACHE / "pynetdicom-3.0.4"
    if not (target / "done").exists():
        wheels = CACHE / "wheels"
        subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "-q", "-d", str(wheels),
                        "pynetdicom==3.0.4"], check=True)
        with zipfile.ZipFile(next(wheels.glob("pynetdicom-3.0.4-*.whl"))) as whl:
            for name in whl.namelist():
                if name.startswith("pynetdicom/tests/dicom_files/"):
                    whl.extract(name, target)
        (target / "done").write_text("")
    return target


def build_corpus(dest: Path) -> int:
    site = _site_packages()
    roots = [site / "pydicom" / "data", site / "data_store" / "data", site / "deid_data", site / "nibabel",
             _pynetdicom_files()]
    seen: set[str] = set()
    count = 0
    for root in roots:
        for path in sorted(root.rglob("*")):
            if not path.is_file() or path.suffix in (".py", ".pyc", ".txt", ".json", ".md", ".gz"):
                continue
            data = path.read_bytes()
            if data[128:132] != b"DICM" and path.suffix.lower() != ".dcm":
                continue
            digest = hashlib.sha256(data).hexdigest()
            if digest in seen:
                continue
            seen.add(digest)
            count += 1
            (dest / f"{count:04d}.dcm").write_bytes(data)  # neutral names: no file name reaches the output
    return count


def _descendants(pid: int) -> list[int]:
    out, todo = [], [pid]
    while todo:
        parent = todo.pop()
        try:
            children = Path(f"/proc/{parent}/task/{parent}/children").read_text().split()
        except OSError:
            continue
        for child in map(int, children):
            out.append(child)
            todo.append(child)
    return out


def _hwm_kb(pid: int) -> int:
    return status_value(pid, "VmHWM")


def run_deid(corpus: Path, out: Path, jobs: int, key: Path) -> tuple[float, dict[int, int], int]:
    """Run the user's command; returns (wall seconds, peak RSS kB per worker pid, parent's peak RSS kB)."""
    started = time.perf_counter()
    proc = subprocess.Popen([PIXELGUARD, "deid", str(corpus), "--out", str(out), "--jobs", str(jobs),
                             "--key-file", str(key)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    peaks: dict[int, int] = {}
    parent_peak = 0

    def sample() -> None:
        nonlocal parent_peak
        while proc.poll() is None:
            parent_peak = max(parent_peak, _hwm_kb(proc.pid))
            for pid in _descendants(proc.pid):
                peaks[pid] = max(peaks.get(pid, 0), _hwm_kb(pid))
            time.sleep(0.2)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    proc.wait()
    sampler.join()
    return time.perf_counter() - started, peaks, parent_peak


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--keep", type=Path, default=None, help="keep corpus and outputs here")
    parser.add_argument("--report", type=Path, default=ROOT / "bench" / "results" / "realfiles.json")
    args = parser.parse_args()
    work = args.keep or Path(tempfile.mkdtemp(prefix="pg-realfiles-"))
    corpus, out = work / "corpus", work / "out"
    shutil.rmtree(corpus, ignore_errors=True)
    shutil.rmtree(out, ignore_errors=True)
    corpus.mkdir(parents=True)
    count = build_corpus(corpus)
    wall, peaks, parent_peak = run_deid(corpus, out, args.jobs, work / "key" / "key.json")
    rows = [json.loads(line) for line in (out / "manifest.jsonl").read_text().splitlines()]
    times = [r["duration_s"] for r in rows]
    statuses = Counter(r["status"] for r in rows)
    codes = Counter(r["reason"].split(":")[0] for r in rows if r["status"] == "error")
    worker_gb = max(peaks.values(), default=0) / 1024**2
    figures = {
        "objects": count, "accounted": len(rows), "wall_s": round(wall, 1), "files_per_s": round(count / wall, 2),
        "jobs": args.jobs, "p50_s": round(_percentile(times, 0.5), 2), "p99_s": round(_percentile(times, 0.99), 2),
        "max_s": round(max(times), 2), "peak_rss_gb_per_worker": round(worker_gb, 2),
        "workers_started": len(peaks), "parent_peak_rss_gb": round(parent_peak / 1024**2, 2),
        "status": dict(statuses), "error_codes": dict(codes), "internal_errors": codes.get("internal", 0),
    }
    checks = {"max <= 30 s": figures["max_s"] <= TARGETS["max_s"], "p99 <= 10 s": figures["p99_s"] <= TARGETS["p99_s"],
              "peak RSS per worker <= 1.5 GB": worker_gb <= TARGETS["rss_gb"],
              "no internal errors": figures["internal_errors"] == 0, "every file accounted once": len(rows) == count}
    args.report.parent.mkdir(parents=True, exist_ok=True)
    args.report.write_text(json.dumps({"figures": figures, "checks": checks}, indent=2) + "\n")
    print(f"{count} real DICOM files, pixelguard deid --jobs {args.jobs}: {wall:.1f} s wall "
          f"({figures['files_per_s']} files/s)")
    print(f"per object: p50 {figures['p50_s']} s, p99 {figures['p99_s']} s, max {figures['max_s']} s")
    print(
        f"peak RSS per worker {worker_gb:.2f} GB ({len(peaks)} worker processes), "
        f"parent {figures['parent_peak_rss_gb']} GB"
    )
    print(f"states: {dict(statuses)}; error codes: {dict(codes)}")
    for name, ok in checks.items():
        print(f"  {'PASS' if ok else 'FAIL'}  {name}")
    if args.keep is None:
        shutil.rmtree(work, ignore_errors=True)
    return 0 if all(checks.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
