"""Where does precision go? The redacted pixels outside the text of ``bench/pixels.py``'s corpus, by cause.

    .venv/bin/python bench/spill.py [--limit N] [--count 320] [--seed 0]

Precision (bench/pixels.py) is the share of redacted pixels inside a ground-truth line's box grown by
``synthetic.margin_for`` its size. This reruns the corpus through ``core.pipeline.process`` (in-process engine,
``basic`` profile) with the text search's fills watched (bench/misses.py's ``Watch``) and puts every redacted
pixel outside those grown boxes ("spill") in one class, first that applies:

- ``fill of no line``: inside a fill that touches no ground-truth line (anatomy or noise taken for text);
- ``untightened text fill``: inside a fill around a line that is the detector's whole cover box (``regions.tighten``
  found no single background around the strokes, and kept the box);
- ``tightened text fill``: inside a tightened fill around a line: its pad, and strokes of anything else in it;
- ``other``: redacted outside every watched fill (a profile's pixel rules, enclosed pixels counted as redacted).

Printed per class, overall and per modality and size bucket, with the precision they add up to.
"""
from __future__ import annotations

import argparse
import sys
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from misses import Watch, WatchedPipeline, _touches, corpus_objects

from pixelguard_testkit import synthetic

CLASSES = ("fill of no line", "untightened text fill", "tightened text fill", "other")


def spill_of(obj: dict, before: np.ndarray, after: np.ndarray, watch: Watch,
             tolerance: int) -> tuple[Counter[str], int, int]:
    """(spill pixels by class, redacted pixels, redacted pixels inside the grown boxes) of one object; as
    bench/pixels.py scores, a lossy output's pixels count as redacted only past ``tolerance``."""
    redacted = synthetic.redacted_mask(before, after, tolerance)
    frames, height, width = before.shape[0], before.shape[1], before.shape[2]
    target = np.zeros_like(redacted)
    for entry in obj["boxes"]:
        x0, y0, x1, y1 = entry["box"]
        m = synthetic.margin_for(int(entry["size"]))
        target[int(entry["frame"]), max(0, y0 - m):y1 + m, max(0, x0 - m):x1 + m] = True
    masks = {c: np.zeros_like(redacted) for c in CLASSES[:3]}
    for f in range(frames):
        lines = [tuple(e["box"]) for e in obj["boxes"] if int(e["frame"]) == f]
        covers = {r.cover(width, height) for r in watch.found[f]}
        for box in watch.fills[f]:
            if not any(_touches(box, line) for line in lines):
                kind = "fill of no line"
            elif box in covers:
                kind = "untightened text fill"
            else:
                kind = "tightened text fill"
            masks[kind][f, box[1]:box[3], box[0]:box[2]] = True
    spill = redacted & ~target
    counts: Counter[str] = Counter()
    left = spill.copy()
    for kind in CLASSES[:3]:
        counts[kind] = int((left & masks[kind]).sum())
        left &= ~masks[kind]
    counts["other"] = int(left.sum())
    return counts, int(redacted.sum()), int((redacted & target).sum())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=320)
    parser.add_argument("--limit", type=int)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    folder, objects = corpus_objects(args.seed, args.count, args.limit)
    pipeline = WatchedPipeline()
    groups: dict[tuple[str, str], Counter[str]] = defaultdict(Counter)
    for n, obj in enumerate(objects, start=1):
        data = (folder / obj["file"]).read_bytes()
        outcome, watch = pipeline("in-spill", data)
        if not outcome.output_bytes:
            continue
        before, after = synthetic.decode(data), synthetic.decode(outcome.output_bytes)
        if after.shape[:3] != before.shape[:3]:
            continue
        tolerance = synthetic.lossy_tolerance() if synthetic.lossy(outcome.output_bytes) else 0
        counts, redacted, inside = spill_of(obj, before, after, watch, tolerance)
        for key in (("all", "all"), ("modality", obj["modality"]), ("size", obj["size_bucket"])):
            groups[key].update(counts)
            groups[key]["redacted"] += redacted
            groups[key]["inside"] += inside
        if n % 50 == 0:
            print(f"spill: {n}/{len(objects)} objects", flush=True)
    print(f"\n{'group':<9} {'value':<7} {'precision':>9}  spill share of redacted pixels, by class")
    for (group, value), c in sorted(groups.items(), key=lambda kv: (kv[0][0] != "all", kv[0])):
        total = max(1, c["redacted"])
        shares = "  ".join(f"{kind} {c[kind] / total:.3f}" for kind in CLASSES)
        print(f"{group:<9} {value:<7} {c['inside'] / total:>9.3f}  {shares}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
