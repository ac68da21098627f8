"""End-to-end: the real tap-daktela CLI against the simulator, over HTTP."""

from __future__ import annotations

import copy
import json
import re

import pytest

from tap_daktela.endpoints import ENDPOINTS, ENDPOINTS_BY_NAME
from tests.conftest import PASSWORD, run_tap, select, tap_config
from tests.simulator.server import record_key  # a session's key is its agent's name

ISO_WITH_OFFSET = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}[+-]\d{2}:\d{2}$")
INCREMENTAL = [e.name for e in ENDPOINTS if e.replication_key]


def pk_of(stream: str, record: dict):
    return record[ENDPOINTS_BY_NAME[stream].primary_key]


def datetimes(schema: dict, record: dict):
    for name, prop in schema["properties"].items():
        value = record.get(name)
        if prop.get("format") == "date-time" and value is not None:
            yield name, value
        if isinstance(value, dict) and "properties" in prop:
            yield from datetimes(prop, value)


@pytest.fixture(scope="module")
def full_run(sim, tmp_path_factory):
    run = run_tap(tmp_path_factory.mktemp("full"), tap_config(sim, page_size=9, max_concurrent_requests=4))
    assert run.returncode == 0, run.stderr
    return run


def test_every_stream_has_every_record_once(sim, full_run):
    for endpoint in ENDPOINTS:
        records = full_run.records(endpoint.name)
        expected = {record_key(record, endpoint.primary_key) for record in sim.records(endpoint.name)}
        keys = [pk_of(endpoint.name, record) for record in records]
        assert len(keys) == len(set(keys)), f"duplicate keys in {endpoint.name}"
        assert set(keys) == expected, endpoint.name


def test_records_are_typed_and_datetimes_carry_the_instance_offset(full_run):
    tickets = full_run.records("tickets")
    assert all(isinstance(ticket["name"], int) for ticket in tickets)
    assert all(isinstance(queue["name"], int) for queue in full_run.records("queues"))
    for endpoint in ENDPOINTS:
        schema = full_run.schema(endpoint.name)["schema"]
        seen = 0
        for record in full_run.records(endpoint.name):
            assert "_sys" not in record
            for name, value in datetimes(schema, record):
                assert ISO_WITH_OFFSET.match(value), (endpoint.name, name, value)
                seen += 1
        if endpoint.replication_key:
            assert seen, endpoint.name
    offsets = {ticket["edited"][-6:] for ticket in tickets if ticket["edited"]}
    assert offsets == {"+01:00", "+02:00"}  # winter and summer time


def test_schema_messages_declare_keys(full_run):
    for endpoint in ENDPOINTS:
        message = full_run.schema(endpoint.name)
        assert message["key_properties"] == [endpoint.primary_key]
        if endpoint.replication_key:
            assert message["bookmark_properties"] == [endpoint.replication_key]


def test_final_state_has_a_bookmark_per_incremental_stream(full_run):
    bookmarks = full_run.final_state["bookmarks"]
    for endpoint in ENDPOINTS:
        state = bookmarks.get(endpoint.name, {})
        assert "progress_markers" not in state
        if endpoint.replication_key:
            values = [r[endpoint.replication_key] for r in full_run.records(endpoint.name)]
            assert state["replication_key"] == endpoint.replication_key
            assert state["replication_key_value"] == max(values)


def test_paging_is_concurrent_and_bounded(sim, tmp_path):
    sim.reset_counters()
    sim.knobs.latency_ms = 30
    try:
        run = run_tap(tmp_path, tap_config(sim, page_size=5, max_concurrent_requests=3))
    finally:
        sim.knobs.latency_ms = 0
    assert run.returncode == 0, run.stderr
    assert sim.counters.peak_in_flight == 3


def test_single_page_costs_one_request(sim, tmp_path):
    config = tap_config(sim, nested_objects="full")  # whole records: nothing to sample or probe
    catalog = select(json.loads(run_tap(tmp_path, config, "--discover").stdout), {"users": None})
    sim.reset_counters()
    run = run_tap(tmp_path, config, catalog=catalog)
    assert run.returncode == 0, run.stderr
    assert len(run.records("users")) == len(sim.records("users"))
    assert sim.counters.list_requests["users"] == 1


def test_keys_mode_adds_one_whole_record_then_none_while_the_state_knows_the_fields(sim, tmp_path):
    """With nested keys asked for by dotted fields[], one whole record is read first (to see undeclared fields;
    the data's own records say whether dotted fields are honoured); a run with the state that learned them
    reads only the data."""
    catalog = select(json.loads(run_tap(tmp_path, tap_config(sim), "--discover").stdout), {"users": None})
    sim.reset_counters()
    run = run_tap(tmp_path, tap_config(sim), catalog=catalog)
    assert run.returncode == 0, run.stderr
    assert len(run.records("users")) == len(sim.records("users"))
    assert sim.counters.list_requests["users"] == 2
    sim.reset_counters()
    again = run_tap(tmp_path, tap_config(sim), catalog=catalog, state=run.final_state)
    assert again.returncode == 0, again.stderr
    assert again.records("users") == run.records("users")
    assert sim.counters.list_requests["users"] == 1


def test_exact_page_count_without_concurrency(sim, tmp_path):
    config = tap_config(sim, page_size=10, max_concurrent_requests=1, nested_objects="full")
    catalog = select(json.loads(run_tap(tmp_path, config, "--discover").stdout), {"tickets": None})
    total = len(sim.records("tickets"))
    sim.reset_counters()
    run = run_tap(tmp_path, config, catalog=catalog)
    assert run.returncode == 0, run.stderr
    assert len(run.records("tickets")) == total
    assert sim.counters.list_requests["tickets"] == -(-total // 10)


@pytest.mark.parametrize("quirk", ["total_as_string", "data_as_object"])
def test_envelope_variants(sim, tmp_path, discovered_catalog, quirk):
    catalog = select(copy.deepcopy(discovered_catalog), {"contacts": None, "statuses": None})
    setattr(sim.knobs, quirk, True)
    try:
        run = run_tap(tmp_path, tap_config(sim, page_size=7), catalog=catalog)
    finally:
        setattr(sim.knobs, quirk, False)
    assert run.returncode == 0, run.stderr
    assert len(run.records("contacts")) == len(sim.records("contacts"))
    assert len(run.records("statuses")) == len(sim.records("statuses"))


def test_field_selection_is_pushed_down(sim, tmp_path, discovered_catalog):
    catalog = select(copy.deepcopy(discovered_catalog), {"tickets": ["title", "stage"]})
    sim.reset_counters()
    run = run_tap(tmp_path, tap_config(sim), catalog=catalog)
    assert run.returncode == 0, run.stderr
    records = run.records("tickets")
    assert records and all(set(record) == {"name", "edited", "title", "stage"} for record in records)
    assert set(run.schema("tickets")["schema"]["properties"]) == {"name", "edited", "title", "stage"}
    assert sim.counters.bytes_sent < 20_000 * 2  # full tickets would be far larger


def test_window_is_exact_and_inclusive_of_start(sim, tmp_path, discovered_catalog):
    catalog = select(copy.deepcopy(discovered_catalog), {"tickets": None, "activitiesCall": None})
    config = tap_config(sim, start_date="2024-06-01", end_date="2024-12-01T00:00:00", page_size=6)
    run = run_tap(tmp_path, config, catalog=catalog)
    assert run.returncode == 0, run.stderr
    for stream, key in (("tickets", "edited"), ("activitiesCall", "call_time")):
        expected = {
            pk_of(stream, r) for r in sim.records(stream) if "2024-06-01 00:00:00" <= r[key] < "2024-12-01 00:00:00"
        }
        assert expected
        assert {pk_of(stream, r) for r in run.records(stream)} == expected


def test_date_filter_rejected_falls_back_to_filtering_in_the_tap(sim, tmp_path, discovered_catalog):
    catalog = select(copy.deepcopy(discovered_catalog), {"activitiesChat": None})
    config = tap_config(sim, start_date="2024-03-01", end_date="2025-01-01", page_size=4)
    sim.knobs.reject_date_filter = {"activitiesChat"}
    try:
        run = run_tap(tmp_path, config, catalog=catalog)
    finally:
        sim.knobs.reject_date_filter = set()
    assert run.returncode == 0, run.stderr
    assert "rejected a filter on 'time'" in run.stderr
    expected = {r["name"] for r in sim.records("activitiesChat") if "2024-03-01" <= r["time"] < "2025-01-01"}
    assert {r["name"] for r in run.records("activitiesChat")} == expected
    state = run.final_state["bookmarks"]["activitiesChat"]
    assert "progress_markers" not in state
    assert state["replication_key_value"] == max(r["time"] for r in run.records("activitiesChat"))


def test_second_run_reads_only_new_and_changed(fresh_sim, tmp_path, discovered_catalog):
    streams = {"tickets": None, "contacts": None, "activities": None}
    catalog = select(copy.deepcopy(discovered_catalog), streams)
    config = tap_config(fresh_sim, page_size=8, lookback_window_days=0)
    first = run_tap(tmp_path, config, catalog=catalog)
    assert first.returncode == 0, first.stderr
    changed_ticket = fresh_sim.records("tickets")[3]["name"]
    fresh_sim.update("tickets", changed_ticket)
    new_contacts = [r["name"] for r in fresh_sim.insert("contacts", n=2)]
    second = run_tap(tmp_path, config, catalog=catalog, state=first.final_state)
    assert second.returncode == 0, second.stderr
    bookmark = first.final_state["bookmarks"]["tickets"]["replication_key_value"]
    ticket_names = {r["name"] for r in second.records("tickets")}
    assert changed_ticket in ticket_names
    assert all(r["edited"] >= bookmark for r in second.records("tickets"))
    assert len(ticket_names) <= 2  # the changed one (and the one sitting at the old bookmark)
    contacts_bookmark = first.final_state["bookmarks"]["contacts"]["replication_key_value"]
    expected = {r["name"] for r in first.records("contacts") if r["edited"] >= contacts_bookmark}
    assert {r["name"] for r in second.records("contacts")} == expected | set(new_contacts)
    assert second.final_state["bookmarks"]["tickets"]["replication_key_value"] > bookmark


def test_lookback_rereads_recent_activities(fresh_sim, tmp_path, discovered_catalog):
    catalog = select(copy.deepcopy(discovered_catalog), {"activities": None})
    first = run_tap(tmp_path, tap_config(fresh_sim, lookback_window_days=30), catalog=catalog)
    bookmark = first.final_state["bookmarks"]["activities"]["replication_key_value"]
    second = run_tap(tmp_path, tap_config(fresh_sim, lookback_window_days=30), catalog=catalog, state=first.final_state)
    assert second.returncode == 0, second.stderr
    import pendulum

    floor = pendulum.parse(bookmark).subtract(days=30)
    expected = [r for r in first.records("activities") if pendulum.parse(r["time"]) >= floor]
    assert {r["name"] for r in second.records("activities")} == {r["name"] for r in expected}


def test_flatten_records_emits_flat_schema_and_records(sim, tmp_path, discovered_catalog):
    catalog = select(copy.deepcopy(discovered_catalog), {"activities": None})
    run = run_tap(tmp_path, tap_config(sim, flatten_records=True), catalog=catalog)
    assert run.returncode == 0, run.stderr
    properties = run.schema("activities")["schema"]["properties"]
    assert "user_name" in properties and "ticket_title" in properties and "user" not in properties
    for record in run.records("activities"):
        assert list(record) == [column for column in properties if column in record]  # nulls are left out
        assert all(not isinstance(value, (dict, list)) and value is not None for value in record.values())
    with_item = [r for r in run.records("activities") if r.get("item_name") or r.get("item_id_call")]
    assert with_item and "item" not in properties and "ticket_user" not in properties
    full_config = tap_config(sim, flatten_records=True, nested_objects="full")
    full_catalog = select(json.loads(run_tap(tmp_path, full_config, "--discover").stdout), {"activities": None})
    full = run_tap(tmp_path, full_config, catalog=full_catalog)
    with_item = [r for r in full.records("activities") if r.get("item")]
    assert with_item and isinstance(json.loads(with_item[0]["item"]), dict)


def test_discover_lists_every_stream_with_keys(discovered_catalog):
    entries = {entry["tap_stream_id"]: entry for entry in discovered_catalog["streams"]}
    assert set(entries) == {endpoint.name for endpoint in ENDPOINTS}
    for endpoint in ENDPOINTS:
        entry = entries[endpoint.name]
        root = next(m["metadata"] for m in entry["metadata"] if not m["breadcrumb"])
        assert root["table-key-properties"] == [endpoint.primary_key]
        assert root.get("valid-replication-keys", [None]) == [endpoint.replication_key] or not endpoint.replication_key
        for free_form in ("customFields", "options"):
            prop = entry["schema"]["properties"].get(free_form)
            if prop and not prop.get("properties"):
                # PHP sends an empty object as [], so both must validate
                assert set(prop["type"]) == {"object", "array", "null"}


def test_password_never_printed(full_run):
    assert PASSWORD not in full_run.stdout
    assert PASSWORD not in full_run.stderr


def test_config_from_environment(sim, tmp_path, discovered_catalog):
    import os
    import subprocess

    from tests.conftest import BIN

    catalog_file = tmp_path / "catalog.json"
    catalog_file.write_text(json.dumps(select(copy.deepcopy(discovered_catalog), {"statuses": None})))
    env = {
        **os.environ,
        "TAP_DAKTELA_URL": sim.url,
        "TAP_DAKTELA_USERNAME": "api_user",
        "TAP_DAKTELA_PASSWORD": PASSWORD,
        "TAP_DAKTELA_PAGE_SIZE": "7",
    }
    done = subprocess.run(
        [str(BIN / "tap-daktela"), "--config", "ENV", "--catalog", str(catalog_file)],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    records = [json.loads(line) for line in done.stdout.splitlines() if '"RECORD"' in line]
    assert len(records) == len(sim.records("statuses"))
    assert PASSWORD not in done.stderr


@pytest.mark.parametrize("output_format", ["json", "markdown"])
def test_about(tmp_path, output_format):
    run = run_tap(tmp_path, {}, "--about", "--format", output_format)
    assert run.returncode == 0, run.stderr
    for setting in ("url", "username", "password", "access_token", "start_date", "end_date", "page_size"):
        assert setting in run.stdout
    if output_format == "json":
        about = json.loads(run.stdout)
        secrets = {p for p, s in about["settings"]["properties"].items() if s.get("secret")}
        assert secrets == {"password", "access_token"}


@pytest.mark.parametrize(
    ("start_date", "expected_floor"), [("3 years ago", None), ("2025-06-10", "2025-06-10 00:00:00")]
)
def test_bookmark_with_a_start_date_phrase_or_a_later_start_date(
    sim, tmp_path, discovered_catalog, start_date, expected_floor
):
    catalog = select(copy.deepcopy(discovered_catalog), {"tickets": None})
    bookmark = "2025-06-01T00:00:00+02:00"
    state = {"bookmarks": {"tickets": {"replication_key": "edited", "replication_key_value": bookmark}}}
    run = run_tap(tmp_path, tap_config(sim, start_date=start_date), catalog=catalog, state=state)
    assert run.returncode == 0, run.stderr
    floor = expected_floor or "2025-06-01 00:00:00"  # the later of bookmark and start_date
    expected = {r["name"] for r in sim.records("tickets") if r["edited"] >= floor}
    assert expected and {r["name"] for r in run.records("tickets")} == expected
