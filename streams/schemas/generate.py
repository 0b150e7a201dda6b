"""Generate each contract's JSON Schema from its event class, and the field tables of docs/events.md.

The class is the source of truth: a field's type gives its JSON type, its default makes it optional, and its
``metadata["schema"]`` (:func:`streams.schemas.described`) adds a description and constraints. ``v`` is
pinned to the class's schema version. Unknown fields are allowed: a reader ignores them, so adding an
optional field is compatible and keeps the version; anything else (a field removed, renamed, retyped or
made required, a narrower enum) is a new version, whose file is added beside the old ones, which stay as
they are (readers keep checking older events against them).
"""
from __future__ import annotations

import dataclasses
import json
import types
import typing
from pathlib import Path
from typing import Any

from . import file_name

DRAFT = "https://json-schema.org/draft/2020-12/schema"
HERE = Path(__file__).resolve().parent
DOCS = HERE.parents[1] / "docs" / "events.md"
_SCALARS: dict[Any, dict[str, Any]] = {str: {"type": "string"}, int: {"type": "integer"},
                                       float: {"type": "number"}, bool: {"type": "boolean"}}


def contracts() -> dict[str, tuple[type, int]]:
    """Contract name -> (event class, its current version)."""
    from pixelguard import audit
    from pixelguard.crosswalk import kafka as crosswalk

    from .. import events

    return {
        events.CONTRACT: (events.ObjectEvent, events.SCHEMA_VERSION),
        "audit-event": (audit.AuditEvent, audit.SCHEMA_VERSION),
        "crosswalk-record": (crosswalk.CrosswalkRecord, crosswalk.SCHEMA_VERSION),
    }


def type_schema(tp: Any, where: str) -> dict[str, Any]:
    if tp in _SCALARS:
        return dict(_SCALARS[tp])
    if tp is Any or tp is object:
        return {}
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin in (types.UnionType, typing.Union):
        options = [type_schema(a, where) for a in args if a is not type(None)]
        nullable = type(None) in args
        if len(options) == 1 and set(options[0]) == {"type"}:
            return {"type": [options[0]["type"], "null"] if nullable else options[0]["type"]}
        return {"anyOf": options + ([{"type": "null"}] if nullable else [])}
    if origin is list:
        return {"type": "array", "items": type_schema(args[0], where)}
    if origin is dict and args[0] is str:
        values = type_schema(args[1], where)
        return {"type": "object", **({"additionalProperties": values} if values else {})}
    if typing.is_typeddict(tp):
        hints = typing.get_type_hints(tp)
        return {"type": "object", "properties": {k: type_schema(t, f"{where}.{k}") for k, t in hints.items()},
                "required": sorted(tp.__required_keys__)}
    raise TypeError(f"{where}: no JSON Schema mapping for {tp!r}; extend streams/schemas/generate.py")


def schema_of(contract: str, cls: type, version: int) -> dict[str, Any]:
    hints = typing.get_type_hints(cls)
    properties: dict[str, Any] = {}
    required: list[str] = []
    for f in dataclasses.fields(cls):
        spec = type_schema(hints[f.name], f"{cls.__name__}.{f.name}")
        extra = dict(f.metadata.get("schema", {}))
        properties[f.name] = {"description": extra.pop("description")} if "description" in extra else {}
        properties[f.name].update(spec)
        properties[f.name].update(extra)
        if f.name == "v":
            properties[f.name]["const"] = version
        if f.name == "v" or (f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING):
            required.append(f.name)
    return {
        "$schema": DRAFT,
        "$id": f"urn:pixelguard:{contract}:v{version}",
        "title": f"{cls.__name__} v{version}",
        "description": (cls.__doc__ or "").strip().split("\n\n")[0].replace("\n", " "),
        "type": "object",
        "properties": properties,
        "required": required,
        "additionalProperties": True,  # readers ignore fields they do not know (forward compatible)
    }


def render(schema: dict[str, Any]) -> str:
    return json.dumps(schema, indent=2, ensure_ascii=False) + "\n"


def field_table(schema: dict[str, Any]) -> str:
    """The docs' table of one schema's fields."""
    rows = ["| field | type | required | meaning |", "| --- | --- | --- | --- |"]
    for name, spec in schema["properties"].items():
        kind = _kind(spec)
        if "enum" in spec:
            kind += ": " + ", ".join(f"`{v!r}`" if v == "" else f"`{v}`" for v in spec["enum"])
        if "const" in spec:
            kind += f" = {spec['const']}"
        required = "yes" if name in schema["required"] else ""
        rows.append(f"| `{name}` | {kind} | {required} | {spec.get('description', '')} |")
    return "\n".join(rows) + "\n"


def _kind(spec: dict[str, Any]) -> str:
    kind = spec.get("type", "any")
    if isinstance(kind, list):
        return " or ".join(kind)
    if kind == "array":
        return f"array of {_kind(spec['items'])}"
    if kind == "object" and "properties" in spec:
        return "{" + ", ".join(spec["properties"]) + "}"
    if kind == "object" and "additionalProperties" in spec:
        return f"object of {_kind(spec['additionalProperties'])}"
    return str(kind)


def _marked(contract: str) -> tuple[str, str]:
    return f"<!-- generated: {contract} fields (python -m streams.schemas --write) -->\n", "<!-- end generated -->"


def docs_with_tables(text: str, schemas: dict[str, dict[str, Any]]) -> str:
    """``text`` with each contract's marked block replaced by its current table (blocks must exist)."""
    for contract, schema in schemas.items():
        start, end = _marked(contract)
        head, found, rest = text.partition(start)
        if not found:
            raise ValueError(f"{DOCS.name} has no block for {contract}: add the line {start.strip()}")
        _, _, tail = rest.partition(end)
        text = head + start + field_table(schema) + end + tail
    return text


def expected_files() -> dict[Path, str]:
    """Every generated file and the text it must have: each contract's current schema, and the docs."""
    files: dict[Path, str] = {}
    current: dict[str, dict[str, Any]] = {}
    for contract, (cls, version) in contracts().items():
        current[contract] = schema_of(contract, cls, version)
        files[HERE / file_name(contract, version)] = render(current[contract])
    if DOCS.exists():  # a checkout; an installed wheel has no docs to keep
        files[DOCS] = docs_with_tables(DOCS.read_text(encoding="utf-8"), current)
    return files


def stale() -> list[Path]:
    return [path for path, text in expected_files().items()
            if not path.exists() or path.read_text(encoding="utf-8") != text]


def write() -> list[Path]:
    changed = stale()
    for path, text in expected_files().items():
        if path in changed:
            path.write_text(text, encoding="utf-8")
    return changed
