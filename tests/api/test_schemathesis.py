"""schemathesis over the live API's OpenAPI spec: no 5xx, no status the spec does not declare.

Each operation gets positive (schema-valid) and negative (schema-breaking) cases, a bounded number of each,
sent over real HTTP. The strategies are driven by hypothesis directly: schemathesis 4's pytest plugin does
not run under pytest 9 (it reads a node attribute pytest 9 removed).
"""
from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from .conftest import LiveApi

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
EXAMPLES = 25  # per operation and mode: 6 operations x 2 modes x 25 stays well under two minutes


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_no_server_error_and_no_undeclared_status(live_api: LiveApi, mode: GenerationMode) -> None:
    schema = schemathesis.openapi.from_url(live_api.url + "/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 6
    for operation in operations:

        @given(case=operation.as_strategy(generation_mode=mode))
        @settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True,
                  database=None)
        def check(case) -> None:
            case.call_and_validate(base_url=live_api.url, checks=CHECKS)

        try:
            check()
        except Unsatisfiable:
            # An operation with nothing to break (no parameter, no body) has no negative case.
            assert mode == GenerationMode.NEGATIVE and operation.method.upper() == "GET"
            assert operation.path in ("/v1/profiles", "/healthz", "/readyz")
