"""The eight streams of issue 11 through the real Keboola component (`python -m keboola_wrapper`, real tap, real
target-csv) against the simulator: six messaging channels (windowed by `date_from`/`date_to`, bookmarked on
`time`) and ticketsCategories/campaignsTypes (full tables, never windowed)."""

from __future__ import annotations

import json
from datetime import datetime

import pytest

from tap_daktela.shaping import SECRET_KEYS
from tests.keboola.test_wrapper_functional import (
    expected_columns,
    load_case,
    manifest_of,
    rows,
    run,
    user_error_line,
)

CHANNELS = ["activitiesSms", "activitiesFbm", "activitiesIgdm", "activitiesWap", "activitiesVbr", "activitiesWeb"]
FULL_TABLES = ["ticketsCategories", "campaignsTypes"]
NEW_STREAMS = CHANNELS + FULL_TABLES
KEBOOLA_TYPES = {"STRING", "INTEGER", "NUMERIC", "BOOLEAN", "TIMESTAMP"}


@pytest.fixture(scope="module")
def sim():
    from tests.simulator import DaktelaSimulator

    with DaktelaSimulator(seed=3, scale="small") as simulator:
        yield simulator


def config_for(streams, date_from: str = "2000-01-01", date_to: str = "now") -> dict:
    config = load_case("field_selection")
    config["parameters"]["data_selection"] |= {
        "date_from": date_from,
        "date_to": date_to,
        "endpoints": [{"endpoint": stream, "fields": []} for stream in streams],
    }
    return config


def column_types(manifest: dict) -> dict[str, str]:
    return {column["name"]: column["data_type"]["base"]["type"] for column in manifest["schema"]}


@pytest.fixture(scope="module")
def full_run(sim, tmp_path_factory):
    data = tmp_path_factory.mktemp("channels") / "data"
    proc = run(config_for(NEW_STREAMS), data, sim.url)
    assert proc.returncode == 0, proc.stderr
    return data / "out"


@pytest.mark.parametrize("stream", NEW_STREAMS)
def test_every_stream_gives_a_typed_table_with_a_manifest(sim, full_run, stream):
    table = full_run / "tables" / f"{stream}.csv"
    header, records = rows(table)
    assert header == expected_columns(stream, url=sim.url)
    assert len(records) == sim.total(stream) == len(sim.records(stream)) > 0
    keys = [record["name"] for record in records]
    assert len(keys) == len(set(keys)) and set(keys) == {record["name"] for record in sim.records(stream)}
    manifest = manifest_of(table)
    assert [c["name"] for c in manifest["schema"] if c.get("primary_key")] == ["name"]
    assert [c["name"] for c in manifest["schema"]] == header
    assert manifest["incremental"] is False
    types = column_types(manifest)
    assert set(types.values()) <= KEBOOLA_TYPES
    if stream in CHANNELS:
        assert types["time"] == "TIMESTAMP" and types["answered"] == "BOOLEAN" and types["duration"] == "INTEGER"
        assert all(record["time"][10] == "T" and record["time"][-6:] in ("+01:00", "+02:00") for record in records)
    if stream == "activitiesWeb":
        assert types["heartbeat"] == "TIMESTAMP" and types["mobileDevice"] == "BOOLEAN"
        assert types["routing_duration"] == "INTEGER"
    if stream == "campaignsTypes":
        assert types["created"] == "TIMESTAMP" and types["custom"] == "BOOLEAN" and types["queue_name"] == "INTEGER"
    for record in records:  # nested values are JSON, never Python repr
        for value in record.values():
            if value.startswith(("{", "[")):
                json.loads(value)


@pytest.mark.parametrize("stream", CHANNELS)
def test_no_credential_columns(full_run, stream):
    """A connector's access/API tokens are neither values nor (always-empty) columns of a channel table."""
    header, records = rows(full_run / "tables" / f"{stream}.csv")
    assert all(
        not any(value for key, value in record.items() if key.endswith(tuple(SECRET_KEYS))) for record in records
    )
    assert not [column for column in header if column.split("_")[-1] in SECRET_KEYS]


def test_state_bookmarks_the_six_channels_only(full_run):
    state = json.loads((full_run / "state.json").read_text())
    assert {stream for stream, bookmark in state["bookmarks"].items() if "replication_key" in bookmark} == set(CHANNELS)
    for stream in FULL_TABLES:  # only what the tap learned of the instance (instance_facts), no position
        assert set(state["bookmarks"].get(stream) or {}) <= {"instance"}, stream
    for stream in CHANNELS:
        bookmark = state["bookmarks"][stream]
        assert bookmark["replication_key"] == "time"
        _, records = rows(full_run / "tables" / f"{stream}.csv")
        assert bookmark["replication_key_value"] == max((r["time"] for r in records), key=datetime.fromisoformat)
    for stream in NEW_STREAMS:
        assert state["tables"][stream]["columns"] == rows(full_run / "tables" / f"{stream}.csv")[0]


def test_date_window_applies_to_the_channels_not_to_the_full_tables(sim, tmp_path):
    data = tmp_path / "data"
    proc = run(config_for(NEW_STREAMS, "2024-06-01", "2025-01-01"), data, sim.url)
    assert proc.returncode == 0, proc.stderr
    for stream in CHANNELS:
        _, records = rows(data / "out" / "tables" / f"{stream}.csv")
        expected = {
            r["name"] for r in sim.records(stream) if "2024-06-01 00:00:00" <= r["time"] < "2025-01-01 00:00:00"
        }
        assert len(records) == sim.total(stream, start="2024-06-01", end="2025-01-01") == len(expected)
        assert 0 < len(expected) < len(sim.records(stream)), stream  # the window really cuts
        assert {r["name"] for r in records} == expected, stream
        assert all("2024-06-01" <= r["time"][:10] < "2025-01-01" for r in records), stream
    for stream in FULL_TABLES:
        _, records = rows(data / "out" / "tables" / f"{stream}.csv")
        assert len(records) == len(sim.records(stream)), stream


def test_a_missing_channel_gives_an_empty_table_and_the_run_succeeds(sim, tmp_path):
    data = tmp_path / "data"
    sim.knobs.missing_endpoints = {"activitiesWap"}
    proc = run(config_for(["activitiesWap", "activitiesWeb", "campaignsTypes"]), data, sim.url)
    expected = expected_columns("activitiesWap", url=sim.url)
    assert proc.returncode == 0, proc.stderr
    assert "activitiesWap" in proc.stdout + proc.stderr and "404" in proc.stdout + proc.stderr
    table = data / "out" / "tables" / "activitiesWap.csv"
    header, records = rows(table)
    assert records == [] and header == expected
    assert len(table.read_text(encoding="utf-8").splitlines()) == 1  # the header only
    manifest = manifest_of(table)
    assert [c["name"] for c in manifest["schema"]] == header
    assert [c["name"] for c in manifest["schema"] if c.get("primary_key")] == ["name"]
    for stream in ("activitiesWeb", "campaignsTypes"):
        assert len(rows(data / "out" / "tables" / f"{stream}.csv")[1]) == len(sim.records(stream)), stream
    state = json.loads((data / "out" / "state.json").read_text())
    assert "replication_key_value" not in state.get("bookmarks", {}).get("activitiesWap", {})
    assert "activitiesWeb" in state["bookmarks"]


def test_a_forbidden_channel_fails_naming_the_endpoint(sim, tmp_path):
    data = tmp_path / "data"
    sim.knobs.forbidden_endpoints = {"activitiesWap"}
    proc = run(config_for(["activitiesWap", "campaignsTypes"]), data, sim.url)
    assert proc.returncode == 1, proc.stderr
    line = user_error_line(proc)
    assert line == (
        "Endpoint 'activitiesWap' failed: no rights for endpoint 'activitiesWap' (HTTP 403): "
        "Forbidden: you do not have rights for this endpoint"
    ), line
    assert len([x for x in proc.stderr.splitlines() if "failed" in x]) == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    assert not (data / "out" / "tables" / "activitiesWap.csv").exists()
    assert not (data / "out" / "tables" / "activitiesWap.csv.manifest").exists()
    assert not (data / "out" / "state.json").exists()


def test_windowed_second_run_resumes_from_the_bookmarks(tmp_path):
    """With the state of a first run, the six channels read only from their bookmarks; the full tables whole."""
    from tests.simulator import DaktelaSimulator

    with DaktelaSimulator(seed=17, scale="small") as sim:
        _second_run_resumes(sim, tmp_path)


def _second_run_resumes(sim, tmp_path) -> None:
    config = config_for(NEW_STREAMS)
    config["parameters"]["destination"] = {"incremental": True}
    first = run(config, tmp_path / "run1", sim.url)
    assert first.returncode == 0, first.stderr
    state = json.loads((tmp_path / "run1" / "out" / "state.json").read_text())
    inserted = {stream: {r["name"] for r in sim.insert(stream, n=1)} for stream in CHANNELS}
    second = run(config, tmp_path / "run2", sim.url, state=state)
    assert second.returncode == 0, second.stderr
    for stream in CHANNELS:
        _, records = rows(tmp_path / "run2" / "out" / "tables" / f"{stream}.csv")
        assert inserted[stream] <= {r["name"] for r in records}, stream
        assert len(records) < len(sim.records(stream)), stream
        assert manifest_of(tmp_path / "run2" / "out" / "tables" / f"{stream}.csv")["incremental"] is True
    for stream in FULL_TABLES:
        _, records = rows(tmp_path / "run2" / "out" / "tables" / f"{stream}.csv")
        assert len(records) == len(sim.records(stream)), stream
