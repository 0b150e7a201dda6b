from __future__ import annotations

import pytest

from pixelguard.core.keys import Derivations
from pixelguard.core.quiet import silence_value_echoes
from pixelguard.keyservice.local import LocalKeyService

silence_value_echoes()


@pytest.fixture(scope="session")
def stream_keys(tmp_path_factory: pytest.TempPathFactory) -> LocalKeyService:
    return LocalKeyService.open(tmp_path_factory.mktemp("stream-keys") / "key.json")


@pytest.fixture(scope="session")
def stream_derive(stream_keys: LocalKeyService) -> Derivations:
    return Derivations(stream_keys.hmac)


@pytest.fixture(scope="session")
def local_detector():
    from inference.local_engine import LocalDetector

    return LocalDetector()


@pytest.fixture(scope="session")
def span_memory():
    """In-memory span exporter for spans made in the test process (submit); workers write to a file."""
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    from pixelguard import telemetry

    exporter = InMemorySpanExporter()
    telemetry.setup("pixelguard-tests", span_exporter=exporter)
    return exporter
