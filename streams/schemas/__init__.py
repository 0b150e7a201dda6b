"""Event contracts: the checked-in JSON Schemas, one file per event and version, and checking against them.

``<contract>.v<N>.json`` beside this file is generated from the event class (``python -m streams.schemas
--write``, see :mod:`streams.schemas.generate`); a test fails when the files and the classes disagree. The
files ship in the wheel: workers check every event they consume against them.

A schema is compiled into a validator once per process and version (events are checked at every stage's
input, at a high rate), and ``jsonschema`` is imported only then, so commands that never read an event do
not pay for it.
"""
from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Any

# Which contract each topic carries (the topic catalogue's keys, streams/topics.py).
TOPIC_CONTRACTS = {
    **{topic: "object-event" for topic in ("ingest", "parsed", "scrubbed", "routing", "clean", "review", "errors")},
    "audit": "audit-event",
    "crosswalk": "crosswalk-record",
}
MAX_PROBLEMS = 3  # a reason names the first few fields that fail; one is enough to act on
_JSON_TYPES = {str: "string", bool: "boolean", int: "integer", float: "number", type(None): "null",
               list: "array", dict: "object"}


def described(description: str, **constraints: Any) -> dict[str, Any]:
    """A dataclass field's ``metadata``: its part of the generated schema (see :mod:`streams.schemas.generate`)."""
    return {"schema": {"description": description, **constraints}}


def file_name(contract: str, version: int) -> str:
    return f"{contract}.v{version}.json"


def load(contract: str, version: int) -> dict[str, Any]:
    """The checked-in schema; FileNotFoundError when this release has none for that version."""
    text = resources.files("streams.schemas").joinpath(file_name(contract, version)).read_text(encoding="utf-8")
    doc: dict[str, Any] = json.loads(text)
    return doc


@cache
def validator(contract: str, version: int) -> Any:
    from jsonschema.validators import validator_for

    schema = load(contract, version)
    cls = validator_for(schema)
    cls.check_schema(schema)  # a broken schema file fails loudly here, not as every event refused
    return cls(schema)


def violation(doc: object, contract: str, version: int) -> str | None:
    """Why ``doc`` fails ``contract`` at ``version``, naming fields and never quoting a value; None if it passes."""
    try:
        check = validator(contract, version)
    except FileNotFoundError:
        return (f"no {contract} schema for version {version} in this release; "
                f"upgrade the workers or have the producer write a version they read")
    if check.is_valid(doc):  # the common case, without collecting errors
        return None
    errors = sorted(check.iter_errors(doc), key=lambda e: [str(p) for p in e.absolute_schema_path])
    problems = list(dict.fromkeys(_describe(e) for e in errors))
    more = f" (and {len(problems) - MAX_PROBLEMS} more)" if len(problems) > MAX_PROBLEMS else ""
    return (f"event does not match {file_name(contract, version)}: " + "; ".join(problems[:MAX_PROBLEMS]) + more
            + ". Fix the producer that wrote it (the contract is in docs/events.md), then resubmit the input")


def _field(error: Any) -> str:
    """The failing field's path from the *schema's* side: declared names only, so no key from the event."""
    parts: list[str] = []
    path = list(error.absolute_schema_path)[:-1]  # the last step is the keyword that failed
    for step, token in enumerate(path):
        previous = path[step - 1] if step else None
        if previous == "properties":
            parts.append(("." if parts else "") + str(token))
        elif token == "additionalProperties":
            parts.append(".<each entry>")
        elif token == "items":
            parts.append("[]")
    return "".join(parts)


def _json_type(value: object) -> str:
    return _JSON_TYPES.get(type(value), type(value).__name__)


def _describe(error: Any) -> str:
    where = _field(error)
    name = f"field '{where}'" if where else "the event"
    kind, expected = error.validator, error.validator_value
    if kind == "required":
        missing = [n for n in expected if isinstance(error.instance, dict) and n not in error.instance]
        prefix = f"{where}." if where else ""
        return "missing required field(s) " + ", ".join(f"'{prefix}{n}'" for n in missing)
    if kind == "type":
        wanted = " or ".join(expected) if isinstance(expected, list) else expected
        return f"{name} must be {wanted}, not {_json_type(error.instance)}"
    if kind == "enum":
        return f"{name} must be one of " + ", ".join(repr(v) for v in expected)
    if kind == "const":
        return f"{name} must be {expected!r}"
    if kind == "minLength":
        return f"{name} must not be empty"
    if kind == "minimum":
        return f"{name} must be at least {expected}"
    return f"{name} fails the schema's '{kind}' rule"
