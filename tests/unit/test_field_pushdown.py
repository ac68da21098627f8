"""Which fields the tap asks Daktela for, and how a dotted-fields answer is read."""

from __future__ import annotations

from tap_daktela.field_pushdown import (
    ARRAYS,
    BOTH,
    NONE,
    OBJECTS,
    dotted_answer,
    dotted_fields,
    missing_kinds,
    requested_fields,
)

KEYS = {"type": ["object", "null"], "properties": {"name": {"type": ["string", "null"]}, "title": {"type": "string"}}}
FULL = {"type": ["object", "null"], "properties": {"name": {"type": ["string"]}, "role": {"type": ["object", "null"]}}}
KEY_ARRAY = {"type": ["array", "null"], "items": {"type": ["string", "null"]}}
PROPERTIES = {
    "name": {"type": ["integer"]},
    "user": KEYS,
    "category": FULL,
    "customFields": {"type": ["object", "null"], "properties": {"vin": {"type": ["string", "null"]}}},
    "statuses": KEY_ARRAY,
    "attachments": {"type": ["array", "null"], "items": {}},
}
ARRAY_KEYS = {"statuses": ("name",)}


def test_dotted_only_for_objects_of_scalars_and_arrays_of_keys():
    assert dotted_fields("user", KEYS) == (OBJECTS, ["user.name", "user.title"])
    assert dotted_fields("category", FULL) is None  # a deeper object inside: asked for whole
    assert dotted_fields("customFields", PROPERTIES["customFields"]) is None
    assert dotted_fields("statuses", KEY_ARRAY) is None  # not known as an array of references
    assert dotted_fields("statuses", KEY_ARRAY, ("name",)) == (ARRAYS, ["statuses.name"])
    assert dotted_fields("attachments", PROPERTIES["attachments"], ("name",)) is None


def test_requested_fields():
    everything = list(PROPERTIES)
    assert requested_fields(PROPERTIES, everything, dotting=NONE, array_keys=ARRAY_KEYS) == ()
    assert requested_fields(PROPERTIES, everything, dotting=BOTH, array_keys=ARRAY_KEYS) == (
        "name",
        "user.name",
        "user.title",
        "category",
        "customFields",
        "statuses.name",
        "attachments",
    )
    only_objects = requested_fields(PROPERTIES, everything, dotting=frozenset({OBJECTS}), array_keys=ARRAY_KEYS)
    assert "statuses" in only_objects and "user.name" in only_objects
    assert requested_fields(PROPERTIES, ["name", "statuses"], dotting=NONE) == ("name", "statuses")


def test_dotted_answer_per_kind():
    fields = ("name", "user.name", "user.title", "queue.name", "statuses.name")
    kinds = {"user": OBJECTS, "queue": OBJECTS, "statuses": ARRAYS}
    honoured = {"name": 1, "user": {"name": "a", "title": "A"}, "queue": None, "statuses": [{"name": "s"}]}
    assert dotted_answer(honoured, fields, kinds) == {OBJECTS: True, ARRAYS: True}
    whole = {"name": 1, "user": {"name": "a", "title": "A", "role": {}}, "statuses": [{"name": "s", "color": ""}]}
    assert dotted_answer({**whole, "queue": None}, fields, kinds) == {OBJECTS: False, ARRAYS: False}
    ignored = {"name": 1}  # dotted entries dropped: the parents are missing
    assert dotted_answer(ignored, fields, kinds) == {OBJECTS: False, ARRAYS: False}
    cannot_tell = {"name": 1, "user": None, "queue": None, "statuses": []}
    assert dotted_answer(cannot_tell, fields, kinds) == {OBJECTS: None, ARRAYS: None}
    mixed = {"name": 1, "user": {"name": "a"}, "queue": None, "statuses": [{"name": "s", "title": "S"}]}
    assert dotted_answer(mixed, fields, kinds) == {OBJECTS: True, ARRAYS: False}
    assert dotted_answer({"name": 1, "user": 5, "queue": None, "statuses": []}, fields, kinds)[OBJECTS] is False


def test_an_array_answered_as_an_object_is_not_honoured():
    kinds = {"statuses": ARRAYS}
    assert dotted_answer({"statuses": {"name": "s"}}, ("statuses.name",), kinds) == {ARRAYS: False}
    assert dotted_answer({"statuses": None}, ("statuses.name",), kinds) == {ARRAYS: None}


def test_missing_kinds_are_values_whose_keys_cannot_be_read():
    kinds = {"user": OBJECTS, "statuses": ARRAYS}
    assert missing_kinds({"user": {"name": "a"}, "statuses": [{"name": "s"}]}, kinds) == set()
    assert missing_kinds({"user": None, "statuses": None}, kinds) == set()  # nothing to read: nothing missing
    whole = {"user": {"name": "a", "title": "A", "role": {}}, "statuses": [{"name": "s", "color": "red"}]}
    assert missing_kinds(whole, kinds) == set()  # whole values: their keys are read from them
    assert missing_kinds({"user": [], "statuses": []}, kinds) == set()  # PHP's [] for an empty object
    assert missing_kinds({"name": 1}, kinds) == {OBJECTS, ARRAYS}  # dotted entries dropped
    assert missing_kinds({"user": "a", "statuses": {"name": "s"}}, kinds) == {OBJECTS, ARRAYS}
    assert missing_kinds({"user": {"name": "a"}, "statuses": ["s"]}, kinds) == {ARRAYS}
