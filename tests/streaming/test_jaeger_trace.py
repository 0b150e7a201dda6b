"""One object's whole trace, read back from a real Jaeger: exported over OTLP by `pixelguard submit` and a worker.

A DICOM with a fake patient in its header and burned into its pixels goes through the streaming pipeline on
the real Kafka and Triton; both processes run with only the standard OTEL_* variables pointing at Jaeger.
Jaeger must then hold exactly one trace for the object: a span per stage (submit, parse, scrub, redact,
route) chained parent to child, a client span under redact for every request Triton itself counted, and
not one PHI value (nor the input's file name) in any span name, attribute, event or resource attribute.
"""
from __future__ import annotations

import json
import subprocess
import time
import uuid
from pathlib import Path

import tritonclient.grpc as grpcclient

from pixelguard.keyservice.local import LocalKeyService
from pixelguard.samples import text_dicom
from pixelguard.services.base import free_port
from pixelguard.telemetry.jaeger_query import TraceNotFound, fetch_trace, get
from pixelguard.telemetry.stage_costs import stage_costs
from pixelguard.telemetry.traceview import Span, parse_traces, stages_in_order
from streams.status import find, trace_id
from streams.topics import ensure_topics

from .harness import PIXELGUARD, Corpus, patient, stream_env, wait_for_job, worker

STAGES = ["submit", "parse", "scrub", "redact", "route"]
# Models the worker calls that no BLS model of ours calls in turn: Triton's request count for each is
# exactly the client's (text_detector is also called from inside ocr_ensemble, so its count is larger).
CLIENT_ONLY_MODELS = ("ocr_ensemble", "region_reader")


def triton_requests(url: str) -> dict[str, int]:
    """Requests each model has answered or failed so far, by Triton's own statistics."""
    client = grpcclient.InferenceServerClient(url)
    try:
        stats = client.get_inference_statistics("", as_json=True)["model_stats"]
    finally:
        client.close()
    counts: dict[str, int] = {}
    for stat in stats:
        inference = stat.get("inference_stats", {})
        counts[stat["name"]] = sum(int(inference.get(k, {}).get("count", 0)) for k in ("success", "fail"))
    return counts


def wait_for_trace(base_url: str, ident: str, timeout_s: float = 60.0) -> list[Span]:
    """The trace once its route span is in (spans arrive from two processes, each in its own batches)."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            spans = fetch_trace(base_url, ident)
            if "route" in stages_in_order(spans):
                return spans
        except TraceNotFound:
            pass
        if time.monotonic() > deadline:
            raise AssertionError(f"trace {ident} not complete in Jaeger after {timeout_s:.0f}s")
        time.sleep(0.5)


def test_one_objects_whole_trace_in_jaeger_without_phi(kafka, triton, jaeger, jaeger_factory,
                                                       tmp_path: Path) -> None:
    prefix = f"jaeger-{uuid.uuid4().hex[:8]}"
    person = patient(4242)
    corpus = Corpus(tmp_path / "in", [person], good=1)
    corpus.root.mkdir()
    file_name = f"{person.name}_{person.patient_id}.dcm"
    (corpus.root / file_name).write_bytes(text_dicom(person))
    store, key_file = tmp_path / "store", tmp_path / "keys" / "key.json"
    LocalKeyService.open(key_file)  # made before the worker and submit both open it
    # Batches that would leave only after 10 minutes: every span Jaeger gets came with a process's exit flush,
    # so a short run that lost its last batch would fail here.
    otel = {**jaeger.otel_env(), "OTEL_BSP_SCHEDULE_DELAY": "600000"}
    env = stream_env(tmp_path, prefix, **otel, PIXELGUARD_KEY_FILE=str(key_file), PIXELGUARD_STORE=str(store),
                     PIXELGUARD_KAFKA_BOOTSTRAP=kafka.bootstrap, PIXELGUARD_PARTITIONS="1")
    ensure_topics(kafka.bootstrap, prefix, 1)
    before = triton_requests(triton.grpc_url)
    w = worker(tmp_path, "j1", kafka.bootstrap, store, key_file, dict(env, OTEL_SERVICE_NAME="pixelguard-worker"),
               triton_url=triton.grpc_url)
    try:
        w.start()
        # phi mode reads every region it finds, so the ensemble or the reader is called whatever the detector
        # finds; in all mode reading runs only for unsure regions, and this object may need none.
        submitted = subprocess.run([PIXELGUARD, "submit", str(corpus.root), "--job", "job-jaeger",
                                    "--redaction", "phi"],
                                   env=dict(env, OTEL_SERVICE_NAME="pixelguard-submit"), capture_output=True,
                                   text=True, timeout=120)
        assert submitted.returncode == 0, submitted.stderr
        for _ in wait_for_job(kafka.bootstrap, prefix, "job-jaeger", 1, 600, [w]):
            pass
    finally:
        w.stop()  # SIGTERM: the worker drains its span batch to Jaeger on the way out
    assert w.proc is not None and w.proc.returncode in (0, -15), w.log.read_text(errors="replace")[-3000:]
    calls = {model: n - before.get(model, 0) for model, n in triton_requests(triton.grpc_url).items()}

    (input_id,) = _input_ids(kafka.bootstrap, prefix)
    read = find(kafka.bootstrap, prefix, input_id)
    assert read is not None and read.event is not None and read.event.status in ("clean", "review"), read.event
    ident = trace_id(read)
    spans = wait_for_trace(jaeger.query_url, ident)

    # Exactly one trace names the object, and it is the one its events carry.
    everything = {}
    for service in ("pixelguard-submit", "pixelguard-worker"):
        everything.update(_search(jaeger.query_url, service))
    naming = {t for t, ss in everything.items()
              if any(s.attributes.get("pixelguard.input.id") == read.event.input_id for s in ss)}
    assert naming == {ident}, f"{len(naming)} traces name the object"

    # One root; every other span's parent is in the trace.
    by_id = {s.span_id: s for s in spans}
    roots = [s for s in spans if s.parent_id is None]
    assert len(roots) == 1 and all(s.parent_id in by_id for s in spans if s.parent_id), [s.name for s in spans]
    # A span per stage, in order, each the child of the stage before (the context crossed Kafka each time).
    staged = [s for s in spans if s.attributes.get("pixelguard.agent")]
    assert stages_in_order(spans) == STAGES
    assert roots[0].stage == "submit"
    chain = sorted(staged, key=lambda s: s.start_us)
    for parent, child in zip(chain, chain[1:], strict=False):
        assert child.parent_id == parent.span_id, f"{child.stage} is not a child of {parent.stage}"
    assert {s.service for s in spans} == {"pixelguard-submit", "pixelguard-worker"}

    # A client span for every request Triton counted, each under the redact stage.
    redact = next(s for s in staged if s.stage == "redact")
    triton_spans = [s for s in spans if s.name.startswith("triton.infer ")]
    assert triton_spans, "redaction made no Triton call"
    for span in triton_spans:
        assert _descends_from(span, redact, by_id), f"{span.name} is not under the redact span"
        assert span.attributes.get("span.kind") == "client"
    per_model = {m: sum(1 for s in triton_spans if s.name == f"triton.infer {m}") for m in CLIENT_ONLY_MODELS}
    for model in CLIENT_ONLY_MODELS:
        assert per_model[model] == calls.get(model, 0), (model, per_model, calls)
    assert sum(per_model.values()) >= 1
    # text_detector: exact when the ensemble (which calls it too) was not used, else at least the spans.
    detector = sum(1 for s in triton_spans if s.name == "triton.infer text_detector")
    if calls.get("ocr_ensemble", 0) == 0:
        assert calls.get("text_detector", 0) == detector
    assert calls.get("text_detector", 0) >= detector

    # Per-stage costs from the real trace: one span per stage, the Triton spans under their model names.
    costs = stage_costs(spans)
    assert all(costs[stage].count == 1 for stage in STAGES)
    assert sum(c.count for name, c in costs.items() if name.startswith("triton.infer ")) == len(triton_spans)

    # No PHI, nor the file name, anywhere Jaeger keeps it (names, tags, logs/events, process/resource tags).
    _, legacy = get(jaeger.query_url, f"/api/traces/{ident}")
    _, v3 = get(jaeger.query_url, f"/api/v3/traces/{ident}")
    text = legacy.decode() + v3.decode()
    assert read.event.input_id in text and "pixelguard.agent" in text  # the scan reads the real trace
    assert len(parse_traces(legacy)[ident]) == len(spans)
    assert not corpus.leaks(text) and file_name not in text and person.name.replace("^", " ") not in text
    assert not corpus.leaks(json.dumps([s.attributes for s in spans]))

    # `pixelguard trace OUTPUT_ID`: the waterfall names every stage, in order.
    out = subprocess.run([PIXELGUARD, "trace", read.event.output_id, "--jaeger-url", jaeger.query_url],
                         env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0] == ident and len(lines) == len(spans) + 3  # id, header, column titles, one line per span
    positions = [next(i for i, line in enumerate(lines) if f"{stage}: " in line) for stage in STAGES]
    assert positions == sorted(positions)
    assert not corpus.leaks(out.stdout + out.stderr)

    # The same command against a Jaeger that never saw the trace, and against none at all: what to do next.
    empty = jaeger_factory()
    missing = subprocess.run([PIXELGUARD, "trace", read.event.output_id, "--jaeger-url", empty.query_url],
                             env=env, capture_output=True, text=True, timeout=120)
    assert missing.returncode == 3 and missing.stdout.strip() == ident
    assert "not in Jaeger" in missing.stderr and "OTEL_EXPORTER_OTLP_ENDPOINT" in missing.stderr
    nobody = subprocess.run([PIXELGUARD, "trace", read.event.output_id, "--jaeger-url",
                             f"http://127.0.0.1:{free_port()}"], env=env, capture_output=True, text=True, timeout=120)
    assert nobody.returncode == 3 and "cannot reach Jaeger" in nobody.stderr
    assert "pixelguard services start jaeger" in nobody.stderr


def _input_ids(bootstrap: str, prefix: str) -> list[str]:
    from streams.reader import scan
    from streams.topics import topic_name

    return [r.event.input_id for r in scan(bootstrap, [topic_name("ingest", prefix)]) if r.event is not None]


def _search(base_url: str, service: str) -> dict[str, list[Span]]:
    from pixelguard.telemetry.jaeger_query import search

    return search(base_url, service)


def _descends_from(span: Span, ancestor: Span, by_id: dict[str, Span]) -> bool:
    current: Span | None = span
    while current is not None and current.parent_id:
        if current.parent_id == ancestor.span_id:
            return True
        current = by_id.get(current.parent_id)
    return False
