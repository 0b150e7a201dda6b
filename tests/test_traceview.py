"""Jaeger's trace JSON read into spans, drawn as a waterfall, and summed into per-stage costs (pure functions)."""
from __future__ import annotations

import json

import pytest

from pixelguard.telemetry.stage_costs import percentile, stage_costs, table
from pixelguard.telemetry.traceview import (
    MAX_BODY_BYTES,
    Span,
    TraceFormatError,
    ordered,
    parse_traces,
    stages_in_order,
    waterfall,
)

TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"


def jaeger_span(span_id: str, name: str, start: int, duration: int, parent: str | None = None,
                agent: str | None = None, process: str = "p1") -> dict:
    tags = [{"key": "span.kind", "type": "string", "value": "consumer"}]
    if agent:
        tags.append({"key": "pixelguard.agent", "type": "string", "value": agent})
    refs = [{"refType": "CHILD_OF", "traceID": TRACE, "spanID": parent}] if parent else []
    return {"traceID": TRACE, "spanID": span_id, "operationName": name, "references": refs, "startTime": start,
            "duration": duration, "tags": tags, "logs": [], "processID": process}


def answer(spans: list[dict]) -> bytes:
    return json.dumps({"data": [{"traceID": TRACE, "spans": spans, "processes": {
        "p1": {"serviceName": "pixelguard-worker", "tags": []},
        "p2": {"serviceName": "pixelguard-submit", "tags": []}}}], "total": 0, "errors": None}).encode()


# Shuffled on purpose: Jaeger returns spans in no particular order.
SPANS = [
    jaeger_span("c", "process pg.parsed", 1_030_000, 40_000, "b", "scrub"),
    jaeger_span("a", "send pg.ingest", 1_000_000, 5_000, None, "submit", "p2"),
    jaeger_span("e", "triton.infer ocr_ensemble", 1_080_000, 10_000, "d"),
    jaeger_span("b", "process pg.ingest", 1_010_000, 10_000, "a", "parse"),
    jaeger_span("d", "process pg.scrubbed", 1_075_000, 25_000, "c", "redact"),
]


def test_spans_come_back_as_a_tree_in_start_order() -> None:
    spans = parse_traces(answer(SPANS))[TRACE]
    assert len(spans) == len(SPANS)
    tree = [(depth, span.span_id) for depth, span in ordered(spans)]
    assert tree == [(0, "a"), (1, "b"), (2, "c"), (3, "d"), (4, "e")]
    assert stages_in_order(spans) == ["submit", "parse", "scrub", "redact"]
    assert {s.service for s in spans} == {"pixelguard-worker", "pixelguard-submit"}


def test_waterfall_lines_show_offset_duration_bar_and_stage() -> None:
    lines = waterfall(parse_traces(answer(SPANS))[TRACE], width=20)
    assert lines[0].startswith(f"trace {TRACE}: 5 spans over 100.0 ms")
    body = lines[2:]
    assert [line.split("|")[-1].strip() for line in body] == [
        "submit: send pg.ingest", "parse: process pg.ingest", "scrub: process pg.parsed",
        "redact: process pg.scrubbed", "triton.infer ocr_ensemble"]
    assert body[0].split()[:2] == ["0.0", "5.0"] and body[3].split()[:2] == ["75.0", "25.0"]
    bars = [line.split("|")[1] for line in body]
    assert all(len(bar) == 20 for bar in bars)
    assert bars[0].startswith("#") and bars[3].rstrip().endswith("#") and bars[3].startswith(" " * 15)
    # Indentation grows with depth: each child is printed under its parent.
    indents = [len(line.split("|")[-1]) - len(line.split("|")[-1].lstrip()) for line in body]
    assert indents == sorted(indents) and len(set(indents)) == 5


def test_a_span_whose_parent_is_missing_is_drawn_as_a_root() -> None:
    orphan = jaeger_span("z", "process pg.routing", 1_200_000, 1_000, "gone", "route")
    tree = ordered(parse_traces(answer([*SPANS, orphan]))[TRACE])
    assert (0, "z") in [(d, s.span_id) for d, s in tree]


@pytest.mark.parametrize(("body", "reason"), [
    (b"", "empty body"),
    (b"\x89PNG\r\n\x1a\n\x00\x00", "not JSON"),
    (answer(SPANS)[:-7], "truncated"),
    (b"<html><body>Jaeger UI</body></html>", "not JSON"),
    (json.dumps({"resourceSpans": []}).encode(), "no \"data\" list"),
    (json.dumps({"data": [{"traceID": TRACE, "spans": [{"spanID": "a"}], "processes": {}}]}).encode(),
     r"data\[0\]\.spans\[0\]\.operationName is missing"),
    (json.dumps({"data": [{"traceID": TRACE, "spans": [
        {**jaeger_span("a", "x", 1, 1), "duration": "1"}], "processes": {}}]}).encode(), "duration"),
    (b" " * (MAX_BODY_BYTES + 1), "over the"),
])
def test_bad_answers_are_refused_with_what_is_wrong(body: bytes, reason: str) -> None:
    with pytest.raises(TraceFormatError, match=reason):
        parse_traces(body)


def span(stage: str, duration_us: int, span_id: str, trace_id: str = TRACE) -> Span:
    return Span(trace_id, span_id, None, f"process x.{stage}", "w", 0, duration_us, {"pixelguard.agent": stage})


def test_stage_costs_per_stage() -> None:
    durations = {"redact": [3000, 1000, 2000, 100_000], "parse": [500]}
    spans = [span(stage, d, f"{stage}{i}") for stage, ds in durations.items() for i, d in enumerate(ds)]
    spans.append(Span(TRACE, "t1", None, "triton.infer ocr_ensemble", "w", 0, 7000, {}))
    spans.append(spans[0])  # the same span fetched twice counts once
    costs = stage_costs(spans)
    assert list(costs) == ["redact", "triton.infer ocr_ensemble", "parse"]  # largest total first
    redact = costs["redact"]
    assert redact.count == 4 and redact.total_s == pytest.approx(0.106)
    assert redact.mean_s == pytest.approx(0.0265)
    assert redact.p50_s == pytest.approx(0.002) and redact.p99_s == pytest.approx(0.1)
    assert costs["parse"].p50_s == costs["parse"].p99_s == pytest.approx(0.0005)
    lines = table(costs)
    assert len(lines) == 4 and lines[1].split()[:2] == ["redact", "4"]


def test_percentile_is_nearest_rank() -> None:
    values = sorted(float(v) for v in range(1, 101))
    assert percentile(values, 50) == 50.0 and percentile(values, 99) == 99.0 and percentile(values, 100) == 100.0
    assert percentile([4.0], 99) == 4.0
    with pytest.raises(ValueError):
        percentile([], 50)
