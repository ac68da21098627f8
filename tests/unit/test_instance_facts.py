"""What a stream keeps of the instance in its state: reading it back, its age, and the fields records show."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from tap_daktela.instance_facts import MAX_AGE, STATE_KEY, InstanceFacts, fields_of, skeleton, with_facts
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


def test_with_facts_hands_a_discovery_to_the_stream_state():
    seen = InstanceFacts(LEARNED, {"title"})
    assert with_facts(None, "tickets", None) is None
    assert with_facts(None, "tickets", seen) == {"bookmarks": {"tickets": {STATE_KEY: seen.to_state()}}}
    kept = InstanceFacts(datetime.now(UTC), {"old"}, {"objects": False})
    state = {"bookmarks": {"tickets": {"replication_key_value": "x", STATE_KEY: kept.to_state()}, "users": {}}}
    merged = with_facts(state, "tickets", seen)
    assert merged["bookmarks"]["users"] == {} and merged["bookmarks"]["tickets"]["replication_key_value"] == "x"
    assert InstanceFacts.from_state(merged["bookmarks"]["tickets"]) == InstanceFacts(LEARNED, {"title"}, kept.dotted)
    assert state["bookmarks"]["tickets"][STATE_KEY] == kept.to_state()  # the caller's state is not changed
    stale = {"bookmarks": {"tickets": {STATE_KEY: InstanceFacts(LEARNED - MAX_AGE, None, {"arrays": True}).to_state()}}}
    assert InstanceFacts.from_state(with_facts(stale, "tickets", seen)["bookmarks"]["tickets"]).dotted == {}
