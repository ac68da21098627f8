"""What target-postgres left in PostgreSQL, compared with the simulator: the destination tests' assertions."""

from __future__ import annotations

import psycopg

from tap_daktela.endpoints import Endpoint
from tests.destination.changes import Changes, as_utc, expected_table, text_field
from tests.destination.postgres import SUPERUSER
from tests.simulator import DaktelaSimulator

SCHEMA = "daktela"


def target_config(postgres, database: str, hard_delete: bool) -> dict:
    return {
        "host": "127.0.0.1",
        "port": postgres.port,
        "user": SUPERUSER,
        "password": "unused-trust-auth",  # target-postgres insists on one; the test server trusts loopback
        "database": database,
        "default_target_schema": SCHEMA,
        "load_method": "upsert",
        "add_record_metadata": True,
        "hard_delete": hard_delete,
        "validate_records": False,
    }


def destination_table(conn: psycopg.Connection, sim: DaktelaSimulator, endpoint: Endpoint) -> dict[str, dict]:
    """key -> the compared values of that row plus `_sdc_deleted_at`, as PostgreSQL holds them."""
    columns = [column for column in (text_field(sim, endpoint), endpoint.replication_key) if column]
    selected = ", ".join(f'"{column}"' for column in [endpoint.primary_key, *columns, "_sdc_deleted_at"])
    rows = conn.execute(f'SELECT {selected} FROM {SCHEMA}."{endpoint.name}"').fetchall()
    table = {}
    for key, *values, deleted_at in rows:
        assert str(key) not in table, f"{endpoint.name}: key {key} twice"
        table[str(key)] = {"values": dict(zip(columns, values, strict=True)), "deleted_at": deleted_at}
    return table


def compared(sim: DaktelaSimulator, endpoint: Endpoint, rows: dict[str, dict]) -> dict[str, dict]:
    """The destination's values in the simulator's terms (datetimes as UTC instants), live rows only."""
    live = {}
    for key, row in rows.items():
        if row["deleted_at"] is None:
            values = dict(row["values"])
            if endpoint.replication_key:
                values[endpoint.replication_key] = as_utc(values[endpoint.replication_key], sim.timezone)
            live[key] = values
    return live


def assert_equal_to_simulator(conn, sim, endpoint: Endpoint, hard_delete: bool, gone: set[str]) -> None:
    """The table's live rows are exactly the simulator's records (keys and values); the `gone` keys are deleted
    from the table (hard_delete) or still there and marked `_sdc_deleted_at`."""
    rows = destination_table(conn, sim, endpoint)
    expected = expected_table(sim, endpoint)
    live = compared(sim, endpoint, rows)
    assert live.keys() == expected.keys(), f"{endpoint.name}: keys differ"
    assert live == expected, f"{endpoint.name}: values differ"
    gone = gone - expected.keys()  # a full table's deleted name may be taken again by an insert
    if hard_delete:
        assert not gone & rows.keys(), f"{endpoint.name}: deleted rows are still there"
        assert rows.keys() == live.keys()
    else:
        assert gone <= rows.keys(), f"{endpoint.name}: deleted rows should be kept, marked"
        assert all(rows[key]["deleted_at"] is not None for key in gone)


def assert_incremental_run(conn, sim, endpoint: Endpoint, changes: Changes) -> None:
    """Nothing lost, nothing removed, and every change the bookmark can see arrived."""
    rows = destination_table(conn, sim, endpoint)
    expected = expected_table(sim, endpoint)
    live = compared(sim, endpoint, rows)
    name = endpoint.name
    assert expected.keys() <= live.keys(), f"{name}: records lost"
    kept = changes.deleted[name] - expected.keys()
    assert kept <= live.keys(), f"{name}: an incremental run removed (or marked deleted) rows"
    assert changes.inserted[name] <= live.keys(), f"{name}: inserts did not arrive"
    for key in expected.keys() - changes.unseen_updates[name]:
        assert live[key] == expected[key], f"{name}: {key} differs from the simulator"
