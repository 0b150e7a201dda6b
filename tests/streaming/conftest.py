from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def span_memory():
    """In-memory span exporter for spans made in the test process (submit); workers write to a file."""
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    from pixelguard import telemetry

    exporter = InMemorySpanExporter()
    telemetry.setup("pixelguard-tests", span_exporter=exporter)
    return exporter
