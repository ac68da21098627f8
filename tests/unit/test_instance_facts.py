"""What a stream keeps of the instance in its state: reading it back, its age, and the fields records show."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from tap_daktela.instance_facts import MAX_AGE, STATE_KEY, InstanceFacts, fields_of, skeleton
from tap_daktela.shaping import RecordShaper

LEARNED = datetime(2026, 3, 1, 2, 0, tzinfo=UTC)


def test_facts_survive_the_state():
    facts = InstanceFacts(LEARNED, {"title", "customFields.vin"}, {"objects": True, "arrays": False})
    entry = {"replication_key_value": "2026-03-01T01:00:00+01:00", STATE_KEY: facts.to_state()}
    assert entry[STATE_KEY] == {
        "learned": "2026-03-01T02:00:00+00:00",
        "fields": ["customFields.vin", "title"],
        "dotted": {"arrays": False, "objects": True},
    }
    assert InstanceFacts.from_state(entry) == facts
    assert InstanceFacts.from_state({STATE_KEY: {"learned": "2026-03-01T02:00:00+00:00"}}) == InstanceFacts(LEARNED)


def test_unreadable_or_missing_facts_are_none():
    for entry in (None, {}, {STATE_KEY: "x"}, {STATE_KEY: {}}, {STATE_KEY: {"learned": "yesterday"}}):
        assert InstanceFacts.from_state(entry) is None, entry


def test_facts_are_fresh_for_a_day():
    facts = InstanceFacts(LEARNED)
    assert facts.fresh(LEARNED + MAX_AGE - timedelta(seconds=1))
    assert not facts.fresh(LEARNED + MAX_AGE)
    assert not facts.fresh(LEARNED - timedelta(hours=1))  # learned "in the future": a clock was wrong


def test_fields_of_whole_records_and_their_skeleton():
    records = [
        {"name": 1, "title": "a", "_sys": {"model": "ticket"}, "customFields": {"vin": ["x"]}},
        {"name": 2, "password": "no", "customFields": [], "aiSummary": None},
    ]
    names = fields_of(records)
    assert names == {"name", "title", "customFields", "customFields.vin", "aiSummary"}
    schema = {"properties": {"name": {}, "title": {}, "customFields": {"properties": {"other": {}}}}}
    shaper = RecordShaper(schema, lambda value: value)
    shaper.note_undeclared(skeleton(names))
    assert shaper.undeclared == {"aiSummary", "customFields.vin"}
