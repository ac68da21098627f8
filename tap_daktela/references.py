"""References: nested objects that point at a record of another stream, and their `nested_objects: keys` form.

Daktela expands every foreign key into the full nested record (a ticket's `user` is the whole user, with role and
profile). When the referenced model has its own stream, those columns duplicate that stream, so the `keys` mode
keeps only the key (and the `title`, for readability) and lets the warehouse join; `full` keeps everything.
The rule holds at every depth: inside an object whose model has no stream (an activity's `connector`, an
`external_contact`) a reference (`connector.user`, `external_contact.crm_contact`) becomes keys too, so in `keys`
mode no value carries a copy of a streamed model's record. Which paths are references is decided once, by
`scripts/generate_schemas.py`, and committed as `schemas/references.json` beside the schemas (dotted paths for
the nested ones); this module only reads it.

The files come from `tap_daktela.schemas.load_schema`, which imports nothing of the tap, so the record shaper can
import this module without importing the stream classes.
"""

from __future__ import annotations

import copy
import typing as t
from collections import Counter
from dataclasses import dataclass, field
from functools import cache

from tap_daktela.endpoints import ENDPOINTS_BY_NAME
from tap_daktela.flattening import schema_types
from tap_daktela.schemas import load_schema

NESTED_OBJECTS_MODES = ("keys", "full")
DEFAULT_NESTED_OBJECTS_MODE = "keys"
TITLE = "title"


@dataclass(frozen=True)
class Reference:
    """One reference property of a stream.

    `streams` are the target streams (several only for an activity's polymorphic `item`, whose model depends
    on the activity's `type`); `many` marks an array of references. `key_fields` are the targets' primary
    keys, deduplicated, the one most targets use first (ties in `streams` order): `item` has ("name", "id_call"),
    so a bare scalar lands in `name`, the key of eight of its nine targets. `title` says every target declares
    a `title`. `fields` are the keys of `key_of`'s dict for a single reference, in order (`title` only for a
    single-target reference with `title`).
    """

    property: str  # the path: a top-level property, or dotted (`connector.user`)
    streams: tuple[str, ...]
    many: bool
    key_fields: tuple[str, ...]
    title: bool
    fields: tuple[str, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        with_title = self.title and not self.polymorphic
        object.__setattr__(self, "fields", (*self.key_fields, TITLE) if with_title else self.key_fields)

    @property
    def polymorphic(self) -> bool:
        """More than one target stream (an activity's `item`)."""
        return len(self.streams) > 1

    @property
    def path(self) -> tuple[str, ...]:
        """The property names from the record down to the reference."""
        return tuple(self.property.split("."))


def _key_fields(streams: tuple[str, ...]) -> tuple[str, ...]:
    keys = [ENDPOINTS_BY_NAME[stream].primary_key for stream in streams]
    counts = Counter(keys)
    return tuple(sorted(dict.fromkeys(keys), key=lambda key: -counts[key]))  # stable: ties keep `streams` order


def _reference(path: str, streams: tuple[str, ...], many: bool) -> Reference:
    title = all(TITLE in load_schema(target)["properties"] for target in streams)
    return Reference(path, streams, many, _key_fields(streams), title)


@cache
def _all_references(stream: str) -> dict[str, Reference]:
    if stream not in ENDPOINTS_BY_NAME:
        raise KeyError(f"Unknown stream {stream!r}")
    entries = load_schema("references").get(stream, {}).items()
    return {path: _reference(path, tuple(entry["streams"]), entry["many"]) for path, entry in entries}


@cache
def _references(stream: str) -> dict[str, Reference]:
    return {path: ref for path, ref in _all_references(stream).items() if "." not in path}


def references(stream: str) -> dict[str, Reference]:
    """The top-level reference properties of a stream, by property name (empty when it has none)."""
    return dict(_references(stream))


def all_references(stream: str) -> dict[str, Reference]:
    """Every reference of a stream at any depth, by dotted path (`user`, `connector.user`)."""
    return dict(_all_references(stream))


@cache
def model_reference(model: str) -> Reference | None:
    """A reference to one record of `model` when it is a stream (the `_sys.model` of an embedded record names
    its endpoint), else None: how a copy found where no path was known is reduced to its key."""
    return _reference(model, (model,), False) if model in ENDPOINTS_BY_NAME else None


def _key_types(reference: Reference, key: str) -> list[str]:
    """The JSON types of one key field across the targets whose primary key it is, plus null."""
    types: list[str] = []
    for target in reference.streams:
        if ENDPOINTS_BY_NAME[target].primary_key != key:
            continue
        declared = load_schema(target)["properties"][key]["type"]
        for kind in [declared] if isinstance(declared, str) else declared:
            if kind not in types and kind != "null":
                types.append(kind)
    return [*types, "null"]


def _keys_declaration(reference: Reference) -> dict:
    if reference.many:
        types = [kind for key in reference.key_fields for kind in _key_types(reference, key) if kind != "null"]
        return {"type": ["array", "null"], "items": {"type": [*dict.fromkeys(types), "null"]}}
    properties = {key: {"type": _key_types(reference, key)} for key in reference.key_fields}
    if TITLE in reference.fields:
        properties[TITLE] = {"type": ["string", "null"]}
    return {"type": ["object", "null"], "properties": properties}


def _declared_parent(schema: dict, path: tuple[str, ...]) -> dict | None:
    """The declared `properties` holding the last name of `path`, or None when an object on the way is free-form
    (its references are reduced in the value; the declaration stays free-form)."""
    properties = schema.get("properties")
    for name in path[:-1]:
        child = (properties or {}).get(name) or {}
        properties = child.get("properties") if "object" in schema_types(child) else None
    return properties if isinstance(properties, dict) else None


def keys_schema(stream: str, schema: dict) -> dict:
    """The schema for `nested_objects: keys`: each reference reduced to its key(s) (and title), an array of
    references to a JSON array of keys, at every declared depth (`connector.user`). Other properties, known or not,
    are kept as declared; the input is not modified (it may be a live-discovered schema with properties the
    committed one lacks)."""
    out = copy.deepcopy(schema)
    for reference in _all_references(stream).values():
        properties = _declared_parent(out, reference.path)
        if properties is not None and reference.path[-1] in properties:
            properties[reference.path[-1]] = _keys_declaration(reference)
    return out


def schema_for_mode(stream: str, schema: dict, mode: str) -> dict:
    """The schema a stream emits under a `nested_objects` mode: `full` is the schema as is (a copy)."""
    if mode not in NESTED_OBJECTS_MODES:
        raise ValueError(f"Unknown nested_objects mode {mode!r}; valid values: {', '.join(NESTED_OBJECTS_MODES)}")
    return keys_schema(stream, schema) if mode == "keys" else copy.deepcopy(schema)


def _element_key(reference: Reference, value: t.Any) -> t.Any:
    if isinstance(value, dict):
        for key in reference.key_fields:
            found = value.get(key)
            if found is not None:
                return found
        return None
    return value


def key_of(reference: Reference, value: t.Any) -> t.Any:
    """The key(s) of a raw nested value, shaped like `keys_schema` declares it.

    Single: a dict `{key field: ..., [title: ...]}` (missing keys are None, as in Daktela's anonymised
    samples); a bare scalar id goes to the first key field. Many: the list of the elements' keys (a PHP
    dict-keyed array counts as its values). None, and PHP's `[]` for an empty single object, give None.
    """
    if value is None:
        return None
    if reference.many:
        if isinstance(value, dict):
            value = value.values()
        elif not isinstance(value, (list, tuple)):
            return [value]
        return [_element_key(reference, element) for element in value]
    if isinstance(value, dict):
        return {key: value.get(key) for key in reference.fields}
    if isinstance(value, (list, tuple)):
        return None
    out = dict.fromkeys(reference.fields)
    out[reference.key_fields[0]] = value
    return out
