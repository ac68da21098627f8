"""What happens in Daktela between two runs (inserts, updates, deletes in every endpoint), and what a destination
table must then hold: its keys and a few values per record, taken from the simulator as the truth.

Shared by the Singer (target-postgres) and the Keboola (Storage model) destination tests.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from tap_daktela.endpoints import ENDPOINTS, Endpoint
from tests.simulator import DaktelaSimulator

TEXT_FIELDS = ("title", "description", "text")  # the simulator's update() rewrites the first of these a record has


def key_of(endpoint: Endpoint, record: dict) -> str:
    """A record's primary key as text; a key that is a reference (`realtimeSessions.id_agent`) is its name."""
    value = record[endpoint.primary_key]
    return str(value["name"] if isinstance(value, dict) else value)


def text_field(sim: DaktelaSimulator, endpoint: Endpoint) -> str | None:
    """The text field an update changes in this endpoint's records (None: the update changes no text)."""
    records = sim.records(endpoint.name)
    return next((name for name in TEXT_FIELDS if records and name in records[0]), None)


def as_utc(value: Any, tz: str) -> datetime | None:
    """A datetime as an aware UTC instant: Daktela's naive local text, an ISO string with offset, or a datetime
    (naive ones from PostgreSQL's `timestamp without time zone` are UTC: the test server runs with timezone=UTC)."""
    if value in (None, ""):
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
        if value.tzinfo is None:
            value = value.replace(tzinfo=ZoneInfo(tz))
    elif value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def expected_table(sim: DaktelaSimulator, endpoint: Endpoint) -> dict[str, dict[str, Any]]:
    """key -> the values compared for that record: its text field (when the endpoint has one) and its replication
    key as a UTC instant (when it has one)."""
    text = text_field(sim, endpoint)
    table = {}
    for record in sim.records(endpoint.name):
        values = {}
        if text:
            values[text] = record.get(text)
        if endpoint.replication_key:
            values[endpoint.replication_key] = as_utc(record.get(endpoint.replication_key), sim.timezone)
        table[key_of(endpoint, record)] = values
    return table


@dataclass
class Changes:
    """Keys touched in one round, per endpoint."""

    inserted: dict[str, set[str]] = field(default_factory=dict)
    updated: dict[str, set[str]] = field(default_factory=dict)
    unseen_updates: dict[str, set[str]] = field(default_factory=dict)  # edits the bookmark cannot see
    deleted: dict[str, set[str]] = field(default_factory=dict)


def change_everything(sim: DaktelaSimulator) -> Changes:
    """In every endpoint: insert a record, update one, delete another.

    Streams keyed on a creation time get a second update: their newest record is inside the lookback window (an
    incremental run sees that edit), their oldest outside it (only a whole read corrects that record)."""
    changes = Changes()
    for endpoint in ENDPOINTS:
        name = endpoint.name
        changes.inserted[name] = {key_of(endpoint, record) for record in sim.insert(name, 1)}
        old = [
            key_of(endpoint, r) for r in sim_order(sim, endpoint) if key_of(endpoint, r) not in changes.inserted[name]
        ]
        updated = [old[-1], old[0]] if endpoint.created_key else [old[0]]
        for key in updated:
            sim.update(name, key)
        changes.updated[name] = set(updated)
        changes.unseen_updates[name] = {old[0]} if endpoint.created_key else set()
        victim = old[len(old) // 2]
        assert victim not in updated, f"{name}: too few records to update one and delete another"
        sim.delete(name, victim)
        changes.deleted[name] = {victim}
    return changes


def sim_order(sim: DaktelaSimulator, endpoint: Endpoint) -> list[dict]:
    """The endpoint's records, oldest first by replication key (insertion order without one)."""
    records = sim.records(endpoint.name)
    if endpoint.replication_key:
        records.sort(key=lambda r: (r.get(endpoint.replication_key) or "", key_of(endpoint, r)))
    return records
