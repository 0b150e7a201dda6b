"""The streaming steps run the same core stages as the embedded pipeline: same outputs, same decisions."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from agents.stages import StageContext, decide, parse_step, redact_step, scrub_step
from pixelguard.core import profile as profiles
from pixelguard.core.pipeline import process
from pixelguard.samples import FakePatient, text_dicom, text_jpeg, text_nifti, text_png
from pixelguard_testkit.engines import DropsOneCall
from streams.events import ObjectEvent, PoisonEvent, now_iso
from streams.objectstore import FileObjectStore
from tests.streaming.harness import patient


def run_steps(ctx: StageContext, event: ObjectEvent) -> tuple[str, ObjectEvent]:
    topic, event = parse_step(ctx, event)
    if topic == "parsed":
        topic, event = scrub_step(ctx, event)
    if topic == "scrubbed":
        topic, event = redact_step(ctx, event)
    return decide(ctx, event)


def submitted(store: FileObjectStore, derive, name: str, data: bytes) -> ObjectEvent:
    input_id = derive.input_id(f"/feed/{name}")
    uri = store.put(f"ingest/job-t/{input_id}", data)
    return ObjectEvent(job_id="job-t", input_id=input_id, profile="basic", submitted_at=now_iso(), stage="ingest",
                       source_uri=uri, object_uri=uri)


@pytest.mark.parametrize("kind", ["dicom", "dicom-rle", "png", "jpeg", "nifti", "truncated", "garbage"])
def test_steps_match_embedded_process(kind: str, tmp_path: Path, derive, detector) -> None:
    patient = FakePatient()
    data = {
        "dicom": lambda: text_dicom(patient),
        "dicom-rle": lambda: text_dicom(patient, "1.2.840.10008.1.2.5"),
        "png": lambda: text_png(patient),
        "jpeg": lambda: text_jpeg(patient),
        "nifti": lambda: text_nifti(patient),
        "truncated": lambda: text_dicom(patient)[:3000],
        "garbage": lambda: b"not an image at all" * 10,
    }[kind]()
    store = FileObjectStore(tmp_path / "store")
    ctx = StageContext(derive, store, detector)
    event = submitted(store, derive, kind, data)
    topic, final = run_steps(ctx, event)
    expected = process(event.input_id, data, profiles.load("basic"), derive, detector)
    assert final.status == expected.status.value, (final.reason, expected.reason)
    assert final.reason == expected.reason
    assert topic == {"clean": "clean", "review": "review", "error": "errors"}[expected.status.value]
    if expected.status.value != "error":
        assert final.output_id == expected.output_id
        assert store.get(final.object_uri) == expected.output_bytes
        assert final.object_uri.endswith(f"/{topic}/{expected.output_id}{expected.extension}")
    # Events carry no PHI: not the name, the ID, the birth date.
    body = final.to_bytes().decode()
    for value in (patient.name, patient.patient_id, patient.birth_date, "DOE", "JOHN"):
        assert value not in body


def test_redelivery_writes_the_same_output_name(tmp_path: Path, derive, detector) -> None:
    store = FileObjectStore(tmp_path / "store")
    ctx = StageContext(derive, store, detector)
    event = submitted(store, derive, "a", text_png(FakePatient()))
    first = run_steps(ctx, event)[1]
    second = run_steps(ctx, event)[1]
    assert first.object_uri == second.object_uri
    outputs = [p for p in (tmp_path / "store").rglob("*") if p.is_file() and p.parts[-2] in ("clean", "review")]
    assert len(outputs) == 1


def test_engine_unavailable_never_routes_clean(tmp_path: Path, derive) -> None:
    from inference.base import EngineUnavailable

    class Down:
        def detect(self, frames, as_is=False):
            raise EngineUnavailable("Triton did not answer")

        ocr = detect

    store = FileObjectStore(tmp_path / "store")
    ctx = StageContext(derive, store, Down(), retries=1, backoff_s=0.01)
    topic, final = run_steps(ctx, submitted(store, derive, "b", text_dicom(FakePatient())))
    assert topic == "errors" and final.error_code == "engine-unavailable"


@pytest.mark.parametrize("syntax", [None, "1.2.840.10008.1.2.5"], ids=["native", "rle"])
@pytest.mark.parametrize("fail_at", [1, 2])  # the search, then the look around its fill
def test_a_redaction_retried_after_an_outage_writes_the_same_redacted_pixels(
        syntax: str | None, fail_at: int, tmp_path: Path, derive, detector) -> None:
    # Seen in the Triton restart fault run: an attempt that failed after filling some text left its fills in
    # the record; the retry found nothing left to change and wrote the original pixel data, text and all.
    data = text_dicom(patient(6), syntax)  # the fault run's object
    healthy = process("in-x", data, profiles.load("basic"), derive, detector)
    assert healthy.status.value == "clean" and healthy.stats["pixels"] == "verified", healthy.reason
    store = FileObjectStore(tmp_path / "store")
    flaky = DropsOneCall(detector, fail_at)
    ctx = StageContext(derive, store, flaky, retries=2, backoff_s=0.01)
    event = submitted(store, derive, "outage", data)
    topic, final = run_steps(ctx, event)
    assert flaky.calls > fail_at, "the outage was never met"
    assert (topic, final.reason) == ("clean", healthy.reason)
    assert store.get(final.object_uri) == healthy.output_bytes


def test_an_outage_that_outlasts_the_retries_of_verification_goes_to_review(tmp_path: Path, derive, detector) -> None:
    """The search ran and filled; the engine is then gone for every retry: the object is held for review,
    saying it is unverified, and nothing is published clean."""
    from inference.base import EngineUnavailable

    class GoneAfterTheSearch(DropsOneCall):
        def _call(self, name, *args):
            self.calls += 1
            if self.calls > 1 and not self.searching:
                raise EngineUnavailable("Triton did not answer")
            self.searching = False
            return getattr(self.engine, name)(*args)

    data = text_dicom(patient(6))
    store = FileObjectStore(tmp_path / "store")
    engine = GoneAfterTheSearch(detector, 0)
    engine.searching = True
    ctx = StageContext(derive, store, engine, retries=1, backoff_s=0.01)
    topic, final = run_steps(ctx, submitted(store, derive, "lost", data))
    assert topic == "review" and final.status == "review", final.reason
    assert "unverified: the text engine failed during the look around the fills; retry or review" in final.reason
    assert not [p for p in (tmp_path / "store").rglob("*") if p.is_file() and p.parts[-2] == "clean"]


def test_poison_and_versions() -> None:
    with pytest.raises(PoisonEvent):
        ObjectEvent.from_bytes(b"\x00\x01")
    with pytest.raises(PoisonEvent):
        ObjectEvent.from_bytes(json.dumps({"v": 99, "job_id": "j"}).encode())
    ok = ObjectEvent("j", "in-1", "basic", now_iso(), "ingest")
    doc = json.loads(ok.to_bytes())
    doc["added_later"] = 1
    assert ObjectEvent.from_bytes(json.dumps(doc).encode()) == ok


def test_route_holds_a_conflicting_output_for_review_and_overwrites_nothing(tmp_path: Path, derive, detector) -> None:
    """Two inputs with one SOP Instance UID but different content: the second is held, under its own name."""
    import io

    import pydicom

    first = text_dicom(FakePatient())
    other = pydicom.dcmread(io.BytesIO(first))
    other.PatientName = "SOMEONE^ELSE"  # another patient's object under the same identifiers
    buf = io.BytesIO()
    other.save_as(buf)
    store = FileObjectStore(tmp_path / "store")
    ctx = StageContext(derive, store, detector)
    topic_a, a = run_steps(ctx, submitted(store, derive, "a.dcm", first))
    topic_b, b = run_steps(ctx, submitted(store, derive, "b.dcm", buf.getvalue()))
    assert a.output_id == b.output_id and a.content_id != b.content_id
    assert b.status == "review" and "conflict" in b.reason and topic_b == "review"
    assert b.object_uri != a.object_uri and b.object_uri.endswith(f"{b.output_id}-{b.content_id}.dcm")
    # Both kept, neither overwritten. (Here the outputs match byte for byte, since the names differed only in
    # an element basic removes; the inputs differ, so it is still a conflict for a person to look at.)
    assert store.get(a.object_uri) and store.get(b.object_uri)
    # A redelivered event of the first input publishes the same bytes again: no conflict with itself.
    topic_again, again = run_steps(ctx, submitted(store, derive, "a.dcm", first))
    assert (topic_again, again.status, again.object_uri) == (topic_a, a.status, a.object_uri)
    assert "conflict" not in again.reason


@pytest.mark.parametrize(("kind", "fmt"), [("dicom-rle", "htj2k"), ("dicom", "png"), ("two-frames", "jpeg"),
                                           ("nifti", "htj2k")])
def test_the_events_output_format_is_honoured_as_in_deid(kind: str, fmt: str, tmp_path: Path, derive,
                                                          detector) -> None:
    from dataclasses import replace

    from pixelguard.core.export import OutputFormat
    from pixelguard.core.pipeline import RunOptions
    from pixelguard.samples import pydicom_test_files

    patient = FakePatient()
    data = {
        "dicom-rle": lambda: text_dicom(patient, "1.2.840.10008.1.2.5"),
        "dicom": lambda: text_dicom(patient),
        "two-frames": lambda: (pydicom_test_files() / "SC_rgb_rle_2frame.dcm").read_bytes(),
        "nifti": lambda: text_nifti(patient),
    }[kind]()
    store = FileObjectStore(tmp_path / "store")
    ctx = StageContext(derive, store, detector)
    event = replace(submitted(store, derive, kind, data), output_format=fmt)
    topic, final = run_steps(ctx, event)
    options = RunOptions(output_format=OutputFormat(fmt))
    expected = process(event.input_id, data, profiles.load("basic"), derive, detector, options)
    assert (final.status, final.reason) == (expected.status.value, expected.reason)
    if expected.status.value == "error":
        assert final.error_code == "unsupported-output" and topic == "errors"
        return
    assert final.output_format == fmt and final.extension == expected.extension
    assert store.get(final.object_uri) == expected.output_bytes
    assert final.object_uri.endswith(f"/{topic}/{expected.output_id}{expected.extension}")
