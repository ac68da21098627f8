"""The eight streams of issue 11 end to end (real tap-daktela CLI, simulator over HTTP): the six messaging
channels (activitiesSms/Fbm/Igdm/Wap/Vbr/Web: PK `name`, creation time `time` as replication key) and the two
full tables (ticketsCategories, campaignsTypes: PK `name`, no replication key)."""

from __future__ import annotations

import copy
import json
import re
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from tap_daktela.endpoints import ENDPOINTS_BY_NAME
from tap_daktela.shaping import SECRET_KEYS
from tests.conftest import run_tap, select, tap_config, walk_keys
from tests.simulator import DaktelaSimulator
from tests.tap.test_tap_nested_objects import CHANNEL_OF_TYPE

CHANNELS = ["activitiesSms", "activitiesFbm", "activitiesIgdm", "activitiesWap", "activitiesVbr", "activitiesWeb"]
FULL_TABLES = ["ticketsCategories", "campaignsTypes"]
NEW_STREAMS = CHANNELS + FULL_TABLES
# the messaging activity types and their channel streams (an activity's `item` is that channel's record)
ACTIVITY_TYPES = {kind: stream for kind, stream in CHANNEL_OF_TYPE.items() if stream in CHANNELS}
PRAGUE = ZoneInfo("Europe/Prague")
ISO_WITH_OFFSET = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}[+-]\d{2}:\d{2}$")
FORBIDDEN = "Forbidden: you do not have rights for this endpoint"


def names(records: list[dict]) -> set:
    return {record["name"] for record in records}


def aware(value: str) -> datetime:
    return datetime.fromisoformat(value)


def expected_iso(naive: str) -> str:
    """The simulator's naive Prague wall-clock time with its offset (the earlier one in the repeated hour)."""
    return datetime.strptime(naive, "%Y-%m-%d %H:%M:%S").replace(tzinfo=PRAGUE).isoformat()


def date_time_pairs(schema: dict, emitted: dict, served: dict, path: str = ""):
    """(path, emitted value, served value) of every date-time property, nested declared objects included."""
    for name, prop in schema.get("properties", {}).items():
        value, raw = emitted.get(name), (served or {}).get(name)
        if prop.get("format") == "date-time":
            yield f"{path}{name}", value, raw
        elif isinstance(value, dict) and isinstance(raw, dict) and "properties" in prop:
            yield from date_time_pairs(prop, value, raw, f"{path}{name}.")


def catalog_for(discovered_catalog: dict, streams) -> dict:
    return select(copy.deepcopy(discovered_catalog), dict.fromkeys(streams))


@pytest.fixture(scope="module")
def channel_run(sim, tmp_path_factory, discovered_catalog):
    """All eight streams and `activities`, small pages, three requests in flight."""
    catalog = catalog_for(discovered_catalog, [*NEW_STREAMS, "activities"])
    config = tap_config(sim, page_size=7, max_concurrent_requests=3)
    run = run_tap(tmp_path_factory.mktemp("channels"), config, catalog=catalog)
    assert run.returncode == 0, run.stderr
    return run


# ------------------------------------------------------------------------------------------------ one full run


def test_the_table_declares_the_eight_streams():
    for stream in CHANNELS:
        endpoint = ENDPOINTS_BY_NAME[stream]
        assert (endpoint.primary_key, endpoint.replication_key) == ("name", "time")
        assert endpoint.windowed and endpoint.created_key and endpoint.optional
    for stream in FULL_TABLES:
        endpoint = ENDPOINTS_BY_NAME[stream]
        assert (endpoint.primary_key, endpoint.replication_key) == ("name", None)
        assert not (endpoint.windowed or endpoint.created_key or endpoint.optional)


@pytest.mark.parametrize("stream", NEW_STREAMS)
def test_counts_equal_the_simulator_and_keys_are_unique(sim, channel_run, stream):
    records = channel_run.records(stream)
    keys = [record["name"] for record in records]
    assert len(keys) == len(set(keys)), f"duplicate keys in {stream}"
    assert len(records) == sim.total(stream) == len(sim.records(stream)) > 0
    assert set(keys) == names(sim.records(stream))


@pytest.mark.parametrize("stream", NEW_STREAMS)
def test_datetimes_are_iso_with_the_instance_offset(sim, channel_run, stream):
    schema = channel_run.schema(stream)["schema"]
    served = {record["name"]: record for record in sim.records(stream)}
    seen = set()
    for record in channel_run.records(stream):
        assert "_sys" not in record and "_rdata" not in record and "_guiData" not in record
        for path, value, raw in date_time_pairs(schema, record, served[record["name"]]):
            if raw is None:
                assert value is None, (stream, path)
                continue
            assert ISO_WITH_OFFSET.match(value), (stream, path, value)
            assert value == expected_iso(raw), (stream, path, raw)
            seen.add(path)
    if stream in CHANNELS:
        assert "time" in seen
        offsets = {record["time"][-6:] for record in channel_run.records(stream)}
        assert offsets <= {"+01:00", "+02:00"}
    if stream == "activitiesWeb":
        assert "heartbeat" in seen
    if stream == "campaignsTypes":
        assert "created" in seen


@pytest.mark.parametrize("stream", NEW_STREAMS)
def test_schema_message_keys_and_final_state(channel_run, stream):
    message = channel_run.schema(stream)
    assert message["key_properties"] == ["name"]
    state = channel_run.final_state["bookmarks"].get(stream, {})
    assert "progress_markers" not in state
    if stream in CHANNELS:
        assert message["bookmark_properties"] == ["time"]
        assert state["replication_key"] == "time"
        assert state["replication_key_value"] == max((r["time"] for r in channel_run.records(stream)), key=aware)
    else:
        assert not message.get("bookmark_properties")
        assert "replication_key_value" not in state


def test_channel_records_carry_no_credentials(sim, channel_run):
    """A connector is a routing object with its access/API tokens: they never leave the tap."""
    for stream in CHANNELS:
        assert not SECRET_KEYS & set(walk_keys(channel_run.records(stream))), stream
        tokens = {r["connector"]["accessToken"] for r in sim.records(stream) if r["connector"]}
        assert tokens and not any(token in channel_run.stdout for token in tokens), stream


def test_activities_reference_channel_records_that_exist(channel_run):
    """`activities` of type SMS/FBM/IGDM/WAP/VBR/WEB point (`item`, keys mode) at records of their channel."""
    by_type: dict[str, set] = {}
    for activity in channel_run.records("activities"):
        if activity["type"] in ACTIVITY_TYPES:
            assert activity["item"] is not None, activity["name"]
            by_type.setdefault(activity["type"], set()).add(activity["item"]["name"])
    assert set(by_type) == set(ACTIVITY_TYPES)
    for typ, items in by_type.items():
        assert items <= names(channel_run.records(ACTIVITY_TYPES[typ])), typ


def test_activities_flattened_item_name_references_channel_records(sim, tmp_path, discovered_catalog):
    catalog = catalog_for(discovered_catalog, ["activities"])
    run = run_tap(tmp_path, tap_config(sim, flatten_records=True), catalog=catalog)
    assert run.returncode == 0, run.stderr
    linked = [r for r in run.records("activities") if r.get("type") in ACTIVITY_TYPES]
    assert {r["type"] for r in linked} == set(ACTIVITY_TYPES)
    for record in linked:
        assert record["item_name"] in names(sim.records(ACTIVITY_TYPES[record["type"]])), record["name"]


# ------------------------------------------------------------------------------------------------ windows


def test_start_and_end_date_window_the_channels_not_the_full_tables(sim, tmp_path, discovered_catalog):
    catalog = catalog_for(discovered_catalog, NEW_STREAMS)
    config = tap_config(sim, start_date="2024-06-01", end_date="2025-01-01T00:00:00", page_size=6)
    run = run_tap(tmp_path, config, catalog=catalog)
    assert run.returncode == 0, run.stderr
    for stream in CHANNELS:
        expected = {
            r["name"] for r in sim.records(stream) if "2024-06-01 00:00:00" <= r["time"] < "2025-01-01 00:00:00"
        }
        assert len(expected) == sim.total(stream, start="2024-06-01", end="2025-01-01")
        assert 0 < len(expected) < len(sim.records(stream)), stream  # the window really cuts
        assert names(run.records(stream)) == expected, stream
    for stream in FULL_TABLES:
        assert names(run.records(stream)) == names(sim.records(stream)), stream


def test_date_filter_rejected_falls_back_to_filtering_in_the_tap(sim, tmp_path, discovered_catalog):
    catalog = catalog_for(discovered_catalog, ["activitiesFbm", "activitiesSms"])
    config = tap_config(sim, start_date="2024-03-01", end_date="2025-01-01", page_size=4)
    sim.knobs.reject_date_filter = {"activitiesFbm"}
    run = run_tap(tmp_path, config, catalog=catalog)
    assert run.returncode == 0, run.stderr
    warnings = [line for line in run.stderr.splitlines() if "rejected a filter on 'time'" in line]
    assert len(warnings) == 1 and "activitiesFbm" in warnings[0] and "HTTP 400" in warnings[0]
    for stream in ("activitiesFbm", "activitiesSms"):
        expected = {r["name"] for r in sim.records(stream) if "2024-03-01" <= r["time"] < "2025-01-01"}
        assert 0 < len(expected) < len(sim.records(stream))
        assert names(run.records(stream)) == expected, stream
    state = run.final_state["bookmarks"]["activitiesFbm"]
    assert "progress_markers" not in state
    assert state["replication_key_value"] == max((r["time"] for r in run.records("activitiesFbm")), key=aware)


# ------------------------------------------------------------------------------------------------ state


def test_second_run_reads_only_new_records(fresh_sim, tmp_path, discovered_catalog):
    """With the final state and no lookback: the six channels read only records at or after their bookmark (new
    ones included, an older record changed meanwhile is not: `time` is a creation time); the two full tables are
    read whole again, new records included."""
    sim = fresh_sim
    catalog = catalog_for(discovered_catalog, NEW_STREAMS)
    config = tap_config(sim, page_size=6, lookback_window_days=0)
    first = run_tap(tmp_path, config, catalog=catalog)
    assert first.returncode == 0, first.stderr
    inserted = {stream: names(sim.insert(stream, n=2)) for stream in NEW_STREAMS}
    changed_old = {stream: sim.records(stream)[0]["name"] for stream in CHANNELS}
    for stream, name in changed_old.items():
        sim.update(stream, name)
    second = run_tap(tmp_path, config, catalog=catalog, state=first.final_state)
    assert second.returncode == 0, second.stderr
    for stream in CHANNELS:
        bookmark = aware(first.final_state["bookmarks"][stream]["replication_key_value"])
        again = second.records(stream)
        assert inserted[stream] <= names(again), stream
        assert all(aware(r["time"]) >= bookmark for r in again), stream
        at_bookmark = {r["name"] for r in first.records(stream) if aware(r["time"]) == bookmark}
        assert names(again) == inserted[stream] | at_bookmark, stream
        assert changed_old[stream] not in names(again)
        new_bookmark = aware(second.final_state["bookmarks"][stream]["replication_key_value"])
        assert new_bookmark > bookmark
    for stream in FULL_TABLES:
        assert (
            names(second.records(stream))
            == names(sim.records(stream))
            == names(first.records(stream)) | (inserted[stream])
        ), stream


def test_lookback_rereads_the_window_before_the_bookmark(fresh_sim, tmp_path, discovered_catalog):
    """A channel record can change after it was created without moving `time`: the lookback re-reads it."""
    sim = fresh_sim
    stream = "activitiesIgdm"
    catalog = catalog_for(discovered_catalog, [stream])
    config = tap_config(sim, page_size=5, lookback_window_days=120)
    first = run_tap(tmp_path, config, catalog=catalog)
    assert first.returncode == 0, first.stderr
    bookmark = aware(first.final_state["bookmarks"][stream]["replication_key_value"])
    floor = bookmark - timedelta(days=120)
    recent = [r for r in first.records(stream) if aware(r["time"]) >= floor + timedelta(hours=1)]
    older = [r for r in first.records(stream) if aware(r["time"]) < floor - timedelta(hours=1)]
    assert recent and older
    changed = recent[0]["name"]
    title = sim.update(stream, changed)["title"]
    second = run_tap(tmp_path, config, catalog=catalog, state=first.final_state)
    assert second.returncode == 0, second.stderr
    again = {r["name"]: r for r in second.records(stream)}
    assert names(recent) <= set(again)
    assert not names(older) & set(again)
    assert again[changed]["title"] == title


# ------------------------------------------------------------------------------------------------ paging


@pytest.mark.parametrize("stream", ["activitiesWeb", "ticketsCategories"])
def test_records_changing_during_the_read_are_not_lost(tmp_path, discovered_catalog, stream):
    catalog = catalog_for(discovered_catalog, [stream])
    mutations = [("update", stream, None), ("delete", stream, None), ("insert", stream, None)] * 2
    with DaktelaSimulator(seed=5, scale="small") as sim:
        before = names(sim.records(stream))
        sim.knobs.mutations = list(mutations)
        config = tap_config(sim, page_size=2, max_concurrent_requests=3)
        run = run_tap(tmp_path, config, catalog=catalog)
        assert run.returncode == 0, run.stderr
        assert not sim.knobs.mutations, "every mutation should have happened during the read"
        after = names(sim.records(stream))
    emitted = [record["name"] for record in run.records(stream)]
    assert len(emitted) == len(set(emitted))
    deleted = before - after
    assert deleted
    assert before - deleted <= set(emitted)
    assert set(emitted) <= before | after


def test_field_selection_is_pushed_down(sim, tmp_path, discovered_catalog):
    selected = {"activitiesSms": ["sender", "direction"], "campaignsTypes": ["title"]}
    keep = {"activitiesSms": {"name", "time", "sender", "direction"}, "campaignsTypes": {"name", "title"}}
    whole = catalog_for(discovered_catalog, selected)
    sim.reset_counters()
    full = run_tap(tmp_path, tap_config(sim), catalog=whole)
    assert full.returncode == 0, full.stderr
    full_bytes = sim.counters.bytes_sent
    catalog = select(copy.deepcopy(discovered_catalog), selected)
    sim.reset_counters()
    run = run_tap(tmp_path, tap_config(sim), catalog=catalog)
    assert run.returncode == 0, run.stderr
    for stream, fields in keep.items():
        records = run.records(stream)
        assert len(records) == len(sim.records(stream))
        assert all(set(record) == fields for record in records), stream
        assert set(run.schema(stream)["schema"]["properties"]) == fields
    assert sim.counters.bytes_sent * 4 < full_bytes  # the fields were asked of the API, not cut in the tap


# ------------------------------------------------------------------------------------------------ absent channels


@pytest.mark.parametrize("stream", CHANNELS)
def test_a_channel_missing_on_the_instance_is_an_empty_stream_with_a_warning(sim, tmp_path, discovered_catalog, stream):
    others = ["activitiesSms" if stream != "activitiesSms" else "activitiesVbr", "campaignsTypes"]
    catalog = catalog_for(discovered_catalog, [stream, *others])
    sim.knobs.missing_endpoints = {stream}
    run = run_tap(tmp_path, tap_config(sim, page_size=6), catalog=catalog)
    assert run.returncode == 0, run.stderr
    warnings = [line for line in run.stderr.splitlines() if "WARNING" in line and f"'{stream}'" in line]
    assert len(warnings) == 1 and "HTTP 404" in warnings[0], run.stderr
    assert "tap-daktela: error" not in run.stderr and "Traceback" not in run.stderr
    assert run.records(stream) == []
    assert "replication_key_value" not in run.final_state.get("bookmarks", {}).get(stream, {})
    for other in others:
        assert names(run.records(other)) == names(sim.records(other)), other


def test_live_discovery_keeps_a_missing_channel(sim, tmp_path):
    sim.knobs.missing_endpoints = {"activitiesWap"}
    run = run_tap(tmp_path, tap_config(sim), "--discover")
    assert run.returncode == 0, run.stderr
    entries = {entry["tap_stream_id"]: entry for entry in json.loads(run.stdout)["streams"]}
    assert set(NEW_STREAMS) <= set(entries)
    assert {"name", "time", "sender", "external_contact"} <= set(entries["activitiesWap"]["schema"]["properties"])


def test_a_full_table_missing_on_the_instance_fails(sim, tmp_path, discovered_catalog):
    """ticketsCategories and campaignsTypes are not channels: every instance has them, a 404 is an error."""
    sim.knobs.missing_endpoints = {"campaignsTypes"}
    run = run_tap(tmp_path, tap_config(sim), catalog=catalog_for(discovered_catalog, ["campaignsTypes"]))
    assert run.returncode == 1, run.stderr
    assert run.error_line == "tap-daktela: error: endpoint 'campaignsTypes' does not exist on this instance (HTTP 404)"
    assert "Traceback" not in run.stderr


@pytest.mark.parametrize("stream", ["activitiesWap", "ticketsCategories"])
def test_a_forbidden_endpoint_fails_naming_it(sim, tmp_path, discovered_catalog, stream):
    sim.knobs.forbidden_endpoints = {stream}
    run = run_tap(tmp_path, tap_config(sim), catalog=catalog_for(discovered_catalog, [stream, "activitiesSms"]))
    assert run.returncode == 1, run.stderr
    assert run.error_line == f"tap-daktela: error: no rights for endpoint '{stream}' (HTTP 403): {FORBIDDEN}"
    assert len([line for line in run.stderr.splitlines() if "tap-daktela: error:" in line]) == 1
    assert "Traceback" not in run.stderr
    assert run.records(stream) == []


def test_an_empty_list_is_an_empty_stream(tmp_path, discovered_catalog):
    """An instance with the channel set up but no conversations (and no campaign types) answers an empty list."""
    empty = ("activitiesWap", "activitiesWeb", "campaignsTypes")
    with DaktelaSimulator(seed=13, scale="small") as sim:
        for stream in empty:
            for record in sim.records(stream):
                sim.delete(stream, record["name"])
            assert sim.total(stream) == 0
        run = run_tap(
            tmp_path, tap_config(sim, page_size=5), catalog=catalog_for(discovered_catalog, [*empty, "activitiesSms"])
        )
        assert run.returncode == 0, run.stderr
        assert len(run.records("activitiesSms")) == sim.total("activitiesSms") > 0
    for stream in empty:
        assert run.records(stream) == []
        assert run.schema(stream)["key_properties"] == ["name"]
        assert "replication_key_value" not in run.final_state.get("bookmarks", {}).get(stream, {})
        assert not [line for line in run.stderr.splitlines() if "WARNING" in line and stream in line], stream
    assert "HTTP 404" not in run.stderr
