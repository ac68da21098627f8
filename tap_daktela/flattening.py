"""Flat, CSV-ready records: nested objects one level down as `parent_child`, anything deeper as JSON text.

target-csv writes nested values as Python repr, and the SDK's own flattening fails on null nested objects and
on objects whose keys are not declared. With `flatten_records` the tap emits flat records itself, and the
columns come from the schema alone, never from the data.
"""

from __future__ import annotations

import typing as t

import orjson

SEPARATOR = "_"


def _types(schema: dict) -> list[str]:
    kind = schema.get("type", [])
    return [kind] if isinstance(kind, str) else list(kind)


def _is_declared_object(schema: dict) -> bool:
    return "object" in _types(schema) and bool(schema.get("properties"))


def _is_scalar(schema: dict) -> bool:
    kinds = set(_types(schema)) - {"null"}
    return bool(kinds) and not kinds & {"object", "array"}


def _leaf(schema: dict) -> dict:
    """Schema of one flat column: scalars keep their type, everything else is a nullable JSON string.

    Datetimes stay `format: date-time`; `DaktelaWriter` drops the format from the SCHEMA message it emits in
    flat mode, so CSV targets write the tap's ISO 8601 text as it is instead of re-parsing every value.
    """
    if _is_scalar(schema):
        leaf = {"type": sorted(set(_types(schema)) | {"null"}, key=lambda kind: kind == "null")}
        if "format" in schema:
            leaf["format"] = schema["format"]
        return leaf
    return {"type": ["string", "null"], "contentMediaType": "application/json"}


def as_text_schema(flat_schema: dict) -> dict:
    """The flat schema as emitted: datetimes declared as plain strings (their text is final ISO 8601)."""
    properties = {
        name: {key: value for key, value in prop.items() if key != "format"}
        for name, prop in flat_schema["properties"].items()
    }
    return {**flat_schema, "properties": properties}


def flatten_schema(schema: dict) -> dict:
    """The flat JSON schema for `schema`, columns in declaration order."""
    properties: dict[str, dict] = {}
    for name, prop in schema.get("properties", {}).items():
        if _is_declared_object(prop):
            for child, child_schema in prop["properties"].items():
                properties[f"{name}{SEPARATOR}{child}"] = _leaf(child_schema)
        else:
            properties[name] = _leaf(prop)
    flat = {"type": "object", "properties": properties}
    if "required" in schema:
        flat["required"] = list(schema["required"])
    return flat


def _json_text(value: t.Any) -> str | None:
    if value is None:
        return None
    return orjson.dumps(value).decode()


class RecordFlattener:
    """Flattens records of one stream by a plan computed once from its (selected) schema."""

    def __init__(self, schema: dict) -> None:
        self.plan: list[tuple[str, list[tuple[str, str]] | None]] = []
        for name, prop in schema.get("properties", {}).items():
            if _is_declared_object(prop):
                self.plan.append((name, [(child, f"{name}{SEPARATOR}{child}") for child in prop["properties"]]))
            else:
                self.plan.append((name, None))
        self.schema = flatten_schema(schema)

    def __call__(self, record: dict) -> dict:
        flat: dict[str, t.Any] = {}
        for name, children in self.plan:
            value = record.get(name)
            if children is None:
                flat[name] = _json_text(value) if isinstance(value, (dict, list)) else value
                continue
            nested = value if isinstance(value, dict) else {}
            for child, column in children:
                child_value = nested.get(child)
                flat[column] = _json_text(child_value) if isinstance(child_value, (dict, list)) else child_value
        return flat
