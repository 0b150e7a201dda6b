"""Each call to Triton leaves its own client span, under the span of the stage that made it."""
from __future__ import annotations

import numpy as np
from opentelemetry import trace

from inference.triton_client import TritonDetector
from pixelguard.core.pixels import decode_image
from pixelguard.samples import FakePatient, text_png


def test_every_triton_call_is_a_child_span(triton, span_memory) -> None:
    frame, _ = decode_image(text_png(FakePatient()))
    frames = [np.repeat(frame[..., None], 3, axis=2)] * 2
    detector = TritonDetector(triton.grpc_url)
    span_memory.clear()
    with trace.get_tracer("test").start_as_current_span("pixelguard.redact") as parent:
        detector.detect(frames)
        detector.ocr(frames)
    detector.close()
    spans = [s for s in span_memory.get_finished_spans() if s.name.startswith("triton.infer")]
    assert [s.name for s in spans] == ["triton.infer text_detector", "triton.infer ocr_ensemble"]
    for span in spans:
        assert span.parent is not None and span.parent.span_id == parent.get_span_context().span_id
        assert span.attributes["pixelguard.batch_size"] == 2 and span.kind is trace.SpanKind.CLIENT
        assert "FakePatient" not in str(span.attributes) and "DOE" not in str(span.attributes)
