"""Flat, CSV-ready schemas: nested objects one level down as `parent_child`, anything deeper as JSON text.

target-csv writes nested values as Python repr, and the SDK's own flattening fails on null nested objects and
on objects whose keys are not declared. With `flatten_records` the tap emits flat records itself
(`RecordShaper(flat=True)` builds them) and the columns come from the schema alone, never from the data.
"""

from __future__ import annotations

SEPARATOR = "_"


def schema_types(schema: dict) -> set[str]:
    """The JSON types a property declares (`"type"` may be one name or a list)."""
    kind = schema.get("type", [])
    return {kind} if isinstance(kind, str) else set(kind)


def _is_declared_object(schema: dict) -> bool:
    return "object" in schema_types(schema) and bool(schema.get("properties"))


def is_scalar(schema: dict) -> bool:
    """A property whose non-null types are all scalars (not an object, array or untyped value)."""
    kinds = schema_types(schema) - {"null"}
    return bool(kinds) and not kinds & {"object", "array"}


def _leaf(schema: dict) -> dict:
    """Schema of one flat column: scalars keep their type, everything else is a nullable JSON string.

    Datetimes stay `format: date-time`; `DaktelaWriter` drops the format from the SCHEMA message it emits in
    flat mode, so CSV targets write the tap's ISO 8601 text as it is instead of re-parsing every value.
    """
    if is_scalar(schema):
        leaf = {"type": sorted(schema_types(schema) | {"null"}, key=lambda kind: kind == "null")}
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
