"""What each output format costs: ``pixelguard deid --output-format F`` timed as a whole process, per format.

Runs on pydicom's own test files (all transfer syntaxes, multi-frame, MONOCHROME1, RGB, 8-32 bit) with
``--redaction off`` by default, so the figures are the conversion and its checks (re-read, lossless compare,
sweep) and not the OCR, which is the same for every format. Prints seconds, files/s, bytes written and the
ratio of each format to ``original`` measured in the same run; an object a format refuses (32-bit data for
HTJ2K, no pixels for an export) is counted as an error, as the run reports it. A first ``original`` run warms
the file caches and is not counted.
"""
from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

from pixelguard.samples import pydicom_test_files

PIXELGUARD = str(Path(sys.executable).with_name("pixelguard"))
WORK = Path(".cache/bench/output_formats")
FORMATS = ("original", "htj2k", "png", "jpeg")


def corpus(limit: int) -> Path:
    folder = WORK / "in"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    files = sorted(pydicom_test_files().glob("*.dcm"))[:limit]
    for source in files:
        shutil.copy(source, folder / source.name)
    return folder


def run(source: Path, fmt: str, jobs: int, redaction: str) -> dict[str, object]:
    out = WORK / f"out-{fmt}"
    shutil.rmtree(out, ignore_errors=True)
    keys = WORK / "keys" / "key.json"
    started = time.perf_counter()
    done = subprocess.run([PIXELGUARD, "deid", str(source), "--out", str(out), "--output-format", fmt,
                           "--jobs", str(jobs), "--redaction", redaction, "--key-file", str(keys)],
                          capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if done.returncode not in (0, 1):
        raise SystemExit(f"{fmt}: deid failed ({done.returncode}): {done.stderr[-2000:]}")
    lines = [json.loads(x) for x in (out / "manifest.jsonl").read_text().splitlines()]
    written = sum((out / x["output"]).stat().st_size for x in lines if x["output"])
    return {"format": fmt, "seconds": seconds, "files": len(lines), "bytes": written,
            "states": dict(Counter(x["status"] for x in lines))}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit", type=int, default=1000, help="the first N pydicom test files")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--redaction", default="off", choices=("off", "all", "phi"))
    args = parser.parse_args()
    source = corpus(args.limit)
    run(source, "original", args.jobs, args.redaction)  # warm-up: the first process pays for cold file caches
    results = [run(source, fmt, args.jobs, args.redaction) for fmt in FORMATS]
    base = results[0]
    print(f"{base['files']} pydicom test files, --jobs {args.jobs}, --redaction {args.redaction}")
    print(f"{'format':9} {'seconds':>8} {'files/s':>8} {'x original':>10} {'MB out':>8} {'x size':>7}  states")
    for r in results:
        rate = float(r["files"]) / float(r["seconds"])  # type: ignore[arg-type]
        print(f"{r['format']:9} {r['seconds']:8.1f} {rate:8.1f} {float(r['seconds']) / float(base['seconds']):10.2f} "  # type: ignore[arg-type]
              f"{int(r['bytes']) / 1e6:8.1f} {int(r['bytes']) / max(int(base['bytes']), 1):7.2f}  {r['states']}")  # type: ignore[call-overload]
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
