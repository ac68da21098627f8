"""The endpoint table's flags: what is read whole, what a destination replaces, what the tap adds."""

from __future__ import annotations

from tap_daktela.endpoints import ENDPOINTS, ENDPOINTS_BY_NAME, SNAPSHOT_TIME
from tap_daktela.schemas import load_schema
from tap_daktela.snapshots import key_value, own_record


def test_full_tables_are_the_streams_without_a_replication_key_and_the_snapshot():
    full = {endpoint.name for endpoint in ENDPOINTS if endpoint.full_table}
    assert full == {endpoint.name for endpoint in ENDPOINTS if endpoint.replication_key is None}
    assert {"users", "ticketsSla", "articlesTags", "realtimeSessions"} <= full
    assert not full & {"tickets", "articles", "activitiesCallTranscripts"}


def test_a_snapshot_keyed_by_its_time_appends_instead_of_replacing():
    sessions = ENDPOINTS_BY_NAME["realtimeSessions"]
    assert sessions.replaces_table() and sessions.replaces_table(["id_agent"])
    assert not sessions.replaces_table(["id_agent", SNAPSHOT_TIME])
    assert ENDPOINTS_BY_NAME["users"].replaces_table(["name", SNAPSHOT_TIME])  # only a snapshot has that column
    assert not ENDPOINTS_BY_NAME["tickets"].replaces_table()


def test_only_the_snapshot_adds_a_property_and_every_schema_declares_its_own():
    for endpoint in ENDPOINTS:
        properties = load_schema(endpoint.name)["properties"]
        assert endpoint.primary_key in properties, endpoint.name
        assert endpoint.replication_key in (None, *properties), endpoint.name
        assert set(endpoint.added_properties) <= set(properties), endpoint.name
        assert (SNAPSHOT_TIME in properties) == endpoint.snapshot, endpoint.name
    assert [e.name for e in ENDPOINTS if e.added_properties] == ["realtimeSessions"]


def test_a_key_sent_as_a_whole_record_becomes_its_name_and_the_snapshot_time_is_stamped():
    sessions = ENDPOINTS_BY_NAME["realtimeSessions"]
    row = own_record(sessions, {"id_agent": {"name": "novak", "title": "Jan Novák"}, "state": "Idle"}, "T")
    assert row == {"id_agent": "novak", "state": "Idle", SNAPSHOT_TIME: "T"}
    assert own_record(sessions, {"id_agent": "novak"}, "T") == {"id_agent": "novak", SNAPSHOT_TIME: "T"}
    assert own_record(ENDPOINTS_BY_NAME["users"], {"name": "novak"}, None) == {"name": "novak"}
    assert key_value({"name": 3001, "title": "Fronta"}) == 3001 and key_value("x") == "x" and key_value(None) is None
