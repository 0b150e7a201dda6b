"""Two series of one study, scrubbed in separate runs by separate processes, stay linked: same new
StudyInstanceUID and FrameOfReferenceUID, same PatientID pseudonym, same per-patient date offset."""
from __future__ import annotations

import datetime as dt
import io
import json
import subprocess
import sys
from pathlib import Path

import pydicom
from pydicom.data import get_testdata_file

ROOT = Path(__file__).resolve().parents[1]

_SCRIPT = """
import io, json, sys
sys.path.insert(0, sys.argv[1])
from pathlib import Path
from pixelguard.core.quiet import silence_value_echoes
silence_value_echoes()
from pixelguard.core import profile as profiles
from pixelguard.core.keys import Derivations
from pixelguard.core.parse import parse
from pixelguard.core.scrub import scrub
from pixelguard.keyservice.local import LocalKeyService
derive = Derivations(LocalKeyService.open(Path(sys.argv[2])).hmac)
out = []
for name in sys.argv[4:]:
    record = scrub(parse("in-" + Path(name).stem, Path(name).read_bytes(), derive), profiles.load(sys.argv[3]),
                   derive)
    ds = record.header
    out.append({"study": ds.StudyInstanceUID, "frame": ds.FrameOfReferenceUID, "series": ds.SeriesInstanceUID,
                "patient": ds.PatientID, "study_date": ds.get("StudyDate", ""),
                "series_date": ds.get("SeriesDate", ""), "crosswalk": list(record.crosswalk.values()),
                "meta_sop": ds.file_meta.MediaStorageSOPInstanceUID, "sop": ds.SOPInstanceUID})
print(json.dumps(out))
"""


def _series(tmp: Path, series: int, study_uid: str) -> list[Path]:
    paths = []
    for instance in range(2):
        ds = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
        ds.PatientID = "MRN-4242"
        ds.PatientName = "Doe^Jane"
        ds.StudyInstanceUID = study_uid
        ds.FrameOfReferenceUID = study_uid + ".7"
        ds.SeriesInstanceUID = f"{study_uid}.{series}"
        ds.SOPInstanceUID = f"{study_uid}.{series}.{instance}"
        ds.StudyDate = "20200105"
        ds.SeriesDate = "20200107" if series == 2 else "20200105"
        path = tmp / f"s{series}-{instance}.dcm"
        buf = io.BytesIO()
        ds.save_as(buf)
        path.write_bytes(buf.getvalue())
        paths.append(path)
    return paths


def _run(key: Path, profile: str, files: list[Path]) -> list[dict[str, object]]:
    proc = subprocess.run([sys.executable, "-c", _SCRIPT, str(ROOT), str(key), profile, *map(str, files)],
                          capture_output=True, text=True, timeout=120, check=True)
    return json.loads(proc.stdout)


def _days(a: str, b: str) -> int:
    return (dt.date(int(b[:4]), int(b[4:6]), int(b[6:])) - dt.date(int(a[:4]), int(a[4:6]), int(a[6:]))).days


def test_two_series_in_two_processes_stay_linked(tmp_path: Path) -> None:
    from pixelguard.keyservice.local import LocalKeyService

    key = tmp_path / "key.json"
    LocalKeyService.open(key)
    study = "1.2.826.0.1.3680043.8.498.4242"
    first = _run(key, "research", _series(tmp_path, 1, study))
    second = _run(key, "research", _series(tmp_path, 2, study))  # another run, another process
    every = first + second
    assert len({r["study"] for r in every}) == 1 and every[0]["study"] != study
    assert str(every[0]["study"]).startswith("2.25.")
    assert len({r["frame"] for r in every}) == 1 and every[0]["frame"] != study + ".7"
    assert len({r["patient"] for r in every}) == 1 and every[0]["patient"] != "MRN-4242"
    assert all(r["crosswalk"] == [r["patient"]] for r in every)  # pseudonym comes from the crosswalk entry
    assert first[0]["series"] != second[0]["series"]
    assert all(r["meta_sop"] == r["sop"] for r in every)
    # One offset for the patient, in every process: the study date moved the same way, intervals kept.
    offsets = {_days("20200105", str(r["study_date"])) for r in every}
    assert len(offsets) == 1 and next(iter(offsets)) < 0
    assert _days(str(second[0]["study_date"]), str(second[0]["series_date"])) == 2
