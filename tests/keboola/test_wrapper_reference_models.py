"""The twelve streams of issue 18 through the real Keboola component (`python -m keboola_wrapper`, real tap, real
target-csv) against the simulator: typed tables and manifests, primary keys from the endpoint table, full tables and
the realtime snapshot loaded in full whatever the load type, articles and transcripts resumed from their bookmarks,
references to the new tables as `<ref>_name` columns that join, a missing model as an empty table, a forbidden one
as one error line."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import pytest

from tap_daktela.endpoints import ENDPOINTS_BY_NAME, SNAPSHOT_TIME
from tests.keboola.test_wrapper_channels import KEBOOLA_TYPES, column_types, config_for
from tests.keboola.test_wrapper_functional import (
    expected_columns,
    manifest_of,
    rows,
    run,
    user_error_line,
)
from tests.simulator.models import MODEL_ENDPOINTS
from tests.simulator.server import record_key

HERE = Path(__file__).parent
NEW_STREAMS = list(MODEL_ENDPOINTS)
INCREMENTAL = {"articles": "edited", "activitiesCallTranscripts": "start"}
# `<ref>_name` columns of the Keboola tables that now point at a new table
JOINS = {
    ("ticketsCategories", "sla_name"): "ticketsSla",
    ("ticketsCategories", "timecondition_name"): "timegroups",
    ("accounts", "sla_name"): "ticketsSla",
    ("accounts", "database_name"): "crmDatabases",
    ("contacts", "database_name"): "crmDatabases",
    ("campaignsRecords", "database_name"): "databases",
    ("crmRecords", "type_name"): "crmRecordsTypes",
    ("users", "profile_name"): "profiles",
    ("users", "role_name"): "roles",
    ("articles", "folder_name"): "articlesFolders",
    ("realtimeSessions", "id_agent"): "users",
}


def sim_keys(sim, stream: str) -> set[str]:
    key = ENDPOINTS_BY_NAME[stream].primary_key
    return {str(record_key(record, key)) for record in sim.records(stream)}


@pytest.fixture(scope="module")
def sim():
    from tests.simulator import DaktelaSimulator

    with DaktelaSimulator(seed=3, scale="small") as simulator:
        yield simulator


@pytest.fixture(scope="module")
def full_run(sim, tmp_path_factory):
    """Every new endpoint and the tables that point at them, asked to load incrementally (a first run)."""
    streams = sorted(set(NEW_STREAMS) | {table for table, _ in JOINS})
    config = config_for(streams)
    config["parameters"]["destination"] = {"incremental": True}
    data = tmp_path_factory.mktemp("models") / "data"
    proc = run(config, data, sim.url)
    assert proc.returncode == 0, proc.stderr
    return data / "out"


@pytest.mark.parametrize("stream", NEW_STREAMS)
def test_every_new_stream_gives_a_typed_table_with_a_manifest(sim, full_run, stream):
    table = full_run / "tables" / f"{stream}.csv"
    header, records = rows(table)
    assert header == expected_columns(stream, url=sim.url)
    key = ENDPOINTS_BY_NAME[stream].primary_key
    keys = [record[key] for record in records]
    assert len(keys) == len(set(keys)) == len(sim.records(stream)) > 0
    assert set(keys) == sim_keys(sim, stream)
    manifest = manifest_of(table)
    assert [c["name"] for c in manifest["schema"] if c.get("primary_key")] == [key]
    assert [c["name"] for c in manifest["schema"]] == header
    # full tables and the snapshot are complete every run: loaded in full whatever the load type
    assert manifest["incremental"] is (stream in INCREMENTAL)
    types = column_types(manifest)
    assert set(types.values()) <= KEBOOLA_TYPES
    expected = {
        "articles": {"created": "TIMESTAMP", "edited": "TIMESTAMP", "published": "BOOLEAN", "seen_count": "INTEGER"},
        "activitiesCallTranscripts": {"start": "TIMESTAMP", "end": "TIMESTAMP", "text": "STRING"},
        "realtimeSessions": {"id_agent": "STRING", SNAPSHOT_TIME: "TIMESTAMP", "statetime": "TIMESTAMP"},
        "ticketsSla": {"response_low": "INTEGER", "solution_high": "INTEGER"},
        "crmDatabases": {"default": "BOOLEAN"},
        "databases": {"priority": "INTEGER", "record_type_name": "STRING"},
        "profiles": {"maxOutRecords": "INTEGER", "askForAssistance": "BOOLEAN"},
    }.get(stream, {})
    assert {column: types[column] for column in expected} == expected
    for record in records:  # nested values are JSON, never Python repr
        for value in record.values():
            if value.startswith(("{", "[")):
                json.loads(value)


def test_the_realtime_table_is_one_snapshot_of_agents(sim, full_run):
    _, records = rows(full_run / "tables" / "realtimeSessions.csv")
    taken = {record[SNAPSHOT_TIME] for record in records}
    assert len(taken) == 1 and datetime.fromisoformat(taken.pop()).utcoffset() is not None
    _, users = rows(full_run / "tables" / "users.csv")
    assert {record["id_agent"] for record in records} <= {user["name"] for user in users}


@pytest.mark.parametrize(("table", "column"), list(JOINS))
def test_references_to_the_new_tables_join(full_run, table, column):
    target = JOINS[(table, column)]
    header, records = rows(full_run / "tables" / f"{table}.csv")
    assert column in header, (table, column)
    values = {record[column] for record in records if record[column]}
    assert values, f"no {table}.{column} in the data"
    _, targets = rows(full_run / "tables" / f"{target}.csv")
    assert values <= {record["name"] for record in targets}, (table, column)
    prefix = column.rsplit("_", 1)[0] + "_"
    if column != "id_agent":  # the key and title of the referenced record, never a copy of it
        assert {c for c in header if c.startswith(prefix)} <= {f"{prefix}name", f"{prefix}title"}


def test_state_bookmarks_articles_and_transcripts_only(full_run):
    state = json.loads((full_run / "state.json").read_text())
    bookmarked = {stream for stream in NEW_STREAMS if "replication_key_value" in state["bookmarks"].get(stream, {})}
    assert bookmarked == set(INCREMENTAL)
    for stream, key in INCREMENTAL.items():
        bookmark = state["bookmarks"][stream]
        assert bookmark["replication_key"] == key
        _, records = rows(full_run / "tables" / f"{stream}.csv")
        assert bookmark["replication_key_value"] == max((r[key] for r in records), key=datetime.fromisoformat)


def test_a_second_run_resumes_articles_and_transcripts(tmp_path):
    from tests.simulator import DaktelaSimulator

    with DaktelaSimulator(seed=19, scale="small") as sim:
        config = config_for([*INCREMENTAL, "ticketsSla", "realtimeSessions"])
        config["parameters"]["destination"] = {"incremental": True}
        first = run(config, tmp_path / "run1", sim.url)
        assert first.returncode == 0, first.stderr
        state = json.loads((tmp_path / "run1" / "out" / "state.json").read_text())
        inserted = {stream: {r["name"] for r in sim.insert(stream, n=2)} for stream in INCREMENTAL}
        second = run(config, tmp_path / "run2", sim.url, state=state)
        assert second.returncode == 0, second.stderr
        for stream in INCREMENTAL:
            _, records = rows(tmp_path / "run2" / "out" / "tables" / f"{stream}.csv")
            assert inserted[stream] <= {r["name"] for r in records} and len(records) < len(sim.records(stream))
            assert manifest_of(tmp_path / "run2" / "out" / "tables" / f"{stream}.csv")["incremental"] is True
        for stream in ("ticketsSla", "realtimeSessions"):
            table = tmp_path / "run2" / "out" / "tables" / f"{stream}.csv"
            assert len(rows(table)[1]) == len(sim.records(stream)) and manifest_of(table)["incremental"] is False


def test_a_model_the_instance_lacks_gives_an_empty_table(sim, tmp_path):
    data = tmp_path / "data"
    sim.knobs.missing_endpoints = {"articles", "realtimeSessions"}
    proc = run(config_for(["articles", "realtimeSessions", "ticketsSla"]), data, sim.url)
    assert proc.returncode == 0, proc.stderr
    for stream in ("articles", "realtimeSessions"):
        assert f"'{stream}'" in proc.stdout + proc.stderr and "404" in proc.stdout + proc.stderr
        table = data / "out" / "tables" / f"{stream}.csv"
        header, records = rows(table)
        assert records == [] and header == expected_columns(stream, url=sim.url)
        assert [c["name"] for c in manifest_of(table)["schema"]] == header
    assert len(rows(data / "out" / "tables" / "ticketsSla.csv")[1]) == len(sim.records("ticketsSla"))


def test_a_forbidden_model_fails_naming_the_endpoint(sim, tmp_path):
    data = tmp_path / "data"
    sim.knobs.forbidden_endpoints = {"roles"}
    proc = run(config_for(["roles", "profiles"]), data, sim.url)
    assert proc.returncode == 1, proc.stderr
    line = user_error_line(proc)
    assert line == (
        "Endpoint 'roles' failed: no rights for endpoint 'roles' (HTTP 403): "
        "Forbidden: you do not have rights for this endpoint"
    ), line
    assert "Traceback" not in proc.stderr
    assert not (data / "out" / "tables" / "roles.csv").exists()


def test_list_fields_lists_the_new_endpoints(sim, tmp_path):
    config = config_for(NEW_STREAMS)
    config["action"] = "listFields"
    proc = run(config, tmp_path / "data", sim.url)
    assert proc.returncode == 0, proc.stderr
    listed = json.loads(proc.stdout)
    assert set(NEW_STREAMS) <= set(listed)
    assert {"id_agent", SNAPSHOT_TIME, "state"} <= set(listed["realtimeSessions"])
    assert {"name", "start", "text", "activity"} <= set(listed["activitiesCallTranscripts"])


def history_row() -> dict:
    """A configuration row that appends each run's realtimeSessions snapshot (the README's recipe)."""
    config = json.loads((HERE / "row_config" / "source" / "data" / "config.json").read_text())
    params = config["parameters"]
    params |= {"endpoint": "realtimeSessions", "fields": []}
    params["destination"] = {"load_type": "incremental_load", "primary_key": ["id_agent", SNAPSHOT_TIME]}
    return config


def test_a_row_without_the_snapshot_time_in_its_key_still_loads_the_snapshot_in_full(sim, tmp_path):
    config = history_row()
    config["parameters"]["destination"]["primary_key"] = ["id_agent"]
    proc = run(config, tmp_path / "data", sim.url)
    assert proc.returncode == 0, proc.stderr
    manifest = manifest_of(tmp_path / "data" / "out" / "tables" / "realtimeSessions.csv")
    assert manifest["incremental"] is False


def test_a_row_keyed_by_agent_and_snapshot_time_appends_snapshots(sim, tmp_path):
    proc = run(history_row(), tmp_path / "data", sim.url)
    assert proc.returncode == 0, proc.stderr
    table = tmp_path / "data" / "out" / "tables" / "realtimeSessions.csv"
    manifest = manifest_of(table)
    assert [c["name"] for c in manifest["schema"] if c.get("primary_key")] == ["id_agent", SNAPSHOT_TIME]
    assert manifest["incremental"] is True
