"""PP-OCR model candidates on the synthetic corpus: each detector and each recogniser against PP-OCRv4.

    .venv/bin/python bench/models.py                        # every candidate; pipeline on 40 objects, crops of 120
    .venv/bin/python bench/models.py --pipeline-count 40 --count 120 --detectors v4,v6-small --recognisers v4
    .venv/bin/python bench/models.py --reuse                # keep configurations already run (same count, seed)

Two parts, one run, one corpus (pixelguard_testkit.synthetic, the corpus bench/pixels.py uses):

1. Redaction through the real pipeline (pipeline.process, profile basic, in-process engine, one model runtime
   thread), once per configuration: every candidate detector with today's reader (v4 recogniser), and every
   candidate recogniser with today's detector (v4). Recall per script, size and angle bucket, precision,
   objects routed to review, images/s (wall) and CPU seconds per image (process time, the steady figure on
   a shared machine), with ratios against v4/v4 from the same run. Configurations run in parallel worker
   processes (--jobs, default 2): wall figures then share the cores, CPU figures do not. Each
   configuration's result is saved as it ends (.cache/bench/models/pipeline-*.json); --reuse keeps those.
   The pipeline part runs on the first --pipeline-count objects (a prefix of the same corpus): at 2-4 CPU-s
   per object (today's reader runs Tesseract on most non-Latin lines) seven configurations of 120 objects
   do not fit a 15-minute run on two shared cores.
2. Reading ground-truth crops: every line's rotated text rectangle cut upright from the frame as the
   pipeline renders it, read by each recogniser (no angle classifier: the crop is upright by construction)
   and by Tesseract (today's 11 languages; and with the script's own language pack for Devanagari, Hebrew,
   Greek and Thai where installed). Character accuracy per script, 1 - edit distance / length, spaces
   ignored, NFKC-normalised, right-to-left text compared in the visual order the recognisers read; "with
   Tesseract" takes Tesseract's reading where it is closer and PP-OCR's confidence is below 0.9 (the
   engine keeps both readings for PHI matching, so the closer one counts). CPU ms per line for each reader.

Writes .cache/bench/models/results.json. See bench/README.md ("Model candidates").
"""
from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import re
import sys
import time
import unicodedata
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

import pixels as pixbench

from inference import models
from pixelguard_testkit import synthetic

OUT = pixbench.CACHE / "models"
CANDIDATES = ("v4", "v5-mobile", "v6-small", "v6-tiny")
BASE = ("v4", "v4")
RTL = {"arabic", "hebrew"}
OWN_TESSERACT = {"devanagari": "hin", "hebrew": "heb", "greek": "ell", "thai": "tha"}


# -- part 1: the pipeline, one configuration per worker process ------------------------------------------------
def _pipeline_worker(args: tuple) -> dict:
    det, rec, folder, objects = args
    os.environ.setdefault("PIXELGUARD_OCR_THREADS", "1")
    from inference import dbnet
    from inference.local_engine import LocalDetector
    from pixelguard.core import profile as profiles
    from pixelguard.core.keys import Derivations
    from pixelguard.core.pipeline import process
    from pixelguard.core.quiet import silence_value_echoes
    from pixelguard.keyservice.local import LocalKeyService

    silence_value_echoes()
    keys = LocalKeyService.open(pixbench.CACHE / "pixels" / "bench-key.json")
    derive, basic = Derivations(keys.hmac), profiles.load("basic")
    t0 = time.perf_counter()
    detector = LocalDetector(dbnet.DetectorSettings(model=det), recogniser=rec)
    warm = synthetic.generate(10_000, seed=1)
    process("in-warm", warm.data, basic, derive, detector)
    run = pixbench.ToolRun(f"{det}/{rec}", setup_s=time.perf_counter() - t0)
    for number, obj in enumerate(objects):
        data = (Path(folder) / obj["file"]).read_bytes()
        w0, c0 = time.perf_counter(), time.process_time()
        outcome = process(f"in-{number}", data, basic, derive, detector)
        run.seconds += time.perf_counter() - w0
        run.cpu_s += time.process_time() - c0
        run.objects += 1
        run.answered += 1
        run.frames += obj["frames"]
        run.statuses[outcome.status.value] += 1
        output = outcome.output_bytes or None
        if output is None:
            run.errors[obj["file"]] = outcome.reason
        pixbench.score(run, Path(folder), obj, output)
    print(f"  {run.name}: {run.objects} objects, {run.cpu_s / max(run.objects, 1):.3f} CPU-s/image", file=sys.stderr,
          flush=True)
    # Objects are identified by their index in `objects` (picklable and small).
    index = {o["file"]: i for i, o in enumerate(objects)}
    result = {"name": run.name, "seconds": run.seconds, "cpu_s": run.cpu_s, "setup_s": run.setup_s,
              "objects": run.objects, "errors": run.errors, "statuses": dict(run.statuses),
              "lines": [(index[o["file"]], e["line"], e["frame"], gone) for o, e, gone in run.lines],
              "areas": [(index[o["file"]], r, i) for o, r, i in run.areas]}
    _saved(det, rec, len(objects), Path(folder).name).write_text(json.dumps(result))
    return result


def _saved(det: str, rec: str, count: int, corpus_name: str) -> Path:
    OUT.mkdir(parents=True, exist_ok=True)
    return OUT / f"pipeline-{det}_{rec}-{corpus_name}-n{count}-v{synthetic.MANIFEST_VERSION}.json"


def _restore(result: dict, objects: list[dict]) -> pixbench.ToolRun:
    run = pixbench.ToolRun(result["name"], seconds=result["seconds"], cpu_s=result["cpu_s"], setup_s=result["setup_s"],
                           objects=result["objects"], answered=result["objects"], errors=result["errors"])
    run.statuses.update(result["statuses"])
    for i, line, frame, gone in result["lines"]:
        entry = next(e for e in objects[i]["boxes"] if e["line"] == line and e["frame"] == frame)
        run.lines.append((objects[i], entry, gone))
    run.areas = [(objects[i], r, inside) for i, r, inside in result["areas"]]
    return run


def pipeline_runs(configs: list[tuple[str, str]], folder: Path, objects: list[dict], jobs: int,
                  reuse: bool = False) -> dict:
    kept = {}
    if reuse:
        for det, rec in configs:
            path = _saved(det, rec, len(objects), folder.name)
            if path.exists():
                kept[(det, rec)] = json.loads(path.read_text())
                print(f"  {det}/{rec}: reused {path.relative_to(REPO)}", file=sys.stderr)
    work = [(det, rec, str(folder), objects) for det, rec in configs if (det, rec) not in kept]
    started = time.perf_counter()
    if jobs > 1:
        with mp.get_context("spawn").Pool(jobs, maxtasksperchild=1) as pool:
            results = pool.map(_pipeline_worker, work, chunksize=1)
    else:
        results = [_pipeline_worker(w) for w in work]
    results += list(kept.values())
    print(f"  pipeline part: {time.perf_counter() - started:.0f} s wall for {len(configs)} configurations",
          file=sys.stderr)
    return {tuple(r["name"].split("/")): _restore(r, objects) for r in results}


def _cells(objects: list[dict]) -> list[tuple[str, str, object]]:
    rows: list[tuple[str, str, object]] = [("all", "all", lambda o, e: True)]
    scripts = [s for s in synthetic.SCRIPTS if any(o["script"] == s for o in objects)]
    rows += [("script", s, (lambda v: lambda o, e: e["script"] == v)(s)) for s in scripts]
    rows += [("size", f"{a}-{b}", (lambda v: lambda o, e: e["size_bucket"] == v)(f"{a}-{b}"))
             for a, b in synthetic.SIZE_BUCKETS]
    rows += [("angle", a, (lambda v: lambda o, e: e["angle_bucket"] == v)(a)) for a in synthetic.ANGLES]
    return rows


def print_pipeline(runs: dict, objects: list[dict], configs: list[tuple[str, str]]) -> None:
    base = runs[BASE]
    names = [f"{d}/{r}" for d, r in configs]
    print(f"\n== 1. redaction through the pipeline (det/rec), first {len(objects)} objects: recall of ground-truth "
          "lines by cell ==")
    print(f"{'cell':<18} {'lines':>5} " + " ".join(f"{n:>18}" for n in names))
    for group, value, keep in _cells(objects):
        n = base.recall(keep)[1]
        print(f"{group + ' ' + value:<18} {n:>5} " + " ".join(f"{pixbench._fmt(runs[c].recall(keep)[0]):>18}"
                                                              for c in configs))
    print(f"{'precision':<24} " + " ".join(f"{pixbench._fmt(runs[c].precision()):>18}" for c in configs))
    review = [runs[c].statuses.get("review", 0) / max(runs[c].objects, 1) for c in configs]
    print(f"{'share to review':<24} " + " ".join(f"{v:>18.3f}" for v in review))
    print(f"{'images/s (wall)':<24} " + " ".join(f"{runs[c].rate:>18.2f}" for c in configs))
    cpu = [runs[c].cpu_s / max(runs[c].objects, 1) for c in configs]
    print(f"{'CPU s / image':<24} " + " ".join(f"{v:>18.3f}" for v in cpu))
    base_cpu = base.cpu_s / max(base.objects, 1)
    print(f"{'CPU s / image vs v4/v4':<24} " + " ".join(f"{v / base_cpu:>17.2f}x" for v in cpu))
    print(f"{'images/s vs v4/v4':<24} " + " ".join(f"{runs[c].rate / base.rate:>17.2f}x" for c in configs))
    print(f"{'model set-up s':<24} " + " ".join(f"{runs[c].setup_s:>18.1f}" for c in configs))


# -- part 2: reading ground-truth crops ---------------------------------------------------------------------
def _frames(folder: Path, obj: dict) -> list[np.ndarray]:
    from pixelguard.core import pixels as px

    data = (folder / obj["file"]).read_bytes()
    if data[128:132] == b"DICM":
        import io

        import pydicom

        ds = pydicom.dcmread(io.BytesIO(data))
        return px.render_dicom(ds, px.dicom_stored_frames(ds))
    arr, _ = px.decode_image(data)
    return [px.render_image(arr)]


def ground_truth_crops(folder: Path, objects: list[dict]) -> list[tuple[dict, np.ndarray]]:
    from inference import ppocr

    out = []
    for obj in objects:
        frames = _frames(folder, obj)
        seen = set()
        for entry in obj["boxes"]:
            if entry["line"] in seen:
                continue  # the same line on another frame of a cine: read once
            seen.add(entry["line"])
            # The polygon's corners run from the text's own top-left, so the warp gives the upright line.
            out.append((entry, ppocr.crop(frames[entry["frame"]], tuple(map(tuple, entry["polygon"])))))
    return out


def _norm(text: str) -> str:
    return "".join(unicodedata.normalize("NFKC", text).split())


def _visual(text: str) -> str:
    """Right-to-left text in the left-to-right order a line recogniser reads it: runs of digits keep theirs."""
    runs = re.findall(r"[0-9][0-9./\-]*[0-9]|[0-9]|[^0-9]+", text)
    return "".join(r if r[0].isdigit() else r[::-1] for r in reversed(runs))


def _edit(a: str, b: str) -> int:
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i]
        for j, cb in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb)))
        prev = cur
    return prev[-1]


def accuracy(reading: str, entry: dict) -> float:
    truth = _norm(entry["text"])
    if entry["script"] in RTL:
        truth = _visual(truth)
    got = _norm(reading.split("\n")[0])
    return max(0.0, 1.0 - _edit(got, truth) / max(len(truth), 1))


def _tess_accuracy(reading: str, entry: dict) -> float:
    """Tesseract returns right-to-left text in logical order: compare with the logical truth."""
    truth = _norm(entry["text"])
    return max(0.0, 1.0 - _edit(_norm(reading), truth) / max(len(truth), 1))


def read_crops(crops: list[tuple[dict, np.ndarray]], recognisers: list[str]) -> dict:
    from inference import ppocr, runtimes
    from inference.tesseract import LANGUAGES, TESSDATA, TesseractReader

    results: dict = {"ppocr": {}, "tesseract": {}}
    for name in recognisers:
        model = models.recogniser(name)
        session = runtimes.open_session(model.file.locate(), 1)
        decode = ppocr.CTCDecoder.for_model(model)
        session.run(ppocr.rec_batch([crops[0][1]], model.height))  # warm
        rows, cpu = [], 0.0
        for entry, crop in crops:  # one line at a time, as the engine's per-frame batches mostly are
            c0 = time.process_time()
            text, score = decode(session.run(ppocr.rec_batch([crop], model.height)))[0]
            cpu += time.process_time() - c0
            rows.append((text, score, accuracy(text, entry)))
        results["ppocr"][name] = {"rows": rows, "cpu_ms": 1000 * cpu / len(crops)}
    import tesserocr

    available = set(tesserocr.get_languages(str(TESSDATA))[1])
    variants = {"tess11": (LANGUAGES, None)}
    own = {s: lang for s, lang in OWN_TESSERACT.items() if lang in available}
    if own:
        variants["tess11+own"] = (LANGUAGES + tuple(own.values()), set(own))
    for label, (languages, scripts) in variants.items():
        reader = TesseractReader(languages)
        rows, cpu, n = [], 0.0, 0
        for entry, crop in crops:
            if scripts is not None and entry["script"] not in scripts:
                rows.append(None)
                continue
            c0 = time.process_time()
            text, score = reader.read(crop)
            cpu += time.process_time() - c0
            n += 1
            rows.append((text, score, _tess_accuracy(text, entry)))
        results["tesseract"][label] = {"rows": rows, "cpu_ms": 1000 * cpu / max(n, 1)}
    return results


def print_reading(crops: list, results: dict, recognisers: list[str]) -> None:
    from inference.local_engine import TESSERACT_BELOW

    scripts = [s for s in synthetic.SCRIPTS if any(e["script"] == s for e, _ in crops)]
    tess = results["tesseract"]
    cols = [f"{r}" for r in recognisers] + [f"{r}+tess" for r in recognisers] + list(tess)
    print("\n== 2. reading ground-truth crops: character accuracy per script (1 - CER), and CPU ms per line ==")
    print("   (+tess: Tesseract's 11-language reading counts where PP-OCR's confidence < "
          f"{TESSERACT_BELOW} and it is closer; tess11+own: with hin/heb/ell/tha added, on those scripts only)")
    print(f"{'script':<12} {'lines':>5} " + " ".join(f"{c:>15}" for c in cols))
    for script in ["all"] + scripts:
        picked = [i for i, (e, _) in enumerate(crops) if script == "all" or e["script"] == script]
        cells = []
        for r in recognisers:
            cells.append(np.mean([results["ppocr"][r]["rows"][i][2] for i in picked]))
        for r in recognisers:
            vals = []
            for i in picked:
                _, score, acc = results["ppocr"][r]["rows"][i]
                t = tess["tess11"]["rows"][i]
                vals.append(max(acc, t[2]) if score < TESSERACT_BELOW else acc)
            cells.append(np.mean(vals))
        for label in tess:
            vals = [tess[label]["rows"][i][2] for i in picked if tess[label]["rows"][i] is not None]
            cells.append(np.mean(vals) if vals else float("nan"))
        print(f"{script:<12} {len(picked):>5} " + " ".join(f"{v:>15.3f}" if v == v else f"{'-':>15}" for v in cells))
    low = {r: np.mean([row[1] < TESSERACT_BELOW for row in results["ppocr"][r]["rows"]]) for r in recognisers}
    print(f"{'CPU ms/line':<18} " + " ".join(f"{results['ppocr'][r]['cpu_ms']:>15.1f}" for r in recognisers)
          + " " * 16 * len(recognisers) + " ".join(f"{tess[t]['cpu_ms']:>15.1f}" for t in tess))
    print(f"{'share < 0.9 conf':<18} " + " ".join(f"{low[r]:>15.3f}" for r in recognisers))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="PP-OCR model candidates on the synthetic corpus")
    parser.add_argument("--count", type=int, default=120, help="corpus objects whose lines are read (part 2)")
    parser.add_argument("--pipeline-count", type=int, default=40, help="first N objects through the pipeline")
    parser.add_argument("--reuse", action="store_true", help="keep pipeline results saved for the same objects")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--detectors", default=",".join(CANDIDATES))
    parser.add_argument("--recognisers", default=",".join(CANDIDATES))
    parser.add_argument("--jobs", type=int, default=2, help="configurations run at once (worker processes)")
    parser.add_argument("--no-pipeline", action="store_true", help="part 2 only (reading ground-truth crops)")
    args = parser.parse_args(argv)
    detectors = [d for d in args.detectors.split(",") if d]
    recognisers = [r for r in args.recognisers.split(",") if r]
    for d in detectors:
        models.detector(d).file.locate()
    for r in recognisers:
        models.recogniser(r).file.locate()
    folder, objects = pixbench.corpus(args.seed, args.count)
    configs = [BASE] + [(d, "v4") for d in detectors if d != "v4"] + [("v4", r) for r in recognisers if r != "v4"]
    report: dict = {"count": args.count, "pipeline_count": args.pipeline_count, "seed": args.seed,
                    "configs": [list(c) for c in configs]}
    if not args.no_pipeline:
        subset = objects[:args.pipeline_count]
        runs = pipeline_runs(configs, folder, subset, args.jobs, args.reuse)
        print_pipeline(runs, subset, configs)
        report["pipeline"] = {f"{d}/{r}": {
            "recall": run.recall()[0], "precision": run.precision(), "cpu_s_per_image": run.cpu_s / run.objects,
            "images_per_s": run.rate, "statuses": dict(run.statuses),
            "cells": {f"{g} {v}": run.recall(k)[0] for g, v, k in _cells(subset)}} for (d, r), run in runs.items()}
    started = time.process_time()
    crops = ground_truth_crops(folder, objects)
    results = read_crops(crops, recognisers)
    print_reading(crops, results, recognisers)
    print(f"  reading part: {time.process_time() - started:.0f} CPU-s", file=sys.stderr)
    report["reading"] = {"lines": [{"text": e["text"], "script": e["script"], "size": e["size"],
                                    "angle": e["angle_bucket"]} for e, _ in crops],
                         **{k: v for k, v in results.items()}}
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "results.json").write_text(json.dumps(report, ensure_ascii=False, indent=1, default=str))
    print(f"\ndetails: {(OUT / 'results.json').relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
