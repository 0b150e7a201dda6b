"""False-hit rate of the independent PHI sweep on the demo corpus.

    .venv/bin/python bench/sweep_false_hits.py [--profile NAME] [--limit N] [--no-ocr] [--show-review]
    .venv/bin/python bench/sweep_false_hits.py --header-only [--corpus demo|pydicom-data] [--profile NAME|all]

Builds the demo samples (``pixelguard.samples.write_samples``: generated objects with fake PHI in their
headers and burned into their pixels, plus every file of pydicom's test data), runs each through
``pixelguard.core.pipeline.process`` with the in-process OCR engine, and sweeps every CLEAN outcome's bytes
against the PHI terms of its own input (``sweep.terms_of`` on the parsed original). A hit on a clean output is
either a real leak the scrubber or redaction missed, or a false hit of a sweep rule; each is listed by its
reason (where + kind, never the value) so the two can be told apart. Prints: objects swept, hits by kind,
objects with a hit / objects swept (the false-hit rate when every hit listed is a false one), and the sweep's
own CPU time per object against the pipeline's. Single process, one onnxruntime thread.

``--header-only`` scrubs without redaction (``headeronly.deidentify_header``, no OCR anywhere) and sweeps the
metadata only: fast enough to run every stored profile (``--profile all``) and pydicom-data's 67 DICOM files
too (``--corpus pydicom-data``), where the metadata rules meet more vendors' headers.
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

from inference.local_engine import LocalDetector
from pixelguard.core import profile as profiles
from pixelguard.core.keys import Derivations
from pixelguard.core.parse import parse
from pixelguard.core.pipeline import process
from pixelguard.core.quiet import silence_value_echoes
from pixelguard.core.record import Format, StageError, Status
from pixelguard.core.sweep import sweep, terms_of
from pixelguard.keyservice.local import LocalKeyService
from pixelguard.samples import write_samples
from pixelguard_testkit.scrubbed import scrubbed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="basic")
    parser.add_argument("--limit", type=int, default=0, help="first N objects only (0: all)")
    parser.add_argument("--no-ocr", action="store_true", help="sweep metadata only (no reader)")
    parser.add_argument("--show-review", action="store_true", help="also sweep REVIEW outcomes and list their hits")
    parser.add_argument("--header-only", action="store_true", help="scrub only (no redaction, no OCR)")
    parser.add_argument("--corpus", choices=("demo", "pydicom-data"), default="demo")
    args = parser.parse_args()
    silence_value_echoes()
    if args.header_only:
        names = profiles.available() if args.profile == "all" else [args.profile]
        for name in names:
            _header_only(profiles.load(name), args.corpus, args.limit)
        return 0
    if args.corpus != "demo":
        parser.error("--corpus pydicom-data needs --header-only")
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
        seconds: list[float] = []  # sweep CPU time per clean object
        pipeline_cpu = 0.0  # CPU time of process() on the same objects
        started = time.perf_counter()
        for path in paths:
            data = path.read_bytes()
            c0 = time.process_time()
            outcome = process("bench", data, profile, derive, detector)
            spent = time.process_time() - c0
            statuses[outcome.status.value] += 1
            if outcome.status is Status.ERROR or (outcome.status is Status.REVIEW and not args.show_review):
                continue
            original = parse("bench", data, derive)
            terms = terms_of(original, profile)
            c0 = time.process_time()
            hits = sweep(outcome.output_bytes, Format(outcome.format), terms, reader)
            elapsed = time.process_time() - c0
            name = str(path.relative_to(Path(tmp) / "samples"))
            if outcome.status is Status.CLEAN:
                swept += 1
                seconds.append(elapsed)
                pipeline_cpu += spent
                kinds.update(h.kind for h in hits)
                flagged += bool(hits)
            if hits:
                listed.append((outcome.status.value, name, [h.reason for h in hits]))
        wall = time.perf_counter() - started
    counts = ", ".join(f"{k} {v}" for k, v in sorted(statuses.items()))
    print(f"profile {args.profile}; {len(paths)} objects: {counts}")
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
        print(f"sweep CPU time per clean object ({'metadata + OCR' if reader else 'metadata only'}): mean "
              f"{statistics.mean(seconds) * 1000:.1f} ms, p95 {ordered[int(0.95 * (len(ordered) - 1))] * 1000:.1f} ms, "
              f"max {ordered[-1] * 1000:.1f} ms; {sum(seconds) / pipeline_cpu:.2f}x of the pipeline's own CPU time "
              f"on the same objects; whole run {wall:.0f} s wall")
    return 0


def _header_only(profile: profiles.Profile, corpus: str, limit: int) -> None:
    """Scrub every object of the corpus, sweep its metadata; one line per flagged object, one summary line."""
    with tempfile.TemporaryDirectory() as tmp:
        derive = Derivations(LocalKeyService.open(Path(tmp) / "key.json").hmac)
        if corpus == "demo":
            root = Path(tmp) / "samples"
            paths = sorted(write_samples(root))
        else:
            import data_store  # pydicom-data

            root = Path(data_store.__file__).parent / "data"
            paths = sorted(p for p in root.rglob("*") if p.is_file())
        swept, flagged, seconds, kinds = 0, 0, 0.0, Counter()
        for path in paths[:limit or None]:
            data = path.read_bytes()
            try:
                original = parse("bench", data, derive)
                terms = terms_of(original, profile)
                record = scrubbed("bench", data, profile, derive)
            except StageError:
                continue  # the corpora's deliberately broken files
            if record.findings:
                continue  # review: not a clean output
            c0 = time.process_time()
            hits = sweep(record.output_bytes, record.format, terms)
            seconds += time.process_time() - c0
            swept += 1
            if hits:
                flagged += 1
                kinds.update(h.kind for h in hits)
                print(f"  {profile.name}: {path.relative_to(root)}: " + " | ".join(h.reason for h in hits))
    print(f"{profile.name} ({corpus}, header only): clean objects with a hit {flagged}/{swept} = "
          f"{flagged / max(swept, 1):.3f}; hits by kind: {dict(sorted(kinds.items())) or 'none'}; "
          f"sweep CPU {seconds / max(swept, 1) * 1000:.1f} ms/object")


if __name__ == "__main__":
    raise SystemExit(main())
