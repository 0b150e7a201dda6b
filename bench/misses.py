"""Why does the pixel engine miss the lines it misses? One row per missed line of ``bench/pixels.py``'s corpus.

    .venv/bin/python bench/misses.py [--limit N] [--only-missed .cache/bench/pixels/results.json] [--crops DIR]

Each object goes through ``core.pipeline.process`` (in-process engine, ``basic`` profile) with the text
search's steps watched (``core.textsearch``: first look, fills, look-around). A line whose stroke pixels are
not all redacted is put in one class:

- ``not detected``: no region of the first look (1x and the small-type canvases) touches the line's box;
- ``not filled``: regions touch it, but none was filled (left as doubtful anatomy, or not selected);
- ``detector box short``: the strokes left lie outside every touching region's cover box (the detector's
  quad plus the cover margin), i.e. the box fell short of the line's first or last letter;
- ``tightened off``: the strokes left lie inside a touching region's cover box, outside its fill
  (``regions.tighten`` cut them off).

With ``--crops`` each missed line is saved as a PNG (4x, the object's rendering around the line): ground-truth
box green, first-look quads red, fills blue, stroke pixels left magenta. With ``--only-missed`` only the
objects ``bench/pixels.py`` listed as missing a line (its results.json) are run.
"""
from __future__ import annotations

import argparse
import json
import sys
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import cv2
import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from pixelguard.core import textsearch
from pixelguard_testkit import synthetic

Box = tuple[int, int, int, int]


class Watch:
    """What the text search did to the object being processed, in frame coordinates of the object."""

    def __init__(self) -> None:
        self.offset = 0
        self.found: dict[int, list] = defaultdict(list)
        self.fills: dict[int, list[Box]] = defaultdict(list)

    def install(self) -> None:
        batch, first, fill = (textsearch._detect_and_fill_batch, textsearch._first_look, textsearch._fill)

        def watched_batch(stored, render, detector, settings, fill_value, tally):
            self.offset = tally.offset
            return batch(stored, render, detector, settings, fill_value, tally)

        def watched_first(frames, scales, detector, settings):
            found = first(frames, scales, detector, settings)
            for i, regions in enumerate(found):
                self.found[self.offset + i].extend(regions)
            return found

        def watched_fill(stored, frames, chosen, fill_value, covers, tally, first, settings, attempt=0):
            before = len(covers)
            fill(stored, frames, chosen, fill_value, covers, tally, first=first, settings=settings, attempt=attempt)
            for index, box, _ in covers[before:]:
                self.fills[self.offset + index].append(box)

        textsearch._detect_and_fill_batch = watched_batch
        textsearch._first_look = watched_first
        textsearch._fill = watched_fill
        self._saved = (batch, first, fill)

    def uninstall(self) -> None:
        textsearch._detect_and_fill_batch, textsearch._first_look, textsearch._fill = self._saved


def corpus_objects(seed: int, count: int, limit: int | None) -> tuple[Path, list[dict]]:
    """bench/pixels.py's corpus (written if missing): its folder and its first ``limit`` objects' entries."""
    folder = REPO / ".cache" / "bench" / "pixels" / f"corpus-seed{seed}"
    synthetic.write_corpus(folder, count, seed)
    manifest = json.loads((folder / "manifest.json").read_text())
    return folder, [manifest["objects"][str(i)] for i in range(limit or count)]


class WatchedPipeline:
    """``core.pipeline.process`` as bench/pixels.py runs it (in-process engine, ``basic`` profile, its key),
    with the text search of each object watched."""

    def __init__(self) -> None:
        from inference.local_engine import LocalDetector
        from pixelguard.core import profile as profiles
        from pixelguard.core.keys import Derivations
        from pixelguard.core.quiet import silence_value_echoes
        from pixelguard.keyservice.local import LocalKeyService

        silence_value_echoes()
        keys = LocalKeyService.open(REPO / ".cache" / "bench" / "pixels" / "bench-key.json")
        self.derive, self.profile, self.detector = Derivations(keys.hmac), profiles.load("basic"), LocalDetector()

    def __call__(self, label: str, data: bytes) -> tuple[Any, Watch]:
        from pixelguard.core.pipeline import process

        watch = Watch()
        watch.install()
        try:
            return process(label, data, self.profile, self.derive, self.detector), watch
        finally:
            watch.uninstall()


def _touches(a: Box, b: Box) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def classify(entry: dict, strokes: np.ndarray, left: np.ndarray, watch: Watch, width: int, height: int) -> str:
    f = int(entry["frame"])
    x0, y0, x1, y1 = entry["box"]
    touching = [r for r in watch.found[f] if _touches(r.cover(width, height), (x0, y0, x1, y1))]
    if not touching:
        return "not detected"
    fills = [b for b in watch.fills[f] if _touches(b, (x0, y0, x1, y1))]
    if not fills:
        return "not filled"
    ys, xs = np.nonzero(left)
    in_cover = np.zeros(len(ys), dtype=bool)
    for r in touching:
        c = r.cover(width, height)
        in_cover |= (xs + x0 >= c[0]) & (xs + x0 < c[2]) & (ys + y0 >= c[1]) & (ys + y0 < c[3])
    return "tightened off" if in_cover.all() else "detector box short"


def crop(path: Path, shown: np.ndarray, entry: dict, left: np.ndarray, watch: Watch) -> None:
    f = int(entry["frame"])
    x0, y0, x1, y1 = entry["box"]
    pad = max(12, int(entry["size"]) * 2)
    h, w = shown.shape[:2]
    cx0, cy0, cx1, cy1 = max(0, x0 - pad), max(0, y0 - pad), min(w, x1 + pad), min(h, y1 + pad)
    k = 4
    img = cv2.resize(np.ascontiguousarray(shown[cy0:cy1, cx0:cx1]), None, fx=k, fy=k,
                     interpolation=cv2.INTER_NEAREST)
    img = cv2.cvtColor(img, cv2.COLOR_GRAY2BGR) if img.ndim == 2 else cv2.cvtColor(img, cv2.COLOR_RGB2BGR)

    def rect(b: Box, colour: tuple[int, int, int]) -> None:
        cv2.rectangle(img, ((b[0] - cx0) * k, (b[1] - cy0) * k), ((b[2] - cx0) * k - 1, (b[3] - cy0) * k - 1),
                      colour, 1)

    rect((x0, y0, x1, y1), (0, 200, 0))
    for b in watch.fills[f]:
        rect(b, (255, 80, 0))
    for r in watch.found[f]:
        pts = ((np.asarray(r.quad) - [cx0, cy0]) * k).astype(np.int32)
        cv2.polylines(img, [pts], True, (0, 0, 255), 1)
    ys, xs = np.nonzero(left)
    for y, x in zip(ys, xs, strict=True):
        img[(y + y0 - cy0) * k:(y + y0 - cy0 + 1) * k, (x + x0 - cx0) * k:(x + x0 - cx0 + 1) * k] = (255, 0, 255)
    cv2.imwrite(str(path), img)


def _shown(frame: np.ndarray) -> np.ndarray:
    arr = frame.astype(np.float64)
    lo, hi = float(arr.min()), float(arr.max())
    return ((arr - lo) * 255 / max(hi - lo, 1)).astype(np.uint8)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=320)
    parser.add_argument("--limit", type=int)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--only-missed", type=Path, help="a results.json of bench/pixels.py: run only its objects "
                                                         "with a missed line")
    parser.add_argument("--crops", type=Path, help="folder for one PNG per missed line")
    args = parser.parse_args(argv)

    folder, objects = corpus_objects(args.seed, args.count, args.limit)
    if args.only_missed:
        wanted = {m["file"] for run in json.loads(args.only_missed.read_text()).values() for m in run["missed"]}
        objects = [o for o in objects if o["file"] in wanted]
    if args.crops:
        args.crops.mkdir(parents=True, exist_ok=True)
    pipeline = WatchedPipeline()
    classes: Counter[str] = Counter()
    total = 0
    for obj in objects:
        data = (folder / obj["file"]).read_bytes()
        outcome, watch = pipeline("in-misses", data)
        before = synthetic.decode(data)
        after = synthetic.decode(outcome.output_bytes) if outcome.output_bytes else None
        with np.load(folder / obj["masks"]) as npz:
            masks = {k: npz[k] for k in npz.files}
        if after is None:
            print(f"{obj['file']}: no output ({outcome.status.value}), {len(obj['boxes'])} lines missed", flush=True)
            classes["no output"] += len(obj["boxes"])
            total += len(obj["boxes"])
            continue
        redacted = synthetic.redacted_mask(before, after)
        height, width = before.shape[1], before.shape[2]
        for n, entry in enumerate(obj["boxes"]):
            total += 1
            x0, y0, x1, y1 = entry["box"]
            strokes = masks[entry["mask"]]
            left = strokes & ~redacted[int(entry["frame"]), y0:y1, x0:x1]
            if not left.any():
                continue
            kind = classify(entry, strokes, left, watch, width, height)
            classes[kind] += 1
            print(f"{obj['file']} line {n}: {kind:<18} {entry['script']:<10} {entry['size']:>2} px "
                  f"angle {entry['angle']:>6} {entry['polarity']:<5} {int(left.sum())}/{int(strokes.sum())} stroke px "
                  f"left, status {outcome.status.value}", flush=True)
            if args.crops:
                frame = before[int(entry["frame"])]
                crop(args.crops / f"{kind.replace(' ', '-')}-{obj['file'].split('.')[0]}-{n}.png", _shown(frame),
                     entry, left, watch)
    counts = ", ".join(f"{k} {v}" for k, v in classes.most_common())
    print(f"\n{sum(classes.values())} of {total} lines missed: {counts}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
