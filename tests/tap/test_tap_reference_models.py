"""The twelve streams of issue 18 end to end (real tap-daktela CLI, simulator over HTTP): the models records point
to (ticketsSla, crmDatabases, databases, crmRecordsTypes, profiles, roles, timegroups), the knowledge base
(articlesFolders, articlesTags full; articles incremental on `edited`), call transcripts (incremental on their
`start`, windowed, lookback) and the live agent state (realtimeSessions: keyed by the agent, one snapshot_time)."""

from __future__ import annotations

import copy
import json
import time
from datetime import UTC, datetime

import pytest

from tap_daktela.endpoints import ENDPOINTS, ENDPOINTS_BY_NAME, SNAPSHOT_TIME
from tap_daktela.references import references
from tests.conftest import run_tap, select, tap_config
from tests.simulator import DaktelaSimulator
from tests.simulator.models import MODEL_ENDPOINTS
from tests.simulator.server import record_key
from tests.tap.test_tap_channels import FORBIDDEN, ISO_WITH_OFFSET, aware, date_time_pairs, expected_iso

NEW_STREAMS = list(MODEL_ENDPOINTS)
LOOKUPS = ["ticketsSla", "crmDatabases", "databases", "crmRecordsTypes", "profiles", "roles", "timegroups"]
FULL_TABLES = [*LOOKUPS, "articlesFolders", "articlesTags"]
INCREMENTAL = {"articles": "edited", "activitiesCallTranscripts": "start"}
# the references that now point at a new stream: (stream, property) -> target (the table)
JOINS = {
    ("ticketsCategories", "sla"): "ticketsSla",
    ("accounts", "sla"): "ticketsSla",
    ("contacts", "database"): "crmDatabases",
    ("accounts", "database"): "crmDatabases",
    ("ticketsCategories", "default_crm_database"): "crmDatabases",
    ("campaignsRecords", "database"): "databases",
    ("crmRecords", "type"): "crmRecordsTypes",
    ("users", "profile"): "profiles",
    ("users", "role"): "roles",
    ("ticketsCategories", "timecondition"): "timegroups",
    ("articles", "folder"): "articlesFolders",
    ("articles", "tags"): "articlesTags",
    ("articlesFolders", "parent"): "articlesFolders",
}


def key_of(stream: str, record: dict):
    return record_key(record, ENDPOINTS_BY_NAME[stream].primary_key)


def keys(stream: str, records: list[dict]) -> set:
    return {key_of(stream, record) for record in records}


def catalog_for(discovered_catalog: dict, streams) -> dict:
    return select(copy.deepcopy(discovered_catalog), dict.fromkeys(streams))


@pytest.fixture(scope="module")
def models_run(sim, tmp_path_factory, discovered_catalog):
    """All twelve streams and `users`, small pages, three requests in flight."""
    catalog = catalog_for(discovered_catalog, [*NEW_STREAMS, "users"])
    before = datetime.now(UTC).replace(microsecond=0)
    run = run_tap(
        tmp_path_factory.mktemp("models"), tap_config(sim, page_size=7, max_concurrent_requests=3), catalog=catalog
    )
    after = datetime.now(UTC)
    assert run.returncode == 0, run.stderr
    run.window = (before, after)
    return run


def test_the_table_declares_the_twelve_streams():
    for stream in NEW_STREAMS:
        endpoint = ENDPOINTS_BY_NAME[stream]
        assert endpoint.optional, stream  # a model the instance does not license answers 404
        assert endpoint.replication_key == INCREMENTAL.get(stream), stream
        assert endpoint.full_table == (stream not in INCREMENTAL), stream
        assert endpoint.primary_key == ("id_agent" if stream == "realtimeSessions" else "name")
    assert ENDPOINTS_BY_NAME["realtimeSessions"].snapshot and not ENDPOINTS_BY_NAME["articles"].snapshot
    transcripts = ENDPOINTS_BY_NAME["activitiesCallTranscripts"]
    assert transcripts.windowed and transcripts.created_key
    assert not any(ENDPOINTS_BY_NAME[stream].windowed for stream in NEW_STREAMS if stream != transcripts.name)
    assert ENDPOINTS_BY_NAME["users"].full_table and not ENDPOINTS_BY_NAME["tickets"].full_table


@pytest.mark.parametrize("stream", NEW_STREAMS)
def test_counts_equal_the_simulator_and_keys_are_unique(sim, models_run, stream):
    records = models_run.records(stream)
    emitted = [key_of(stream, record) for record in records]
    assert len(emitted) == len(set(emitted)), f"duplicate keys in {stream}"
    assert len(records) == sim.total(stream) == len(sim.records(stream)) > 0
    assert set(emitted) == keys(stream, sim.records(stream))


@pytest.mark.parametrize("stream", NEW_STREAMS)
def test_datetimes_are_iso_with_the_instance_offset(sim, models_run, stream):
    schema = models_run.schema(stream)["schema"]
    served = {key_of(stream, record): record for record in sim.records(stream)}
    seen = set()
    for record in models_run.records(stream):
        assert not {"_sys", "_rdata", "_guiData"} & set(record)
        for path, value, raw in date_time_pairs(schema, record, served[key_of(stream, record)]):
            if path == SNAPSHOT_TIME:
                continue  # the tap's own, checked below
            if raw is None:
                assert value is None, (stream, path)
                continue
            assert ISO_WITH_OFFSET.match(value), (stream, path, value)
            assert value == expected_iso(raw), (stream, path, raw)
            seen.add(path)
    expected = {
        "articles": {"created", "edited"},
        "activitiesCallTranscripts": {"start", "end"},
        "realtimeSessions": {"logintime", "statetime"},
        "crmRecordsTypes": {"created"},
    }
    assert expected.get(stream, set()) <= seen, stream


@pytest.mark.parametrize("stream", NEW_STREAMS)
def test_schema_message_keys_and_final_state(models_run, stream):
    message = models_run.schema(stream)
    endpoint = ENDPOINTS_BY_NAME[stream]
    assert message["key_properties"] == [endpoint.primary_key]
    state = models_run.final_state["bookmarks"].get(stream, {})
    assert "progress_markers" not in state
    if stream in INCREMENTAL:
        key = INCREMENTAL[stream]
        assert message["bookmark_properties"] == [key]
        assert state["replication_key"] == key
        assert state["replication_key_value"] == max((r[key] for r in models_run.records(stream)), key=aware)
    else:
        assert not message.get("bookmark_properties")
        assert "replication_key_value" not in state


def test_realtime_sessions_are_one_snapshot_keyed_by_the_agent(sim, models_run):
    records = models_run.records("realtimeSessions")
    taken = {record[SNAPSHOT_TIME] for record in records}
    assert len(taken) == 1, taken
    (value,) = taken
    assert ISO_WITH_OFFSET.match(value) and value[-6:] in ("+01:00", "+02:00")
    before, after = models_run.window
    assert before <= aware(value) <= after
    schema = models_run.schema("realtimeSessions")["schema"]["properties"]
    assert schema[SNAPSHOT_TIME]["format"] == "date-time" and schema["id_agent"]["type"] == ["string"]
    users = {record["name"] for record in models_run.records("users")}
    assert all(isinstance(record["id_agent"], str) and record["id_agent"] in users for record in records)
    assert {record["id_agent"] for record in records} == {
        r["id_agent"]["name"] for r in sim.records("realtimeSessions")
    }
    paused = [record for record in records if record["state"] == "Paused"]
    assert paused and all(record["id_pause"] and record["onpause"] for record in paused)


def test_a_second_snapshot_has_its_own_time(sim, tmp_path, discovered_catalog):
    catalog = catalog_for(discovered_catalog, ["realtimeSessions"])
    first = run_tap(tmp_path, tap_config(sim), catalog=catalog)
    assert first.returncode == 0, first.stderr
    time.sleep(1.1)  # snapshot times are to the second
    second = run_tap(tmp_path, tap_config(sim), catalog=catalog, state=first.final_state)
    assert second.returncode == 0, second.stderr
    taken = [{record[SNAPSHOT_TIME] for record in run.records("realtimeSessions")} for run in (first, second)]
    assert len(taken[0]) == len(taken[1]) == 1 and aware(min(taken[1])) > aware(min(taken[0]))
    assert len(second.records("realtimeSessions")) == len(sim.records("realtimeSessions"))
    assert "replication_key_value" not in second.final_state.get("bookmarks", {}).get("realtimeSessions", {})


def test_field_selection_keeps_the_key_and_the_snapshot_time(sim, tmp_path, discovered_catalog):
    """`snapshot_time` is the tap's own column: always emitted, never asked of Daktela (`fields[]`)."""
    catalog = select(copy.deepcopy(discovered_catalog), {"realtimeSessions": ["state"], "articles": ["title"]})
    run = run_tap(tmp_path, tap_config(sim), catalog=catalog)
    assert run.returncode == 0, run.stderr
    assert {tuple(sorted(r)) for r in run.records("realtimeSessions")} == {("id_agent", SNAPSHOT_TIME, "state")}
    assert {tuple(sorted(r)) for r in run.records("articles")} == {("edited", "name", "title")}
    assert len(run.records("realtimeSessions")) == len(sim.records("realtimeSessions"))


# ------------------------------------------------------------------------------------------------ joins


@pytest.fixture(scope="module")
def flat_run(sim, tmp_path_factory, discovered_catalog):
    """Keys mode (the default), flattened like the Keboola tables: the referencing streams and the new ones."""
    streams = {stream for stream, _ in JOINS} | set(JOINS.values())
    config = tap_config(sim, flatten_records=True, page_size=50)
    run = run_tap(tmp_path_factory.mktemp("flat"), config, catalog=catalog_for(discovered_catalog, streams))
    assert run.returncode == 0, run.stderr
    return run


def test_the_references_to_new_streams_are_the_ones_checked_below():
    """Every reference (at any depth) that points at one of the twelve streams, from the committed references."""
    found = {
        (endpoint.name, path): reference.streams
        for endpoint in ENDPOINTS
        for path, reference in references(endpoint.name).items()
        if set(reference.streams) & set(NEW_STREAMS)
    }
    assert found == {key: (target,) for key, target in JOINS.items()}


@pytest.mark.parametrize(("stream", "prop"), list(JOINS))
def test_every_reference_to_a_new_stream_joins_its_table(sim, flat_run, stream, prop):
    target = JOINS[(stream, prop)]
    reference = references(stream).get(prop)
    assert reference is not None and reference.streams == (target,), f"{stream}.{prop} is not a key of {target}"
    names = {record["name"] for record in flat_run.records(target)}
    assert names == keys(target, sim.records(target))
    records = flat_run.records(stream)
    if reference.many:
        cells = [record.get(prop) for record in records]  # flattened: a JSON array of keys as text
        values = [value for cell in cells if cell for value in json.loads(cell)]
        assert all(isinstance(value, str) for value in values)
    else:
        values = [record[f"{prop}_name"] for record in records if record.get(f"{prop}_name") is not None]
        columns = {key for record in records for key in record if key.startswith(f"{prop}_")}
        assert columns <= {f"{prop}_name", f"{prop}_title"}, columns  # the key and title, never a copy
    assert values, f"no {stream}.{prop} in the data"
    assert set(values) <= names, (stream, prop, set(values) - names)


# ------------------------------------------------------------------------------------------------ state


def test_second_run_reads_only_new_articles_and_transcripts(fresh_sim, tmp_path, discovered_catalog):
    """With the final state and no lookback: articles re-read only what was edited since (an edit moves `edited`),
    transcripts only segments at or after their bookmark; full tables and the snapshot are read whole again."""
    sim = fresh_sim
    streams = [*INCREMENTAL, "ticketsSla", "realtimeSessions"]
    catalog = catalog_for(discovered_catalog, streams)
    config = tap_config(sim, page_size=6, lookback_window_days=0)
    first = run_tap(tmp_path, config, catalog=catalog)
    assert first.returncode == 0, first.stderr
    inserted = {stream: keys(stream, sim.insert(stream, n=2)) for stream in [*INCREMENTAL, "ticketsSla"]}
    edited = sim.records("articles")[0]["name"]
    sim.update("articles", edited)
    second = run_tap(tmp_path, config, catalog=catalog, state=first.final_state)
    assert second.returncode == 0, second.stderr
    for stream, key in INCREMENTAL.items():
        bookmark = aware(first.final_state["bookmarks"][stream]["replication_key_value"])
        again = second.records(stream)
        at_bookmark = {r["name"] for r in first.records(stream) if aware(r[key]) == bookmark}
        expected = inserted[stream] | at_bookmark | ({edited} if stream == "articles" else set())
        assert {r["name"] for r in again} == expected, stream
        assert aware(second.final_state["bookmarks"][stream]["replication_key_value"]) > bookmark
    assert keys("ticketsSla", second.records("ticketsSla")) == keys("ticketsSla", sim.records("ticketsSla"))
    assert len(second.records("realtimeSessions")) == len(sim.records("realtimeSessions"))


def test_start_and_end_date_window_the_transcripts(sim, tmp_path, discovered_catalog):
    catalog = catalog_for(discovered_catalog, ["activitiesCallTranscripts", "articles"])
    config = tap_config(sim, start_date="2024-06-01", end_date="2025-01-01T00:00:00", page_size=6)
    run = run_tap(tmp_path, config, catalog=catalog)
    assert run.returncode == 0, run.stderr
    stream = "activitiesCallTranscripts"
    expected = {r["name"] for r in sim.records(stream) if "2024-06-01 00:00:00" <= r["start"] < "2025-01-01 00:00:00"}
    assert 0 < len(expected) < len(sim.records(stream))
    assert len(expected) == sim.total(stream, start="2024-06-01", end="2025-01-01")
    assert {r["name"] for r in run.records(stream)} == expected


def test_transcripts_changing_during_the_read_are_not_lost(tmp_path, discovered_catalog):
    stream = "activitiesCallTranscripts"
    mutations = [("delete", stream, None), ("insert", stream, None)] * 3
    with DaktelaSimulator(seed=5, scale="small") as sim:
        before = keys(stream, sim.records(stream))
        sim.knobs.mutations = list(mutations)
        run = run_tap(
            tmp_path,
            tap_config(sim, page_size=4, max_concurrent_requests=3),
            catalog=catalog_for(discovered_catalog, [stream]),
        )
        assert run.returncode == 0, run.stderr
        assert not sim.knobs.mutations
        after = keys(stream, sim.records(stream))
    emitted = [record["name"] for record in run.records(stream)]
    assert len(emitted) == len(set(emitted))
    assert before & after <= set(emitted) <= before | after


# ------------------------------------------------------------------------------------------------ absent or forbidden


@pytest.mark.parametrize("stream", NEW_STREAMS)
def test_a_model_the_instance_lacks_is_an_empty_stream_with_a_warning(sim, tmp_path, discovered_catalog, stream):
    other = "roles" if stream != "roles" else "profiles"
    catalog = catalog_for(discovered_catalog, [stream, other])
    sim.knobs.missing_endpoints = {stream}
    run = run_tap(tmp_path, tap_config(sim, page_size=6), catalog=catalog)
    assert run.returncode == 0, run.stderr
    warnings = [line for line in run.stderr.splitlines() if "WARNING" in line and f"'{stream}'" in line]
    assert len(warnings) == 1 and "HTTP 404" in warnings[0] and "not licensed" in warnings[0], run.stderr
    assert "tap-daktela: error" not in run.stderr and "Traceback" not in run.stderr
    assert run.records(stream) == []
    assert keys(other, run.records(other)) == keys(other, sim.records(other))


@pytest.mark.parametrize("stream", ["articles", "realtimeSessions", "ticketsSla", "activitiesCallTranscripts"])
def test_a_forbidden_model_fails_naming_it(sim, tmp_path, discovered_catalog, stream):
    sim.knobs.forbidden_endpoints = {stream}
    run = run_tap(tmp_path, tap_config(sim), catalog=catalog_for(discovered_catalog, [stream]))
    assert run.returncode == 1, run.stderr
    assert run.error_line == f"tap-daktela: error: no rights for endpoint '{stream}' (HTTP 403): {FORBIDDEN}"
    assert "Traceback" not in run.stderr
