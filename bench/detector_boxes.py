"""What a detector set-up draws, before the pipeline does anything with it: box geometry and score separation.

    .venv/bin/python bench/detector_boxes.py [--limit 120] [--setup v4:0.3:1.6 --setup v6-tiny:0.3:1.3:half]

Each ``--setup`` is ``MODEL:THRESH:UNCLIP[:half]`` (a name in ``inference.models.DETECTORS``, the
probability-map threshold, the unclip ratio; ``half`` feeds the network v4's RGB [-1, 1] input instead of
its own). For each set-up the in-process detector makes one pass over the first frame of the first
``--limit`` objects of ``bench/pixels.py``'s corpus, rendered min-max to 8 bits (the pipeline's windowing
is left out on purpose: this compares networks on the same pixels), and prints:

- for every ground-truth line: whether a text region (score >= 0.4) touches it, the share of lines whose
  polygon the touching region covers to >= 98%, and the region's height and area over the line polygon's
  (median, 10th-90th percentile): how tight the boxes are;
- the scores of text regions over the ground truth, and of those touching no line, in bins: how well a
  score floor and the review threshold can separate text from the rest.

Not a recall figure (``bench/pixels.py`` is): one pass at one size, no small-type search, no look around.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from misses import corpus_objects

from inference import dbnet, models
from inference.local_engine import LocalDetector
from pixelguard_testkit import synthetic

TEXT_SCORE = 0.4  # RedactionSettings.region_min_score: below it a region is a hint, never filled
BINS = (0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.01)


def first_frames(limit: int) -> list[tuple[np.ndarray, list[dict]]]:
    folder, objects = corpus_objects(0, 320, limit)
    out = []
    for obj in objects:
        frame = synthetic.decode((folder / obj["file"]).read_bytes())[0].astype(np.float32)
        if frame.ndim == 2:
            frame = np.repeat(frame[..., np.newaxis], 3, axis=-1)
        span = max(1.0, float(frame.max() - frame.min()))
        rendered = (255 * (frame - frame.min()) / span).astype(np.uint8)
        out.append((rendered, [e for e in obj["boxes"] if int(e["frame"]) == 0]))
    return out


def detector_for(setup: str) -> LocalDetector:
    name, thresh, unclip, *rest = setup.split(":")
    if rest == ["half"]:
        # A changed registry entry for this process only: the network fed the other normalisation.
        models.DETECTORS[name] = dataclasses.replace(models.DETECTORS[name], normalisation=models.HALF)
        dbnet._tables.cache_clear()
    return LocalDetector(dbnet.DetectorSettings(model=name, thresh=float(thresh), unclip_ratio=float(unclip)))


def _mask(points: object, shape: tuple[int, int]) -> np.ndarray:
    mask = np.zeros(shape, np.uint8)
    cv2.fillPoly(mask, [np.asarray(points, np.float32).round().astype(np.int32)], 1)
    return mask


def measure(detector: LocalDetector, frames: list[tuple[np.ndarray, list[dict]]]) -> dict:
    covered: list[float] = []
    heights: list[float] = []
    areas: list[float] = []
    text_scores: list[float] = []
    other_scores: list[float] = []
    for frame, lines in frames:
        shape = frame.shape[:2]
        regions = [r for r in detector.detect([frame])[0] if r.score >= TEXT_SCORE]
        masks = [_mask(r.quad, shape) for r in regions]
        truth = np.zeros(shape, np.uint8)
        for line in lines:
            polygon = _mask(line["polygon"], shape)
            truth |= polygon
            overlaps = [(int((m & polygon).sum()), k) for k, m in enumerate(masks)]
            best, k = max(overlaps, default=(0, -1))
            if best == 0:
                covered.append(0.0)
                continue
            covered.append(best / polygon.sum())
            areas.append(masks[k].sum() / polygon.sum())
            corners = np.asarray(line["polygon"])
            height = min(np.linalg.norm(corners[0] - corners[1]), np.linalg.norm(corners[1] - corners[2]))
            heights.append(regions[k].short_side() / height)
        for region, mask in zip(regions, masks, strict=True):
            (text_scores if (mask & truth).sum() > 0.3 * mask.sum() else other_scores).append(region.score)
    cover = np.asarray(covered)
    return {"lines": len(cover), "found": float(np.mean(cover > 0)), "covered_98": float(np.mean(cover >= 0.98)),
            "height": [float(np.percentile(heights, p)) for p in (10, 50, 90)],
            "area": [float(np.percentile(areas, p)) for p in (10, 50, 90)],
            "text_scores": np.histogram(text_scores, BINS)[0].tolist(),
            "other_scores": np.histogram(other_scores, BINS)[0].tolist()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--limit", type=int, default=120)
    parser.add_argument("--setup", action="append", help="MODEL:THRESH:UNCLIP[:half], repeated")
    args = parser.parse_args(argv)
    setups = args.setup or ["v4:0.3:1.6", "v6-tiny:0.3:1.3:half"]
    frames = first_frames(args.limit)
    results = {}
    bins = " ".join(f"{lo:.1f}-" for lo in BINS[:-1])
    for setup in setups:
        r = results[setup] = measure(detector_for(setup), frames)
        h, a = r["height"], r["area"]
        print(f"{setup}: {r['lines']} lines, touched {r['found']:.3f}, polygon covered >= 98% {r['covered_98']:.3f}; "
              f"height x{h[1]:.2f} [{h[0]:.2f}-{h[2]:.2f}], area x{a[1]:.2f} [{a[0]:.2f}-{a[2]:.2f}]")
        print(f"    scores ({bins}): text {r['text_scores']}, touching no line {r['other_scores']}", flush=True)
    out = REPO / ".cache" / "bench" / "detector-boxes.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
