"""A CT series through pixel redaction: slices/s of the whole pipeline against detection alone, same run.

    .venv/bin/python bench/volume.py [--slices 200] [--text-on 5] [--jobs 2]

The series (written once under .cache/bench/volume/): ``--slices`` single-frame 512x512 CT slices cut from
pydicom-data's 693_UNCI volume (each slice its own file, shifted a pixel per slice so no two are alike),
one StudyInstanceUID; ``--text-on`` of them (spread through the series) carry the fake patient's name, ID
and date burned in at 12-16 px, as a scanner's annotation would. No other slice has text.

Printed, in one run on the same slices, each leg a whole process timed from its start to its exit:
  - ``pixelguard deid SERIES --out OUT --jobs N`` (CLI start, model loading, writing, manifest, job store):
    seconds per series, slices/s, and CPU seconds per slice (the process and its workers; steadier than
    wall time on a shared machine);
  - detection alone: ``python bench/volume.py --detect-only SERIES --jobs N``, the floor of any redaction that
    looks at every slice. It runs the way ``deid`` does (pixelguard.workerpool, forked workers, one model per
    worker made by ``inference.base.engine("local")`` with the pipeline's detector settings, one task per
    file) and does only what any redaction must: read the file, decode and render the slice, one detection;
  - the ratio of the two in wall time and in CPU seconds (issue 12's goal: within 1.5x of detection alone,
    >= 20 slices/s on 2 cores);
  - that every text slice went to clean or review with its text gone, and no blank slice was changed.
"""
from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

import numpy as np
from _proc import timed

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


_DETECTOR: list[object] = []


def _detect_init() -> None:
    from inference.base import engine
    from pixelguard.memory import keep_working_memory

    keep_working_memory()  # as embedded._init_worker sets a worker up: the floor gets the same allocator
    _DETECTOR.append(engine("local"))  # and the same engine: same class, same settings


def _detect_one(path: str) -> int:
    import pydicom

    from pixelguard.core.pixels import dicom_stored_frames, render_dicom

    with open(path, "rb") as handle:
        ds = pydicom.dcmread(handle)
    found = _DETECTOR[0].detect(render_dicom(ds, dicom_stored_frames(ds)))  # type: ignore[attr-defined]
    return sum(len(regions) for regions in found)


def detect_only(series: Path, jobs: int) -> int:
    """The detection-alone leg, run as its own process by ``timed``."""
    from pixelguard.workerpool import WorkerPool

    files = sorted(series.glob("slice-*.dcm"))
    pool: WorkerPool[str, int] = WorkerPool(jobs, _detect_init, (), _detect_one, 600.0)
    regions = sum(r for _, r in pool.run((str(f), (str(f),)) for f in files) if isinstance(r, int))
    print(f"{len(files)} slices, {regions} regions detected")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--slices", type=int, default=200)
    parser.add_argument("--text-on", type=int, default=5)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--detect-only", type=Path, default=None, metavar="SERIES", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.detect_only is not None:
        return detect_only(args.detect_only, args.jobs)
    series = CACHE / f"series-{args.slices}"
    texts = build_series(series, args.slices, args.text_on)
    files = sorted(series.glob("slice-*.dcm"))
    out = CACHE / "out"
    shutil.rmtree(out, ignore_errors=True)
    whole, whole_cpu = timed([str(PIXELGUARD), "deid", str(series), "--out", str(out), "--jobs", str(args.jobs),
                              "--key-file", str(CACHE / "key.json")])
    alone, alone_cpu = timed([sys.executable, __file__, "--detect-only", str(series), "--jobs", str(args.jobs)])
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
    print(f"  CPU: {whole_cpu:.1f} s, {whole_cpu / len(files):.3f} CPU-s per slice")
    print(f"detection alone, {args.jobs} worker processes (whole process, same pool and model): {alone:.1f} s, "
          f"{len(files) / alone:.1f} slices/s; CPU: {alone_cpu:.1f} s, {alone_cpu / len(files):.3f} CPU-s per slice")
    print(f"ratio: pipeline takes {whole / alone:.2f}x detection alone in wall time, {whole_cpu / alone_cpu:.2f}x "
          f"in CPU seconds (goal <= 1.5x); "
          f"{'PASS' if len(files) / whole >= 20 else 'FAIL'} >= 20 slices/s")
    print(f"states: {states}; text regions filled: {regions} (on {len(texts)} slices with text)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
