"""Which fields to ask Daktela for (`fields[]`), and whether the instance honours dotted nested fields.

Asking for the selected fields only saves Daktela rendering and sending whole records. Two kinds of nested value
can be asked for as dotted fields instead of whole expanded records:
- OBJECTS: a nested object declared with scalar fields only (a reference kept as its key and title):
  `user.name`, `user.title` instead of the whole user;
- ARRAYS: an array of references kept as keys: `statuses.name` instead of every whole status.
Whether an instance honours either is not documented with certainty. The data's own records tell
(`dotted_answer`): each kind is asked for until a record shows the instance does not honour it. A whole nested
value in the answer is still read right (its keys are taken from it); a missing one (`missing_kinds`) means that
the records must be read again with those values whole.
"""

from __future__ import annotations

import typing as t

from tap_daktela.flattening import is_scalar, schema_types
from tap_daktela.shaping import CUSTOM_FIELDS

OBJECTS, ARRAYS = "objects", "arrays"
Dotting = frozenset[str]  # which kinds of dotted fields to ask for
NONE: Dotting = frozenset()
BOTH: Dotting = frozenset({OBJECTS, ARRAYS})


def dotted_fields(name: str, prop: dict, array_keys: t.Sequence[str] = ()) -> tuple[str, list[str]] | None:
    """`("objects", ["user.name", "user.title"])` for an object declared with scalar fields only, `("arrays",
    ["statuses.name"])` for an array of scalar keys whose key fields are `array_keys`; None: ask for it whole.
    Custom fields are always asked for whole: their values are lists."""
    if name == CUSTOM_FIELDS:
        return None
    children = prop.get("properties") or {}
    if children and all(is_scalar(child) for child in children.values()):
        return OBJECTS, [f"{name}.{child}" for child in children]
    if array_keys and "array" in schema_types(prop) and is_scalar(prop.get("items") or {}):
        return ARRAYS, [f"{name}.{key}" for key in array_keys]
    return None


def requested_fields(
    properties: dict[str, dict],
    selected: t.Sequence[str],
    *,
    dotting: Dotting = NONE,
    array_keys: t.Mapping[str, t.Sequence[str]] | None = None,
) -> tuple[str, ...]:
    """The `fields[]` of a list request: the selected top-level properties, nested values dotted for the kinds in
    `dotting` (`array_keys`: property -> key fields of arrays of references); none (everything) when every
    property is wanted whole."""
    wanted: list[str] = []
    for name in selected:
        dotted = dotted_fields(name, properties[name], (array_keys or {}).get(name, ()))
        wanted += dotted[1] if dotted and dotted[0] in dotting else [name]
    return () if wanted == list(properties) else tuple(wanted)


def dotted_answer(record: dict, fields: t.Sequence[str], kinds: t.Mapping[str, str]) -> dict[str, bool | None]:
    """What one record answered to dotted `fields` proves, per kind (`kinds`: parent property -> its kind): True
    when every nested value came back with only asked fields, False when one came back whole or not at all, None
    when the record cannot tell (null objects, empty arrays)."""
    asked: dict[str, set[str]] = {}
    for field in fields:
        parent, _, child = field.partition(".")
        if child:
            asked.setdefault(parent, set()).add(child)
    answers: dict[str, bool | None] = {}
    for parent, children in asked.items():
        kind = kinds[parent]
        if answers.get(kind) is False:
            continue
        if parent not in record:
            answers[kind] = False
            continue
        value = record[parent]
        if kind == ARRAYS and value is not None and not isinstance(value, list):
            answers[kind] = False  # an array asked for by key must still come back as an array
            continue
        items = (value or []) if kind == ARRAYS else [value]
        for item in items:
            if item is None:
                continue
            if isinstance(item, dict) and item and set(item) <= children:
                answers[kind] = True
            else:
                answers[kind] = False
                break
    return {kind: answers.get(kind) for kind in set(kinds.values())}


def missing_kinds(record: dict, kinds: t.Mapping[str, str]) -> set[str]:
    """The kinds of dotted fields (`kinds`: parent property -> kind) a record came back without in a form its keys
    can be read from: the parent absent (an instance that drops dotted entries), an object answered as anything
    but an object, an array as anything but an array of objects. Null, whole and dotted values are all readable."""
    missing: set[str] = set()
    for parent, kind in kinds.items():
        if parent not in record:
            missing.add(kind)
            continue
        value = record[parent]
        if value is None:
            continue
        if kind == ARRAYS:
            readable = isinstance(value, list) and all(item is None or isinstance(item, dict) for item in value)
        else:
            readable = isinstance(value, dict) or value == []  # PHP's `[]` for an empty object
        if not readable:
            missing.add(kind)
    return missing
