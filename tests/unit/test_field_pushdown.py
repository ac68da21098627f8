"""Which fields the tap asks Daktela for, and how a dotted-fields answer is read."""

from __future__ import annotations

from tap_daktela.field_pushdown import dotted_answer, dotted_fields, requested_fields

KEYS = {"type": ["object", "null"], "properties": {"name": {"type": ["string", "null"]}, "title": {"type": "string"}}}
FULL = {"type": ["object", "null"], "properties": {"name": {"type": ["string"]}, "role": {"type": ["object", "null"]}}}
PROPERTIES = {
    "name": {"type": ["integer"]},
    "user": KEYS,
    "category": FULL,
    "customFields": {"type": ["object", "null"], "properties": {"vin": {"type": ["string", "null"]}}},
    "statuses": {"type": ["array", "null"], "items": {"type": ["string", "null"]}},
}


def test_dotted_only_for_objects_of_scalars():
    assert dotted_fields("user", KEYS) == ["user.name", "user.title"]
    assert dotted_fields("category", FULL) is None  # a deeper object inside: asked for whole
    assert dotted_fields("customFields", PROPERTIES["customFields"]) is None
    assert dotted_fields("statuses", PROPERTIES["statuses"]) is None


def test_requested_fields():
    everything = list(PROPERTIES)
    assert requested_fields(PROPERTIES, everything, dotted=False) == ()
    assert requested_fields(PROPERTIES, everything, dotted=True) == (
        "name",
        "user.name",
        "user.title",
        "category",
        "customFields",
        "statuses",
    )
    assert requested_fields(PROPERTIES, ["name", "statuses"], dotted=True) == ("name", "statuses")


def test_dotted_answer():
    fields = ("name", "user.name", "user.title", "queue.name")
    assert dotted_answer({"name": 1, "user": {"name": "a", "title": "A"}, "queue": None}, fields) is True
    assert dotted_answer({"name": 1, "user": {"name": "a", "title": "A", "role": {}}, "queue": None}, fields) is False
    assert dotted_answer({"name": 1, "queue": None}, fields) is False  # dotted entries ignored: parent missing
    assert dotted_answer({"name": 1, "user": None, "queue": None}, fields) is None  # nothing to tell by
    assert dotted_answer({"name": 1, "user": 5, "queue": None}, fields) is False
