"""The previous schema version is still read: a frozen copy of the object-event v1 schema as it was published
(``contracts/object-event.v1.published-schema.json``, the file of commit 441ffa5) and events in its shape,
against the current reader.

``test_contracts.py`` reads stored v1 events with the current reader; this also pins the *schema*: a
regenerated ``object-event.v1.json`` that became stricter (a new required field, a narrower type or enum, a
removed property) would refuse events that v1 producers still write, and fails here. A new major version
keeps its predecessor's file, so this copy moves to the previous version's file when ``v`` is bumped.
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator

from streams import schemas
from streams.events import CONTRACT, SCHEMA_VERSION, ObjectEvent

STORED = Path(__file__).with_name("contracts")
PUBLISHED = json.loads((STORED / "object-event.v1.published-schema.json").read_text())
STORED_EVENTS = ["object-event.v1.clean.json", "object-event.v1.minimal.json", "object-event.v1.ingest-flagged.json"]


def _types(prop: dict) -> set[str]:
    kinds = prop.get("type", [])
    found = {kinds} if isinstance(kinds, str) else set(kinds)
    for option in prop.get("anyOf", []):
        found |= _types(option)
    return found


def test_the_current_reader_is_no_stricter_than_the_published_v1_schema() -> None:
    current = schemas.load(CONTRACT, 1)
    assert set(current.get("required", [])) <= set(PUBLISHED.get("required", [])), "a field became required"
    for name, was in PUBLISHED["properties"].items():
        now = current["properties"].get(name)
        assert now is not None, f"field {name!r} was removed from v1"
        assert _types(now) >= _types(was), f"field {name!r} takes fewer types than v1 did"
        if "enum" in was:
            assert set(now.get("enum", was["enum"])) >= set(was["enum"]), f"field {name!r} lost enum values"
        assert now.get("minLength", 0) <= was.get("minLength", 0), f"field {name!r} needs longer values"
    assert current.get("additionalProperties", True) in (True, PUBLISHED.get("additionalProperties", True))


@pytest.mark.parametrize("name", STORED_EVENTS)
def test_an_event_in_the_published_v1_shape_is_still_read(name: str) -> None:
    doc = json.loads((STORED / name).read_text())
    Draft202012Validator(PUBLISHED).validate(doc)  # it really is a v1 event as v1 was published
    event = ObjectEvent.from_bytes(json.dumps(doc).encode())
    assert event.v == 1 <= SCHEMA_VERSION
    assert {k: getattr(event, k) for k in doc} == doc


def test_a_tightened_v1_schema_would_be_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    tightened = json.loads(json.dumps(PUBLISHED))
    tightened["required"] = [*tightened.get("required", []), "content_id"]
    monkeypatch.setattr(schemas, "load", lambda contract, version: tightened)
    with pytest.raises(AssertionError, match="became required"):
        test_the_current_reader_is_no_stricter_than_the_published_v1_schema()
