"""Records of lists that describe current state, not history: the live agent sessions (`realtimeSessions`).

Such a list has no record name and no edited time: a session is keyed by its agent, which Daktela sends as the
whole user. Each run reads the list whole and stamps every record with one `snapshot_time`, so appending the
runs' rows (key: agent and snapshot time) keeps a history that the API itself does not.
"""

from __future__ import annotations

import pendulum

from tap_daktela.endpoints import SNAPSHOT_TIME, Endpoint


def taken_at(timezone: str) -> str:
    """Now in the instance's zone, ISO 8601 with its offset, to the second (like every datetime the tap emits)."""
    return pendulum.now(timezone).replace(microsecond=0).isoformat()


def key_value(value: object) -> object:
    """A record's key as a scalar: a key sent as the referenced record (a session's `id_agent` is the whole user)
    is that record's `name`."""
    return value.get("name") if isinstance(value, dict) else value


def own_record(endpoint: Endpoint, row: dict, snapshot_time: str | None) -> dict:
    """`row` (modified in place) with a scalar primary key and, for a snapshot, the run's `snapshot_time`."""
    key = endpoint.primary_key
    if isinstance(row.get(key), dict):
        row[key] = key_value(row[key])
    if snapshot_time is not None:
        row[SNAPSHOT_TIME] = snapshot_time
    return row
