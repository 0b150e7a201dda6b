"""False-hit rate of the independent PHI sweep on the demo corpus.

    .venv/bin/python bench/sweep_false_hits.py [--profile NAME] [--limit N] [--no-ocr] [--show-review]

Builds the demo samples (``pixelguard.samples.write_samples``: generated objects with fake PHI in their
headers and burned into their pixels, plus every file of pydicom's test data), runs each through
``pixelguard.core.pipeline.process`` with the in-process OCR engine, and sweeps every CLEAN outcome's bytes
against the PHI terms of its own input (``sweep.terms_of`` on the parsed original). A hit on a clean output is
either a real leak the scrubber or redaction missed, or a false hit of a sweep rule; each is listed by its
reason (where + kind, never the value) so the two can be told apart. Prints: objects swept, hits by kind,
objects with a hit / objects swept (the false-hit rate when every hit listed is a false one), and the sweep's
own time per object. Single process, one onnxruntime thread.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from inference.local_engine import LocalDetector  # noqa: E402
from pixelguard.core import profile as profiles  # noqa: E402
from pixelguard.core.keys import Derivations  # noqa: E402
from pixelguard.core.parse import parse  # noqa: E402
from pixelguard.core.pipeline import process  # noqa: E402
from pixelguard.core.quiet import silence_value_echoes  # noqa: E402
from pixelguard.core.record import Format, Status  # noqa: E402
from pixelguard.core.sweep import sweep, terms_of  # noqa: E402
from pixelguard.keyservice.local import LocalKeyService  # noqa: E402
from pixelguard.samples import write_samples  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="basic")
    parser.add_argument("--limit", type=int, default=0, help="first N objects only (0: all)")
    parser.add_argument("--no-ocr", action="store_true", help="sweep metadata only (no reader)")
    parser.add_argument("--show-review", action="store_true", help="also sweep REVIEW outcomes and list their hits")
    args = parser.parse_args()
    silence_value_echoes()
    profile = profiles.load(args.profile)
    detector = LocalDetector()
    reader = None if args.no_ocr else detector.ocr
    with tempfile.TemporaryDirectory() as tmp:
        derive = Derivations(LocalKeyService.open(Path(tmp) / "key.json").hmac)
        paths = sorted(write_samples(Path(tmp) / "samples"))
        if args.limit:
            paths = paths[:args.limit]
        statuses: Counter[str] = Counter()
        kinds: Counter[str] = Counter()
        listed: list[tuple[str, str, list[str]]] = []
        swept = flagged = 0
        seconds: list[float] = []
        started = time.perf_counter()
        for path in paths:
            data = path.read_bytes()
            outcome = process("bench", data, profile, derive, detector)
            statuses[outcome.status.value] += 1
            if outcome.status is Status.ERROR or (outcome.status is Status.REVIEW and not args.show_review):
                continue
            original = parse("bench", data, derive)
            terms = terms_of(original, profile)
            t0 = time.perf_counter()
            hits = sweep(outcome.output_bytes, Format(outcome.format), terms, reader)
            elapsed = time.perf_counter() - t0
            name = str(path.relative_to(Path(tmp) / "samples"))
            if outcome.status is Status.CLEAN:
                swept += 1
                seconds.append(elapsed)
                kinds.update(h.kind for h in hits)
                flagged += bool(hits)
            if hits:
                listed.append((outcome.status.value, name, [h.reason for h in hits]))
        wall = time.perf_counter() - started
    print(f"profile {args.profile}; {len(paths)} objects: " + ", ".join(f"{k} {v}" for k, v in sorted(statuses.items())))
    for status, name, reasons in listed:
        print(f"  {status:6} {name}")
        for reason in reasons:
            print(f"           {reason}")
    print(f"objects swept (clean outcomes): {swept}")
    print("hits by kind: " + (", ".join(f"{k} {v}" for k, v in sorted(kinds.items())) or "none"))
    rate = flagged / swept if swept else 0.0
    print(f"clean objects with a hit: {flagged}/{swept} = {rate:.3f}")
    if seconds:
        ordered = sorted(seconds)
        print(f"sweep time per object: mean {statistics.mean(seconds) * 1000:.1f} ms, p95 "
              f"{ordered[int(0.95 * (len(ordered) - 1))] * 1000:.1f} ms, max {ordered[-1] * 1000:.1f} ms "
              f"({'metadata + OCR' if reader else 'metadata only'}); whole run {wall:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
