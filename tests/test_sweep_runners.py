"""Both runners run the PHI sweep before release: a leak the scrubber keeps ends in review, never clean."""
from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import pydicom
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence
from pydicom.uid import generate_uid

from agents.stages import StageContext
from pixelguard.samples import FakePatient, text_dicom
from streams.objectstore import FileObjectStore
from tests.streaming.test_stages import run_steps, submitted

PIXELGUARD = str(Path(sys.executable).with_name("pixelguard"))
PATIENT = FakePatient()


def _leaky() -> bytes:
    """The patient's name two sequences deep, where basic's table keeps the text (a real scrubber gap)."""
    ds = pydicom.dcmread(io.BytesIO(text_dicom(PATIENT)))
    purpose = Dataset()
    purpose.CodeValue, purpose.CodingSchemeDesignator = "121311", "DCM"
    purpose.CodeMeaning = "Reviewed with Jane Doe"
    reference = Dataset()
    reference.ReferencedSOPClassUID = ds.SOPClassUID
    reference.ReferencedSOPInstanceUID = generate_uid()
    reference.PurposeOfReferenceCodeSequence = Sequence([purpose])
    ds.ReferencedImageSequence = Sequence([reference])
    buf = io.BytesIO()
    ds.save_as(buf)
    return buf.getvalue()


def test_deid_holds_a_swept_leak_for_review(tmp_path: Path) -> None:
    inputs = tmp_path / "in"
    inputs.mkdir()
    (inputs / "leaky.dcm").write_bytes(_leaky())
    out = tmp_path / "out"
    proc = subprocess.run([PIXELGUARD, "deid", str(inputs), "--out", str(out), "--key-file",
                           str(tmp_path / "k" / "key.json"), "--jobs", "1"], capture_output=True, text=True,
                          timeout=900)
    rows = [json.loads(line) for line in (out / "manifest.jsonl").read_text().splitlines()]
    assert proc.returncode == 1 and len(rows) == 1
    row = rows[0]
    assert row["status"] == "review" and str(row["output"]).startswith("review/")
    assert "PHI sweep" in str(row["reason"]) and "PurposeOfReferenceCodeSequence" in str(row["reason"])
    assert int(row["sweep_hits"]) >= 1  # type: ignore[call-overload]
    assert "Jane" not in str(row["reason"]) and "Doe" not in str(row["reason"]) and "Jane" not in proc.stderr
    assert not list(out.glob("*.dcm"))  # nothing published as clean


def test_streaming_steps_hold_a_swept_leak_for_review(tmp_path: Path, derive, detector) -> None:
    store = FileObjectStore(tmp_path / "store")
    ctx = StageContext(derive, store, detector)
    topic, final = run_steps(ctx, submitted(store, derive, "leaky.dcm", _leaky()))
    assert topic == "review" and final.status == "review"
    assert "PHI sweep" in final.reason and "Jane" not in final.to_bytes().decode()
    assert final.stats["sweep_hits"] >= 1
    assert "/review/" in final.object_uri and not (tmp_path / "store" / "clean").exists()
