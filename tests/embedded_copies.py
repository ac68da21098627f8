"""Finding copies of streamed models' records in output, with no list of known columns.

What a copy looks like is learned from the simulator's raw data (which the output is compared against): for every
model that has a stream, its primary key, the key values its records have (its own stream's records and every
record embedded anywhere whose `_sys.model` names it) and the fields they carry. An output value at any depth
(JSON text cells parsed, a flat record's `parent_child` columns regrouped) is a copy when it is an object that has
the model's key with one of those values plus a field of the model beyond its key and `title`.
"""

from __future__ import annotations

import json
import typing as t
from dataclasses import dataclass, field

from tap_daktela.endpoints import ENDPOINTS_BY_NAME

INTERNALS = frozenset({"_sys", "_rdata", "_guiData"})
TITLE = "title"


@dataclass
class Model:
    key: str
    values: set[str] = field(default_factory=set)
    fields: set[str] = field(default_factory=set)

    def add(self, record: dict) -> None:
        value = record.get(self.key)
        if isinstance(value, (str, int)) and not isinstance(value, bool):
            self.values.add(str(value))  # as text: a CSV cell holds a queue's 3001 as "3001"
        self.fields.update(set(record) - INTERNALS)


def models(raw: t.Mapping[str, list[dict]]) -> dict[str, Model]:
    """Every streamed model's key, key values and fields, from raw records by stream."""
    found = {name: Model(endpoint.primary_key) for name, endpoint in ENDPOINTS_BY_NAME.items()}

    def walk(value: t.Any) -> None:
        if isinstance(value, dict):
            system = value.get("_sys")
            model = system.get("model") if isinstance(system, dict) else None
            if model in found:
                found[model].add(value)
            for item in value.values():
                walk(item)
        elif isinstance(value, list):
            for item in value:
                walk(item)

    for stream, records in raw.items():
        for record in records:
            if stream in found:
                found[stream].add(record)
            for item in record.values():
                walk(item)
    return found


def _parsed(value: t.Any) -> t.Any:
    if isinstance(value, str) and value[:1] in ("{", "["):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def copies(value: t.Any, known: t.Mapping[str, Model], path: str = "") -> list[tuple[str, str]]:
    """(path, model) of every object in `value`, at any depth, that is a copy of a streamed model's record."""
    value = _parsed(value)
    found: list[tuple[str, str]] = []
    if isinstance(value, dict):
        for name, model in known.items():
            key = value.get(model.key)
            if (
                isinstance(key, (str, int))
                and str(key) in model.values
                and (set(value) & model.fields) - {model.key, TITLE}
            ):
                found.append((path, name))
        for child, item in value.items():
            found += copies(item, known, f"{path}.{child}" if path else child)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found += copies(item, known, f"{path}[{index}]")
    return found


def regrouped(record: dict, schema: dict) -> dict:
    """A flat record with the `parent_child` columns of each declared object (in the nested `schema`) put back
    under `parent`, so that a copy flattened one level down is an object again."""
    out = dict(record)
    for prop, declared in schema.get("properties", {}).items():
        children = declared.get("properties")
        if not children:
            continue
        group = {child: out.pop(f"{prop}_{child}") for child in children if f"{prop}_{child}" in out}
        if group:
            out[prop] = group
    return out
