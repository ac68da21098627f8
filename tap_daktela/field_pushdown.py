"""Which fields to ask Daktela for (`fields[]`), and whether the instance honours dotted nested fields.

Asking for the selected fields only saves Daktela rendering and sending whole records. A nested object declared
with scalar fields only (a reference kept as its key and title) can be asked for as dotted fields, `user.name`
and `user.title`, instead of the whole expanded user; whether an instance honours that is not documented with
certainty, so the stream probes it on one record (see `dotted_answer`).
"""

from __future__ import annotations

import typing as t

from tap_daktela.shaping import CUSTOM_FIELDS


def _types(schema: dict) -> set[str]:
    kind = schema.get("type", [])
    return {kind} if isinstance(kind, str) else set(kind)


def dotted_fields(name: str, prop: dict) -> list[str] | None:
    """`["user.name", "user.title"]` for an object declared with scalar fields only, else None (ask for it whole).
    Custom fields are always asked for whole: their values are lists."""
    children = prop.get("properties") or {}
    if name == CUSTOM_FIELDS or not children:
        return None
    if any(not _types(child) or _types(child) & {"object", "array"} for child in children.values()):
        return None
    return [f"{name}.{child}" for child in children]


def requested_fields(properties: dict[str, dict], selected: t.Sequence[str], *, dotted: bool) -> tuple[str, ...]:
    """The `fields[]` of a list request: the selected top-level properties, nested objects as dotted fields when
    `dotted`; none (everything) when every property is wanted whole."""
    wanted: list[str] = []
    for name in selected:
        parts = dotted_fields(name, properties[name]) if dotted else None
        wanted += parts or [name]
    return () if wanted == list(properties) else tuple(wanted)


def dotted_answer(record: dict, fields: t.Sequence[str]) -> bool | None:
    """Whether a record answered to dotted `fields` proves the instance honours them: True when every nested object
    came back with only asked fields, False when one came back whole or not at all, None when the record cannot
    tell (every asked object is null)."""
    asked: dict[str, set[str]] = {}
    for field in fields:
        parent, _, child = field.partition(".")
        if child:
            asked.setdefault(parent, set()).add(child)
    proven = False
    for parent, children in asked.items():
        if parent not in record:
            return False
        value = record[parent]
        if isinstance(value, dict):
            if not value or not set(value) <= children:
                return False
            proven = True
        elif value is not None:
            return False
    return True if proven else None
